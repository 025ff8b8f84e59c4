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
//    nothing, and checkRecovered finds nothing;
//  - snapshots (issue 14): the workloads run on snapshotFs (host/crash/snapsys.ts), so the
//    base image holds the setup's snapshot "base" and the snapshot steps run. In each state,
//    after fsck: the listed snapshots are the ones snapshotOracle allows; the background
//    work a delete left is finished (and fsck runs again); each listed snapshot with known
//    contents is read through a second kernel (sys_sync on the live one, then a read-only
//    snapshot mount of the same private overlay) and must hold exactly its tree; when the
//    live tree is settled (treeSettled) every snapshot is deleted and, with the work done,
//    the free block count must equal the final image's with every snapshot deleted (the
//    free space of a filesystem where they never existed).

import { MemoryBackend, type BlockBackend } from "../vmm/blockdev.js";
import { bootWith, KernelPanic, type Kernel } from "../vmm/kernel.js";
import { RecordingBackend, type WriteLog } from "./recorder.js";
import { CrashPlan, type CrashState, type CrashStateOptions } from "./crashstates.js";
import {
  setup, runWorkload, checkRecovered, captureTree, diffCaptured, snapshotOracle, treeSettled,
  type Workload, type WorkloadFs, type Violation, type Expectations,
} from "./workload.js";
import { SnapCalls, snapshotFs, ReadOnlyView, KeepOpen } from "./snapsys.js";
import { OverlayBackend } from "./crashstates.js";

/** Size of the crash-test image in bytes (small: states are overlays, kernels boot fast). */
export const CRASH_IMAGE_BYTES = 8 << 20;
/** Memory of each crash-test kernel in MiB. */
export const CRASH_MEMORY_MIB = 32;

export type CrashViolationKind = Violation["kind"] | "mount-failed" | "trap" | "fsck"
  | "snapshot-missing" | "snapshot-unexpected" | "snapshot-wrong" | "snapshot-space";
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
  /**
   * Tests only: changes the recorded expectations (and the reference free count) before the
   * states are checked, to prove the oracle reports what a kernel bug would look like.
   */
  tamper?: (exp: Expectations, ref: { free: number | null }) => void;
}

/**
 * A byte no workload writes: the base image's free space is filled with it, so a file that
 * points at a block whose data never reached the disk reads it and the oracle notices.
 */
export const POISON_BYTE = 0xee;

/**
 * mkfs + setup + sync on a poisoned memory device: the image every workload starts from.
 * `snapshot` (default true): the setup ends by taking snapshot "base" (workload.ts setup);
 * false leaves it out, for checks of what only frees make visible (with a snapshot holding
 * the setup's blocks, a one-step workload frees almost nothing, so e.g. a discard sent too
 * early has nothing to zero).
 */
export function makeBaseImage(module: WebAssembly.Module, bytes = CRASH_IMAGE_BYTES, opts: { snapshot?: boolean } = {}): Uint8Array {
  const dev = new MemoryBackend(new Uint8Array(bytes).fill(POISON_BYTE));
  const k = bootWith({ device: dev, module, mkfs: true, memoryMiB: CRASH_MEMORY_MIB });
  setup((opts.snapshot === false ? k.fs : snapshotFs(k)) as unknown as WorkloadFs);
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
  /** A second kernel for read-only snapshot mounts beside the live one (view()). */
  private viewKernel: Kernel | null = null;
  constructor(private readonly module: WebAssembly.Module) {}

  /**
   * Mounts snapshot `name` of `device` (a read-only view of the state the live kernel has
   * synced) on the view kernel, MNT_RDONLY|MNT_NORECOVERY (nothing replayed or written, as
   * SNAPSHOT_ABI.md says a host opens a view beside a live kernel); returns it. Throws what the mount throws, or an
   * Error naming the errno of sys_mount_snapshot.
   */
  view(device: BlockBackend, name: string): Kernel {
    let v = this.viewKernel;
    if (v === null || v.isDead) {
      v = this.viewKernel = bootWith({ device, module: this.module, memoryMiB: CRASH_MEMORY_MIB, noMount: true, norecovery: true });
      const r = new SnapCalls(v).mountSnapshot(name);
      if (r !== 0) throw new Error(`sys_mount_snapshot('${name}') = ${r}`);
      v.mount();
      return v;
    }
    const r = new SnapCalls(v).mountSnapshot(name);
    if (r !== 0) throw new Error(`sys_mount_snapshot('${name}') = ${r}`);
    v.remount(device);
    return v;
  }

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

  /** Unmounts and releases the kernels. */
  close(): void {
    for (const k of [this.kernel, this.viewKernel]) {
      try { if (k && !k.isDead) k.shutdown(); } catch { /* closing after a failure */ }
    }
    this.kernel = null;
    this.viewKernel = null;
  }
}

/** Units of background work per sys_snapshot_work call when the checker finishes a delete. */
const CHECK_WORK_BATCH = 256;

/** True when the workload ran with snapshots (the setup took one, or a step made one). */
function hasSnapshots(exp: Expectations): boolean {
  return exp.snapStart.size > 0 || exp.snapEffects.some((e) => e !== undefined);
}

/**
 * Free blocks once what the running transaction freed is committed (kernel_info counts a
 * block free only then; statfs counts it at once, as ext4's df).
 */
function syncedFree(k: Kernel): number {
  const r = k.callExport("sys_sync") as number;
  if (r !== 0) throw new Error(`sys_sync = ${r}`);
  return k.info().freeBlocks;
}

/**
 * The free block count of the workload's final image (every logged write applied) after every
 * snapshot is deleted and the background work is done: what every settled state must reach.
 */
function referenceFree(checker: StateChecker, plan: CrashPlan): number {
  const k = checker.mount(new OverlayBackend(plan.imageAt(plan.unitCount)));
  const calls = new SnapCalls(k);
  for (const n of calls.names()) {
    const r = calls.delete(n);
    if (r !== 0) throw new Error(`reference image: deleting snapshot '${n}' = ${r}`);
  }
  const w = calls.workAll(CHECK_WORK_BATCH);
  if (w < 0) throw new Error(`reference image: sys_snapshot_work = ${w}`);
  return syncedFree(k);
}

/** The snapshot checks of one mounted state (see the file header); returns nothing, reports through `v`. */
function checkSnapshots(checker: StateChecker, k: Kernel, device: BlockBackend, exp: Expectations, lastPersist: number, started: number,
  refFree: number, v: (kind: CrashViolationKind, path: string, detail: string) => void): void {
  const calls = new SnapCalls(k);
  const listed = calls.names();
  const oracle = snapshotOracle(exp, lastPersist, started);
  for (const [name, want] of oracle) {
    if (want.present === "yes" && !listed.includes(name)) v("snapshot-missing", `@${name}`, `snapshot '${name}' is not listed (listed: ${listed.join(", ") || "none"})`);
    if (want.present === "no" && listed.includes(name)) v("snapshot-unexpected", `@${name}`, `snapshot '${name}' was deleted but is listed`);
  }
  for (const name of listed) if (!oracle.has(name)) v("snapshot-unexpected", `@${name}`, `snapshot '${name}' was never created`);
  // a delete the crash interrupted resumes at mount: finish it, and the result must be clean
  const pending = calls.work(0);
  if (pending < 0) v("snapshot-space", "/", `sys_snapshot_work(0) = ${pending}`);
  if (pending > 0) {
    const r = calls.workAll(CHECK_WORK_BATCH);
    if (r < 0) v("snapshot-space", "/", `sys_snapshot_work = ${r}`);
    const problems = k.fsck(true);
    if (problems !== 0) v("fsck", "/", `after the resumed background delete: ${k.logLines.filter((l) => l.startsWith("fsck:")).slice(0, 3).join("; ") || `${problems} problem(s)`}`);
  }
  // every listed snapshot with known contents holds exactly its tree
  const toView = listed.filter((n) => oracle.get(n)?.tree !== undefined);
  if (toView.length > 0) {
    const r = k.callExport("sys_sync") as number;
    if (r !== 0) v("snapshot-wrong", "/", `sys_sync before the snapshot views = ${r}`);
    for (const name of toView) {
      try {
        const view = checker.view(new ReadOnlyView(device), name);
        const d = diffCaptured(oracle.get(name)!.tree!, captureTree(view.fs as unknown as WorkloadFs));
        if (d !== null) v("snapshot-wrong", `@${name}`, d);
      } catch (e) {
        v("snapshot-wrong", `@${name}`, `read-only mount of snapshot '${name}': ${(e as Error).message}`);
      }
    }
  }
  // settled: with every snapshot gone, the free space of the final image without them
  if (treeSettled(exp, lastPersist)) {
    for (const n of calls.names()) {
      const r = calls.delete(n);
      if (r !== 0) v("snapshot-space", `@${n}`, `deleting snapshot '${n}' = ${r}`);
    }
    const r = calls.workAll(CHECK_WORK_BATCH);
    if (r < 0) v("snapshot-space", "/", `sys_snapshot_work = ${r}`);
    let free: number;
    try { free = syncedFree(k); } catch (e) { v("snapshot-space", "/", (e as Error).message); return; }
    if (free !== refFree) v("snapshot-space", "/", `${free} free blocks after deleting every snapshot, the final image has ${refFree}`);
  }
}

function checkState(checker: StateChecker, w: Workload, s: CrashState, exp: Expectations,
  persistMarks: Map<number, number>, opMarks: Map<number, number>, refFree: number | null): CrashViolation[] {
  const out: CrashViolation[] = [];
  const v = (kind: CrashViolationKind, path: string, detail: string) => out.push({ workload: w.id, state: s.id, kind, path, detail });
  let k: Kernel;
  // the state's device outlives the live mount (the snapshot views read it): never closed
  // here, the checker's next remount would otherwise drop its private layer
  const device = s.backend();
  try {
    k = checker.mount(new KeepOpen(device));
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
    if (refFree !== null) checkSnapshots(checker, k, device, exp, lastPersist, started, refFree, v);
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
  const exp = runWorkload(snapshotFs(k) as unknown as WorkloadFs, w, (name) => { rec.mark(name); });
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
    const ref = { free: hasSnapshots(exp) ? referenceFree(checker, plan) : null };
    opts.tamper?.(exp, ref);
    const refFree = ref.free;
    for (const s of states) {
      checked++;
      const found = checkState(checker, w, s, exp, persistMarks, opMarks, refFree);
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
