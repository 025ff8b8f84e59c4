// test/snapshot-oracle.test.ts -- the crash oracle's snapshot rules (host/crash/workload.ts
// snapshotOracle, rollbacksInFlight, treeSettled) on hand-made expectations, and the snapshot
// steps of typed and JSON workloads (host/crash/report.ts). No kernel: pure functions.

import { describe, it, expect } from "vitest";
import {
  snapshotOracle, rollbacksInFlight, treeSettled, diffCaptured, SETUP_SNAPSHOT,
  type Expectations, type ObjectState, type Step, type SnapEffect,
} from "../host/crash/workload.js";
import { parseTyped, parseSteps, stepsText, CrashtestInputError } from "../host/crash/report.js";

const SELF = { kind: "self" as const, path: "/" };
const SYNC = { kind: "sync" as const, path: "/" };
const tree = (bytes: number): ObjectState[] => [
  { path: "/", type: "dir", entries: ["f"] },
  { path: "/f", type: "file", size: 1, data: new Uint8Array([bytes]), mode: 0o100644, nlink: 1 },
];

/** Expectations of `steps` whose outcomes are all ok, with snapshot effects as given. */
function exp(steps: Step[], effects: (SnapEffect | undefined)[], outcomes?: string[]): Expectations {
  return {
    workload: { id: "t", steps }, touched: steps.map(() => []), touchedInos: steps.map(() => new Set()),
    promises: steps.map((_, i) => ({ index: i, objects: [] })), bytes: new Set([0]),
    outcomes: outcomes ?? steps.map(() => "ok"), persisted: steps.map(() => true),
    snapStart: new Map([[SETUP_SNAPSHOT, tree(1)]]), snapEffects: effects,
  };
}

describe("the snapshot oracle", () => {
  const create: Step = { op: { op: "snap-create", name: "s1" }, persist: SELF };
  const del: Step = { op: { op: "snap-delete", name: SETUP_SNAPSHOT }, persist: SELF };
  const write: Step = { op: { op: "write", path: "/f", offset: 0, len: 1, byte: 2 }, persist: SYNC };
  const rollback: Step = { op: { op: "snap-rollback", name: SETUP_SNAPSHOT }, persist: SELF };

  it("create: either way in flight, present with its tree once returned", () => {
    const e = exp([write, create], [undefined, { kind: "create", name: "s1", tree: tree(2) }]);
    expect(snapshotOracle(e, 0, 0).has("s1")).toBe(false); // not begun: must not be listed
    expect(snapshotOracle(e, 0, 1).get("s1")).toEqual({ present: "either", tree: tree(2) });
    expect(snapshotOracle(e, 1, 1).get("s1")).toEqual({ present: "yes", tree: tree(2) });
    expect(snapshotOracle(e, 1, 1).get(SETUP_SNAPSHOT)).toEqual({ present: "yes", tree: tree(1) });
  });

  it("delete: either way in flight (still with its tree), absent once returned; a failed one changes nothing", () => {
    const e = exp([del], [{ kind: "delete", name: SETUP_SNAPSHOT }]);
    expect(snapshotOracle(e, -1, 0).get(SETUP_SNAPSHOT)).toEqual({ present: "either", tree: tree(1) });
    expect(snapshotOracle(e, 0, 0).get(SETUP_SNAPSHOT)).toEqual({ present: "no" });
    const failed = exp([del], [undefined], ["ENOENT"]);
    expect(snapshotOracle(failed, 0, 0).get(SETUP_SNAPSHOT)).toEqual({ present: "yes", tree: tree(1) });
  });

  it("rollback: in flight only between its start and its return; it lists nothing new", () => {
    const e = exp([write, rollback], [undefined, { kind: "rollback", name: SETUP_SNAPSHOT, tree: tree(1) }]);
    expect(rollbacksInFlight(e, 0, 1).map((x) => x.name)).toEqual([SETUP_SNAPSHOT]);
    expect(rollbacksInFlight(e, 1, 1)).toEqual([]);
    expect(rollbacksInFlight(e, 0, 0)).toEqual([]);
    expect([...snapshotOracle(e, 0, 1).keys()]).toEqual([SETUP_SNAPSHOT]);
  });

  it("settled: the final tree is durable (a sync, create or rollback after the last change)", () => {
    const fsync: Step = { op: { op: "write", path: "/f", offset: 0, len: 1, byte: 2 }, persist: { kind: "fsync", path: "/f" } };
    expect(treeSettled(exp([write], [undefined]), 0)).toBe(true);
    expect(treeSettled(exp([write], [undefined]), -1)).toBe(false);
    expect(treeSettled(exp([fsync], [undefined]), 0)).toBe(false); // other files' data may be lost
    expect(treeSettled(exp([fsync, create], [undefined, { kind: "create", name: "s1", tree: tree(2) }]), 1)).toBe(true);
    expect(treeSettled(exp([fsync, create], [undefined, { kind: "create", name: "s1", tree: tree(2) }]), 0)).toBe(false);
    expect(treeSettled(exp([del], [{ kind: "delete", name: SETUP_SNAPSHOT }]), -1)).toBe(true); // a delete changes no file
    expect(treeSettled(exp([write, rollback], [undefined, { kind: "rollback", name: SETUP_SNAPSHOT, tree: tree(1) }]), 0)).toBe(false);
    expect(treeSettled(exp([write, rollback], [undefined, { kind: "rollback", name: SETUP_SNAPSHOT, tree: tree(1) }]), 1)).toBe(true);
  });

  it("diffCaptured names the first difference", () => {
    expect(diffCaptured(tree(1), tree(1))).toBeNull();
    expect(diffCaptured(tree(1), tree(2))).toMatch(/^\/f: contents differ/);
    expect(diffCaptured(tree(1), tree(1).slice(0, 1))).toMatch(/^\/f: missing/);
    expect(diffCaptured(tree(1).slice(0, 1), tree(1))).toMatch(/^\/f: present/);
  });
});

describe("snapshot steps of typed and JSON workloads", () => {
  it("typed: `snapshot create|delete|rollback NAME` is its own persistence point", () => {
    const steps = parseTyped("write /A/foo 0 10; sync; snapshot create s1; snapshot rollback base; snapshot delete s1");
    expect(steps.map((s) => [s.op.op, s.persist.kind])).toEqual([["write", "sync"], ["snap-create", "self"], ["snap-rollback", "self"], ["snap-delete", "self"]]);
    expect(stepsText(steps)).toBe("write /A/foo [0, +10) of 0x41; sync; snapshot create s1; snapshot rollback base; snapshot delete s1");
    expect(() => parseTyped("snapshot frob x")).toThrow(CrashtestInputError);
    expect(() => parseTyped("snapshot create")).toThrow(/usage: snapshot create\|delete\|rollback NAME/);
    expect(() => parseTyped("touch /A/x; snapshot create s")).toThrow(/needs a persistence point/);
  });

  it("JSON: snapshot operations and the 'self' persistence point round-trip; bad fields are refused", () => {
    const steps = parseTyped("snapshot create s1");
    expect(parseSteps(JSON.stringify(steps))).toEqual(steps);
    const work = [{ op: { op: "snap-work", budget: 2 }, persist: SYNC }];
    expect(parseSteps(JSON.stringify(work))).toEqual(work);
    expect(() => parseSteps(JSON.stringify([{ op: { op: "snap-create" }, persist: SELF }]))).toThrow(/snap-create needs name/);
    expect(() => parseSteps(JSON.stringify([{ op: { op: "fill", dir: "/A/m", files: 2, len: 10 }, persist: SYNC }]))).toThrow(/fill needs byte/);
  });
});
