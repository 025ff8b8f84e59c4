// host/web/crash.ts -- `crashtest` in the page's shell (issue 11 §4): an ACE workload set, a
// random campaign, or a workload the user typed, recorded and checked crash state by crash
// state in the kernel's worker, with the CLI's progress line, summary table and reproduction
// lines (host/crash/report.ts prints both).
//
// Layer: web role, a worker feature over host/crash/report.ts and host/web/system.ts.
// Interface: crashCommand, registered by initCrash as the `crashtest` command of WebSystem;
// posts `crash.progress` ({ workloadsDone, workloads, states,
// violations, statesPerSecond }) and `crash.done` ({ states, violations, seconds }).
// Rules: the campaign runs on its own kernel instances and memory images (never the page's
// image); it yields to the worker's event loop every SLICE_MS so samplers and timers run; bad
// options are one line with the usage, never a stack trace.

import {
  runCampaign, summaryRows, violationReport, violationsLine, parseTyped, Minimiser, CrashtestInputError, DEFAULT_STATES,
  type CrashtestOptions,
} from "../crash/report.js";
import { CRASH_IMAGE_BYTES } from "../crash/crashcheck.js";
import type { WebSystem } from "./system.js";
import { addScenario } from "./scenarios.js";

/** Work between two yields to the worker's event loop, ms. */
const SLICE_MS = 50;
/** Most crash states per workload the page accepts (the CLI's bound). */
const STATES_MAX = 1_000_000;

export const CRASHTEST_USAGE = "usage: crashtest [ace1|ace2|ace3|random] [--seed N] [--states N] [--sample N] [--only ID [--state ID]] " +
  "[--steps JSON] [-c 'touch /A/x; sync /A/x; ...'] [--break N] [--discard]";

/** Parses the page's crashtest arguments (the CLI's options, plus -c for a typed workload). CrashtestInputError on bad ones. */
export function parseCrashArgs(args: string[]): CrashtestOptions {
  const o: CrashtestOptions = { workload: "ace1", seed: 1, states: DEFAULT_STATES, jobs: 1, imageBytes: CRASH_IMAGE_BYTES };
  const int = (v: string | undefined, name: string, lo: number, hi: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n < lo || n > hi) throw new CrashtestInputError(`${name} must be an integer in ${lo}..${hi}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => { if (i + 1 >= args.length) throw new CrashtestInputError(`${a} needs a value`); return args[++i]; };
    switch (a) {
      case "ace1": case "ace2": case "ace3": case "random": o.workload = a; break;
      case "--workload": {
        const w = val();
        if (!["ace1", "ace2", "ace3", "random"].includes(w)) throw new CrashtestInputError("--workload must be one of ace1, ace2, ace3, random");
        o.workload = w as CrashtestOptions["workload"];
        break;
      }
      case "--seed": o.seed = int(val(), "--seed", 0, 2 ** 31); break;
      case "--states": o.states = int(val(), "--states", 1, STATES_MAX); break;
      case "--sample": o.sample = int(val(), "--sample", 1, 10_000_000); break;
      case "--only": o.only = val(); break;
      case "--state": o.state = val(); break;
      case "--steps": o.steps = val(); break;
      case "-c": o.steps = JSON.stringify(parseTyped(val())); break;
      case "--break": o.breakOrdering = int(val(), "--break", 0, 7); break;
      case "--discard": o.discard = true; break;
      case "-h": case "--help": throw new CrashtestInputError(CRASHTEST_USAGE);
      default: throw new CrashtestInputError(`unknown argument '${a}'; ${CRASHTEST_USAGE}`);
    }
  }
  return o;
}

/** A bar of `width` cells, `frac` of them full. */
function bar(frac: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(frac * width)));
  return "=".repeat(n) + " ".repeat(width - n);
}

/** The `crashtest` command of the page's shell. */
export async function crashCommand(args: string[], sys: WebSystem): Promise<void> {
  let o: CrashtestOptions;
  try {
    o = parseCrashArgs(args);
  } catch (e) {
    if (e instanceof CrashtestInputError) { sys.print(`helix: crashtest: ${e.message}\n`); return; }
    throw e;
  }
  const print = (s: string) => sys.print(s);
  let r;
  try {
    r = await runCampaign(o, sys.module, {
      sliceMs: SLICE_MS,
      pause: () => new Promise((res) => setTimeout(res, 0)),
      progress: (p) => {
        sys.post({ type: "crash.progress", ...p });
        // short enough for an 80-column terminal: a wrapped line would defeat the \r redraw
        print(`\r\x1b[Kcrashtest [${bar(p.workloadsDone / p.workloads)}] ${p.workloadsDone}/${p.workloads} | ${p.states} states | ${p.violations} viol. | ${Math.round(p.statesPerSecond)}/s`);
      },
    });
  } catch (e) {
    print("\n");
    if (e instanceof CrashtestInputError) { print(`helix: crashtest: ${e.message}\n`); return; }
    throw e;
  }
  print("\n");
  for (const line of summaryRows(o, r.workloads.length, r.states, r.violations, r.seconds, 1)) print(line + "\n");
  sys.post({ type: "crash.done", states: r.states, violations: r.violations.length, seconds: r.seconds });
  if (r.violations.length === 0) return;
  const minimiser = new Minimiser(o, sys.module);
  try {
    print(violationReport(o, r.workloads, r.violations, minimiser).join("\n") + "\n");
  } finally {
    minimiser.close();
  }
  print(`\x1b[31m${violationsLine(r.violations, r.states, r.workloads.length)}\x1b[0m\n`);
}

/** Sets the crash feature up on the worker's system: the shell's `crashtest` command. */
export function initCrash(sys: WebSystem): void {
  sys.addCommand({
    name: "crashtest", usage: "crashtest [ace1|ace2|ace3|random] [--sample N] [--seed N] [-c 'OPS'] ...", run: crashCommand,
    does: "record a workload, recover every crash state a power cut could leave, check what fsync promised (crashtest --help)",
  });
  addScenario({
    name: "crash", title: "Crash states of an ACE workload",
    narration: `Records ace1's one-operation workloads on a memory disk, then mounts ${CRASH_SCENARIO_SAMPLE} of the states a power cut could leave (flush boundaries, reorderings, torn writes): each replays its journal, passes fsck and keeps what fsync promised. The terminal shows the progress and the summary; a violation prints the CLI's reproduction line.`,
    run: () => crashCommand(["ace1", "--sample", String(CRASH_SCENARIO_SAMPLE)], sys),
  });
}

/** Crash states the scenario button checks (a sample of ace1: seconds, not minutes, in a page). */
const CRASH_SCENARIO_SAMPLE = 300;
