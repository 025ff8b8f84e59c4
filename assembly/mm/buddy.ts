// mm/buddy.ts -- the page allocator: binary buddy system over the frames of physical memory.
//
// Layer: above the frame table (page.ts), below slab.ts and every user of whole frames.
// Interface: mm_init / mm_hotplug / mm_set_hotplug / mm_frame_table_bytes;
// alloc_pages(order, mt) -> pfn | NO_PFN, free_pages(pfn, order); alloc_page / free_page for
// order 0 through per-CPU lists, mm_drain_pcp; statistics (nr_free_pages, nr_total_pages,
// nr_free_blocks[_mt], fragmentation_index, mm_event_count) and mm_verify().
//
// Design (Linux mm/page_alloc.c, simplified to one zone):
//  - free_area[order][migratetype]: doubly linked lists of free blocks threaded through the
//    struct page lru links of each block's first frame (PG_buddy, order and mt set on it).
//    A per-migratetype bitmap of non-empty orders finds the smallest fitting block in O(1).
//  - __rmqueue_smallest splits a larger block and puts the upper halves back ("expand");
//    __free_one_page merges a freed block with its buddy (pfn ^ 1 << order) while the buddy
//    is a free block of the same order.
//  - Anti-fragmentation: memory is cut into pageblocks of 2^PAGEBLOCK_ORDER frames, each with
//    a migratetype (all start MIGRATE_MOVABLE, as in Linux's memmap_init). When a type's lists
//    are empty the allocator falls back (fallbacks[] below): it first tries to claim a whole
//    pageblock of another type, taking the largest free block first (__rmqueue_claim,
//    can_steal_fallback, try_to_claim_block), and otherwise steals the smallest suitable
//    block without changing its pageblock's type (__rmqueue_steal).
//  - Per-CPU page lists (pcp) for order 0, one per CPU and migratetype, refilled from and
//    drained to the buddy lists PCP_BATCH frames at a time (rmqueue_bulk,
//    free_pcppages_bulk), so an order-0 alloc+free pair is a list pop and a list push.
//  - Exhaustion: drain the pcp lists of all CPUs, then (when enabled) grow linear memory by
//    HOTPLUG_CHUNK bytes and hot-add the new frames; only then return NO_PFN. Never traps.
//
// Invariants (checked by mm_verify):
//  - a frame is in exactly one state: reserved (PG_reserved), head of a free buddy block
//    (PG_buddy; its tail frames carry no PG_buddy), on a pcp list (flags 0), head of an
//    allocated block (astate = PG_ASTATE_ALLOC, order = the block's order; PG_head is set
//    for the owner's information), or tail of one; astate is 0 on every frame but the heads
//    of allocated blocks;
//  - every free block of order o is aligned to 2^o frames, lies below nr_frames, and sits on
//    free_area[o][mt] where mt is its pageblock's migratetype (PAGEBLOCK_ORDER = MAX_ORDER-1,
//    so a block never spans two pageblocks);
//  - nr_free == sum over the lists of 2^order; the non-empty bitmap matches the counts.
//
// Memory map (addresses in linear memory; pfn 0 is the first frame of the region):
//
//   0 ........... kernel image, static data, runtime stub heap      (not ours)
//   phys_base ... frame table: max_frames * 64-byte struct page      (PG_reserved frames)
//   ............. frames pfn nr_reserved .. nr_frames-1              (buddy allocator)
//   phys end .... memory.grow hot-adds frames up to max_frames       (mm_hotplug)
//
// free_pages recognises an allocated block by the mm-private astate byte of its head struct
// page (page.ts), not by `flags`: owners may rewrite flags (the page cache does), and double
// frees and frees of frames that were never allocated are still caught.

import { MAX_ORDER, NR_CPUS, PAGE_SHIFT, PAGE_SIZE, PAGE_STRUCT_SIZE } from "../params";
import {
  NO_PFN, PG_FLAGS, PG_LRU_NEXT, PG_LRU_PREV, PG_MAPPING, PG_PRIVATE, PG_ASTATE, PG_ASTATE_ALLOC,
  PG_OWNER, PG_OWNER_HASH,
  PG_buddy, PG_head, PG_reserved, PG_slab,
  MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_TYPES,
  frame_table_setup, frame_table_grow, pfn_to_page, pfn_to_addr, phys_base, nr_frames, max_frames, frame_table,
} from "./page";
import { pfn_list_add, pfn_list_del } from "./list";
import { mm_bug } from "./bug";
import { current_cpu, kmem_cache_init } from "./slab";

// ---------------------------------------------------------------------------------------------
// Limits

/** Pageblock: the unit of migratetype bookkeeping, 2^10 frames = 4 MiB (MAX_ORDER-1). */
export const PAGEBLOCK_ORDER: u32 = MAX_ORDER - 1;
export const PAGEBLOCK_NR: u32 = 1 << PAGEBLOCK_ORDER;
/** Frames addressable by a wasm32 linear memory (4 GiB / 4 KiB). */
export const FRAMES_MAX: u32 = 1 << 20;
/** Pageblocks addressable: FRAMES_MAX / PAGEBLOCK_NR. */
export const PAGEBLOCKS_MAX: u32 = FRAMES_MAX >> PAGEBLOCK_ORDER;
/** Frames moved between a pcp list and the buddy lists at once (Linux pcp->batch). */
export const PCP_BATCH: u32 = 32;
/** A pcp list reaching this length spills PCP_BATCH frames to the buddy lists (Linux
 *  pcp->high). At most NR_CPUS * MIGRATE_TYPES * PCP_HIGH frames sit on pcp lists. */
export const PCP_HIGH: u32 = 4 * PCP_BATCH;
/** Bytes by which memory hotplug grows linear memory at least (a multiple of 64 KiB). */
export const HOTPLUG_CHUNK: u32 = 16 << 20;
/** Highest linear-memory end hotplug will grow to (4 GiB minus one 64 KiB wasm page). */
export const LINEAR_MEMORY_MAX: usize = 0xffff0000;
/** Rounds of drain-or-grow the allocation slow path tries before returning NO_PFN. */
export const SLOWPATH_ROUNDS_MAX: u32 = 4;
/** Fallback migratetypes tried per requested type. */
const FALLBACKS_NR: u32 = 2;

// Event counters (Linux vmstat events), read with mm_event_count(MM_EV_*). They count slow
// paths only, so the fast paths stay a list pop and push.
/** pcp list refilled from the buddy lists (rmqueue_bulk). */
export const MM_EV_PCP_REFILL: u32 = 0;
/** pcp list spilled PCP_BATCH frames to the buddy lists (above PCP_HIGH). */
export const MM_EV_PCP_SPILL: u32 = 1;
/** all pcp lists drained by the allocation slow path. */
export const MM_EV_PCP_DRAIN_ALL: u32 = 2;
/** a pageblock of another migratetype claimed by a fallback allocation. */
export const MM_EV_FALLBACK_CLAIM: u32 = 3;
/** a block stolen from another migratetype without claiming its pageblock. */
export const MM_EV_FALLBACK_STEAL: u32 = 4;
/** linear memory grown and hot-added by the slow path. */
export const MM_EV_HOTPLUG_GROW: u32 = 5;
/** allocations that returned NO_PFN. */
export const MM_EV_ALLOC_FAIL: u32 = 6;
export const MM_EV_NR: u32 = 7;

// ---------------------------------------------------------------------------------------------
// Static state (kernel image data, never the managed heap)
//
// free_area (Linux struct free_area, split by field), index i = order * MIGRATE_TYPES + mt:
//
//   FREE_HEAD  [MAX_ORDER * MIGRATE_TYPES] u32   first pfn of the list, NO_PFN when empty
//   FREE_COUNT [MAX_ORDER * MIGRATE_TYPES] u32   blocks on the list
//   FREE_MASK  [MIGRATE_TYPES]             u32   bit o set <=> FREE_COUNT[o][mt] > 0
//
// per-CPU page lists (Linux struct per_cpu_pages), one 8-byte record per (cpu, mt):
//
//   PCP + ((cpu * MIGRATE_TYPES + mt) << 3):
//   0        4        8
//   +--------+--------+
//   | head   | count  |     head: pfn, singly linked through PG_LRU_NEXT, NO_PFN = empty
//   +--------+--------+
//
// PAGEBLOCK_MT [PAGEBLOCKS_MAX] u8: migratetype of each pageblock (Linux pageblock_flags).

const FREE_LISTS: u32 = MAX_ORDER * <u32>MIGRATE_TYPES;
const FREE_HEAD: usize = memory.data(<i32>(FREE_LISTS * 4), 16);
const FREE_COUNT: usize = memory.data(<i32>(FREE_LISTS * 4), 16);
const FREE_MASK: usize = memory.data(<i32>(<u32>MIGRATE_TYPES * 4), 16);
const PCP_RECORD: u32 = 8;
const PCP_COUNT: usize = 4;
const PCP: usize = memory.data(<i32>(NR_CPUS * <u32>MIGRATE_TYPES * PCP_RECORD), 16);
const PAGEBLOCK_MT: usize = memory.data(<i32>PAGEBLOCKS_MAX, 16);
const EVENTS: usize = memory.data(<i32>(MM_EV_NR * 4), 16);
/** fallbacks[mt][i] (Linux mm/page_alloc.c fallbacks[]). */
const FALLBACKS: usize = memory.data<u8>([
  MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE, // for MIGRATE_UNMOVABLE
  MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, // for MIGRATE_MOVABLE
  MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, // for MIGRATE_RECLAIMABLE
]);

/** Frames on the buddy free lists (not counting pcp lists). */
let nr_free: u32 = 0;
/** Frames never allocatable: the frame table. */
let nr_reserved: u32 = 0;
/** End address of the most physical memory the frame table describes. */
let phys_max_end: usize = 0;
let hotplug_enabled: bool = false;
let hotplug_limit: usize = 0;

// ---------------------------------------------------------------------------------------------
// struct page helpers. The first 8 bytes of a struct page are flags u32, order u8, mt u8,
// count u16: one u64 store sets a frame's state.

@inline function count_event(ev: u32): void {
  store<u32>(EVENTS + (<usize>ev << 2), load<u32>(EVENTS + (<usize>ev << 2)) + 1);
}

@inline function page_word(flags: u32, order: u32, mt: u32): u64 {
  return <u64>flags | (<u64>order << 32) | (<u64>mt << 40);
}
@inline function word_order(w: u64): u32 { return <u32>(w >> 32) & 0xff; }
@inline function word_mt(w: u64): u32 { return <u32>(w >> 40) & 0xff; }

@inline function free_index(order: u32, mt: u32): usize {
  return <usize>(order * <u32>MIGRATE_TYPES + mt) << 2;
}
@inline function pcp_list(cpu: u32, mt: u32): usize {
  return PCP + (<usize>(cpu * <u32>MIGRATE_TYPES + mt) << 3);
}
@inline function pageblock_mt(pfn: u32): u32 {
  return load<u8>(PAGEBLOCK_MT + (pfn >> PAGEBLOCK_ORDER));
}
@inline function set_pageblock_mt(pfn: u32, mt: u32): void {
  store<u8>(PAGEBLOCK_MT + (pfn >> PAGEBLOCK_ORDER), <u8>mt);
}
@inline function fallback_mt(mt: u32, i: u32): u32 {
  return load<u8>(FALLBACKS + mt * FALLBACKS_NR + i);
}

/** Puts free block (pfn, order) on free_area[order][mt] and marks its head PG_buddy. */
@inline function add_to_free_area(pfn: u32, order: u32, mt: u32): void {
  assert((pfn & ((1 << order) - 1)) == 0 && pfn + (1 << order) <= nr_frames);
  store<u64>(pfn_to_page(pfn), page_word(PG_buddy, order, mt), PG_FLAGS);
  let i = free_index(order, mt);
  pfn_list_add(FREE_HEAD + i, pfn);
  store<u32>(FREE_COUNT + i, load<u32>(FREE_COUNT + i) + 1);
  let m = FREE_MASK + (<usize>mt << 2);
  store<u32>(m, load<u32>(m) | (1 << order));
  nr_free += 1 << order;
}

/** Takes free block (pfn, order) off free_area[order][mt]; its head loses PG_buddy. */
@inline function del_from_free_area(pfn: u32, order: u32, mt: u32): void {
  let i = free_index(order, mt);
  pfn_list_del(FREE_HEAD + i, pfn);
  let c = load<u32>(FREE_COUNT + i) - 1;
  store<u32>(FREE_COUNT + i, c);
  if (c == 0) {
    let m = FREE_MASK + (<usize>mt << 2);
    store<u32>(m, load<u32>(m) & ~(1 << order));
  }
  store<u32>(pfn_to_page(pfn), 0, PG_FLAGS);
  nr_free -= 1 << order;
}

/** Marks the head of a block being handed out (Linux prep_new_page): flags = PG_head, order,
 *  mt, astate = PG_ASTATE_ALLOC, owner = PG_OWNER_NONE (one u16 store); count, mapping,
 *  index, private and private2 are zeroed. */
@inline function prep_new_page(pfn: u32, order: u32, mt: u32): void {
  let page = pfn_to_page(pfn);
  assert((load<u32>(page, PG_FLAGS) & (PG_buddy | PG_reserved | PG_slab)) == 0);
  assert(load<u8>(page, PG_ASTATE) == 0);
  store<u64>(page, page_word(PG_head, order, mt), PG_FLAGS);
  store<u16>(page, <u16>PG_ASTATE_ALLOC, PG_ASTATE); // astate, owner (PG_OWNER_NONE)
  store<u64>(page, 0, PG_MAPPING); // mapping, index
  store<u64>(page, 0, PG_PRIVATE); // private, private2
}

// ---------------------------------------------------------------------------------------------
// Buddy core

/** Merges free block (pfn, order) with its free buddies and files the result under `mt`
 *  (Linux __free_one_page). */
function free_one_page(pfn: u32, order: u32, mt: u32): void {
  let limit = nr_frames;
  while (order < MAX_ORDER - 1) {
    let buddy = pfn ^ (1 << order);
    if (buddy >= limit) break;
    let w = load<u64>(pfn_to_page(buddy), PG_FLAGS);
    if ((<u32>w & PG_buddy) == 0 || word_order(w) != order) break;
    assert(word_mt(w) == mt);
    del_from_free_area(buddy, order, word_mt(w));
    pfn &= ~(1 << order);
    order++;
  }
  add_to_free_area(pfn, order, mt);
}

/** Splits block `pfn` of order `high` down to order `low`, filing the upper halves under
 *  `mt` (Linux expand / page_del_and_expand). */
@inline function expand(pfn: u32, low: u32, high: u32, mt: u32): void {
  while (high > low) {
    high--;
    add_to_free_area(pfn + (1 << high), high, mt);
  }
}

/** Smallest free block of order >= `order` on `mt`'s lists, split to `order`, or NO_PFN. */
@inline function rmqueue_smallest(order: u32, mt: u32): u32 {
  let mask = load<u32>(FREE_MASK + (<usize>mt << 2)) >> order;
  if (mask == 0) return NO_PFN;
  let cur = order + <u32>ctz(mask);
  let pfn = load<u32>(FREE_HEAD + free_index(cur, mt));
  assert(pfn != NO_PFN);
  del_from_free_area(pfn, cur, mt);
  expand(pfn, order, cur, mt);
  return pfn;
}

/** Linux can_steal_fallback: may an allocation of `mt` that found a free block of order
 *  `cur` in another type's pageblock try to claim the whole pageblock? */
@inline function can_claim(cur: u32, mt: u32): bool {
  return cur >= PAGEBLOCK_ORDER / 2 || mt == MIGRATE_UNMOVABLE || mt == MIGRATE_RECLAIMABLE;
}

/** Moves every free block of `pfn`'s pageblock to `new_mt`'s lists and sets the pageblock's
 *  type (Linux move_freepages_block). Bounded by PAGEBLOCK_NR steps. */
function move_freepages_block(pfn: u32, new_mt: u32): void {
  let start = pfn & ~(PAGEBLOCK_NR - 1);
  let end = min(start + PAGEBLOCK_NR, nr_frames);
  let p = start;
  while (p < end) {
    let w = load<u64>(pfn_to_page(p), PG_FLAGS);
    if (<u32>w & PG_buddy) {
      let o = word_order(w);
      let mt = word_mt(w);
      if (mt != new_mt) {
        del_from_free_area(p, o, mt);
        add_to_free_area(p, o, new_mt);
      }
      p += 1 << o;
    } else {
      p++;
    }
  }
  set_pageblock_mt(start, new_mt);
}

/** Linux try_to_claim_block: claims the pageblock holding free block (pfn, cur) for `new_mt`
 *  when the block is the whole pageblock or when free frames plus frames allocated as
 *  `new_mt` fill at least half of it. Returns whether the pageblock now has type `new_mt`. */
function try_claim_pageblock(pfn: u32, cur: u32, new_mt: u32): bool {
  if (cur < PAGEBLOCK_ORDER) {
    let start = pfn & ~(PAGEBLOCK_NR - 1);
    let end = min(start + PAGEBLOCK_NR, nr_frames);
    let good: u32 = 0;
    let p = start;
    while (p < end) { // each step advances >= 1 frame: at most PAGEBLOCK_NR steps
      let w = load<u64>(pfn_to_page(p), PG_FLAGS);
      let flags = <u32>w;
      if (flags & PG_buddy) {
        good += 1 << word_order(w);
        p += 1 << word_order(w);
      } else if (load<u8>(pfn_to_page(p), PG_ASTATE) == PG_ASTATE_ALLOC) {
        let n: u32 = 1 << min(word_order(w), MAX_ORDER - 1);
        if (word_mt(w) == new_mt) good += n;
        p += n;
      } else {
        p++;
      }
    }
    if (good < PAGEBLOCK_NR / 2) return false;
  }
  move_freepages_block(pfn, new_mt);
  return true;
}

/** Falls back to other migratetypes' lists (Linux __rmqueue_claim, then __rmqueue_steal). */
function rmqueue_fallback(order: u32, mt: u32): u32 {
  // Claim: largest block first, so the type takes over as much free memory as possible
  // and later allocations of this type do not have to fall back again.
  for (let cur = <i32>(MAX_ORDER - 1); cur >= <i32>order; cur--) {
    if (!can_claim(<u32>cur, mt)) break; // can_claim only weakens as cur decreases
    for (let i: u32 = 0; i < FALLBACKS_NR; i++) {
      let fmt = fallback_mt(mt, i);
      let head = load<u32>(FREE_HEAD + free_index(<u32>cur, fmt));
      if (head == NO_PFN) continue;
      if (try_claim_pageblock(head, <u32>cur, mt)) {
        count_event(MM_EV_FALLBACK_CLAIM);
        return rmqueue_smallest(order, mt);
      }
    }
  }
  // Steal: the smallest suitable block; its pageblock keeps its type, and so do the
  // halves that expand() files back.
  for (let cur = order; cur < MAX_ORDER; cur++) {
    for (let i: u32 = 0; i < FALLBACKS_NR; i++) {
      let fmt = fallback_mt(mt, i);
      let pfn = load<u32>(FREE_HEAD + free_index(cur, fmt));
      if (pfn == NO_PFN) continue;
      del_from_free_area(pfn, cur, fmt);
      expand(pfn, order, cur, fmt);
      count_event(MM_EV_FALLBACK_STEAL);
      return pfn;
    }
  }
  return NO_PFN;
}

/** A free block of `order` for `mt` from the buddy lists, head flags cleared, or NO_PFN. */
@inline function rmqueue(order: u32, mt: u32): u32 {
  let pfn = rmqueue_smallest(order, mt);
  if (pfn == NO_PFN) pfn = rmqueue_fallback(order, mt);
  return pfn;
}

// ---------------------------------------------------------------------------------------------
// Per-CPU page lists

/** Refills empty pcp list `list` with up to PCP_BATCH order-0 frames in ascending
 *  allocation order (Linux rmqueue_bulk). Returns the frames added. */
function rmqueue_bulk(list: usize, mt: u32): u32 {
  assert(load<u32>(list) == NO_PFN && load<u32>(list, PCP_COUNT) == 0);
  count_event(MM_EV_PCP_REFILL);
  let tail = NO_PFN;
  let n: u32 = 0;
  while (n < PCP_BATCH) {
    let pfn = rmqueue(0, mt);
    if (pfn == NO_PFN) break;
    let page = pfn_to_page(pfn);
    store<u64>(page, page_word(0, 0, mt), PG_FLAGS);
    store<u32>(page, NO_PFN, PG_LRU_NEXT);
    if (tail == NO_PFN) store<u32>(list, pfn);
    else store<u32>(pfn_to_page(tail), pfn, PG_LRU_NEXT);
    tail = pfn;
    n++;
  }
  store<u32>(list, n, PCP_COUNT);
  return n;
}

/** Returns up to `n` frames from pcp list `list` to the buddy lists (Linux
 *  free_pcppages_bulk). Returns the frames freed. */
function free_pcppages_bulk(list: usize, n: u32): u32 {
  let count = load<u32>(list, PCP_COUNT);
  let done: u32 = 0;
  while (done < n && done < count) {
    let pfn = load<u32>(list);
    assert(pfn != NO_PFN);
    store<u32>(list, load<u32>(pfn_to_page(pfn), PG_LRU_NEXT));
    free_one_page(pfn, 0, pageblock_mt(pfn));
    done++;
  }
  store<u32>(list, count - done, PCP_COUNT);
  return done;
}

/** Frames on all pcp lists. */
function pcp_total(): u32 {
  let total: u32 = 0;
  for (let i: u32 = 0; i < NR_CPUS * <u32>MIGRATE_TYPES; i++) {
    total += load<u32>(PCP + (<usize>i << 3), PCP_COUNT);
  }
  return total;
}

/** Returns every frame on every CPU's pcp lists to the buddy lists (Linux
 *  drain_all_pages). Used before giving up on an allocation, by statistics that must see
 *  coalesced memory, and by tests. */
export function mm_drain_pcp(): void {
  for (let i: u32 = 0; i < NR_CPUS * <u32>MIGRATE_TYPES; i++) {
    let list = PCP + (<usize>i << 3);
    free_pcppages_bulk(list, load<u32>(list, PCP_COUNT));
    assert(load<u32>(list) == NO_PFN);
  }
}

// ---------------------------------------------------------------------------------------------
// Slow path and memory hotplug

/** Grows linear memory by at least HOTPLUG_CHUNK (enough for a block of `order`), within
 *  the hotplug limit, and hot-adds the new frames. Returns false when hotplug is disabled,
 *  at the limit, when linear memory does not end where physical memory ends (someone else
 *  owns the tail), or when memory.grow fails. */
function grow_memory(order: u32): bool {
  if (!hotplug_enabled) return false;
  let end = <u64>phys_base + (<u64>nr_frames << PAGE_SHIFT);
  if ((<u64>memory.size() << 16) != end) return false;
  let limit = <u64>min(min(hotplug_limit, phys_max_end), LINEAR_MEMORY_MAX);
  // two blocks' worth, so an aligned block of `order` fits whatever the old end's alignment
  let want = max<u64>(<u64>HOTPLUG_CHUNK, (<u64>2 << order) << PAGE_SHIFT);
  let new_end = min(end + want, limit) & ~(<u64>0xffff);
  if (new_end <= end) return false;
  if (memory.grow(<i32>((new_end - end) >> 16)) < 0) return false;
  mm_hotplug(<usize>new_end);
  return true;
}

/** Linux __alloc_pages_slowpath, minus reclaim: drain the pcp lists once, then hot-add
 *  memory, retrying the buddy lists after each step. */
function alloc_pages_slowpath(order: u32, mt: u32): u32 {
  let drained = false;
  for (let round: u32 = 0; round < SLOWPATH_ROUNDS_MAX; round++) {
    if (!drained && pcp_total() > 0) {
      count_event(MM_EV_PCP_DRAIN_ALL);
      mm_drain_pcp();
      drained = true;
    } else if (grow_memory(order)) {
      count_event(MM_EV_HOTPLUG_GROW);
    } else {
      break;
    }
    let pfn = rmqueue(order, mt);
    if (pfn != NO_PFN) return pfn;
  }
  count_event(MM_EV_ALLOC_FAIL);
  return NO_PFN;
}

/**
 * Hot-adds the frames in [old end, new_end) to the buddy allocator (Linux
 * online_pages -> __free_pages_core). `new_end` is a byte address, rounded down to a frame
 * and clipped to the max_end given to mm_init. The bytes must exist in linear memory.
 * Returns the number of frames added (0 if new_end is not above the current end).
 */
export function mm_hotplug(new_end: usize): u32 {
  if (frame_table == 0) mm_bug("mm_hotplug: mm_init has not run");
  new_end = min(new_end, phys_max_end) & ~(<usize>PAGE_SIZE - 1);
  if (<u64>new_end > (<u64>memory.size() << 16)) mm_bug("mm_hotplug: new_end beyond linear memory");
  if (new_end <= phys_base) return 0;
  let old = nr_frames;
  let frames = <u32>((new_end - phys_base) >> PAGE_SHIFT);
  if (frames <= old) return 0;
  frame_table_grow(frames);
  // Free the new range as maximal aligned blocks; free_one_page merges them with free
  // neighbours below the old end.
  let p = old;
  while (p < frames) { // each step frees >= 1 frame
    let order = min<u32>(<u32>ctz(p), MAX_ORDER - 1);
    while (p + (1 << order) > frames) order--;
    let page = pfn_to_page(p);
    store<u64>(page, 0, PG_FLAGS);
    free_one_page(p, order, pageblock_mt(p));
    p += 1 << order;
  }
  return frames - old;
}

/**
 * Enables or disables memory hotplug on exhaustion. When enabled, an allocation that finds
 * no free block grows linear memory (memory.grow, HOTPLUG_CHUNK bytes at least) up to the
 * byte address `limit_end` (also bounded by mm_init's max_end) and hot-adds the frames.
 * Requires that physical memory end where linear memory ends. Off after mm_init.
 */
export function mm_set_hotplug(enabled: bool, limit_end: usize): void {
  hotplug_enabled = enabled;
  hotplug_limit = limit_end;
}

/** Bytes of frame table mm_init will reserve for a region starting at `region_start` that
 *  may grow to `max_end` (so the caller can size the first region). */
export function mm_frame_table_bytes(region_start: usize, max_end: usize): usize {
  let base = (region_start + PAGE_SIZE - 1) & ~(<usize>PAGE_SIZE - 1);
  if (max_end <= base) return 0;
  let frames = min(<u32>((max_end - base) >> PAGE_SHIFT), FRAMES_MAX);
  return ((<usize>frames * PAGE_STRUCT_SIZE + PAGE_SIZE - 1) & ~(<usize>PAGE_SIZE - 1));
}

/**
 * Initialises physical memory over the byte range [region_start, region_end) of linear
 * memory (start rounded up, end rounded down to 4 KiB). The frame table, sized for max_end so
 * hotplug never moves it, takes the first frames (PG_reserved); every other frame is freed
 * to the buddy allocator. pfn 0 is the first frame of the region. Resets the slab layer and
 * the per-CPU lists, disables hotplug. Aborts when the region cannot hold the frame table
 * plus one frame, or lies beyond linear memory.
 */
export function mm_init(region_start: usize, region_end: usize, max_end: usize): void {
  let base = (region_start + PAGE_SIZE - 1) & ~(<usize>PAGE_SIZE - 1);
  let end = region_end & ~(<usize>PAGE_SIZE - 1);
  if (base < region_start || end <= base) mm_bug("mm_init: empty physical memory region");
  if (<u64>end > (<u64>memory.size() << 16)) mm_bug("mm_init: region beyond linear memory");
  let maxe = max(max_end & ~(<usize>PAGE_SIZE - 1), end);
  let max_f = min(<u32>((maxe - base) >> PAGE_SHIFT), FRAMES_MAX);
  let table_frames = <u32>(mm_frame_table_bytes(base, maxe) >> PAGE_SHIFT);
  let frames = <u32>((end - base) >> PAGE_SHIFT);
  if (frames <= table_frames) mm_bug("mm_init: region too small for the frame table");

  memory.fill(base, 0, <usize>table_frames << PAGE_SHIFT);
  frame_table_setup(base, base, table_frames, max_f);
  for (let p: u32 = 0; p < table_frames; p++) {
    store<u32>(pfn_to_page(p), PG_reserved, PG_FLAGS);
  }
  nr_reserved = table_frames;
  phys_max_end = base + (<usize>max_f << PAGE_SHIFT);

  for (let i: u32 = 0; i < FREE_LISTS; i++) {
    store<u32>(FREE_HEAD + (<usize>i << 2), NO_PFN);
    store<u32>(FREE_COUNT + (<usize>i << 2), 0);
  }
  for (let mt: u32 = 0; mt < <u32>MIGRATE_TYPES; mt++) store<u32>(FREE_MASK + (<usize>mt << 2), 0);
  for (let i: u32 = 0; i < NR_CPUS * <u32>MIGRATE_TYPES; i++) {
    store<u32>(PCP + (<usize>i << 3), NO_PFN);
    store<u32>(PCP + (<usize>i << 3), 0, PCP_COUNT);
  }
  memory.fill(PAGEBLOCK_MT, MIGRATE_MOVABLE, PAGEBLOCKS_MAX);
  memory.fill(EVENTS, 0, MM_EV_NR * 4);
  nr_free = 0;
  hotplug_enabled = false;
  hotplug_limit = 0;

  kmem_cache_init();
  mm_hotplug(end);
}

// ---------------------------------------------------------------------------------------------
// Allocation and free

@inline function check_mt(mt: u8): void {
  if (mt >= MIGRATE_TYPES) mm_bug("alloc_pages: bad migratetype");
}

/**
 * Allocates one frame of migratetype `mt` from the current CPU's pcp list (refilled from
 * the buddy lists PCP_BATCH frames at a time). Returns its pfn, or NO_PFN when memory is
 * exhausted (after draining every pcp list and trying hotplug). Contents are not zeroed.
 */
export function alloc_page(mt: u8 = MIGRATE_UNMOVABLE): u32 {
  check_mt(mt);
  let list = pcp_list(current_cpu, mt);
  let pfn = load<u32>(list);
  if (pfn == NO_PFN) {
    if (rmqueue_bulk(list, mt) == 0) {
      pfn = alloc_pages_slowpath(0, mt);
      if (pfn != NO_PFN) prep_new_page(pfn, 0, mt);
      return pfn;
    }
    pfn = load<u32>(list);
  }
  store<u32>(list, load<u32>(pfn_to_page(pfn), PG_LRU_NEXT));
  store<u32>(list, load<u32>(list, PCP_COUNT) - 1, PCP_COUNT);
  prep_new_page(pfn, 0, mt);
  return pfn;
}

/**
 * Allocates a block of 2^order contiguous frames (order < MAX_ORDER) of migratetype `mt`.
 * Returns the pfn of its first frame (aligned to 2^order), whose struct page gets PG_head,
 * the order and mt; or NO_PFN when no block is free (after draining pcp lists and trying
 * hotplug) or order >= MAX_ORDER. Never traps on exhaustion. Contents are not zeroed.
 */
export function alloc_pages(order: u32, mt: u8 = MIGRATE_UNMOVABLE): u32 {
  if (order == 0) return alloc_page(mt);
  check_mt(mt);
  if (order >= MAX_ORDER) return NO_PFN;
  let pfn = rmqueue(order, mt);
  if (pfn == NO_PFN) {
    pfn = alloc_pages_slowpath(order, mt);
    if (pfn == NO_PFN) return NO_PFN;
  }
  prep_new_page(pfn, order, mt);
  return pfn;
}

/** Entries of the table the last alloc_large_system_hash returned. */
export let hash_entries: u32 = 0;

/**
 * A table for a system-wide hash (Linux's alloc_large_system_hash): a power of two of
 * `entry_size`-byte entries, one per `frames_per_entry` frames of physical memory (max_frames),
 * at least `min_entries`, in one block of at most order `order_max`. Returns its address
 * (the count in hash_entries), or 0 when no such block is free. Not zeroed.
 */
export function alloc_large_system_hash(entry_size: usize, frames_per_entry: u32, min_entries: u32, order_max: u32): usize {
  let n = min_entries;
  while (n * frames_per_entry < max_frames && <usize>n * 2 * entry_size <= (<usize>PAGE_SIZE << order_max)) n <<= 1;
  let order: u32 = 0;
  while ((<usize>PAGE_SIZE << order) < <usize>n * entry_size) order++;
  const pfn = alloc_pages(order);
  if (pfn == NO_PFN) return 0;
  store<u8>(pfn_to_page(pfn), PG_OWNER_HASH, PG_OWNER);
  hash_entries = n;
  return pfn_to_addr(pfn);
}

/** Always-on check of a block being freed (Linux free_pages_prepare / bad_page): the
 *  head's astate says allocated, the order matches, and no slab owns it. Clears astate. */
@inline function check_free(pfn: u32, order: u32): u64 {
  if (pfn >= nr_frames) mm_bug("free_pages: pfn beyond physical memory");
  let page = pfn_to_page(pfn);
  let w = load<u64>(page, PG_FLAGS);
  let flags = <u32>w;
  if (load<u8>(page, PG_ASTATE) != PG_ASTATE_ALLOC || word_order(w) != order || (flags & (PG_reserved | PG_slab)) != 0) {
    if (flags & PG_reserved) mm_bug("free_pages: frame is reserved");
    if (flags & PG_buddy) mm_bug("free_pages: double free (block is already free)");
    if (load<u8>(page, PG_ASTATE) != PG_ASTATE_ALLOC) mm_bug("free_pages: not an allocated block head (double free?)");
    if (flags & PG_slab) mm_bug("free_pages: frame belongs to a slab");
    mm_bug("free_pages: order does not match the allocation");
  }
  store<u8>(page, 0, PG_ASTATE);
  return w;
}

/**
 * Splits an allocated block of 2^order frames into 2^order order-0 allocations, each freed
 * on its own with free_page later (Linux split_page). Callers use it to get physically
 * contiguous frames that they manage one by one (page cache readahead). Aborts when `pfn`
 * is not the head of an allocated block of that order.
 */
export function split_page(pfn: u32, order: u32): void {
  let page = pfn_to_page(pfn);
  let w = load<u64>(page, PG_FLAGS);
  if (load<u8>(page, PG_ASTATE) != PG_ASTATE_ALLOC || word_order(w) != order) mm_bug("split_page: not an allocated block of that order");
  let mt = word_mt(w);
  store<u8>(page, 0, PG_ASTATE);
  store<u64>(page, 0, PG_FLAGS);
  let n: u32 = 1 << order;
  for (let i: u32 = 0; i < n; i++) prep_new_page(pfn + i, 0, mt);
}

/** Frees one frame allocated with alloc_page / alloc_pages(0): it goes to the current CPU's
 *  pcp list, which spills PCP_BATCH frames to the buddy lists above PCP_HIGH. Aborts on a
 *  double free or a frame that is not an allocated order-0 block. */
export function free_page(pfn: u32): void {
  let w = check_free(pfn, 0);
  let mt = word_mt(w);
  let list = pcp_list(current_cpu, mt);
  let page = pfn_to_page(pfn);
  store<u64>(page, page_word(0, 0, mt), PG_FLAGS);
  store<u32>(page, load<u32>(list), PG_LRU_NEXT);
  store<u32>(list, pfn);
  let count = load<u32>(list, PCP_COUNT) + 1;
  store<u32>(list, count, PCP_COUNT);
  if (count >= PCP_HIGH) {
    count_event(MM_EV_PCP_SPILL);
    free_pcppages_bulk(list, PCP_BATCH);
  }
}

/**
 * Frees the block of 2^order frames at `pfn` (as returned by alloc_pages(order)) and merges
 * it with free buddies. Always-on checks: pfn in range, block head allocated (not already
 * free, not reserved, not a slab page), order equal to the allocation's; aborts otherwise.
 */
export function free_pages(pfn: u32, order: u32): void {
  if (order == 0) {
    free_page(pfn);
    return;
  }
  if (order >= MAX_ORDER) mm_bug("free_pages: order >= MAX_ORDER");
  check_free(pfn, order);
  if (pfn & ((1 << order) - 1)) mm_bug("free_pages: pfn not aligned to the order");
  if (!ASC_NO_ASSERT) {
    for (let t: u32 = 1; t < (1 << order); t++) {
      let f = load<u32>(pfn_to_page(pfn + t), PG_FLAGS);
      if ((f & (PG_buddy | PG_reserved | PG_slab)) != 0) mm_bug("free_pages: bad tail frame");
      if (load<u8>(pfn_to_page(pfn + t), PG_ASTATE) != 0) mm_bug("free_pages: tail frame is a block head");
    }
  }
  store<u64>(pfn_to_page(pfn), 0, PG_FLAGS);
  free_one_page(pfn, order, pageblock_mt(pfn));
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Free frames: on the buddy lists plus on every pcp list. */
export function nr_free_pages(): u32 {
  return nr_free + pcp_total();
}

/** Allocatable frames present: nr_frames minus the reserved frame table. */
export function nr_total_pages(): u32 {
  return nr_frames - nr_reserved;
}

/** Times event `ev` (MM_EV_*) happened since mm_init; 0 for an unknown event. */
export function mm_event_count(ev: u32): u32 {
  return ev < MM_EV_NR ? load<u32>(EVENTS + (<usize>ev << 2)) : 0;
}

/** Frames reserved for the frame table (pfn 0 .. nr_reserved_pages()-1). */
export function nr_reserved_pages(): u32 {
  return nr_reserved;
}

/** Free blocks of exactly `order` on the buddy lists, all migratetypes (0 if order is out
 *  of range). pcp frames are not counted: call mm_drain_pcp first to see them merged. */
export function nr_free_blocks(order: u32): u32 {
  if (order >= MAX_ORDER) return 0;
  let n: u32 = 0;
  for (let mt: u32 = 0; mt < <u32>MIGRATE_TYPES; mt++) n += load<u32>(FREE_COUNT + free_index(order, mt));
  return n;
}

/** Free blocks of exactly `order` on migratetype `mt`'s buddy lists (0 if out of range). */
export function nr_free_blocks_mt(order: u32, mt: u8): u32 {
  if (order >= MAX_ORDER || mt >= MIGRATE_TYPES) return 0;
  return load<u32>(FREE_COUNT + free_index(order, mt));
}

/** Frames on every CPU's pcp list of migratetype `mt` (0 if out of range). */
export function nr_pcp_frames_mt(mt: u8): u32 {
  if (mt >= MIGRATE_TYPES) return 0;
  let n: u32 = 0;
  for (let cpu: u32 = 0; cpu < NR_CPUS; cpu++) n += load<u32>(pcp_list(cpu, mt), PCP_COUNT);
  return n;
}

/** Pageblocks of migratetype `mt` among those holding present frames (Linux
 *  /proc/pagetypeinfo "Number of blocks type"). O(nr_frames / PAGEBLOCK_NR). */
export function nr_pageblocks_mt(mt: u8): u32 {
  let n: u32 = 0;
  let blocks = (nr_frames + PAGEBLOCK_NR - 1) >> PAGEBLOCK_ORDER;
  for (let b: u32 = 0; b < blocks; b++) if (load<u8>(PAGEBLOCK_MT + b) == mt) n++;
  return n;
}

/**
 * Linux's external fragmentation index for an allocation of `order` (mm/vmstat.c
 * __fragmentation_index), scaled by 1000: -1000 when a free block of that order or larger
 * exists; otherwise towards 0 the failure is due to lack of memory, towards 1000 it is due
 * to fragmentation. 0 when nothing is free or order >= MAX_ORDER. Buddy lists only.
 */
export function fragmentation_index(order: u32): i32 {
  if (order >= MAX_ORDER) return 0;
  let blocks_total: u64 = 0;
  let pages: u64 = 0;
  let suitable: u64 = 0;
  for (let o: u32 = 0; o < MAX_ORDER; o++) {
    let n = <u64>nr_free_blocks(o);
    blocks_total += n;
    pages += n << o;
    if (o >= order) suitable += n << (o - order);
  }
  if (blocks_total == 0) return 0;
  if (suitable > 0) return -1000;
  let requested = <u64>1 << order;
  return <i32>(1000 - <i64>((1000 + (pages * 1000) / requested) / blocks_total));
}

/**
 * Walks every free list and pcp list and checks the allocator's invariants (see the header):
 * flags, order, alignment, bounds, pageblock type, list links, counts and the non-empty
 * bitmaps. Aborts with a message on the first violation. Returns the free frames found
 * (equal to nr_free_pages()). O(free blocks); for tests and debugging.
 */
export function mm_verify(): u32 {
  let total: u32 = 0;
  for (let order: u32 = 0; order < MAX_ORDER; order++) {
    for (let mt: u32 = 0; mt < <u32>MIGRATE_TYPES; mt++) {
      let i = free_index(order, mt);
      let n: u32 = 0;
      let prev = NO_PFN;
      let pfn = load<u32>(FREE_HEAD + i);
      while (pfn != NO_PFN) {
        if (n >= nr_frames) mm_bug("mm_verify: free list cycle");
        if (pfn >= nr_frames || pfn + (1 << order) > nr_frames) mm_bug("mm_verify: free block out of range");
        if (pfn & ((1 << order) - 1)) mm_bug("mm_verify: free block misaligned");
        let page = pfn_to_page(pfn);
        let w = load<u64>(page, PG_FLAGS);
        if (<u32>w != PG_buddy) mm_bug("mm_verify: free block head flags are not PG_buddy");
        if (load<u8>(page, PG_ASTATE) != 0) mm_bug("mm_verify: free block marked allocated");
        if (word_order(w) != order || word_mt(w) != mt) mm_bug("mm_verify: free block order/mt mismatch");
        if (pageblock_mt(pfn) != mt) mm_bug("mm_verify: free block not on its pageblock's type");
        if (load<u32>(page, PG_LRU_PREV) != prev) mm_bug("mm_verify: broken prev link");
        n++;
        total += 1 << order;
        prev = pfn;
        pfn = load<u32>(page, PG_LRU_NEXT);
      }
      if (n != load<u32>(FREE_COUNT + i)) mm_bug("mm_verify: free count mismatch");
      let bit = (load<u32>(FREE_MASK + (<usize>mt << 2)) >> order) & 1;
      if ((bit != 0) != (n != 0)) mm_bug("mm_verify: non-empty bitmap mismatch");
    }
  }
  if (total != nr_free) mm_bug("mm_verify: nr_free mismatch");
  for (let i: u32 = 0; i < NR_CPUS * <u32>MIGRATE_TYPES; i++) {
    let list = PCP + (<usize>i << 3);
    let n: u32 = 0;
    let pfn = load<u32>(list);
    while (pfn != NO_PFN) {
      if (n >= nr_frames || pfn >= nr_frames) mm_bug("mm_verify: bad pcp list");
      let f = load<u32>(pfn_to_page(pfn), PG_FLAGS);
      if (f != 0) mm_bug("mm_verify: pcp frame has flags");
      if (load<u8>(pfn_to_page(pfn), PG_ASTATE) != 0) mm_bug("mm_verify: pcp frame marked allocated");
      n++;
      pfn = load<u32>(pfn_to_page(pfn), PG_LRU_NEXT);
    }
    if (n != load<u32>(list, PCP_COUNT)) mm_bug("mm_verify: pcp count mismatch");
    total += n;
  }
  return total;
}
