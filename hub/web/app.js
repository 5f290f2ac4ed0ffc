// The web console: accounts, the live project list, commands, files and a terminal,
// over one WebSocket (connection.js). No framework: the page is small enough that
// a few render functions over plain state stay readable.

import { Connection, failureText } from "./connection.js";
import { TerminalText } from "./terminal.js";

const $ = (id) => document.getElementById(id);
const scheme = location.protocol === "https:" ? "wss" : "ws";
const conn = new Connection(`${scheme}://${location.host}/hub`);
const encoder = new TextEncoder();

const ui = {
  account: null, // the last signed_in message, while signed in
  remembered: false, // the browser holds a remember-me cookie for this sign-in
  projects: new Map(), // project_id -> row of the projects feed
  feedId: null,
  current: null, // selected project_id
  terminal: null, // {project_id, session_uuid, channel, text, exited}
};

// --- errors and status --------------------------------------------------------------

const MAX_ERRORS = 6;

function showError(text) {
  const li = document.createElement("li");
  li.textContent = text;
  const close = document.createElement("button");
  close.textContent = "×";
  close.title = "dismiss";
  close.onclick = () => li.remove();
  li.append(close);
  const list = $("errors");
  list.prepend(li);
  while (list.children.length > MAX_ERRORS) list.lastChild.remove();
}

// Wraps a UI action so that any failure it meets reaches the user.
const guarded = (action) => async (event) => {
  event?.preventDefault();
  try {
    await action(event);
  } catch (err) {
    showError(err.message);
  }
};

conn.onState = (state) => {
  const el = $("conn-state");
  el.textContent = state;
  el.dataset.state = state;
  // a terminal's data channel belongs to the connection that ended
  if (state !== "connected" && ui.terminal?.channel != null) {
    ui.terminal.channel = null;
    setTerminalInput(false);
    $("term-status").textContent = "waiting for the connection…";
  }
};

// --- accounts -----------------------------------------------------------------------

conn.onPush = (msg) => {
  switch (msg.event) {
    case "signed_in":
      signedIn(msg, msg.remember_me === true);
      break;
    case "remember_me_failed":
      // after connecting without a valid cookie; only news if we were signed in
      if (ui.account) showError(`signed out: ${msg.reason}`);
      signedOut();
      break;
    case "signed_out":
      if (ui.account) showError("signed out by the hub");
      signedOut();
      break;
    case "cookies":
      storeCookie(msg).catch((err) => showError(err.message));
      break;
    case "terminal_exited":
    case "terminal_detached":
      terminalEnded(msg);
      break;
    case "version":
      showError("a newer version of this page is available; reload it");
      break;
    default: {
      const text = failureText(msg);
      if (text !== null) showError(text);
    }
  }
};

// The hub hands the remember-me token over the socket; the browser turns it into
// an HttpOnly cookie with one same-site GET, so page scripts never keep it.
async function storeCookie(msg) {
  const query = new URLSearchParams({ id: msg.id, set: msg.set, value: msg.value });
  const response = await fetch(`${msg.url}?${query}`, { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(`remember me failed: ${body.error ?? response.status}`);
  }
  ui.remembered = true;
  renderAccount();
}

function authFields() {
  return { email_address: $("email").value.trim(), password: $("password").value };
}

async function signIn() {
  const reply = await conn.call("sign_in", { ...authFields(), remember_me: $("remember-me").checked });
  signedIn(reply, false);
}

async function signUp() {
  const fields = authFields();
  const reply = await conn.call("create_account", {
    ...fields,
    first_name: $("first-name").value.trim() || undefined,
    last_name: $("last-name").value.trim() || undefined,
    agreed_to_terms: true,
  });
  signedIn(reply, false);
  // a new account is signed in without a cookie; signing in again with
  // remember_me is the protocol's way to get one
  if ($("remember-me").checked) await conn.call("sign_in", { ...fields, remember_me: true });
}

async function signOut() {
  if (ui.feedId) await conn.call("query_cancel", { id: ui.feedId }).catch(() => {});
  await conn.call("sign_out", { everywhere: false });
  signedOut();
}

function signedIn(msg, byCookie) {
  const again = ui.account !== null;
  ui.account = msg;
  ui.remembered = ui.remembered || byCookie;
  $("password").value = "";
  renderAccount();
  openProjectsFeed();
  // after a reconnect, pick the terminal up where it was (the hub replays its scrollback)
  const term = ui.terminal;
  if (again && term && !term.exited && !term.detached) {
    attachTerminal().catch((err) => showError(err.message));
  }
}

function signedOut() {
  ui.account = null;
  ui.remembered = false;
  if (ui.feedId) conn.forget(ui.feedId);
  ui.feedId = null;
  ui.projects.clear();
  selectProject(null);
  renderAccount();
}

function renderAccount() {
  const signedInNow = ui.account !== null;
  $("auth").hidden = signedInNow;
  $("main").hidden = !signedInNow;
  $("sign-out").hidden = !signedInNow;
  $("whoami").textContent = signedInNow
    ? `${ui.account.email_address ?? ui.account.account_id}${ui.remembered ? " · remembered" : ""}`
    : "";
}

// --- projects -----------------------------------------------------------------------

const PROJECT_FIELDS = { project_id: null, title: null, description: null, last_edited: null };

// A changefeed: the first reply is the whole list, later ones are single changes.
// After a reconnect it is opened afresh, which also covers changes made meanwhile.
function openProjectsFeed() {
  if (ui.feedId) conn.forget(ui.feedId);
  const query = { projects: [PROJECT_FIELDS] };
  const feed = conn.stream("query", { query, changes: true, multi_response: true }, onFeed);
  ui.feedId = feed.id;
  feed
    .then(() => {
      if (ui.feedId === feed.id) showError("the project list stopped updating; reload the page");
    })
    .catch((err) => {
      // a lost connection reopens the feed by itself once signed in again
      if (conn.state === "connected") showError(`project list: ${err.message}`);
    });
}

function onFeed(part) {
  if (part.event !== "query") return; // an error ends the stream and is shown from there
  if (part.query) {
    ui.projects = new Map(part.query.projects.map((p) => [p.project_id, p]));
  } else if (part.action === "delete") {
    ui.projects.delete(part.old_val.project_id);
    if (ui.current === part.old_val.project_id) selectProject(null);
  } else if (part.new_val) {
    const id = part.new_val.project_id;
    ui.projects.set(id, { ...ui.projects.get(id), ...part.new_val });
  }
  renderProjects();
}

function renderProjects() {
  const rows = [...ui.projects.values()].sort((a, b) =>
    (a.title ?? "").localeCompare(b.title ?? ""),
  );
  const list = $("projects");
  list.replaceChildren(
    ...rows.map((p) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.textContent = p.title || "(untitled)";
      button.dataset.projectId = p.project_id;
      button.className = p.project_id === ui.current ? "current" : "";
      button.onclick = () => selectProject(p.project_id);
      li.append(button);
      return li;
    }),
  );
  const current = ui.projects.get(ui.current);
  if (current) $("project-title").textContent = current.title || "(untitled)";
}

async function createProject() {
  const title = $("new-project-title").value.trim();
  const reply = await conn.call("create_project", { title, description: "" });
  $("new-project-title").value = "";
  selectProject(reply.project_id);
}

function selectProject(projectId) {
  if (projectId === ui.current) return;
  ui.current = projectId;
  $("project").hidden = projectId === null;
  $("exec-output").textContent = "";
  $("file-status").textContent = "";
  closeTerminal();
  renderProjects();
}

// --- commands -----------------------------------------------------------------------

// Output of one kind in a row goes into one span, so a stream of small pieces
// does not become thousands of elements.
function appendOutput(pre, text, cls = "") {
  const last = pre.lastElementChild;
  if (last && last.className === cls) {
    last.textContent += text;
  } else {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    pre.append(span);
  }
  pre.scrollTop = pre.scrollHeight;
}

// The command runs in the project's local hub; `stream: true` makes it send each
// piece of output as it comes, relayed to us as parts of one multi_response.
async function runCommand() {
  const pre = $("exec-output");
  const projectId = ui.current;
  pre.textContent = "";
  $("run").disabled = true;
  try {
    const last = await conn.stream(
      "local_hub",
      {
        project_id: projectId,
        multi_response: true,
        // a nonzero exit is output like any other here, not an error
        message: {
          event: "project_exec",
          command: $("command").value,
          stream: true,
          timeout: 600,
          err_on_exit: false,
        },
      },
      (part) => {
        if (part.stdout) appendOutput(pre, part.stdout);
        if (part.stderr) appendOutput(pre, part.stderr, "stderr");
      },
    );
    appendOutput(pre, `\n[exit code ${last.exit_code}]`, "note");
  } catch (err) {
    appendOutput(pre, `\n[${err.message}]`, "stderr");
    throw err;
  } finally {
    $("run").disabled = false;
  }
}

// --- files --------------------------------------------------------------------------

async function openFile() {
  const path = $("file-path").value.trim();
  const reply = await conn.call("read_text_file_from_project", { project_id: ui.current, path });
  $("file-content").value = reply.content;
  $("file-status").textContent = `opened ${path}`;
}

async function saveFile() {
  const path = $("file-path").value.trim();
  if (!path) throw new Error("name the file to save");
  const content = $("file-content").value;
  await conn.call("write_text_file_to_project", { project_id: ui.current, path, content });
  $("file-status").textContent = `saved ${path} at ${new Date().toLocaleTimeString()}`;
}

// --- terminal -----------------------------------------------------------------------

async function openTerminal() {
  const term = ui.terminal;
  if (term?.detached && term.project_id === ui.current) {
    term.detached = false; // the terminal ran on without us: attach to it again
    return attachTerminal();
  }
  closeTerminal();
  ui.terminal = { project_id: ui.current, session_uuid: undefined, channel: null, exited: false };
  await attachTerminal();
}

// start_session with a known session_uuid attaches to the running terminal again.
async function attachTerminal() {
  const term = ui.terminal;
  term.channel = null;
  term.text = new TerminalText(); // the hub sends the scrollback first, so start clean
  $("term-output").textContent = "";
  $("term-status").textContent = "starting…";
  let reply;
  try {
    reply = await conn.call("start_session", {
      type: "console",
      project_id: term.project_id,
      session_uuid: term.session_uuid,
      params: { rows: 24, cols: 100 },
    });
  } catch (err) {
    if (ui.terminal === term) $("term-status").textContent = "could not start";
    throw err;
  }
  if (ui.terminal !== term) return; // closed while starting
  term.session_uuid = reply.session_uuid;
  term.channel = reply.data_channel;
  $("term-status").textContent = "running";
  $("term-open").textContent = "New terminal";
  setTerminalInput(true);
  $("term-input").focus();
}

conn.onBinary = (channel, bytes) => {
  const term = ui.terminal;
  if (!term || term.channel !== channel) return;
  const pre = $("term-output");
  pre.textContent = term.text.write(bytes);
  pre.scrollTop = pre.scrollHeight;
};

function sendKeys(text) {
  const term = ui.terminal;
  if (!term || term.channel === null) return;
  if (!conn.sendBinary(term.channel, encoder.encode(text))) showError("not connected to the hub");
}

function terminalEnded(msg) {
  const term = ui.terminal;
  if (!term || term.session_uuid !== msg.session_uuid) return;
  term.channel = null;
  setTerminalInput(false);
  if (msg.event === "terminal_exited") {
    term.exited = true;
    $("term-status").textContent = `exited (${msg.exit_code ?? "?"})`;
  } else {
    term.detached = true;
    $("term-status").textContent = `detached: ${msg.reason}`;
    $("term-open").textContent = "Reattach terminal";
  }
}

function closeTerminal() {
  const term = ui.terminal;
  ui.terminal = null;
  setTerminalInput(false);
  $("term-output").textContent = "";
  $("term-status").textContent = "";
  $("term-open").textContent = "Open terminal";
  // leaving it running lets the user attach again later; just stop receiving it here
  if (term?.session_uuid && !term.exited && conn.state === "connected") {
    conn.call("terminal_detach", { session_uuid: term.session_uuid }).catch(() => {});
  }
}

function setTerminalInput(enabled) {
  $("term-input").disabled = !enabled;
  $("term-ctrl-c").disabled = !enabled;
}

// Ctrl+letter in the input line goes to the terminal as its control character.
function terminalKey(event) {
  if (event.ctrlKey && !event.altKey && /^[a-z]$/i.test(event.key)) {
    event.preventDefault();
    sendKeys(String.fromCharCode(event.key.toLowerCase().charCodeAt(0) - 96));
  } else if (event.key === "Tab") {
    event.preventDefault();
    sendKeys($("term-input").value + "\t");
    $("term-input").value = "";
  }
}

// --- wiring -------------------------------------------------------------------------

$("auth-form").addEventListener("submit", guarded(signIn));
$("sign-up").addEventListener("click", guarded(signUp));
$("sign-out").addEventListener("click", guarded(signOut));
$("new-project").addEventListener("submit", guarded(createProject));
$("exec-form").addEventListener("submit", guarded(runCommand));
$("file-form").addEventListener("submit", guarded(openFile));
$("file-save").addEventListener("click", guarded(saveFile));
$("term-open").addEventListener("click", guarded(openTerminal));
$("term-ctrl-c").addEventListener("click", () => sendKeys("\x03"));
$("term-input").addEventListener("keydown", terminalKey);
$("term-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sendKeys($("term-input").value + "\r");
  $("term-input").value = "";
});

conn.start();
