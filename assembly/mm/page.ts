// mm/page.ts -- the frame table: one `struct page` per 4 KiB frame of physical memory.
//
// Layer: lowest layer of mm. Interface: pfn <-> address <-> struct page conversions and field
// accessors. Rules: a frame's struct page is owned by exactly one user at a time, named by its
// PG_* flags: the buddy allocator (PG_buddy on the head of a free block), a slab (PG_slab),
// the page/buffer cache (PG_cache), or a plain kernel allocation (no owner flag).
// Links are frame numbers (pfn) with NO_PFN as null, so lists cost 4 bytes per link.
//
// struct page (PAGE_STRUCT_SIZE = 64 bytes, little-endian):
//
//   0       4     5    6       8         12        16        20       24         28       32
//   +-------+-----+----+-------+---------+---------+---------+--------+----------+--------+
//   | flags |order| mt | count | lru_prev| lru_next| mapping | index  | hash_next| i_prev |
//   +-------+-----+----+-------+---------+---------+---------+--------+----------+--------+
//   32       36        40        44        48     49      50      56                  64
//   +--------+---------+---------+---------+------+-------+-------+-------------------+
//   | i_next | tx_next | private | private2|astate| owner | rsv   | seq u64           |
//   +--------+---------+---------+---------+------+-------+-------+-------------------+
//
//   flags     PG_* bits below
//   order     buddy: order of the free block this frame heads; slab: order of the slab
//   mt        migratetype the frame was allocated or freed as (MIGRATE_*)
//   count     reference count: users holding the frame (page cache pins)
//   lru_*     buddy free list / slab partial-full-free list / page cache LRU (one at a time)
//   mapping   page cache: inode number (0 = the block device's buffer cache); slab: cache ptr
//   index     page cache: page index in the file, or block number for buffers
//   hash_next page cache hash chain
//   i_*       page cache: the owning inode's page list
//   tx_next   journal: next buffer in the transaction or checkpoint list
//   private*  owner-defined (slab head frame: private = objects in use, private2 = s_mem)
//   seq       page cache: a number no earlier life of the frame had, renewed whenever the
//             layout of the B+ tree node in it changes (the inode cache checks it)
//   astate    mm-private allocation state, written only by buddy.ts: PG_ASTATE_ALLOC on the
//             head of a block handed out by alloc_pages, 0 otherwise (free, on a pcp list,
//             tail, reserved). free_pages checks it, so owners may rewrite `flags` freely.
//             (slab frames: index = first pfn of the slab, mapping = kmem_cache.)
//   owner     who holds an allocated block whose flags do not say (PG_OWNER_*, head frame
//             only): zeroed by alloc_pages, set by the few owners the frame map names
//             (mm/framemap.ts); slabs and cache pages are told by their flags instead.

import { PAGE_SHIFT, PAGE_STRUCT_SIZE } from "../params";

export const NO_PFN: u32 = 0xffffffff;

// struct page field offsets
export const PG_FLAGS: usize = 0;
export const PG_ORDER: usize = 4;
export const PG_MT: usize = 5;
export const PG_COUNT: usize = 6;
export const PG_LRU_PREV: usize = 8;
export const PG_LRU_NEXT: usize = 12;
export const PG_MAPPING: usize = 16;
export const PG_INDEX: usize = 20;
export const PG_HASH_NEXT: usize = 24;
export const PG_I_PREV: usize = 28;
export const PG_I_NEXT: usize = 32;
export const PG_TX_NEXT: usize = 36;
export const PG_PRIVATE: usize = 40;
export const PG_PRIVATE2: usize = 44;
export const PG_ASTATE: usize = 48;
export const PG_OWNER: usize = 49;
export const PG_SEQ: usize = 56;
/** PG_ASTATE value of an allocated block's head frame (see the diagram). */
export const PG_ASTATE_ALLOC: u8 = 0xa1;

// owner tags (PG_OWNER of an allocated block's head; 0 = untagged kernel allocation)
export const PG_OWNER_NONE: u8 = 0;
/** the argument area and transfer buffer the host copies through (index.ts) */
export const PG_OWNER_XFER: u8 = 1;
/** a system hash table (alloc_large_system_hash: page cache, dcache, icache) */
export const PG_OWNER_HASH: u8 = 2;
/** the journal's own frames: descriptor/commit/superblock scratch, replay batches */
export const PG_OWNER_JOURNAL: u8 = 3;
/** the virtqueue rings of the block device */
export const PG_OWNER_VIRTQUEUE: u8 = 4;

// flags
export const PG_buddy: u32 = 1 << 0; // head of a free buddy block
export const PG_slab: u32 = 1 << 1; // frame belongs to a slab
export const PG_reserved: u32 = 1 << 2; // never allocatable (kernel image, frame table)
export const PG_cache: u32 = 1 << 3; // page cache / buffer cache page
export const PG_uptodate: u32 = 1 << 4; // contents match (or are newer than) the disk
export const PG_dirty: u32 = 1 << 5; // data page must be written back
export const PG_jdirty: u32 = 1 << 6; // metadata buffer modified in the running transaction
export const PG_checkpoint: u32 = 1 << 7; // committed to the log, not yet written home
export const PG_lru: u32 = 1 << 8; // on the page cache LRU
export const PG_head: u32 = 1 << 9; // head of an allocated block of any order (order in PG_ORDER)
export const PG_delalloc: u32 = 1 << 10; // dirty data page with a block reservation, no disk block yet
export const PG_referenced: u32 = 1 << 11; // used since the LRU clock last passed (second chance)
export const PG_error: u32 = 1 << 12; // the last read of this page failed

// migrate types (Linux enum migratetype)
export const MIGRATE_UNMOVABLE: u8 = 0;
export const MIGRATE_MOVABLE: u8 = 1;
export const MIGRATE_RECLAIMABLE: u8 = 2;
export const MIGRATE_TYPES: u8 = 3;

/** Base of physical memory (address of pfn 0's frame) and of the frame table. Set by mm_init. */
export let phys_base: usize = 0;
export let frame_table: usize = 0;
/** Frames currently present (grows with hotplug) and the most the frame table can describe. */
export let nr_frames: u32 = 0;
export let max_frames: u32 = 0;

/** Records where the frame table and physical frames are. Called once by mm_init. */
export function frame_table_setup(table: usize, base: usize, frames: u32, maxFrames: u32): void {
  frame_table = table;
  phys_base = base;
  nr_frames = frames;
  max_frames = maxFrames;
}

/** Sets the present frame count after hotplug; only grows, never beyond the table's capacity. */
export function frame_table_grow(frames: u32): void {
  assert(frames >= nr_frames && frames <= max_frames);
  nr_frames = frames;
}

/** struct page address of frame `pfn`. */
@inline export function pfn_to_page(pfn: u32): usize {
  return frame_table + (<usize>pfn) * PAGE_STRUCT_SIZE;
}
/** Frame number of the struct page at `page`. */
@inline export function page_to_pfn(page: usize): u32 {
  return <u32>((page - frame_table) / PAGE_STRUCT_SIZE);
}
/** Byte address in linear memory of frame `pfn`. */
@inline export function pfn_to_addr(pfn: u32): usize {
  return phys_base + ((<usize>pfn) << PAGE_SHIFT);
}
/** Frame number holding byte address `addr` (addr must lie in physical memory). */
@inline export function addr_to_pfn(addr: usize): u32 {
  return <u32>((addr - phys_base) >> PAGE_SHIFT);
}
@inline export function page_address(page: usize): usize {
  return pfn_to_addr(page_to_pfn(page));
}
@inline export function virt_to_page(addr: usize): usize {
  return pfn_to_page(addr_to_pfn(addr));
}

// Field accessors, by pfn: the rest of the kernel names frames by pfn.
@inline export function pg_flags(pfn: u32): u32 { return load<u32>(pfn_to_page(pfn), PG_FLAGS); }
@inline export function pg_set_flags(pfn: u32, v: u32): void { store<u32>(pfn_to_page(pfn), v, PG_FLAGS); }
@inline export function pg_test(pfn: u32, bit: u32): bool { return (pg_flags(pfn) & bit) != 0; }
@inline export function pg_set(pfn: u32, bit: u32): void { pg_set_flags(pfn, pg_flags(pfn) | bit); }
@inline export function pg_clear(pfn: u32, bit: u32): void { pg_set_flags(pfn, pg_flags(pfn) & ~bit); }
@inline export function pg_get32(pfn: u32, off: usize): u32 { return load<u32>(pfn_to_page(pfn) + off); }
@inline export function pg_set32(pfn: u32, off: usize, v: u32): void { store<u32>(pfn_to_page(pfn) + off, v); }
@inline export function pg_get8(pfn: u32, off: usize): u8 { return load<u8>(pfn_to_page(pfn) + off); }
@inline export function pg_set8(pfn: u32, off: usize, v: u8): void { store<u8>(pfn_to_page(pfn) + off, v); }
/** Tags the allocated block headed by `pfn` with owner `tag` (PG_OWNER_*) for the frame map. */
@inline export function pg_set_owner(pfn: u32, tag: u8): void { store<u8>(pfn_to_page(pfn), tag, PG_OWNER); }
@inline export function pg_count(pfn: u32): u16 { return load<u16>(pfn_to_page(pfn), PG_COUNT); }
@inline export function pg_set_count(pfn: u32, v: u16): void { store<u16>(pfn_to_page(pfn), v, PG_COUNT); }
