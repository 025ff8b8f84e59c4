// host/crash/fuzz.ts -- image fuzzing (issue 3 §5): corrupt the metadata of a HelixFS image, mount
// it, walk it, and classify what happened.
//
// Layer: a host-side test library beside host/vmm/kernel.ts. tools/fuzz-images.ts runs it in
// worker threads over 10,000 images; test/fuzz.test.ts runs a sample in process.
// Interface:
//   parseImage(image)                 -> ImageLayout: the image's metadata blocks, found by
//                                        reading it per docs/format.md (superblocks, journal
//                                        superblock and live log, B+ tree nodes reached from the
//                                        superblock roots before and after journal replay, AGFL)
//   fuzzImage(base, seed, opts)       -> { image, mutations }: a corrupted copy of `base`
//   flipBits / zeroBlock / randomizeBlock / swapBlocks / setField / resealBlock / staleSwap:
//                                        the mutations themselves ("field": one structural field
//                                        of a node, record, superblock or descriptor set to a
//                                        hostile value; with reseal, what only field checks can
//                                        catch; "stale": a block replaced by an older valid
//                                        version of itself, what only generations can catch)
//   staleTable(image, layout, history)-> StaleTable: older valid versions of the image's
//                                        metadata blocks, from earlier images of the same
//                                        filesystem and from the journal area's log
//   walkImage(kernel, opts)           -> WalkResult: readdir/stat/read/readlink everything
//                                        (bounded), a few writes, sync, fsck; errno codes met
//   runImage(module, base, seed, opts)-> ImageResult: fuzz + boot + mount + walk + unmount
//                                        (+ remount), classified (mounted, mounted read-only,
//                                        refused with a message, trap, host crash)
//   buildBaseImage(module, opts)      -> the populated base image with committed but not
//                                        checkpointed transactions in its journal
//   imageSeed(campaignSeed, index)    -> the seed of image `index` of a campaign
// Rules:
//  - only metadata blocks are ever mutated: the fuzzer tests the kernel's metadata checks
//    (DESIGN §5: checksum + self block number; issue 14: the generation in every pointer),
//    not file data (test/checksum.test.ts covers the data checksums);
//  - a stale version passes magic, crc and blocknr at its home and carries a tid below the
//    one the pointers to it expect: a lost or stale write, as a disk that drops writes leaves
//    it (btrfs's "parent transid verify failed" is the only check that can see it);
//  - the base image is never written, not even temporarily (workers share it);
//  - everything is a function of the seed, and the kernel runs on a deterministic clock, so
//    `runImage(module, base, seed)` reproduces a result exactly;
//  - a KernelPanic (assertion, abort, wasm trap) or a wasm stack overflow is a trap; a fs
//    error carries an errno code and is expected; anything else thrown is a host crash;
//  - a refused mount must be a KernelError with a non-empty one-line message;
//  - no Node imports: this file runs in worker threads and in a browser.

import { MemoryBackend } from "../vmm/blockdev.js";
import { Kernel, KernelError, KernelPanic, type BootOptions } from "../vmm/kernel.js";
import { Rng } from "./rng.js";

// ---- format constants (assembly/fs/format.ts; docs/format.md) -------------------------------

export const BLOCK_SIZE = 4096;
export const MAGIC_SUPER = 0x58464c48; // "HLFX"
export const MAGIC_BTREE = 0x4e544248; // "HBTN"
export const MAGIC_JSB = 0x424a4c48; // "HLJB"
export const MAGIC_JDESC = 0x444a4c48; // "HLJD"
export const MAGIC_JREVOKE = 0x524a4c48; // "HLJR"
export const MAGIC_JCOMMIT = 0x434a4c48; // "HLJC"
const HDR_CRC = 4;
const HDR_BLOCKNR = 8;
const HDR_TID = 16;
const SB_TOTAL_BLOCKS = 40;
const SB_JOURNAL_START = 72;
const SB_JOURNAL_BLOCKS = 80;
const SB_TREES = 1024;
const SB_TREE_ENTRY = 24;
const SB_TREE_GEN = 16;
const SB_AGFL_COUNT = 192;
const SB_AGFL = 200;
const AGFL_MAX = 32;
const TREE_COUNT = 7;
const JSB_MAXLEN = 36;
const JSB_SEQUENCE = 40;
const JSB_START = 48;
const JD_COUNT = 32;
const JD_TAGS = 40;
const JTAGS_MAX = (BLOCK_SIZE - JD_TAGS) / 8;
const JC_NBLOCKS = 32;
const JC_TX_CRC = 36;
const N_TREE = 32;
const N_LEVEL = 33;
const N_NITEMS = 34;
const N_ITEMS = 64;
const NODE_ITEM = 32;
const LEAF_ITEM = 20;
/** Most items an internal node can hold. */
const NODE_ITEMS_MAX = Math.floor((BLOCK_SIZE - N_ITEMS) / NODE_ITEM);
/** Tallest tree the kernel builds (fs/btree.ts HEIGHT_MAX). */
const HEIGHT_MAX = 8;
/** Magics of blocks that carry a checksummed header (the ones resealBlock re-signs). */
export const HEADER_MAGICS: ReadonlySet<number> = new Set([MAGIC_SUPER, MAGIC_BTREE, MAGIC_JSB, MAGIC_JDESC, MAGIC_JREVOKE, MAGIC_JCOMMIT]);

// ---- crc32c ---------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of `data`, continuing from `crc` (0 to start), as lib/crc32c.ts computes it. */
export function crc32c(crc: number, data: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const ZERO_CRC_FIELD = new Uint8Array(4);

/**
 * The checksum a metadata block should carry: crc32c of the block with its crc field taken
 * as zero. Computed in three pieces without writing to `blk`: worker threads parse one base
 * image in a SharedArrayBuffer, and zeroing the field in place (as the kernel does in its
 * own buffer) would race.
 */
function blockCrc(blk: Uint8Array): number {
  let c = crc32c(0, blk.subarray(0, HDR_CRC));
  c = crc32c(c, ZERO_CRC_FIELD);
  return crc32c(c, blk.subarray(HDR_CRC + 4));
}

function view(b: Uint8Array): DataView { return new DataView(b.buffer, b.byteOffset, b.byteLength); }
function u64(dv: DataView, o: number): number { return dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 2 ** 32; }

/** True when `blk` has `magic`, a correct crc and blocknr `self` (fs/format.ts block_verify). */
function verifies(blk: Uint8Array, magic: number, self: number): boolean {
  const dv = view(blk);
  return dv.getUint32(0, true) === magic && dv.getUint32(HDR_CRC, true) === blockCrc(blk) && u64(dv, HDR_BLOCKNR) === self;
}

// ---- seeded randomness ----------------------------------------------------------------------

/** A uniform element of `a` (non-empty). */
function pick<T>(rng: Rng, a: readonly T[]): T { return a[rng.below(a.length)]; }

/** Fills `dst` with random bytes from `rng`. */
function fillRandom(rng: Rng, dst: Uint8Array): void {
  for (let i = 0; i < dst.length; i += 4) {
    const v = rng.next();
    for (let k = 0; k < 4 && i + k < dst.length; k++) dst[i + k] = (v >>> (8 * k)) & 0xff;
  }
}

/** The seed of image `index` of a campaign seeded `campaignSeed` (a 32-bit hash of both). */
export function imageSeed(campaignSeed: number, index: number): number {
  let h = Math.imul((campaignSeed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77);
  h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12; h = Math.imul(h, 0x297a2d39);
  h ^= h >>> 15;
  return h >>> 0;
}

// ---- parsing an image (host side) -----------------------------------------------------------

/** What a metadata block is. The fuzzer picks a kind first, then a block of that kind. */
export type MetaKind = "super" | "backup-super" | "journal-super" | "journal" | "btree" | "agfl";
export const META_KINDS: readonly MetaKind[] = ["super", "backup-super", "journal-super", "journal", "btree", "agfl"];

/** One metadata block of an image. */
export interface MetaBlock {
  block: number;
  kind: MetaKind;
  /** btree: the tree (0 inode .. 4 cnt) and level; journal: desc/image/revoke/commit. */
  tree?: number;
  level?: number;
  detail?: string;
  /** journal images: the home block the image is for (its header's blocknr). */
  home?: number;
}

/** A committed transaction in the live log: its log blocks in order, the commit last. */
export interface LogTransaction { tid: number; blocks: number[]; images: { log: number; home: number }[]; revokes: number[] }

/** Where the metadata of an image lives. */
export interface ImageLayout {
  totalBlocks: number;
  journalStart: number;
  journalBlocks: number;
  /** Every metadata block, each block once. */
  meta: MetaBlock[];
  /** Blocks by kind (the fuzzer's menu). */
  byKind: Map<MetaKind, MetaBlock[]>;
  /** Committed transactions recovery would replay, in order. */
  transactions: LogTransaction[];
  /** Tree nodes per tree (after replay), for tests and reports. */
  nodesPerTree: number[];
  /** Home block -> the log block whose image recovery leaves there (the last unrevoked one). */
  replayed: Map<number, number>;
}

/** Bound on the nodes one tree walk visits (a 16 MiB image holds 4096 blocks). */
const WALK_NODES_MAX = 1 << 16;

/**
 * Finds the metadata blocks of a HelixFS image per docs/format.md: the superblock (or its
 * backup when the primary is bad), the journal superblock, the live log (validated like
 * recovery's pass 1), the B+ tree nodes reachable from the superblock roots both as the disk
 * is and as it will be once the journal is replayed, and the AGFL blocks. Throws an Error
 * when neither superblock is valid (a base image must be sound).
 */
export function parseImage(image: Uint8Array): ImageLayout {
  const nblocks = Math.floor(image.length / BLOCK_SIZE);
  const blk = (b: number) => image.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE);
  let sb = blk(0);
  if (!verifies(sb, MAGIC_SUPER, 0)) {
    sb = blk(nblocks - 1);
    if (!verifies(sb, MAGIC_SUPER, nblocks - 1)) throw new Error("parseImage: no valid superblock");
  }
  const sdv = view(sb);
  const total = Math.min(u64(sdv, SB_TOTAL_BLOCKS), nblocks);
  const jstart = u64(sdv, SB_JOURNAL_START);
  const jblocks = sdv.getUint32(SB_JOURNAL_BLOCKS, true);
  const found = new Map<number, MetaBlock>();
  const add = (m: MetaBlock) => { if (m.block >= 0 && m.block < total && !found.has(m.block)) found.set(m.block, m); };
  add({ block: 0, kind: "super" });
  add({ block: total - 1, kind: "backup-super" });
  add({ block: jstart, kind: "journal-super" });

  // the live log, as recovery pass 1 reads it
  const transactions: LogTransaction[] = [];
  const jsb = blk(jstart);
  if (verifies(jsb, MAGIC_JSB, jstart)) {
    const jdv = view(jsb);
    const maxlen = Math.min(jdv.getUint32(JSB_MAXLEN, true), jblocks);
    let pos = jdv.getUint32(JSB_START, true);
    if (pos === 0 || pos >= maxlen) pos = 1;
    let tid = u64(jdv, JSB_SEQUENCE);
    let tx: LogTransaction = { tid, blocks: [], images: [], revokes: [] };
    let crc = 0;
    scan: while (pos < maxlen) {
      const b = blk(jstart + pos);
      const dv = view(b);
      const magic = dv.getUint32(0, true);
      if (u64(dv, HDR_TID) !== tid) break;
      if (magic !== MAGIC_JDESC && magic !== MAGIC_JREVOKE && magic !== MAGIC_JCOMMIT) break;
      if (!verifies(b, magic, jstart + pos)) break;
      if (magic === MAGIC_JCOMMIT) {
        if (dv.getUint32(JC_NBLOCKS, true) !== tx.blocks.length || dv.getUint32(JC_TX_CRC, true) !== crc) break;
        tx.blocks.push(jstart + pos);
        transactions.push(tx);
        pos++; tid++; crc = 0;
        tx = { tid, blocks: [], images: [], revokes: [] };
        continue;
      }
      const n = dv.getUint32(JD_COUNT, true);
      if (n > JTAGS_MAX) break;
      crc = crc32c(crc, b.subarray(HDR_CRC, HDR_CRC + 4));
      tx.blocks.push(jstart + pos);
      pos++;
      if (magic === MAGIC_JREVOKE) {
        for (let i = 0; i < n; i++) tx.revokes.push(u64(dv, JD_TAGS + 8 * i));
        continue;
      }
      if (pos + n > maxlen) break;
      for (let i = 0; i < n; i++) {
        const img = blk(jstart + pos + i);
        if (view(img).getUint32(HDR_CRC, true) !== blockCrc(img)) break scan;
        crc = crc32c(crc, img.subarray(HDR_CRC, HDR_CRC + 4));
        tx.blocks.push(jstart + pos + i);
        tx.images.push({ log: jstart + pos + i, home: u64(dv, JD_TAGS + 8 * i) });
      }
      pos += n;
    }
    for (const t of transactions) {
      const images = new Map(t.images.map((im) => [im.log, im.home]));
      for (const b of t.blocks) {
        const magic = view(blk(b)).getUint32(0, true);
        const home = images.get(b);
        const detail = home !== undefined ? "image" : magic === MAGIC_JDESC ? "descriptor" : magic === MAGIC_JREVOKE ? "revoke" : "commit";
        add({ block: b, kind: "journal", detail, home });
      }
    }
  }

  // the replayed view: home block -> its latest image (revokes of later transactions win)
  const lastTid = transactions.length ? transactions[transactions.length - 1].tid : 0;
  const revokedBy = new Map<number, number>();
  for (const t of transactions) for (const r of t.revokes) if (t.tid <= lastTid) revokedBy.set(r, Math.max(revokedBy.get(r) ?? 0, t.tid));
  const replayed = new Map<number, number>();
  for (const t of transactions) {
    for (const im of t.images) if ((revokedBy.get(im.home) ?? 0) <= t.tid) replayed.set(im.home, im.log);
  }
  const home = (b: number) => blk(b);
  const after = (b: number) => { const l = replayed.get(b); return l === undefined ? blk(b) : blk(l); };

  const nodesPerTree = new Array<number>(TREE_COUNT).fill(0);
  const dataStart = jstart + jblocks;
  const walkTrees = (read: (b: number) => Uint8Array, count: boolean) => {
    const s = read(0);
    if (!verifies(s, MAGIC_SUPER, 0)) return;
    const dv = view(s);
    for (let t = 0; t < TREE_COUNT; t++) {
      const root = u64(dv, SB_TREES + t * SB_TREE_ENTRY);
      const height = dv.getUint32(SB_TREES + t * SB_TREE_ENTRY + 8, true);
      if (height < 1 || height > HEIGHT_MAX) continue;
      const seen = new Set<number>();
      const stack: [number, number][] = [[root, height - 1]];
      while (stack.length && seen.size < WALK_NODES_MAX) {
        const [b, level] = stack.pop()!;
        if (b <= dataStart - 1 || b >= total - 1 || seen.has(b)) continue;
        const node = read(b);
        const ndv = view(node);
        if (!verifies(node, MAGIC_BTREE, b) || node[N_TREE] !== t || node[N_LEVEL] !== level) continue;
        seen.add(b);
        add({ block: b, kind: "btree", tree: t, level });
        if (level > 0) {
          const n = Math.min(ndv.getUint16(N_NITEMS, true), NODE_ITEMS_MAX);
          for (let i = 0; i < n; i++) stack.push([u64(ndv, N_ITEMS + i * NODE_ITEM + 16), level - 1]);
        }
      }
      if (count) nodesPerTree[t] = seen.size;
    }
    const agfl = Math.min(dv.getUint32(SB_AGFL_COUNT, true), AGFL_MAX);
    for (let i = 0; i < agfl; i++) {
      const b = u64(dv, SB_AGFL + 8 * i);
      if (b >= dataStart && b < total - 1) add({ block: b, kind: "agfl" });
    }
  };
  walkTrees(after, true);
  walkTrees(home, false);

  const meta = [...found.values()].sort((a, b) => a.block - b.block);
  const byKind = new Map<MetaKind, MetaBlock[]>();
  for (const m of meta) {
    let l = byKind.get(m.kind);
    if (!l) byKind.set(m.kind, (l = []));
    l.push(m);
  }
  return { totalBlocks: total, journalStart: jstart, journalBlocks: jblocks, meta, byKind, transactions, nodesPerTree, replayed };
}

// ---- mutations ------------------------------------------------------------------------------

/** The four block corruptions of issue 3 §5, "field" (issue 10 §6) and "stale" (issue 14). */
export type MutationKind = "bitflip" | "zero" | "random" | "swap" | "field" | "stale";
/** The block corruptions and the stale-block swap: the default kinds without reseal. */
export const MUTATION_KINDS: readonly MutationKind[] = ["bitflip", "zero", "random", "swap", "stale"];
/**
 * The default kinds with reseal: the block corruptions plus "field", a structural field set
 * to a hostile value behind a valid checksum (nitems, vend, voff/vlen, an inode's size or
 * flags, an extent's disk block, a journal tag, ...).
 */
export const RESEAL_KINDS: readonly MutationKind[] = [...MUTATION_KINDS, "field"];

/** One corruption applied to an image. */
export interface Mutation {
  kind: MutationKind;
  block: number;
  /** What the block was. */
  target: MetaKind;
  /** swap: the other block and what it was. */
  other?: number;
  otherTarget?: MetaKind;
  /** bitflip: the bit offsets flipped inside the block (0 .. 32767). */
  bits?: number[];
  /** field: the field (byte offset in the block, size in bytes), its name and new value. */
  field?: { off: number; size: 1 | 2 | 4 | 8; name: string; value: string };
  /**
   * stale: the block whose older version was put in (`home`; `block` is the home itself, or
   * the log block holding the image recovery replays there: `into` "log"), the older
   * version's tid and the tid the filesystem's pointers expect (`current`), where the older
   * version came from, and for "log" the transaction's commit block (its tx_crc is
   * recomputed when `resealed`, else the transaction fails its checksum).
   */
  stale?: { home: number; into: "home" | "log"; tid: number; current: number; source: StaleSource; commit?: number };
  /** True when the checksums were recomputed afterwards (FuzzOptions.reseal). */
  resealed?: boolean;
}

function blockOf(image: Uint8Array, b: number): Uint8Array {
  if (!Number.isInteger(b) || b < 0 || (b + 1) * BLOCK_SIZE > image.length) throw new RangeError(`block ${b} is outside the image`);
  return image.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE);
}

/** Flips the given bits (offsets 0 .. 32767 inside the block) of block `b`. */
export function flipBits(image: Uint8Array, b: number, bits: readonly number[]): void {
  const blk = blockOf(image, b);
  for (const bit of bits) blk[bit >>> 3] ^= 1 << (bit & 7);
}

/** Zeroes block `b`. */
export function zeroBlock(image: Uint8Array, b: number): void { blockOf(image, b).fill(0); }

/** Fills block `b` with random bytes from `rng`. */
export function randomizeBlock(image: Uint8Array, b: number, rng: Rng): void { fillRandom(rng, blockOf(image, b)); }

/** Exchanges blocks `a` and `b` (a misplaced write in both directions). */
export function swapBlocks(image: Uint8Array, a: number, b: number): void {
  const x = blockOf(image, a), y = blockOf(image, b);
  const t = x.slice();
  x.set(y);
  y.set(t);
}

/**
 * Re-signs block `b` when it still starts with a header magic: stores `self` as its blocknr
 * (the block's own number; for a journal image, its home) and recomputes its crc32c. Returns
 * false (and changes nothing) for a block without a known magic. This makes "crafted" images
 * whose corruption the checksum cannot see.
 */
export function resealBlock(image: Uint8Array, b: number, self = b): boolean {
  const blk = blockOf(image, b);
  const dv = view(blk);
  if (!HEADER_MAGICS.has(dv.getUint32(0, true))) return false;
  dv.setUint32(HDR_BLOCKNR, self >>> 0, true);
  dv.setUint32(HDR_BLOCKNR + 4, Math.floor(self / 2 ** 32), true);
  dv.setUint32(HDR_CRC, blockCrc(blk), true);
  return true;
}

// ---- stale versions (issue 14) ----------------------------------------------------------------
//
// A stale-block swap models a lost write: the disk acknowledged a newer version of a metadata
// block and kept an older one. The older version is intact by every check a block can make
// on itself (magic, crc32c, blocknr); only the generation in the pointer to it differs:
//
//   parent item  | k1 | k2 | child = H | gen = 905 |        superblock root entry
//                                  |                      | root = H | height | rsv | gen |
//                                  v
//   block H now  | HBTN | crc ok | blocknr H | tid 870 | ...   (older version: 870 != 905)

/** Where an older version of a metadata block was found. */
export type StaleSource = "history" | "log";

/** One older version of a metadata block. */
export interface StaleVersion {
  /** The block it is a version of (its home; its header's blocknr). */
  block: number;
  /** Its header tid (older than the current version's). */
  tid: number;
  source: StaleSource;
  /** Byte offset of its 4 KiB in StaleTable.data. */
  at: number;
}

/** Older valid versions of an image's metadata blocks (staleTable). */
export interface StaleTable {
  versions: StaleVersion[];
  /** The versions' bytes, 4 KiB each. */
  data: Uint8Array;
  /** Block -> indices into versions. */
  byBlock: Map<number, number[]>;
  /** Block -> tid of its current version (after journal replay). */
  current: Map<number, number>;
}

/** Most older versions kept per block (distinct tids). */
export const STALE_PER_BLOCK_MAX = 4;
/** Metadata kinds whose blocks have versions over time (AGFL blocks hold no header). */
const STALE_KINDS: ReadonlySet<MetaKind> = new Set<MetaKind>(["btree", "super", "backup-super", "journal-super"]);

/**
 * Older valid versions of the metadata blocks of `image` (parsed as `layout`): for each
 * superblock, journal superblock and B+ tree node, the versions found (a) at the same block
 * of the earlier images in `history` (images of the same filesystem taken before more
 * changes, oldest first) and (b) in the journal area, where logged images of a home block
 * stay behind after the log moves on. A version counts when it carries the block's magic, a
 * valid crc and the block's own number, and a tid below the current version's (the one the
 * mount sees after replay). At most STALE_PER_BLOCK_MAX per block, one per tid, the newest.
 */
export function staleTable(image: Uint8Array, layout: ImageLayout, history: readonly Uint8Array[] = []): StaleTable {
  const current = new Map<number, number>();
  const magicOf = new Map<number, number>();
  for (const m of layout.meta) {
    if (!STALE_KINDS.has(m.kind)) continue;
    const log = layout.replayed.get(m.block);
    const blk = blockOf(image, log ?? m.block);
    const dv = view(blk);
    current.set(m.block, u64(dv, HDR_TID));
    magicOf.set(m.block, dv.getUint32(0, true));
  }
  const found = new Map<number, { tid: number; source: StaleSource; bytes: Uint8Array }[]>();
  const consider = (home: number, blk: Uint8Array, source: StaleSource) => {
    const magic = magicOf.get(home);
    if (magic === undefined || !verifies(blk, magic, home)) return;
    const tid = u64(view(blk), HDR_TID);
    if (tid >= current.get(home)!) return;
    let l = found.get(home);
    if (!l) found.set(home, (l = []));
    if (l.some((v) => v.tid === tid)) return;
    l.push({ tid, source, bytes: blk });
  };
  for (const h of history) {
    for (const home of current.keys()) if ((home + 1) * BLOCK_SIZE <= h.length) consider(home, blockOf(h, home), "history");
  }
  const logEnd = Math.min(layout.journalStart + layout.journalBlocks, layout.totalBlocks);
  for (let b = layout.journalStart + 1; b < logEnd; b++) {
    const blk = blockOf(image, b);
    const dv = view(blk);
    const magic = dv.getUint32(0, true);
    if (magic !== MAGIC_BTREE && magic !== MAGIC_SUPER) continue;
    const home = u64(dv, HDR_BLOCKNR);
    if (current.has(home) && layout.replayed.get(home) !== b) consider(home, blk, "log");
  }
  const t: StaleTable = { versions: [], data: new Uint8Array(0), byBlock: new Map(), current };
  const chunks: Uint8Array[] = [];
  for (const [home, l] of [...found].sort((a, b) => a[0] - b[0])) {
    l.sort((a, b) => b.tid - a.tid);
    const idx: number[] = [];
    for (const v of l.slice(0, STALE_PER_BLOCK_MAX)) {
      idx.push(t.versions.length);
      t.versions.push({ block: home, tid: v.tid, source: v.source, at: chunks.length * BLOCK_SIZE });
      chunks.push(v.bytes);
    }
    t.byBlock.set(home, idx);
  }
  t.data = new Uint8Array(chunks.length * BLOCK_SIZE);
  chunks.forEach((c, i) => t.data.set(c, i * BLOCK_SIZE));
  return t;
}

/** The 4 KiB of a stale version. */
export function staleBytes(table: StaleTable, v: StaleVersion): Uint8Array { return table.data.subarray(v.at, v.at + BLOCK_SIZE); }

/**
 * Writes stale version `v` over block `b` of `image` (its home, or the log block holding its
 * home's replayed image). The bytes go in unchanged: their header already verifies at home.
 */
export function staleSwap(image: Uint8Array, b: number, table: StaleTable, v: StaleVersion): void {
  blockOf(image, b).set(staleBytes(table, v));
}

/** A field of a metadata block: byte offset, size and what it is. */
interface Field { off: number; size: 1 | 2 | 4 | 8; name: string }

// record fields per tree (docs/format.md): [offset in the value, size, name]
const RECORD_FIELDS: readonly (readonly [number, 1 | 2 | 4 | 8, string])[][] = [
  [[0, 4, "inode mode"], [12, 4, "inode nlink"], [16, 8, "inode size"], [60, 4, "inode flags"], [64, 8, "inode blocks"], [72, 8, "inode parent"]],
  [[0, 8, "dirent ino"], [8, 1, "dirent type"], [9, 1, "dirent namelen"]],
  [[0, 8, "extent disk"], [8, 4, "extent length"], [12, 4, "extent flags"], [16, 8, "extent birth"]],
  [[0, 8, "free extent length"]],
  [],
];

/** The structural fields of block `b` of `image` as `target` (its kind in the layout). */
function fieldsOf(image: Uint8Array, b: number, target: MetaBlock): Field[] {
  const dv = view(blockOf(image, b));
  const out: Field[] = [];
  const magic = dv.getUint32(0, true);
  if (magic === MAGIC_BTREE) {
    out.push({ off: N_TREE, size: 1, name: "node tree" }, { off: N_LEVEL, size: 1, name: "node level" },
      { off: N_NITEMS, size: 2, name: "node nitems" }, { off: 36, size: 2, name: "node vend" }, { off: 38, size: 2, name: "node vused" },
      { off: 40, size: 8, name: "node next" }, { off: 48, size: 8, name: "node prev" });
    const n = Math.min(dv.getUint16(N_NITEMS, true), NODE_ITEMS_MAX);
    const leaf = dv.getUint8(N_LEVEL) === 0;
    const tree = dv.getUint8(N_TREE);
    for (let i = 0; i < n; i++) {
      const o = N_ITEMS + (leaf ? LEAF_ITEM : NODE_ITEM) * i;
      if (o + (leaf ? LEAF_ITEM : NODE_ITEM) > BLOCK_SIZE) break;
      out.push({ off: o, size: 8, name: `item ${i} k1` }, { off: o + 8, size: 8, name: `item ${i} k2` });
      if (!leaf) { out.push({ off: o + 16, size: 8, name: `item ${i} child` }, { off: o + 24, size: 8, name: `item ${i} gen` }); continue; }
      out.push({ off: o + 16, size: 2, name: `item ${i} voff` }, { off: o + 18, size: 2, name: `item ${i} vlen` });
      const voff = dv.getUint16(o + 16, true), vlen = dv.getUint16(o + 18, true);
      for (const [ro, size, name] of RECORD_FIELDS[tree] ?? []) {
        if (ro + size <= vlen && voff + ro + size <= BLOCK_SIZE) out.push({ off: voff + ro, size, name: `item ${i} ${name}` });
      }
    }
  } else if (magic === MAGIC_SUPER) {
    out.push({ off: SB_TOTAL_BLOCKS, size: 8, name: "sb total_blocks" }, { off: 48, size: 8, name: "sb free_blocks" },
      { off: SB_JOURNAL_BLOCKS, size: 4, name: "sb journal_blocks" }, { off: 88, size: 8, name: "sb next_ino" },
      { off: SB_AGFL_COUNT, size: 4, name: "sb agfl_count" });
    for (let t = 0; t < TREE_COUNT; t++) {
      out.push({ off: SB_TREES + t * SB_TREE_ENTRY, size: 8, name: `sb tree ${t} root` }, { off: SB_TREES + t * SB_TREE_ENTRY + 8, size: 4, name: `sb tree ${t} height` },
        { off: SB_TREES + t * SB_TREE_ENTRY + SB_TREE_GEN, size: 8, name: `sb tree ${t} gen` });
    }
    for (let i = 0; i < AGFL_MAX; i++) out.push({ off: SB_AGFL + 8 * i, size: 8, name: `sb agfl[${i}]` });
  } else if (magic === MAGIC_JDESC || magic === MAGIC_JREVOKE) {
    out.push({ off: JD_COUNT, size: 4, name: "journal count" });
    const n = Math.min(dv.getUint32(JD_COUNT, true), JTAGS_MAX);
    for (let i = 0; i < n; i++) out.push({ off: JD_TAGS + 8 * i, size: 8, name: `journal tag ${i}` });
  } else if (magic === MAGIC_JSB) {
    out.push({ off: JSB_MAXLEN, size: 4, name: "jsb maxlen" }, { off: JSB_START, size: 4, name: "jsb start" });
  }
  if (out.length === 0) out.push({ off: 32, size: 8, name: `${target.kind} word at 32` });
  return out;
}

/** A hostile value for a field of `size` bytes holding `old`, in an image of `total` blocks. */
function hostileValue(rng: Rng, size: number, old: bigint, total: number): bigint {
  const max = (1n << BigInt(8 * size)) - 1n;
  const choices = [0n, 1n, 2n, max, max >> 1n, old + 1n, old - 1n, old ^ (1n << BigInt(rng.below(8 * size))),
    BigInt(total - 1), BigInt(total), 4096n, 4097n, 65535n, 257n, 1n << 63n, BigInt(rng.next())];
  return ((pick(rng, choices) % (max + 1n)) + (max + 1n)) % (max + 1n);
}

/** Sets the field (byte offset `off`, `size` bytes) of block `b` to `value` (little-endian). */
export function setField(image: Uint8Array, b: number, off: number, size: 1 | 2 | 4 | 8, value: bigint): void {
  const dv = view(blockOf(image, b));
  if (off < 0 || off + size > BLOCK_SIZE) throw new RangeError(`field ${off}+${size} is outside the block`);
  for (let i = 0; i < size; i++) dv.setUint8(off + i, Number((value >> BigInt(8 * i)) & 0xffn));
}

/** Options of fuzzImage. */
export interface FuzzOptions {
  /** Mutations per image: 1 .. maxMutations, uniformly (default 3). */
  maxMutations?: number;
  /** Mutation kinds to draw from (default all four). */
  kinds?: readonly MutationKind[];
  /** Metadata kinds to target (default all present in the image). */
  targets?: readonly MetaKind[];
  /**
   * Recompute checksums, self block numbers and the journal's transaction checksums after
   * mutating: the corruption then passes every checksum, which DESIGN §5 does not promise to
   * survive; this finds gaps in the kernel's structural checks. Default false.
   */
  reseal?: boolean;
  /** parseImage(base), when the caller has it (saves parsing per image). */
  layout?: ImageLayout;
  /** Older versions for "stale" mutations (default: staleTable(base, layout), the log's only). */
  stale?: StaleTable;
}

/** Relative weights of the target kinds: tree nodes are where most kernel code reads. */
const TARGET_WEIGHT: Record<MetaKind, number> = { super: 1, "backup-super": 1, "journal-super": 1, journal: 2, btree: 4, agfl: 1 };
/** Most bits one bitflip mutation flips. */
const BITFLIP_MAX = 8;
/** Bytes at the start of a block holding its header and the node/superblock fields (where a
 * flip is most interesting once resealed); half of the flips land there. */
const HEAD_BYTES = 256;

const layoutCache = new WeakMap<Uint8Array, ImageLayout>();

/** parseImage(base), cached per base array. */
export function layoutOf(base: Uint8Array): ImageLayout {
  let l = layoutCache.get(base);
  if (!l) layoutCache.set(base, (l = parseImage(base)));
  return l;
}

const staleCache = new WeakMap<Uint8Array, StaleTable>();
/** staleTable(base, layout) without history, cached per base array. */
function staleOf(base: Uint8Array, layout: ImageLayout): StaleTable {
  let t = staleCache.get(base);
  if (!t) staleCache.set(base, (t = staleTable(base, layout)));
  return t;
}

/** Where a stale version of `home` goes so the mount sees it: the log block recovery
 * replays there, else the home. */
function staleSlot(layout: ImageLayout, home: number): { block: number; into: "home" | "log" } {
  const log = layout.replayed.get(home);
  return log === undefined ? { block: home, into: "home" } : { block: log, into: "log" };
}

/**
 * A corrupted copy of `base`: 1 .. maxMutations mutations drawn from `seed`, each on a
 * metadata block of parseImage(base) (a kind is picked by weight, then a block of it). The
 * base is not changed.
 */
export function fuzzImage(base: Uint8Array, seed: number, opts: FuzzOptions = {}): { image: Uint8Array; mutations: Mutation[] } {
  const layout = opts.layout ?? layoutOf(base);
  const rng = new Rng(seed);
  const image = base.slice();
  const kinds = opts.kinds ?? (opts.reseal ? RESEAL_KINDS : MUTATION_KINDS);
  const targets = (opts.targets ?? META_KINDS).filter((k) => (layout.byKind.get(k)?.length ?? 0) > 0);
  if (targets.length === 0 || kinds.length === 0) throw new Error("fuzzImage: nothing to mutate");
  const weightSum = targets.reduce((s, k) => s + TARGET_WEIGHT[k], 0);
  const pickTarget = (): MetaBlock => {
    let r = rng.below(weightSum);
    for (const k of targets) {
      r -= TARGET_WEIGHT[k];
      if (r < 0) return pick(rng, layout.byKind.get(k)!);
    }
    return pick(rng, layout.byKind.get(targets[0])!);
  };
  const count = 1 + rng.below(Math.max(1, opts.maxMutations ?? 3));
  const mutations: Mutation[] = [];
  const touched = new Set<number>();
  for (let i = 0; i < count; i++) {
    const t = pickTarget();
    const kind = pick(rng, kinds);
    const m: Mutation = { kind, block: t.block, target: t.kind };
    switch (kind) {
      case "bitflip": {
        const n = 1 + rng.below(BITFLIP_MAX);
        m.bits = [];
        for (let k = 0; k < n; k++) m.bits.push(rng.unit() < 0.5 ? rng.below(HEAD_BYTES * 8) : rng.below(BLOCK_SIZE * 8));
        flipBits(image, t.block, m.bits);
        break;
      }
      case "zero": zeroBlock(image, t.block); break;
      case "field": {
        // half the draws take a node header field (7 of them, against hundreds of item fields)
        const fields = fieldsOf(image, t.block, t);
        const head = fields.filter((x) => x.off < N_ITEMS && view(blockOf(image, t.block)).getUint32(0, true) === MAGIC_BTREE);
        const f = head.length > 0 && rng.unit() < 0.5 ? pick(rng, head) : pick(rng, fields);
        const dv = view(blockOf(image, t.block));
        let old = 0n;
        for (let k = f.size - 1; k >= 0; k--) old = (old << 8n) | BigInt(dv.getUint8(f.off + k));
        const value = hostileValue(rng, f.size, old, layout.totalBlocks);
        setField(image, t.block, f.off, f.size, value);
        m.field = { ...f, value: value.toString() }; // a string: mutations go to JSON results
        break;
      }
      case "random": randomizeBlock(image, t.block, rng); break;
      case "stale": {
        // a block (of the chosen targets) with an older version; else a zeroed block
        const table = opts.stale ?? staleOf(base, layout);
        const kindOf = new Map(layout.meta.map((x) => [x.block, x.kind]));
        const homes = [...table.byBlock.keys()].filter((h) => {
          const k = kindOf.get(h);
          if (k === undefined) return false;
          const into = staleSlot(layout, h).into;
          return targets.includes(k) || (into === "log" && targets.includes("journal"));
        });
        if (homes.length === 0) { m.kind = "zero"; zeroBlock(image, t.block); break; }
        const home = pick(rng, homes);
        const v = table.versions[pick(rng, table.byBlock.get(home)!)];
        const slot = staleSlot(layout, home);
        m.block = slot.block;
        m.target = slot.into === "log" ? "journal" : kindOf.get(home)!;
        m.stale = { home, into: slot.into, tid: v.tid, current: table.current.get(home)!, source: v.source };
        staleSwap(image, slot.block, table, v);
        if (slot.into === "log") {
          const tx = layout.transactions.find((x) => x.blocks.includes(slot.block))!;
          m.stale.commit = tx.blocks[tx.blocks.length - 1];
          // half the time the transaction's checksum is recomputed, so only the generation
          // can tell the replayed block is stale; else the transaction fails its checksum
          if (rng.unit() < 0.5) { resealTransaction(image, tx); m.resealed = true; }
        }
        touched.add(slot.block);
        mutations.push(m);
        continue;
      }
      case "swap": {
        if (layout.meta.length < 2) { m.kind = "zero"; zeroBlock(image, t.block); break; }
        let o = pickTarget();
        for (let k = 0; o.block === t.block && k < 8; k++) o = pick(rng, layout.meta);
        if (o.block === t.block) o = layout.meta.find((x) => x.block !== t.block)!;
        m.other = o.block;
        m.otherTarget = o.kind;
        swapBlocks(image, t.block, o.block);
        touched.add(o.block);
        break;
      }
    }
    touched.add(t.block);
    mutations.push(m);
  }
  if (opts.reseal) reseal(image, layout, touched, mutations);
  return { image, mutations };
}

/** Re-signs every touched block, then every transaction checksum the touched blocks feed. */
function reseal(image: Uint8Array, layout: ImageLayout, touched: Set<number>, mutations: Mutation[]): void {
  const imageHome = new Map<number, number>();
  for (const t of layout.transactions) for (const im of t.images) imageHome.set(im.log, im.home);
  const done = new Set<number>();
  for (const b of touched) if (resealBlock(image, b, imageHome.get(b) ?? b)) done.add(b);
  for (const m of mutations) m.resealed = done.has(m.block) || (m.other !== undefined && done.has(m.other));
  for (const t of layout.transactions) if (t.blocks.some((b) => touched.has(b))) resealTransaction(image, t);
}

/** Recomputes transaction `t`'s tx_crc (over its log blocks' crc fields) and re-signs its
 * commit block; does nothing when the commit block lost its magic. */
function resealTransaction(image: Uint8Array, t: LogTransaction): void {
  let crc = 0;
  for (const b of t.blocks.slice(0, -1)) crc = crc32c(crc, blockOf(image, b).subarray(HDR_CRC, HDR_CRC + 4));
  const commit = t.blocks[t.blocks.length - 1];
  const dv = view(blockOf(image, commit));
  if (dv.getUint32(0, true) !== MAGIC_JCOMMIT) return;
  dv.setUint32(JC_TX_CRC, crc, true);
  resealBlock(image, commit);
}

// ---- file contents of the base image --------------------------------------------------------

/** Regular files named `<anything>~<hex key>` hold contentByte(key, offset) at every offset. */
const KEYED_NAME = /~([0-9a-f]+)$/;

/** Byte `off` of the content of key `key`: a hash of (key, off / 4), so zeros and shifted or
 * foreign blocks show up as mismatches. */
export function contentByte(key: number, off: number): number {
  let h = Math.imul(key ^ Math.imul(Math.floor(off / 4) + 1, 0x9e3779b1), 0x85ebca77);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return (h >>> (8 * (off & 3))) & 0xff;
}

/** `len` bytes of the content of key `key` starting at `off`. */
export function content(key: number, off: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = contentByte(key, off + i);
  return out;
}

/** Expanded contents by key, so checking a read costs a compare, not a hash per byte. */
const contentCache = new Map<number, Uint8Array>();
/** Bytes of the content of key `key` covering at least [0, len) (a cached expansion). */
function expectedContent(key: number, len: number): Uint8Array {
  let c = contentCache.get(key);
  if (!c || c.length < len) {
    if (contentCache.size > 4096) contentCache.clear(); // a bound for odd images with many keys
    c = content(key, 0, Math.max(len, 2 * (c?.length ?? 0), 4096));
    contentCache.set(key, c);
  }
  return c;
}

/** Index of the first i < n with got[i] != want[at + i], or -1. */
function firstMismatch(got: Uint8Array, want: Uint8Array, at: number, n: number): number {
  let i = 0;
  if (got.byteOffset % 4 === 0 && (want.byteOffset + at) % 4 === 0) {
    // word compares: reads come in aligned chunks, so this is the usual path
    const g = new Uint32Array(got.buffer, got.byteOffset, n >>> 2);
    const w = new Uint32Array(want.buffer, want.byteOffset + at, n >>> 2);
    while (i < g.length && g[i] === w[i]) i++;
    i <<= 2;
  }
  for (; i < n; i++) if (got[i] !== want[at + i]) return i;
  return -1;
}

/** The content key of a file name, or -1 for names without one. */
export function keyOfName(name: string): number {
  const m = KEYED_NAME.exec(name);
  return m ? parseInt(m[1], 16) : -1;
}

// ---- walking a mounted kernel ---------------------------------------------------------------

/** Limits of walkImage, so a walk ends in bounded time on any image. */
export interface WalkLimits {
  /** Directory entries visited in all (default 4000). */
  maxEntries?: number;
  /** Directory depth (default 24). */
  maxDepth?: number;
  /** Bytes read from one file (default 256 KiB). */
  maxFileBytes?: number;
  /** Skip the writes (create, write, rename, unlink, mkdir, sync): a read-only walk. */
  readOnly?: boolean;
  /** Skip fsck. */
  noFsck?: boolean;
  /** Called after every operation with its errno code (null: it succeeded); for debugging. */
  trace?: (op: string, path: string, code: string | null) => void;
}

/** What a walk met. */
export interface WalkResult {
  /** Operations attempted and how many failed. */
  ops: number;
  errors: number;
  /** errno names met (EUCLEAN, EIO, EROFS, ENOENT, ...) and how often. */
  codes: Record<string, number>;
  dirs: number;
  files: number;
  symlinks: number;
  bytesRead: number;
  /** Files whose bytes differ from their keyed content (see contentByte): data the kernel
   * returned that was never written to the file. */
  garbage: string[];
  /** fsck's problem count, or null when it did not run (or failed). */
  fsckProblems: number | null;
}

/** Read size of one readSync. */
const READ_CHUNK = 64 * 1024;

/** True for an error the fs or the kernel lifecycle returned with an errno code (not a panic). */
export function isFsError(e: unknown): e is Error & { code: string } {
  if (!(e instanceof Error) || e instanceof KernelPanic) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) && code !== "EKERNELPANIC";
}

/**
 * Exercises a mounted kernel the way a user would: readdir recursively, lstat every entry,
 * read every regular file (bounded; checking keyed contents), readlink and stat through every
 * symlink; then (unless limits.readOnly) mkdir, create, write, append, truncate, rename,
 * unlink, symlink, fsync and sync; then fsck. Errors with an errno code are counted; a
 * KernelPanic or any other exception propagates to the caller.
 */
export function walkImage(kernel: Kernel, limits: WalkLimits = {}): WalkResult {
  const maxEntries = limits.maxEntries ?? 4000;
  const maxDepth = limits.maxDepth ?? 24;
  const maxFileBytes = limits.maxFileBytes ?? 256 * 1024;
  const fs = kernel.fs;
  const res: WalkResult = { ops: 0, errors: 0, codes: {}, dirs: 0, files: 0, symlinks: 0, bytesRead: 0, garbage: [], fsckProblems: null };
  const trace = limits.trace;
  const attempt = <T>(what: string, path: string, op: () => T): T | undefined => {
    res.ops++;
    try {
      const v = op();
      trace?.(what, path, null);
      return v;
    } catch (e) {
      if (!isFsError(e)) throw e;
      res.errors++;
      res.codes[e.code] = (res.codes[e.code] ?? 0) + 1;
      trace?.(what, path, e.code);
      return undefined;
    }
  };
  const join = (d: string, n: string) => (d === "/" ? `/${n}` : `${d}/${n}`);
  const regular: string[] = [];
  const directories: string[] = [];
  const buf = new Uint8Array(READ_CHUNK);
  let entries = 0;

  const readFile = (p: string, size: number, key: number) => {
    const fd = attempt("open", p, () => fs.openSync(p, "r"));
    if (fd === undefined) return;
    try {
      let pos = 0;
      const limit = Math.min(size, maxFileBytes);
      while (pos < limit) {
        const n = attempt("read", String(fd), () => fs.readSync(fd, buf, 0, Math.min(READ_CHUNK, limit - pos), pos));
        if (n === undefined || n === 0) break;
        if (key >= 0) {
          const bad = firstMismatch(buf, expectedContent(key, pos + n), pos, n);
          if (bad >= 0) { res.garbage.push(`${p}@${pos + bad}`); break; }
        }
        res.bytesRead += n;
        pos += n;
      }
    } finally {
      attempt("close", String(fd), () => fs.closeSync(fd));
    }
  };

  const walk = (dir: string, depth: number) => {
    res.dirs++;
    directories.push(dir);
    const names = attempt("readdir", dir, () => fs.readdirSync(dir) as string[]);
    if (!names) return;
    for (const name of names) {
      if (++entries > maxEntries) return;
      const p = join(dir, name);
      const st = attempt("lstat", p, () => fs.lstatSync(p)!);
      if (!st) continue;
      if (st.isDirectory()) {
        if (depth < maxDepth) walk(p, depth + 1);
      } else if (st.isSymbolicLink()) {
        res.symlinks++;
        attempt("readlink", p, () => fs.readlinkSync(p));
        attempt("stat", p, () => fs.statSync(p));
      } else if (st.isFile()) {
        res.files++;
        regular.push(p);
        readFile(p, st.size, keyOfName(name));
      }
    }
  };
  walk("/", 0);
  attempt("statfs", "/", () => fs.statfsSync("/"));

  if (!limits.readOnly) {
    const data = content(0xf0220, 0, 20000);
    attempt("mkdir", "/fuzz.d", () => fs.mkdirSync("/fuzz.d"));
    attempt("writeFile", "/fuzz.d/small", () => fs.writeFileSync("/fuzz.d/small", data.subarray(0, 100)));
    attempt("writeFile", "/fuzz.big", () => fs.writeFileSync("/fuzz.big", data));
    const inDir = directories.find((d) => d !== "/") ?? "/";
    attempt("writeFile", join(inDir, "fuzz.n"), () => fs.writeFileSync(join(inDir, "fuzz.n"), data.subarray(0, 3000)));
    if (regular[0]) attempt("rename", regular[0], () => fs.renameSync(regular[0], join(inDir, "fuzz.renamed")));
    if (regular[1]) attempt("unlink", regular[1], () => fs.unlinkSync(regular[1]));
    if (regular[2]) {
      // keyed files stay keyed: the appended bytes continue the file's content
      const p = regular[2], key = keyOfName(p.slice(p.lastIndexOf("/") + 1));
      const st = attempt("stat", p, () => fs.statSync(p));
      if (st) attempt("appendFile", p, () => fs.appendFileSync(p, key >= 0 ? content(key, st.size, 5000) : data.subarray(0, 5000)));
    }
    if (regular[3]) {
      // shrink only: growing would add a hole, whose zeros are not the file's keyed content
      const st = attempt("stat", regular[3], () => fs.statSync(regular[3]));
      if (st) attempt("truncate", regular[3], () => fs.truncateSync(regular[3], Math.floor(st.size / 2)));
    }
    attempt("symlink", "/fuzz.l", () => fs.symlinkSync("/fuzz.d", "/fuzz.l"));
    attempt("rename", "/fuzz.d/small", () => fs.renameSync("/fuzz.d/small", "/fuzz.small"));
    const fd = attempt("open", "/fuzz.big", () => fs.openSync("/fuzz.big", "r+"));
    if (fd !== undefined) {
      attempt("write", String(fd), () => fs.writeSync(fd, data, 0, 4096, 8192));
      attempt("fsync", String(fd), () => fs.fsyncSync(fd));
      attempt("close", String(fd), () => fs.closeSync(fd));
    }
    attempt("rmdir", "/fuzz.d", () => fs.rmdirSync("/fuzz.d"));
    attempt("sync", "", () => fs.syncSync());
  }
  if (!limits.noFsck) {
    const problems = attempt("fsck", "", () => kernel.fsck(false));
    res.fsckProblems = problems ?? null;
  }
  return res;
}

// ---- one image, end to end ------------------------------------------------------------------

/** How an image ended. */
export type Outcome =
  | "mounted" // mounted read-write and stayed so through the walk
  | "mounted-ro" // mounted read-only, or errors were flagged (journal aborted) during the walk
  | "refused" // the mount failed with a KernelError and a one-line message
  | "unclear" // the mount failed, but not with a one-line KernelError message
  | "trap" // a KernelPanic (abort, assertion, wasm trap) or a wasm stack overflow
  | "crash"; // the host threw something that is neither a fs error nor a panic

/** The result of runImage. */
export interface ImageResult {
  seed: number;
  outcome: Outcome;
  /** The refusal's message, or the trap's / crash's message. */
  message?: string;
  /** Where it happened: mount, walk, unmount, remount, remount-walk. */
  phase?: string;
  mutations: Mutation[];
  /** errno names met over the whole run. */
  codes: Record<string, number>;
  readOnlyAtMount: boolean;
  /** The filesystem was flagged with errors (journal aborted) by the end of the walk. */
  errored: boolean;
  usedBackup: boolean;
  replayedTx: number;
  fsckProblems: number | null;
  garbage: string[];
  /** The second mount (after unmount) ended: mounted, mounted-ro, refused or skipped. */
  remount?: Outcome | "skipped";
  /** Kernel log lines "parent transid verify failed" over both mounts: stale metadata the
   * generation check caught (a KernelPanic ends the count where it happened). */
  transidErrors: number;
  ms: number;
}

/** Options of runImage. */
export interface RunOptions extends FuzzOptions {
  /** Kernel memory in MiB (default 32, the smallest the kernel boots with). */
  memoryMiB?: number;
  walk?: WalkLimits;
  /** Mount again after unmount and walk read-only (default true). */
  remount?: boolean;
  /** Receives kernel log lines. */
  log?: (line: string) => void;
}

/** What the kernel logs when a node's tid differs from its pointer's generation (fs/btree.ts). */
export const TRANSID_LOG = "parent transid verify failed";

/** Start of the deterministic clock: 2024-01-01T00:00:00Z in ns. */
const CLOCK_EPOCH_NS = 1_704_067_200_000_000_000n;
/** The deterministic clock advances this much per read (1 ms). */
const CLOCK_STEP_NS = 1_000_000n;

/**
 * Boots `module` on `device` with a deterministic clock (every read advances it 1 ms from a
 * fixed epoch), so the same image and calls produce the same bytes on every run. Mounts
 * unless noMount. Throws what boot and mount throw.
 */
export function bootDeterministic(module: WebAssembly.Module, device: MemoryBackend, opts: Omit<BootOptions, "device" | "module"> = {}): Kernel {
  let now = CLOCK_EPOCH_NS;
  const k = new Kernel((imports) => {
    (imports.env as Record<string, unknown>).clock_ns = () => (now += CLOCK_STEP_NS);
    return new WebAssembly.Instance(module, imports);
  }, device, { ...opts, device, module });
  try {
    if (opts.mkfs) k.mkfs();
    if (!opts.noMount) k.mount();
  } catch (e) {
    try { device.close(); } catch { /* already failing */ }
    throw e;
  }
  return k;
}

/** True for what a trap looks like from the host: a panic, a wasm trap, a wasm stack overflow. */
export function isTrap(e: unknown): boolean {
  return e instanceof KernelPanic || e instanceof WebAssembly.RuntimeError ||
    (e instanceof RangeError && /call stack/i.test(e.message));
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

function mergeCodes(into: Record<string, number>, from: Record<string, number>): void {
  for (const [c, n] of Object.entries(from)) into[c] = (into[c] ?? 0) + n;
}

/**
 * Fuzzes `base` with `seed`, boots `module` on the result, mounts, walks, unmounts, and (by
 * default) mounts and walks once more read-only; classifies the run. Never throws for
 * anything the kernel does: traps and host exceptions become outcomes.
 */
export function runImage(module: WebAssembly.Module, base: Uint8Array, seed: number, opts: RunOptions = {}): ImageResult {
  const t0 = performance.now();
  const { image, mutations } = fuzzImage(base, seed, opts);
  const r: ImageResult = {
    seed, outcome: "mounted", mutations, codes: {}, readOnlyAtMount: false, errored: false, usedBackup: false,
    replayedTx: 0, fsckProblems: null, garbage: [], transidErrors: 0, ms: 0,
  };
  const log = (line: string) => {
    if (line.includes(TRANSID_LOG)) r.transidErrors++;
    opts.log?.(line);
  };
  const memoryMiB = opts.memoryMiB ?? 32;
  let phase = "mount";
  let k: Kernel | null = null;
  try {
    try {
      k = bootDeterministic(module, new MemoryBackend(image), { memoryMiB, log });
    } catch (e) {
      if (e instanceof KernelError) {
        const oneLine = e.message.length > 0 && !/[\r\n]/.test(e.message);
        r.outcome = oneLine ? "refused" : "unclear";
        r.message = e.message;
        r.codes[e.code] = 1;
        r.phase = phase;
        r.ms = performance.now() - t0;
        return r;
      }
      throw e;
    }
    const info = k.info();
    r.readOnlyAtMount = info.readOnly !== 0 || info.errored !== 0;
    r.usedBackup = info.mountUsedBackup !== 0;
    r.replayedTx = info.mountReplayedTx;
    phase = "walk";
    const w = walkImage(k, opts.walk);
    mergeCodes(r.codes, w.codes);
    r.fsckProblems = w.fsckProblems;
    r.garbage = w.garbage;
    const after = k.info();
    r.errored = after.errored !== 0;
    r.outcome = r.readOnlyAtMount || r.errored || after.readOnly !== 0 ? "mounted-ro" : "mounted";
    phase = "unmount";
    try { k.shutdown(); } catch (e) { if (!isFsError(e)) throw e; r.codes[e.code] = (r.codes[e.code] ?? 0) + 1; }
    k = null;
    if (opts.remount === false) { r.remount = "skipped"; }
    else {
      phase = "remount";
      try {
        k = bootDeterministic(module, new MemoryBackend(image), { memoryMiB, log });
        phase = "remount-walk";
        const w2 = walkImage(k, { ...opts.walk, readOnly: true });
        mergeCodes(r.codes, w2.codes);
        r.garbage.push(...w2.garbage);
        const i2 = k.info();
        r.remount = i2.readOnly !== 0 || i2.errored !== 0 ? "mounted-ro" : "mounted";
        phase = "remount-unmount";
        try { k.shutdown(); } catch (e) { if (!isFsError(e)) throw e; r.codes[e.code] = (r.codes[e.code] ?? 0) + 1; }
        k = null;
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        r.remount = e.message.length > 0 && !/[\r\n]/.test(e.message) ? "refused" : "unclear";
        r.codes[e.code] = (r.codes[e.code] ?? 0) + 1;
        if (r.remount === "unclear") { r.outcome = "unclear"; r.message = e.message; r.phase = phase; }
      }
    }
  } catch (e) {
    r.outcome = isTrap(e) ? "trap" : "crash";
    r.message = errorText(e).split("\n")[0];
    r.phase = phase;
    if (k) try { k.backend.close(); } catch { /* already closed */ }
  }
  r.ms = performance.now() - t0;
  return r;
}

// ---- the base image -------------------------------------------------------------------------

/** Options of buildBaseImage. */
export interface BaseOptions {
  /** Device size in bytes (default 16 MiB). */
  sizeBytes?: number;
  /** Regular files created before the checkpoint (default 260). */
  files?: number;
  /** Seed of the population (default 1). */
  seed?: number;
  /**
   * Called after checkpoint `n` (0 .. 4) of the population, before the device is copied into
   * `history`, with the kernel: e.g. to take a snapshot, so the image holds shared nodes and
   * the snapshot trees. What it changes must keep the files' keyed contents.
   */
  afterCheckpoint?: (kernel: Kernel, n: number) => void;
}

/** What buildBaseImage made. */
export interface BaseImage {
  image: Uint8Array;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** Transactions committed after the last checkpoint (recovery replays them). */
  journalTransactions: number;
  /** Files unlinked while open at the crash (the next mount frees them). */
  orphans: number;
  /**
   * The device as it was after each checkpoint (sync) of the population, oldest first: the
   * same filesystem before more changes, where staleTable finds older versions of blocks.
   */
  history: Uint8Array[];
}

/** Largest file of the population in bytes. */
const BASE_FILE_MAX = 160 * 1024;
/** File sizes: about 40% inline (<= 1024 bytes), the rest extent files up to BASE_FILE_MAX. */
function baseFileSize(rng: Rng): number {
  const r = rng.below(100);
  if (r < 10) return 0;
  if (r < 40) return 1 + rng.below(1024);
  if (r < 75) return 1025 + rng.below(12 * 1024);
  if (r < 92) return 16 * 1024 + rng.below(48 * 1024);
  return 64 * 1024 + rng.below(BASE_FILE_MAX - 64 * 1024);
}

/**
 * Formats a memory device and populates it: nested directories, a large directory (its
 * dirent tree splits), regular files of mixed sizes (inline and extent files, some of them
 * grown in several commits so they have several extents), symlinks (short, long, dangling),
 * hard links; then sync (a checkpoint); then several transactions committed by fsync but not
 * checkpointed (creates, appends, renames, unlinks, rmdir, a truncate, a file unlinked while
 * open), and a power cut: the returned image is the device as it was then, so mounting it
 * replays the journal and frees an orphan; `history` keeps the device after each sync. Every
 * regular file is named `...~<hex key>` and holds content(key, 0, size). Deterministic for a
 * given module and options.
 */
export function buildBaseImage(module: WebAssembly.Module, opts: BaseOptions = {}): BaseImage {
  const size = opts.sizeBytes ?? 16 * 1024 * 1024;
  const rng = new Rng(opts.seed ?? 1);
  const dev = new MemoryBackend(size);
  const k = bootDeterministic(module, dev, { mkfs: true, memoryMiB: 64 });
  const fs = k.fs;
  let key = 1;
  const out: BaseImage = { image: new Uint8Array(0), files: 0, dirs: 0, symlinks: 0, hardlinks: 0, journalTransactions: 0, orphans: 0, history: [] };
  const checkpoint = () => {
    fs.syncSync();
    if (opts.afterCheckpoint) { opts.afterCheckpoint(k, out.history.length); fs.syncSync(); }
    out.history.push(dev.bytes.slice());
  };
  const dirs: string[] = ["/"];
  const mkdir = (p: string) => { fs.mkdirSync(p); dirs.push(p); out.dirs++; };
  for (let i = 0; i < 10; i++) {
    mkdir(`/d${i}`);
    const subdirs = rng.below(3);
    for (let j = 0; j < subdirs; j++) mkdir(`/d${i}/s${j}`);
  }
  mkdir("/deep");
  let p = "/deep";
  for (let i = 0; i < 6; i++) { p += `/level${i}`; mkdir(p); }
  mkdir("/big");
  const files: { path: string; key: number; size: number }[] = [];
  const nfiles = opts.files ?? 260;
  for (let i = 0; i < nfiles; i++) {
    // a third of the files go to /big so its dirent tree has several leaves
    const dir = i % 3 === 0 ? "/big" : dirs[rng.below(dirs.length)];
    const name = `${dir === "/big" ? "entry-with-a-longer-name-" : "f"}${i}~${key.toString(16)}`;
    const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
    const sz = baseFileSize(rng);
    fs.writeFileSync(path, content(key, 0, sz));
    files.push({ path, key, size: sz });
    key++;
    out.files++;
  }
  // files grown over several commits: several extents each
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 6; i++) {
      const f = files[i * 7 + 1];
      fs.appendFileSync(f.path, content(f.key, f.size, 6000));
      f.size += 6000;
    }
    checkpoint();
  }
  for (let i = 0; i < 30; i++) {
    const target = i % 5 === 0 ? `/nowhere/${"x".repeat(i * 11)}` : i % 3 === 0 ? dirs[rng.below(dirs.length)] : files[rng.below(files.length)].path;
    fs.symlinkSync(target, `${dirs[rng.below(dirs.length)]}/l${i}`.replace("//", "/"));
    out.symlinks++;
  }
  for (let i = 0; i < 10; i++) {
    const f = files[rng.below(files.length)];
    fs.linkSync(f.path, `/d${i}/hard${i}~${f.key.toString(16)}`);
    out.hardlinks++;
  }
  fs.mkdirSync("/gone"); // removed by a journaled transaction below (kept empty)
  out.dirs++;
  checkpoint(); // everything so far is home

  const infoBefore = k.info();
  // fsync of a file commits the whole running transaction (compound transactions)
  const commit = (path: string) => { const fd = fs.openSync(path, "r"); fs.fsyncSync(fd); fs.closeSync(fd); out.journalTransactions++; };
  // tx 1: creates in a new directory
  fs.mkdirSync("/j");
  for (let i = 0; i < 5; i++) {
    const sz = i * 3000;
    fs.writeFileSync(`/j/new${i}~${key.toString(16)}`, content(key, 0, sz));
    key++;
  }
  commit(`/j/new4~${(key - 1).toString(16)}`);
  // tx 2: appends (new extents), a rename across directories
  for (let i = 0; i < 3; i++) {
    const f = files[i * 11 + 2];
    fs.appendFileSync(f.path, content(f.key, f.size, 9000));
    f.size += 9000;
  }
  const moved = files[5];
  const movedTo = `/j/${moved.path.split("/").pop()}`;
  fs.renameSync(moved.path, movedTo);
  moved.path = movedTo;
  commit(movedTo);
  // tx 3: unlinks, an rmdir, a symlink, a truncate
  for (let i = 0; i < 3; i++) fs.unlinkSync(files[30 + i].path);
  fs.rmdirSync("/gone");
  fs.symlinkSync("/j", "/d0/to-j");
  const shrunk = files.find((f, i) => i > 40 && f.size > 20000)!;
  fs.truncateSync(shrunk.path, 5000);
  shrunk.size = 5000;
  commit(shrunk.path);
  // tx 4: a file unlinked while open (an orphan at the crash)
  const orphan = files.find((f, i) => i > 50 && f.size > 8192)!;
  const ofd = fs.openSync(orphan.path, "r");
  fs.unlinkSync(orphan.path);
  out.orphans++;
  const last = `/j/last~${key.toString(16)}`;
  fs.writeFileSync(last, content(key, 0, 777));
  key++;
  commit(last);
  const infoAfter = k.info();
  if (infoAfter.checkpoints !== infoBefore.checkpoints || infoAfter.journalHead <= 1) {
    throw new Error(`buildBaseImage: the journal phase checkpointed (checkpoints ${infoBefore.checkpoints} -> ${infoAfter.checkpoints}); use a larger image`);
  }
  // power cut: the device as it is now; the kernel is abandoned without unmounting
  out.image = dev.bytes.slice();
  fs.closeSync(ofd);
  dev.close();
  return out;
}
