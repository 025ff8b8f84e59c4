// test/snapshot-space.test.ts -- issue 14 §3 "Space" and §2 "Space": snapshots neither leak nor
// double-free blocks, statfs accounts for what only snapshots hold, and ENOSPC on the live
// filesystem is cured by deleting a snapshot.
//
// Layer: integration tests over the debug kernel on memory devices, raw snapshot syscalls
// (test/snap-helpers.ts).
// The oracle for "no leak" is a twin: the same seeded file operations run on a second image
// that never had a snapshot; after every snapshot of the first image is deleted and its
// background work has run to 0, both images have exactly the same free block count (ZFS's
// "as if it never existed"), and since the workload ends by removing every file it made, that
// is also the count before the first snapshot. `exclusive` in the list is what a delete frees.

import { describe, it, expect } from "vitest";
import type { Kernel } from "../host/vmm/kernel.js";
import { Rng } from "../host/crash/rng.js";
import { freshDevice, bytesOf, MiB, BLOCK } from "./helpers.js";
import { SnapCalls, bootKept, snapInfo } from "./snap-helpers.js";

/** Snapshots the space test makes over its changing tree. */
const SNAPSHOTS = 8;
/** Files the changing tree holds (under /work). */
const WORK_FILES = 12;

/** fsck with no problem, or an Error naming what it found at `when`. */
function fsckClean(k: Kernel, when: string): void {
  const before = k.logLines.length;
  const n = k.fsck(true);
  if (n !== 0) throw new Error(`fsck after ${when}: ${n} problem(s): ${k.logLines.slice(before).filter((l) => l.startsWith("fsck")).slice(0, 4).join("; ")}`);
}

/**
 * Free blocks after a sync, as kernel_info and statfs give them (they must agree once nothing
 * is deferred: statfs counts blocks freed in the running transaction as free, as ext4's df).
 */
function free(k: Kernel): number {
  k.fs.syncSync();
  const info = k.info().freeBlocks;
  const st = k.sys.statfs("/");
  if (typeof st === "number") throw new Error(`statfs = ${st}`);
  expect(st.bfree, "statfs f_bfree and kernel_info freeBlocks").toBe(info);
  return info;
}

/** One round of changes to /work: rewrite, append, delete and create files (seeded). */
function change(k: Kernel, rng: Rng, round: number): void {
  const fs = k.fs;
  for (let i = 0; i < WORK_FILES; i++) {
    const p = `/work/f${i}`;
    const what = rng.below(5);
    const exists = fs.existsSync(p);
    if (!exists || what === 0) fs.writeFileSync(p, bytesOf(rng.next(), (1 + rng.below(24)) * 1000)); // (re)write whole
    else if (what === 1) fs.appendFileSync(p, bytesOf(rng.next(), 1 + rng.below(20000)));
    else if (what === 2) fs.unlinkSync(p);
    else if (what === 3) { // rewrite a range in place (CoW of a shared extent's middle)
      const fd = fs.openSync(p, "r+");
      try { fs.writeSync(fd, bytesOf(rng.next(), 5000), 0, 5000, rng.below(8000)); } finally { fs.closeSync(fd); }
    }
  }
  fs.writeFileSync(`/work/r${round}`, bytesOf(round, 3 * BLOCK));
}

describe("snapshot space accounting", () => {
  it("N snapshots over a changing tree, deleted in random order: free space returns exactly, fsck clean at each step", () => {
    for (const seed of [1, 2, 3]) {
      const dev = freshDevice(64 * MiB), twinDev = freshDevice(64 * MiB);
      const k = bootKept(dev), twin = bootKept(twinDev);
      try {
        const s = new SnapCalls(k);
        for (const kk of [k, twin]) { kk.fs.mkdirSync("/keep"); kk.fs.writeFileSync("/keep/a", bytesOf(7, 50_000)); kk.fs.mkdirSync("/work"); kk.fs.syncSync(); }
        const before = free(k);
        expect(free(twin)).toBe(before);
        const rngA = new Rng(seed), rngB = new Rng(seed);
        for (let i = 1; i <= SNAPSHOTS; i++) {
          expect(s.create(`s${i}`), `create s${i}`).toBeGreaterThan(0);
          change(k, rngA, i); change(twin, rngB, i);
          k.fs.syncSync(); twin.fs.syncSync();
          fsckClean(k, `snapshot s${i} and round ${i}`);
          // what the snapshots hold is in use, and is exactly the dead lists' blocks
          expect(free(k) + snapInfo(k).deadBlocks, `free + blocks held only by snapshots after round ${i}`).toBe(free(twin));
          expect(snapInfo(k).count).toBe(i);
        }
        const infos = s.list();
        expect(infos.map((x) => x.name)).toEqual(Array.from({ length: SNAPSHOTS }, (_, i) => `s${i + 1}`));
        for (const x of infos) expect(x.referenced, `${x.name} referenced`).toBeGreaterThanOrEqual(x.exclusive);
        // the rounds made the snapshots hold something (else the checks below prove nothing)
        expect(snapInfo(k).deadBlocks).toBeGreaterThan(100);
        expect(infos.filter((x) => x.exclusive > 0).length).toBeGreaterThan(SNAPSHOTS / 2);
        // delete in a seeded random order; each delete frees exactly its `exclusive` bytes
        const order = infos.map((x) => x.name);
        const rng = new Rng(seed * 31);
        for (let i = order.length - 1; i > 0; i--) { const j = rng.below(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
        for (const name of order) {
          const info = s.list().find((x) => x.name === name)!;
          const f0 = free(k);
          expect(s.delete(name), `delete ${name}`).toBe(0);
          expect(s.names()).not.toContain(name);
          expect(s.workAll(), `work after deleting ${name}`).toBeGreaterThan(0);
          expect(s.work(0)).toBe(0);
          const f1 = free(k);
          expect((f1 - f0) * BLOCK, `blocks freed by deleting ${name} (exclusive ${info.exclusive} bytes)`).toBe(info.exclusive);
          fsckClean(k, `deleting ${name}`);
        }
        expect(s.list()).toEqual([]);
        expect(snapInfo(k)).toEqual({ count: 0, deadBlocks: 0, pending: 0 });
        // as if no snapshot had existed: the twin's count
        expect(free(k)).toBe(free(twin));
        // and removing what the rounds made gives back the figure before the first snapshot
        for (const kk of [k, twin]) { kk.fs.rmSync("/work", { recursive: true, force: false }); kk.fs.mkdirSync("/work"); kk.fs.syncSync(); }
        expect(free(twin)).toBe(before);
        expect(free(k)).toBe(before);
        fsckClean(k, "the end");
        // across a reboot too (the dead lists and free space are on disk)
        k.shutdown();
        const k2 = bootKept(dev);
        try { expect(free(k2)).toBe(before); fsckClean(k2, "reboot"); } finally { k2.shutdown(); }
      } finally {
        try { k.shutdown(); } catch { /* shut down above */ }
        twin.shutdown();
      }
    }
  });

  it("a delete interrupted by a reboot finishes at mount with the same free space", () => {
    const dev = freshDevice(64 * MiB);
    let k = bootKept(dev);
    k.fs.mkdirSync("/d");
    for (let i = 0; i < 200; i++) k.fs.writeFileSync(`/d/f${i}`, bytesOf(i, 6000));
    k.fs.syncSync();
    const before = free(k);
    const s = new SnapCalls(k);
    expect(s.create("many")).toBeGreaterThan(0);
    k.fs.rmSync("/d", { recursive: true, force: false });
    k.fs.syncSync();
    const held = free(k);
    expect(held).toBeLessThan(before); // the snapshot still holds /d's blocks
    expect(s.delete("many")).toBe(0);
    expect(s.work(1)).toBeGreaterThan(0); // more than one unit of work: stop in the middle
    expect(s.names()).toEqual([]);
    k.shutdown();
    k = bootKept(dev);
    try {
      fsckClean(k, "a reboot in the middle of a background delete");
      expect(new SnapCalls(k).workAll()).toBeGreaterThanOrEqual(1);
      const end = free(k);
      k.fs.syncSync();
      fsckClean(k, "the resumed delete");
      // /d and the snapshot gone: everything /d used is free again, as before it was written
      const fresh = bootKept(freshDevice(64 * MiB));
      try { expect(end).toBe(free(fresh)); } finally { fresh.shutdown(); }
    } finally {
      k.shutdown();
    }
  });

  it("ENOSPC on the live filesystem is cured by deleting the snapshot that holds the old data", () => {
    const dev = freshDevice(8 * MiB);
    const k = bootKept(dev);
    try {
      const s = new SnapCalls(k);
      const total = free(k);
      // old data: about 60% of the free space, held by a snapshot after it is deleted live
      const chunk = 64 * 1024;
      const bigChunks = Math.floor((total * BLOCK * 0.6) / chunk);
      const fd = k.fs.openSync("/big", "w");
      for (let i = 0; i < bigChunks; i++) k.fs.writeSync(fd, bytesOf(i + 1, chunk));
      k.fs.closeSync(fd);
      k.fs.syncSync();
      expect(s.create("old")).toBeGreaterThan(0);
      const f0 = free(k);
      k.fs.unlinkSync("/big");
      k.fs.syncSync();
      expect(free(k), "unlinking a file a snapshot holds frees nothing").toBeLessThanOrEqual(f0);
      expect(s.list()[0].exclusive).toBeGreaterThanOrEqual(bigChunks * chunk);
      // fill the rest of the live filesystem until ENOSPC
      let code = "", written = 0;
      const out = k.fs.openSync("/new", "w");
      try {
        for (let i = 0; i < 4 * bigChunks; i++) { k.fs.writeSync(out, bytesOf(1000 + i, chunk)); written += chunk; k.fs.fsyncSync(out); }
      } catch (e) { code = (e as { code?: string }).code ?? String(e); }
      expect(code, `ENOSPC after ${written} bytes`).toBe("ENOSPC");
      expect(written).toBeLessThan(bigChunks * chunk); // the snapshot's space was not available
      // the snapshot goes, its blocks come back, the write succeeds
      expect(s.delete("old")).toBe(0);
      expect(s.workAll()).toBeGreaterThan(0);
      expect(free(k)).toBeGreaterThan(bigChunks * chunk / BLOCK / 2);
      for (let i = 0; i < Math.floor(bigChunks / 2); i++) { k.fs.writeSync(out, bytesOf(5000 + i, chunk)); }
      k.fs.fsyncSync(out);
      k.fs.closeSync(out);
      fsckClean(k, "the cured ENOSPC");
    } finally {
      k.shutdown();
    }
  });
});
