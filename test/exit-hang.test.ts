// test/exit-hang.test.ts -- a program that imports the package runs under plain `node` (no V8
// flag) and always exits: Node 20 can deadlock at exit when a background TurboFan job waits
// for a main-thread GC (docs/decisions.md, "Node 20 exit hang"; host/node/heap-settle.ts).
//
// RUNS children of test/fixtures/exit-hang-child.mjs, CONCURRENCY at a time, each booting a
// kernel, doing a few thousand operations, shutting down and exiting, half by running out of
// work and half through process.exit(). Every child must exit 0 (its work read back what it
// wrote) within RUN_TIMEOUT_MS; a child still alive then is killed and counted as a hang.
// Without the fix (EXIT_HANG_NO_SETTLE=1 in the environment of `npx vitest run
// test/exit-hang.test.ts`) about 4 runs in 100 hang here, so this test fails most of the time
// (see CONCURRENCY).
// The settle itself (host/node/heap-settle.ts) is shown to run a major GC before the event loop can
// end, without leaving a `gc` global behind.
// Rules: needs the build (dist/, build/); the children's node gets no flags at all.

import { spawn } from "node:child_process";
import * as path from "node:path";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { scheduleHeapSettle } from "../host/node/heap-settle.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "exit-hang-child.mjs");
/** Children booted and exited. */
const RUNS = 50;
/**
 * Children alive at once: three times the 2 cores. Contention for the compiler thread makes a
 * job in flight at exit likelier; without the fix about 1 run in 100 hung here with 2 at
 * once, 2 with 4 and 4-5 with 6 (this test failed 4 times in 4, 9 hangs in 200 runs).
 */
const CONCURRENCY = 6;
/** A child takes well under a second; one alive after this has hung. */
const RUN_TIMEOUT_MS = 15_000;

interface Life { index: number; code: number | null; signal: string | null; hung: boolean; stderr: string }

/** Runs one child under plain `node`; resolves when it exits or, hung, once it has been killed. */
function live(index: number): Promise<Life> {
  const ending = index % 2 === 0 ? "natural" : "exit";
  return new Promise((resolve, reject) => {
    // stdout ignored: the child writes nothing there (see the fixture)
    const child = spawn(process.execPath, [CHILD, ending], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } });
    let stderr = "", hung = false;
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => { hung = true; child.kill("SIGKILL"); }, RUN_TIMEOUT_MS);
    child.on("error", (e) => { clearTimeout(timer); reject(e); });
    child.on("close", (code, signal) => { clearTimeout(timer); resolve({ index, code, signal, hung, stderr }); });
  });
}

/** Runs children 0..runs-1, `concurrency` at a time. */
async function liveAll(runs: number, concurrency: number): Promise<Life[]> {
  const lives: Life[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < runs) lives.push(await live(next++));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return lives.sort((a, b) => a.index - b.index);
}

describe("exit under plain node (Node 20 exit hang)", () => {
  it(`${RUNS} programs that boot, work, shut down and exit all exit 0 within ${RUN_TIMEOUT_MS / 1000} s`, async () => {
    expect(process.execArgv.join(" ")).not.toContain("expose-gc"); // the package must find its GC alone
    const lives = await liveAll(RUNS, CONCURRENCY);
    const bad = lives.filter((l) => l.hung || l.code !== 0);
    const hangs = lives.filter((l) => l.hung).length;
    const report = bad.map((l) => `run ${l.index}: ${l.hung ? "hung (killed)" : `exit ${l.code ?? l.signal}`} ${l.stderr.split("\n")[0]}`);
    expect({ hangs, failures: report }).toEqual({ hangs: 0, failures: [] });
  }, RUNS * RUN_TIMEOUT_MS);
});

describe("heap settle", () => {
  it("a burst of scheduled settles runs a major GC on the next loop turn and leaves no gc global", async () => {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    const majors: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(e.startTime);
    });
    obs.observe({ entryTypes: ["gc"] });
    try {
      const before = performance.now();
      for (let i = 0; i < 5; i++) scheduleHeapSettle();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 50)); // gc entries reach the observer asynchronously
      expect(majors.filter((t) => t >= before).length).toBeGreaterThanOrEqual(1);
    } finally {
      obs.disconnect();
    }
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
