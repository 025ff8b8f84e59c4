// host/vmm/framemap.ts -- the frame map's owner codes (kernel_frame_map, Kernel.frameMap):
// what each byte of the map says about its 4 KiB frame.
//
// Layer: vmm, constants only (no imports), so the page's bundle can name owners without
// pulling in the VMM. Interface: FRAME_OWNERS, FRAME_SLAB, FRAME_MIGRATETYPES. Rules: the
// codes are assembly/mm/framemap.ts FM_*; a new kernel code gets its name here.

/**
 * Frame-map owner codes (kernel_frame_map, assembly/mm/framemap.ts FM_*): one byte per 4 KiB
 * frame. Codes FRAME_SLAB + i are slabs of kmem_cache i (Kernel.slabTable()[i]).
 */
export const FRAME_OWNERS: Readonly<Record<number, string>> = {
  0: "free (unmovable)", 1: "free (movable)", 2: "free (reclaimable)", 3: "free (per-CPU list)",
  4: "frame table (reserved)", 5: "kernel (other)", 6: "kmalloc large", 7: "argument area / transfer buffer",
  8: "hash tables", 9: "journal", 10: "virtqueue", 16: "page cache (clean)", 17: "page cache (dirty)",
  18: "buffer (clean)", 19: "buffer (running transaction)", 20: "buffer (awaiting checkpoint)", 255: "unknown",
};
/** First frame-map code of slab frames: FRAME_SLAB + kmem_cache index. */
export const FRAME_SLAB = 128;
/** Migratetypes in Kernel.freeAreas() order (Linux enum migratetype). */
export const FRAME_MIGRATETYPES = ["unmovable", "movable", "reclaimable"] as const;
