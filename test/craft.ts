// test/craft.ts -- crafting hostile images for tests: patch a directory entry's name in a
// dirent-tree leaf, recompute its hash key and the leaf's crc32c, so the image passes every
// checksum and only the name is wrong (a name from the disk is input, issue 10 §2).
//
// Layouts (docs/format.md): superblock tree roots at 112 + 16 * tree; a leaf's nitems u16 at
// 34, items at 64 (20 bytes: k1 u64 | k2 u64 | voff u16 | vlen u16); a dirent value is
// ino u64 | type u8 | namelen u8 | name. The crc32c of a block is at offset 4, computed with
// that field zero. Only height-1 dirent trees (the root is the leaf) are handled: the small
// images the tests make.

import { crc32c } from "../host/fuzz.js";

export const BLOCK = 4096;
/** Tree index of the dirent tree in the superblock's root table. */
const TREE_DIRENT = 1;
const SB_ROOTS = 112, NODE_NITEMS = 34, NODE_ITEMS = 64, ITEM_SIZE = 20, CRC_OFF = 4;
const DE_NAMELEN = 9, DE_NAME = 10;

function view(img: Uint8Array, block: number): DataView {
  return new DataView(img.buffer, img.byteOffset + block * BLOCK, BLOCK);
}

/** The 31-bit FNV-1a name hash of fs/dir.ts, as the key's high half: (hash31 + 1) << 32. */
export function nameHashKey(name: Uint8Array): bigint {
  let h = 0x811c9dc5;
  for (const b of name) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return (BigInt(h & 0x7fffffff) + 1n) << 32n;
}

/** Recomputes the crc32c of metadata block `block` after a patch. */
export function reseal(img: Uint8Array, block: number): void {
  const v = view(img, block);
  v.setUint32(CRC_OFF, 0, true);
  v.setUint32(CRC_OFF, crc32c(0, img.subarray(block * BLOCK, (block + 1) * BLOCK)), true);
}

/**
 * Renames the only entry of directory `dirIno` on the image to `name` (same byte length as
 * the old name, so the record keeps its size): patches the name bytes, sets the key to
 * (hash31(name) + 1) << 32 (seq 0) and reseals the leaf. Keeping to one entry per directory
 * keeps the leaf's key order intact. Throws if the entry is not found in the root leaf.
 */
export function renameOnlyEntry(img: Uint8Array, dirIno: number, name: Uint8Array): void {
  const leaf = Number(view(img, 0).getBigUint64(SB_ROOTS + 16 * TREE_DIRENT, true));
  const v = view(img, leaf);
  const n = v.getUint16(NODE_NITEMS, true);
  const hits: number[] = [];
  for (let i = 0; i < n; i++) if (v.getBigUint64(NODE_ITEMS + ITEM_SIZE * i, true) === BigInt(dirIno)) hits.push(i);
  if (hits.length !== 1) throw new Error(`directory ${dirIno} has ${hits.length} entries in leaf ${leaf}, want 1`);
  const o = NODE_ITEMS + ITEM_SIZE * hits[0];
  const voff = v.getUint16(o + 16, true);
  const len = v.getUint8(voff + DE_NAMELEN);
  if (len !== name.length) throw new Error(`old name has ${len} bytes, new name ${name.length}`);
  for (let i = 0; i < len; i++) v.setUint8(voff + DE_NAME + i, name[i]);
  v.setBigUint64(o + 8, nameHashKey(name), true);
  reseal(img, leaf);
}
