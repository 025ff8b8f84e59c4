// host/web/page/bus.ts -- the page's end of the worker: send messages, subscribe by type.
//
// Layer: web role, page side. Interface: Bus -- send(msg, transfer), on(type, fn), the
// worker, restart(). Rules: handlers never block (the page never waits on the kernel); a
// handler that throws is reported on the console and does not stop the others; a worker that
// failed outside the kernel's guard (an uncaught error) is `broken`, and restart() replaces
// it with a new one (subscriptions stay).

import type { PageMessage, WorkerMessage } from "../protocol.js";

type Listener = (msg: WorkerMessage & Record<string, unknown>) => void;

/** The page's connection to the kernel's worker. */
export class Bus {
  private readonly listeners = new Map<string, Listener[]>();
  /** The kernel's worker (a new one after restart()). */
  worker: Worker;
  /** The worker failed outside the kernel's guard: only a restart helps. */
  broken = false;

  /** `start` makes the worker (called again by restart()). */
  constructor(private readonly start: () => Worker) {
    this.worker = this.attach(start());
  }

  /** Ends the worker (its image handle with it) and starts a new one, which boots. */
  restart(): void {
    this.worker.terminate();
    this.broken = false;
    this.worker = this.attach(this.start());
  }

  private attach(worker: Worker): Worker {
    worker.onmessage = (ev: MessageEvent<WorkerMessage>) => this.dispatch(ev.data as WorkerMessage & Record<string, unknown>);
    worker.onerror = (ev) => {
      ev.preventDefault();
      this.broken = true;
      this.dispatch({ type: "fatal", message: `the kernel's worker failed: ${ev.message || "an error it did not report"}` } as WorkerMessage & Record<string, unknown>);
    };
    worker.onmessageerror = () => this.dispatch({ type: "error", message: "a message from the kernel's worker could not be read" } as WorkerMessage & Record<string, unknown>);
    return worker;
  }

  /** Posts a message to the worker. */
  send(msg: PageMessage, transfer: Transferable[] = []): void { this.worker.postMessage(msg, transfer); }

  /** Calls `fn` for every message of `type`; returns a function that unsubscribes. */
  on(type: string, fn: Listener): () => void {
    const list = this.listeners.get(type) ?? [];
    list.push(fn);
    this.listeners.set(type, list);
    return () => { const l = this.listeners.get(type); if (l) l.splice(l.indexOf(fn), 1); };
  }

  private dispatch(msg: WorkerMessage & Record<string, unknown>): void {
    if (msg.type === "fatal" && msg.restart === true) this.broken = true;
    for (const fn of this.listeners.get(msg.type) ?? []) {
      try { fn(msg); } catch (err) { console.error(err); }
    }
  }
}
