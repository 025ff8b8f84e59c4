// params.ts -- the kernel's named limits (like xv6's param.h).
//
// Every size and bound in the kernel derives from these constants. Units are in the names:
// *_SIZE in bytes, *_BLOCKS in 4 KiB filesystem blocks, *_PAGES in 4 KiB frames.

/** Bytes per frame and per filesystem block: one 4 KiB page maps one 4 KiB block. */
export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;
export const BLOCK_SIZE: u32 = PAGE_SIZE;
export const BLOCK_SHIFT: u32 = PAGE_SHIFT;
/** virtio-blk sector size in bytes (virtio 1.x §5.2.6: sectors are always 512 bytes). */
export const SECTOR_SIZE: u32 = 512;
export const SECTORS_PER_BLOCK: u32 = BLOCK_SIZE / SECTOR_SIZE;

/** Buddy allocator orders 0..MAX_ORDER-1 (order 10 = 4 MiB blocks), as in Linux. */
export const MAX_ORDER: u32 = 11;
/** Bytes of one struct page in the frame table. */
export const PAGE_STRUCT_SIZE: u32 = 64;
/** Simulated CPUs: per-CPU slab caches are keyed by the CPU the host says issued a syscall. */
export const NR_CPUS: u32 = 4;

/** Linux limits the syscalls enforce. */
export const NAME_MAX: u32 = 255;
export const PATH_MAX: u32 = 4096;
/** Symlinks followed in one path walk before ELOOP (Linux MAXSYMLINKS). */
export const MAXSYMLINKS: u32 = 40;
/** Open file descriptors per kernel (one process). */
export const NR_OPEN: u32 = 4096;
