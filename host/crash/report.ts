// host/crash/report.ts -- the crashtest campaign's portable half: which workloads a campaign
// checks, the workload a user typed (JSON steps or shell-like commands), the summary table,
// the violation report with its reproduction lines, the minimiser, and a single-thread runner
// that yields between crash states (the page's worker). host/cli/crashtest.ts (Node worker
// threads, progress bar) and host/web/crash.ts (the page's `crashtest`) both print with it, so
// the page prints the CLI's lines.
//
// Layer: crash role (portable: no node:*, no DOM), above host/crash/crashcheck.ts and
// workload.ts. Interface: CrashtestOptions, campaignWorkloads, parseSteps, parseTyped,
// stepsText, reproLine, summaryRows, violationReport, Minimiser, runCampaign. Rules: bad
// input is a CrashtestInputError with one line (the CLI turns it into a usage error, exit 2);
// a reproduction line is a command the Node CLI accepts as printed.

import { checkWorkload, checkWorkloadSteps, makeBaseImage, minimise, StateChecker, CRASH_IMAGE_BYTES, type CrashViolation } from "./crashcheck.js";
import { aceWorkloads, randomWorkload, snapshotWorkloads, type Op, type Persist, type Step, type Workload } from "./workload.js";

/** Random workloads per campaign and steps in each. */
export const RANDOM_WORKLOADS = 200;
export const RANDOM_STEPS = 20;
/** Violations printed in full (the rest are counted). */
export const REPORT_MAX = 20;
/** Workload checks all minimisations of one run may spend (each check records and replays a workload). */
const MINIMISE_CHECKS_MAX = 400;
/** Checks one minimisation may spend. */
const MINIMISE_CHECKS_EACH = 60;
/** Default crash states per workload (the CLI's --states default). */
export const DEFAULT_STATES = 1000;
/** Most steps a typed workload may have (random workloads have RANDOM_STEPS). */
const STEPS_MAX = 1000;

/** Bad campaign input (one line); the CLI reports it as a usage error. */
export class CrashtestInputError extends Error {
  constructor(message: string) { super(message); this.name = "CrashtestInputError"; }
}

export interface CrashtestOptions {
  /** "snap": the snapshot-delete and rollback workloads (host/crash/workload.ts snapshotWorkloads). */
  workload: "ace1" | "ace2" | "ace3" | "random" | "snap";
  seed: number;
  /** Crash states per workload at most. */
  states: number;
  jobs: number;
  imageBytes: number;
  /** Check only this workload id (reproduction). */
  only?: string;
  /** Check only this state id of it (reproduction). */
  state?: string;
  /** Kernel debug switch: break the journal ordering (proves the checker notices). */
  breakOrdering?: number;
  /** Record the workloads with online discard (the crash states then carry the DISCARDs). */
  discard?: boolean;
  /** Check a seeded sample of this many workloads instead of all. */
  sample?: number;
  /** Check only this workload, given as the JSON of its steps (a minimised workload's reproduction). */
  steps?: string;
  debug?: boolean;
}

/** Checks the --state / --only / --steps combination; CrashtestInputError on a bad one. */
export function checkStateOption(o: Pick<CrashtestOptions, "state" | "only" | "steps">): void {
  if (o.state !== undefined && !/^(?:b\d+|e\d+[psdt]\d+)$/.test(o.state)) throw new CrashtestInputError(`bad --state '${o.state}': a crash state id is b<epoch> or e<epoch>{p|s|d|t}<n> (as printed by a violation)`);
  if (o.state !== undefined && o.only === undefined && o.steps === undefined) throw new CrashtestInputError("--state needs --only or --steps (the workload the state belongs to)");
}

/** The workloads of a campaign, by id. */
export function campaignWorkloads(o: Pick<CrashtestOptions, "workload" | "seed" | "sample" | "only" | "steps">): Workload[] {
  let ws: Workload[];
  if (o.steps !== undefined) return [{ id: "steps", steps: parseSteps(o.steps) }];
  if (o.workload === "random") ws = Array.from({ length: RANDOM_WORKLOADS }, (_, i) => randomWorkload(o.seed * 100003 + i, RANDOM_STEPS));
  else if (o.workload === "snap") ws = snapshotWorkloads();
  else ws = aceWorkloads(Number(o.workload.slice(3)));
  if (o.only) ws = ws.filter((w) => w.id === o.only);
  if (o.sample && o.sample < ws.length) {
    let x = o.seed >>> 0 || 1;
    const picked = new Set<number>();
    while (picked.size < o.sample) { x = (x * 1103515245 + 12345) >>> 0; picked.add((x >>> 8) % ws.length); }
    ws = [...picked].sort((a, b) => a - b).map((i) => ws[i]);
  }
  return ws;
}

/** Operations of a workload step and the fields each needs (host/crash/workload.ts Op). */
const OP_FIELDS: Record<string, Record<string, "string" | "number">> = {
  creat: { path: "string" }, mkdir: { path: "string" }, unlink: { path: "string" }, rmdir: { path: "string" },
  write: { path: "string", offset: "number", len: "number", byte: "number" }, truncate: { path: "string", len: "number" },
  falloc: { path: "string", mode: "number", offset: "number", len: "number" },
  link: { from: "string", to: "string" }, rename: { from: "string", to: "string" }, symlink: { target: "string", path: "string" },
  "snap-create": { name: "string" }, "snap-delete": { name: "string" }, "snap-rollback": { name: "string" }, "snap-work": { budget: "number" },
  fill: { dir: "string", files: "number", len: "number", byte: "number" }, wipe: { dir: "string", files: "number" },
};
const PERSIST_KINDS = ["fsync", "fsync-parent", "fdatasync", "sync", "self"];

/** Parses and checks the JSON of --steps. CrashtestInputError with the first problem. */
export function parseSteps(json: string): Step[] {
  let v: unknown;
  try { v = JSON.parse(json); } catch (e) { throw new CrashtestInputError(`--steps: not JSON: ${(e as Error).message}`); }
  if (!Array.isArray(v) || v.length === 0 || v.length > STEPS_MAX) throw new CrashtestInputError(`--steps: must be an array of 1 to ${STEPS_MAX} steps`);
  v.forEach((st, i) => {
    const op = (st as { op?: Record<string, unknown> })?.op, persist = (st as { persist?: Record<string, unknown> })?.persist;
    const fields = typeof op?.op === "string" ? OP_FIELDS[op.op] : undefined;
    if (op === undefined || fields === undefined) throw new CrashtestInputError(`--steps: step ${i}: unknown operation`);
    for (const [f, t] of Object.entries(fields)) {
      if (typeof op[f] !== t || (t === "number" && !(Number.isSafeInteger(op[f]) && (op[f] as number) >= 0))) throw new CrashtestInputError(`--steps: step ${i}: ${op.op} needs ${f} (${t})`);
    }
    if (!PERSIST_KINDS.includes(persist?.kind as string) || typeof persist?.path !== "string") throw new CrashtestInputError(`--steps: step ${i}: persist must be {kind: ${PERSIST_KINDS.join("|")}, path}`);
  });
  return v as Step[];
}

/** Pattern bytes of typed writes, one per write step (as ACE workloads use; never 0, the setup's or the poison byte). */
const TYPED_BYTES = [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48];
/** Largest write a typed workload may make (bytes): the crash image is CRASH_IMAGE_BYTES. */
const TYPED_WRITE_MAX = 1 << 20;

/**
 * A workload typed as shell-like commands, each operation followed by its persistence point:
 *
 *   touch F | mkdir D | write F OFFSET LENGTH | truncate F LENGTH | ln A B | ln -s TARGET LINK |
 *   rm F | rmdir D | mv A B | fallocate [-k|-p|-z|-zk] F OFFSET LENGTH
 *                                      (operations, over the setup's /A and /B with foo files;
 *                                      fallocate's flags as util-linux's: -k keep size,
 *                                      -p punch hole (keeps the size), -z zero range)
 *   sync | sync F | sync -d F | fsync-parent F     (persistence: whole sync, fsync, fdatasync,
 *                                                   fsync of F's parent directory)
 *   snapshot create|delete|rollback NAME           (a snapshot operation: its own persistence
 *                                                   point, no sync follows it; the setup has
 *                                                   taken snapshot "base")
 *
 * separated by `;` or newlines. CrashtestInputError names the first problem.
 */
export function parseTyped(text: string): Step[] {
  const cmds = text.split(/[;\n]/).map((c) => c.trim()).filter((c) => c !== "" && !c.startsWith("#")).map((c) => c.split(/\s+/));
  const steps: Step[] = [];
  let pending: Op | null = null;
  let writes = 0;
  const num = (s: string | undefined, what: string, cmd: string): number => {
    const n = Number(s);
    if (s === undefined || !Number.isSafeInteger(n) || n < 0) throw new CrashtestInputError(`'${cmd}': ${what} must be a non-negative integer`);
    return n;
  };
  const abs = (p: string | undefined, cmd: string): string => {
    if (p === undefined || !p.startsWith("/")) throw new CrashtestInputError(`'${cmd}': paths must be absolute (the setup has /A/foo, /B/foo, /A, /B)`);
    return p.replace(/\/+$/, "") || "/";
  };
  for (const argv of cmds) {
    const cmd = argv.join(" ");
    const [name, ...a] = argv;
    const persist = ((): Persist | null => {
      if (name === "sync" && a.length === 0) return { kind: "sync", path: "/" };
      if (name === "sync" && a.length === 1) return { kind: "fsync", path: abs(a[0], cmd) };
      if (name === "sync" && a.length === 2 && a[0] === "-d") return { kind: "fdatasync", path: abs(a[1], cmd) };
      if (name === "fsync-parent" && a.length === 1) { const p = abs(a[0], cmd); return { kind: "fsync-parent", path: p.slice(0, p.lastIndexOf("/")) || "/" }; }
      return null;
    })();
    if (persist !== null) {
      if (pending === null) throw new CrashtestInputError(`'${cmd}': a persistence point needs an operation before it`);
      steps.push({ op: pending, persist });
      pending = null;
      continue;
    }
    if (pending !== null) throw new CrashtestInputError(`'${cmd}': the operation before it needs a persistence point (sync, sync FILE, sync -d FILE, fsync-parent FILE)`);
    if (name === "snapshot") {
      const kinds: Record<string, "snap-create" | "snap-delete" | "snap-rollback"> = { create: "snap-create", delete: "snap-delete", rollback: "snap-rollback" };
      if (a.length !== 2 || !(a[0] in kinds) || a[1] === "") throw new CrashtestInputError(`'${cmd}': usage: snapshot create|delete|rollback NAME`);
      steps.push({ op: { op: kinds[a[0]], name: a[1] }, persist: { kind: "self", path: "/" } });
      continue;
    }
    switch (name) {
      case "touch": if (a.length !== 1) break; pending = { op: "creat", path: abs(a[0], cmd) }; continue;
      case "mkdir": if (a.length !== 1) break; pending = { op: "mkdir", path: abs(a[0], cmd) }; continue;
      case "rm": if (a.length !== 1) break; pending = { op: "unlink", path: abs(a[0], cmd) }; continue;
      case "rmdir": if (a.length !== 1) break; pending = { op: "rmdir", path: abs(a[0], cmd) }; continue;
      case "mv": if (a.length !== 2) break; pending = { op: "rename", from: abs(a[0], cmd), to: abs(a[1], cmd) }; continue;
      case "ln":
        if (a.length === 3 && a[0] === "-s") { pending = { op: "symlink", target: a[1], path: abs(a[2], cmd) }; continue; }
        if (a.length !== 2) break;
        pending = { op: "link", from: abs(a[0], cmd), to: abs(a[1], cmd) }; continue;
      case "truncate":
        if (a.length === 3 && a[0] === "-s") { pending = { op: "truncate", path: abs(a[2], cmd), len: num(a[1], "the length", cmd) }; continue; }
        if (a.length !== 2) break;
        pending = { op: "truncate", path: abs(a[0], cmd), len: num(a[1], "the length", cmd) }; continue;
      case "fallocate": {
        const flags: Record<string, number> = { "-k": 1, "-p": 3, "-z": 0x10, "-zk": 0x11 };
        const withFlag = a.length === 4;
        if (a.length !== 3 && !(withFlag && a[0] in flags)) break;
        const b = withFlag ? a.slice(1) : a;
        const len = num(b[2], "the length", cmd);
        if (len === 0) throw new CrashtestInputError(`'${cmd}': a fallocate length is at least 1`);
        pending = { op: "falloc", path: abs(b[0], cmd), mode: withFlag ? flags[a[0]] : 0, offset: num(b[1], "the offset", cmd), len };
        continue;
      }
      case "write": {
        if (a.length !== 3) break;
        const len = num(a[2], "the length", cmd);
        if (len === 0 || len > TYPED_WRITE_MAX) throw new CrashtestInputError(`'${cmd}': a write is 1 to ${TYPED_WRITE_MAX} bytes`);
        pending = { op: "write", path: abs(a[0], cmd), offset: num(a[1], "the offset", cmd), len, byte: TYPED_BYTES[writes++ % TYPED_BYTES.length] };
        continue;
      }
      default: throw new CrashtestInputError(`'${cmd}': unknown operation (touch, mkdir, write F OFF LEN, truncate F LEN, fallocate [-k|-p|-z|-zk] F OFF LEN, ln [-s], rm, rmdir, mv; then sync, sync F, sync -d F or fsync-parent F; or snapshot create|delete|rollback NAME)`);
    }
    throw new CrashtestInputError(`'${cmd}': wrong number of operands`);
  }
  if (pending !== null) throw new CrashtestInputError("the last operation needs a persistence point (sync, sync FILE, sync -d FILE, fsync-parent FILE)");
  if (steps.length === 0 || steps.length > STEPS_MAX) throw new CrashtestInputError(`a typed workload has 1 to ${STEPS_MAX} steps`);
  return steps;
}

/** A workload's operations as one line: `creat /A/foo; fsync /A/foo; ...`. */
export function stepsText(steps: Step[]): string {
  const opText = (o: Step["op"]): string => {
    switch (o.op) {
      case "write": return `write ${o.path} [${o.offset}, +${o.len}) of 0x${o.byte.toString(16).padStart(2, "0")}`;
      case "truncate": return `truncate ${o.path} ${o.len}`;
      case "falloc": return `fallocate ${o.path} mode 0x${o.mode.toString(16)} [${o.offset}, +${o.len})`;
      case "link": case "rename": return `${o.op} ${o.from} ${o.to}`;
      case "symlink": return `symlink ${o.target} ${o.path}`;
      case "snap-create": case "snap-delete": case "snap-rollback": return `snapshot ${o.op.slice(5)} ${o.name}`;
      case "snap-work": return `snapshot work ${o.budget} (then sync) until idle`;
      case "fill": return `fill ${o.dir} with ${o.files} files of ${o.len} bytes of 0x${o.byte.toString(16)}`;
      case "wipe": return `unlink ${o.dir}/f0..f${o.files - 1}`;
      default: return `${o.op} ${o.path}`;
    }
  };
  const persistText = (p: Step["persist"]) => (p.kind === "sync" ? "; sync" : p.kind === "self" ? "" : `; ${p.kind} ${p.path}`);
  return steps.map((s) => `${opText(s.op)}${persistText(s.persist)}`).join("; ");
}

/** The reproduction command of `v`; `steps` for a workload that is not in the campaign (minimised). */
export function reproLine(o: CrashtestOptions, v: CrashViolation, steps?: Step[]): string {
  const shq = (t: string) => `'${t.replace(/'/g, "'\\''")}'`;
  const parts = steps !== undefined || o.steps !== undefined
    ? ["helix crashtest", `--steps ${shq(steps !== undefined ? JSON.stringify(steps) : o.steps!)}`, `--seed ${o.seed}`, `--state ${v.state}`]
    : ["helix crashtest", `--workload ${o.workload}`, `--seed ${o.seed}`, `--only ${v.workload}`, `--state ${v.state}`];
  if (o.breakOrdering) parts.push(`--break ${o.breakOrdering}`);
  if (o.discard) parts.push("--discard");
  if (o.imageBytes !== CRASH_IMAGE_BYTES) parts.push(`--image-size ${o.imageBytes}`);
  if (o.states !== DEFAULT_STATES) parts.push(`--states ${o.states}`);
  return parts.join(" ");
}

/** The same violation: its kind at its path (state ids and details differ between workloads). */
export function sameViolation(a: CrashViolation): (b: CrashViolation) => boolean {
  return (b) => b.kind === a.kind && b.path === a.path;
}

/** A violation as one line. */
export function violationText(v: CrashViolation): string { return `${v.kind} at ${v.path}: ${v.detail}`; }

/** The summary table (the CLI's stdout lines), rows padded to one column. */
export function summaryRows(o: CrashtestOptions, workloads: number, states: number, violations: CrashViolation[], seconds: number, jobs: number): string[] {
  const byKind = new Map<string, number>();
  for (const v of violations) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
  const rows: [string, string][] = [
    ["workloads", `${workloads} (${o.steps !== undefined ? "--steps" : o.workload}${o.sample ? `, sample of ${o.sample}` : ""}, seed ${o.seed})`],
    ["crash states", String(states)],
    ["violations", String(violations.length)],
    ...[...byKind].map(([k, n]): [string, string] => [`  ${k}`, String(n)]),
    ["seconds", seconds.toFixed(1)],
    ["states per second", `${Math.round(states / seconds)} (${jobs} job${jobs > 1 ? "s" : ""}, ${Math.round(states / seconds / jobs)} per job)`],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w0)}  ${v}`);
}

/** The closing one-line message of a run with violations (the CLI writes it to stderr). */
export function violationsLine(violations: CrashViolation[], states: number, workloads: number): string {
  const byKind = new Map<string, number>();
  for (const v of violations) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
  const kinds = [...byKind].map(([k, n]) => `${n} ${k}`).join(", ");
  return `helix: crashtest: ${violations.length} violation${violations.length === 1 ? "" : "s"} (${kinds}) in ${states} crash states of ${workloads} workloads`;
}

/**
 * Shrinks workloads for the violations that are printed: for each, steps are dropped while
 * the workload still shows a violation of the same kind at the same path, and the violation
 * found in the smallest workload is kept with it (so what is printed is in the printed
 * workload). Bounded by MINIMISE_CHECKS_MAX checks in all.
 */
export class Minimiser {
  private budget = MINIMISE_CHECKS_MAX;
  private readonly base: Uint8Array;
  private readonly checker: StateChecker;
  private readonly done = new Map<string, { steps: Step[]; v: CrashViolation } | null>();

  constructor(private readonly o: CrashtestOptions, private readonly module: WebAssembly.Module) {
    this.base = makeBaseImage(this.module, o.imageBytes);
    this.checker = new StateChecker(this.module);
  }

  /** The minimised workload of `v` and the violation in it, or null (budget spent or not reproduced). */
  of(w: Workload, v: CrashViolation): { steps: Step[]; v: CrashViolation } | null {
    const key = `${w.id}\0${v.kind}\0${v.path}`;
    if (this.done.has(key)) return this.done.get(key)!;
    let found: CrashViolation | null = null;
    const opts = {
      module: this.module, seed: this.o.seed, maxStates: this.o.states, checker: this.checker,
      breakOrdering: this.o.breakOrdering, discard: this.o.discard, firstOnly: true, match: sameViolation(v),
    };
    const fails = (cand: Workload): boolean => {
      this.budget--;
      const hit = checkWorkload(cand, this.base, opts).violations.find(sameViolation(v));
      if (hit !== undefined) found = hit;
      return hit !== undefined;
    };
    let r: { steps: Step[]; v: CrashViolation } | null = null;
    if (this.budget > 0) {
      const min = minimise(w, fails, Math.min(MINIMISE_CHECKS_EACH, this.budget));
      // the last accepted candidate set `found`; when nothing could be dropped, check the
      // workload itself once so the violation printed comes from this very run
      if (min.steps.length === w.steps.length) { found = null; fails(w); }
      if (found !== null) r = { steps: min.steps, v: found };
    }
    this.done.set(key, r);
    return r;
  }

  close(): void { this.checker.close(); }
}

/**
 * The report of the violations (REPORT_MAX in full, in the campaign's order): each with its
 * workload, its reproduction line and a minimised workload with its own. Lines, no newlines.
 */
export function violationReport(o: CrashtestOptions, ws: Workload[], violations: CrashViolation[], minimiser: Minimiser): string[] {
  const order = new Map(ws.map((w, i) => [w.id, i]));
  const sorted = [...violations].sort((a, b) => order.get(a.workload)! - order.get(b.workload)!);
  const byId = new Map(ws.map((w) => [w.id, w]));
  const out: string[] = [];
  for (const v of sorted.slice(0, REPORT_MAX)) {
    const w = byId.get(v.workload)!;
    out.push("", `violation ${violationText(v)}`,
      `  workload ${v.workload} (${w.steps.length} step${w.steps.length === 1 ? "" : "s"}), state ${v.state}: ${stepsText(w.steps)}`,
      `  reproduce: ${reproLine(o, v)}`);
    if (w.steps.length > 1) {
      const m = minimiser.of(w, v);
      if (m === null) out.push("  minimised workload: not found (minimisation budget spent, or the violation did not recur)");
      else {
        out.push(`  minimised workload (${m.steps.length} of ${w.steps.length} steps): ${stepsText(m.steps)}`);
        out.push(`    violation there: ${violationText(m.v)}, state ${m.v.state}`);
        out.push(`    reproduce: ${reproLine(o, m.v, m.steps)}`);
      }
    }
  }
  if (violations.length > REPORT_MAX) out.push("", `(${violations.length - REPORT_MAX} more violations)`);
  return out;
}

/** Progress of runCampaign, after each state (or workload). */
export interface CampaignProgress { workloadsDone: number; workloads: number; states: number; violations: number; statesPerSecond: number }

/**
 * Runs a campaign in this thread, one workload after another, and returns what the summary
 * needs. Every `sliceMs` of work it awaits `pause()` (the page's worker: a macrotask, so
 * other messages and timers run) and calls `progress`. `cancelled()` stops it between states.
 */
export async function runCampaign(o: CrashtestOptions, module: WebAssembly.Module, hooks: {
  pause: () => Promise<void>; progress: (p: CampaignProgress) => void; cancelled?: () => boolean; sliceMs?: number;
}): Promise<{ workloads: Workload[]; states: number; violations: CrashViolation[]; seconds: number; cancelled: boolean }> {
  checkStateOption(o);
  const ws = campaignWorkloads(o);
  if (ws.length === 0) throw new CrashtestInputError(o.only ? `no workload '${o.only}' in ${o.workload}` : "no workloads");
  const slice = hooks.sliceMs ?? 50;
  const t0 = performance.now();
  const base = makeBaseImage(module, o.imageBytes);
  const checker = new StateChecker(module);
  const violations: CrashViolation[] = [];
  let states = 0, done = 0, last = performance.now(), cancelled = false;
  const report = () => hooks.progress({ workloadsDone: done, workloads: ws.length, states, violations: violations.length, statesPerSecond: states / Math.max((performance.now() - t0) / 1000, 1e-3) });
  try {
    for (const w of ws) {
      const it = checkWorkloadSteps(w, base, { module, seed: o.seed, maxStates: o.states, checker, onlyState: o.state, breakOrdering: o.breakOrdering, discard: o.discard });
      let prev = 0;
      for (;;) {
        const r = it.next();
        if (r.done) { states += r.value.states - prev; violations.push(...r.value.violations); break; }
        states += r.value.checked - prev;
        prev = r.value.checked;
        if (performance.now() - last >= slice) {
          report();
          await hooks.pause();
          last = performance.now();
          if (hooks.cancelled?.()) { cancelled = true; it.return(undefined as never); break; }
        }
      }
      if (cancelled) break;
      done++;
    }
  } finally {
    checker.close();
  }
  report();
  return { workloads: ws, states, violations, seconds: (performance.now() - t0) / 1000, cancelled };
}
