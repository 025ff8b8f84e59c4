// mm/slab.ts -- object caches (kmem_cache) and kmalloc, on frames from the buddy allocator.
//
// Layer: above buddy.ts; below every kernel record allocator (inodes, buffers, requests...).
// Interface: kmem_cache_create(name, size, align, ctor) -> cache; kmem_cache_alloc(cache) ->
// object | 0; kmem_cache_free(cache, obj); kmem_cache_shrink(cache) -> frames returned;
// kmalloc(size) / kzalloc(size) / kfree(ptr) / ksize(ptr); set_current_cpu(cpu);
// slab_cache_* introspection for the host's boot log and `helix stat`.
//
// Design: the SLAB allocator of Linux mm/slab.c, itself Bonwick's slab allocator ("The Slab
// Allocator: An Object-Caching Kernel Memory Allocator", USENIX Summer 1994):
//  - a cache hands out objects of one size; a slab is a 2^order block of frames cut into
//    `num` objects; slabs sit on one of three lists by how many objects they have handed out
//    (free: none, partial: some, full: all) -- Bonwick §3.2, Linux kmem_cache_node;
//  - the free objects of a slab are named by an array of u16 object indices at the end of
//    the slab (Linux's on-slab freelist, since 3.13), not by pointers inside free objects,
//    so an object keeps its constructed state between free and alloc (Bonwick §3.1:
//    objects are constructed when the slab is created, and must be freed constructed);
//  - cache colouring: the first object of successive slabs starts colour_off (a cache line)
//    further in, cycling through the slack at the end of the slab (Bonwick §4.1);
//  - per-CPU object caches (Linux struct array_cache, Bonwick's later magazines): alloc and
//    free are a pop and a push on the current CPU's array; an empty array is refilled with
//    `batchcount` objects from the slabs, a full one flushes its oldest `batchcount`;
//  - descriptors come from a static cache of caches (Linux kmem_cache_boot), so the slab
//    layer needs nothing but buddy frames;
//  - kmalloc: power-of-two caches kmalloc-8 .. kmalloc-2048, created on first use; larger
//    requests take whole buddy blocks (Linux kmalloc_large) marked in their struct page.
//
// Invariants: a slab with `active` objects out (in array caches or with callers) is on
// slabs_free iff active == 0, slabs_full iff active == num, else slabs_partial; every frame
// of a slab has PG_slab, mapping = its cache, index = the slab's first pfn; free_objects is
// the sum of num - active over the cache's slabs; objects never overlap (tested).
//
// Memory is NOT zeroed by kmem_cache_alloc or kmalloc (an object holds whatever its last
// user or its constructor left); kzalloc zeroes. Never uses the managed heap. wasm32 only
// (cache addresses are stored in the 32-bit struct page mapping field).

import { MAX_ORDER, NR_CPUS, PAGE_SHIFT, PAGE_SIZE } from "../params";
import {
  NO_PFN, PG_FLAGS, PG_ORDER, PG_LRU_PREV, PG_LRU_NEXT, PG_MAPPING, PG_INDEX, PG_PRIVATE, PG_PRIVATE2,
  PG_slab, PG_head, MIGRATE_UNMOVABLE, pfn_to_page, pfn_to_addr, phys_base, nr_frames,
} from "./page";
import { pfn_list_add, pfn_list_del } from "./list";
import { mm_bug } from "./bug";
import { alloc_pages, free_pages } from "./buddy";

// ---------------------------------------------------------------------------------------------
// Limits

/** Smallest object alignment and kmalloc granule (u64 fields must be aligned). */
export const KMALLOC_MIN_SIZE: u32 = 8;
const KMALLOC_SHIFT_LOW: u32 = 3;
/** Largest kmalloc size served by a cache; larger sizes take buddy blocks. */
export const KMALLOC_MAX_CACHE_SIZE: u32 = 2048;
const KMALLOC_SHIFT_HIGH: u32 = 11;
export const KMALLOC_CACHES_NR: u32 = KMALLOC_SHIFT_HIGH - KMALLOC_SHIFT_LOW + 1;
/** Largest kmalloc size: one max-order buddy block (4 MiB). */
export const KMALLOC_MAX_SIZE: u32 = PAGE_SIZE << (MAX_ORDER - 1);
/** Largest slab order (16 frames, 64 KiB). */
export const SLAB_ORDER_MAX: u32 = 4;
/** Largest object a kmem_cache serves (two per largest slab). */
export const KMEM_CACHE_OBJ_MAX: u32 = (PAGE_SIZE << SLAB_ORDER_MAX) / 2 - 64;
/** Most objects per slab (freelist indices are u16). */
export const SLAB_OBJS_MAX: u32 = 8192;
/** Most caches alive at once (descriptors plus the chain array are bounded by it). */
export const KMEM_CACHES_MAX: u32 = 128;
/** Most objects in one per-CPU array cache (Linux's limit for objects <= 256 bytes). */
export const AC_LIMIT_MAX: u32 = 120;
/** Colour step in bytes: one cache line (Linux cache_line_size()). */
export const L1_CACHE_BYTES: u32 = 64;
/** Bytes of cache name slab_cache_name writes at most. */
export const KMEM_CACHE_NAME_MAX: u32 = 32;

const KMEM_CACHE_MAGIC: u32 = 0x6b6d6361; // "kmca"
/** struct page mapping of a kmalloc_large block's head, so kfree can tell it from others. */
export const KMALLOC_LARGE_MARK: u32 = 0x6b6d6c67; // "kmlg"

// ---------------------------------------------------------------------------------------------
// Records
//
// struct kmem_cache (KMEM_CACHE_SIZE = 2112 bytes, from the cache of caches):
//
//   0       4       8        12      16      20      24      28      32
//   +-------+-------+--------+-------+-------+-------+-------+-------+
//   | magic | name  |obj_size| size  | align | ctor  | order | num   |
//   +-------+-------+--------+-------+-------+-------+-------+-------+
//   32      36         40          44           48        52       56       60
//   +-------+----------+-----------+------------+---------+--------+--------+
//   |colour |colour_off|colour_next|freelist_off|s_partial| s_full | s_free |
//   +-------+----------+-----------+------------+---------+--------+--------+
//   60        64           68           72      76           80      84      88       128
//   +---------+------------+------------+-------+------------+-------+-------+--------+
//   | nr_slabs|free_objects| free_limit | limit | batchcount | index | recip |reserved|
//   +---------+------------+------------+-------+------------+-------+-------+--------+
//   128                    +AC_SIZE            +2*AC_SIZE ... +NR_CPUS*AC_SIZE
//   +----------------------+--------------------+-------------+
//   | array_cache[cpu 0]   | array_cache[cpu 1] | ...         |
//   +----------------------+--------------------+-------------+
//
//   name         static string literal (AssemblyScript UTF-16 string)
//   obj_size     bytes asked for; size: stride (obj_size rounded up to align)
//   ctor         Function object ((obj: usize) => void) or 0
//   order, num   slab = 2^order frames holding num objects
//   colour       colours available; colour_off: bytes per colour; colour_next: next slab's
//   freelist_off byte offset of the u16 freelist in a slab
//   s_*          slab list heads (pfn of a slab's first frame, NO_PFN = empty)
//   free_limit   free objects kept in free slabs before free slabs go back to buddy
//   limit, batchcount  per-CPU array cache size and refill/flush batch
//   index        slot in the cache chain (slab_cache_* introspection)
//   recip        floor(2^32 / size) + 1: object index = (offset * recip) >> 32, exact for
//                offset * size < 2^32 (Linux obj_to_index / reciprocal_divide)
//
// struct array_cache (AC_SIZE = 16 + AC_LIMIT_MAX * 4 bytes, Linux struct array_cache):
//
//   0       4       8            12        16
//   +-------+-------+------------+---------+-----------------------------------+
//   | avail | limit | batchcount | touched | entry[AC_LIMIT_MAX] usize          |
//   +-------+-------+------------+---------+-----------------------------------+
//   entry[0 .. avail) are free objects; the top (entry[avail-1]) is the hottest.
//
// A slab (2^order frames at the address of its first frame):
//
//   0            s_mem                                       freelist_off      slab end
//   +------------+---------+---------+-----+-----------+-----+------------------+
//   | colour pad | obj 0   | obj 1   | ... | obj num-1 | pad | u16 freelist[num]|
//   +------------+---------+---------+-----+-----------+-----+------------------+
//   freelist[active .. num) are the indices of the slab's free objects; alloc takes
//   freelist[active++], free stores freelist[--active].
//
// struct page of a slab's frames: flags PG_slab (+ PG_head on the first frame, from the
// buddy allocator), order = slab order, mapping = cache, index = first pfn of the slab;
// on the first frame only: lru = slab list links, private = active, private2 = s_mem.

const KC_MAGIC: usize = 0;
const KC_NAME: usize = 4;
const KC_OBJ_SIZE: usize = 8;
const KC_SIZE: usize = 12;
const KC_ALIGN: usize = 16;
const KC_CTOR: usize = 20;
const KC_ORDER: usize = 24;
const KC_NUM: usize = 28;
const KC_COLOUR: usize = 32;
const KC_COLOUR_OFF: usize = 36;
const KC_COLOUR_NEXT: usize = 40;
const KC_FREELIST_OFF: usize = 44;
const KC_SLABS_PARTIAL: usize = 48;
const KC_SLABS_FULL: usize = 52;
const KC_SLABS_FREE: usize = 56;
const KC_NR_SLABS: usize = 60;
const KC_FREE_OBJECTS: usize = 64;
const KC_FREE_LIMIT: usize = 68;
const KC_LIMIT: usize = 72;
const KC_BATCHCOUNT: usize = 76;
const KC_INDEX: usize = 80;
const KC_RECIP: usize = 84;
const KC_AC: usize = 128;

const AC_AVAIL: usize = 0;
const AC_LIMIT: usize = 4;
const AC_BATCHCOUNT: usize = 8;
const AC_TOUCHED: usize = 12;
const AC_ENTRY: usize = 16;
export const AC_SIZE: u32 = 16 + AC_LIMIT_MAX * sizeof<usize>();
export const KMEM_CACHE_SIZE: u32 = <u32>KC_AC + NR_CPUS * AC_SIZE;

// ---------------------------------------------------------------------------------------------
// Static state

/** The CPU the kernel is running on; keys the per-CPU page lists and array caches. */
export let current_cpu: u32 = 0;

/** The cache of caches (Linux kmem_cache_boot): static, its objects are descriptors. */
const CACHE_CACHE: usize = memory.data(<i32>KMEM_CACHE_SIZE, 64);
/** Cache chain: every live cache, CACHE_CACHE first (Linux slab_caches). */
const CACHE_CHAIN: usize = memory.data(<i32>(KMEM_CACHES_MAX * sizeof<usize>()), 16);
let nr_caches: u32 = 0;
/** kmalloc-8 .. kmalloc-2048, 0 until first used. */
const KMALLOC_CACHES: usize = memory.data(<i32>(KMALLOC_CACHES_NR * sizeof<usize>()), 16);
/** Frames returned to the buddy allocator by slab destruction, ever (shrink's result). */
let slab_pages_freed: u32 = 0;

// ---------------------------------------------------------------------------------------------
// Accessors

@inline function kc_ac(cache: usize, cpu: u32): usize {
  return cache + KC_AC + <usize>cpu * AC_SIZE;
}
@inline function slab_active(slab: u32): u32 { return load<u32>(pfn_to_page(slab), PG_PRIVATE); }
@inline function slab_set_active(slab: u32, v: u32): void { store<u32>(pfn_to_page(slab), v, PG_PRIVATE); }
@inline function slab_s_mem(slab: u32): usize { return load<usize>(pfn_to_page(slab), PG_PRIVATE2); }
@inline function slab_freelist(cache: usize, slab: u32): usize {
  return pfn_to_addr(slab) + load<u32>(cache, KC_FREELIST_OFF);
}

/** Index of object `obj` in `slab` of `cache`; aborts unless obj is exactly the start of
 *  one of the slab's objects (Linux obj_to_index, with the check SLAB_DEBUG would add). */
@inline function obj_to_index(cache: usize, slab: u32, obj: usize): u32 {
  let s_mem = slab_s_mem(slab);
  let off = obj - s_mem;
  // offset < slab bytes <= 2^16 and size < 2^15: the reciprocal product is exact
  let idx = <u32>((<u64>off * load<u32>(cache, KC_RECIP)) >> 32);
  if (obj < s_mem || idx >= load<u32>(cache, KC_NUM) || <usize>idx * load<u32>(cache, KC_SIZE) != off) {
    mm_bug("kmem_cache_free: pointer is not an object of this cache");
  }
  return idx;
}

/** Always-on check at the public boundary: `cache` is a live kmem_cache descriptor. */
@inline function check_cache(cache: usize, what: string): void {
  if (cache == 0 || load<u32>(cache, KC_MAGIC) != KMEM_CACHE_MAGIC) mm_bug(what);
}

/** First pfn of the physical frame holding `addr`, or NO_PFN when addr is not in physical
 *  memory (one unsigned compare covers both sides). */
@inline function phys_pfn(addr: usize): u32 {
  let frame = (addr - phys_base) >> PAGE_SHIFT;
  return frame < <usize>nr_frames ? <u32>frame : NO_PFN;
}

// ---------------------------------------------------------------------------------------------
// CPUs

/** Sets the CPU the following allocations run on (0 .. NR_CPUS-1); aborts on another value
 *  (the syscall layer validates host input before calling). */
export function set_current_cpu(cpu: u32): void {
  if (cpu >= NR_CPUS) mm_bug("set_current_cpu: cpu >= NR_CPUS");
  current_cpu = cpu;
}

// ---------------------------------------------------------------------------------------------
// Cache set-up

/** Linux calculate_slab_order: the smallest order whose slack is at most 1/8 of the slab,
 *  else the order with the least slack fraction. Returns order | num << 8, 0 if none fits. */
function calculate_slab_order(size: u32): u32 {
  let best: u32 = 0;
  let best_left: u32 = 0;
  let best_bytes: u32 = 1;
  for (let order: u32 = 0; order <= SLAB_ORDER_MAX; order++) {
    let bytes = PAGE_SIZE << order;
    let num = min(bytes / (size + 2), SLAB_OBJS_MAX);
    if (num == 0) continue;
    let left = bytes - num * (size + 2);
    if (left * 8 <= bytes) return order | (num << 8);
    if (best == 0 || <u64>left * best_bytes < <u64>best_left * bytes) {
      best = order | (num << 8);
      best_left = left;
      best_bytes = bytes;
    }
  }
  return best;
}

/** Fills descriptor `cache`. Returns false when the object cannot be served by a slab. */
function setup_cache(cache: usize, name: string, size: u32, align: u32, ctor: usize): bool {
  if (size == 0 || size > KMEM_CACHE_OBJ_MAX) return false;
  if (align == 0) align = KMALLOC_MIN_SIZE;
  if ((align & (align - 1)) != 0 || align > PAGE_SIZE) return false;
  align = max(align, KMALLOC_MIN_SIZE);
  let stride = (size + align - 1) & ~(align - 1);
  let on = calculate_slab_order(stride);
  if (on == 0) return false;
  let order = on & 0xff;
  let num = on >> 8;
  let bytes = PAGE_SIZE << order;
  let freelist_off = bytes - num * 2;
  let colour_off = max(L1_CACHE_BYTES, align);
  // slack between the last object and the freelist (keep the freelist u16-aligned)
  let left = (freelist_off - num * stride) & ~1;
  let colour = left / colour_off + 1; // colour 0 .. colour-1; 0 needs no slack

  // Linux enable_cpucache: fewer cached objects for bigger objects.
  let limit: u32 = stride > PAGE_SIZE ? 8 : stride > 1024 ? 24 : stride > 256 ? 54 : AC_LIMIT_MAX;
  let batchcount = (limit + 1) / 2;

  memory.fill(cache, 0, KMEM_CACHE_SIZE);
  store<u32>(cache, KMEM_CACHE_MAGIC, KC_MAGIC);
  store<usize>(cache, changetype<usize>(name), KC_NAME);
  store<u32>(cache, size, KC_OBJ_SIZE);
  store<u32>(cache, stride, KC_SIZE);
  store<u32>(cache, align, KC_ALIGN);
  store<usize>(cache, ctor, KC_CTOR);
  store<u32>(cache, order, KC_ORDER);
  store<u32>(cache, num, KC_NUM);
  store<u32>(cache, colour, KC_COLOUR);
  store<u32>(cache, colour_off, KC_COLOUR_OFF);
  store<u32>(cache, 0, KC_COLOUR_NEXT);
  store<u32>(cache, freelist_off, KC_FREELIST_OFF);
  store<u32>(cache, NO_PFN, KC_SLABS_PARTIAL);
  store<u32>(cache, NO_PFN, KC_SLABS_FULL);
  store<u32>(cache, NO_PFN, KC_SLABS_FREE);
  // Linux: free_limit = (1 + nr_cpus) * batchcount + num
  store<u32>(cache, (1 + NR_CPUS) * batchcount + num, KC_FREE_LIMIT);
  store<u32>(cache, limit, KC_LIMIT);
  store<u32>(cache, batchcount, KC_BATCHCOUNT);
  store<u32>(cache, <u32>((<u64>1 << 32) / stride + 1), KC_RECIP);
  for (let cpu: u32 = 0; cpu < NR_CPUS; cpu++) {
    let ac = kc_ac(cache, cpu);
    store<u32>(ac, limit, AC_LIMIT);
    store<u32>(ac, batchcount, AC_BATCHCOUNT);
  }
  assert(s_mem_end_ok(cache));
  return true;
}

/** The last colour still leaves the objects clear of the freelist. */
function s_mem_end_ok(cache: usize): bool {
  let last = (load<u32>(cache, KC_COLOUR) - 1) * load<u32>(cache, KC_COLOUR_OFF);
  return last + load<u32>(cache, KC_NUM) * load<u32>(cache, KC_SIZE) <= load<u32>(cache, KC_FREELIST_OFF);
}

/** Adds `cache` to the cache chain. Returns false when KMEM_CACHES_MAX caches exist. */
function chain_add(cache: usize): bool {
  if (nr_caches >= KMEM_CACHES_MAX) return false;
  store<usize>(CACHE_CHAIN + (<usize>nr_caches << alignof<usize>()), cache);
  store<u32>(cache, nr_caches, KC_INDEX);
  nr_caches++;
  return true;
}

/**
 * Resets the slab layer: no caches but the static cache of caches, no kmalloc caches, CPU 0.
 * Allocates nothing. Called by mm_init (every slab of the previous physical memory is gone).
 */
export function kmem_cache_init(): void {
  nr_caches = 0;
  memory.fill(KMALLOC_CACHES, 0, KMALLOC_CACHES_NR * sizeof<usize>());
  let ok = setup_cache(CACHE_CACHE, "kmem_cache", KMEM_CACHE_SIZE, L1_CACHE_BYTES, 0);
  assert(ok);
  chain_add(CACHE_CACHE);
  current_cpu = 0;
}

/**
 * Creates a cache of objects of `size` bytes (1 .. KMEM_CACHE_OBJ_MAX) aligned to `align`
 * (a power of two <= PAGE_SIZE; 0 means 8; never less than 8). `name` must be a static
 * string literal (it is kept by reference). `ctor`, if given, runs on every object when its
 * slab is created; callers must free objects in their constructed state, and ctor must not
 * allocate from this cache. Returns the cache (a kmem_cache descriptor address) or 0 on bad
 * arguments, when KMEM_CACHES_MAX caches exist, or when memory is exhausted.
 */
export function kmem_cache_create(name: string, size: u32, align: u32, ctor: ((obj: usize) => void) | null = null): usize {
  if (nr_caches >= KMEM_CACHES_MAX) return 0;
  let cache = kmem_cache_alloc(CACHE_CACHE);
  if (cache == 0) return 0;
  if (!setup_cache(cache, name, size, align, changetype<usize>(ctor))) {
    store<u32>(cache, 0, KC_MAGIC);
    kmem_cache_free_nocheck(CACHE_CACHE, cache);
    return 0;
  }
  chain_add(cache);
  return cache;
}

// ---------------------------------------------------------------------------------------------
// Slabs

/** Allocates and formats a new slab for `cache` onto slabs_free (Linux cache_grow_begin).
 *  Returns false when the buddy allocator has no block of the slab's order. */
function cache_grow(cache: usize): bool {
  let order = load<u32>(cache, KC_ORDER);
  let slab = alloc_pages(order, MIGRATE_UNMOVABLE);
  if (slab == NO_PFN) return false;
  let frames: u32 = 1 << order;
  for (let t: u32 = 0; t < frames; t++) {
    let page = pfn_to_page(slab + t);
    store<u32>(page, t == 0 ? PG_head | PG_slab : PG_slab, PG_FLAGS);
    store<u32>(page, <u32>cache, PG_MAPPING);
    store<u32>(page, slab, PG_INDEX);
  }
  let colour = load<u32>(cache, KC_COLOUR);
  let cn = load<u32>(cache, KC_COLOUR_NEXT);
  store<u32>(cache, cn + 1 >= colour ? 0 : cn + 1, KC_COLOUR_NEXT);
  let addr = pfn_to_addr(slab);
  let s_mem = addr + cn * load<u32>(cache, KC_COLOUR_OFF);
  store<u32>(pfn_to_page(slab), 0, PG_PRIVATE);
  store<usize>(pfn_to_page(slab), s_mem, PG_PRIVATE2);
  let num = load<u32>(cache, KC_NUM);
  let freelist = addr + load<u32>(cache, KC_FREELIST_OFF);
  for (let i: u32 = 0; i < num; i++) store<u16>(freelist + (<usize>i << 1), <u16>i);
  let ctor = load<usize>(cache, KC_CTOR);
  if (ctor != 0) {
    let size = load<u32>(cache, KC_SIZE);
    let fn = changetype<(obj: usize) => void>(ctor);
    for (let i: u32 = 0; i < num; i++) fn(s_mem + <usize>i * size);
  }
  pfn_list_add(cache + KC_SLABS_FREE, slab);
  store<u32>(cache, load<u32>(cache, KC_NR_SLABS) + 1, KC_NR_SLABS);
  store<u32>(cache, load<u32>(cache, KC_FREE_OBJECTS) + num, KC_FREE_OBJECTS);
  return true;
}

/** Returns a free slab's frames to the buddy allocator (Linux slab_destroy). The slab must
 *  already be off every list and out of the counters. */
function slab_destroy(cache: usize, slab: u32): void {
  let order = load<u32>(cache, KC_ORDER);
  let frames: u32 = 1 << order;
  for (let t: u32 = 0; t < frames; t++) {
    let page = pfn_to_page(slab + t);
    store<u32>(page, load<u32>(page, PG_FLAGS) & ~PG_slab, PG_FLAGS);
    store<u32>(page, 0, PG_MAPPING);
    store<u32>(page, 0, PG_INDEX);
  }
  free_pages(slab, order);
  slab_pages_freed += frames;
}

/** Destroys free slabs while the cache keeps more than `keep` free objects in them
 *  (Linux drain_freelist). Returns frames returned to buddy. */
function drain_freelist(cache: usize, keep: u32): u32 {
  let before = slab_pages_freed;
  let num = load<u32>(cache, KC_NUM);
  let guard = load<u32>(cache, KC_NR_SLABS);
  while (load<u32>(cache, KC_FREE_OBJECTS) > keep && guard-- > 0) {
    let slab = load<u32>(cache, KC_SLABS_FREE);
    if (slab == NO_PFN) break;
    pfn_list_del(cache + KC_SLABS_FREE, slab);
    store<u32>(cache, load<u32>(cache, KC_NR_SLABS) - 1, KC_NR_SLABS);
    store<u32>(cache, load<u32>(cache, KC_FREE_OBJECTS) - num, KC_FREE_OBJECTS);
    slab_destroy(cache, slab);
  }
  return slab_pages_freed - before;
}

/** Fills the empty array cache `ac` with up to batchcount objects from partial slabs, then
 *  free slabs, growing the cache if needed (Linux cache_alloc_refill). Returns the objects
 *  now available (0 when memory is exhausted). */
function cache_alloc_refill(cache: usize, ac: usize): u32 {
  let batch = load<u32>(ac, AC_BATCHCOUNT);
  let avail = load<u32>(ac, AC_AVAIL);
  let num = load<u32>(cache, KC_NUM);
  let size = <usize>load<u32>(cache, KC_SIZE);
  while (batch > 0) { // each round takes >= 1 object or stops
    let list = cache + KC_SLABS_PARTIAL;
    let slab = load<u32>(list);
    if (slab == NO_PFN) {
      list = cache + KC_SLABS_FREE;
      slab = load<u32>(list);
      if (slab == NO_PFN) {
        if (!cache_grow(cache)) break;
        slab = load<u32>(list);
      }
    }
    let active = slab_active(slab);
    assert(active < num);
    let take = min(batch, num - active);
    let s_mem = slab_s_mem(slab);
    let freelist = slab_freelist(cache, slab);
    for (let k: u32 = 0; k < take; k++) {
      let idx = <usize>load<u16>(freelist + (<usize>(active + k) << 1));
      store<usize>(ac + AC_ENTRY + (<usize>(avail + k) << alignof<usize>()), s_mem + idx * size);
    }
    avail += take;
    batch -= take;
    slab_set_active(slab, active + take);
    store<u32>(cache, load<u32>(cache, KC_FREE_OBJECTS) - take, KC_FREE_OBJECTS);
    if (active + take == num) {
      pfn_list_del(list, slab);
      pfn_list_add(cache + KC_SLABS_FULL, slab);
    } else if (active == 0) {
      pfn_list_del(list, slab);
      pfn_list_add(cache + KC_SLABS_PARTIAL, slab);
    }
  }
  store<u32>(ac, avail, AC_AVAIL);
  return avail;
}

/** Returns `n` objects listed at `objs` to their slabs (Linux free_block), then releases
 *  free slabs beyond the cache's free_limit. Aborts on a pointer that is not an object
 *  boundary of `cache` or on a double free detected at the slab. */
function free_block(cache: usize, objs: usize, n: u32): void {
  let num = load<u32>(cache, KC_NUM);
  for (let k: u32 = 0; k < n; k++) {
    let obj = load<usize>(objs + (<usize>k << alignof<usize>()));
    let pfn = phys_pfn(obj);
    assert(pfn != NO_PFN);
    let slab = load<u32>(pfn_to_page(pfn), PG_INDEX);
    let objnr = obj_to_index(cache, slab, obj);
    let active = slab_active(slab);
    if (active == 0) mm_bug("kmem_cache_free: double free (slab has no objects out)");
    let freelist = slab_freelist(cache, slab);
    if (!ASC_NO_ASSERT) {
      for (let j = active; j < num; j++) {
        if (<u32>load<u16>(freelist + (<usize>j << 1)) == objnr) mm_bug("kmem_cache_free: double free (object is on its slab's freelist)");
      }
    }
    active--;
    store<u16>(freelist + (<usize>active << 1), <u16>objnr);
    slab_set_active(slab, active);
    store<u32>(cache, load<u32>(cache, KC_FREE_OBJECTS) + 1, KC_FREE_OBJECTS);
    if (active == 0) {
      pfn_list_del(cache + (num == 1 ? KC_SLABS_FULL : KC_SLABS_PARTIAL), slab);
      pfn_list_add(cache + KC_SLABS_FREE, slab);
    } else if (active == num - 1) {
      pfn_list_del(cache + KC_SLABS_FULL, slab);
      pfn_list_add(cache + KC_SLABS_PARTIAL, slab);
    }
  }
  drain_freelist(cache, load<u32>(cache, KC_FREE_LIMIT));
}

/** Flushes the oldest batchcount objects of a full array cache to the slabs (Linux
 *  cache_flusharray). */
function cache_flusharray(cache: usize, ac: usize): void {
  let avail = load<u32>(ac, AC_AVAIL);
  let batch = min(load<u32>(ac, AC_BATCHCOUNT), avail);
  free_block(cache, ac + AC_ENTRY, batch);
  memory.copy(ac + AC_ENTRY, ac + AC_ENTRY + (<usize>batch << alignof<usize>()),
    <usize>(avail - batch) << alignof<usize>());
  store<u32>(ac, avail - batch, AC_AVAIL);
}

/** Empties every CPU's array cache of `cache` into the slabs (Linux drain_cpu_caches). */
function drain_cpu_caches(cache: usize): void {
  for (let cpu: u32 = 0; cpu < NR_CPUS; cpu++) {
    let ac = kc_ac(cache, cpu);
    let avail = load<u32>(ac, AC_AVAIL);
    store<u32>(ac, 0, AC_AVAIL);
    free_block(cache, ac + AC_ENTRY, avail);
  }
}

// ---------------------------------------------------------------------------------------------
// Object allocation

/**
 * Allocates an object from `cache` on the current CPU. Returns its address (aligned as the
 * cache was created, contents as its constructor or last user left them), or 0 when memory
 * is exhausted. Aborts if `cache` is not a live cache.
 */
export function kmem_cache_alloc(cache: usize): usize {
  check_cache(cache, "kmem_cache_alloc: not a kmem_cache");
  let ac = kc_ac(cache, current_cpu);
  let avail = load<u32>(ac, AC_AVAIL);
  if (avail == 0) {
    avail = cache_alloc_refill(cache, ac);
    if (avail == 0) return 0;
  }
  avail--;
  store<u32>(ac, avail, AC_AVAIL);
  store<u32>(ac, 1, AC_TOUCHED);
  return load<usize>(ac + AC_ENTRY + (<usize>avail << alignof<usize>()));
}

/** kmem_cache_free after the ownership check: push on the current CPU's array cache. */
@inline function kmem_cache_free_nocheck(cache: usize, obj: usize): void {
  let ac = kc_ac(cache, current_cpu);
  let avail = load<u32>(ac, AC_AVAIL);
  if (!ASC_NO_ASSERT) {
    for (let i: u32 = 0; i < avail; i++) {
      if (load<usize>(ac + AC_ENTRY + (<usize>i << alignof<usize>())) == obj) mm_bug("kmem_cache_free: double free (object is in the CPU's array cache)");
    }
  }
  if (avail >= load<u32>(ac, AC_LIMIT)) {
    cache_flusharray(cache, ac);
    avail = load<u32>(ac, AC_AVAIL);
  }
  store<usize>(ac + AC_ENTRY + (<usize>avail << alignof<usize>()), obj);
  store<u32>(ac, avail + 1, AC_AVAIL);
}

/**
 * Returns object `obj` to `cache` (to the current CPU's array cache). Always-on checks
 * (abort): obj lies in a slab frame of this very cache and is the start of an object.
 * A double free is caught when the object reaches its slab with nothing out, and at once
 * in debug builds (which scan the array cache and the slab's freelist).
 */
export function kmem_cache_free(cache: usize, obj: usize): void {
  check_cache(cache, "kmem_cache_free: not a kmem_cache");
  let pfn = phys_pfn(obj);
  if (pfn == NO_PFN) mm_bug("kmem_cache_free: pointer outside physical memory");
  let page = pfn_to_page(pfn);
  if ((load<u32>(page, PG_FLAGS) & PG_slab) == 0 || load<u32>(page, PG_MAPPING) != <u32>cache) {
    mm_bug("kmem_cache_free: object does not belong to this cache");
  }
  obj_to_index(cache, load<u32>(page, PG_INDEX), obj);
  kmem_cache_free_nocheck(cache, obj);
}

/**
 * Drains every CPU's array cache of `cache` and returns all its free slabs to the buddy
 * allocator (Linux __kmem_cache_shrink). Returns the number of frames returned.
 */
export function kmem_cache_shrink(cache: usize): u32 {
  check_cache(cache, "kmem_cache_shrink: not a kmem_cache");
  let before = slab_pages_freed;
  drain_cpu_caches(cache);
  drain_freelist(cache, 0);
  return slab_pages_freed - before;
}

/** kmem_cache_shrink on every cache (the cache of caches last). Returns frames returned. */
export function kmem_cache_shrink_all(): u32 {
  let total: u32 = 0;
  for (let i = <i32>nr_caches - 1; i >= 0; i--) {
    total += kmem_cache_shrink(load<usize>(CACHE_CHAIN + (<usize>i << alignof<usize>())));
  }
  return total;
}

/**
 * Destroys `cache`: shrinks it and frees its descriptor. Returns false, leaving the cache
 * intact, if objects are still allocated from it (Linux warns the same way) or for the
 * cache of caches and kmalloc caches. Aborts if `cache` is not a live cache.
 */
export function kmem_cache_destroy(cache: usize): bool {
  check_cache(cache, "kmem_cache_destroy: not a kmem_cache");
  if (cache == CACHE_CACHE) return false;
  for (let i: u32 = 0; i < KMALLOC_CACHES_NR; i++) {
    if (load<usize>(KMALLOC_CACHES + (<usize>i << alignof<usize>())) == cache) return false;
  }
  kmem_cache_shrink(cache);
  if (load<u32>(cache, KC_NR_SLABS) != 0) return false;
  // unlink from the chain, keeping it dense
  let idx = load<u32>(cache, KC_INDEX);
  assert(load<usize>(CACHE_CHAIN + (<usize>idx << alignof<usize>())) == cache);
  for (let i = idx; i + 1 < nr_caches; i++) {
    let c = load<usize>(CACHE_CHAIN + (<usize>(i + 1) << alignof<usize>()));
    store<usize>(CACHE_CHAIN + (<usize>i << alignof<usize>()), c);
    store<u32>(c, i, KC_INDEX);
  }
  nr_caches--;
  store<u32>(cache, 0, KC_MAGIC);
  kmem_cache_free_nocheck(CACHE_CACHE, cache);
  return true;
}

// ---------------------------------------------------------------------------------------------
// kmalloc

/** kmalloc size class of `size` (<= KMALLOC_MAX_CACHE_SIZE): 0 for 8 bytes .. 8 for 2048. */
@inline function kmalloc_index(size: usize): u32 {
  if (size <= <usize>KMALLOC_MIN_SIZE) return 0;
  return 32 - <u32>clz(<u32>size - 1) - KMALLOC_SHIFT_LOW;
}

function kmalloc_name(idx: u32): string {
  switch (idx) {
    case 0: return "kmalloc-8";
    case 1: return "kmalloc-16";
    case 2: return "kmalloc-32";
    case 3: return "kmalloc-64";
    case 4: return "kmalloc-128";
    case 5: return "kmalloc-256";
    case 6: return "kmalloc-512";
    case 7: return "kmalloc-1024";
    default: return "kmalloc-2048";
  }
}

/** Creates kmalloc cache `idx` on first use (Linux creates them at boot; lazily here so that
 *  an idle slab layer holds no frames). Returns it or 0 when memory is exhausted. */
function kmalloc_cache_setup(idx: u32): usize {
  let size = KMALLOC_MIN_SIZE << idx;
  let cache = kmem_cache_create(kmalloc_name(idx), size, KMALLOC_MIN_SIZE, null);
  if (cache != 0) store<usize>(KMALLOC_CACHES + (<usize>idx << alignof<usize>()), cache);
  return cache;
}

/** kmalloc above KMALLOC_MAX_CACHE_SIZE: a whole buddy block (Linux kmalloc_large). */
function kmalloc_large(size: usize): usize {
  if (size > <usize>KMALLOC_MAX_SIZE) return 0;
  let frames = <u32>((size + PAGE_SIZE - 1) >> PAGE_SHIFT);
  let order: u32 = frames <= 1 ? 0 : 32 - <u32>clz(frames - 1);
  let pfn = alloc_pages(order, MIGRATE_UNMOVABLE);
  if (pfn == NO_PFN) return 0;
  store<u32>(pfn_to_page(pfn), KMALLOC_LARGE_MARK, PG_MAPPING);
  return pfn_to_addr(pfn);
}

/**
 * Allocates `size` bytes (0 is treated as 1). Sizes up to KMALLOC_MAX_CACHE_SIZE come from
 * the power-of-two caches kmalloc-8 .. kmalloc-2048 (8-byte aligned); larger sizes up to
 * KMALLOC_MAX_SIZE (4 MiB) take a buddy block of 2^order frames (4 KiB aligned). Returns the address, or 0 when memory is exhausted or size > KMALLOC_MAX_SIZE.
 * The memory is NOT zeroed; see kzalloc.
 */
export function kmalloc(size: usize): usize {
  if (size > <usize>KMALLOC_MAX_CACHE_SIZE) return kmalloc_large(size);
  let idx = kmalloc_index(size);
  let cache = load<usize>(KMALLOC_CACHES + (<usize>idx << alignof<usize>()));
  if (cache == 0) {
    cache = kmalloc_cache_setup(idx);
    if (cache == 0) return 0;
  }
  return kmem_cache_alloc(cache);
}

/** kmalloc, then zero the `size` bytes. Returns 0 on failure like kmalloc. */
export function kzalloc(size: usize): usize {
  let p = kmalloc(size);
  if (p != 0) memory.fill(p, 0, size);
  return p;
}

/**
 * Frees memory from kmalloc/kzalloc. kfree(0) does nothing. Aborts when `ptr` is not in
 * physical memory, not an object of a kmalloc-capable slab or the start of a kmalloc_large
 * block, or on a double free of a large block (slab objects: see kmem_cache_free).
 */
export function kfree(ptr: usize): void {
  if (ptr == 0) return;
  let pfn = phys_pfn(ptr);
  if (pfn == NO_PFN) mm_bug("kfree: pointer outside physical memory");
  let page = pfn_to_page(pfn);
  let flags = load<u32>(page, PG_FLAGS);
  if (flags & PG_slab) {
    let cache = <usize>load<u32>(page, PG_MAPPING);
    obj_to_index(cache, load<u32>(page, PG_INDEX), ptr);
    kmem_cache_free_nocheck(cache, ptr);
    return;
  }
  if (load<u32>(page, PG_MAPPING) != KMALLOC_LARGE_MARK || pfn_to_addr(pfn) != ptr) {
    mm_bug("kfree: pointer not from kmalloc (or double free)");
  }
  store<u32>(page, 0, PG_MAPPING);
  free_pages(pfn, <u32>load<u8>(page, PG_ORDER));
}

/** Usable bytes of the kmalloc allocation at `ptr` (its size class or block size); 0 for 0. */
export function ksize(ptr: usize): usize {
  if (ptr == 0) return 0;
  let pfn = phys_pfn(ptr);
  if (pfn == NO_PFN) mm_bug("ksize: pointer outside physical memory");
  let page = pfn_to_page(pfn);
  if (load<u32>(page, PG_FLAGS) & PG_slab) return load<u32>(<usize>load<u32>(page, PG_MAPPING), KC_OBJ_SIZE);
  return <usize>PAGE_SIZE << load<u8>(page, PG_ORDER);
}

// ---------------------------------------------------------------------------------------------
// Introspection (Linux /proc/slabinfo)

/** Object size in bytes `cache` was created with. */
export function kmem_cache_size(cache: usize): u32 {
  check_cache(cache, "kmem_cache_size: not a kmem_cache");
  return load<u32>(cache, KC_OBJ_SIZE);
}

/** Objects held by callers: total minus free objects in slabs minus those cached per CPU. */
export function kmem_cache_objects_in_use(cache: usize): u32 {
  check_cache(cache, "kmem_cache_objects_in_use: not a kmem_cache");
  let cached: u32 = 0;
  for (let cpu: u32 = 0; cpu < NR_CPUS; cpu++) cached += load<u32>(kc_ac(cache, cpu), AC_AVAIL);
  return kmem_cache_total_objects(cache) - load<u32>(cache, KC_FREE_OBJECTS) - cached;
}

/** Object slots in all slabs of `cache`. */
export function kmem_cache_total_objects(cache: usize): u32 {
  check_cache(cache, "kmem_cache_total_objects: not a kmem_cache");
  return load<u32>(cache, KC_NR_SLABS) * load<u32>(cache, KC_NUM);
}

/** Slabs of `cache`. */
export function kmem_cache_nr_slabs(cache: usize): u32 {
  check_cache(cache, "kmem_cache_nr_slabs: not a kmem_cache");
  return load<u32>(cache, KC_NR_SLABS);
}

/** Frames held by the slabs of `cache`. */
export function kmem_cache_nr_pages(cache: usize): u32 {
  check_cache(cache, "kmem_cache_nr_pages: not a kmem_cache");
  return load<u32>(cache, KC_NR_SLABS) << load<u32>(cache, KC_ORDER);
}

/** Live caches, the cache of caches ("kmem_cache") included; valid indices are 0 .. n-1. */
export function slab_cache_count(): u32 {
  return nr_caches;
}

/** Descriptor of cache `i` (0 .. slab_cache_count()-1), or 0 when out of range. */
export function slab_cache_get(i: u32): usize {
  if (i >= nr_caches) return 0;
  return load<usize>(CACHE_CHAIN + (<usize>i << alignof<usize>()));
}

/** Writes cache `i`'s name as ASCII bytes (at most min(max, KMEM_CACHE_NAME_MAX)) at `dst`
 *  and returns the bytes written; 0 when i is out of range. */
export function slab_cache_name(i: u32, dst: usize, max: u32): u32 {
  let cache = slab_cache_get(i);
  if (cache == 0) return 0;
  let name = load<usize>(cache, KC_NAME);
  let len = min(<u32>changetype<string>(name).length, min(max, KMEM_CACHE_NAME_MAX));
  for (let k: u32 = 0; k < len; k++) {
    let c = load<u16>(name + (<usize>k << 1));
    store<u8>(dst + k, c < 0x80 ? <u8>c : 0x3f); // '?' for non-ASCII
  }
  return len;
}

/** Object size of cache `i` in bytes (0 when out of range). */
export function slab_cache_object_size(i: u32): u32 {
  let c = slab_cache_get(i);
  return c == 0 ? 0 : kmem_cache_size(c);
}
/** Objects of cache `i` held by callers (0 when out of range). */
export function slab_cache_objects_in_use(i: u32): u32 {
  let c = slab_cache_get(i);
  return c == 0 ? 0 : kmem_cache_objects_in_use(c);
}
/** Object slots in cache `i`'s slabs (0 when out of range). */
export function slab_cache_total_objects(i: u32): u32 {
  let c = slab_cache_get(i);
  return c == 0 ? 0 : kmem_cache_total_objects(c);
}
/** Slabs of cache `i` (0 when out of range). */
export function slab_cache_slabs(i: u32): u32 {
  let c = slab_cache_get(i);
  return c == 0 ? 0 : kmem_cache_nr_slabs(c);
}
/** Frames held by cache `i` (0 when out of range). */
export function slab_cache_pages(i: u32): u32 {
  let c = slab_cache_get(i);
  return c == 0 ? 0 : kmem_cache_nr_pages(c);
}

/** Chain index of the live cache `cache` (the frame map names slab frames by it). */
@inline export function slab_cache_index_of(cache: usize): u32 { return load<u32>(cache, KC_INDEX); }

/** Slabs on the list starting at `head`, at most `max` (a list cycle cannot make it loop). */
function slab_list_length(head: u32, max: u32): u32 {
  let n: u32 = 0;
  let slab = head;
  while (slab != NO_PFN && n < max) { n++; slab = load<u32>(pfn_to_page(slab), PG_LRU_NEXT); }
  return n;
}

/** u32 fields slab_cache_stats writes (Linux /proc/slabinfo columns). */
export const SLAB_STATS_FIELDS: u32 = 13;

/**
 * Writes cache `i`'s slabinfo as SLAB_STATS_FIELDS u32 at `out`: object size, stride,
 * objects per slab, slab order, active objects (held by callers), total object slots,
 * objects cached in the per-CPU arrays, slabs partial / full / free, frames, per-CPU array
 * limit, batchcount. O(slabs of the cache). Returns false (nothing written) when i is out of range.
 */
export function slab_cache_stats(i: u32, out: usize): bool {
  let c = slab_cache_get(i);
  if (c == 0) return false;
  let cached: u32 = 0;
  for (let cpu: u32 = 0; cpu < NR_CPUS; cpu++) cached += load<u32>(kc_ac(c, cpu), AC_AVAIL);
  let slabs = load<u32>(c, KC_NR_SLABS);
  store<u32>(out, load<u32>(c, KC_OBJ_SIZE));
  store<u32>(out, load<u32>(c, KC_SIZE), 4);
  store<u32>(out, load<u32>(c, KC_NUM), 8);
  store<u32>(out, load<u32>(c, KC_ORDER), 12);
  store<u32>(out, kmem_cache_objects_in_use(c), 16);
  store<u32>(out, kmem_cache_total_objects(c), 20);
  store<u32>(out, cached, 24);
  store<u32>(out, slab_list_length(load<u32>(c, KC_SLABS_PARTIAL), slabs), 28);
  store<u32>(out, slab_list_length(load<u32>(c, KC_SLABS_FULL), slabs), 32);
  store<u32>(out, slab_list_length(load<u32>(c, KC_SLABS_FREE), slabs), 36);
  store<u32>(out, kmem_cache_nr_pages(c), 40);
  store<u32>(out, load<u32>(c, KC_LIMIT), 44);
  store<u32>(out, load<u32>(c, KC_BATCHCOUNT), 48);
  return true;
}

/**
 * Checks every cache's slab lists against the invariants in the header (list membership by
 * active count, PG_slab/mapping/index on every frame, free_objects, nr_slabs). Aborts on
 * the first violation. Returns the total number of slabs. For tests and debugging.
 */
export function slab_verify(): u32 {
  let total: u32 = 0;
  for (let i: u32 = 0; i < nr_caches; i++) {
    let cache = slab_cache_get(i);
    if (load<u32>(cache, KC_MAGIC) != KMEM_CACHE_MAGIC) mm_bug("slab_verify: bad magic");
    if (load<u32>(cache, KC_INDEX) != i) mm_bug("slab_verify: bad chain index");
    let num = load<u32>(cache, KC_NUM);
    let frames: u32 = 1 << load<u32>(cache, KC_ORDER);
    let slabs: u32 = 0;
    let free: u32 = 0;
    for (let l: u32 = 0; l < 3; l++) {
      let head = cache + KC_SLABS_PARTIAL + (<usize>l << 2);
      let slab = load<u32>(head);
      let prev = NO_PFN;
      while (slab != NO_PFN) {
        if (slabs >= nr_frames) mm_bug("slab_verify: slab list cycle");
        let active = slab_active(slab);
        let ok = l == 0 ? active > 0 && active < num : l == 1 ? active == num : active == 0;
        if (!ok) mm_bug("slab_verify: slab on the wrong list");
        if (load<u32>(pfn_to_page(slab), PG_LRU_PREV) != prev) mm_bug("slab_verify: broken prev link");
        for (let t: u32 = 0; t < frames; t++) {
          let page = pfn_to_page(slab + t);
          if ((load<u32>(page, PG_FLAGS) & PG_slab) == 0) mm_bug("slab_verify: frame without PG_slab");
          if (load<u32>(page, PG_MAPPING) != <u32>cache) mm_bug("slab_verify: frame mapping is not its cache");
          if (load<u32>(page, PG_INDEX) != slab) mm_bug("slab_verify: frame index is not its slab");
        }
        free += num - active;
        slabs++;
        prev = slab;
        slab = load<u32>(pfn_to_page(slab), PG_LRU_NEXT);
      }
    }
    if (slabs != load<u32>(cache, KC_NR_SLABS)) mm_bug("slab_verify: nr_slabs mismatch");
    if (free != load<u32>(cache, KC_FREE_OBJECTS)) mm_bug("slab_verify: free_objects mismatch");
    total += slabs;
  }
  return total;
}
