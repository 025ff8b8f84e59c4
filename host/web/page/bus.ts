// host/web/page/bus.ts -- the page's end of the worker: send messages, subscribe by type.
//
// Layer: web role, page side. Interface: Bus -- send(msg, transfer), on(type, fn), the
// worker. Rules: handlers never block (the page never waits on the kernel); a handler that
// throws is reported on the console and does not stop the others.

import type { PageMessage, WorkerMessage } from "../protocol.js";

type Listener = (msg: WorkerMessage & Record<string, unknown>) => void;

/** The page's connection to the kernel's worker. */
export class Bus {
  private readonly listeners = new Map<string, Listener[]>();

  constructor(readonly worker: Worker) {
    worker.onmessage = (ev: MessageEvent<WorkerMessage>) => this.dispatch(ev.data as WorkerMessage & Record<string, unknown>);
    worker.onerror = (ev) => this.dispatch({ type: "fatal", message: `the kernel's worker failed: ${ev.message}` } as WorkerMessage & Record<string, unknown>);
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
    for (const fn of this.listeners.get(msg.type) ?? []) {
      try { fn(msg); } catch (err) { console.error(err); }
    }
  }
}
