// host/web/page/terminal.ts -- the shell's terminal: xterm.js with a line editor (the worker's
// shell takes whole lines, as `helix boot` reads them from readline).
//
// Layer: web role, page side, over host/web/page/bus.ts. Interface: mountTerminal(el, bus)
// -> PageTerminal. Rules: input is accepted only while a prompt is shown (one line at a time,
// so a pasted script runs in order); editing keys: printable text, Backspace, Enter, Tab
// (completion), Up/Down (history), Ctrl-C (drop the line), Ctrl-L (clear).

import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import type { Bus } from "./bus.js";

/** Lines kept in the history (Up/Down). */
const HISTORY_MAX = 500;
/** Terminal scrollback lines. */
const SCROLLBACK_LINES = 5000;

/** The page's terminal. */
export interface PageTerminal {
  term: Terminal;
  /** Writes text (\n line ends) as output; while a prompt is shown, above it (the line being typed is kept). */
  write(text: string): void;
  /** Whether a prompt is shown (the worker waits for a line). */
  promptShown(): boolean;
  /** Types a line as if the user had, when a prompt is shown; queued otherwise. */
  type(line: string): void;
}

/** Mounts the terminal in `el` and connects it to the worker's shell. */
export function mountTerminal(el: HTMLElement, bus: Bus): PageTerminal {
  const term = new Terminal({ convertEol: true, scrollback: SCROLLBACK_LINES, fontSize: 13, cursorBlink: true });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  new ResizeObserver(() => fit.fit()).observe(el);

  let prompt: string | null = null; // shown prompt, null while a line runs
  let line = "";
  const history: string[] = [];
  let hist = 0;
  const pending: string[] = []; // lines typed (pasted, or by tests) while the worker was busy

  const redraw = () => term.write(`\r\x1b[K${prompt ?? ""}${line}`);
  const submit = (text: string) => {
    term.write("\r\n");
    if (text.trim() !== "" && history[history.length - 1] !== text) { history.push(text); if (history.length > HISTORY_MAX) history.shift(); }
    hist = history.length;
    prompt = null;
    line = "";
    bus.send({ type: "shell.line", line: text });
  };
  const feed = (data: string) => {
    if (prompt === null) { pending.push(data); return; }
    for (let i = 0; i < data.length; i++) {
      const c = data[i];
      if (c === "\r" || c === "\n") {
        if (c === "\n" && data[i - 1] === "\r") continue;
        const text = line;
        submit(text);
        const rest = data.slice(i + 1).replace(/^\n/, "");
        if (rest !== "") pending.push(rest);
        return;
      }
      if (c === "\x7f" || c === "\b") { if (line.length > 0) { line = line.slice(0, -1); term.write("\b \b"); } continue; }
      if (c === "\t") { bus.send({ type: "shell.complete", line }); continue; }
      if (c === "\x03") { term.write("^C\r\n"); line = ""; redraw(); continue; }
      if (c === "\x0c") { term.clear(); redraw(); continue; }
      if (c === "\x1b") {
        const seq = data.slice(i, i + 3);
        if (seq === "\x1b[A" || seq === "\x1b[B") {
          hist = Math.max(0, Math.min(history.length, hist + (seq === "\x1b[A" ? -1 : 1)));
          line = history[hist] ?? "";
          redraw();
        }
        i += 2;
        continue;
      }
      if (c >= " ") { line += c; term.write(c); }
    }
  };
  term.onData(feed);

  // output that arrives while a prompt is shown (a drop's report, an upload's error) goes
  // above the prompt, which is drawn again with the line being typed
  const write = (text: string) => {
    if (prompt === null) { term.write(text); return; }
    term.write(`\r\x1b[K${text}${text.endsWith("\n") ? "" : "\n"}`);
    redraw();
  };
  bus.on("term.out", (m) => write(String(m.text)));
  bus.on("term.prompt", (m) => {
    prompt = String(m.prompt);
    term.write(prompt);
    const next = pending.shift();
    if (next !== undefined) feed(next);
  });
  bus.on("term.completions", (m) => {
    const word = String(m.word);
    const cands = m.candidates as string[];
    if (cands.length === 0) return;
    if (cands.length === 1) { line = line.slice(0, line.length - word.length) + cands[0]; redraw(); return; }
    let common = cands[0];
    for (const c of cands) while (!c.startsWith(common)) common = common.slice(0, -1);
    if (common.length > word.length) { line = line.slice(0, line.length - word.length) + common; redraw(); return; }
    term.write(`\r\n${cands.join("  ")}\r\n`);
    redraw();
  });
  // lines typed for a kernel that stopped are not run by the next one
  bus.on("fatal", () => { prompt = null; pending.length = 0; });

  return {
    term,
    write,
    promptShown: () => prompt !== null,
    type: (text) => feed(text.endsWith("\n") ? text : text + "\n"),
  };
}
