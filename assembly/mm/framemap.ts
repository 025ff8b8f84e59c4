// mm/framemap.ts -- who owns each frame of physical memory, one byte per 4 KiB frame.
//
// Layer: beside buddy.ts and slab.ts; reads the frame table and changes nothing. The browser
// demo's memory view draws the bytes as a strip (host/vmm/kernel.ts Kernel.frameMap).
// Interface: frame_map(out, cap) -> frames written; free_area_stats(out) -> u32 written.
// Rules: one pass over the frame table, whole blocks at a time (a free or allocated block's
// head says what all its 2^order frames are), so the cost is O(blocks), at most nr_frames
// steps; no allocation, no list walk but the bounded ones in free_area_stats.
//
// Owner codes (FM_*, one byte per frame; the host's FRAME_OWNERS table mirrors them):
//
//   code        frame                              told from (struct page of the block head)
//   0, 1, 2     free on the buddy lists, by the    PG_buddy, mt
//               block's migratetype (unmovable,
//               movable, reclaimable)
//   3           free on a per-CPU list             flags 0, not allocated (astate 0)
//   4           reserved: the frame table          PG_reserved
//   5           other kernel allocation            allocated, no owner flag or tag
//   6           kmalloc large (> 2 KiB)            mapping == KMALLOC_LARGE_MARK
//   7           argument area / transfer buffer    owner tag PG_OWNER_XFER
//   8           system hash tables                 owner tag PG_OWNER_HASH
//   9           journal scratch / replay frames    owner tag PG_OWNER_JOURNAL
//   10          virtqueue rings                    owner tag PG_OWNER_VIRTQUEUE
//   16          file page, clean                   PG_cache, mapping = ino != 0
//   17          file page, dirty or delalloc       + PG_dirty | PG_delalloc
//   18          metadata buffer, clean             PG_cache, mapping 0
//   19          buffer in the running transaction  + PG_jdirty
//   20          buffer committed, not checkpointed + PG_checkpoint
//   128 + i     slab of kmem_cache index i         PG_slab, mapping = cache
//   255         unknown (a frame in no state above: never expected; the tests assert it)
//
// The kernel image and static data sit below phys_base, outside the frame table: the map
// covers pfn 0 .. nr_frames-1 only (free_area_stats reports phys_base for the host).

import { MAX_ORDER } from "../params";
import {
  PG_FLAGS, PG_MAPPING, PG_ASTATE, PG_ASTATE_ALLOC, PG_OWNER, PG_buddy, PG_reserved, PG_slab, PG_cache,
  PG_dirty, PG_delalloc, PG_jdirty, PG_checkpoint, PG_OWNER_XFER, PG_OWNER_HASH, PG_OWNER_JOURNAL,
  PG_OWNER_VIRTQUEUE, MIGRATE_TYPES, pfn_to_page, nr_frames, max_frames, phys_base,
} from "./page";
import {
  nr_free_blocks_mt, nr_pcp_frames_mt, nr_pageblocks_mt, nr_reserved_pages, nr_free_pages, PAGEBLOCK_ORDER,
} from "./buddy";
import { KMALLOC_LARGE_MARK, slab_cache_index_of, KMEM_CACHES_MAX } from "./slab";

export const FM_FREE: u8 = 0; // + migratetype
export const FM_FREE_PCP: u8 = 3;
export const FM_RESERVED: u8 = 4;
export const FM_KERNEL: u8 = 5;
export const FM_KMALLOC_LARGE: u8 = 6;
export const FM_XFER: u8 = 7;
export const FM_HASH: u8 = 8;
export const FM_JOURNAL: u8 = 9;
export const FM_VIRTQUEUE: u8 = 10;
export const FM_FILE_CLEAN: u8 = 16;
export const FM_FILE_DIRTY: u8 = 17;
export const FM_BUFFER_CLEAN: u8 = 18;
export const FM_BUFFER_RUNNING: u8 = 19;
export const FM_BUFFER_CHECKPOINT: u8 = 20;
export const FM_SLAB: u8 = 128; // + kmem_cache index (< KMEM_CACHES_MAX = 128)
export const FM_UNKNOWN: u8 = 255;

/** The owner code of the allocated block headed by `page` (struct page address). */
function owner_of(page: usize, flags: u32): u8 {
  if (flags & PG_slab) {
    const idx = slab_cache_index_of(<usize>load<u32>(page, PG_MAPPING));
    return idx < KMEM_CACHES_MAX ? FM_SLAB + <u8>idx : FM_UNKNOWN;
  }
  if (flags & PG_cache) {
    if (load<u32>(page, PG_MAPPING) != 0) return (flags & (PG_dirty | PG_delalloc)) != 0 ? FM_FILE_DIRTY : FM_FILE_CLEAN;
    if (flags & PG_jdirty) return FM_BUFFER_RUNNING;
    return (flags & PG_checkpoint) != 0 ? FM_BUFFER_CHECKPOINT : FM_BUFFER_CLEAN;
  }
  if (load<u32>(page, PG_MAPPING) == KMALLOC_LARGE_MARK) return FM_KMALLOC_LARGE;
  switch (load<u8>(page, PG_OWNER)) {
    case PG_OWNER_XFER: return FM_XFER;
    case PG_OWNER_HASH: return FM_HASH;
    case PG_OWNER_JOURNAL: return FM_JOURNAL;
    case PG_OWNER_VIRTQUEUE: return FM_VIRTQUEUE;
    default: return FM_KERNEL;
  }
}

/**
 * Writes one owner byte (FM_*) per present frame, pfn 0 first, at `out`. Returns the frames
 * written (nr_frames), or -1 when `cap` bytes cannot hold them (nothing written; the caller
 * maps it to -EINVAL). O(blocks) <= nr_frames steps.
 */
export function frame_map(out: usize, cap: u32): i32 {
  const n = nr_frames;
  if (cap < n) return -1;
  let p: u32 = 0;
  while (p < n) { // every step covers >= 1 frame
    const page = pfn_to_page(p);
    const w = load<u64>(page, PG_FLAGS);
    const flags = <u32>w;
    const order = min<u32>(<u32>(w >> 32) & 0xff, MAX_ORDER - 1);
    let code: u8 = FM_UNKNOWN;
    let len: u32 = 1;
    if (flags & PG_reserved) {
      code = FM_RESERVED;
    } else if (flags & PG_buddy) {
      const mt = <u32>(w >> 40) & 0xff;
      code = mt < <u32>MIGRATE_TYPES ? FM_FREE + <u8>mt : FM_UNKNOWN;
      len = 1 << order;
    } else if (load<u8>(page, PG_ASTATE) == PG_ASTATE_ALLOC) {
      code = owner_of(page, flags);
      len = 1 << order;
    } else if (flags == 0) {
      code = FM_FREE_PCP; // tails are skipped with their head, so a lone flagless frame is on a pcp list
    }
    if (len == 1) { // most frames: order-0 cache pages and pcp frames
      store<u8>(out + p, code);
      p++;
      continue;
    }
    len = min(len, n - p);
    memory.fill(out + p, code, len);
    p += len;
  }
  return <i32>n;
}

/** u32 words free_area_stats writes. */
export const FREE_AREA_WORDS: u32 = 8 + MAX_ORDER * <u32>MIGRATE_TYPES + 2 * <u32>MIGRATE_TYPES;

/**
 * Writes FREE_AREA_WORDS u32 at `out` (Linux /proc/pagetypeinfo):
 *
 *   0          4          8        12        16         20       24         28       32
 *   +----------+----------+--------+---------+----------+--------+----------+--------+
 *   | phys_base| nr_frames| max_frm| reserved| free all | orders | mtypes   | pb_order|
 *   +----------+----------+--------+---------+----------+--------+----------+--------+
 *   32: blocks[order][mt]  MAX_ORDER x MIGRATE_TYPES u32 (free blocks on the buddy lists)
 *   then pcp[mt]           MIGRATE_TYPES u32 (frames on all CPUs' per-CPU lists)
 *   then pageblocks[mt]    MIGRATE_TYPES u32 (pageblocks of each type)
 *
 * free all = nr_free_pages (buddy + pcp). Returns FREE_AREA_WORDS.
 */
export function free_area_stats(out: usize): i32 {
  store<u32>(out, <u32>phys_base);
  store<u32>(out, nr_frames, 4);
  store<u32>(out, max_frames, 8);
  store<u32>(out, nr_reserved_pages(), 12);
  store<u32>(out, nr_free_pages(), 16);
  store<u32>(out, MAX_ORDER, 20);
  store<u32>(out, <u32>MIGRATE_TYPES, 24);
  store<u32>(out, PAGEBLOCK_ORDER, 28);
  let q = out + 32;
  for (let o: u32 = 0; o < MAX_ORDER; o++) {
    for (let mt: u8 = 0; mt < MIGRATE_TYPES; mt++) { store<u32>(q, nr_free_blocks_mt(o, mt)); q += 4; }
  }
  for (let mt: u8 = 0; mt < MIGRATE_TYPES; mt++) { store<u32>(q, nr_pcp_frames_mt(mt)); q += 4; }
  for (let mt: u8 = 0; mt < MIGRATE_TYPES; mt++) { store<u32>(q, nr_pageblocks_mt(mt)); q += 4; }
  if (!ASC_NO_ASSERT) assert(q == out + (<usize>FREE_AREA_WORDS << 2));
  return <i32>FREE_AREA_WORDS;
}
