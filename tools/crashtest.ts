// tools/crashtest.ts -- `helix crashtest`: the crash-consistency campaign (issue 3 §4, §7).
//
// Layer: tool over host/crashcheck.ts. Interface: runCrashtest(opts) -> exit code; when this
// file runs as a worker thread it checks the workloads it is sent and reports per workload.
// Rules: workloads are split round-robin over `jobs` worker threads (one kernel instance each,
// remounting state after state); a violation prints a one-line reproduction command
// (workload, seed, state id) and, for random workloads, a minimised workload; the exit code
// is 1 when any state violates the contract, 0 otherwise.

import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import * as os from "node:os";
import cliProgress from "cli-progress";
import { kernelModule } from "../host/node.js";
import { makeBaseImage, checkWorkload, minimise, StateChecker, CRASH_IMAGE_BYTES, type CrashViolation } from "../host/crashcheck.js";
import { aceWorkloads, randomWorkload, type Workload } from "../host/workload.js";

/** Random workloads per campaign and steps in each. */
const RANDOM_WORKLOADS = 200;
const RANDOM_STEPS = 20;
/** Violations printed in full (the rest are counted). */
const REPORT_MAX = 20;

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
  debug?: boolean;
}

/** The workloads of a campaign, by id. */
export function campaignWorkloads(o: Pick<CrashtestOptions, "workload" | "seed" | "sample" | "only">): Workload[] {
  let ws: Workload[];
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

interface WorkerResult { workload: string; states: number; violations: CrashViolation[]; minimised?: string }
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
      if (r.violations.length > 0 && w.steps.length > 1) {
        const min = minimise(w, (cand) => checkWorkload(cand, base, { ...opts, firstOnly: true }).violations.length > 0, 60);
        res.minimised = JSON.stringify(min.steps);
      }
      parentPort!.postMessage({ type: "result", r: res } satisfies WorkerMsg);
    }
    parentPort!.postMessage({ type: "done" } satisfies WorkerMsg);
  } catch (e) {
    parentPort!.postMessage({ type: "error", message: (e as Error).message } satisfies WorkerMsg);
  } finally {
    checker.close();
  }
}

function reproLine(o: CrashtestOptions, v: CrashViolation): string {
  const parts = ["helix crashtest", `--workload ${o.workload}`, `--seed ${o.seed}`, `--only ${v.workload}`, `--state ${v.state}`];
  if (o.breakOrdering) parts.push(`--break ${o.breakOrdering}`);
  if (o.discard) parts.push("--discard");
  if (o.imageBytes !== CRASH_IMAGE_BYTES) parts.push(`--image-size ${o.imageBytes}`);
  return parts.join(" ");
}

/** Runs the campaign; prints progress, a summary table and reproduction lines. Returns the exit code. */
export async function runCrashtest(o: CrashtestOptions): Promise<number> {
  const ws = campaignWorkloads(o);
  if (ws.length === 0) throw new Error(o.only ? `no workload '${o.only}' in ${o.workload}` : "no workloads");
  const jobs = Math.max(1, Math.min(o.jobs, ws.length, os.cpus().length * 2));
  const tty = process.stderr.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({ format: "crashtest [{bar}] {value}/{total} workloads | {states} states | {viol} violations | {rate} states/s", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
  const t0 = performance.now();
  let states = 0;
  let done = 0;
  const violations: CrashViolation[] = [];
  const minimised = new Map<string, string>();
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
        if (m.r.minimised) minimised.set(m.r.workload, m.r.minimised);
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
    ["workloads", `${ws.length} (${o.workload}${o.sample ? `, sample of ${o.sample}` : ""}, seed ${o.seed})`],
    ["crash states", String(states)],
    ["violations", String(violations.length)],
    ...[...byKind].map(([k, n]): [string, string] => [`  ${k}`, String(n)]),
    ["seconds", seconds.toFixed(1)],
    ["states per second", `${Math.round(states / seconds)} (${jobs} job${jobs > 1 ? "s" : ""}, ${Math.round(states / seconds / jobs)} per job)`],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w0)}  ${v}\n`);
  for (const v of violations.slice(0, REPORT_MAX)) {
    process.stdout.write(`\nviolation ${v.kind} at ${v.path}: ${v.detail}\n  workload ${v.workload}, state ${v.state}\n  reproduce: ${reproLine(o, v)}\n`);
    const m = minimised.get(v.workload);
    if (m) process.stdout.write(`  minimised workload: ${m}\n`);
  }
  if (violations.length > REPORT_MAX) process.stdout.write(`\n(${violations.length - REPORT_MAX} more violations)\n`);
  return violations.length > 0 ? 1 : 0;
}

if (!isMainThread && (workerData as { job?: number } | null)?.job !== undefined) workerMain();
