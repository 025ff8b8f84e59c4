// index.ts -- the kernel's exported ABI (docs/abi.md): boot, devices, syscalls, statistics.
//
// Layer: the boundary. Everything here converts raw arguments and calls one kernel layer;
// no logic lives here. One export call = one host->kernel crossing.

import { PAGE_SIZE, PAGE_SHIFT, NR_CPUS } from "./params";
import { NO_PFN, PG_OWNER_XFER, pfn_to_addr, pg_set_owner, frame_table, phys_base } from "./mm/page";
import {
  mm_init, mm_set_hotplug, alloc_pages, nr_free_pages, nr_total_pages, nr_free_blocks,
  fragmentation_index, nr_reserved_pages, mm_frame_table_bytes,
} from "./mm/buddy";
import {
  set_current_cpu, slab_cache_count, slab_cache_name, slab_cache_object_size,
  slab_cache_objects_in_use, slab_cache_total_objects, slab_cache_slabs, slab_cache_pages,
} from "./mm/slab";
import { mm_bench_buddy, mm_bench_buddy_mixed, mm_bench_slab } from "./mm/bench";
import { crc32c_init, crc32c } from "./lib/crc32c";
import { xxh32, xxh32_blocks } from "./lib/xxhash";
import { kputs, kputu, kputx, kputb, knl, printk_set_enabled } from "./lib/printk";
import { EINVAL, ENOMEM, ENODEV, EFAULT, EIO } from "./lib/errno";
import {
  virtio_blk_setup, blk_ring_desc, blk_ring_avail, blk_ring_used, blk_get_id, VIRTIO_BLK_ID_BYTES,
} from "./dev/virtio_blk";
import {
  fs_mkfs, fs_mount, fs_umount, mount_reason, fs_set_watermark, fs_balance, fs_set_commit_interval,
  fs_clear_error_state, fs_mmp_tick, fs_set_mount_snapshot,
} from "./fs/super";
import { cred_enter, CRED_AREA } from "./fs/cred";
import { namei_reset_cwd } from "./fs/namei";
import { mmp_set_identity, mmp_probe, mmp_holder, mmp_interval } from "./fs/mmp";
import {
  fsck_run, fsck_nodes, fsck_inodes, fsck_dirents, fsck_extents, fsck_free_extents, fsck_used_blocks, fsck_fixed,
  fsck_unfixed, fsck_data_blocks,
} from "./fs/fsck";
import { mount_prev_state, mount_dropped_log, fs_mounted } from "./fs/super";
import { j_sb_repaired } from "./fs/journal";
import {
  do_open, do_close, do_read, do_write, do_lseek, do_truncate, do_ftruncate, do_fallocate, do_fsync,
  do_sync, do_commit_timer, do_stat, do_fstat, do_mkdir, do_rmdir, do_unlink, do_rename, do_link, do_symlink,
  do_readlink, do_getdents, do_scandir, do_chmod, do_chown, do_utimensat, do_statfs, fd_close_all,
  do_fchmod, do_fchown, do_futimens, do_access, do_chdir,
  do_mknod, do_setxattr, do_getxattr, do_listxattr, do_removexattr, do_inotify_add_watch,
  do_snapshot_create, do_snapshot_delete, do_snapshot_rollback, do_snapshot_work, do_snapshot_list,
} from "./sys/syscalls";
import { snap_diff, snap_diff_nodes, snap_diff_total } from "./fs/snapdiff";
import { fsnotify_rm_watch, fsnotify_read, fsnotify_unmount } from "./fs/fsnotify";
import {
  inspect_info, inspect_tree, inspect_free_histogram, inspect_label, tree_levels, tree_node, tree_node_at, extent_map, free_map,
  LEVELS_MAX, NODE_KEYS_MAX, EXTMAP_MAX, FREEMAP_BUCKETS_MAX,
} from "./fs/inspect";
import { frame_map, free_area_stats, FREE_AREA_WORDS } from "./mm/framemap";
import { slab_cache_stats, SLAB_STATS_FIELDS } from "./mm/slab";
import { journal_view, JVIEW_FIELDS, CTX_MAX } from "./fs/journal";
import { bt_insert, bt_lookup } from "./fs/btree";
import { bread, drop_caches } from "./fs/pagecache";
import { dcache_clear } from "./fs/dcache";
import { journal_set_break } from "./fs/journal";
import { TREE_EXTENT } from "./fs/format";

/** Bytes reserved after the kernel image for the stub runtime (the kernel allocates nothing managed). */
const STUB_HEAP_RESERVE: usize = 64 << 10;
/** Linear memory at boot before hotplug grows it, in bytes. */
const BOOT_MEMORY: usize = 16 << 20;
const ARGS_SIZE: u32 = 16 << 10;
const XFER_ORDER: u32 = 8; // 1 MiB

let args: usize = 0;
let xfer: usize = 0;
let booted = false;

/** The per-call argument area (16 KiB). */
export function kernel_args(): usize { return args; }
/** The transfer buffer for file data. */
export function kernel_xfer(): usize { return xfer; }
export function kernel_xfer_size(): u32 { return PAGE_SIZE << XFER_ORDER; }

/**
 * Boots the kernel with up to `mem_limit_mib` MiB of physical memory (frames beyond the
 * first 16 MiB arrive by hotplug as the caches grow) and `ncpus` simulated CPUs.
 * Returns 0, -EINVAL (limit below 32 MiB or above 3 GiB, bad CPU count), -ENOMEM.
 */
export function kernel_boot(mem_limit_mib: u32, ncpus: u32): i32 {
  if (booted) return 0;
  if (mem_limit_mib < 32 || mem_limit_mib > 3072 || ncpus == 0 || ncpus > NR_CPUS) return -EINVAL;
  crc32c_init();
  const start = (__heap_base + STUB_HEAP_RESERVE + PAGE_SIZE - 1) & ~(<usize>PAGE_SIZE - 1);
  const limit = <usize>mem_limit_mib << 20;
  // the first region must hold the frame table sized for the limit, plus working memory
  const bootEnd = max<usize>(start + mm_frame_table_bytes(start, limit) + BOOT_MEMORY, <usize>memory.size() << 16);
  const have = <usize>memory.size() << 16;
  if (bootEnd > have && memory.grow(<i32>((bootEnd - have + 0xffff) >> 16)) < 0) return -ENOMEM;
  const end = <usize>memory.size() << 16;
  mm_init(start, end, limit);
  mm_set_hotplug(true, limit);
  const ap = alloc_pages(2);
  const xp = alloc_pages(XFER_ORDER);
  if (ap == NO_PFN || xp == NO_PFN) return -ENOMEM;
  pg_set_owner(ap, PG_OWNER_XFER);
  pg_set_owner(xp, PG_OWNER_XFER);
  args = pfn_to_addr(ap);
  xfer = pfn_to_addr(xp);
  // keep a watermark of 1/16 of memory (at least 1 MiB) free at syscall boundaries
  fs_set_watermark(max<u32>(256, <u32>(limit >> PAGE_SHIFT) / 16), <u32>(limit >> PAGE_SHIFT));
  booted = true;
  boot_log(start, end, limit, ncpus);
  return 0;
}

function boot_log(start: usize, end: usize, limit: usize, ncpus: u32): void {
  kputs("HelixFS kernel (AssemblyScript/wasm32), "); kputu(ncpus); kputs(" CPU(s)"); knl();
  kputs("BIOS-e820: [mem "); kputx(0); kputs("-"); kputx(<u64>__heap_base - 1); kputs("] kernel image"); knl();
  kputs("BIOS-e820: [mem "); kputx(<u64>frame_table); kputs("-"); kputx(<u64>(frame_table + nr_reserved_pages() * PAGE_SIZE) - 1); kputs("] frame table (struct page x "); kputu(nr_reserved_pages() * (PAGE_SIZE / 64)); kputs(")"); knl();
  kputs("BIOS-e820: [mem "); kputx(<u64>phys_base); kputs("-"); kputx(<u64>end - 1); kputs("] usable, hotplug up to "); kputx(<u64>limit - 1); knl();
  kputs("Zone Normal: "); kputu(nr_total_pages()); kputs(" pages, "); kputu(nr_free_pages()); kputs(" free; free blocks by order:");
  for (let o: u32 = 0; o < 11; o++) { kputs(" "); kputu(nr_free_blocks(o)); }
  knl();
  kputs("Memory: "); kputu((<u64>nr_free_pages() * PAGE_SIZE) >> 10); kputs("K available, limit "); kputu(<u64>limit >> 20); kputs("M"); knl();
  print_slab_caches();
}

function print_slab_caches(): void {
  const NAME = memory.data(40);
  const n = slab_cache_count();
  for (let i: u32 = 0; i < n; i++) {
    const len = slab_cache_name(i, NAME, 32);
    kputs("slab: "); kputb(NAME, len); kputs(" objsize "); kputu(slab_cache_object_size(i));
    kputs(" active "); kputu(slab_cache_objects_in_use(i)); kputs("/"); kputu(slab_cache_total_objects(i));
    kputs(" slabs "); kputu(slab_cache_slabs(i)); knl();
  }
}

/** Sets up the virtqueue of block device `dev` (only 0); ring addresses at args + 8192. */
export function virtio_blk_probe(dev: u32, capacity_sectors: i64, queue_size: u32): i32 {
  if (!booted || dev != 0 || capacity_sectors < 0) return -EINVAL;
  const r = virtio_blk_setup(<u64>capacity_sectors, queue_size);
  if (r != 0) return r;
  store<u32>(args + 8192, <u32>blk_ring_desc());
  store<u32>(args + 8196, <u32>blk_ring_avail());
  store<u32>(args + 8200, <u32>blk_ring_used());
  kputs("virtio_blk virtio0: [vda] "); kputu(<u64>capacity_sectors); kputs(" 512-byte logical blocks ("); kputu(<u64>capacity_sectors >> 11); kputs(" MiB), queue size "); kputu(queue_size); knl();
  return 0;
}

/**
 * Asks device 0 for its serial (GET_ID) once the host has attached the queue, and logs it
 * (Linux shows it as /sys/block/vda/serial). Returns 0, or -EIO when the device refused.
 */
export function virtio_blk_identify(): i32 {
  const id = args + 8192; // the probe's ring addresses were read by the host already
  memory.fill(id, 0, VIRTIO_BLK_ID_BYTES);
  const r = blk_get_id(id);
  if (r != 0) { kputs("virtio_blk virtio0: [vda] no serial (GET_ID failed)"); knl(); return r; }
  let len: u32 = 0;
  while (len < VIRTIO_BLK_ID_BYTES && load<u8>(id + len) != 0) len++;
  kputs("virtio_blk virtio0: [vda] serial '"); kputb(id, len); kputs("'"); knl();
  return 0;
}

/** Quiets (0) or restores (1) the kernel log. */
export function kernel_printk(on: u32): void { printk_set_enabled(on != 0); }

export function sys_set_cpu(cpu: u32): i32 {
  if (cpu >= NR_CPUS) return -EINVAL;
  set_current_cpu(cpu);
  return 0;
}

// ---- filesystem lifecycle --------------------------------------------------------------------

/** mkfs; the root directory is owned by `cred`'s uid and gid (mke2fs root_owner). */
export function sys_mkfs(cred: usize, label: usize, label_len: u32): i32 { const c = cred_enter(cred); if (c != 0) return c; namei_reset_cwd(); return fs_mkfs(label, label_len); }
// an inode number means nothing across a mount: the working directory goes back to "/"
// inotify marks name inodes of one mount: they go (IN_UNMOUNT, IN_IGNORED) when it ends, and
// any left from a mount that never ended go before the next one
export function sys_mount(flags: u32): i32 { namei_reset_cwd(); fsnotify_unmount(); return fs_mount(flags); }
export function sys_umount(): i32 { fd_close_all(); namei_reset_cwd(); fsnotify_unmount(); return fs_umount(); }
/** Why the last mount failed (MR_* of fs/super.ts). */
export function sys_mount_reason(): i32 { return mount_reason; }

// ---- snapshots (fs/snapshot.ts, docs/abi.md) ----------------------------------------------------

/** Names the snapshot or clone the next sys_mount mounts (`len` 0: the live filesystem). 0 or -EINVAL. */
export function sys_mount_snapshot(name: usize, len: u32): i32 { return fs_set_mount_snapshot(name, len); }
/** Creates snapshot `name` (`flags` 1: a writable clone): its id, or -errno. */
export function sys_snapshot_create(name: usize, len: u32, flags: u32): i64 { return do_snapshot_create(name, len, flags); }
/** Writes at most `cap` 320-byte SNAPINFO records to `out`: the count, or -errno. */
export function sys_snapshot_list(out: usize, cap: u32): i32 { return do_snapshot_list(out, cap); }
/** Deletes snapshot or clone `name`; its blocks are freed in the background. 0 or -errno. */
export function sys_snapshot_delete(name: usize, len: u32): i32 { return do_snapshot_delete(name, len); }
/** Rolls the live filesystem back to snapshot `name` (no open files). 0 or -errno. */
export function sys_snapshot_rollback(name: usize, len: u32): i32 { return do_snapshot_rollback(name, len); }
/** Background snapshot work, at most `budget` units: the units still pending (0: idle), or -errno. */
export function sys_snapshot_work(budget: u32): i32 { return do_snapshot_work(budget); }
/**
 * Differences between heads `a` and `b` (`alen`/`blen` 0: the live filesystem) as packed
 * records into `out` (`cap` bytes, in the argument area or the transfer buffer): the bytes
 * written, or -errno (-ENOENT, -ERANGE: a bigger buffer, -EINVAL: `out` outside them).
 */
export function sys_snapshot_diff(a: usize, alen: u32, b: usize, blen: u32, out: usize, cap: u32): i32 {
  if (!fs_mounted) return -EIO;
  return out_ok(out, cap) ? snap_diff(a, alen, b, blen, out, cap) : -EINVAL;
}
/** Distinct tree nodes the last sys_snapshot_diff read. */
export function kernel_snapshot_diff_nodes(): u64 { return snap_diff_nodes(); }
/** Nodes of the union of the last sys_snapshot_diff's two heads (inode, dirent, extent trees). */
export function kernel_snapshot_diff_total(): u64 { return snap_diff_total(); }

// ---- multiple-mount protection (fs/mmp.ts) ---------------------------------------------------

/**
 * The host's identity for the MMP block, before mkfs/mount: hostname (UTF-8, `node_len` <= 64
 * bytes at args + 0), program (`prog_len` <= 32 bytes at args + 4096), `pid`, `flags` (bit 0:
 * the host holds an exclusive lock on the image, or the device is private to it) and the
 * update interval in seconds mkfs records (0: default 5). Longer strings are cut.
 */
export function kernel_mmp_identity(node_len: u32, prog_len: u32, pid: u32, flags: u32, interval: u32): void {
  mmp_set_identity(args, min<u32>(node_len, 4096), args + 4096, min<u32>(prog_len, 4096), pid, flags, interval);
}
/**
 * MMP heartbeat from the host's timer: writes the next seq when the interval has passed.
 * Returns the interval in ms at which the host should call again (0: nothing held), or
 * -EBUSY when another node took the image over (the filesystem is now read-only), -errno.
 */
export function sys_mmp_tick(): i32 {
  const r = fs_mmp_tick(false);
  if (r < 0) return r;
  return <i32>(mmp_interval() * 1000);
}
/**
 * Reads who holds the image without writing (the host's lock was refused): 1 when an MMP block
 * names a holder (then kernel_mmp_holder has it), 2 when it is clean or unreadable for now, 0
 * when the filesystem has no MMP block, -errno (no valid superblock).
 */
export function kernel_mmp_probe(): i32 { return mmp_probe(); }
/** Copies the last MMP record read (160 bytes, docs/format.md) to `out`; its length, or 0. */
export function kernel_mmp_holder(out: usize): u32 { return mmp_holder(out); }
/**
 * Writes everything back and drops every clean page and buffer from the caches (Linux
 * `echo 3 > /proc/sys/vm/drop_caches`). Returns 0 or -errno from the sync.
 */
export function sys_drop_caches(): i32 {
  const r = do_sync();
  if (r != 0) return r;
  drop_caches();
  dcache_clear();
  return 0;
}

/** Sets the journal's commit interval in ms (0 disables it; default 5000). */
export function sys_set_commit_interval(ms: u32): void { fs_set_commit_interval(ms); }

/**
 * Crash-test switch: breaks the journal's write ordering on purpose (JBREAK_* of
 * fs/journal.ts: 1 = no FLUSH after the commit block, 2 = no FLUSH before it, 4 = discard
 * freed blocks before their commit is durable). Tests use it
 * to prove their checker notices; 0 restores correct behaviour.
 */
export function kernel_debug_break(flags: u32): void { journal_set_break(flags); }

/** Clears a recorded error state after a clean fsck (see fs_clear_error_state). 0 or -errno. */
export function sys_clear_errors(): i32 { return fs_clear_error_state(); }

/**
 * Runs fsck with `flags` (fs/fsck.ts: 1 verbose, 2 data blocks, 4 preen, 8 yes, 16 mark the
 * error state when problems remain); returns the number of problems found or -errno.
 */
export function sys_fsck(flags: u32): i32 { return fsck_run(flags); }

// ---- syscalls --------------------------------------------------------------------------------

// Every syscall that takes a path or a descriptor takes a struct cred pointer first (fs/cred.ts):
// the caller's uid, gid and groups, checked and copied before the call does anything.
/** The area the host writes its struct cred into (fs/cred.ts, CRED_SIZE bytes). */
export function kernel_cred(): usize { return CRED_AREA; }

export function sys_open(cred: usize, p: usize, plen: u32, flags: u32, mode: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_open(p, plen, flags, mode); }
export function sys_close(cred: usize, fd: i32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_close(fd); }
export function sys_read(cred: usize, fd: i32, buf: usize, len: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_read(fd, buf, len, -1); }
export function sys_write(cred: usize, fd: i32, buf: usize, len: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_write(fd, buf, len, -1); }
export function sys_pread(cred: usize, fd: i32, buf: usize, len: u32, pos: i64): i32 { const c = cred_enter(cred); return c != 0 ? c : pos < 0 ? -EINVAL : do_read(fd, buf, len, pos); }
export function sys_pwrite(cred: usize, fd: i32, buf: usize, len: u32, pos: i64): i32 { const c = cred_enter(cred); return c != 0 ? c : pos < 0 ? -EINVAL : do_write(fd, buf, len, pos); }
export function sys_lseek(cred: usize, fd: i32, off: i64, whence: u32): i64 { const c = cred_enter(cred); return c != 0 ? <i64>c : do_lseek(fd, off, whence); }
export function sys_truncate(cred: usize, p: usize, plen: u32, len: i64): i32 { const c = cred_enter(cred); return c != 0 ? c : do_truncate(p, plen, len); }
export function sys_ftruncate(cred: usize, fd: i32, len: i64): i32 { const c = cred_enter(cred); return c != 0 ? c : do_ftruncate(fd, len); }
/** fallocate(2): `mode` is Linux's FALLOC_FL_* bits (0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE[|KEEP_SIZE]). 0 or -errno. */
export function sys_fallocate(cred: usize, fd: i32, mode: u32, off: i64, len: i64): i32 { const c = cred_enter(cred); return c != 0 ? c : do_fallocate(fd, mode, off, len); }
export function sys_fsync(cred: usize, fd: i32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_fsync(fd); }
export function sys_fdatasync(cred: usize, fd: i32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_fsync(fd); }
export function sys_sync(): i32 { return do_sync(); }
/** The commit timer for a host whose kernel idles (fs/super.ts fs_commit_aged): 1 committed, 0 not due, -errno. */
export function sys_commit_timer(): i32 { return do_commit_timer(); }
export function sys_stat(cred: usize, p: usize, plen: u32, out: usize): i32 { const c = cred_enter(cred); return c != 0 ? c : do_stat(p, plen, out, true); }
export function sys_lstat(cred: usize, p: usize, plen: u32, out: usize): i32 { const c = cred_enter(cred); return c != 0 ? c : do_stat(p, plen, out, false); }
export function sys_fstat(cred: usize, fd: i32, out: usize): i32 { const c = cred_enter(cred); return c != 0 ? c : do_fstat(fd, out); }
export function sys_mkdir(cred: usize, p: usize, plen: u32, mode: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_mkdir(p, plen, mode); }
/** chdir(2): the working directory relative paths start at (fs/namei.ts). 0 or -errno. */
export function sys_chdir(cred: usize, p: usize, plen: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_chdir(p, plen); }
export function sys_rmdir(cred: usize, p: usize, plen: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_rmdir(p, plen); }
export function sys_unlink(cred: usize, p: usize, plen: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_unlink(p, plen); }
export function sys_rename(cred: usize, p: usize, plen: u32, q: usize, qlen: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_rename(p, plen, q, qlen); }
export function sys_link(cred: usize, p: usize, plen: u32, q: usize, qlen: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_link(p, plen, q, qlen); }
export function sys_symlink(cred: usize, t: usize, tlen: u32, p: usize, plen: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_symlink(t, tlen, p, plen); }
export function sys_readlink(cred: usize, p: usize, plen: u32, buf: usize, bufsiz: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_readlink(p, plen, buf, bufsiz); }
export function sys_getdents(cred: usize, fd: i32, buf: usize, len: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_getdents(fd, buf, len); }
export function sys_scandir(cred: usize, p: usize, plen: u32, buf: usize, size: u32, out: usize): i32 { const c = cred_enter(cred); return c != 0 ? c : do_scandir(p, plen, buf, size, out); }
export function sys_chmod(cred: usize, p: usize, plen: u32, mode: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_chmod(p, plen, mode); }
export function sys_chown(cred: usize, p: usize, plen: u32, uid: u32, gid: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_chown(p, plen, uid, gid, true); }
export function sys_lchown(cred: usize, p: usize, plen: u32, uid: u32, gid: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_chown(p, plen, uid, gid, false); }
export function sys_mknod(cred: usize, p: usize, plen: u32, mode: u32, rdev: u64): i32 { const c = cred_enter(cred); return c != 0 ? c : do_mknod(p, plen, mode, rdev); }
export function sys_setxattr(cred: usize, p: usize, plen: u32, name: usize, value: usize, size: u32, flags: u32, at_flags: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_setxattr(p, plen, name, value, size, flags, at_flags); }
export function sys_getxattr(cred: usize, p: usize, plen: u32, name: usize, buf: usize, size: u32, at_flags: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_getxattr(p, plen, name, buf, size, at_flags); }
export function sys_listxattr(cred: usize, p: usize, plen: u32, buf: usize, size: u32, at_flags: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_listxattr(p, plen, buf, size, at_flags); }
export function sys_removexattr(cred: usize, p: usize, plen: u32, name: usize, at_flags: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_removexattr(p, plen, name, at_flags); }
export function sys_utimensat(cred: usize, p: usize, plen: u32, atime: i64, mtime: i64, flags: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_utimensat(p, plen, atime, mtime, flags); }
export function sys_fchmod(cred: usize, fd: i32, mode: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_fchmod(fd, mode); }
export function sys_fchown(cred: usize, fd: i32, uid: u32, gid: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_fchown(fd, uid, gid); }
export function sys_futimens(cred: usize, fd: i32, atime: i64, mtime: i64): i32 { const c = cred_enter(cred); return c != 0 ? c : do_futimens(fd, atime, mtime); }
export function sys_access(cred: usize, p: usize, plen: u32, mode: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_access(p, plen, mode); }
export function sys_statfs(cred: usize, p: usize, plen: u32, out: usize): i32 { const c = cred_enter(cred); return c != 0 ? c : do_statfs(p, plen, out); }

// ---- inotify (fs/fsnotify.ts): one instance per kernel, multiplexed by the host ----------------

/**
 * inotify_add_watch(2): watches `p` for the IN_* events of `mask` (Linux's values and flags).
 * The watch descriptor (>= 1; the same one for the same inode) or -errno: EINVAL, ENOENT,
 * ENOTDIR, ELOOP, EACCES (no read permission), ENAMETOOLONG, EEXIST (IN_MASK_CREATE), ENOSPC.
 */
export function sys_inotify_add_watch(cred: usize, p: usize, plen: u32, mask: u32): i32 { const c = cred_enter(cred); return c != 0 ? c : do_inotify_add_watch(p, plen, mask); }
/** inotify_rm_watch(2): 0 (IN_IGNORED is queued) or -EINVAL when `wd` names no watch. */
export function sys_inotify_rm_watch(wd: i32): i32 { return fsnotify_rm_watch(wd); }
/**
 * read(2) of the inotify instance: whole struct inotify_event records (docs/abi.md) into `buf`
 * (`len` bytes, inside linear memory). The bytes copied, 0 when none is queued, -EINVAL when the
 * next event does not fit in `len`, -EFAULT for a buffer outside memory.
 */
export function sys_inotify_read(buf: usize, len: u32): i32 {
  if (<u64>buf + <u64>len > (<u64>memory.size() << 16)) return -EFAULT;
  return fsnotify_read(buf, len);
}

// ---- statistics and inspection ---------------------------------------------------------------

/** Fills `out` with the u64 counters named by INFO_FIELDS in host/vmm/kernel.ts; returns their count. */
export function kernel_info(out: usize): i32 { return inspect_info(out); }
/** The volume label (ASCII/UTF-8 bytes, at most 63) at `out`; returns its length or -errno. */
export function kernel_label(out: usize): i32 { return inspect_label(out); }
/** Per-tree statistics (docs/abi.md): nodes, leaves, items, used bytes, height. */
export function kernel_tree_info(tree: u32, out: usize): i32 { return inspect_tree(tree, out); }
/** Free extents by log2 length, 32 u64 buckets. */
export function kernel_free_histogram(out: usize): i32 { return inspect_free_histogram(out); }
/** Buddy statistics: free blocks per order (11 x u32) then fragmentation index per order (11 x i32). */
export function kernel_mm_info(out: usize): i32 {
  for (let o: u32 = 0; o < 11; o++) {
    store<u32>(out + (<usize>o << 2), nr_free_blocks(o));
    store<i32>(out + 44 + (<usize>o << 2), fragmentation_index(o));
  }
  return 22;
}
export function kernel_slab_count(): u32 { return slab_cache_count(); }
/** Slab cache i: name (ASCII, returns length) at out, then at out+32: objsize, active, total, slabs, pages (u32). */
export function kernel_slab_info(i: u32, out: usize): u32 {
  const len = slab_cache_name(i, out, 31);
  store<u32>(out + 32, slab_cache_object_size(i));
  store<u32>(out + 36, slab_cache_objects_in_use(i));
  store<u32>(out + 40, slab_cache_total_objects(i));
  store<u32>(out + 44, slab_cache_slabs(i));
  store<u32>(out + 48, slab_cache_pages(i));
  return len;
}

// ---- live views (browser demo, issue 11): one call per view per sample ----------------------
// Each writes into a caller buffer that must lie in the argument area or the transfer buffer
// (-EINVAL otherwise: room for the most the view can write), and returns -errno on bad arguments; the
// filesystem views return -ENODEV while nothing is mounted (they would read a foreign disk).

/** True when [out, out + bytes) lies inside [base, base + size). */
@inline function inside(out: usize, bytes: u64, base: usize, size: u64): bool {
  return out >= base && <u64>(out - base) + bytes <= size;
}
/**
 * True when [out, out + bytes) lies inside the argument area or the transfer buffer: the only
 * memory the host owns, so a wrong pointer cannot make a view overwrite kernel data.
 */
function out_ok(out: usize, bytes: u64): bool {
  return booted && (inside(out, bytes, args, ARGS_SIZE) || inside(out, bytes, xfer, <u64>PAGE_SIZE << XFER_ORDER));
}

/**
 * Frame map: one owner byte (mm/framemap.ts FM_*) per present frame, pfn 0 first, at `out`
 * (`cap` bytes). Returns the frames written (nr_frames), or -EINVAL when cap is too small.
 */
export function kernel_frame_map(out: usize, cap: u32): i32 {
  if (!out_ok(out, cap)) return -EINVAL;
  const r = frame_map(out, cap);
  return r < 0 ? -EINVAL : r;
}
/** Free lists per order and migratetype, pcp frames, pageblocks (framemap.ts free_area_stats). */
export function kernel_mm_free_areas(out: usize): i32 {
  if (!out_ok(out, <u64>FREE_AREA_WORDS * 4)) return -EINVAL;
  return free_area_stats(out);
}
/** Bytes of one kernel_slab_table record: name[32] then SLAB_STATS_FIELDS u32, padded. */
const SLAB_RECORD: u32 = 96;
/**
 * slabinfo of every cache at `out` (`cap` bytes): per cache a SLAB_RECORD-byte record, the
 * name (ASCII, NUL-padded, 32 bytes) then slab_cache_stats' u32 fields. Returns the caches
 * written, or -EINVAL when cap cannot hold them all.
 */
export function kernel_slab_table(out: usize, cap: u32): i32 {
  const n = slab_cache_count();
  if (!out_ok(out, cap) || <u64>n * SLAB_RECORD > <u64>cap) return -EINVAL;
  for (let i: u32 = 0; i < n; i++) {
    const r = out + <usize>i * SLAB_RECORD;
    memory.fill(r, 0, SLAB_RECORD);
    slab_cache_name(i, r, 32);
    slab_cache_stats(i, r + 32);
  }
  return <i32>n;
}
/** Nodes, items and used bytes per level of tree `tree`, root level first (fs/inspect.ts tree_levels). */
export function kernel_tree_levels(tree: u32, out: usize): i32 {
  if (!out_ok(out, <u64>LEVELS_MAX * 24)) return -EINVAL;
  if (!fs_mounted) return -ENODEV;
  return tree_levels(tree, out);
}
/** Keys and children of the node reached by `depth` u16 child indices at `path` (tree_node). */
export function kernel_tree_node(tree: u32, path: usize, depth: u32, out: usize, max: u32): i32 {
  if (!out_ok(out, 40 + <u64>NODE_KEYS_MAX * 24) || !out_ok(path, <u64>depth * 2)) return -EINVAL;
  if (!fs_mounted) return -ENODEV;
  return tree_node(tree, path, depth, out, max);
}
/** The same for node `index` (0 = leftmost) at `depth` (0 = root) of tree `tree` (tree_node_at). */
export function kernel_tree_node_at(tree: u32, depth: u32, index: u32, out: usize, max: u32): i32 {
  if (!out_ok(out, 40 + <u64>NODE_KEYS_MAX * 24)) return -EINVAL;
  if (!fs_mounted) return -ENODEV;
  return tree_node_at(tree, depth, index, out, max);
}
/** The journal ring: head, tail, running and committed transactions (fs/journal.ts journal_view). */
export function kernel_journal_view(out: usize): i32 {
  if (!out_ok(out, (<u64>JVIEW_FIELDS + <u64>CTX_MAX * 5) * 8)) return -EINVAL;
  return journal_view(out);
}
/** Extents of inode `ino` from file block `from`, at most `max` (fs/inspect.ts extent_map). */
export function kernel_extent_map(ino: u64, from: u64, out: usize, max: u32): i32 {
  if (!out_ok(out, 24 + <u64>EXTMAP_MAX * 24)) return -EINVAL;
  if (!fs_mounted) return -ENODEV;
  return extent_map(ino, from, out, max);
}
/** Free blocks of the disk in `buckets` equal runs (fs/inspect.ts free_map). */
export function kernel_free_map(out: usize, buckets: u32): i32 {
  if (!out_ok(out, 32 + <u64>FREEMAP_BUCKETS_MAX * 4)) return -EINVAL;
  if (!fs_mounted) return -ENODEV;
  return free_map(out, buckets);
}

export function kernel_fsck_stats(out: usize): void {
  store<u64>(out, fsck_nodes); store<u64>(out + 8, fsck_inodes); store<u64>(out + 16, fsck_dirents);
  store<u64>(out + 24, fsck_extents); store<u64>(out + 32, fsck_free_extents); store<u64>(out + 40, fsck_used_blocks);
  store<u64>(out + 48, fsck_fixed); store<u64>(out + 56, fsck_unfixed); store<u64>(out + 64, fsck_data_blocks);
  store<u64>(out + 72, mount_prev_state); store<u64>(out + 80, mount_dropped_log ? 1 : 0); store<u64>(out + 88, j_sb_repaired);
}

// ---- benchmarks (timed by the host) ----------------------------------------------------------

export function bench_buddy(n: u32): u32 { return mm_bench_buddy(n); }
export function bench_buddy_mixed(n: u32): u32 { return mm_bench_buddy_mixed(n); }
export function bench_slab(n: u32): u32 { return mm_bench_slab(n); }
export function bench_crc32c(n: u32): u32 { return crc32c(0, xfer, n); }
/** XXH32 (seed `seed`) of the first `n` bytes of the transfer buffer: the data-block checksum (Kernel.checksum). */
export function kernel_xxh32(n: u32, seed: u32): u32 { return xxh32(xfer, n, seed); }
const BENCH_ADDRS: usize = memory.data(64 * 4);
/** XXH32 of `n` (<= 64) 4 KiB blocks of the transfer buffer through xxh32_blocks; returns their xor (bench). */
export function bench_xxh32_blocks(n: u32): u32 {
  for (let i: u32 = 0; i < n; i++) store<u32>(BENCH_ADDRS + (<usize>i << 2), <u32>(xfer + (<usize>(i & 15) << 12)));
  xxh32_blocks(BENCH_ADDRS, n, BENCH_ADDRS);
  let x: u32 = 0;
  for (let i: u32 = 0; i < n; i++) x ^= load<u32>(BENCH_ADDRS + (<usize>i << 2));
  return x;
}

// B+ tree benchmark: random 64-bit keys in the extent tree of a mounted filesystem, under a
// pseudo-inode no file uses. Inserts run inside the journal like any metadata change.
const BENCH_INO: u64 = 0xffff_ffff_ffff_0000;
const BENCH_VAL: usize = memory.data(16);
let bench_x: u64 = 0;
@inline function bench_next(): u64 {
  let x = bench_x;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  bench_x = x;
  return x;
}
/**
 * Inserts `n` random keys from `seed` (xorshift64). With `commit` set, syscall-boundary
 * housekeeping runs every 1,024 inserts (commits, checkpoints: the full journaled cost);
 * without, everything stays in one running transaction (the tree's own cost; the kernel
 * cannot commit that transaction afterwards and must be discarded). Returns the keys
 * inserted or -errno.
 */
export function bench_btree_insert(n: u32, seed: u32, commit: u32): i32 {
  bench_x = <u64>seed * 0x9e3779b97f4a7c15 | 1;
  let done: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const k = bench_next();
    store<u64>(BENCH_VAL, k);
    const r = bt_insert(TREE_EXTENT, BENCH_INO, k, BENCH_VAL, 16);
    if (r == 0) done++;
    else if (r != -17) return r;
    if (commit != 0 && (i & 1023) == 1023) { const b = fs_balance(); if (b != 0) return b; }
  }
  return done;
}
/** Looks up `n` keys of the same sequence. Returns how many were found. */
export function bench_btree_lookup(n: u32, seed: u32): i32 {
  bench_x = <u64>seed * 0x9e3779b97f4a7c15 | 1;
  let found: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (bt_lookup(TREE_EXTENT, BENCH_INO, bench_next()) != 0) found++;
  }
  return found;
}
/** Debug aid for tests: looks up key i of the bench sequence only (1 = found). */
export function bench_btree_check(n: u32, seed: u32): i32 {
  bench_x = <u64>seed * 0x9e3779b97f4a7c15 | 1;
  for (let i: u32 = 0; i < n; i++) {
    if (bt_lookup(TREE_EXTENT, BENCH_INO, bench_next()) == 0) return <i32>i;
  }
  return -1;
}
/** Debug aid: prints the items of B+ tree node `blk` to the kernel log. */
export function kernel_dump_node(blk: u64): void {
  const n = bread(blk, 0x4e54_4248);
  if (n == 0) return;
  const k = load<u16>(n, 34);
  const lvl = load<u8>(n, 33);
  kputs("node "); kputu(blk); kputs(" level "); kputu(lvl); kputs(" nitems "); kputu(k); kputs(" vend "); kputu(load<u16>(n, 36)); kputs(" vused "); kputu(load<u16>(n, 38)); knl();
  const sz: usize = lvl == 0 ? 20 : 24;
  for (let i: u32 = 0; i < k; i++) {
    const p = n + 64 + <usize>i * sz;
    kputs("  "); kputu(i); kputs(": "); kputx(load<u64>(p)); kputs(" "); kputx(load<u64>(p, 8));
    if (lvl == 0) { kputs(" voff "); kputu(load<u16>(p, 16)); kputs(" vlen "); kputu(load<u16>(p, 18)); }
    else { kputs(" child "); kputu(load<u64>(p, 16)); }
    knl();
  }
}
