// host/cli/crashtest.ts -- `helix crashtest`: the crash-consistency campaign (issue 3 §4, §7).
//
// Layer: CLI (Node: worker threads, progress bars) over host/crash/crashcheck.ts. Interface: runCrashtest(opts) -> exit code; when this
// file runs as a worker thread it checks the workloads it is sent and reports per workload.
// Rules: workloads are split round-robin over `jobs` worker threads (one kernel instance each,
// remounting state after state); a violation prints a one-line reproduction command
// (workload, seed, state id), the workload's operations and, when it has more than one step,
// a minimised workload that still shows that same violation (kind and path), with the
// violation as found in it and its own reproduction line (`--steps JSON`); a run with
// violations ends with one `helix: crashtest: ...` line on stderr and exit code 1, 0 otherwise.
// Bad option values (an unknown --only workload, a malformed --state or --steps) are usage
// errors (exit 2), like the options commander rejects.

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import * as os from "node:os";
import cliProgress from "cli-progress";
import { kernelModule } from "../node/node.js";
import { makeBaseImage, checkWorkload, minimise, StateChecker, CRASH_IMAGE_BYTES, type CrashViolation } from "../crash/crashcheck.js";
import { aceWorkloads, randomWorkload, type Workload, type Step } from "../crash/workload.js";
import { UsageError } from "../shell/format.js";

/** Random workloads per campaign and steps in each. */
const RANDOM_WORKLOADS = 200;
const RANDOM_STEPS = 20;
/** Violations printed in full (the rest are counted). */
const REPORT_MAX = 20;
/** Workload checks all minimisations of one run may spend (each check records and replays a workload). */
const MINIMISE_CHECKS_MAX = 400;
/** Checks one minimisation may spend. */
const MINIMISE_CHECKS_EACH = 60;

export interface CrashtestOptions {
  workload: "ace1" | "ace2" | "ace3" | "random";
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

/** The workloads of a campaign, by id. */
export function campaignWorkloads(o: Pick<CrashtestOptions, "workload" | "seed" | "sample" | "only" | "steps">): Workload[] {
  let ws: Workload[];
  if (o.steps !== undefined) return [{ id: "steps", steps: parseSteps(o.steps) }];
  if (o.workload === "random") ws = Array.from({ length: RANDOM_WORKLOADS }, (_, i) => randomWorkload(o.seed * 100003 + i, RANDOM_STEPS));
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
  link: { from: "string", to: "string" }, rename: { from: "string", to: "string" }, symlink: { target: "string", path: "string" },
};
const PERSIST_KINDS = ["fsync", "fsync-parent", "fdatasync", "sync"];
/** Most steps a --steps workload may have (random workloads have RANDOM_STEPS). */
const STEPS_MAX = 1000;

/** Parses and checks the JSON of --steps. UsageError with the first problem. */
export function parseSteps(json: string): Step[] {
  let v: unknown;
  try { v = JSON.parse(json); } catch (e) { throw new UsageError(`--steps: not JSON: ${(e as Error).message}`); }
  if (!Array.isArray(v) || v.length === 0 || v.length > STEPS_MAX) throw new UsageError(`--steps: must be an array of 1 to ${STEPS_MAX} steps`);
  v.forEach((st, i) => {
    const op = (st as { op?: Record<string, unknown> })?.op, persist = (st as { persist?: Record<string, unknown> })?.persist;
    const fields = typeof op?.op === "string" ? OP_FIELDS[op.op] : undefined;
    if (op === undefined || fields === undefined) throw new UsageError(`--steps: step ${i}: unknown operation`);
    for (const [f, t] of Object.entries(fields)) {
      if (typeof op[f] !== t || (t === "number" && !(Number.isSafeInteger(op[f]) && (op[f] as number) >= 0))) throw new UsageError(`--steps: step ${i}: ${op.op} needs ${f} (${t})`);
    }
    if (!PERSIST_KINDS.includes(persist?.kind as string) || typeof persist?.path !== "string") throw new UsageError(`--steps: step ${i}: persist must be {kind: ${PERSIST_KINDS.join("|")}, path}`);
  });
  return v as Step[];
}

/** A workload's operations as one line: `creat /A/foo; fsync /A/foo; ...`. */
export function stepsText(steps: Step[]): string {
  const opText = (o: Step["op"]): string => {
    switch (o.op) {
      case "write": return `write ${o.path} [${o.offset}, +${o.len}) of 0x${o.byte.toString(16).padStart(2, "0")}`;
      case "truncate": return `truncate ${o.path} ${o.len}`;
      case "link": case "rename": return `${o.op} ${o.from} ${o.to}`;
      case "symlink": return `symlink ${o.target} ${o.path}`;
      default: return `${o.op} ${o.path}`;
    }
  };
  return steps.map((s) => `${opText(s.op)}; ${s.persist.kind === "sync" ? "sync" : `${s.persist.kind} ${s.persist.path}`}`).join("; ");
}

interface WorkerResult { workload: string; states: number; violations: CrashViolation[] }
type WorkerMsg = { type: "result"; r: WorkerResult } | { type: "done" } | { type: "error"; message: string };

/** Worker body: checks workloads index % jobs == job. */
function workerMain(): void {
  const o = workerData as CrashtestOptions & { job: number };
  const module = kernelModule(o.debug === true);
  const base = makeBaseImage(module, o.imageBytes);
  const checker = new StateChecker(module);
  const ws = campaignWorkloads(o);
  try {
    for (let i = o.job; i < ws.length; i += o.jobs) {
      const w = ws[i];
      const opts = { module, seed: o.seed, maxStates: o.states, checker, onlyState: o.state, breakOrdering: o.breakOrdering, discard: o.discard };
      const r = checkWorkload(w, base, opts);
      const res: WorkerResult = { workload: w.id, states: r.states, violations: r.violations };
      parentPort!.postMessage({ type: "result", r: res } satisfies WorkerMsg);
    }
    parentPort!.postMessage({ type: "done" } satisfies WorkerMsg);
  } catch (e) {
    parentPort!.postMessage({ type: "error", message: (e as Error).message } satisfies WorkerMsg);
  } finally {
    checker.close();
  }
}

/** The reproduction command of `v`; `steps` for a workload that is not in the campaign (minimised). */
function reproLine(o: CrashtestOptions, v: CrashViolation, steps?: Step[]): string {
  const shq = (t: string) => `'${t.replace(/'/g, "'\\''")}'`;
  const parts = steps !== undefined || o.steps !== undefined
    ? ["helix crashtest", `--steps ${shq(steps !== undefined ? JSON.stringify(steps) : o.steps!)}`, `--seed ${o.seed}`, `--state ${v.state}`]
    : ["helix crashtest", `--workload ${o.workload}`, `--seed ${o.seed}`, `--only ${v.workload}`, `--state ${v.state}`];
  if (o.breakOrdering) parts.push(`--break ${o.breakOrdering}`);
  if (o.discard) parts.push("--discard");
  if (o.imageBytes !== CRASH_IMAGE_BYTES) parts.push(`--image-size ${o.imageBytes}`);
  if (o.states !== 1000) parts.push(`--states ${o.states}`);
  return parts.join(" ");
}

/** The same violation: its kind at its path (state ids and details differ between workloads). */
function sameViolation(a: CrashViolation): (b: CrashViolation) => boolean {
  return (b) => b.kind === a.kind && b.path === a.path;
}

/** A violation as one line. */
function violationText(v: CrashViolation): string { return `${v.kind} at ${v.path}: ${v.detail}`; }

/**
 * Shrinks workloads for the violations that are printed, in this thread: for each, steps are
 * dropped while the workload still shows a violation of the same kind at the same path, and
 * the violation found in the smallest workload is kept with it (so what is printed is in the
 * printed workload). Bounded by MINIMISE_CHECKS_MAX checks in all.
 */
class Minimiser {
  private budget = MINIMISE_CHECKS_MAX;
  private readonly module: WebAssembly.Module;
  private readonly base: Uint8Array;
  private readonly checker: StateChecker;
  private readonly done = new Map<string, { steps: Step[]; v: CrashViolation } | null>();

  constructor(private readonly o: CrashtestOptions) {
    this.module = kernelModule(o.debug === true);
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

/** Runs the campaign; prints progress, a summary table and reproduction lines. Returns the exit code. */
export async function runCrashtest(o: CrashtestOptions): Promise<number> {
  if (o.state !== undefined && !/^(?:b\d+|e\d+[psdt]\d+)$/.test(o.state)) throw new UsageError(`bad --state '${o.state}': a crash state id is b<epoch> or e<epoch>{p|s|d|t}<n> (as printed by a violation)`);
  if (o.state !== undefined && o.only === undefined && o.steps === undefined) throw new UsageError("--state needs --only or --steps (the workload the state belongs to)");
  const ws = campaignWorkloads(o);
  if (ws.length === 0) throw new UsageError(o.only ? `no workload '${o.only}' in ${o.workload}` : "no workloads");
  const jobs = Math.max(1, Math.min(o.jobs, ws.length, os.cpus().length * 2));
  const tty = process.stderr.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({ format: "crashtest [{bar}] {value}/{total} workloads | {states} states | {viol} violations | {rate} states/s", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  const t0 = performance.now();
  let states = 0;
  let done = 0;
  const violations: CrashViolation[] = [];
  const rate = () => Math.round(states / Math.max((performance.now() - t0) / 1000, 1e-3));
  bar?.start(ws.length, 0, { states: 0, viol: 0, rate: 0 });
  const self = fileURLToPath(import.meta.url);
  await Promise.all(Array.from({ length: jobs }, (_, job) => new Promise<void>((resolve, reject) => {
    const w = new Worker(self, { workerData: { ...o, jobs, job } });
    w.on("message", (m: WorkerMsg) => {
      if (m.type === "result") {
        done++;
        states += m.r.states;
        violations.push(...m.r.violations);
        bar?.update(done, { states, viol: violations.length, rate: rate() });
      } else if (m.type === "done") resolve();
      else reject(new Error(`worker ${job}: ${m.message}`));
    });
    w.on("error", (e) => reject(e));
    w.on("exit", (code) => { if (code !== 0) reject(new Error(`worker ${job} exited with code ${code}`)); });
  })));
  bar?.stop();
  const seconds = (performance.now() - t0) / 1000;
  const byKind = new Map<string, number>();
  for (const v of violations) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
  const rows: [string, string][] = [
    ["workloads", `${ws.length} (${o.steps !== undefined ? "--steps" : o.workload}${o.sample ? `, sample of ${o.sample}` : ""}, seed ${o.seed})`],
    ["crash states", String(states)],
    ["violations", String(violations.length)],
    ...[...byKind].map(([k, n]): [string, string] => [`  ${k}`, String(n)]),
    ["seconds", seconds.toFixed(1)],
    ["states per second", `${Math.round(states / seconds)} (${jobs} job${jobs > 1 ? "s" : ""}, ${Math.round(states / seconds / jobs)} per job)`],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w0)}  ${v}\n`);
  if (violations.length === 0) return 0;
  // workers report in completion order: print in the campaign's order
  const order = new Map(ws.map((w, i) => [w.id, i]));
  violations.sort((a, b) => order.get(a.workload)! - order.get(b.workload)!);
  const byId = new Map(ws.map((w) => [w.id, w]));
  const minimiser = new Minimiser(o);
  try {
    for (const v of violations.slice(0, REPORT_MAX)) {
      const w = byId.get(v.workload)!;
      const out = [
        "", `violation ${violationText(v)}`,
        `  workload ${v.workload} (${w.steps.length} step${w.steps.length === 1 ? "" : "s"}), state ${v.state}: ${stepsText(w.steps)}`,
        `  reproduce: ${reproLine(o, v)}`,
      ];
      if (w.steps.length > 1) {
        const m = minimiser.of(w, v);
        if (m === null) out.push("  minimised workload: not found (minimisation budget spent, or the violation did not recur)");
        else {
          out.push(`  minimised workload (${m.steps.length} of ${w.steps.length} steps): ${stepsText(m.steps)}`);
          out.push(`    violation there: ${violationText(m.v)}, state ${m.v.state}`);
          out.push(`    reproduce: ${reproLine(o, m.v, m.steps)}`);
        }
      }
      process.stdout.write(out.join("\n") + "\n");
    }
  } finally {
    minimiser.close();
  }
  if (violations.length > REPORT_MAX) process.stdout.write(`\n(${violations.length - REPORT_MAX} more violations)\n`);
  const kinds = [...byKind].map(([k, n]) => `${n} ${k}`).join(", ");
  process.stderr.write(`helix: crashtest: ${violations.length} violation${violations.length === 1 ? "" : "s"} (${kinds}) in ${states} crash states of ${ws.length} workloads\n`);
  return 1;
}

if (!isMainThread && (workerData as { job?: number } | null)?.job !== undefined) workerMain();
