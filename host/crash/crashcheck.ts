// host/crash/crashcheck.ts -- crash-consistency checking: record a workload, build the crash states
// a power cut could leave, recover each one, and hold it to DESIGN §5 (issue 3 §3).
//
// Layer: host, above the recorder (host/crash/recorder.ts), the crash-state generator
// (host/crash/crashstates.ts) and the workload oracle (host/crash/workload.ts). No Node imports: it
// runs in worker threads and could run in a browser worker.
// Interface: makeBaseImage, checkWorkload -> WorkloadResult (checkWorkloadSteps: the same, one
// state per step, for a worker that must keep answering), minimise.
// Rules:
//  - every workload starts from the same base image (mkfs + the workload setup, synced);
//  - for a state, the last completed persistence point is the last `persist:i` mark before
//    the state's crash entry (a mark is logged after the FLUSH that made it durable returned),
//    and the operations that may have begun are those whose `op:i` mark comes before it;
//  - a state passes when the kernel mounts it (journal replay) without a trap, fsck finds
//    nothing, and checkRecovered finds nothing.

import { MemoryBackend, type BlockBackend } from "../vmm/blockdev.js";
import { bootWith, KernelPanic, type Kernel } from "../vmm/kernel.js";
import { RecordingBackend, type WriteLog } from "./recorder.js";
import { CrashPlan, type CrashState, type CrashStateOptions } from "./crashstates.js";
import { setup, runWorkload, checkRecovered, type Workload, type WorkloadFs, type Violation } from "./workload.js";

/** Size of the crash-test image in bytes (small: states are overlays, kernels boot fast). */
export const CRASH_IMAGE_BYTES = 8 << 20;
/** Memory of each crash-test kernel in MiB. */
export const CRASH_MEMORY_MIB = 32;

export type CrashViolationKind = Violation["kind"] | "mount-failed" | "trap" | "fsck";
export interface CrashViolation { workload: string; state: string; kind: CrashViolationKind; path: string; detail: string }

export interface WorkloadResult {
  workload: string;
  states: number;
  violations: CrashViolation[];
  /** Milliseconds spent recording, generating and checking. */
  recordMs: number;
  generateMs: number;
  checkMs: number;
}

/** Options of checkWorkload. */
export interface CheckOptions extends CrashStateOptions {
  /** The compiled kernel to run. */
  module: WebAssembly.Module;
  /** Seed of the crash-state choices. */
  seed?: number;
  /** Check only this state id (reproduction). */
  onlyState?: string;
  /** Stop after the first violating state. */
  firstOnly?: boolean;
  /** With firstOnly: stop at the first state with a violation this accepts (default: any). */
  match?: (v: CrashViolation) => boolean;
  /** Kernel debug switch (kernel_debug_break) while recording: 0 = correct ordering. */
  breakOrdering?: number;
  /** Record with online discard (BootOptions.discard): the log carries the DISCARDs. */
  discard?: boolean;
  /** A checker to reuse across workloads (one kernel instance for all of them). */
  checker?: StateChecker;
}

/**
 * A byte no workload writes: the base image's free space is filled with it, so a file that
 * points at a block whose data never reached the disk reads it and the oracle notices.
 */
export const POISON_BYTE = 0xee;

/** mkfs + setup + sync on a poisoned memory device: the image every workload starts from. */
export function makeBaseImage(module: WebAssembly.Module, bytes = CRASH_IMAGE_BYTES): Uint8Array {
  const dev = new MemoryBackend(new Uint8Array(bytes).fill(POISON_BYTE));
  const k = bootWith({ device: dev, module, mkfs: true, memoryMiB: CRASH_MEMORY_MIB });
  setup(k.fs as unknown as WorkloadFs);
  const image = dev.bytes; // shutdown closes the device: keep its bytes
  k.shutdown();
  return image;
}

function markIndex(marks: { index: number; name: string }[], prefix: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const { index, name } of marks) if (name.startsWith(prefix)) m.set(Number(name.slice(prefix.length)), index);
  return m;
}

/** The last i whose mark index is below `entry`, or -1. */
function lastBefore(m: Map<number, number>, entry: number): number {
  let best = -1;
  for (const [i, idx] of m) if (idx < entry && i > best) best = i;
  return best;
}

/**
 * One kernel instance that mounts state after state (Kernel.remount): instantiating the
 * module and booting it costs more than checking a state. A panic kills it; the next state
 * gets a fresh one.
 */
export class StateChecker {
  private kernel: Kernel | null = null;
  constructor(private readonly module: WebAssembly.Module) {}

  /** Mounts `device`; returns the mounted kernel. Throws what the mount throws. */
  mount(device: BlockBackend): Kernel {
    if (this.kernel === null || this.kernel.isDead) {
      this.kernel = bootWith({ device, module: this.module, memoryMiB: CRASH_MEMORY_MIB });
      return this.kernel;
    }
    this.kernel.remount(device);
    return this.kernel;
  }

  /** Marks the current kernel unusable (after a trap). */
  discard(): void { this.kernel = null; }

  /** Unmounts and releases the kernel. */
  close(): void {
    try { if (this.kernel && !this.kernel.isDead) this.kernel.shutdown(); } catch { /* closing after a failure */ }
    this.kernel = null;
  }
}

function checkState(checker: StateChecker, w: Workload, s: CrashState, exp: ReturnType<typeof runWorkload>,
  persistMarks: Map<number, number>, opMarks: Map<number, number>): CrashViolation[] {
  const out: CrashViolation[] = [];
  const v = (kind: CrashViolationKind, path: string, detail: string) => out.push({ workload: w.id, state: s.id, kind, path, detail });
  let k: Kernel;
  try {
    k = checker.mount(s.backend());
  } catch (e) {
    const trap = e instanceof KernelPanic || e instanceof WebAssembly.RuntimeError;
    if (trap) checker.discard();
    v(trap ? "trap" : "mount-failed", "/", (e as Error).message);
    return out;
  }
  try {
    const problems = k.fsck(true);
    if (problems !== 0) v("fsck", "/", k.logLines.filter((l) => l.startsWith("fsck:")).slice(0, 3).join("; ") || `${problems} problem(s)`);
    const lastPersist = lastBefore(persistMarks, s.crashEntry);
    const started = lastBefore(opMarks, s.crashEntry);
    for (const x of checkRecovered(k.fs as unknown as WorkloadFs, exp, lastPersist, started)) v(x.kind, x.path, x.detail);
  } catch (e) {
    const trap = e instanceof KernelPanic;
    if (trap) checker.discard();
    v(trap ? "trap" : "mount-failed", "/", (e as Error).message);
  }
  return out;
}

/**
 * Records `w` on `base` (a copy), generates its crash states and checks each one. Returns
 * the states checked and every violation (with the state id that reproduces it).
 */
export function checkWorkload(w: Workload, base: Uint8Array, opts: CheckOptions): WorkloadResult {
  const it = checkWorkloadSteps(w, base, opts);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/**
 * checkWorkload one state at a time: yields after each checked state (states checked so far,
 * states planned) so a caller can yield to its event loop (the page's worker) between states;
 * returns the WorkloadResult. Dropping the iterator early closes the checker it made.
 */
export function* checkWorkloadSteps(w: Workload, base: Uint8Array, opts: CheckOptions): Generator<{ checked: number; planned: number }, WorkloadResult, void> {
  const t0 = performance.now();
  const rec = new RecordingBackend(new MemoryBackend(new Uint8Array(base)));
  const k = bootWith({ device: rec, module: opts.module, memoryMiB: CRASH_MEMORY_MIB, discard: opts.discard });
  if (opts.breakOrdering) k.callExport("kernel_debug_break", opts.breakOrdering);
  const exp = runWorkload(k.fs as unknown as WorkloadFs, w, (name) => { rec.mark(name); });
  rec.mark("end");
  const log: WriteLog = rec.log;
  k.shutdown();
  const t1 = performance.now();
  const plan = new CrashPlan(log, base, { seed: opts.seed ?? 1 });
  const states = opts.onlyState ? [plan.state(opts.onlyState)] : plan.generate(opts);
  const t2 = performance.now();
  const marks = log.marks();
  const persistMarks = markIndex(marks, "persist:");
  const opMarks = markIndex(marks, "op:");
  const violations: CrashViolation[] = [];
  let checked = 0;
  const checker = opts.checker ?? new StateChecker(opts.module);
  try {
    for (const s of states) {
      checked++;
      const found = checkState(checker, w, s, exp, persistMarks, opMarks);
      violations.push(...found);
      if (opts.firstOnly && (opts.match ? found.some(opts.match) : found.length > 0)) break;
      yield { checked, planned: states.length };
    }
  } finally {
    if (!opts.checker) checker.close();
  }
  return { workload: w.id, states: checked, violations, recordMs: t1 - t0, generateMs: t2 - t1, checkMs: performance.now() - t2 };
}

/**
 * Shrinks a failing workload: drops steps one at a time while `fails(workload)` stays true
 * (ddmin's one-removal pass, repeated until nothing can go). Bounded by `budget` checks.
 */
export function minimise(w: Workload, fails: (w: Workload) => boolean, budget = 200): Workload {
  let cur = w;
  let changed = true;
  while (changed && budget > 0) {
    changed = false;
    for (let i = 0; i < cur.steps.length && budget > 0; i++) {
      const cand: Workload = { id: `${w.id}-min`, steps: cur.steps.filter((_, j) => j !== i) };
      budget--;
      if (cand.steps.length > 0 && fails(cand)) { cur = cand; changed = true; break; }
    }
  }
  return cur;
}
