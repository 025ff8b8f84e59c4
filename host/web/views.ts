// host/web/views.ts -- the live views' sampler: gathers every view's data from the running
// kernel (host/web/views-sources.ts) and the block I/O tap (host/web/iotap.ts), and posts one
// `views.sample` message at most every SAMPLE_PERIOD_MS; the handlers of the `views.` messages.
//
// Layer: web role, worker side. Interface: gatherSample(kernel, tap, selection) -> ViewsSample
// (pure reading, used by the unit tests under Node); ViewsSampler (start, maybeSample, stop);
// viewsHandlers (views.select, views.scenario, views.scenarios) for host/web/worker.ts.
// Rules: sampling reads, never writes; it runs only between kernel calls (the worker is one
// thread: a timer fires between shell lines, and scenarios yield between their chunks and call
// maybeSample), so a sample is a consistent picture between two syscalls; samples follow a
// fixed SAMPLE_PERIOD_MS grid (10 per second while the worker is free to run them, never two
// closer than the grid allows); the frame map and block events move as transferred buffers;
// a sampler error stops nothing: it is reported once as an `error` and sampling goes on.

import type { Kernel, KernelInfo } from "../vmm/kernel.js";
import type { BlockBackend } from "../vmm/blockdev.js";
import { errorMessage, STAT_GROUPS } from "../shell/format.js";
import { IoTap, noEvents } from "./iotap.js";
import { pickSources, type ViewSources } from "./views-sources.js";
import type { ViewsSample } from "./views-types.js";
import { SCENARIOS, runScenario, type ScenarioHost } from "./scenarios.js";
import { BOOT_HOOKS, DEVICE_WRAPPERS, type WebSystem, type Post } from "./system.js";

/** Message handlers by type (host/web/worker.ts Handlers, restated: the worker imports this file). */
type Handlers = Record<string, (msg: Record<string, unknown>, sys: WebSystem) => void | Promise<void>>;

/** The sampling period, ms: the "at most every 100 ms". */
export const SAMPLE_PERIOD_MS = 100;


/** What the page has selected: a tree (0..4), a node in it (child indices from the root), a file. */
export interface ViewSelection { tree: number; path: number[]; file: string }

/** The counters of `helix stat`, grouped. */
export function statGroups(i: KernelInfo): ViewsSample["stat"] {
  return STAT_GROUPS.map(([g, fields]) => [g, fields.filter((f) => i[f] !== undefined).map((f) => [f as string, i[f]])]);
}

/**
 * One sample of every view of kernel `k` (its block requests from `tap` since the last
 * drain), for `sel`. Reads only. `sources` defaults to pickSources(k).
 */
export function gatherSample(k: Kernel, tap: IoTap | null, sel: ViewSelection, seq = 0, sources: ViewSources = pickSources(k)): ViewsSample {
  const t0 = performance.now();
  const info = k.info();
  const sample: ViewsSample = {
    type: "views.sample", seq, t: t0, costMs: 0,
    memory: sources.memory(k, info),
    slabs: sources.slabs(k),
    tree: sources.tree(k, sel.tree, sel.path),
    journal: sources.journal(k, info),
    blk: tap === null ? noEvents() : tap.drain(),
    stat: statGroups(info),
    extents: sel.file === "" ? null : sources.extents(k, sel.file, info),
    freeSpace: sources.freeSpace(k, info),
    scenario: null,
  };
  sample.costMs = performance.now() - t0;
  return sample;
}

/** The buffers of `s` to transfer with its message. */
export function sampleTransfers(s: ViewsSample): Transferable[] {
  const out: Transferable[] = [s.blk.t.buffer, s.blk.kind.buffer, s.blk.bytes.buffer];
  if (s.memory !== null) out.push(s.memory.frames.buffer);
  if (s.freeSpace !== null && s.freeSpace.fraction.byteLength > 0) out.push(s.freeSpace.fraction.buffer);
  return out as Transferable[];
}

/** The sampler of one worker: follows the live kernel across reboots. */
export class ViewsSampler {
  selection: ViewSelection = { tree: 1, path: [], file: "" };
  /** The running scenario's name (shown by the page). */
  scenario: string | null = null;
  /** The block I/O tap under the current kernel. */
  tap: IoTap | null = null;
  private seq = 0;
  private due = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private sources: ViewSources | null = null;
  private sourcesOf: Kernel | null = null;
  private failed = false;

  constructor(private readonly kernel: () => Kernel | null, private readonly post: Post) {}

  /** Samples every SAMPLE_PERIOD_MS from a timer (between messages) until stop(). */
  start(): void {
    if (this.timer !== null) return;
    this.due = performance.now();
    this.timer = setInterval(() => this.maybeSample(), SAMPLE_PERIOD_MS / 4);
    (this.timer as { unref?: () => void }).unref?.();
  }
  stop(): void { if (this.timer !== null) { clearInterval(this.timer); this.timer = null; } }

  /** Posts a sample when the grid says one is due (long work calls this between chunks). */
  maybeSample(): void {
    const now = performance.now();
    if (now < this.due) return;
    // the next slot on the grid; after a stall (a long shell line) start a new grid from now
    this.due = now - this.due > SAMPLE_PERIOD_MS ? now + SAMPLE_PERIOD_MS : this.due + SAMPLE_PERIOD_MS;
    this.sampleNow();
  }

  /** Gathers and posts one sample now (after a selection changes, the page sees it at once). */
  sampleNow(): void {
    const k = this.kernel();
    if (k === null || k.isDead) return;
    try {
      if (this.sourcesOf !== k) { this.sources = pickSources(k); this.sourcesOf = k; }
      const s = gatherSample(k, this.tap, this.selection, ++this.seq, this.sources!);
      s.scenario = this.scenario;
      this.post(s as unknown as Parameters<Post>[0], sampleTransfers(s));
      this.failed = false;
    } catch (err) {
      if (!this.failed) this.post({ type: "error", message: `views: ${errorMessage(err)}` });
      this.failed = true;
    }
  }
}

let sampler: ViewsSampler | null = null;
let system: WebSystem | null = null;

// Every device the worker boots gets a tap; the sampler starts at the first boot.
DEVICE_WRAPPERS.push((b: BlockBackend) => {
  const tap = new IoTap(b);
  if (sampler !== null) sampler.tap = tap;
  else pendingTap = tap;
  return tap;
});
let pendingTap: IoTap | null = null;
BOOT_HOOKS.push((sys) => {
  system = sys;
  if (sampler === null) {
    sampler = new ViewsSampler(() => sys.kernel, sys.post);
    sampler.tap = pendingTap;
    pendingTap = null;
  }
  sampler.start();
  sampler.sampleNow();
});

/** The scenario host of the worker's live system. */
function scenarioHost(sys: WebSystem, s: ViewsSampler): ScenarioHost {
  return {
    kernel: () => sys.kernel,
    say: (line) => sys.print(`\r\x1b[K\x1b[36m${line}\x1b[0m\n`),
    tick: () => s.maybeSample(),
    select: (file) => { s.selection.file = file; },
  };
}

/** The `views.` messages. */
export const viewsHandlers: Handlers = {
  /** The page picked a tree, a node path or a file: sample at once. */
  "views.select": (m) => {
    if (sampler === null) return;
    if (typeof m.tree === "number" && Number.isInteger(m.tree) && m.tree >= 0 && m.tree < 5) {
      if (m.tree !== sampler.selection.tree) sampler.selection.path = [];
      sampler.selection.tree = m.tree;
    }
    if (Array.isArray(m.path)) sampler.selection.path = (m.path as unknown[]).filter((x): x is number => Number.isInteger(x) && (x as number) >= 0).slice(0, 8);
    if (typeof m.file === "string") sampler.selection.file = m.file;
    sampler.sampleNow();
  },
  /** The scenarios the page offers. */
  "views.scenarios": (_m, sys) => {
    sys.post({ type: "views.scenarios", list: SCENARIOS.map(({ name, title, narration }) => ({ name, title, narration })) });
  },
  /**
   * Starts a scenario in the background (the message queue goes on: selections and shell lines
   * run between its chunks); `views.scenario.done` says when it ends.
   */
  "views.scenario": (m, sys) => {
    const s = sampler;
    if (s === null || sys.kernel === null) { sys.post({ type: "error", message: "views: the kernel is not running" }); return; }
    if (s.scenario !== null) { sys.post({ type: "error", message: `views: scenario '${s.scenario}' is still running` }); return; }
    const name = String(m.name);
    s.scenario = name;
    const t0 = performance.now();
    void runScenario(name, scenarioHost(sys, s)).then((r) => {
      s.scenario = null;
      s.sampleNow();
      sys.post({ type: "views.scenario.done", name, ok: r.ok, message: r.message, ms: performance.now() - t0, longestChunkMs: r.longestChunkMs ?? 0 });
      sys.prompt();
    });
  },
};

/** The sampler (null before the first boot), for tests and other features. */
export function viewsSampler(): ViewsSampler | null { return sampler; }
/** The system the sampler follows. */
export function viewsSystem(): WebSystem | null { return system; }
