// Terminal bytes to plain text for a <pre>: no emulator, just enough to keep a shell
// readable. Colours, cursor moves and titles are dropped; CR, LF and backspace are
// applied to the last line.

const MAX_CHARS = 200000; // what the <pre> keeps; older text scrolls away
const MAX_CARRY = 256; // an unfinished escape sequence longer than this is dropped

const OSC = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g; // window titles and the like
const CSI = /\x1b\[[0-?]*[ -/]*[@-~]/g; // colours, cursor moves, clears
const ESC = /\x1b[()*+][0-9A-Za-z]|\x1b[^[\]]/g; // charset picks, keypad modes
// an escape sequence cut off at the end of a chunk: finished by the next one
const UNFINISHED = /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[()*+])?$/;

export class TerminalText {
  constructor() {
    this.decoder = new TextDecoder(); // `stream: true` joins UTF-8 split across frames
    this.carry = "";
    this.done = ""; // lines that are finished
    this.line = ""; // the line the cursor is on
  }

  write(bytes) {
    let text = this.carry + this.decoder.decode(bytes, { stream: true });
    this.carry = "";
    const cut = text.match(UNFINISHED);
    if (cut && cut[0].length <= MAX_CARRY) {
      this.carry = cut[0];
      text = text.slice(0, cut.index);
    }
    text = text.replace(OSC, "").replace(CSI, "").replace(ESC, "");
    for (const ch of text) this.put(ch);
    if (this.done.length > MAX_CHARS) this.done = this.done.slice(-MAX_CHARS);
    return this.done + this.line;
  }

  put(ch) {
    if (ch === "\n") {
      this.done += this.line + "\n";
      this.line = "";
    } else if (ch === "\r") {
      this.pendingCr = true;
      return;
    } else if (ch === "\b") {
      this.line = this.line.slice(0, -1);
    } else if (ch === "\t" || (ch >= " " && ch !== "\x7f")) {
      // a CR not followed by LF returns to the line's start: what comes next replaces it
      if (this.pendingCr) this.line = "";
      this.line += ch;
    }
    this.pendingCr = false;
  }
}
