// test/snapshot-api.test.ts -- the host side of snapshots (issue 14): the SNAPINFO and diff
// decoders, the read-only device window, and kernel.snapshots (create/list/delete/rollback/
// diff/open) on a real image file in tmpfs, against a model.
//
// Oracles: a model encoder of the ABI's records (decoders); the wrapped MemoryBackend's bytes
// (the read-only window); a model Map path -> bytes of the tree kept beside a seeded random
// workload, copied at every snapshot (every view and every rollback must read back exactly its
// copy while the live tree goes on changing, across a reboot too); statfs before and after
// (space); the kernel's fsck after the runs. Every failure path of the API is made to fail:
// EINVAL, EEXIST, ENOENT, EBUSY (open view, clone origin, open file), ENOTEMPTY, EROFS.

import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { BlockError, MemoryBackend, ReadOnlyBackend } from "../host/vmm/blockdev.js";
import {
  DIFF_HEADER_BYTES, SNAPINFO_BYTES, SNAPSHOT_NAME_MAX, checkSnapshotName, decodeDiff, decodeSnapInfo, type SnapshotView,
} from "../host/vmm/snapshots.js";
import { KernelError, bootWith, type Kernel } from "../host/vmm/kernel.js";
import { bootSync, createImage, kernelModule } from "../host/node/node.js";
import type { HelixFs } from "../host/fs/fs.js";
import { Shell } from "../host/shell/shell.js";
import { humanSize, snapshotSpace } from "../host/shell/format.js";
import { MiB, bytesOf, fsckClean, scratchDir } from "./helpers.js";

const DIR = scratchDir("helix-snap-api-");
/** Size of the test images. */
const IMAGE_BYTES = 64 * MiB;

// ---- the records, against a model encoder ---------------------------------------------------

interface RawSnap { id: bigint; tid: bigint; ctime: bigint; flags: number; name: Uint8Array; referenced: bigint; exclusive: bigint; origin: bigint }

/** SNAPINFO records as SNAPSHOT_ABI lays them out (the model encoder). */
function encodeSnaps(recs: RawSnap[], at: number): DataView {
  const buf = new ArrayBuffer(at + SNAPINFO_BYTES * recs.length + 7);
  const dv = new DataView(buf);
  recs.forEach((r, i) => {
    const o = at + SNAPINFO_BYTES * i;
    dv.setBigUint64(o, r.id, true); dv.setBigUint64(o + 8, r.tid, true); dv.setBigInt64(o + 16, r.ctime, true);
    dv.setUint32(o + 24, r.flags, true); dv.setUint32(o + 28, r.name.length, true);
    dv.setBigUint64(o + 32, r.referenced, true); dv.setBigUint64(o + 40, r.exclusive, true);
    dv.setBigUint64(o + 48, r.origin, true); dv.setBigUint64(o + 56, r.referenced - r.exclusive, true);
    new Uint8Array(buf, o + 64, 256).fill(0xee); // bytes past namelen are not part of the name
    new Uint8Array(buf, o + 64, r.name.length).set(r.name);
  });
  return dv;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

describe("SNAPINFO decoding", () => {
  it("decodes every field of every record at any offset (property, model encoder)", () => {
    const rec = fc.record({
      id: fc.bigInt(1n, MAX_SAFE), tid: fc.bigInt(0n, MAX_SAFE), ctime: fc.bigInt(-(2n ** 62n), 2n ** 62n),
      flags: fc.nat(7), name: fc.string({ minLength: 1, maxLength: 80 }).filter((s) => checkSnapshotName(s) === null),
      referenced: fc.bigInt(0n, MAX_SAFE), exclusiveFrac: fc.double({ min: 0, max: 1, noNaN: true }), origin: fc.bigInt(0n, MAX_SAFE),
    });
    fc.assert(fc.property(fc.array(rec, { maxLength: 6 }), fc.nat(64), (recs, at) => {
      const raw: RawSnap[] = recs.map((r) => ({
        ...r, name: new TextEncoder().encode(r.name), exclusive: BigInt(Math.floor(Number(r.referenced) * r.exclusiveFrac)),
      }));
      const out = decodeSnapInfo(encodeSnaps(raw, at), at, raw.length);
      expect(out).toHaveLength(recs.length);
      out.forEach((s, i) => {
        const r = raw[i];
        expect(s.id).toBe(Number(r.id)); expect(s.tid).toBe(Number(r.tid)); expect(s.ctimeNs).toBe(r.ctime);
        expect(s.ctime.getTime()).toBe(Number(r.ctime / 1_000_000n));
        expect(s.name).toBe(recs[i].name);
        expect([s.writable, s.deleting, s.mounted]).toEqual([(r.flags & 1) !== 0, (r.flags & 2) !== 0, (r.flags & 4) !== 0]);
        expect(s.flags).toBe(r.flags);
        expect(s.referencedBytes).toBe(Number(r.referenced)); expect(s.exclusiveBytes).toBe(Number(r.exclusive));
        expect(s.sharedBytes).toBe(Number(r.referenced - r.exclusive)); expect(s.origin).toBe(Number(r.origin));
      });
    }), { numRuns: 200, seed: 14 });
  });
});

interface RawChange { kind: 1 | 2 | 3 | 4; type: number; p1: string; p2: string }

/** Diff records as SNAPSHOT_ABI packs them (the model encoder). */
function encodeDiff(cs: RawChange[], at: number): { dv: DataView; n: number } {
  const enc = new TextEncoder();
  const parts = cs.map((c) => ({ c, b1: enc.encode(c.p1), b2: c.kind === 4 ? enc.encode(c.p2) : new Uint8Array(0) }));
  const n = parts.reduce((s, p) => s + DIFF_HEADER_BYTES + p.b1.length + p.b2.length, 0);
  const buf = new ArrayBuffer(at + n + 5);
  const dv = new DataView(buf);
  let o = at;
  for (const { c, b1, b2 } of parts) {
    dv.setUint8(o, c.kind); dv.setUint8(o + 1, c.type); dv.setUint16(o + 2, b1.length, true); dv.setUint16(o + 4, b2.length, true);
    new Uint8Array(buf, o + DIFF_HEADER_BYTES, b1.length).set(b1);
    new Uint8Array(buf, o + DIFF_HEADER_BYTES + b1.length, b2.length).set(b2);
    o += DIFF_HEADER_BYTES + b1.length + b2.length;
  }
  return { dv, n };
}

describe("diff record decoding", () => {
  const change = fc.record({
    kind: fc.constantFrom(1, 2, 3, 4) as fc.Arbitrary<1 | 2 | 3 | 4>, type: fc.constantFrom(4, 8, 10),
    p1: fc.string({ minLength: 1, maxLength: 40 }).map((s) => "/" + s), p2: fc.string({ minLength: 1, maxLength: 40 }).map((s) => "/" + s),
  });

  it("sorts every record into its list and keeps the kernel's order (property, model encoder)", () => {
    fc.assert(fc.property(fc.array(change, { maxLength: 30 }), fc.nat(32), (cs, at) => {
      const { dv, n } = encodeDiff(cs, at);
      const d = decodeDiff(dv, at, n, 7, 900);
      expect(d.nodesRead).toBe(7); expect(d.nodesTotal).toBe(900);
      expect(d.changes.map((c) => [c.kind, c.type, c.path, c.to])).toEqual(cs.map((c) =>
        [["", "created", "deleted", "modified", "renamed"][c.kind], c.type, c.p1, c.kind === 4 ? c.p2 : undefined]));
      expect(d.created).toEqual(cs.filter((c) => c.kind === 1).map((c) => c.p1));
      expect(d.deleted).toEqual(cs.filter((c) => c.kind === 2).map((c) => c.p1));
      expect(d.modified).toEqual(cs.filter((c) => c.kind === 3).map((c) => c.p1));
      expect(d.renamed).toEqual(cs.filter((c) => c.kind === 4).map((c) => ({ from: c.p1, to: c.p2 })));
    }), { numRuns: 200, seed: 41 });
  });

  it("a truncated record or an unknown kind is EIO, never skipped", () => {
    const { dv, n } = encodeDiff([{ kind: 1, type: 8, p1: "/a", p2: "" }, { kind: 4, type: 8, p1: "/b", p2: "/c" }], 0);
    for (let cut = 1; cut < n; cut++) {
      if (cut === DIFF_HEADER_BYTES + 2) continue; // the end of the first record: a valid prefix
      expect(() => decodeDiff(dv, 0, cut), `cut at ${cut}`).toThrow(expect.objectContaining({ code: "EIO" }));
    }
    dv.setUint8(0, 9);
    expect(() => decodeDiff(dv, 0, n)).toThrow(/kind 9/);
  });
});

describe("snapshot names", () => {
  it("the host's check agrees with the ABI's rule (property)", () => {
    const model = (s: string) => {
      const len = Buffer.byteLength(s);
      return len >= 1 && len <= SNAPSHOT_NAME_MAX && !s.includes("/") && !s.includes("\0") && s !== "." && s !== "..";
    };
    const names = fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom(".", "..", "a/b", "a\0b", "", "x".repeat(255), "x".repeat(256), "é".repeat(128)));
    fc.assert(fc.property(names, (s) => { expect(checkSnapshotName(s) === null).toBe(model(s)); }), { numRuns: 500, seed: 3 });
    // a new name also has no '@' (clone origins are "<name>@origin")
    fc.assert(fc.property(fc.oneof(names, fc.constantFrom("a@b", "@", "x@origin")), (s) => {
      expect(checkSnapshotName(s, true) === null).toBe(model(s) && !s.includes("@"));
    }), { numRuns: 500, seed: 4 });
  });
});

// ---- the read-only window ---------------------------------------------------------------------

describe("ReadOnlyBackend", () => {
  it("reads through; refuses every write with EROFS before it reaches the device; close leaves the device open", () => {
    const inner = new MemoryBackend(bytesOf(5, 64 * 1024));
    const before = inner.bytes.slice();
    const ro = new ReadOnlyBackend(inner);
    expect(ro.sizeBytes).toBe(inner.sizeBytes);
    const a = new Uint8Array(4096);
    ro.read(8192, a);
    expect(a).toEqual(before.subarray(8192, 12288));
    const v = [new Uint8Array(512), new Uint8Array(1536)];
    ro.readv(512, v);
    expect(Buffer.concat(v)).toEqual(Buffer.from(before.subarray(512, 2560)));
    const refusals: (() => void)[] = [
      () => ro.write(0, new Uint8Array(512).fill(1)), () => ro.writev(512, [new Uint8Array(512).fill(2)]),
      () => ro.writeZeroes(0, 4096), () => ro.discard(0, 4096),
    ];
    for (const f of refusals) expect(f).toThrow(expect.objectContaining({ code: "EROFS" }));
    expect(ro.refusedWrites).toBe(4);
    expect(inner.bytes).toEqual(before);
    ro.flush();
    ro.close();
    expect(() => ro.read(0, a)).toThrow(BlockError);
    expect(() => ro.read(0, a)).toThrow(expect.objectContaining({ code: "EBADF" }));
    inner.read(0, a); // still open
    expect(a).toEqual(before.subarray(0, 4096));
  });

  it("a window on a backend without readv reads each piece through read, range-checked", () => {
    const inner = new MemoryBackend(bytesOf(9, 8192));
    const plain = { sizeBytes: inner.sizeBytes, read: inner.read.bind(inner), write: inner.write.bind(inner), flush() {}, discard() {}, close() {} };
    const ro = new ReadOnlyBackend(plain);
    const v = [new Uint8Array(100), new Uint8Array(412)];
    ro.readv(1024, v);
    expect(Buffer.concat(v)).toEqual(Buffer.from(inner.bytes.subarray(1024, 1536)));
    expect(() => ro.readv(8192 - 512, [new Uint8Array(1024)])).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});

// ---- kernel.snapshots on an image file ------------------------------------------------------

/** A tree as a model: absolute path -> file bytes, or null for a directory. */
type Tree = Map<string, Uint8Array | null>;

/** Reads the whole tree of `fs` (the view or the live fs) into a Tree. */
function readTree(fs: HelixFs, dir = "/", out: Tree = new Map()): Tree {
  for (const name of (fs.readdirSync(dir) as string[]).sort()) {
    const p = path.posix.join(dir, name);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) { out.set(p, null); readTree(fs, p, out); }
    else out.set(p, new Uint8Array(fs.readFileSync(p)));
  }
  return out;
}

/** The tree as comparable text (paths sorted, bytes hashed by length and a sample). */
function treeText(t: Tree): string[] {
  return [...t.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, b]) => b === null ? `${p}/` : `${p} ${Buffer.from(b).toString("base64")}`);
}

let booted: Kernel[] = [];
afterEach(() => {
  for (const k of booted) { try { k.shutdown(); } catch { /* already down */ } }
  booted = [];
});

let imageSeq = 0;
/** A fresh image file in tmpfs, booted (debug kernel). */
function freshKernel(): { k: Kernel; image: string } {
  const image = path.join(DIR, `snap-${imageSeq++}.img`);
  createImage(image, IMAGE_BYTES, { debug: true });
  return { k: boot(image), image };
}
function boot(image: string, snapshot?: string): Kernel {
  const k = bootSync({ image, debug: true, memoryMiB: 64, snapshot });
  booted.push(k);
  return k;
}
function down(k: Kernel): void { k.shutdown(); booted = booted.filter((x) => x !== k); }

/** Expects `f` to throw a KernelError with errno name `code`. */
function fails(f: () => unknown, code: string): KernelError {
  let err: unknown = null;
  try { f(); } catch (e) { err = e; }
  expect(err, `expected ${code}`).toBeInstanceOf(KernelError);
  expect((err as KernelError).code).toBe(code);
  expect((err as KernelError).message).not.toContain("\n");
  return err as KernelError;
}

/** xorshift32 for the seeded workload. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32; };
}

/**
 * One random step on the live fs and the model: write, append, overwrite, unlink, rename,
 * mkdir or rmdir of an empty directory, over a small namespace so steps collide.
 */
function step(fs: HelixFs, model: Tree, r: () => number, n: number): void {
  const dirs = ["/", ...[...model.keys()].filter((p) => model.get(p) === null && !p.startsWith("/lost+found"))];
  const files = [...model.keys()].filter((p) => model.get(p) !== null && !p.startsWith("/lost+found"));
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const newPath = () => path.posix.join(pick(dirs), `n${Math.floor(r() * 12)}`);
  const op = Math.floor(r() * 7);
  if (op <= 1 || files.length === 0) {
    const p = newPath();
    if (model.has(p)) return;
    const data = bytesOf(n, Math.floor(r() * 3) === 0 ? 9000 + Math.floor(r() * 40000) : Math.floor(r() * 300));
    fs.writeFileSync(p, data); model.set(p, data);
  } else if (op === 2) {
    const p = pick(files), add = bytesOf(n + 1, Math.floor(r() * 5000));
    fs.appendFileSync(p, add); model.set(p, new Uint8Array(Buffer.concat([model.get(p)!, add])));
  } else if (op === 3) {
    const p = pick(files); fs.unlinkSync(p); model.delete(p);
  } else if (op === 4) {
    const p = pick(files), q = newPath();
    if (model.has(q)) return;
    fs.renameSync(p, q); model.set(q, model.get(p)!); model.delete(p);
  } else if (op === 5) {
    const p = newPath();
    if (model.has(p)) return;
    fs.mkdirSync(p); model.set(p, null);
  } else {
    const p = pick(files), data = bytesOf(n + 2, Math.floor(r() * 2000));
    fs.writeFileSync(p, data); model.set(p, data);
  }
}

describe("kernel.snapshots", () => {
  it("create/list: ids grow, tids grow, times are now, flags say snapshot; EEXIST, EINVAL (host and kernel)", () => {
    const { k } = freshKernel();
    expect(k.snapshots.list()).toEqual([]);
    const t0 = Date.now();
    const names = ["first", "second snap", "ü-third", "x".repeat(255)];
    const made = names.map((n, i) => { k.fs.writeFileSync(`/f${i}`, "data " + i); return k.snapshots.create(n); });
    const list = k.snapshots.list();
    expect(list.map((s) => s.name)).toEqual(names);
    // exclusive/shared bytes move as later snapshots share more; identity and capture do not
    const ident = (x: typeof list) => x.map((s) => ({ id: s.id, name: s.name, tid: s.tid, ctimeNs: s.ctimeNs, flags: s.flags }));
    expect(ident(list)).toEqual(ident(made));
    for (let i = 1; i < list.length; i++) {
      expect(list[i].id).toBeGreaterThan(list[i - 1].id);
      expect(list[i].tid).toBeGreaterThan(list[i - 1].tid);
    }
    for (const s of list) {
      expect(s.ctime.getTime()).toBeGreaterThanOrEqual(t0 - 1000);
      expect(s.ctime.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      expect([s.writable, s.deleting, s.origin]).toEqual([false, false, 0]);
      expect(s.referencedBytes).toBeGreaterThan(0);
      expect(s.sharedBytes).toBe(s.referencedBytes - s.exclusiveBytes);
    }
    fails(() => k.snapshots.create("first"), "EEXIST");
    for (const bad of ["", ".", "..", "a/b", "x".repeat(256), "a\0b"]) fails(() => k.snapshots.create(bad), "EINVAL");
    // the kernel's own check, past the host's
    for (const bad of [".", "a/b", "x".repeat(256)]) fails(() => k.snapshotCreate(bad, 0), "EINVAL");
    fails(() => k.snapshots.get("nope"), "ENOENT");
    expect(k.snapshots.list().map((s) => s.name)).toEqual(names);
    fsckClean(k);
  });

  it("views read back exactly the tree at snapshot time while the live tree changes, and after a reboot (seeded model)", () => {
    const { k, image } = freshKernel();
    const r = rng(2026);
    const model: Tree = readTree(k.fs);
    const copies = new Map<string, string[]>();
    let n = 0;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 25; i++) step(k.fs, model, r, n++);
      k.snapshots.create(`s${round}`);
      copies.set(`s${round}`, treeText(model));
    }
    expect(treeText(readTree(k.fs))).toEqual(treeText(model));
    const views = new Map<string, SnapshotView>([...copies.keys()].map((name) => [name, k.snapshots.open(name)]));
    for (const [name, v] of views) expect(treeText(readTree(v.fs)), name).toEqual(copies.get(name));
    // the live tree goes on (overwrites, deletes, renames of shared blocks); the views do not move
    for (let i = 0; i < 60; i++) step(k.fs, model, r, n++);
    k.fs.syncSync();
    for (const [name, v] of views) expect(treeText(readTree(v.fs)), name).toEqual(copies.get(name));
    // a view refuses every write
    const v0 = views.get("s0")!;
    expect(() => v0.fs.writeFileSync("/new", "x")).toThrow(expect.objectContaining({ code: "EROFS" }));
    for (const v of views.values()) v.close();
    expect(k.snapshots.openViews()).toBe(0);
    fsckClean(k);
    const live = treeText(model);
    down(k);
    const k2 = boot(image);
    expect(treeText(readTree(k2.fs))).toEqual(live);
    for (const [name, copy] of copies) {
      const v = k2.snapshots.open(name);
      expect(treeText(readTree(v.fs)), `${name} after reboot`).toEqual(copy);
      v.close();
    }
    fsckClean(k2);
  });

  it("a view's writes fail EROFS and reach nothing: the window refused none (NORECOVERY writes nothing)", () => {
    const { k } = freshKernel();
    k.fs.writeFileSync("/a", "hello");
    k.snapshots.create("s");
    const v = k.snapshots.open("s");
    for (const f of [() => v.fs.writeFileSync("/a", "x"), () => v.fs.unlinkSync("/a"), () => v.fs.mkdirSync("/d"), () => v.fs.renameSync("/a", "/b")]) {
      expect(f).toThrow(expect.objectContaining({ code: "EROFS" }));
    }
    expect(v.fs.readFileSync("/a", "utf8")).toBe("hello");
    const window = (v.kernel as Kernel).backend as ReadOnlyBackend;
    expect(window).toBeInstanceOf(ReadOnlyBackend);
    expect(window.refusedWrites).toBe(0);
    v.close();
    v.close(); // idempotent
    expect(v.closed).toBe(true);
  });

  it("delete: ENOENT; EBUSY while a view is open (and after close it goes); the name is free at once", () => {
    const { k } = freshKernel();
    fails(() => k.snapshots.delete("none"), "ENOENT");
    k.fs.writeFileSync("/a", "1");
    k.snapshots.create("s");
    const v = k.snapshots.open("s");
    const e = fails(() => k.snapshots.delete("s"), "EBUSY");
    expect(e.message).toMatch(/open view/);
    v.close();
    const r = k.snapshots.delete("s", { wait: true });
    expect(r.snapshot.name).toBe("s");
    expect(r.pending).toBe(0);
    expect(k.snapshots.list()).toEqual([]);
    fails(() => k.snapshots.open("s"), "ENOENT");
    k.snapshots.create("s"); // the name is free
    expect(k.snapshots.list().map((s) => s.name)).toEqual(["s"]);
    fsckClean(k);
  });

  it("space: a deleted file's blocks stay in use while a snapshot holds them; delete --wait frees them (statfs)", () => {
    const { k } = freshKernel();
    const st = () => k.fs.statfsSync("/");
    const base = st().bfree;
    const big = bytesOf(77, 4 * MiB);
    k.fs.writeFileSync("/big", big);
    k.fs.syncSync();
    const withFile = st().bfree;
    expect(base - withFile).toBeGreaterThanOrEqual(1024);
    k.snapshots.create("hold");
    k.fs.unlinkSync("/big");
    k.fs.syncSync();
    // held only by the snapshot: still in use
    expect(st().bfree).toBeLessThanOrEqual(withFile + 16);
    const s = k.snapshots.get("hold");
    expect(s.exclusiveBytes).toBeGreaterThanOrEqual(big.length);
    // kernel_info: the blocks are held only by the snapshot (inspect and df show them)
    expect(k.info().snapshots).toBe(1);
    expect(k.info().snapshotOnlyBlocks * 4096).toBeGreaterThanOrEqual(big.length);
    const r = k.snapshots.delete("hold", { wait: true });
    expect(r.exclusiveBytes).toBeGreaterThanOrEqual(big.length);
    expect(r.freedBytes).toBeGreaterThanOrEqual(big.length);
    k.fs.syncSync();
    expect(Math.abs(st().bfree - base)).toBeLessThanOrEqual(16);
    expect([k.info().snapshots, k.info().snapshotOnlyBlocks, k.info().snapshotWorkPending]).toEqual([0, 0, 0]);
    fsckClean(k);
  });

  it("N snapshots over a changing tree deleted in random order: the rest read back their copies after each delete; no leak against a twin without snapshots", () => {
    const { k } = freshKernel();
    const { k: twin } = freshKernel();
    const r = rng(99), rt = rng(99);
    const model: Tree = readTree(k.fs), tmodel: Tree = readTree(twin.fs);
    const copies = new Map<string, string[]>();
    let n = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 20; i++) { step(k.fs, model, r, n); step(twin.fs, tmodel, rt, n); n++; }
      k.snapshots.create(`s${round}`);
      copies.set(`s${round}`, treeText(model));
    }
    const order = [...copies.keys()].sort(() => r() - 0.5);
    for (const name of order) {
      k.snapshots.delete(name, { wait: true });
      copies.delete(name);
      for (const [other, copy] of copies) {
        const v = k.snapshots.open(other);
        expect(treeText(readTree(v.fs)), `${other} after deleting ${name}`).toEqual(copy);
        v.close();
      }
    }
    expect(treeText(readTree(k.fs))).toEqual(treeText(model));
    expect(treeText(model)).toEqual(treeText(tmodel));
    k.fs.syncSync(); twin.fs.syncSync();
    expect(k.info().snapshotOnlyBlocks).toBe(0);
    // the same files on an image that never had snapshots use as many blocks, give or take
    // the tree nodes' layout (splits happen in another order)
    expect(Math.abs(k.fs.statfsSync("/").bfree - twin.fs.statfsSync("/").bfree)).toBeLessThanOrEqual(8);
    fsckClean(k);
  });

  it("the shell's df says how much of Used only snapshots hold (kernel_info), and nothing without them", () => {
    const { k } = freshKernel();
    let out = "";
    const sh = new Shell(k.fs, { out: (d) => { out += String(d); }, err: (l) => { out += l + "\n"; }, snapshotBytes: () => snapshotSpace(k.info())?.heldBytes ?? 0 });
    k.fs.writeFileSync("/big", bytesOf(1, 3 * MiB));
    k.snapshots.create("s");
    sh.run("df -h");
    expect(out).not.toMatch(/snapshots/); // shared with the live tree: not held only by the snapshot
    k.fs.unlinkSync("/big");
    k.fs.syncSync();
    out = "";
    sh.run("df; df -h");
    const kb = Number(/^Used includes (\d+) 1K-blocks held only by snapshots$/m.exec(out)![1]);
    expect(kb * 1024).toBeGreaterThanOrEqual(3 * MiB);
    expect(out).toContain(`Used includes ${humanSize(kb * 1024)} held only by snapshots\n`);
    k.snapshots.delete("s", { wait: true });
    out = "";
    sh.run("df -h");
    expect(out).not.toMatch(/snapshots/);
  });

  it("delete without wait: the idle worker finishes the background free on its own (unref'd timer)", async () => {
    const { k } = freshKernel();
    for (let i = 0; i < 40; i++) k.fs.writeFileSync(`/f${i}`, bytesOf(i, 20_000));
    k.snapshots.create("s");
    for (let i = 0; i < 40; i++) k.fs.unlinkSync(`/f${i}`);
    const r = k.snapshots.delete("s");
    if (r.pending > 0) expect(k.snapshotWorkerRunning).toBe(true);
    for (let t = 0; t < 500 && k.snapshots.pending() > 0; t++) await new Promise((res) => setTimeout(res, 10));
    expect(k.snapshots.pending()).toBe(0);
    await new Promise((res) => setTimeout(res, 30));
    expect(k.snapshotWorkerRunning).toBe(false);
    fsckClean(k);
  });

  it("rollback: the live tree becomes the snapshot's copy; ENOENT, ENOTEMPTY (newer snapshot), EBUSY (open file)", () => {
    const { k, image } = freshKernel();
    const r = rng(7);
    const model: Tree = readTree(k.fs);
    let n = 0;
    for (let i = 0; i < 30; i++) step(k.fs, model, r, n++);
    k.snapshots.create("base");
    const copy = treeText(model);
    const baseModel = new Map(model); // values are replaced, never changed in place
    for (let i = 0; i < 40; i++) step(k.fs, model, r, n++);
    fails(() => k.snapshots.rollback("missing"), "ENOENT");
    k.snapshots.create("newer");
    fails(() => k.snapshots.rollback("base"), "ENOTEMPTY");
    k.snapshots.delete("newer", { wait: true });
    const fd = k.fs.openSync("/held", "w");
    fails(() => k.snapshots.rollback("base"), "EBUSY");
    k.fs.closeSync(fd);
    k.fs.unlinkSync("/held");
    // a view of the target stays open across the rollback and the frees after it
    const v = k.snapshots.open("base");
    k.snapshots.rollback("base");
    expect(treeText(readTree(k.fs))).toEqual(copy);
    model.clear();
    for (const [p, b] of baseModel) model.set(p, b);
    for (let i = 0; i < 20; i++) step(k.fs, model, r, n++);
    k.snapshots.waitIdle();
    k.fs.syncSync();
    expect(treeText(readTree(v.fs))).toEqual(copy);
    v.close();
    expect(treeText(readTree(k.fs))).toEqual(treeText(model));
    k.snapshots.waitIdle();
    fsckClean(k);
    down(k);
    const k2 = boot(image);
    expect(treeText(readTree(k2.fs))).toEqual(treeText(model));
    fsckClean(k2);
  });

  it("diff: created, deleted, modified and renamed paths between two snapshots and against the live tree; ENOENT", () => {
    const { k } = freshKernel();
    k.fs.mkdirSync("/d");
    for (const f of ["keep", "mod", "gone", "move"]) k.fs.writeFileSync(`/d/${f}`, `v1 ${f}`);
    k.snapshots.create("a");
    k.fs.writeFileSync("/d/mod", "v2 changed");
    k.fs.unlinkSync("/d/gone");
    k.fs.renameSync("/d/move", "/moved");
    k.fs.writeFileSync("/new", "fresh");
    k.snapshots.create("b");
    const d = k.snapshots.diff("a", "b");
    expect(d.created).toContain("/new");
    expect(d.deleted).toContain("/d/gone");
    expect(d.modified).toContain("/d/mod");
    expect(d.renamed).toContainEqual({ from: "/d/move", to: "/moved" });
    const all = [...d.created, ...d.deleted, ...d.modified, ...d.renamed.flatMap((x) => [x.from, x.to])];
    expect(all).not.toContain("/d/keep");
    expect(d.nodesRead).toBeGreaterThan(0);
    expect(d.nodesTotal).toBeGreaterThanOrEqual(d.nodesRead);
    // b to b: nothing
    expect(k.snapshots.diff("b", "b").changes).toEqual([]);
    // b to the live tree
    k.fs.writeFileSync("/later", "x");
    const live = k.snapshots.diff("b");
    expect(live.created).toEqual(["/later"]);
    expect(live.deleted.length + live.modified.filter((p) => p !== "/").length + live.renamed.length).toBe(0);
    fails(() => k.snapshots.diff("a", "zz"), "ENOENT");
    const e = fails(() => k.snapshots.diff("zz"), "ENOENT");
    expect(e.message).toContain("'zz'");
  });

  it("diff of 10 changed files lists exactly them, and its reads stay nearly flat as the tree grows from 2,500 to 10,000 files", () => {
    // issue 14 asked for < 1% of the nodes; docs/decisions.md "Snapshot diff" says why that is
    // not met (20 leaf reads alone are 1.3% of a 10,000-file tree) and that reads stay nearly
    // flat as the tree grows: that is what the host checks here, with exact lists
    const run = (DIRS: number) => {
      const k = bootWith({ device: new MemoryBackend(256 * MiB), module: kernelModule(), mkfs: true, memoryMiB: 256 });
      booted.push(k);
      const PER = 100;
      for (let d = 0; d < DIRS; d++) {
        k.fs.mkdirSync(`/d${d}`);
        for (let i = 0; i < PER; i++) k.fs.writeFileSync(`/d${d}/f${i}`, `file ${d}/${i}\n`);
      }
      k.snapshots.create("a");
      const changed = Array.from({ length: 10 }, (_, j) => `/d${(j * 37) % DIRS}/f${(j * 53) % PER}`);
      for (const p of changed) k.fs.writeFileSync(p, "changed\n");
      k.snapshots.create("b");
      const d = k.snapshots.diff("a", "b");
      expect([...d.modified].filter((p) => !/^\/(d\d+)?$/.test(p)).sort()).toEqual([...changed].sort());
      expect([d.created, d.deleted, d.renamed]).toEqual([[], [], []]);
      expect(d.nodesRead).toBeGreaterThan(0);
      expect(d.nodesTotal).toBeGreaterThan(d.nodesRead);
      down(k);
      return d;
    };
    const small = run(25), large = run(100);
    expect(large.nodesTotal).toBeGreaterThan(3 * small.nodesTotal);
    expect(large.nodesRead, `${small.nodesRead} of ${small.nodesTotal} -> ${large.nodesRead} of ${large.nodesTotal}`).toBeLessThanOrEqual(1.5 * small.nodesRead);
    expect(large.nodesRead / large.nodesTotal).toBeLessThan(0.25);
  });

  it("clones: a writable clone and its origin; the origin cannot be deleted (EBUSY); boot --snapshot mounts clone rw, snapshot ro", () => {
    const { k, image } = freshKernel();
    k.fs.writeFileSync("/a", "main");
    const c = k.snapshots.create("work", { writable: true });
    expect(c.writable).toBe(true);
    const origin = k.snapshots.get("work@origin");
    expect(c.origin).toBe(origin.id);
    fails(() => k.snapshots.delete("work@origin"), "EBUSY");
    fails(() => k.snapshots.rollback("work"), "EINVAL");
    k.fs.writeFileSync("/a", "main changed");
    down(k);
    const kc = boot(image, "work");
    expect(kc.fs.readFileSync("/a", "utf8")).toBe("main");
    kc.fs.writeFileSync("/a", "clone changed");
    expect(kc.snapshots.get("work").mounted).toBe(true);
    fails(() => kc.snapshots.open("work"), "EBUSY"); // the mounted head: read it through kc.fs
    fails(() => kc.snapshots.create("x"), "EOPNOTSUPP");
    down(kc);
    const ks = boot(image, "work@origin");
    expect(ks.fs.readFileSync("/a", "utf8")).toBe("main");
    expect(() => ks.fs.writeFileSync("/a", "no")).toThrow(expect.objectContaining({ code: "EROFS" }));
    fails(() => ks.snapshots.create("y"), "EROFS");
    down(ks);
    const kl = boot(image);
    expect(kl.fs.readFileSync("/a", "utf8")).toBe("main changed");
    // deleting the clone deletes the origin made for it too (no other clone grew from it)
    expect(kl.snapshots.delete("work", { wait: true }).alsoDeleted).toEqual(["work@origin"]);
    expect(kl.snapshots.list()).toEqual([]);
    fails(() => kl.snapshots.delete("work@origin"), "ENOENT");
    fsckClean(kl);
    down(kl);
    expect(() => boot(image, "work")).toThrow(expect.objectContaining({ code: "ENOENT", message: "mount failed: no snapshot named 'work'" }));
  });

  it("a file created in a mounted clone leaves the main filesystem's fsck clean, before and after the clone's delete", () => {
    const { k, image } = freshKernel();
    k.fs.writeFileSync("/a", "main");
    k.snapshots.create("work", { writable: true });
    down(k);
    const kc = boot(image, "work");
    kc.fs.writeFileSync("/clone.txt", "c");
    fsckClean(kc);
    down(kc);
    const km = boot(image);
    expect(km.fs.readdirSync("/")).not.toContain("clone.txt");
    fsckClean(km);
    km.snapshots.delete("work", { wait: true });
    fsckClean(km);
  });

  it("the live kernel's shutdown closes its views first (they read its device)", () => {
    const { k } = freshKernel();
    k.snapshots.create("s");
    const v = k.snapshots.open("s");
    down(k);
    expect(v.closed).toBe(true);
  });

  it("the idle worker's timer never keeps a program alive: a child exits with a background free pending", () => {
    const entry = pathToFileURL(path.resolve(import.meta.dirname, "..", "dist", "host", "index.js")).href;
    const script = `
      import { bootWith, kernelModule, memoryDevice } from ${JSON.stringify(entry)};
      const k = bootWith({ device: memoryDevice(32 << 20), module: kernelModule(), mkfs: true, memoryMiB: 32 });
      for (let i = 0; i < 200; i++) k.fs.writeFileSync("/f" + i, "x".repeat(5000));
      k.snapshots.create("s");
      for (let i = 0; i < 200; i++) k.fs.unlinkSync("/f" + i);
      const r = k.snapshots.delete("s");
      process.stdout.write(JSON.stringify({ pending: r.pending, running: k.snapshotWorkerRunning }));
      // no shutdown, no exit: the event loop must end on its own`;
    const t0 = Date.now();
    const c = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000, env: { ...process.env, NODE_OPTIONS: "" } });
    expect(c.stderr).toBe("");
    expect(c.status).toBe(0);
    const out = JSON.parse(c.stdout) as { pending: number; running: boolean };
    expect(out.pending).toBeGreaterThan(0);
    expect(out.running).toBe(true);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe("snapshot review regressions", () => {
  it("a new name with '@' is EINVAL from the kernel too; deleting a clone while its origin has a view is EBUSY", () => {
    const { k } = freshKernel();
    try {
      // the kernel's own rule, past the host's check
      expect(k.snapshotCreate.bind(k, "a@b", 0)).toThrow(/EINVAL/);
      k.fs.writeFileSync("/f", "kept");
      k.snapshots.create("c", { writable: true });
      const view = k.snapshots.open("c@origin");
      try {
        expect(fails(() => k.snapshots.delete("c"), "EBUSY").message).toMatch(/origin 'c@origin'/);
        expect(view.fs.readFileSync("/f", "utf8")).toBe("kept");
      } finally {
        view.close();
      }
      k.snapshots.delete("c", { wait: true });
      expect(k.snapshots.list()).toEqual([]);
    } finally {
      down(k);
    }
  });
});
