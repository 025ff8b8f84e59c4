// host/web/worker.ts -- the kernel's dedicated Web Worker: loads the same kernel module Node
// runs (build/helix.wasm), boots it on the OPFS image and serves the page's messages.
//
// Layer: web role, the worker's entry (bundled by Vite). Interface: the messages of
// host/web/protocol.ts. Rules: the buffer global is installed before any other module
// loads; one message is handled at a time, in order (boots and uploads are awaited before
// the next message runs); a feature registers the handlers of its own message prefix in
// FEATURES; an unknown message is an `error`, never a throw out of onmessage.

import "./buffer-global.js";
import wasmUrl from "../../build/helix.wasm?url";
import { errorMessage } from "../shell/format.js";
import { completions } from "../shell/shell.js";
import type { PageMessage, WorkerMessage } from "./protocol.js";
import { WebSystem } from "./system.js";
import { viewsHandlers } from "./views.js";
import { powerHandlers, initPower } from "./power.js";
import { initCrash } from "./crash.js";
import { initBench } from "./bench.js";
import { FILES, downloadCommand } from "./files.js";

/** performance.now() at the worker's start (its time origin): the boot target counts from here. */
export const WORKER_START_MS = performance.now();

/** A feature's handlers, by message type; `sys` is the worker's system. */
export type Handlers = Record<string, (msg: PageMessage & Record<string, unknown>, sys: WebSystem) => void | Promise<void>>;

/** Features and their handlers (each feature module adds its own). */
const FEATURES: Handlers[] = [FILES, viewsHandlers, powerHandlers];
/** Features that set themselves up on the worker's system before the first message (shell commands, hooks). */
const INITS: ((sys: WebSystem) => void)[] = [initPower, initCrash, initBench];

const post = (msg: WorkerMessage, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(msg, transfer);

/** The core handlers: boot, shell, completion. */
const core: Handlers = {
  boot: (m, sys) => sys.boot(m.format === true),
  "shell.line": (m, sys) => sys.runLine(String(m.line)),
  shutdown: (_m, sys) => sys.shutdown(),
  "shell.complete": (m, sys) => {
    if (sys.shell === null) return;
    const [candidates, word] = completions(sys.shell, String(m.line));
    post({ type: "term.completions", word, candidates });
  },
};

/**
 * Starts compiling the kernel and serving messages at once (a message sent while the kernel
 * compiles waits in the queue behind the first boot, which opens the image meanwhile).
 */
function main(): void {
  const sys = new WebSystem(WebAssembly.compileStreaming(fetch(wasmUrl)), post);
  sys.extensions.push(downloadCommand(sys));
  for (const init of INITS) init(sys);
  const handlers: Handlers = Object.assign({}, core, ...FEATURES);
  let queue: Promise<void> = sys.boot();
  self.onmessage = (ev: MessageEvent<PageMessage>) => {
    const msg = ev.data as PageMessage & Record<string, unknown>;
    queue = queue.then(async () => {
      const h = handlers[msg.type];
      if (h === undefined) { post({ type: "error", message: `unknown message '${String(msg.type)}'` }); return; }
      try {
        await h(msg, sys);
      } catch (err) {
        post({ type: "error", message: errorMessage(err) });
      }
    });
  };
}

main();
