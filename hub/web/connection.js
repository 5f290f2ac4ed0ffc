// One WebSocket to the hub (docs/protocol.md): JSON text frames matched to requests
// by `id`, binary frames for terminals, and reconnection with backoff.

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;

export class HubError extends Error {
  constructor(text, reply) {
    super(text);
    this.reply = reply;
  }
}

// The text to show for a reply that means failure, or null. The hub answers most
// failures with `error`, but account events have their own shapes.
export function failureText(reply) {
  if (reply.event === "error") return reply.error;
  if (reply.event === "sign_in_failed") return reply.reason;
  if (reply.event === "account_creation_failed") {
    return Object.entries(reply.reason).map(([k, v]) => `${k}: ${v}`).join("; ");
  }
  return null;
}

export class Connection {
  constructor(url) {
    this.url = url;
    this.state = "connecting";
    this.onState = () => {};
    this.onPush = () => {}; // messages without an id we are waiting for
    this.onBinary = () => {};
    this.pending = new Map(); // id -> {onPart, resolve, reject}
    this.nextId = 0;
    this.attempt = 0;
    this.ws = null;
  }

  start() {
    this.open();
  }

  open() {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState("connected");
    };
    ws.onmessage = (e) => this.receive(e.data);
    // onclose follows onerror, so the retry is scheduled in one place
    ws.onclose = (e) => this.closed(ws, e);
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  closed(ws, event) {
    if (ws !== this.ws) return; // an old socket we already gave up on
    this.ws = null;
    const reason = `connection lost (${event.code}${event.reason ? ": " + event.reason : ""})`;
    // a request cannot be answered on another connection: fail it so the UI says so
    for (const [, call] of this.pending) call.reject(new HubError(reason));
    this.pending.clear();
    if (event.code === 4003) {
      this.setState("disconnected");
      this.onPush({ event: "error", error: "this page is older than the hub allows; reload it" });
      return;
    }
    // jittered exponential backoff, so a restarted hub is not hit by every page at once
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.setState("reconnecting");
    setTimeout(() => this.open(), delay);
  }

  receive(data) {
    if (typeof data !== "string") {
      const bytes = new Uint8Array(data);
      if (bytes.length > 0) this.onBinary(bytes[0], bytes.subarray(1));
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      this.onPush({ event: "error", error: "the hub sent a frame that is not JSON" });
      return;
    }
    if (msg.event === "reconnect") {
      // the hub is about to stop: leave now rather than wait for its close
      this.ws?.close(4000, "hub asked to reconnect");
    }
    const call = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
    if (!call) {
      this.onPush(msg);
      return;
    }
    if (msg.multi_response) {
      call.onPart(msg);
      return;
    }
    this.pending.delete(msg.id);
    call.onPart(msg);
    call.resolve(msg);
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      throw new HubError("not connected to the hub");
    }
    this.ws.send(JSON.stringify(message));
  }

  sendBinary(channel, bytes) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    const frame = new Uint8Array(bytes.length + 1);
    frame[0] = channel;
    frame.set(bytes, 1);
    this.ws.send(frame);
    return true;
  }

  // A request with every reply passed to onPart; resolves with the last one, or
  // rejects with a HubError when that one is a failure.
  stream(event, fields, onPart = () => {}) {
    const id = `c${++this.nextId}`;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, {
        onPart,
        resolve: (reply) => {
          const text = failureText(reply);
          if (text !== null) reject(new HubError(text, reply));
          else resolve(reply);
        },
        reject,
      });
    });
    try {
      this.send({ ...fields, event, id });
    } catch (err) {
      this.pending.delete(id);
      return Object.assign(Promise.reject(err), { id });
    }
    return Object.assign(promise, { id });
  }

  call(event, fields = {}) {
    return this.stream(event, fields);
  }

  // Stop waiting for replies to `id` (e.g. a cancelled feed): later ones are dropped.
  forget(id) {
    this.pending.delete(id);
  }
}
