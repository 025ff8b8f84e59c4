// test/web-crash-units.test.ts -- the browser demo's power, crashtest and bench logic under
// Node (no browser): the kernel's journal replay lines for each recovery decision (found,
// replayed, discarded and why) against states built from the write log; the replay-step and
// survivors classification; the page's crashtest arguments and typed workloads (checked by
// running them through the crash checker); the bench arguments and table.

import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { bootWith } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { RecordingBackend, type WriteLog } from "../host/crash/recorder.js";
import { parseTyped, CrashtestInputError, stepsText, campaignWorkloads } from "../host/crash/report.js";
import { checkWorkload, makeBaseImage } from "../host/crash/crashcheck.js";
import { parseCrashArgs, initCrash } from "../host/web/crash.js";
import { runScenario, SCENARIOS } from "../host/web/scenarios.js";
import type { WebSystem } from "../host/web/system.js";
import { parseBenchArgs, benchTable } from "../host/web/bench.js";
import { compareFiles, replayStep, cutLine } from "../host/web/power.js";
import { freshDevice, MiB } from "./helpers.js";

/** A recorded session: mkfs'd base, then a file written and fsynced (one commit). */
function recorded() {
  const base = new Uint8Array(freshDevice(8 * MiB).bytes);
  const rec = new RecordingBackend(new MemoryBackend(new Uint8Array(base)));
  const k = bootWith({ device: rec, module: kernelModule(true), memoryMiB: 32 });
  const fd = k.fs.openSync("/f", "w");
  k.fs.writeSync(fd, new Uint8Array(5000).fill(0x41), 0, 5000, 0);
  k.fs.fsyncSync(fd);
  k.fs.closeSync(fd);
  const log = rec.log;
  const n = log.length; // the session ends here (no unmount is recorded)
  return { base, log, n };
}

/** Indexes of the FLUSH entries of `log` before `end`. */
function flushes(log: WriteLog, end: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < end; i++) if (log.entry(i).kind === "flush") out.push(i);
  return out;
}

/** Mounts the image `log` leaves on `base` after `entries` entries (optionally edited); returns the journal lines. */
function mountAfter(base: Uint8Array, log: WriteLog, entries: number, edit?: (img: Uint8Array) => void): { lines: string[]; problems: number } {
  const img = new MemoryBackend(new Uint8Array(base));
  log.replay(img, { entry: entries });
  edit?.(img.bytes);
  const lines: string[] = [];
  const k = bootWith({ device: img, module: kernelModule(true), memoryMiB: 32, log: (l) => lines.push(l) });
  const problems = k.fsck(true);
  k.shutdown();
  return { lines: lines.filter((l) => l.includes("journal:")), problems };
}

describe("journal replay lines", () => {
  it("a committed transaction: found, replayed with its block counts, end of log", () => {
    const { base, log, n } = recorded();
    const { lines, problems } = mountAfter(base, log, n);
    expect(problems).toBe(0);
    expect(lines[0]).toMatch(/^helixfs \(vda\): journal: found \d+ committed transactions? \(\d+(\.\.\d+)?\) in log blocks 1\.\.\d+$/);
    expect(lines).toContainEqual(expect.stringMatching(/journal: end of log at block \d+ \(no record of transaction \d+\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/journal: replayed transaction \d+: \d+ of \d+ logged blocks written home$/));
  });

  it("the power cut came between the log blocks and the commit block: the transaction is discarded, no commit block", () => {
    const { base, log, n } = recorded();
    const f = flushes(log, n);
    // the commit's two barriers are the last two flushes: stop right after the first of them
    const { lines, problems } = mountAfter(base, log, f[f.length - 2] + 1);
    expect(problems).toBe(0);
    expect(lines).toContainEqual(expect.stringMatching(/journal: transaction \d+ discarded: no commit block \(the power cut came before its commit\)$/));
    // the transactions before it are replayed, the discarded one is not
    const discarded = Number(/transaction (\d+) discarded/.exec(lines.join("\n"))![1]);
    const replayed = lines.map((l) => /replayed transaction (\d+)/.exec(l)).filter((m) => m !== null).map((m) => Number(m![1]));
    expect(replayed.every((t) => t < discarded)).toBe(true);
  });

  it("a torn commit block: the transaction is discarded because its log block fails its checksum", () => {
    const { base, log, n } = recorded();
    const f = flushes(log, n);
    // the commit block is the write between the last two flushes; tear its second sector
    let commit = -1;
    for (let i = f[f.length - 2] + 1; i < f[f.length - 1]; i++) if (log.entry(i).kind === "write") commit = i;
    expect(commit).toBeGreaterThan(0);
    const off = log.entry(commit).offset;
    const { lines } = mountAfter(base, log, n, (img) => img.fill(0xff, off + 512, off + 1024)); // a commit block is mostly zeroes: tear with other bytes
    expect(lines).toContainEqual(expect.stringMatching(/journal: transaction \d+ discarded: log block \d+ fails its checksum \(torn or never written\)$/));
  });

  it("a clean mount logs no journal lines", () => {
    const dev = freshDevice(8 * MiB);
    const lines: string[] = [];
    const k = bootWith({ device: dev, module: kernelModule(true), memoryMiB: 32, log: (l) => lines.push(l) });
    k.shutdown();
    expect(lines.filter((l) => l.includes("journal:"))).toEqual([]);
  });
});

describe("replay steps and survivors", () => {
  it("classifies the kernel's recovery lines", () => {
    expect(replayStep("helixfs (vda): journal: found 2 committed transactions (5..6) in log blocks 1..11").kind).toBe("found");
    expect(replayStep("helixfs (vda): journal: replayed transaction 5: 1 of 1 logged blocks written home").kind).toBe("replayed");
    expect(replayStep("helixfs (vda): journal: transaction 7 discarded: no commit block (the power cut came before its commit)").kind).toBe("discarded");
    expect(replayStep("helixfs (vda): journal: end of log at block 12 (no record of transaction 7)").kind).toBe("end");
    expect(replayStep("helixfs (vda): MMP: not unmounted by pid 1 on host browser (its lock is gone): taking over").kind).toBe("mount");
  });

  it("says why each file survived or not", () => {
    const sig = (size: number, crc: number) => ({ size, crc });
    const before = new Map([["/kept", sig(5, 1)], ["/lost", sig(3, 2)], ["/older", sig(9, 3)], ["/luck", sig(4, 4)], ["/broken", sig(2, 5)]]);
    const after = new Map([["/kept", sig(5, 1)], ["/older", sig(7, 9)], ["/luck", sig(4, 4)], ["/back", sig(1, 6)]]);
    const durable = new Map([
      ["/kept", { ...sig(5, 1), how: "sync FILE" as const, at: 1000 }],
      ["/older", { ...sig(7, 9), how: "sync" as const, at: 2000 }],
      ["/broken", { ...sig(2, 5), how: "sync FILE" as const, at: 3000 }],
    ]);
    const rows = new Map(compareFiles(before, after, durable, 0).map((r) => [r.path, r]));
    expect(rows.get("/kept")).toMatchObject({ status: "survived", durable: true });
    expect(rows.get("/kept")!.reason).toMatch(/^fsync'ed by `sync FILE` at 1\.0 s/);
    expect(rows.get("/lost")).toMatchObject({ status: "lost", durable: false });
    expect(rows.get("/lost")!.reason).toMatch(/never fsync'ed/);
    expect(rows.get("/older")).toMatchObject({ status: "older", durable: true });
    expect(rows.get("/luck")!.reason).toMatch(/not fsync'ed, but a journal commit/);
    expect(rows.get("/broken")!.reason).toMatch(/LOST although fsync'ed .* violation/);
    expect(rows.get("/back")).toMatchObject({ status: "appeared" });
  });

  it("words a cut", () => {
    const c = { mode: "random" as const, seed: 7, pendingWrites: 2, pendingUnits: 5, survived: 2, torn: 1, dropped: 2, sectorsWritten: 20, discards: 0 };
    expect(cutLine(c)).toBe("2 writes (5 blocks) after the last FLUSH, random cut (seed 7): 2 reached the disk whole, 1 torn, 2 lost");
    expect(cutLine({ ...c, pendingUnits: 0, pendingWrites: 0 })).toMatch(/cache was empty/);
  });
});

describe("the page's crashtest arguments", () => {
  it("takes the CLI's options and a workload name", () => {
    expect(parseCrashArgs(["ace2", "--seed", "5", "--sample", "3", "--states", "50"])).toMatchObject({ workload: "ace2", seed: 5, sample: 3, states: 50, jobs: 1 });
    expect(parseCrashArgs(["--workload", "random", "--break", "1", "--discard"])).toMatchObject({ workload: "random", breakOrdering: 1, discard: true });
    expect(parseCrashArgs([])).toMatchObject({ workload: "ace1", seed: 1, states: 1000 });
  });

  it("refuses bad ones with one line", () => {
    expect(() => parseCrashArgs(["ace9"])).toThrow(/^unknown argument 'ace9'; usage: crashtest/);
    expect(() => parseCrashArgs(["--seed"])).toThrow(/^--seed needs a value$/);
    expect(() => parseCrashArgs(["--states", "0"])).toThrow(/^--states must be an integer in 1\.\.1000000$/);
    expect(() => parseCrashArgs(["--workload", "x"])).toThrow(/^--workload must be one of/);
    expect(() => parseCrashArgs(["-c", "touch /A/x"])).toThrow(CrashtestInputError);
  });

  it("a typed workload becomes steps the crash checker runs without violations", () => {
    const steps = parseTyped("touch /A/x; sync /A/x\nmv /A/x /B/y; fsync-parent /B/y; write /B/y 0 5000; sync -d /B/y; ln -s foo /A/s; sync; truncate /A/foo 10; sync /A/foo");
    expect(stepsText(steps)).toBe("creat /A/x; fsync /A/x; rename /A/x /B/y; fsync-parent /B; write /B/y [0, +5000) of 0x41; fdatasync /B/y; " +
      "symlink foo /A/s; sync; truncate /A/foo 10; fsync /A/foo");
    const o = parseCrashArgs(["-c", "touch /A/x; sync /A/x; write /A/x 4096 100; sync"]);
    const [w] = campaignWorkloads(o);
    const module = kernelModule(false);
    const r = checkWorkload(w, makeBaseImage(module), { module, seed: 1, maxStates: 200 });
    expect(r.states).toBeGreaterThan(10);
    expect(r.violations).toEqual([]);
  });

  it("refuses a typed workload it cannot run, naming the command", () => {
    expect(() => parseTyped("touch /A/x")).toThrow(/^the last operation needs a persistence point/);
    expect(() => parseTyped("sync")).toThrow(/^'sync': a persistence point needs an operation before it$/);
    expect(() => parseTyped("touch /A/x; touch /A/y")).toThrow(/^'touch \/A\/y': the operation before it needs a persistence point/);
    expect(() => parseTyped("frob /A/x; sync")).toThrow(/^'frob \/A\/x': unknown operation/);
    expect(() => parseTyped("touch A/x; sync")).toThrow(/paths must be absolute/);
    expect(() => parseTyped("write /A/x 0 0; sync")).toThrow(/a write is 1 to/);
    expect(() => parseTyped("write /A/x -1 5; sync")).toThrow(/the offset must be a non-negative integer/);
    expect(() => parseTyped("mv /A/x; sync")).toThrow(/wrong number of operands/);
    expect(() => parseTyped("")).toThrow(/1 to 1000 steps/);
  });
});

describe("the page's bench", () => {
  it("takes --files in bounds and refuses the rest", () => {
    expect(parseBenchArgs([])).toEqual({ files: 20000 });
    expect(parseBenchArgs(["--files", "1000"])).toEqual({ files: 1000 });
    expect(() => parseBenchArgs(["--files", "5"])).toThrow(/^--files must be an integer in 100\.\.200000$/);
    expect(() => parseBenchArgs(["--bogus"])).toThrow(/^unknown argument '--bogus'/);
  });

  it("prints ratios and marks a column that misses the 10x target", () => {
    const h = { create: 1000, stat: 1000, readdir: 1000, read: 1000, unlink: 1000 };
    const z = { create: 10, stat: 200, readdir: 100, read: 1, unlink: 50 };
    const t = benchTable(1000, h, z);
    expect(t.lines[2]).toMatch(/^create +1,000 +10 +100\.0x +met$/);
    expect(t.lines[3]).toMatch(/^stat +1,000 +200 +5\.0x +MISSED$/);
    expect(t.rows.map((r) => r.ratio)).toEqual([100, 5, 10, 1000, 20]);
  });
});

describe("the crash-states scenario", () => {
  it("is offered with the other scenarios and runs a sample of ace1 through the page's crashtest, with no violations", async () => {
    const out: string[] = [];
    const posted: Record<string, unknown>[] = [];
    const commands: string[] = [];
    const sys = {
      module: kernelModule(), print: (t: string) => { out.push(t); }, post: (m: Record<string, unknown>) => { posted.push(m); },
      addCommand: (c: { name: string }) => { commands.push(c.name); },
    } as unknown as WebSystem;
    initCrash(sys);
    expect(commands).toEqual(["crashtest"]);
    expect(SCENARIOS.map((s) => s.name)).toContain("crash");
    const k = bootWith({ device: freshDevice(8 * MiB), module: kernelModule(), mkfs: true });
    try {
      const said: string[] = [];
      const r = await runScenario("crash", { kernel: () => k, say: (l) => said.push(l), select: () => {}, tick: () => {} });
      expect(r).toMatchObject({ ok: true });
      expect(said[0]).toBe("== Crash states of an ACE workload");
      const text = out.join("");
      expect(text).toMatch(/^violations +0$/m);
      expect(posted.find((m) => m.type === "crash.done")).toMatchObject({ violations: 0 });
    } finally {
      k.shutdown();
    }
  }, 120_000);
});
