// test/crash.test.ts -- the bounded crash campaign of `npm test` (issue 3 §7): every
// 1-operation ACE workload with all its crash states, a seeded sample of 2-operation ones,
// random long workloads, and proof that the checker has teeth (broken write ordering must be
// reported). The full campaign is `npm run crashtest`.

import { describe, it, expect } from "vitest";
import { kernelModule } from "../host/node/node.js";
import { makeBaseImage, checkWorkload, StateChecker, type CrashViolation } from "../host/crash/crashcheck.js";
import { aceWorkloads, randomWorkload, snapshotWorkloads, SETUP_SNAPSHOT, ACE_SNAPSHOT, type Workload, type Expectations } from "../host/crash/workload.js";

const module = kernelModule(true); // assertions on: an assertion failure is a trap to find
const base = makeBaseImage(module);
/** The setup without snapshot "base": its blocks are freed by the workloads (discard teeth). */
const baseNoSnapshot = makeBaseImage(module, undefined, { snapshot: false });

function campaign(ws: Workload[], opts: { maxStates?: number; breakOrdering?: number; discard?: boolean; base?: Uint8Array; tamper?: (exp: Expectations, ref: { free: number | null }) => void } = {}): { states: number; violations: CrashViolation[] } {
  const checker = new StateChecker(module);
  let states = 0;
  const violations: CrashViolation[] = [];
  try {
    for (const w of ws) {
      const r = checkWorkload(w, opts.base ?? base, { module, seed: 1, checker, maxStates: opts.maxStates, breakOrdering: opts.breakOrdering, discard: opts.discard, tamper: opts.tamper });
      states += r.states;
      violations.push(...r.violations);
    }
  } finally {
    checker.close();
  }
  return { states, violations };
}

describe("crash consistency", () => {
  it("every 1-operation ACE workload survives every crash state", () => {
    const ws = aceWorkloads(1);
    expect(ws.length).toBeGreaterThan(100);
    const r = campaign(ws);
    expect(r.states).toBeGreaterThan(5000);
    expect(r.violations.slice(0, 5)).toEqual([]);
  });

  it("a seeded sample of 2-operation ACE workloads survives its crash states", () => {
    const all = aceWorkloads(2);
    let x = 7;
    const sample = Array.from({ length: 60 }, () => { x = (x * 1103515245 + 12345) >>> 0; return all[(x >>> 8) % all.length]; });
    const r = campaign(sample, { maxStates: 150 });
    expect(r.violations.slice(0, 5)).toEqual([]);
  });

  it("with online discard, every 1-operation ACE workload survives every crash state, and discarding before the commit is caught", () => {
    const ok = campaign(aceWorkloads(1), { discard: true });
    expect(ok.states).toBeGreaterThan(5000);
    expect(ok.violations.slice(0, 5)).toEqual([]);
    // 4: the DISCARDs of a commit go out before it is durable: committed files read zeroes
    // (on a base without the setup snapshot: with it, the setup's blocks are never freed)
    const early = campaign(aceWorkloads(1), { discard: true, breakOrdering: 4, base: baseNoSnapshot });
    expect(early.violations.map((v) => v.kind)).toContain("garbage-bytes");
  });

  it("random long workloads survive their crash states", () => {
    const r = campaign([1, 2, 3, 4].map((seed) => randomWorkload(seed, 12)), { maxStates: 400 });
    expect(r.violations.slice(0, 5)).toEqual([]);
  });

  it("has teeth: a kernel that breaks its write ordering is caught", () => {
    const ws = aceWorkloads(1).filter((_, i) => i % 4 === 0); // fsync persistence points
    // 1: fsync returns before the commit block is durable
    const noCommitFlush = campaign(ws, { breakOrdering: 1 });
    expect(noCommitFlush.violations.length).toBeGreaterThan(0);
    expect(new Set(noCommitFlush.violations.map((v) => v.kind))).toContain("persisted-missing");
    // 2: no flush between the ordered data and the commit block: garbage under new extents
    const noDataFlush = campaign(aceWorkloads(1), { breakOrdering: 2 });
    expect(noDataFlush.violations.map((v) => v.kind)).toContain("garbage-bytes");
  });
});

describe("snapshots under crashes (issue 14)", () => {
  const byId = (id: string) => snapshotWorkloads().find((w) => w.id === id)!;
  const aceSnap = (op: string, name: string) => aceWorkloads(1).find((w) => w.steps[0].op.op === op && (w.steps[0].op as { name: string }).name === name)!;

  it("ACE-1 has the snapshot operations, each its own persistence point", () => {
    const snaps = aceWorkloads(1).filter((w) => w.steps[0].op.op.startsWith("snap-"));
    expect(snaps.map((w) => `${w.steps[0].op.op} ${(w.steps[0].op as { name: string }).name}`).sort()).toEqual(
      [`snap-create ${ACE_SNAPSHOT}`, `snap-delete ${ACE_SNAPSHOT}`, `snap-delete ${SETUP_SNAPSHOT}`, `snap-rollback ${ACE_SNAPSHOT}`, `snap-rollback ${SETUP_SNAPSHOT}`].sort());
    for (const w of snaps) expect(w.steps[0].persist.kind).toBe("self");
  });

  it("a crash between the batches of a background delete, and around rollbacks: every state keeps its promises", () => {
    const r = campaign(snapshotWorkloads(), { maxStates: 150 });
    expect(r.states).toBeGreaterThan(500);
    expect(r.violations.slice(0, 5)).toEqual([]);
  });

  it("two-operation workloads with snapshot steps survive their crash states", () => {
    const all = aceWorkloads(2).filter((w) => w.steps.some((s) => s.op.op.startsWith("snap-")));
    let x = 11;
    const sample = Array.from({ length: 24 }, () => { x = (x * 1103515245 + 12345) >>> 0; return all[(x >>> 8) % all.length]; });
    const r = campaign(sample, { maxStates: 120 });
    expect(r.violations.slice(0, 5)).toEqual([]);
  });

  it("has teeth: a snapshot that lost a write, one that should be gone, a leak, a half rollback are reported", () => {
    // the setup's snapshot believed to hold other bytes in /A/foo: every state's view differs
    const wrong = campaign([aceSnap("snap-create", ACE_SNAPSHOT)], {
      maxStates: 20,
      tamper: (exp) => {
        const tree = exp.snapStart.get(SETUP_SNAPSHOT)!.map((o) => (o.path === "/A/foo" ? { ...o, data: o.data!.map(() => 0x41) } : o));
        exp.snapStart.set(SETUP_SNAPSHOT, tree);
      },
    });
    expect(wrong.violations.map((v) => v.kind)).toContain("snapshot-wrong");
    // a delete believed done from the start: the snapshot is listed where it must be gone
    const gone = campaign([aceSnap("snap-create", ACE_SNAPSHOT)], { maxStates: 20, tamper: (exp) => { exp.snapStart.clear(); } });
    expect(gone.violations.map((v) => v.kind)).toContain("snapshot-unexpected");
    // a free count one block off the final image's (what a leaked block looks like)
    const leak = campaign([byId("snapdel-4")], { maxStates: 40, tamper: (_exp, ref) => { ref.free = ref.free! - 1; } });
    expect(leak.violations.map((v) => v.kind)).toContain("snapshot-space");
    // a rollback whose snapshot tree is believed to be other than it is: states where the
    // rollback happened match neither the old tree nor the snapshot's
    const rollback: Workload = { id: "half-rollback", steps: [
      { op: { op: "write", path: "/A/foo", offset: 0, len: 4096, byte: 0x41 }, persist: { kind: "sync", path: "/" } },
      { op: { op: "snap-rollback", name: SETUP_SNAPSHOT }, persist: { kind: "self", path: "/" } },
    ] };
    const half = campaign([rollback], {
      tamper: (exp) => { const e = exp.snapEffects[1]!; e.tree = e.tree!.filter((o) => o.path !== "/B/foo"); },
    });
    expect(half.violations.map((v) => v.kind)).toContain("rollback-atomicity");
  });
});

describe("helix crashtest", () => {
  it("runs a campaign, and prints reproduction lines when the kernel breaks ordering", async () => {
    const { runHelix } = await import("./cli-run.js");
    const ok = await runHelix(process.cwd(), ["crashtest", "--workload", "ace1", "--sample", "6", "--jobs", "2"], 120_000);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/violations\s+0/);
    const bad = await runHelix(process.cwd(), ["crashtest", "--workload", "ace1", "--sample", "12", "--jobs", "1", "--break", "1"], 120_000);
    expect(bad.code).toBe(1);
    const repro = /reproduce: helix crashtest (.*)/.exec(bad.stdout);
    expect(repro).not.toBeNull();
    // the reproduction line replays exactly the failing state
    const again = await runHelix(process.cwd(), ["crashtest", ...repro![1].split(" ")], 120_000);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/crash states\s+1\n/);
    const usage = await runHelix(process.cwd(), ["crashtest", "--workload", "nope"], 30_000);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split("\n")).toHaveLength(1);
  });
});
