// test/image-edit.ts -- structure-aware damage for fsck tests: decode the superblock and the
// B+ tree nodes of an image (docs/format.md), change exactly one field or item, reseal the
// block's crc32c. Each helper changes one thing so a test can say which invariant it broke.

import { crc32c } from "../host/crash/fuzz.js";

export const BLOCK = 4096;
export const TREE = { inode: 0, dirent: 1, extent: 2, bno: 3, cnt: 4 } as const;

// superblock fields (docs/format.md)
export const SB = {
  total: 40, free: 48, state: 68, journalStart: 72, journalBlocks: 80, nextIno: 88, inodeCount: 96,
  roots: 1024, agflCount: 192, agfl: 200,
} as const;
// node header fields
const N_TREE = 32, N_LEVEL = 33, N_NITEMS = 34, N_VUSED = 38, N_ITEMS = 64, LEAF_ITEM = 20, NODE_ITEM = 32;

export function dv(img: Uint8Array, b: number): DataView { return new DataView(img.buffer, img.byteOffset + b * BLOCK, BLOCK); }

/** Recomputes block `b`'s crc32c (header offset 4, over the block with the field zeroed). */
export function reseal(img: Uint8Array, b: number): void {
  const v = dv(img, b);
  v.setUint32(4, 0, true);
  v.setUint32(4, crc32c(0, img.subarray(b * BLOCK, (b + 1) * BLOCK)), true);
}

/** Changes a superblock field (both copies when `backup`) and reseals. */
export function setSb(img: Uint8Array, off: number, value: bigint | number, width: 4 | 8 = 8): void {
  const v = dv(img, 0);
  if (width === 8) v.setBigUint64(off, BigInt(value), true); else v.setUint32(off, Number(value), true);
  reseal(img, 0);
}
export function sbU64(img: Uint8Array, off: number): number { return Number(dv(img, 0).getBigUint64(off, true)); }

export function treeRoot(img: Uint8Array, tree: number): { root: number; height: number } {
  const v = dv(img, 0);
  return { root: Number(v.getBigUint64(SB.roots + 24 * tree, true)), height: v.getUint32(SB.roots + 24 * tree + 8, true) };
}

export interface Item { leaf: number; i: number; k1: bigint; k2: bigint; voff: number; vlen: number; value: Uint8Array }

/** Leaves of `tree` in key order (a walk from the root down). */
export function leaves(img: Uint8Array, tree: number): number[] {
  const out: number[] = [];
  const walk = (b: number) => {
    const v = dv(img, b);
    const n = v.getUint16(N_NITEMS, true);
    if (v.getUint8(N_LEVEL) === 0) { out.push(b); return; }
    for (let i = 0; i < n; i++) walk(Number(v.getBigUint64(N_ITEMS + NODE_ITEM * i + 16, true)));
  };
  walk(treeRoot(img, tree).root);
  return out;
}

/** The items of leaf `b`. */
export function leafItems(img: Uint8Array, b: number): Item[] {
  const v = dv(img, b);
  const n = v.getUint16(N_NITEMS, true);
  const out: Item[] = [];
  for (let i = 0; i < n; i++) {
    const o = N_ITEMS + LEAF_ITEM * i;
    const voff = v.getUint16(o + 16, true), vlen = v.getUint16(o + 18, true);
    out.push({ leaf: b, i, k1: v.getBigUint64(o, true), k2: v.getBigUint64(o + 8, true), voff, vlen, value: img.subarray(b * BLOCK + voff, b * BLOCK + voff + vlen) });
  }
  return out;
}

/** Every item of `tree`, in key order. */
export function items(img: Uint8Array, tree: number): Item[] { return leaves(img, tree).flatMap((b) => leafItems(img, b)); }

/** The first item of `tree` matching `pred` (throws when none: the test set-up is wrong). */
export function findItem(img: Uint8Array, tree: number, pred: (it: Item) => boolean): Item {
  const it = items(img, tree).find(pred);
  if (!it) throw new Error(`no such item in tree ${tree}`);
  return it;
}

/** Removes item `it` from its leaf (its value bytes become a hole) and reseals. */
export function removeItem(img: Uint8Array, it: Item): void {
  const v = dv(img, it.leaf);
  const n = v.getUint16(N_NITEMS, true);
  const base = it.leaf * BLOCK + N_ITEMS;
  img.copyWithin(base + LEAF_ITEM * it.i, base + LEAF_ITEM * (it.i + 1), base + LEAF_ITEM * n);
  img.fill(0, base + LEAF_ITEM * (n - 1), base + LEAF_ITEM * n);
  v.setUint16(N_NITEMS, n - 1, true);
  v.setUint16(N_VUSED, v.getUint16(N_VUSED, true) - it.vlen, true);
  reseal(img, it.leaf);
}

/** Gives item `it` a new key, moving its 20-byte item entry to its sorted place in the leaf. */
export function rekeyItem(img: Uint8Array, it: Item, k1: bigint, k2: bigint): void {
  const v = dv(img, it.leaf);
  const all = leafItems(img, it.leaf).filter((x) => x.i !== it.i);
  all.push({ ...it, k1, k2 });
  all.sort((a, b) => (a.k1 < b.k1 ? -1 : a.k1 > b.k1 ? 1 : a.k2 < b.k2 ? -1 : a.k2 > b.k2 ? 1 : 0));
  all.forEach((x, i) => {
    const o = N_ITEMS + LEAF_ITEM * i;
    v.setBigUint64(o, x.k1, true); v.setBigUint64(o + 8, x.k2, true);
    v.setUint16(o + 16, x.voff, true); v.setUint16(o + 18, x.vlen, true);
  });
  reseal(img, it.leaf);
}

/** Swaps the key/value entries of items i and j of one leaf (keys then out of order). */
export function swapItems(img: Uint8Array, leaf: number, i: number, j: number): void {
  const a = leaf * BLOCK + N_ITEMS + LEAF_ITEM * i, b = leaf * BLOCK + N_ITEMS + LEAF_ITEM * j;
  const tmp = img.slice(a, a + LEAF_ITEM);
  img.copyWithin(a, b, b + LEAF_ITEM);
  img.set(tmp, b);
  reseal(img, leaf);
}

/** Runs `edit` on the value bytes of `it` (same length), then reseals its leaf. */
export function editValue(img: Uint8Array, it: Item, edit: (v: DataView, bytes: Uint8Array) => void): void {
  edit(new DataView(img.buffer, img.byteOffset + it.leaf * BLOCK + it.voff, it.vlen), it.value);
  reseal(img, it.leaf);
}

/** Sets a node header byte (tree id or level) and reseals. */
export function setNodeByte(img: Uint8Array, b: number, field: "tree" | "level", value: number): void {
  dv(img, b).setUint8(field === "tree" ? N_TREE : N_LEVEL, value);
  reseal(img, b);
}

/** The dirent key's hash half of `name` (fs/dir.ts name_hash: FNV-1a, folded, 31 bits, + 1). */
export function nameHash(name: Uint8Array): bigint {
  let h = 0x811c9dc5;
  for (const c of name) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return (BigInt(h & 0x7fffffff) + 1n) << 32n;
}

/** The dirent item naming `name` in directory `dir`. */
export function direntItem(img: Uint8Array, dir: number, name: string): Item {
  const want = new TextEncoder().encode(name);
  return findItem(img, TREE.dirent, (it) => it.k1 === BigInt(dir) && it.vlen === 10 + want.length &&
    Buffer.from(it.value.subarray(10)).equals(Buffer.from(want)));
}

/** Renames a dirent in place (same name length), with its hash key recomputed when `rehash`. */
export function renameEntry(img: Uint8Array, it: Item, name: Uint8Array, rehash: boolean): void {
  if (name.length !== it.vlen - 10) throw new Error("renameEntry: the new name must have the old name's length");
  it.value.set(name, 10);
  if (rehash) rekeyItem(img, it, it.k1, nameHash(name));
  else reseal(img, it.leaf);
}

/** The inode record of `ino`. */
export function inodeItem(img: Uint8Array, ino: number): Item { return findItem(img, TREE.inode, (it) => it.k1 === BigInt(ino)); }
export const I = { mode: 0, nlink: 12, size: 16, flags: 60, blocks: 64, parent: 72 } as const;
