// test/craft.ts -- crafting hostile images for tests: structure-aware edits of a real image
// (a B+ tree node's fields, a record inside a leaf, a journal tag) that keep every checksum
// valid, so what is tested is the kernel's own field checks (issue 10 §6), not its crc.
//
// Interface:
//   makeImage(populate)                 -> the bytes of a small image populated through the fs
//   readSuper / treeRoot / leavesOf / nodesOf / leafItems / findItem: reading by docs/format.md
//   reseal(img, b)                      -> recompute block b's crc32c after an edit
//   insertLeafItem(img, leaf, k1, k2, v) -> add an item to a leaf with room (keys stay sorted)
//   logTransactions / retag(img, ...)   -> the journal's live transactions; point one tag
//                                          elsewhere and re-sign descriptor and commit
//   expectErrno(fn, codes)              -> run fn; it must throw an fs error with one of codes
// Offsets are docs/format.md's (assembly/fs/format.ts, btree.ts, inode.ts, dir.ts).

import { expect } from "vitest";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { KernelPanic, type Kernel } from "../host/vmm/kernel.js";
import type { HelixFs } from "../host/fs/fs.js";
import { crc32c, parseImage, resealBlock, type LogTransaction } from "../host/crash/fuzz.js";
import { freshDevice, bootDevice, MiB, BLOCK } from "./helpers.js";
import { dv as blockView, treeRoot } from "./image-edit.js";

export const TREE_INODE = 0, TREE_DIRENT = 1, TREE_EXTENT = 2, TREE_BNO = 3, TREE_CNT = 4;
/** B+ tree node header fields (btree.ts). */
export const N = { TREE: 32, LEVEL: 33, NITEMS: 34, VEND: 36, VUSED: 38, NEXT: 40, PREV: 48, ITEMS: 64 } as const;
export const LEAF_ITEM = 20, NODE_ITEM = 32;
/** Inode record fields (inode.ts). */
export const I = { MODE: 0, NLINK: 12, SIZE: 16, FLAGS: 60, BLOCKS: 64, PARENT: 72, INLINE: 80 } as const;
/** Extent record fields (format.ts). */
export const EXT = { DISK: 0, LEN: 8, FLAGS: 12, BIRTH: 16, CSUM: 24 } as const;
/** Dirent record fields (dir.ts). */
export const DE = { INO: 0, TYPE: 8, NAMELEN: 9, NAME: 10 } as const;
export const FIRST_INO = 16, ROOT_INO = 2, ORPHAN_DIR = 1;

// block views and tree roots are image-edit.ts's (the fsck tests' edits), shared
export { dv as blockView, treeRoot } from "./image-edit.js";

/** Recomputes block `b`'s crc32c (its magic must be a known header magic). */
export function reseal(img: Uint8Array, b: number): void {
  if (!resealBlock(img, b)) throw new Error(`reseal: block ${b} has no header magic`);
}

/**
 * Formats a `bytes` memory device (the debug kernel), runs `populate` on the mounted fs,
 * unmounts cleanly and returns the image bytes.
 */
export function makeImage(populate: (fs: HelixFs, k: Kernel) => void, bytes = 16 * MiB): Uint8Array {
  const dev = freshDevice(bytes);
  const k = bootDevice(dev);
  populate(k.fs, k);
  const img = dev.bytes;
  k.shutdown();
  return img;
}

/** A memory device over a copy of `img`. */
export function deviceOf(img: Uint8Array): MemoryBackend { return new MemoryBackend(img.slice()); }

export interface Super {
  total: number; jstart: number; jblocks: number; agflCount: number; agfl: number[];
  /** Blocks of the journal's log: jblocks less the MMP block that ends the area (INCOMPAT_MMP). */
  logBlocks: number;
}
/** The primary superblock's geometry and AGFL. */
export function readSuper(img: Uint8Array): Super {
  const v = blockView(img, 0);
  const agflCount = v.getUint32(192, true);
  const agfl: number[] = [];
  for (let i = 0; i < Math.min(agflCount, 32); i++) agfl.push(Number(v.getBigUint64(200 + 8 * i, true)));
  const jblocks = v.getUint32(80, true), mmp = (v.getUint32(60, true) & 0x100) !== 0;
  return { total: Number(v.getBigUint64(40, true)), jstart: Number(v.getBigUint64(72, true)), jblocks, agflCount, agfl, logBlocks: mmp ? jblocks - 1 : jblocks };
}


/** Every node of `tree`, breadth first from the root, with its level. */
export function nodesOf(img: Uint8Array, tree: number): { block: number; level: number }[] {
  const { root, height } = treeRoot(img, tree);
  const out: { block: number; level: number }[] = [];
  let level: { block: number; level: number }[] = [{ block: root, level: height - 1 }];
  while (level.length) {
    out.push(...level);
    const next: { block: number; level: number }[] = [];
    for (const n of level) {
      if (n.level === 0) continue;
      const v = blockView(img, n.block);
      for (let i = 0; i < v.getUint16(N.NITEMS, true); i++) next.push({ block: Number(v.getBigUint64(N.ITEMS + NODE_ITEM * i + 16, true)), level: n.level - 1 });
    }
    level = next;
  }
  return out;
}

/** The leaves of `tree` in key order. */
export function leavesOf(img: Uint8Array, tree: number): number[] {
  return nodesOf(img, tree).filter((n) => n.level === 0).map((n) => n.block);
}

export interface LeafItem { block: number; index: number; k1: bigint; k2: bigint; voff: number; vlen: number; itemOff: number }
/** The items of leaf `block`. */
export function leafItems(img: Uint8Array, block: number): LeafItem[] {
  const v = blockView(img, block);
  const out: LeafItem[] = [];
  for (let i = 0; i < v.getUint16(N.NITEMS, true); i++) {
    const o = N.ITEMS + LEAF_ITEM * i;
    out.push({ block, index: i, k1: v.getBigUint64(o, true), k2: v.getBigUint64(o + 8, true), voff: v.getUint16(o + 16, true), vlen: v.getUint16(o + 18, true), itemOff: o });
  }
  return out;
}

/** The item (k1, k2) of `tree` (k2 omitted: the first item with key k1). */
export function findItem(img: Uint8Array, tree: number, k1: number | bigint, k2?: number | bigint): LeafItem {
  for (const leaf of leavesOf(img, tree)) {
    for (const it of leafItems(img, leaf)) {
      if (it.k1 === BigInt(k1) && (k2 === undefined || it.k2 === BigInt(k2))) return it;
    }
  }
  throw new Error(`findItem: no item (${k1}, ${k2}) in tree ${tree}`);
}

/**
 * Inserts item (k1, k2) -> value into leaf `block`, which must have room (value placed just
 * below vend), keeping keys sorted and nitems/vend/vused right; then reseals the leaf.
 */
export function insertLeafItem(img: Uint8Array, block: number, k1: bigint, k2: bigint, value: Uint8Array): void {
  const v = blockView(img, block);
  const base = block * BLOCK;
  const n = v.getUint16(N.NITEMS, true);
  const vend = v.getUint16(N.VEND, true) - value.length;
  if (vend < N.ITEMS + LEAF_ITEM * (n + 1)) throw new Error("insertLeafItem: leaf full");
  const items = leafItems(img, block);
  let at = items.findIndex((it) => it.k1 > k1 || (it.k1 === k1 && it.k2 > k2));
  if (at < 0) at = n;
  const o = N.ITEMS + LEAF_ITEM * at;
  img.copyWithin(base + o + LEAF_ITEM, base + o, base + N.ITEMS + LEAF_ITEM * n);
  v.setBigUint64(o, k1, true);
  v.setBigUint64(o + 8, k2, true);
  v.setUint16(o + 16, vend, true);
  v.setUint16(o + 18, value.length, true);
  img.set(value, base + vend);
  v.setUint16(N.NITEMS, n + 1, true);
  v.setUint16(N.VEND, vend, true);
  v.setUint16(N.VUSED, v.getUint16(N.VUSED, true) + value.length, true);
  reseal(img, block);
}

/** The journal's live transactions (recovery's pass 1 as parseImage reads it). */
export function logTransactions(img: Uint8Array): LogTransaction[] {
  return parseImage(img).transactions;
}

/**
 * Points the tag of image `imageIndex` of transaction `txIndex` at `home`, then re-signs the
 * descriptor holding it and the transaction's commit block (tx_crc over the per-block crcs),
 * so the transaction still validates. Returns the log block of that image.
 */
export function retag(img: Uint8Array, txIndex: number, imageIndex: number, home: number): number {
  const tx = logTransactions(img)[txIndex];
  const im = tx.images[imageIndex];
  // the descriptor is the closest descriptor block before the image
  let desc = -1;
  for (const b of tx.blocks) { if (b >= im.log) break; if (blockView(img, b).getUint32(0, true) === 0x444a4c48) desc = b; }
  if (desc < 0) throw new Error("retag: no descriptor");
  const dv = blockView(img, desc);
  const slot = im.log - desc - 1;
  dv.setBigUint64(40 + 8 * slot, BigInt(home), true);
  reseal(img, desc);
  let crc = 0;
  for (const b of tx.blocks.slice(0, -1)) crc = crc32c(crc, img.subarray(b * BLOCK + 4, b * BLOCK + 8));
  const commit = tx.blocks[tx.blocks.length - 1];
  blockView(img, commit).setUint32(36, crc, true);
  reseal(img, commit);
  return im.log;
}

/** Runs `fn`: it must throw an fs error whose code is one of `codes` (never a trap). */
export function expectErrno(fn: () => unknown, codes: string[]): string {
  let err: any;
  try { fn(); } catch (e) { err = e; }
  expect(err, "an error was expected").toBeDefined();
  expect(err).not.toBeInstanceOf(KernelPanic);
  expect(codes).toContain(err.code);
  return err.code;
}

/** Kernel state after a metadata error: read-only and flagged, the kernel alive. */
export function expectReadOnlyAfterError(k: Kernel): void {
  expect(k.isDead).toBe(false);
  const info = k.info();
  expect(info.errored || info.readOnly, "read-only after a metadata error").toBeTruthy();
  expect(k.logLines.some((l) => /error .*in metadata|read-only/.test(l)), "the metadata error was logged").toBe(true);
}

