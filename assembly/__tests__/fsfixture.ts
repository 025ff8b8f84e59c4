// fsfixture.ts -- shared set-up for the fs-layer specs (btree, alloc, journal); not a spec.
//
// Boots the pieces of the kernel the fs needs inside an as-pect module: physical memory is a
// heap.alloc block handed to mm_init (as in buddy.spec.ts), the virtio-blk driver's rings are
// handed to the JS device of as-pect.config.js (a Uint8Array, one per spec file), then
// mkfs + mount. Also: a seeded PRNG, the device snapshot/trace imports, a test file whose
// extent records make blocks the tests own visible to fsck, and a walk that marks every block
// the filesystem itself uses (tree nodes, AGFL, superblocks, journal, deferred frees).

import { PAGE_SIZE, SECTORS_PER_BLOCK, BLOCK_SIZE } from "../params";
import { mm_init } from "../mm/buddy";
import { crc32c_init } from "../lib/crc32c";
import { virtio_blk_setup, blk_ring_desc, blk_ring_avail, blk_ring_used } from "../dev/virtio_blk";
import { fs_mkfs, fs_mount, fs_umount, fs_mounted } from "../fs/super";
import {
  MAGIC_SUPER, MAGIC_BTREE, SB_TOTAL_BLOCKS, SB_JOURNAL_START, SB_JOURNAL_BLOCKS, SB_AGFL_COUNT,
  SB_AGFL, TREE_COUNT, ROOT_INO,
} from "../fs/format";
import { bread } from "../fs/pagecache";
import { bt_root, bt_height, nitems, nlevel, ichild } from "../fs/btree";
import { alloc_deferred_count, alloc_deferred_start, alloc_deferred_len } from "../fs/alloc";
import { inode_create, inode_get_mut, I_FLAGS, I_SIZE, S_IFREG } from "../fs/inode";
import { dir_add, DT_REG } from "../fs/dir";

// ---- the JS device (as-pect.config.js) ---------------------------------------------------------
@external("helix_test", "dev_attach")
export declare function dev_attach(desc: usize, avail: usize, used: usize, sectors: u32): void;
@external("helix_test", "dev_snapshot")
export declare function dev_snapshot(slot: i32): void;
@external("helix_test", "dev_restore")
export declare function dev_restore(slot: i32): void;
@external("helix_test", "dev_drop")
export declare function dev_drop(slot: i32): void;
/** -1 when the two snapshots are byte-identical, else the first block that differs. */
@external("helix_test", "dev_equal")
export declare function dev_equal(a: i32, b: i32): i32;
@external("helix_test", "dev_trace_start")
export declare function dev_trace_start(): void;
@external("helix_test", "dev_trace_stop")
export declare function dev_trace_stop(): void;
@external("helix_test", "dev_trace_len")
export declare function dev_trace_len(): i32;
/** Block written by trace entry `i`, or -1 for a FLUSH. */
@external("helix_test", "dev_trace_blk")
export declare function dev_trace_blk(i: i32): i32;
@external("helix_test", "dev_trace_apply")
export declare function dev_trace_apply(i: i32): void;
@external("helix_test", "dev_writes")
export declare function dev_writes(): i32;
@external("helix_test", "dev_flushes")
export declare function dev_flushes(): i32;

// ---- boot --------------------------------------------------------------------------------------

const MIB: usize = 1 << 20;
/** Physical memory of the test kernel. */
export const PHYS_BYTES: usize = 96 * MIB;
let booted = false;

/** mm + virtio once per module, then mkfs and mount a fresh device of `blocks` 4 KiB blocks. */
export function fs_fresh(blocks: u32): void {
  if (!booted) {
    crc32c_init();
    const region = heap.alloc(PHYS_BYTES + PAGE_SIZE);
    mm_init(region, region + PHYS_BYTES + PAGE_SIZE, region + PHYS_BYTES + PAGE_SIZE);
    booted = true;
  }
  if (fs_mounted) assert(fs_umount() == 0, "umount before mkfs");
  const sectors = blocks * SECTORS_PER_BLOCK;
  assert(virtio_blk_setup(<u64>sectors, 256) == 0, "virtio_blk_setup");
  dev_attach(blk_ring_desc(), blk_ring_avail(), blk_ring_used(), sectors);
  const r = fs_mkfs(0, 0);
  assert(r == 0, "fs_mkfs");
  assert(fs_mount(1) == 0, "fs_mount");
}

// ---- PRNG (xorshift64*, seeded: every trace is reproducible) -----------------------------------

let rng_state: u64 = 0x9e3779b97f4a7c15;
export function rng_seed(s: u64): void { rng_state = s == 0 ? 0x9e3779b97f4a7c15 : s; }
export function rnd64(): u64 {
  let x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545f4914f6cdd1d;
}
export function rnd(n: u32): u32 { return <u32>((rnd64() >> 32) % <u64>n); }

// ---- a regular file whose extent records the tests own -----------------------------------------

const NAME: usize = memory.data(64);

/**
 * Creates regular file `/<prefix><n>` with extents (not inline) and a huge size, so that
 * extent records (ino, fblock) -> (disk u64, len u32, flags u32) the test inserts in
 * TREE_EXTENT pass fsck once I_BLOCKS is kept equal to the blocks they cover.
 */
export function make_extent_file(n: u32): u64 {
  store<u8>(NAME, 0x74); // 't'
  let len: u32 = 1;
  let d: u32 = 1000000;
  while (d > 0) { store<u8>(NAME + len++, <u8>(0x30 + (n / d) % 10)); d /= 10; }
  const ino = inode_create(S_IFREG | 0o644, 0, 0, 1, ROOT_INO);
  assert(ino != 0, "inode_create");
  assert(dir_add(ROOT_INO, NAME, len, ino, DT_REG) == 0, "dir_add");
  const rec = inode_get_mut(ino);
  assert(rec != 0);
  store<u32>(rec, 0, I_FLAGS);
  store<u64>(rec, <u64>1 << 40, I_SIZE);
  return ino;
}

// ---- blocks the filesystem itself uses ----------------------------------------------------------

/** Marks every node of `tree` in the byte map `map` (1 byte per block). Returns nodes seen. */
export function mark_tree(tree: u32, map: usize): u32 {
  // iterative DFS with an explicit stack of (block) per level
  const STACK: usize = memory.data(8 * 4096);
  let sp: u32 = 0;
  store<u64>(STACK, bt_root(tree));
  sp = 1;
  let count: u32 = 0;
  while (sp > 0) {
    sp--;
    const blk = load<u64>(STACK + (<usize>sp << 3));
    const n = bread(blk, MAGIC_BTREE);
    assert(n != 0, "mark_tree: unreadable node");
    store<u8>(map + <usize>blk, 1);
    count++;
    if (nlevel(n) > 0) {
      const k = nitems(n);
      for (let i: u32 = 0; i < k; i++) {
        assert(sp < 4096);
        store<u64>(STACK + (<usize>sp << 3), ichild(n, i));
        sp++;
      }
    }
  }
  return count;
}

/**
 * Fills `map` (one byte per block, `total` blocks): 1 for every block the filesystem uses for
 * itself: superblock, backup, journal, tree nodes of all trees, AGFL, deferred frees.
 */
export function mark_fs_metadata(map: usize, total: u64): void {
  memory.fill(map, 0, <usize>total);
  const sb = bread(0, MAGIC_SUPER);
  assert(sb != 0);
  assert(load<u64>(sb, SB_TOTAL_BLOCKS) == total, "mark_fs_metadata: total");
  store<u8>(map, 1);
  store<u8>(map + <usize>(total - 1), 1);
  const js = load<u64>(sb, SB_JOURNAL_START);
  const jb = load<u32>(sb, SB_JOURNAL_BLOCKS);
  memory.fill(map + <usize>js, 1, jb);
  const agfl = load<u32>(sb, SB_AGFL_COUNT);
  for (let i: u32 = 0; i < agfl; i++) store<u8>(map + <usize>load<u64>(sb + SB_AGFL + (<usize>i << 3)), 1);
  for (let t: u32 = 0; t < TREE_COUNT; t++) mark_tree(t, map);
  for (let i: u32 = 0; i < alloc_deferred_count(); i++) {
    memory.fill(map + <usize>alloc_deferred_start(i), 1, <usize>alloc_deferred_len(i));
  }
}

export { BLOCK_SIZE };
