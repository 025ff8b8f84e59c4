// host/cli/crashtest.ts -- `helix crashtest`: the crash-consistency campaign (issue 3 §4, §7).
//
// Layer: CLI (Node: worker threads, progress bars) over host/crash/crashcheck.ts and the portable
// report (host/crash/report.ts: workloads, summary, reproduction lines, minimiser, which the
// page prints too). Interface: runCrashtest(opts) -> exit code; when this
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
import { makeBaseImage, checkWorkload, StateChecker, type CrashViolation } from "../crash/crashcheck.js";
import {
  campaignWorkloads, checkStateOption, summaryRows, violationReport, violationsLine, Minimiser, CrashtestInputError,
  type CrashtestOptions,
} from "../crash/report.js";
import { UsageError } from "../shell/format.js";

export type { CrashtestOptions } from "../crash/report.js";

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

/** Runs the campaign; prints progress, a summary table and reproduction lines. Returns the exit code. */
export async function runCrashtest(o: CrashtestOptions): Promise<number> {
  let ws;
  try {
    checkStateOption(o);
    ws = campaignWorkloads(o);
  } catch (e) {
    if (e instanceof CrashtestInputError) throw new UsageError(e.message);
    throw e;
  }
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
  for (const line of summaryRows(o, ws.length, states, violations, seconds, jobs)) process.stdout.write(line + "\n");
  if (violations.length === 0) return 0;
  // workers report in completion order: the report prints in the campaign's order
  const minimiser = new Minimiser(o, kernelModule(o.debug === true));
  try {
    process.stdout.write(violationReport(o, ws, violations, minimiser).join("\n") + "\n");
  } finally {
    minimiser.close();
  }
  process.stderr.write(violationsLine(violations, states, ws.length) + "\n");
  return 1;
}

if (!isMainThread && (workerData as { job?: number } | null)?.job !== undefined) workerMain();
