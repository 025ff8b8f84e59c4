// test/snapshot-kernel-bugs.test.ts -- kernel bugs the snapshot tests found (issue 14), each as
// the smallest reproduction; they fail until the kernel is fixed, then stay as regressions.
//
// Layer: integration tests over the debug kernel on memory devices, raw snapshot syscalls.
// Found by: test/crash.test.ts "snapshots under crashes" (workload snaproll-unsynced, states
// b19 / e18t2; ACE-2 workloads ending in `snapshot rollback base`) and
// test/snapshot-differential.test.ts (seed 3, step 36: a write in a mounted clone, then fsck
// on the clone and on the live filesystem), then
// reduced to these.

import { describe, it, expect } from "vitest";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { freshDevice, bytesOf, MiB } from "./helpers.js";
import { bootWith } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { SnapCalls, KeepOpen, bootKept } from "./snap-helpers.js";

/** A filesystem with snapshot "big" of 48 files, the files unlinked, then rolled back to "big". */
function rolledBack(dev: MemoryBackend) {
  const k = bootKept(dev);
  k.fs.mkdirSync("/many");
  for (let i = 0; i < 48; i++) k.fs.writeFileSync(`/many/f${i}`, bytesOf(i + 1, 6000));
  k.fs.syncSync();
  const s = new SnapCalls(k);
  expect(s.create("big")).toBeGreaterThan(0);
  for (let i = 0; i < 48; i++) k.fs.unlinkSync(`/many/f${i}`);
  k.fs.syncSync();
  expect(s.rollback("big")).toBe(0);
  return { k, s };
}

describe("kernel bugs the snapshot tests found", () => {
  it("after a rollback, sys_snapshot_list shows only snapshots: no unnamed record of the replaced tree (flag 4 reads as MOUNTED)", () => {
    const dev = freshDevice(32 * MiB);
    const { k, s } = rolledBack(dev);
    try {
      // straight after the rollback, before any background work
      expect(s.list().map((x) => [x.name, x.flags])).toEqual([["big", 0]]);
    } finally {
      k.shutdown();
    }
  });

  it("a crash after a rollback returned, before its background free: the list shows the snapshots and fsck is clean at mount", () => {
    const dev = freshDevice(32 * MiB);
    const { k } = rolledBack(dev);
    // the power cut: what is on the device now (the rollback returned durable)
    const cut = new MemoryBackend(new Uint8Array(dev.bytes));
    k.shutdown();
    const k2 = bootKept(cut);
    try {
      const before = k2.logLines.length;
      const n = k2.fsck(true);
      // (fsck may log what it saw, e.g. 'fsck: 104 blocks held by snapshot deletes in progress')
      expect(n, `fsck while the rollback's free is pending: ${k2.logLines.slice(before).filter((l) => l.startsWith("fsck")).slice(0, 3).join("; ")}`).toBe(0);
      expect(new SnapCalls(k2).list().map((x) => [x.name, x.flags])).toEqual([["big", 0]]);
    } finally {
      k2.shutdown();
    }
  });

  it("a write to a file with extents in a mounted writable clone works (not EUCLEAN 'corrupt inode: record length does not match its fields')", () => {
    const dev = freshDevice(32 * MiB);
    const k = bootKept(dev);
    k.fs.writeFileSync("/c", bytesOf(1, 20000)); // extents (a 100-byte inline file is fine)
    expect(new SnapCalls(k).create("c2", 1)).toBeGreaterThan(0);
    k.shutdown();
    const log: string[] = [];
    const ck = bootWith({ device: new KeepOpen(dev), module: kernelModule(true), memoryMiB: 64, noMount: true, log: (l) => log.push(l) });
    try {
      expect(new SnapCalls(ck).mountSnapshot("c2")).toBe(0);
      ck.mount();
      const fd = ck.fs.openSync("/c", "r+");
      try {
        expect(() => ck.fs.writeSync(fd, bytesOf(9, 10), 0, 10, 0), log.filter((l) => l.includes("helixfs")).join("; ")).not.toThrow();
      } finally {
        ck.fs.closeSync(fd);
      }
      const want = bytesOf(1, 20000);
      want.set(bytesOf(9, 10), 0);
      expect(Buffer.compare(ck.fs.readFileSync("/c"), want)).toBe(0);
      expect(ck.fsck(true)).toBe(0);
    } finally {
      ck.shutdown();
    }
  });

  /** fsck of `k` as one line per problem (empty when clean). */
  function fsckLines(k: ReturnType<typeof bootKept>): string[] {
    const before = k.logLines.length;
    const n = k.fsck(true);
    const lines = k.logLines.slice(before).filter((l) => l.startsWith("fsck"));
    return n === 0 ? [] : lines.length > 0 ? lines : [`${n} problem(s)`];
  }

  /** A clone "c2" of /c (20000 bytes) and /b; `liveWrite`: the live fs rewrites /b after the clone is made. */
  function cloneThenMount(dev: MemoryBackend, liveWrite: boolean) {
    const k = bootKept(dev);
    k.fs.writeFileSync("/c", bytesOf(1, 20000));
    k.fs.writeFileSync("/b", bytesOf(2, 9000));
    expect(new SnapCalls(k).create("c2", 1)).toBeGreaterThan(0);
    if (liveWrite) k.fs.writeFileSync("/b", bytesOf(3, 15000));
    k.shutdown();
    const ck = bootWith({ device: new KeepOpen(dev), module: kernelModule(true), memoryMiB: 64, noMount: true });
    expect(new SnapCalls(ck).mountSnapshot("c2")).toBe(0);
    ck.mount();
    return ck;
  }

  it("fsck on a mounted clone is clean after the live filesystem changed since the clone was made", () => {
    const ck = cloneThenMount(freshDevice(32 * MiB), true);
    try {
      expect(fsckLines(ck).slice(0, 3)).toEqual([]); // today: 'block claimed twice: inode 0 ...', 'blocks neither used nor free'
    } finally {
      ck.shutdown();
    }
  });

  it("after a write in a mounted clone, fsck of the live filesystem is clean (the clone's own blocks are in use)", () => {
    const dev = freshDevice(32 * MiB);
    const ck = cloneThenMount(dev, false);
    const fd = ck.fs.openSync("/c", "r+");
    ck.fs.writeSync(fd, bytesOf(9, 100), 0, 100, 0);
    ck.fs.closeSync(fd);
    ck.shutdown();
    const k = bootKept(dev);
    try {
      expect(Buffer.compare(k.fs.readFileSync("/c"), bytesOf(1, 20000))).toBe(0);
      expect(fsckLines(k).slice(0, 3)).toEqual([]); // today: 'blocks neither used nor free: block 296, count 3'
    } finally {
      k.shutdown();
    }
  });

  // found by the kernel review (issue 14): nodes of the dead-list tree freed by a merge went
  // to the dead list themselves (their birth was at or before the newest snapshot), and a
  // rollback then cleared that range without freeing them: blocks neither used nor free
  it("dead-list tree nodes freed by merges are freed, not kept: delete, then rollback, leaves fsck clean", () => {
    const dev = freshDevice(64 * MiB);
    const k = bootWith({ device: dev, module: kernelModule(true), memoryMiB: 64 });
    try {
      k.fs.mkdirSync("/d");
      for (let i = 0; i < 1500; i++) k.fs.writeFileSync(`/d/f${i}`, "x".repeat(5000));
      k.snapshots.create("A");
      for (let i = 0; i < 1500; i++) k.fs.unlinkSync(`/d/f${i}`);
      k.snapshots.create("B");
      k.snapshots.delete("A", { wait: true });
      k.snapshots.rollback("B");
      k.snapshots.waitIdle();
      expect(k.logLines.filter((l) => l.startsWith("fsck")), "fsck report").toEqual([]);
      expect(k.fsck(true)).toBe(0);
      expect(k.fs.readdirSync("/d")).toEqual([]);
    } finally {
      k.shutdown();
    }
  });

  // found by the kernel review: a snapshot being deleted counted as "newer" for rollback
  it("rollback right after deleting the newer snapshot (not waiting) works, not ENOTEMPTY", () => {
    const dev = freshDevice(32 * MiB);
    const k = bootWith({ device: dev, module: kernelModule(true), memoryMiB: 64 });
    try {
      k.fs.writeFileSync("/a", "one");
      k.snapshots.create("s1");
      k.fs.writeFileSync("/a", "two");
      k.snapshots.create("s2");
      k.fs.writeFileSync("/a", "three");
      k.snapshots.delete("s2");
      expect(k.snapshots.list().map((x) => x.name)).toEqual(["s1"]);
      k.snapshots.rollback("s1");
      expect(k.fs.readFileSync("/a", "utf8")).toBe("one");
      k.snapshots.waitIdle();
      expect(k.fsck(true)).toBe(0);
    } finally {
      k.shutdown();
    }
  });
});
