// host/web/views-types.ts -- the shape of one `views.sample` message: everything the page's live
// views draw, gathered by the worker's sampler (host/web/views.ts) from the kernel's statistics
// exports and read-only views of linear memory.
//
// Layer: web role, shared by the worker and the page (types and constants only; its one import
// is host/vmm/framemap.ts, constants alone, so the page bundle does not pull the VMM in). Interface: ViewsSample and its parts; the
// `views.*` messages. Rules: every part names where its numbers come from (`source`), so the
// page can say "approximate" when a part comes from a fallback; bulk arrays are typed arrays
// whose buffers the worker transfers.

/** Where a part of the sample came from: the kernel's view export, or a fallback reading. */
export type SourceKind = "export" | "fallback";

/** Block I/O request types, as the timeline colours them. Index = code in BlkEvents.kind. */
export const BLK_KINDS = ["read", "write", "flush", "discard", "zeroes"] as const;
export type BlkKind = (typeof BLK_KINDS)[number];

/** Frame-map owner names, slab code base and migrate types (in MemoryView.blocks[order][mt] order). */
export { FRAME_OWNERS as FRAME_OWNER_NAMES, FRAME_SLAB, FRAME_MIGRATETYPES as MIGRATETYPES } from "../vmm/framemap.js";
/** B+ trees by kernel index (host/vmm/kernel.ts TREE_NAMES), with the names the page shows. */
export const TREE_LABELS = ["inodes", "directory entries", "extents", "free space by offset", "free space by size"] as const;

/** Physical memory: who owns each frame, and the buddy free lists. */
export interface MemoryView {
  source: SourceKind;
  /** One owner code per frame, pfn 0 first (FRAME_OWNER_NAMES, FRAME_SLAB + i). */
  frames: Uint8Array;
  /** Byte address of pfn 0 in linear memory (below it: the kernel image and static data). */
  physBase: number;
  /** Frames the frame table can describe (hotplug limit). */
  maxFrames: number;
  /** Free buddy blocks: blocks[order][migratetype]. */
  blocks: number[][];
  /** Frames on the per-CPU lists, by migratetype. */
  pcp: number[];
  /** Fragmentation index per order, per mille (-1: enough free memory of that order). */
  fragIndex: number[];
  totalPages: number;
  freePages: number;
}

/** One kmem_cache, as /proc/slabinfo shows it (fallback: per-CPU and partial/full/free are -1). */
export interface SlabRow {
  name: string; objsize: number; active: number; total: number; cpuCached: number;
  slabsPartial: number; slabsFull: number; slabsFree: number; pages: number; objsPerSlab: number;
}

/** One level of a B+ tree, root first. */
export interface TreeLevel { nodes: number; items: number; bytes: number; fill: number }
/** A node's keys (k1, k2 as decimal strings: they are u64). */
export interface TreeNodeKeys {
  blk: number; level: number; nitems: number; usedBytes: number;
  keys: { k1: string; k2: string; child: number; valueLength: number }[];
}
/** The selected B+ tree. */
export interface TreeView {
  source: SourceKind;
  tree: number;
  height: number; nodes: number; leaves: number; items: number; fillPermille: number;
  levels: TreeLevel[];
  /** The node at `path` (child indices from the root), null when not available. */
  path: number[];
  node: TreeNodeKeys | null;
  /** Why node is null, if it is. */
  nodeNote: string | null;
}

/** The journal ring, blocks relative to the journal's start. */
export interface JournalState {
  source: SourceKind;
  start: number; size: number; head: number;
  /** Oldest block still needed (-1: not known in the fallback). */
  tail: number;
  runningTid: number; runningBuffers: number; runningLogBlocks: number;
  checkpointBuffers: number; committedCount: number;
  committed: { tid: number; start: number; blocks: number; buffers: number }[];
  commits: number; checkpoints: number; loggedBlocks: number; absorbed: number; revokes: number;
}

/** Block I/O requests since the previous sample, parallel arrays (transferred). */
export interface BlkEvents {
  /** performance.now() of the worker, ms, when each request started. */
  t: Float64Array;
  /** BLK_KINDS index. */
  kind: Uint8Array;
  /** Bytes moved (flush: 0). */
  bytes: Float64Array;
  /** Requests the tap dropped because its ring was full (none are expected at 10 Hz). */
  dropped: number;
}

/** A file's extent map. */
export interface ExtentsView {
  source: SourceKind;
  path: string;
  size: number; inline: boolean; dirtyPages: number; more: boolean;
  extents: { fileBlock: number; diskBlock: number; length: number; flags: number }[];
  /** Blocks of the disk, to place the extents on a strip. */
  totalBlocks: number;
  error: string | null;
}

/** The disk's free space: a strip of buckets with their free fraction, or a histogram. */
export interface FreeSpaceView {
  source: SourceKind;
  totalBlocks: number; freeBlocks: number; blocksPerBucket: number;
  /** Free fraction per bucket (0..1), empty in the fallback. */
  fraction: Float32Array;
  /** Free extents by floor(log2(length in blocks)). */
  histogram: number[];
}

/** One `views.sample` message. */
export interface ViewsSample {
  type: "views.sample";
  /** Sample number since the worker started, and worker time in ms. */
  seq: number; t: number;
  /** Worker ms the sampler spent gathering this sample. */
  costMs: number;
  memory: MemoryView | null;
  slabs: SlabRow[];
  tree: TreeView | null;
  journal: JournalState | null;
  blk: BlkEvents;
  /** kernel_info counters, grouped as `helix stat` groups them. */
  stat: [string, [string, number][]][];
  extents: ExtentsView | null;
  freeSpace: FreeSpaceView | null;
  /** The running scenario, or null. */
  scenario: string | null;
}

/** Scenarios the page offers (name -> one-line narration shown on the button's title). */
export interface ScenarioInfo { name: string; title: string; narration: string }
