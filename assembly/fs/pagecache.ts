// fs/pagecache.ts -- the page cache and the buffer cache, one cache of 4 KiB frames.
//
// Layer: between the virtio-blk driver and the fs layers. As in Linux, the buffer cache is the
// page cache of the block device: a page is keyed by (mapping, index) where mapping 0 is the
// block device (index = block number, metadata buffers) and mapping = ino is a file's pages
// (index = page index in the file). Each file mapping is an address_space holding its pages
// in a list sorted by index (writeback walks it in order, so extents come out contiguous).
//
// Interface: bread/bget (metadata buffers), find_page/add_page (file pages), mapping_get,
// reclaim (CLOCK second-chance over one LRU), pagecache_stats.
// Rules:
//  - a page is evictable only when clean: not PG_dirty (data), not PG_jdirty or PG_checkpoint
//    (metadata pinned by the journal) and count == 0;
//  - metadata buffers are evicted only at syscall boundaries (reclaim(.., true)), because code
//    inside a syscall holds addresses of buffers across allocations; file pages may be
//    reclaimed at any allocation (callers pin the pages they hold with count);
//  - every cached page is on exactly one hash chain and on the LRU.
//
// struct address_space (slab "address_space", AS_SIZE bytes):
//
//   0       4         8       12      16       20          24           28          32      36
//   +-------+---------+-------+-------+--------+-----------+------------+-----------+-------+
//   | ino   | nrpages | first | last  | ndirty | hash_next | dirty_next | opencount | flags |
//   +-------+---------+-------+-------+--------+-----------+------------+-----------+-------+
//   40        48        56
//   +---------+---------+
//   | seq_pos | seq_run |
//   +---------+---------+
//   first/last are pfns of the sorted page list (NO_PFN when empty); hash_next/dirty_next are
//   address_space pointers (0 = end); seq_pos is the byte offset where the last read or write
//   ended and seq_run the bytes of the sequential run that ended there (free-behind below).

import { MAX_ORDER } from "../params";
import {
  NO_PFN, PG_MAPPING, PG_INDEX, PG_HASH_NEXT, PG_LRU_PREV, PG_LRU_NEXT, PG_I_PREV, PG_I_NEXT, PG_SEQ,
  PG_cache, PG_uptodate, PG_dirty, PG_jdirty, PG_checkpoint, PG_lru, PG_referenced, PG_delalloc,
  MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE,
  pfn_to_addr, addr_to_pfn, pfn_to_page, virt_to_page, pg_flags, pg_set_flags, pg_get32, pg_set32,
  pg_count, pg_set_count,
} from "../mm/page";
import { alloc_pages, free_pages, nr_free_pages, alloc_large_system_hash, hash_entries } from "../mm/buddy";
import { kmem_cache_create, kmem_cache_alloc, kmem_cache_free } from "../mm/slab";
import { blk_add, blk_submit, VIRTIO_BLK_T_IN } from "../dev/virtio_blk";
import { block_verify, VERIFY_OK, HDR_TID, MAGIC_BTREE } from "./format";
import { EIO, ENOMEM, EUCLEAN } from "../lib/errno";
import { metadata_error } from "./errors";

export const AS_INO: usize = 0;
export const AS_NRPAGES: usize = 4;
export const AS_FIRST: usize = 8;
export const AS_LAST: usize = 12;
export const AS_NDIRTY: usize = 16;
export const AS_HASH_NEXT: usize = 20;
export const AS_DIRTY_NEXT: usize = 24;
export const AS_OPENCOUNT: usize = 28;
export const AS_FLAGS: usize = 32;
export const AS_SEQ_POS: usize = 40;
export const AS_SEQ_RUN: usize = 48;
export const AS_SIZE: u32 = 56;
/** address_space flags */
export const AS_DIRTY_LISTED: u32 = 1; // on the dirty mapping list
export const AS_ORPHAN: u32 = 2; // unlinked while open: free the inode at last close

/** The struct page flags this layer owns (the allocator's, like PG_head, are left alone). */
const CACHE_FLAGS: u32 = PG_cache | PG_uptodate | PG_dirty | PG_jdirty | PG_checkpoint | PG_lru |
  PG_delalloc | PG_referenced;
const MAPPING_HASH_SIZE: u32 = 4096;
const MAPPING_HASH: usize = memory.data(MAPPING_HASH_SIZE * 4);
/** Pages scanned per reclaim call at most, in multiples of the pages wanted. */
const RECLAIM_SCAN_FACTOR: u32 = 4;

let hash_table: usize = 0; // u32 pfn heads
let hash_mask: u32 = 0;
let lru_head: u32 = NO_PFN; // most recently added
let lru_tail: u32 = NO_PFN;
let as_cache: usize = 0;
/** Head of the list of address_spaces that have dirty pages. */
export let dirty_mappings: usize = 0;

export let nr_cached: u32 = 0;
export let nr_dirty: u32 = 0; // dirty data pages
export let nr_pinned_meta: u32 = 0; // metadata buffers pinned by the journal
/** Last buffer sequence number handed out (buffer_seq_bump). */
let buffer_seq_last: u64 = 0;
export let stat_hits: u64 = 0;
export let stat_misses: u64 = 0;
export let stat_evictions: u64 = 0;
/** File pages dropped behind a sequential pass (free-behind). */
export let stat_freebehind: u64 = 0;
/** Set by bread on failure: -EIO (device) or -EUCLEAN (checksum/location mismatch). */
export let buf_errno: i32 = 0;

/** Fewest buckets of the page hash. */
const HASH_BUCKETS_MIN: u32 = 1024;

/** Sets up the hash table sized for the frame table's capacity. Returns 0 or -ENOMEM. */
export function pagecache_init(): i32 {
  if (hash_table != 0) return 0;
  // one bucket (a u32 pfn) per 2 frames the memory can grow to
  hash_table = alloc_large_system_hash(4, 2, HASH_BUCKETS_MIN, MAX_ORDER - 1);
  if (hash_table == 0) return -ENOMEM;
  hash_mask = hash_entries - 1;
  memory.fill(hash_table, 0xff, <usize>hash_entries * 4);
  memory.fill(MAPPING_HASH, 0, MAPPING_HASH_SIZE * 4);
  as_cache = kmem_cache_create("address_space", AS_SIZE, 8);
  return as_cache != 0 ? 0 : -ENOMEM;
}

@inline function hash_slot(mapping: u32, index: u32): usize {
  const h = (mapping * 0x9e3779b1) ^ (index * 0x85ebca6b);
  return hash_table + (<usize>((h ^ (h >>> 15)) & hash_mask) << 2);
}

/** The cached page (mapping, index), or NO_PFN. Marks it referenced for the LRU clock. */
export function find_page(mapping: u32, index: u32): u32 {
  const pfn = page_cached(mapping, index);
  if (pfn == NO_PFN) { stat_misses++; return NO_PFN; }
  const f = pg_flags(pfn);
  if ((f & PG_referenced) == 0) pg_set_flags(pfn, f | PG_referenced);
  stat_hits++;
  return pfn;
}

/**
 * The cached page (mapping, index), or NO_PFN, for probes that do not use the page (is the
 * next page cached? an assertion): no referenced mark, no hit or miss counted, so a probe
 * gives no page a second chance it did not earn.
 */
export function page_cached(mapping: u32, index: u32): u32 {
  let pfn = load<u32>(hash_slot(mapping, index));
  while (pfn != NO_PFN) {
    if (pg_get32(pfn, PG_INDEX) == index && pg_get32(pfn, PG_MAPPING) == mapping) return pfn;
    pfn = pg_get32(pfn, PG_HASH_NEXT);
  }
  return NO_PFN;
}

function lru_add(pfn: u32): void {
  pg_set32(pfn, PG_LRU_PREV, NO_PFN);
  pg_set32(pfn, PG_LRU_NEXT, lru_head);
  if (lru_head != NO_PFN) pg_set32(lru_head, PG_LRU_PREV, pfn); else lru_tail = pfn;
  lru_head = pfn;
}

function lru_del(pfn: u32): void {
  const prev = pg_get32(pfn, PG_LRU_PREV);
  const next = pg_get32(pfn, PG_LRU_NEXT);
  if (prev != NO_PFN) pg_set32(prev, PG_LRU_NEXT, next); else lru_head = next;
  if (next != NO_PFN) pg_set32(next, PG_LRU_PREV, prev); else lru_tail = prev;
}

function hash_del(pfn: u32): void {
  const slot = hash_slot(pg_get32(pfn, PG_MAPPING), pg_get32(pfn, PG_INDEX));
  let cur = load<u32>(slot);
  if (cur == pfn) { store<u32>(slot, pg_get32(pfn, PG_HASH_NEXT)); return; }
  while (cur != NO_PFN) {
    const next = pg_get32(cur, PG_HASH_NEXT);
    if (next == pfn) { pg_set32(cur, PG_HASH_NEXT, pg_get32(pfn, PG_HASH_NEXT)); return; }
    cur = next;
  }
  assert(false, "page not on its hash chain");
}

// ---- address_space ---------------------------------------------------------------------------

@inline function mapping_slot(ino: u32): usize {
  return MAPPING_HASH + (<usize>((ino * 0x9e3779b1) >>> 20) << 2);
}

/** The address_space of `ino`, or 0 when none is in core. */
export function mapping_find(ino: u32): usize {
  let as = load<u32>(mapping_slot(ino));
  while (as != 0) {
    if (load<u32>(as, AS_INO) == ino) return as;
    as = load<u32>(as, AS_HASH_NEXT);
  }
  return 0;
}

/** The address_space of `ino`, created empty if needed; 0 when memory is exhausted. */
export function mapping_get(ino: u32): usize {
  let as = mapping_find(ino);
  if (as != 0) return as;
  as = kmem_cache_alloc(as_cache);
  if (as == 0) return 0;
  memory.fill(as, 0, AS_SIZE);
  store<u32>(as, ino, AS_INO);
  store<u32>(as, NO_PFN, AS_FIRST);
  store<u32>(as, NO_PFN, AS_LAST);
  const slot = mapping_slot(ino);
  store<u32>(as, load<u32>(slot), AS_HASH_NEXT);
  store<u32>(slot, <u32>as);
  return as;
}

/** Frees the address_space if nothing holds it (no pages, not open, not dirty-listed). */
export function mapping_put(as: usize): void {
  if (load<u32>(as, AS_NRPAGES) != 0 || load<u32>(as, AS_OPENCOUNT) != 0) return;
  if (load<u32>(as, AS_FLAGS) != 0) return;
  const ino = load<u32>(as, AS_INO);
  const slot = mapping_slot(ino);
  let cur = load<u32>(slot);
  if (cur == <u32>as) store<u32>(slot, load<u32>(as, AS_HASH_NEXT));
  else {
    while (cur != 0 && load<u32>(cur, AS_HASH_NEXT) != <u32>as) cur = load<u32>(cur, AS_HASH_NEXT);
    assert(cur != 0);
    store<u32>(cur, load<u32>(as, AS_HASH_NEXT), AS_HASH_NEXT);
  }
  kmem_cache_free(as_cache, as);
}

/** Inserts `pfn` into the mapping's page list, keeping it sorted by index. */
function mapping_link(as: usize, pfn: u32, index: u32): void {
  let after = load<u32>(as, AS_LAST);
  // Sequential writers append: walk back from the tail, usually zero steps.
  while (after != NO_PFN && pg_get32(after, PG_INDEX) > index) after = pg_get32(after, PG_I_PREV);
  const before = after == NO_PFN ? load<u32>(as, AS_FIRST) : pg_get32(after, PG_I_NEXT);
  pg_set32(pfn, PG_I_PREV, after);
  pg_set32(pfn, PG_I_NEXT, before);
  if (after != NO_PFN) pg_set32(after, PG_I_NEXT, pfn); else store<u32>(as, pfn, AS_FIRST);
  if (before != NO_PFN) pg_set32(before, PG_I_PREV, pfn); else store<u32>(as, pfn, AS_LAST);
  store<u32>(as, load<u32>(as, AS_NRPAGES) + 1, AS_NRPAGES);
}

function mapping_unlink(as: usize, pfn: u32): void {
  const prev = pg_get32(pfn, PG_I_PREV);
  const next = pg_get32(pfn, PG_I_NEXT);
  if (prev != NO_PFN) pg_set32(prev, PG_I_NEXT, next); else store<u32>(as, next, AS_FIRST);
  if (next != NO_PFN) pg_set32(next, PG_I_PREV, prev); else store<u32>(as, prev, AS_LAST);
  store<u32>(as, load<u32>(as, AS_NRPAGES) - 1, AS_NRPAGES);
}

/** Adds `as` to the dirty mapping list (idempotent). */
export function mapping_mark_dirty(as: usize): void {
  const f = load<u32>(as, AS_FLAGS);
  if (f & AS_DIRTY_LISTED) return;
  store<u32>(as, f | AS_DIRTY_LISTED, AS_FLAGS);
  store<u32>(as, <u32>dirty_mappings, AS_DIRTY_NEXT);
  dirty_mappings = as;
}

/** Detaches and returns the whole dirty mapping list (writeback walks it). */
export function take_dirty_mappings(): usize {
  const head = dirty_mappings;
  dirty_mappings = 0;
  return head;
}

// ---- free-behind -----------------------------------------------------------------------------
//
// A sequential pass over a big file (a copy, an import, a backup) would fill the cache with
// pages it never reads again. Here that costs more than cache space: linear memory never
// shrinks, and the host backs each frame only on its first touch (a fault, ~1.6 us per 4 KiB
// page on this machine class: four times the cost of copying the page). A cache that keeps
// every page of a stream therefore grows the host's resident memory for good and pays a
// fault per page of the stream. So once a run of sequential reads or writes of one file
// passes FREEBEHIND_START bytes, the pages past that offset leave the cache as soon as the
// pass is done with them: a read drops a page once it has copied its last byte out, and
// writeback drops the pages it has just written. Their frames are reused by the next pages of
// the stream, frames the host has already faulted in. Random access and the first
// FREEBEHIND_START bytes of every file are cached as before. The run is tracked per inode
// (Linux keeps readahead state per open file). This is Solaris UFS's freebehind, and what
// Linux's uncached buffered I/O (RWF_DONTCACHE, 6.14) does per call.

/**
 * Bytes (8 MiB) a sequential run must pass before free-behind starts, and the file offset
 * below which pages always stay cached.
 */
export const FREEBEHIND_START: u64 = 8 << 20;

/**
 * Length in bytes of the sequential run that an access of `len` bytes at byte offset `pos`
 * to the file of `as` (0: none in core) continues or starts.
 */
export function mapping_seq_run(as: usize, pos: u64, len: u64): u64 {
  return as != 0 && load<u64>(as, AS_SEQ_POS) == pos ? load<u64>(as, AS_SEQ_RUN) + len : len;
}

/** Records that `len` bytes at `pos` of the file of `as` (0: none in core) were accessed. */
export function mapping_note_access(as: usize, pos: u64, len: u64): void {
  if (as == 0) return;
  store<u64>(as, mapping_seq_run(as, pos, len), AS_SEQ_RUN);
  store<u64>(as, pos + len, AS_SEQ_POS);
}

/** True when the pages of `as` past FREEBEHIND_START leave the cache once written back. */
export function mapping_streaming(as: usize): bool {
  return load<u64>(as, AS_SEQ_RUN) >= FREEBEHIND_START;
}

/**
 * Drops the file page `pfn` from the cache when it is clean and unpinned (free-behind). The
 * caller must hold its mapping (open, or on the dirty list): the last page leaving does not
 * free it then.
 */
export function freebehind_page(pfn: u32): void {
  if (!evictable(pfn, false)) return;
  remove_page(pfn);
  stat_freebehind++;
}

// ---- buffer sequence numbers ---------------------------------------------------------------
//
// An address into a metadata buffer stays good while the frame holds the same block and the
// bytes at it have not moved. Each cached frame carries a sequence number (struct page seq),
// new whenever the frame enters the cache and whenever its owner moves bytes around in it
// (buffer_seq_bump); a remembered (address, seq) pair is good while buffer_seq_valid says so.

/** The sequence number of the cached metadata buffer holding `addr`. */
export function buffer_seq(addr: usize): u64 {
  return load<u64>(virt_to_page(addr), PG_SEQ);
}

/** Gives the buffer holding `addr` a new sequence number: the bytes in it moved. */
export function buffer_seq_bump(addr: usize): void {
  store<u64>(virt_to_page(addr), ++buffer_seq_last, PG_SEQ);
}

/** True while `addr` is in a cached metadata buffer whose sequence number is still `seq`. */
export function buffer_seq_valid(addr: usize, seq: u64): bool {
  const pfn = addr_to_pfn(addr);
  return (pg_flags(pfn) & PG_cache) != 0 && pg_get32(pfn, PG_MAPPING) == 0 && load<u64>(pfn_to_page(pfn), PG_SEQ) == seq;
}

// ---- frames ----------------------------------------------------------------------------------

/**
 * A free frame for the cache. When the buddy allocator has none, clean file pages are
 * reclaimed (never metadata buffers: see the rules above). NO_PFN when memory is exhausted.
 */
function cache_alloc_frame(mapping: u32): u32 {
  const mt = mapping == 0 ? MIGRATE_RECLAIMABLE : MIGRATE_MOVABLE;
  let pfn = alloc_pages(0, mt);
  if (pfn == NO_PFN) {
    reclaim(32, false);
    pfn = alloc_pages(0, mt);
  }
  if (pfn == NO_PFN) {
    // the scanned tail held only buffers (not evictable inside a syscall) or dirty or pinned
    // pages: look at the whole LRU
    reclaim(32, false, nr_cached * 2);
    pfn = alloc_pages(0, mt);
  }
  return pfn;
}

/**
 * Inserts a new page (mapping, index) that must not be cached yet; its contents are
 * undefined and it is not uptodate. Returns the pfn or NO_PFN (memory exhausted).
 */
export function add_page(mapping: u32, index: u32): u32 {
  // the frame first: allocating may reclaim pages and free an empty address_space
  const pfn = cache_alloc_frame(mapping);
  if (pfn == NO_PFN) return NO_PFN;
  return add_page_frame(mapping, index, pfn);
}

/**
 * Inserts (mapping, index), not cached yet, using the order-0 frame `pfn` the caller
 * allocated (readahead takes contiguous frames). Returns pfn, or NO_PFN (the frame is freed)
 * when the address_space cannot be allocated.
 */
export function add_page_frame(mapping: u32, index: u32, pfn: u32): u32 {
  if (!ASC_NO_ASSERT) assert(page_cached(mapping, index) == NO_PFN, "page already cached");
  let as: usize = 0;
  if (mapping != 0) {
    as = mapping_get(mapping);
    if (as == 0) { free_pages(pfn, 0); return NO_PFN; }
  }
  pg_set_flags(pfn, (pg_flags(pfn) & ~CACHE_FLAGS) | PG_cache | PG_lru);
  pg_set_count(pfn, 0);
  pg_set32(pfn, PG_MAPPING, mapping);
  pg_set32(pfn, PG_INDEX, index);
  buffer_seq_bump(pfn_to_addr(pfn)); // no address remembered from its last life is good
  const slot = hash_slot(mapping, index);
  pg_set32(pfn, PG_HASH_NEXT, load<u32>(slot));
  store<u32>(slot, pfn);
  lru_add(pfn);
  if (as != 0) mapping_link(as, pfn, index);
  nr_cached++;
  return pfn;
}

/** Removes a clean, unpinned page from the cache and frees its frame. */
export function remove_page(pfn: u32): void {
  const f = pg_flags(pfn);
  assert((f & PG_cache) != 0 && (f & (PG_jdirty | PG_checkpoint)) == 0);
  if (f & PG_dirty) {
    nr_dirty--;
  }
  hash_del(pfn);
  lru_del(pfn);
  const mapping = pg_get32(pfn, PG_MAPPING);
  if (mapping == 0) tlb_forget(pg_get32(pfn, PG_INDEX));
  if (mapping != 0) {
    const as = mapping_find(mapping);
    assert(as != 0);
    if (f & PG_dirty) store<u32>(as, load<u32>(as, AS_NDIRTY) - 1, AS_NDIRTY);
    mapping_unlink(as, pfn);
    mapping_put(as);
  }
  pg_set_flags(pfn, f & ~CACHE_FLAGS);
  free_pages(pfn, 0);
  nr_cached--;
}

/** Marks a file page dirty (counts it once). */
export function set_page_dirty(pfn: u32): void {
  const f = pg_flags(pfn);
  if (f & PG_dirty) return;
  pg_set_flags(pfn, f | PG_dirty | PG_uptodate);
  nr_dirty++;
  const as = mapping_find(pg_get32(pfn, PG_MAPPING));
  assert(as != 0);
  store<u32>(as, load<u32>(as, AS_NDIRTY) + 1, AS_NDIRTY);
  mapping_mark_dirty(as);
}

/** Clears a file page's dirty bit after writeback. */
export function clear_page_dirty(pfn: u32): void {
  const f = pg_flags(pfn);
  if ((f & PG_dirty) == 0) return;
  pg_set_flags(pfn, f & ~(PG_dirty | PG_delalloc));
  nr_dirty--;
  const as = mapping_find(pg_get32(pfn, PG_MAPPING));
  store<u32>(as, load<u32>(as, AS_NDIRTY) - 1, AS_NDIRTY);
}

/** Journal pin accounting: a buffer entering or leaving PG_jdirty|PG_checkpoint. */
export function meta_pin_delta(d: i32): void { nr_pinned_meta = <u32>(<i32>nr_pinned_meta + d); }

// ---- metadata buffers ------------------------------------------------------------------------

// A direct-mapped lookaside of recently used metadata buffers in front of the hash table
// (every tree walk reads a root, upper levels and a leaf). An entry is (blk + 1, buffer
// address | TLB_REF); a page leaving the cache clears its entry, so a hit is always a cached,
// uptodate buffer. A hit touches only the entry (8 bytes in a 128 KiB table that stays in
// L2), not the hash chain nor the 64-byte struct page: on a tree larger than the CPU caches
// the struct page of a random leaf is one more DRAM miss per walk. The CLOCK's second-chance
// bit of a buffer found here is therefore kept in the entry (TLB_REF, the low bit of the
// page-aligned address) and folded into PG_referenced by reclaim (tlb_take_ref). This is the
// "translation cache in front of the buffer pool hash table" of LeanStore (Leis et al.,
// ICDE 2018, section III) without swizzled pointers in the nodes themselves.
const BUF_TLB_SIZE: u32 = 16384;
const BUF_TLB: usize = memory.data(BUF_TLB_SIZE * 8);
/** Referenced since reclaim last looked at the buffer (an address's low bits are free). */
const TLB_REF: u32 = 1;
@inline function tlb_slot(blk: u32): usize { return BUF_TLB + (<usize>(blk & (BUF_TLB_SIZE - 1)) << 3); }
@inline function tlb_put(blk: u32, pfn: u32): void {
  const e = tlb_slot(blk);
  store<u32>(e, blk + 1);
  store<u32>(e, <u32>pfn_to_addr(pfn) | TLB_REF, 4);
}
function tlb_forget(blk: u32): void {
  const e = tlb_slot(blk);
  if (load<u32>(e) == blk + 1) store<u32>(e, 0);
}
/** The cached buffer of `blk` if its lookaside entry is present, else 0. Marks it used. */
@inline function tlb_get(blk: u32): usize {
  const e = tlb_slot(blk);
  if (load<u32>(e) != blk + 1) return 0;
  const v = load<u32>(e, 4);
  if ((v & TLB_REF) == 0) store<u32>(e, v | TLB_REF, 4);
  return <usize>(v & ~TLB_BITS);
}
/** The entry's buffer is in the running transaction (PG_jdirty): see buf_in_tx. */
const TLB_TX: u32 = 2;
/** Bits of an entry's second word that are not address bits. */
const TLB_BITS: u32 = TLB_REF | TLB_TX;

// Transaction membership cached in the lookaside, for journal_dirty's fast path (jbd2 tests
// jh->b_transaction == transaction before taking any lock). Rule: TLB_TX set implies
// PG_jdirty. The journal sets it when a buffer joins or is found in the running transaction
// and clears it wherever PG_jdirty is cleared (commit, revoke); a new or reused entry starts
// without it, so losing the mark only sends journal_dirty down its slow path.

/** True when `blk`'s entry says it is in the running transaction (see above). */
@inline export function buf_in_tx(blk: u64): bool {
  const e = tlb_slot(<u32>blk);
  return load<u32>(e) == <u32>blk + 1 && (load<u32>(e, 4) & TLB_TX) != 0;
}
/** Sets (in) or clears the transaction mark of `blk`'s entry, if it has one. */
export function buf_mark_tx(blk: u64, inTx: bool): void {
  const e = tlb_slot(<u32>blk);
  if (load<u32>(e) != <u32>blk + 1) return;
  const v = load<u32>(e, 4);
  store<u32>(e, inTx ? v | TLB_TX : v & ~TLB_TX, 4);
}
/** Clears every transaction mark (the running transaction was discarded). */
export function buf_unmark_tx_all(): void {
  for (let i: u32 = 0; i < BUF_TLB_SIZE; i++) {
    const e = BUF_TLB + (<usize>i << 3);
    store<u32>(e, load<u32>(e, 4) & ~TLB_TX, 4);
  }
}

/** True when buffer `blk` was used through its entry since the last call; clears the mark. */
function tlb_take_ref(blk: u32): bool {
  const e = tlb_slot(blk);
  if (load<u32>(e) != blk + 1) return false;
  const v = load<u32>(e, 4);
  if ((v & TLB_REF) == 0) return false;
  store<u32>(e, v & ~TLB_REF, 4);
  return true;
}

/**
 * The buffer for block `blk`, read from disk if not cached. When `magic` is not 0 the block is
 * verified (magic, crc32c, self-location, committed tid; a B+ tree node also its structure)
 * on its first read. Returns the buffer's address, or
 * 0 with buf_errno = -EIO (device error) / -EUCLEAN (verification failed) / -ENOMEM.
 */
export function bread(blk: u64, magic: u32): usize {
  const hit = tlb_get(<u32>blk);
  if (hit != 0) {
    if (!ASC_NO_ASSERT) {
      const pfn = addr_to_pfn(hit);
      assert(pg_get32(pfn, PG_INDEX) == <u32>blk && pg_get32(pfn, PG_MAPPING) == 0 && (pg_flags(pfn) & PG_uptodate) != 0, "stale buffer lookaside entry");
    }
    stat_hits++;
    return hit;
  }
  let pfn = find_page(0, <u32>blk);
  if (pfn != NO_PFN) {
    if (pg_flags(pfn) & PG_uptodate) { tlb_put(<u32>blk, pfn); return pfn_to_addr(pfn); }
  } else {
    pfn = add_page(0, <u32>blk);
    if (pfn == NO_PFN) { buf_errno = -ENOMEM; return 0; }
  }
  const addr = pfn_to_addr(pfn);
  blk_add(VIRTIO_BLK_T_IN, blk, addr);
  if (blk_submit() != 0) {
    remove_page(pfn);
    buf_errno = -EIO;
    metadata_error(-EIO);
    return 0;
  }
  if (magic != 0 && (block_verify(addr, magic, blk) != VERIFY_OK || !tid_committed(load<u64>(addr, HDR_TID)) ||
      (magic == MAGIC_BTREE && node_verify(addr, blk) != 0))) {
    remove_page(pfn);
    buf_errno = -EUCLEAN;
    metadata_error(-EUCLEAN);
    return 0;
  }
  pg_set_flags(pfn, pg_flags(pfn) | PG_uptodate);
  tlb_put(<u32>blk, pfn);
  return addr;
}

/**
 * The structural check of a B+ tree node read from disk, after its checksum (btree.ts
 * bt_node_verify, installed at mount; a hook so this layer need not import the tree): 0 when
 * the node is sound. A node that fails it is never cached, like one with a bad checksum.
 */
let node_verify: (n: usize, blk: u64) => i32 = (n: usize, blk: u64): i32 => 0;
export function pagecache_set_node_verify(fn: (n: usize, blk: u64) => i32): void { node_verify = fn; }

// Transaction ids a metadata block read from the disk may carry (set by the journal): below
// tid_next (the running transaction: blocks reach home only after their commit) and outside
// [tid_gap_lo, tid_gap_hi), the transaction recovery found damaged or in flight and skipped.
// A block from such a transaction is intact by its checksum but newer than the state the
// journal proves, e.g. a log block moved onto its home location: it would mix transactions.
let tid_next: u64 = 0xffff_ffff_ffff_ffff;
let tid_gap_lo: u64 = 0;
let tid_gap_hi: u64 = 0;

/** Sets the window of committed transaction ids (see above); journal recovery calls it. */
export function pagecache_set_tids(next: u64, gapLo: u64, gapHi: u64): void {
  tid_next = next;
  tid_gap_lo = gapLo;
  tid_gap_hi = gapHi;
}

/** Moves the window's upper end to the new running transaction (each journal commit). */
export function pagecache_set_tid_next(next: u64): void { tid_next = next; }

/** True when a block stamped `tid` can belong to a committed transaction. */
function tid_committed(tid: u64): bool {
  return tid < tid_next && (tid < tid_gap_lo || tid >= tid_gap_hi);
}

/**
 * The buffer for block `blk` without reading it: the caller overwrites all 4 KiB (a newly
 * allocated tree node), so the contents are undefined. Returns 0 when memory is exhausted.
 */
export function bget(blk: u64): usize {
  const hit = tlb_get(<u32>blk);
  if (hit != 0) { stat_hits++; return hit; }
  let pfn = find_page(0, <u32>blk);
  if (pfn == NO_PFN) {
    pfn = add_page(0, <u32>blk);
    if (pfn == NO_PFN) { buf_errno = -ENOMEM; return 0; }
  }
  const addr = pfn_to_addr(pfn);
  pg_set_flags(pfn, pg_flags(pfn) | PG_uptodate);
  tlb_put(<u32>blk, pfn);
  return addr;
}

/** The cached buffer's pfn for block `blk`, or NO_PFN. */
export function buffer_pfn(blk: u64): u32 {
  const hit = tlb_get(<u32>blk);
  if (hit != 0) return addr_to_pfn(hit);
  return find_page(0, <u32>blk);
}

/** Drops block `blk` from the buffer cache if it is there and clean (a freed metadata block). */
export function bforget(blk: u64): void {
  const pfn = find_page(0, <u32>blk);
  if (pfn == NO_PFN) return;
  const f = pg_flags(pfn);
  if ((f & (PG_jdirty | PG_checkpoint)) == 0 && pg_count(pfn) == 0) remove_page(pfn);
}

// ---- reclaim ---------------------------------------------------------------------------------

@inline function evictable(pfn: u32, allow_meta: bool): bool {
  const f = pg_flags(pfn);
  if (f & (PG_dirty | PG_jdirty | PG_checkpoint)) return false;
  if (pg_count(pfn) != 0) return false;
  if (!allow_meta && pg_get32(pfn, PG_MAPPING) == 0) return false;
  return true;
}

/**
 * Frees up to `want` clean pages by CLOCK over the LRU: a referenced page gets a second
 * chance (moved to the head, bit cleared). Metadata buffers only when `allow_meta` (syscall
 * boundaries). `scan` bounds the unreferenced entries looked at (0: want x
 * RECLAIM_SCAN_FACTOR + 64); a second chance costs none of it, since the hand meets that
 * page again unreferenced, so an LRU of pages that were all used once (a readahead window
 * read through) is swept in one call instead of freeing nothing. At most nr_cached + scan
 * steps. Returns the pages freed.
 */
export function reclaim(want: u32, allow_meta: bool, scan: u32 = 0): u32 {
  let freed: u32 = 0;
  let budget = scan != 0 ? scan : want * RECLAIM_SCAN_FACTOR + 64;
  let pfn = lru_tail;
  while (pfn != NO_PFN && freed < want && budget > 0) {
    const prev = pg_get32(pfn, PG_LRU_PREV);
    let f = pg_flags(pfn);
    // metadata buffers found through the lookaside keep their mark there
    if (pg_get32(pfn, PG_MAPPING) == 0 && tlb_take_ref(pg_get32(pfn, PG_INDEX))) f |= PG_referenced;
    if (f & PG_referenced) {
      pg_set_flags(pfn, f & ~PG_referenced);
      lru_del(pfn);
      lru_add(pfn);
    } else {
      budget--;
      if (evictable(pfn, allow_meta)) {
        remove_page(pfn);
        stat_evictions++;
        freed++;
      }
    }
    pfn = prev;
  }
  return freed;
}

/** Drops every clean page of the cache (used at unmount and by tests). */
export function drop_caches(): void {
  let pfn = lru_tail;
  while (pfn != NO_PFN) {
    const prev = pg_get32(pfn, PG_LRU_PREV);
    if (evictable(pfn, true)) remove_page(pfn);
    pfn = prev;
  }
}

/**
 * Frees every cached page, dirty or pinned ones included, and resets the counters: the
 * cache of a filesystem that is gone (mount calls it before reading a new device; a crash
 * test remounts many devices on one kernel).
 */
export function pagecache_reset(): void {
  let pfn = lru_tail;
  while (pfn != NO_PFN) {
    const prev = pg_get32(pfn, PG_LRU_PREV);
    const f = pg_flags(pfn);
    pg_set_flags(pfn, f & ~(PG_dirty | PG_jdirty | PG_checkpoint | PG_delalloc));
    if (f & PG_dirty) {
      nr_dirty--;
      const as = mapping_find(pg_get32(pfn, PG_MAPPING));
      if (as != 0) store<u32>(as, load<u32>(as, AS_NDIRTY) - 1, AS_NDIRTY);
    }
    pg_set_count(pfn, 0);
    remove_page(pfn);
    pfn = prev;
  }
  // address_spaces still held (open files, dirty lists) belong to the old filesystem
  for (let i: u32 = 0; i < MAPPING_HASH_SIZE; i++) {
    let as = load<u32>(MAPPING_HASH + (<usize>i << 2));
    while (as != 0) {
      const next = load<u32>(as, AS_HASH_NEXT);
      kmem_cache_free(as_cache, as);
      as = next;
    }
  }
  memory.fill(MAPPING_HASH, 0, MAPPING_HASH_SIZE * 4);
  dirty_mappings = 0;
  nr_dirty = 0;
  nr_pinned_meta = 0;
}

/** Iteration over a mapping's pages in index order: first page, or NO_PFN. */
export function mapping_first(as: usize): u32 { return load<u32>(as, AS_FIRST); }
export function page_next_in_mapping(pfn: u32): u32 { return pg_get32(pfn, PG_I_NEXT); }
export function page_index(pfn: u32): u32 { return pg_get32(pfn, PG_INDEX); }

/** Free frames now (for the syscall-boundary watermark check). */
export function free_frames(): u32 { return nr_free_pages(); }


