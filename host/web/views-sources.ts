// host/web/views-sources.ts -- where each live view's numbers come from: one function per view,
// reading the kernel's statistics exports, or (where the kernel has no view export yet) the
// frame table in linear memory, read-only.
//
// Layer: web role, worker side, over host/vmm/kernel.ts. Interface: pickSources(kernel) ->
// ViewSources (memory, slabs, tree, journal, extents, freeSpace), each (kernel, ...) -> part of
// a ViewsSample; memoryFromFrameTable, the host's own walk of the frame table. Rules: a source
// never writes kernel memory and never calls an export that changes state; each view is one
// function, so swapping its source is one line in pickSources. The sources are the kernel's
// view exports (Kernel.frameMap, freeAreas, slabTable, treeLevels, treeNode, journalView,
// extentMap, freeMap; one crossing per view); memoryFromFrameTable, the source before those
// existed, stays as an independent reading the tests check frameMap against (a part it makes
// says `source: "fallback"`).
//
// Frame-table walk (the frame table, assembly/mm/page.ts struct page, 64 bytes per frame,
// pfn 0's struct page at phys_base, which is also where the table starts):
//
//   pfn --> struct page: flags u32 @0 | order u8 @4 | mt u8 @5 | ... | mapping u32 @16 | astate u8 @48
//   PG_buddy head            free block of 2^order frames, migratetype mt
//   astate == ALLOC head     allocated block of 2^order frames: slab (mapping = cache),
//                            cache page (mapping = ino, 0 = buffer), else kernel
//   PG_reserved              frame table
//   none of these            a free frame on a per-CPU list (tails are skipped with their head)

import { type Kernel, type KernelInfo } from "../vmm/kernel.js";
import {
  FRAME_SLAB, type ExtentsView, type FreeSpaceView, type JournalState, type MemoryView, type SlabRow, type TreeView,
} from "./views-types.js";

/** The view functions of one kernel. */
export interface ViewSources {
  memory(k: Kernel, info: KernelInfo): MemoryView;
  slabs(k: Kernel): SlabRow[];
  tree(k: Kernel, tree: number, path: number[]): TreeView;
  journal(k: Kernel, info: KernelInfo): JournalState;
  extents(k: Kernel, path: string, info: KernelInfo): ExtentsView;
  freeSpace(k: Kernel, info: KernelInfo): FreeSpaceView;
}

/** Buckets of the free-space strip (one pixel column each on the page). */
export const FREE_MAP_BUCKETS = 512;
/** Keys of a selected node the page lists. */
export const NODE_KEYS_SHOWN = 64;
/** Extents of a file the page draws. */
export const EXTENTS_SHOWN = 256;
/** Buddy orders (assembly/params.ts MAX_ORDER). */
const MAX_ORDER = 11;

// struct page (assembly/mm/page.ts)
const PAGE_STRUCT_SIZE = 64;
const PG_FLAGS = 0, PG_ORDER = 4, PG_MT = 5, PG_MAPPING = 16, PG_ASTATE = 48;
const PG_buddy = 1 << 0, PG_slab = 1 << 1, PG_reserved = 1 << 2, PG_cache = 1 << 3, PG_dirty = 1 << 5;
const PG_jdirty = 1 << 6, PG_checkpoint = 1 << 7, PG_delalloc = 1 << 10;
const PG_ASTATE_ALLOC = 0xa1;
// owner codes (views-types.ts FRAME_OWNER_NAMES)
const FM_FREE_PCP = 3, FM_RESERVED = 4, FM_KERNEL = 5, FM_FILE_CLEAN = 16, FM_FILE_DIRTY = 17;
const FM_BUFFER_CLEAN = 18, FM_BUFFER_RUNNING = 19, FM_BUFFER_CHECKPOINT = 20, FM_UNKNOWN = 255;

/** The sources of `k`'s views: the kernel's view exports, one per view. */
export function pickSources(_k: Kernel): ViewSources {
  return { memory: memoryFromExports, slabs: slabsFromExport, tree: treeFromExports, journal: journalFromExport, extents: extentsFromExport, freeSpace: freeSpaceFromExport };
}

// ---- physical memory ------------------------------------------------------------------------

function memoryFromExports(k: Kernel, info: KernelInfo): MemoryView {
  const fa = k.freeAreas();
  const mm = k.mmInfo();
  return {
    source: "export", frames: k.frameMap(), physBase: fa.physBase, maxFrames: fa.maxFrames, blocks: fa.blocks, pcp: fa.pcp,
    fragIndex: mm.fragIndex, totalPages: info.memTotalPages, freePages: info.memFreePages,
  };
}

/** Where the frame table is, from the boot log's e820 line (the kernel prints it at boot). */
export function physBaseFromLog(lines: readonly string[]): number | null {
  for (const l of lines) {
    const m = /BIOS-e820: \[mem 0x([0-9a-f]+)-0x[0-9a-f]+\] frame table/.exec(l);
    if (m) return parseInt(m[1], 16);
  }
  return null;
}

/** The kernel's linear memory (read-only use). */
function linearMemory(k: Kernel): ArrayBuffer {
  return (k as unknown as { x: { memory: WebAssembly.Memory } }).x.memory.buffer as ArrayBuffer;
}

const physBases = new WeakMap<Kernel, number>();

/**
 * The frame map read from the frame table (see the header's diagram). Slab frames get
 * FRAME_SLAB + the rank of their cache's address among the caches seen, which is the cache's
 * index when caches were allocated in creation order (an approximation the export replaces).
 */
export function memoryFromFrameTable(k: Kernel, info: KernelInfo): MemoryView {
  let base = physBases.get(k);
  if (base === undefined) {
    const b = physBaseFromLog(k.logLines);
    if (b === null) throw new Error("views: the boot log has no frame table line");
    physBases.set(k, (base = b));
  }
  const buf = linearMemory(k);
  const u8 = new Uint8Array(buf);
  const dv = new DataView(buf);
  // nr_frames: the frames present (the region up to the end of linear memory), bounded by
  // memTotalPages plus the reserved frame table, which kernel_info does not count
  const present = Math.floor((buf.byteLength - base) / 4096);
  const frames = new Uint8Array(present);
  const blocks = Array.from({ length: MAX_ORDER }, () => [0, 0, 0]);
  const pcp = [0, 0, 0];
  const slabCaches: number[] = [];
  const slabOf = new Map<number, number>();
  const slabFix: number[] = []; // slab frames waiting for their cache's code: (pfn, cache address)
  for (let pfn = 0; pfn < present;) {
    const p = base + pfn * PAGE_STRUCT_SIZE;
    const flags = dv.getUint32(p + PG_FLAGS, true);
    const order = Math.min(u8[p + PG_ORDER], MAX_ORDER - 1);
    let code: number, span = 1;
    if (flags & PG_buddy) {
      const mt = Math.min(u8[p + PG_MT], 2);
      code = mt; span = 1 << order; blocks[order][mt]++;
    } else if (u8[p + PG_ASTATE] === PG_ASTATE_ALLOC) {
      span = 1 << order;
      const mapping = dv.getUint32(p + PG_MAPPING, true);
      if (flags & PG_slab) {
        if (!slabOf.has(mapping)) { slabOf.set(mapping, -1); slabCaches.push(mapping); }
        code = -mapping - 1; // resolved below, once every cache is known
      } else if (flags & PG_cache) {
        code = mapping !== 0 ? ((flags & (PG_dirty | PG_delalloc)) ? FM_FILE_DIRTY : FM_FILE_CLEAN)
          : (flags & PG_jdirty) ? FM_BUFFER_RUNNING : (flags & PG_checkpoint) ? FM_BUFFER_CHECKPOINT : FM_BUFFER_CLEAN;
      } else code = FM_KERNEL;
    } else if (flags & PG_reserved) code = FM_RESERVED;
    else if (flags === 0) { code = FM_FREE_PCP; pcp[Math.min(u8[p + PG_MT], 2)]++; }
    else code = FM_UNKNOWN;
    const end = Math.min(pfn + span, present);
    if (code >= 0) frames.fill(code, pfn, end);
    else for (let i = pfn; i < end; i++) frames[i] = 0, slabFix.push(i, -code - 1);
    pfn = end;
  }
  slabCaches.sort((a, b) => a - b).forEach((ptr, i) => slabOf.set(ptr, Math.min(FRAME_SLAB + i, 254)));
  for (let i = 0; i < slabFix.length; i += 2) frames[slabFix[i]] = slabOf.get(slabFix[i + 1])!;
  const mm = k.mmInfo();
  return {
    source: "fallback", frames, physBase: base, maxFrames: present, blocks, pcp, fragIndex: mm.fragIndex,
    totalPages: info.memTotalPages, freePages: info.memFreePages,
  };
}

// ---- slab caches ----------------------------------------------------------------------------

function slabsFromExport(k: Kernel): SlabRow[] {
  return k.slabTable().map((s) => ({
    name: s.name, objsize: s.objsize, active: s.active, total: s.total, cpuCached: s.cpuCached, slabsPartial: s.slabsPartial,
    slabsFull: s.slabsFull, slabsFree: s.slabsFree, pages: s.pages, objsPerSlab: s.objsPerSlab,
  }));
}

// ---- B+ trees -------------------------------------------------------------------------------

function treeBase(k: Kernel, tree: number): Omit<TreeView, "source" | "levels" | "path" | "node" | "nodeNote"> {
  const ti = k.treeInfo(tree);
  return { tree, height: ti.height, nodes: ti.nodes, leaves: ti.leaves, items: ti.items, fillPermille: ti.fillPermille };
}

function treeFromExports(k: Kernel, tree: number, path: number[]): TreeView {
  const levels = k.treeLevels(tree);
  let node: TreeView["node"] = null, nodeNote: string | null = null;
  try {
    const n = k.treeNode(tree, path, NODE_KEYS_SHOWN);
    node = { blk: n.blk, level: n.level, nitems: n.nitems, usedBytes: n.usedBytes, keys: n.keys.map((x) => ({ k1: x.k1.toString(), k2: x.k2.toString(), child: x.child, valueLength: x.valueLength })) };
  } catch (err) {
    nodeNote = `no node at path [${path.join(", ")}]: ${(err as Error).message}`;
  }
  return { source: "export", ...treeBase(k, tree), levels, path, node, nodeNote };
}

// ---- journal --------------------------------------------------------------------------------

function journalFromExport(k: Kernel): JournalState {
  const j = k.journalView();
  return {
    source: "export", start: j.start, size: j.size, head: j.head, tail: j.tail, runningTid: j.runningTid, runningBuffers: j.runningBuffers,
    runningLogBlocks: j.runningLogBlocks, checkpointBuffers: j.checkpointBuffers, committedCount: j.committedCount,
    committed: j.committed.map((c) => ({ tid: c.tid, start: c.start, blocks: c.blocks, buffers: c.buffers })),
    commits: j.commits, checkpoints: j.checkpoints, loggedBlocks: j.loggedBlocks, absorbed: j.absorbed, revokes: j.revokes,
  };
}

// ---- a file's extents, the disk's free space -----------------------------------------------

function extentsFromExport(k: Kernel, path: string, info: KernelInfo): ExtentsView {
  try {
    const m = k.extentMap(path, 0, EXTENTS_SHOWN);
    return { source: "export", path, size: m.size, inline: m.inline, dirtyPages: m.dirtyPages, more: m.more, extents: m.extents, totalBlocks: info.totalBlocks, error: null };
  } catch (err) {
    return { source: "export", path, size: 0, inline: false, dirtyPages: 0, more: false, extents: [], totalBlocks: info.totalBlocks, error: (err as Error).message };
  }
}

function freeSpaceFromExport(k: Kernel): FreeSpaceView {
  const m = k.freeMap(FREE_MAP_BUCKETS);
  return {
    source: "export", totalBlocks: m.totalBlocks, freeBlocks: m.freeBlocks, blocksPerBucket: m.blocksPerBucket,
    fraction: Float32Array.from(m.fraction), histogram: k.freeHistogram(),
  };
}
