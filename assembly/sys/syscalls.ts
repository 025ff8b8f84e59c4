// sys/syscalls.ts -- the system call layer: file descriptors and POSIX semantics.
//
// Layer: the kernel's top; index.ts exports these as sys_*. One call is one host crossing.
// Interface: do_open .. do_statfs, each returning >= 0 or -errno (Linux numbers).
// Rules:
//  - every call begins with sys_enter (syscall-boundary housekeeping) and changes to metadata
//    happen only when the fs is writable (EROFS otherwise);
//  - a metadata error in the middle of a change (EIO/EUCLEAN/ENOMEM from the trees) aborts
//    the journal through fs_error: the disk keeps the last committed state;
//  - an unlinked inode lives on while open (listed in the orphan directory) and is freed at
//    the last close, or at the next mount after a crash;
//  - permission, ownership and timestamp decisions are Linux's, made with the running
//    syscall's credentials (fs/cred.ts), in Linux's order of checks: see "permissions" below.
//
// struct file (FILE_SIZE bytes per descriptor, in FDTABLE):
//
//   0 ino u64 (0 = free slot) | 8 flags u32 (O_*) | 12 parent u32 (the directory the file was
//   opened in: inotify's events about a child, fs/fsnotify.ts) | 16 pos i64 | 24 name record
//   (FNAME_SIZE bytes: fsnotify's note of the file's name in that directory)

import { NR_OPEN, NAME_MAX } from "../params";
import {
  EPERM, ENOENT, EIO, EBADF, EEXIST, ENOTDIR, EISDIR, EINVAL, EMFILE, EROFS, EMLINK, ENOTEMPTY,
  ELOOP, EBUSY, ENOSPC, EFBIG, EUCLEAN, ENOMEM, ENAMETOOLONG, E2BIG, EACCES, ENXIO, ESPIPE, EAGAIN, EPIPE,
  ERANGE, EFAULT, ENODEV, EOPNOTSUPP,
} from "../lib/errno";
import { ROOT_INO, ORPHAN_DIR, TREE_DIRENT, SB_INCOMPAT, INCOMPAT_SPECIAL } from "../fs/format";
import {
  namei, nd_ino, nd_mode, nd_rec, nd_parent, nd_name, nd_namelen, nd_trailing, nd_toolong, is_ancestor,
  LOOKUP_FOLLOW, LOOKUP_PARENT, namei_set_cwd, namei_dir_gone, namei_reset_cwd,
} from "../fs/namei";
import {
  inode_get, inode_get_mut, inode_create, inode_remove_record, inode_touch, inode_link_delta,
  inode_errno, fs_now, I_MODE, I_UID, I_GID, I_NLINK, I_SIZE, I_ATIME, I_MTIME, I_CTIME,
  I_CRTIME, I_BLOCKS, I_PARENT, INLINE_MAX, S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_ISDIR, S_ISREG, S_ISLNK,
  T_MTIME, T_CTIME, I_RDEV, S_IFIFO, S_IFCHR, S_IFBLK, S_ISSPECIAL, icache_init,
} from "../fs/inode";
import { capable, generic_permission, MAY_READ, MAY_WRITE, MAY_EXEC } from "../fs/cred";
import {
  xattr_name, xattr_name_ns, xattr_permission, xattr_get, xattr_set, xattr_list, xattr_remove, xattr_remove_all,
  sb_feature_enable, xattr_tx_broken, xn_ns, xn_name, xn_len, XATTR_NAME_MAX, XATTR_SIZE_MAX, XATTR_LIST_MAX,
  XATTR_CREATE, XATTR_REPLACE,
} from "../fs/xattr";
import {
  dir_add, dir_remove, dir_is_empty, dir_next, de_ino, de_type, de_key, de_name, de_namelen,
  DT_DIR, DT_REG, DT_LNK, dtype,
} from "../fs/dir";
import {
  file_read, file_write, file_errno, file_truncate, file_release, file_data_eio, file_tx_broken, FILE_SIZE_MAX,
  falloc_prepare, falloc_blocks, falloc_finish, falloc_inner_from, falloc_inner_to, falloc_outer_from,
  falloc_outer_to, file_seek_hole_data, FALLOC_CHUNK, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE,
} from "../fs/file";
import { capable } from "../fs/cred";
import {
  fs_mounted, fs_readonly, fs_errored, fs_error, fs_commit, fs_sync, fs_commit_aged, fs_balance, fs_statfs,
} from "../fs/super";
import { mapping_get, mapping_find, mapping_put, AS_OPENCOUNT, AS_FLAGS, AS_ORPHAN, drop_caches } from "../fs/pagecache";
import { snap_create, snap_delete, snap_rollback, snap_work, snap_settled, snap_pending, snap_list, snap_changed } from "../fs/snapshot";
import { dcache_clear } from "../fs/dcache";
import {
  alloc_can_grow, alloc_deferred_freeable, free_blocks, alloc_write_meta, reserved_blocks, meta_reserved, META_RESERVE,
} from "../fs/alloc";
import { bt_errno, bt_delete, bt_insert } from "../fs/btree";
import {
  cur_uid, cur_gid, capable, in_group_p, generic_permission, MAY_READ, MAY_WRITE, MAY_EXEC,
} from "../fs/cred";
import {
  fsnotify_create, fsnotify_link, fsnotify_delete, fsnotify_move, fsnotify_dentry, fsnotify_file,
  fsnotify_inoderemove, fsnotify_remember, fsnotify_add_watch, fsnotify_mask_ok, FNAME_SIZE, IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_OPEN,
  IN_CLOSE_WRITE, IN_CLOSE_NOWRITE, IN_ONLYDIR, IN_DONT_FOLLOW,
} from "../fs/fsnotify";

export const O_ACCMODE: u32 = 3;
export const O_RDONLY: u32 = 0;
export const O_WRONLY: u32 = 1;
export const O_RDWR: u32 = 2;
export const O_CREAT: u32 = 0o100;
export const O_EXCL: u32 = 0o200;
export const O_TRUNC: u32 = 0o1000;
export const O_APPEND: u32 = 0o2000;
export const O_NONBLOCK: u32 = 0o4000;
export const O_DIRECTORY: u32 = 0o200000;
export const O_NOFOLLOW: u32 = 0o400000;
export const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/** utimensat special values in the ns arguments (i64 versions of Linux UTIME_NOW/OMIT). */
export const UTIME_NOW: i64 = -1;
export const UTIME_OMIT: i64 = -2;
const SEEK_SET: u32 = 0;
const SEEK_CUR: u32 = 1;
const SEEK_END: u32 = 2;
const SEEK_DATA: u32 = 3;
const SEEK_HOLE: u32 = 4;
/** Hard links one inode may have (ext4's EXT4_LINK_MAX). */
const LINK_MAX: u32 = 65000;
/** Largest file offset + 1 (loff_t). */
const I64_MAX: i64 = 0x7fff_ffff_ffff_ffff;
/** Blocks a namespace change may need for tree growth. */
const GROW_BLOCKS: u64 = 8;

const FILE_SIZE: usize = 24 + FNAME_SIZE;
const FDTABLE: usize = memory.data(<i32>(NR_OPEN * <u32>FILE_SIZE));
const F_INO: usize = 0;
const F_FLAGS: usize = 8;
const F_PARENT: usize = 12;
const F_POS: usize = 16;
const F_NAME: usize = 24;

@inline function fdp(fd: i32): usize { return FDTABLE + (<usize>fd) * FILE_SIZE; }

/** The open file for `fd`, or 0 (EBADF). */
function fget(fd: i32): usize {
  if (fd < 0 || <u32>fd >= NR_OPEN) return 0;
  const f = fdp(fd);
  return load<u64>(f, F_INO) == 0 ? 0 : f;
}

/** Closes every descriptor (unmount). */
export function fd_close_all(): void {
  for (let fd: i32 = 0; fd < <i32>NR_OPEN; fd++) if (fget(fd) != 0) do_close(fd);
}

/** Error return for a failed metadata change: fatal errors abort the journal. */
function fail(err: i32): i32 {
  if (err == -EIO || err == -EUCLEAN || err == -ENOMEM) return fs_error(err);
  return err;
}

/**
 * Error return for a namespace change that may have begun: a tree insert that runs out of
 * blocks halfway (ENOSPC after alloc_can_grow said yes) leaves the transaction half-done,
 * so it is fatal too. EEXIST/ENOENT from the trees are clean refusals.
 */
function fail_ns(err: i32): i32 {
  if (err == -ENOSPC) return fs_error(err);
  return fail(err);
}

/** Syscall entry: housekeeping; refuses everything when nothing is mounted. */
function sys_enter(): i32 {
  if (!fs_mounted) return -EIO;
  return fs_balance();
}

/** Entry for calls that change the filesystem. */
function sys_enter_write(): i32 {
  const r = sys_enter();
  if (r != 0) return r;
  if (fs_readonly || fs_errored) return -EROFS;
  return 0;
}

/**
 * After an ENOSPC: blocks freed in the running transaction (unlink, truncate, copy-on-write)
 * return to the free space only when it commits, and the worst-case metadata reserved for
 * dirty pages (alloc_write_meta) is given back once writeback has made the real changes, so
 * commit now and tell the caller to retry once (ext4_should_retry_alloc forcing a jbd2
 * commit). False when nothing would come back.
 */
function commit_to_free_space(): bool {
  // a deleted snapshot's blocks come back through its background work: finish it now
  if (snap_pending() && snap_drain() > 0) return true;
  const held = alloc_deferred_freeable() + reserved_blocks + meta_reserved;
  return held > 0 && fs_commit() == 0;
}

/**
 * Runs the pending snapshot deletes and drops to their end (a write met ENOSPC: the space a
 * deleted snapshot held is what it needs). Returns the blocks it freed (0 on error).
 */
function snap_drain(): u64 {
  const before = free_blocks;
  if (snap_drain_all() != 0) return 0;
  return free_blocks > before ? free_blocks - before : 0;
}

/** Runs the pending snapshot work to its end, a commit per batch. 0 or -errno. */
function snap_drain_all(): i32 {
  let r = fs_commit();
  if (r != 0) return r;
  for (let round = 0; round < SNAP_SETTLE_ROUNDS_MAX; round++) {
    const w = snap_work(SNAP_SETTLE_BATCH);
    if (w < 0) return fail(<i32>w);
    r = fs_commit();
    if (r != 0) return r;
    if (w == 0) return 0;
  }
  return -EIO;
}

function dtype_of(mode: u32): u8 {
  if (S_ISDIR(mode)) return DT_DIR;
  if (S_ISLNK(mode)) return DT_LNK;
  if (S_ISSPECIAL(mode)) return dtype(mode);
  return DT_REG;
}

/** Saved first-path results for two-path calls (rename, link). */
const SAVED_NAME: usize = memory.data(NAME_MAX + 1);

// ---- permissions: the decisions of Linux fs/namei.c and fs/attr.c ---------------------------
//
// Every check below runs with the syscall's credentials (fs/cred.ts). The order of the checks
// in each syscall follows Linux's, so that a call failing for two reasons returns the errno
// Linux returns (pjdfstest checks these orders): lookup errors, then EEXIST/ENOENT of the
// last name, then the parent's permission (EACCES), then the sticky bit (EPERM), then the
// types of the names (EISDIR/ENOTDIR), then the rest (ENOTEMPTY, EMLINK).

/** Mode bits the permission rules look at (Linux S_ISUID, S_ISGID, S_ISVTX, S_IXGRP). */
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;
const S_IXGRP: u32 = 0o10;
/** open(2) O_NOATIME: only the file's owner or root may ask for it (EPERM). */
export const O_NOATIME: u32 = 0o1000000;

/** Whether the caller owns the inode record at `rec` or is root (Linux inode_owner_or_capable). */
@inline function owner_or_capable(rec: usize): bool {
  return load<u32>(rec, I_UID) == cur_uid || capable();
}

/** generic_permission on inode `ino` for `mask` (MAY_*). 0, -EACCES, or a read error. */
function ino_permission(ino: u64, mask: u32): i32 {
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  return generic_permission(rec, mask);
}

/** Linux may_create: write and search permission on the directory a name is made in. */
@inline function may_create(dir: u64): i32 { return ino_permission(dir, MAY_WRITE | MAY_EXEC); }

/**
 * Linux may_delete: whether the caller may remove (or rename away, or rename over) the
 * entry for `victim` in directory `dir`, as a directory (`isdir`, rmdir and renames of a
 * directory) or not. 0 or -errno, in Linux's order: EACCES (no write and search permission
 * on `dir`), EPERM (the sticky bit on `dir` and the caller owns neither `dir` nor `victim`
 * and is not root), ENOTDIR (`isdir` and `victim` is not a directory), EISDIR (not `isdir`
 * and it is one), or a read error.
 */
function may_delete(dir: u64, victim: u64, isdir: bool): i32 {
  const drec = inode_get(dir);
  if (drec == 0) return fail(inode_errno);
  let r = generic_permission(drec, MAY_WRITE | MAY_EXEC);
  if (r != 0) return r;
  const dmode = load<u32>(drec, I_MODE);
  const duid = load<u32>(drec, I_UID);
  const vrec = inode_get(victim); // may evict drec: its fields were read above
  if (vrec == 0) return fail(inode_errno);
  const vmode = load<u32>(vrec, I_MODE);
  // check_sticky: the sticky bit keeps others' entries in a shared directory (/tmp)
  if ((dmode & S_ISVTX) != 0 && load<u32>(vrec, I_UID) != cur_uid && duid != cur_uid && !capable()) return -EPERM;
  if (isdir) { if (!S_ISDIR(vmode)) return -ENOTDIR; }
  else if (S_ISDIR(vmode)) return -EISDIR;
  return 0;
}

/**
 * Whether a set-group-ID bit of `mode` goes when a file of group `gid` changes owner or is
 * written (Linux setattr_should_drop_sgid): when group-execute is set it marks a set-gid
 * program and goes; without it, it stays only for a member of `gid` or root.
 */
function should_drop_sgid(mode: u32, gid: u32): bool {
  if ((mode & S_ISGID) == 0) return false;
  if ((mode & S_IXGRP) != 0) return true;
  return !in_group_p(gid) && !capable();
}

/**
 * Linux file_remove_privs: a write or truncate of a regular file by a caller other than root
 * (CAP_FSETID) clears set-user-ID, and set-group-ID as should_drop_sgid says. 0 or -errno.
 */
function file_remove_privs(ino: u64): i32 {
  if (capable()) return 0;
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  const mode = load<u32>(rec, I_MODE);
  if (!S_ISREG(mode)) return 0;
  const kill = (mode & S_ISUID) | (should_drop_sgid(mode, load<u32>(rec, I_GID)) ? S_ISGID : 0);
  if (kill == 0) return 0;
  const w = inode_get_mut(ino);
  if (w == 0) return fail(inode_errno);
  store<u32>(w, mode & ~kill, I_MODE);
  store<i64>(w, fs_now(), I_CTIME);
  return 0;
}

/**
 * Linux protected_hardlinks (fs.protected_hardlinks = 1, the default of systemd systems and
 * what pjdfstest meets on Linux): a caller that neither owns `rec` nor is root may link it
 * only when it is a regular file that is not set-user-ID, not a set-group-ID program, and
 * that it may read and write. 0 or -EPERM.
 */
function may_linkat(rec: usize): i32 {
  if (owner_or_capable(rec)) return 0;
  const mode = load<u32>(rec, I_MODE);
  if (!S_ISREG(mode) || (mode & S_ISUID) != 0 || (mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) return -EPERM;
  return generic_permission(rec, MAY_READ | MAY_WRITE) == 0 ? 0 : -EPERM;
}

/**
 * The owner, group and mode of a new inode in directory `parent` (Linux inode_init_owner and
 * mode_strip_sgid): the caller's uid; the parent's gid when the parent is set-group-ID (a
 * new directory inherits the bit too), else the caller's gid; a set-group-ID program made in
 * such a directory by a caller outside the group keeps no set-group-ID. Sets new_uid/new_gid
 * and returns the mode, or 0 with the error in create_err.
 */
let new_uid: u32 = 0;
let new_gid: u32 = 0;
function init_owner(parent: u64, mode: u32): u32 {
  const prec = inode_get(parent);
  if (prec == 0) { create_err = fail(inode_errno); return 0; }
  new_uid = cur_uid;
  new_gid = cur_gid;
  if ((load<u32>(prec, I_MODE) & S_ISGID) == 0) return mode;
  new_gid = load<u32>(prec, I_GID);
  if (S_ISDIR(mode)) return mode | S_ISGID;
  if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && !in_group_p(new_gid) && !capable()) return mode & ~S_ISGID;
  return mode;
}

// ---- open / close ----------------------------------------------------------------------------

/**
 * Creates an inode of `mode` named `name` in `parent`, owned as init_owner says. Returns the
 * ino or 0 with the error in create_err. The caller has checked may_create.
 */
let create_err: i32 = 0;
function create_node(mode: u32, parent: u64, name: usize, namelen: u32): u64 {
  // the arguments are values and the namei buffer: nothing a commit could move
  if (!alloc_can_grow(GROW_BLOCKS) && !(commit_to_free_space() && alloc_can_grow(GROW_BLOCKS))) {
    create_err = -ENOSPC;
    return 0;
  }
  mode = init_owner(parent, mode);
  if (mode == 0) return 0;
  const ino = inode_create(mode, new_uid, new_gid, S_ISDIR(mode) ? 2 : 1, parent);
  if (ino == 0) { create_err = fail_ns(inode_errno); return 0; }
  const r = dir_add(parent, name, namelen, ino, dtype_of(mode));
  if (r != 0) { create_err = fail_ns(r); return 0; }
  const pr = inode_touch(parent, T_MTIME | T_CTIME);
  if (pr != 0) { create_err = fail(pr); return 0; }
  return ino;
}

/**
 * open(2). Returns a descriptor or -errno: ENOENT, EEXIST (O_CREAT|O_EXCL), EISDIR (writing
 * a directory, or O_CREAT with a trailing slash), ENOTDIR, ELOOP (O_NOFOLLOW on a symlink,
 * too many links), EMFILE, ENOSPC, EROFS, ENAMETOOLONG, EINVAL.
 */
export function do_open(path: usize, len: u32, flags: u32, mode: u32): i32 {
  let r = sys_enter();
  if (r != 0) return r;
  const acc = flags & O_ACCMODE;
  if (acc == 3) return -EINVAL;
  // the descriptor comes first, before the path is looked at (Linux do_sys_openat2:
  // get_unused_fd_flags, then do_filp_open), so EMFILE leaves no file created or truncated
  const fd = fd_unused();
  if (fd < 0) return fd;
  // on a read-only fs, EROFS comes where a change would begin (Linux mnt_want_write): when a
  // missing name would be created, or from may_open for writing or truncating. After an
  // error aborted the journal, a call that may change anything is refused before it reads
  // the (possibly damaged) trees
  if ((flags & (O_CREAT | O_TRUNC)) != 0 && fs_errored) return -EROFS;
  // O_CREAT|O_EXCL never follows a final symlink: whatever is there makes it EEXIST
  const excl = (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
  let lflags: u32 = (flags & O_NOFOLLOW) != 0 || excl ? 0 : LOOKUP_FOLLOW;
  if (flags & O_CREAT) lflags |= LOOKUP_PARENT;
  r = namei(path, len, lflags);
  if (r != 0) return r;
  // Linux refuses O_CREAT on a path with a trailing slash before looking at the target
  if ((flags & O_CREAT) != 0 && (nd_trailing || nd_namelen == 0 || is_dots(nd_name, nd_namelen))) return -EISDIR;
  if (nd_toolong) return -ENAMETOOLONG;
  let ino = nd_ino;
  let m = nd_mode;
  let created = false;
  let truncated = false;
  if (ino == 0) {
    // O_CREAT of a missing name: a new file is opened whatever its mode (Linux do_open
    // skips may_open for FMODE_CREATED), so only the directory's permission counts
    if (fs_readonly || fs_errored) return -EROFS;
    r = may_create(nd_parent);
    if (r != 0) return r;
    ino = create_node(S_IFREG | (mode & 0o7777), nd_parent, nd_name, nd_namelen);
    if (ino == 0) return create_err;
    m = S_IFREG | (mode & 0o7777);
    created = true;
  } else {
    if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return -EEXIST;
    if (S_ISLNK(m)) return -ELOOP; // O_NOFOLLOW on a final symlink
    if (S_ISDIR(m) && (acc != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0)) return -EISDIR;
    if ((flags & O_DIRECTORY) != 0 && !S_ISDIR(m)) return -ENOTDIR;
    r = may_open(ino, m, acc, flags);
    if (r != 0) return r;
    if (S_ISSPECIAL(m)) {
      // no driver and no socket behind a special inode; a FIFO opens without a data path
      r = open_special(ino, m, flags);
      if (r != 0) return r;
    }
    // Linux truncates even with O_RDONLY (the result is unspecified by POSIX); the open file
    // (its mapping, held open) exists first, so ENOMEM cannot follow a truncation
    if ((flags & O_TRUNC) != 0 && S_ISREG(m)) {
      const as = mapping_get(<u32>ino);
      if (as == 0) return -ENOMEM;
      store<u32>(as, load<u32>(as, AS_OPENCOUNT) + 1, AS_OPENCOUNT);
      r = open_truncate(ino);
      store<u32>(as, load<u32>(as, AS_OPENCOUNT) - 1, AS_OPENCOUNT);
      if (r != 0) { mapping_put(as); return r; }
      truncated = true;
    }
  }
  // nothing between fd_unused and here opens a file: the slot is still free
  const f = fdp(fd);
  const as = mapping_get(<u32>ino);
  if (as == 0) return -ENOMEM;
  store<u32>(as, load<u32>(as, AS_OPENCOUNT) + 1, AS_OPENCOUNT);
  store<u64>(f, ino, F_INO);
  store<u32>(f, flags, F_FLAGS);
  store<u32>(f, nd_namelen != 0 ? <u32>nd_parent : 0, F_PARENT);
  store<i64>(f, 0, F_POS);
  // Linux's order: IN_CREATE (the name), IN_OPEN, then the truncation's IN_MODIFY
  if (created) fsnotify_create(nd_parent, nd_name, nd_namelen, false);
  fsnotify_dentry(nd_parent, nd_name, nd_namelen, ino, S_ISDIR(m), IN_OPEN);
  if (truncated) fsnotify_dentry(nd_parent, nd_name, nd_namelen, ino, false, IN_MODIFY);
  fsnotify_remember(f + F_NAME, nd_parent, ino, nd_name, nd_namelen);
  return fd;
}

/**
 * Linux may_open for an existing inode: the permission the access mode asks for (O_TRUNC asks
 * for write too), EROFS before EACCES for a write on a read-only fs (sb_permission), then
 * O_NOATIME only for the owner or root. 0 or -errno (EROFS, EACCES, EPERM).
 */
function may_open(ino: u64, m: u32, acc: u32, flags: u32): i32 {
  let mask: u32 = acc == O_RDONLY ? MAY_READ : acc == O_WRONLY ? MAY_WRITE : MAY_READ | MAY_WRITE;
  // O_TRUNC means nothing to a FIFO or device (Linux may_open clears it)
  if ((flags & O_TRUNC) != 0 && !S_ISSPECIAL(m)) mask |= MAY_WRITE;
  // a FIFO or device written on a read-only fs writes nothing to it (sb_permission: only
  // regular files, directories and symlinks)
  if ((mask & MAY_WRITE) != 0 && (fs_readonly || fs_errored) && !S_ISSPECIAL(m)) return -EROFS;
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  const r = generic_permission(rec, mask);
  if (r != 0) return r;
  if ((flags & O_NOATIME) != 0 && !owner_or_capable(rec)) return -EPERM;
  return 0;
}

/**
 * open(2) of a special inode (no data path in this kernel). Character and block devices and
 * sockets: ENXIO (Linux chrdev_open/blkdev_open with no driver registered, no_open for a
 * socket). A FIFO: O_WRONLY|O_NONBLOCK with no reader open is ENXIO as on Linux; every other
 * open returns at once. Linux would make a blocking open wait for the other end, but the host
 * API is synchronous, so such an open could never be woken: it proceeds as O_NONBLOCK would
 * (a reader without writers then reads end-of-file). A FIFO on a read-only filesystem opens
 * for writing (its data would not touch the disk). 0 or -errno.
 */
function open_special(ino: u64, m: u32, flags: u32): i32 {
  if ((m & S_IFMT) != S_IFIFO) return -ENXIO;
  if ((flags & (O_ACCMODE | O_NONBLOCK)) == (O_WRONLY | O_NONBLOCK) && fifo_ends(ino, true) == 0) return -ENXIO;
  return 0;
}

/** Open descriptors of `ino` that read (`readers`) or write it: a FIFO's two ends. */
function fifo_ends(ino: u64, readers: bool): u32 {
  let n: u32 = 0;
  for (let fd: i32 = 0; fd < <i32>NR_OPEN; fd++) {
    const f = fdp(fd);
    if (load<u64>(f, F_INO) != ino) continue;
    const acc = load<u32>(f, F_FLAGS) & O_ACCMODE;
    if (readers ? acc != O_WRONLY : acc != O_RDONLY) n++;
  }
  return n;
}

/**
 * read(2)/write(2) on a FIFO: this kernel keeps no pipe buffer, so nothing written is ever
 * there to read. A read returns end-of-file (0) when no writer is open, else EAGAIN (an
 * empty pipe with writers); a write is EPIPE when no reader is open, else EAGAIN (as a full
 * pipe would be to an O_NONBLOCK writer).
 */
function fifo_rw(ino: u64, write: bool): i32 {
  if (write) return fifo_ends(ino, true) == 0 ? -EPIPE : -EAGAIN;
  return fifo_ends(ino, false) == 0 ? 0 : -EAGAIN;
}

/** open's O_TRUNC of regular file `ino`: size 0, or only the times when it is empty. 0 or -errno. */
function open_truncate(ino: u64): i32 {
  const pr = file_remove_privs(ino);
  if (pr != 0) return pr;
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  let r = load<u64>(rec, I_SIZE) != 0 ? file_truncate(ino, 0) : 0;
  // O_TRUNC sets mtime and ctime even on an empty file (file_truncate's inline path does not)
  if (r == 0) r = inode_touch(ino, T_MTIME | T_CTIME);
  return r != 0 ? fail(r) : 0;
}

/** The lowest free descriptor, or -EMFILE when all NR_OPEN are in use. */
function fd_unused(): i32 {
  for (let fd: i32 = 0; fd < <i32>NR_OPEN; fd++) if (load<u64>(fdp(fd), F_INO) == 0) return fd;
  return -EMFILE;
}

/** Frees an inode with no links: data, record. 0 or -errno. */
function inode_destroy(ino: u64): i32 {
  let r = file_release(ino);
  if (r == 0) r = xattr_remove_all(ino);
  if (r != 0) return r;
  return inode_remove_record(ino);
}

/** Whether the last drop_link freed its inode (inotify's IN_DELETE_SELF; not when it became an orphan). */
let link_freed = false;

/** Drops one link; frees the inode, or lists it as an orphan while it is open. */
function drop_link(ino: u64, isDir: bool): i32 {
  link_freed = false;
  let n: i32;
  if (isDir) {
    const rec = inode_get_mut(ino);
    if (rec == 0) return inode_errno;
    store<u32>(rec, 0, I_NLINK);
    n = 0;
  } else {
    n = inode_link_delta(ino, -1);
    if (n < 0) return n;
  }
  if (n > 0) return 0;
  const as = mapping_find(<u32>ino);
  if (as != 0 && load<u32>(as, AS_OPENCOUNT) > 0) {
    store<u32>(as, load<u32>(as, AS_FLAGS) | AS_ORPHAN, AS_FLAGS);
    const REC = memory.data(16);
    store<u64>(REC, ino);
    store<u8>(REC, DT_REG, 8);
    store<u8>(REC, 0, 9);
    return bt_insert(TREE_DIRENT, ORPHAN_DIR, ino, REC, 10);
  }
  link_freed = true;
  return inode_destroy(ino);
}

/** close(2). 0 or -EBADF. */
export function do_close(fd: i32): i32 {
  const f = fget(fd);
  if (f == 0) return -EBADF;
  const ino = load<u64>(f, F_INO);
  store<u64>(f, 0, F_INO);
  fsnotify_file(<u64>load<u32>(f, F_PARENT), ino, (load<u32>(f, F_FLAGS) & O_ACCMODE) != O_RDONLY ? IN_CLOSE_WRITE : IN_CLOSE_NOWRITE, f + F_NAME);
  const as = mapping_find(<u32>ino);
  if (as == 0) return 0;
  const oc = load<u32>(as, AS_OPENCOUNT) - 1;
  store<u32>(as, oc, AS_OPENCOUNT);
  if (oc == 0 && (load<u32>(as, AS_FLAGS) & AS_ORPHAN) != 0) {
    store<u32>(as, load<u32>(as, AS_FLAGS) & ~AS_ORPHAN, AS_FLAGS);
    if (!fs_readonly && !fs_errored) {
      let r = bt_delete(TREE_DIRENT, ORPHAN_DIR, ino);
      if (r == 0) r = inode_destroy(ino);
      if (r == 0) fsnotify_inoderemove(ino, false);
      // destroying dropped the pages, which may have freed the address_space already
      const left = mapping_find(<u32>ino);
      if (left != 0) mapping_put(left);
      return r != 0 ? fail(r) : 0;
    }
  }
  mapping_put(as);
  return 0;
}

// ---- read / write ----------------------------------------------------------------------------

/** read(2) / pread(2) (`pos` >= 0). Bytes read or -errno (EBADF, EISDIR, EINVAL, EIO). */
export function do_read(fd: i32, buf: usize, len: u32, pos: i64): i32 {
  const r = sys_enter();
  if (r != 0) return r;
  const f = fget(fd);
  if (f == 0) return -EBADF;
  if ((load<u32>(f, F_FLAGS) & O_ACCMODE) == O_WRONLY) return -EBADF;
  const ino = load<u64>(f, F_INO);
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  // a pipe has no pread (ESPIPE before rw_verify_area, as ksys_pread64 checks FMODE_PREAD)
  if (S_ISSPECIAL(load<u32>(rec, I_MODE))) return pos >= 0 ? -ESPIPE : fifo_rw(ino, false);
  const usePos = pos >= 0;
  const at = usePos ? pos : load<i64>(f, F_POS);
  // rw_verify_area comes before the file's read method (a directory's says EISDIR)
  if (at > I64_MAX - <i64>len) return -EINVAL; // pos + len would overflow loff_t
  if (S_ISDIR(load<u32>(rec, I_MODE))) return -EISDIR;
  const n = file_read(ino, <u64>at, buf, len);
  if (n > 0 && !usePos) store<i64>(f, at + n, F_POS);
  if (n > 0) fsnotify_file(<u64>load<u32>(f, F_PARENT), ino, IN_ACCESS, f + F_NAME);
  return n;
}

/**
 * write(2) / pwrite(2) (`pos` >= 0; O_APPEND writes at the end either way, as Linux does).
 * Bytes written or -errno (EBADF, EISDIR, ENOSPC, EFBIG, EROFS, EIO).
 */
export function do_write(fd: i32, buf: usize, len: u32, pos: i64): i32 {
  const f = fget(fd);
  if (f == 0) return -EBADF;
  if ((load<u32>(f, F_FLAGS) & O_ACCMODE) == O_RDONLY) return -EBADF;
  const ino = load<u64>(f, F_INO);
  if (is_fifo(ino)) return pos >= 0 ? -ESPIPE : fifo_rw(ino, true);
  const r = sys_enter_write();
  if (r != 0) return r;
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  const usePos = pos >= 0;
  let at = usePos ? pos : load<i64>(f, F_POS);
  if (load<u32>(f, F_FLAGS) & O_APPEND) at = <i64>load<u64>(rec, I_SIZE);
  if (at > I64_MAX - <i64>len) return -EINVAL; // pos + len would overflow loff_t (rw_verify_area)
  if (len == 0) return 0;
  const pr = file_remove_privs(ino);
  if (pr != 0) return pr;
  let n = file_write(ino, <u64>at, buf, len);
  if (file_tx_broken) return fs_error(n < 0 ? n : -ENOSPC);
  if (n == -ENOSPC && commit_to_free_space()) {
    n = file_write(ino, <u64>at, buf, len);
    if (file_tx_broken) return fs_error(n < 0 ? n : -ENOSPC);
  }
  // the reservation ran out in the middle of the call: what commits give back may cover the
  // rest, so commit and go on (ext4_should_retry_alloc) rather than return a short count that
  // a caller ignoring it (writeSync in a loop) turns into shifted data
  for (let round = 0; n > 0 && <u32>n < len && file_errno == -ENOSPC && round < WRITE_RETRIES_MAX; round++) {
    if (!commit_to_free_space()) break;
    const m = file_write(ino, <u64>at + <u64>n, buf + <usize>n, len - <u32>n);
    if (file_tx_broken) return fs_error(m < 0 ? m : -ENOSPC);
    if (m <= 0) break;
    n += m;
  }
  // a failed data write that changed no metadata is the caller's error alone (as O_DIRECT's)
  if (n < 0) return file_data_eio ? n : fail(n);
  if (!usePos) store<i64>(f, at + n, F_POS);
  if (n > 0) fsnotify_file(<u64>load<u32>(f, F_PARENT), ino, IN_MODIFY, f + F_NAME);
  return n;
}

/** Whether `ino` is a FIFO (only FIFOs among special inodes can be open). */
function is_fifo(ino: u64): bool {
  const rec = inode_get(ino);
  return rec != 0 && (load<u32>(rec, I_MODE) & S_IFMT) == S_IFIFO;
}

/** lseek(2). The new offset or -errno (EBADF, EINVAL for a bad whence or negative result, ESPIPE on a FIFO). */
export function do_lseek(fd: i32, off: i64, whence: u32): i64 {
  const f = fget(fd);
  if (f == 0) return -EBADF;
  if (is_fifo(load<u64>(f, F_INO))) return -ESPIPE;
  if (whence == SEEK_DATA || whence == SEEK_HOLE) return lseek_hole_data(f, off, whence == SEEK_HOLE);
  let base: i64 = 0;
  if (whence == SEEK_CUR) base = load<i64>(f, F_POS);
  else if (whence == SEEK_END) {
    const rec = inode_get(load<u64>(f, F_INO));
    if (rec == 0) return inode_errno;
    base = <i64>load<u64>(rec, I_SIZE);
  } else if (whence != SEEK_SET) return -EINVAL;
  const p = base + off;
  if (p < 0) return -EINVAL;
  store<i64>(f, p, F_POS);
  return p;
}

/**
 * lseek SEEK_DATA / SEEK_HOLE (Linux 3.1): the next data (hole) offset at or after `off`,
 * set as the file position. -ENXIO when `off` is negative or at or past EOF, or (SEEK_DATA)
 * no data follows; -EINVAL on a directory (as tmpfs and dcache_dir_lseek answer).
 */
function lseek_hole_data(f: usize, off: i64, hole: bool): i64 {
  const ino = load<u64>(f, F_INO);
  const rec = inode_get(ino);
  if (rec == 0) return <i64>fail(inode_errno);
  if (!S_ISREG(load<u32>(rec, I_MODE))) return S_ISDIR(load<u32>(rec, I_MODE)) ? -EINVAL : -ENXIO;
  if (off < 0) return -ENXIO;
  const p = file_seek_hole_data(ino, <u64>off, hole);
  if (p < 0) return p == -ENXIO ? p : <i64>fail(<i32>p);
  store<i64>(f, p, F_POS);
  return p;
}

// ---- fallocate -------------------------------------------------------------------------------

/** FALLOC_FL_* mode bits Linux knows besides KEEP_SIZE (FALLOC_FL_MODE_MASK, Linux 6.11+). */
const FALLOC_FL_COLLAPSE_RANGE: u32 = 0x08;
const FALLOC_FL_INSERT_RANGE: u32 = 0x20;
const FALLOC_FL_UNSHARE_RANGE: u32 = 0x40;
const FALLOC_FL_WRITE_ZEROES: u32 = 0x80;
const FALLOC_FL_MODE_MASK: u32 = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE |
  FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES;
/** Modes Linux accepts that this filesystem does not implement (as tmpfs: EOPNOTSUPP). */
const FALLOC_UNIMPLEMENTED: u32 = FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE |
  FALLOC_FL_WRITE_ZEROES;

/**
 * The checks of Linux's vfs_fallocate (6.11+), in its order, for `mode` and the byte range
 * [off, off + len) on open file `f`: 0 or -errno. EINVAL (off < 0, len <= 0); EOPNOTSUPP
 * (an unknown bit, two modes at once, PUNCH_HOLE without KEEP_SIZE, COLLAPSE/INSERT/
 * WRITE_ZEROES with KEEP_SIZE); EBADF (not open for writing); ESPIPE (FIFO); EISDIR; ENODEV
 * (not a regular file); EFBIG (past the largest file); then the filesystem's EOPNOTSUPP for
 * the modes it lacks (collapse, insert, unshare, write zeroes), as tmpfs answers.
 */
function falloc_check(f: usize, mode: u32, off: i64, len: i64): i32 {
  if (off < 0 || len <= 0) return -EINVAL;
  if (mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE)) return -EOPNOTSUPP;
  const keep = (mode & FALLOC_FL_KEEP_SIZE) != 0;
  const m = mode & FALLOC_FL_MODE_MASK;
  if (m == FALLOC_FL_PUNCH_HOLE) {
    if (!keep) return -EOPNOTSUPP;
  } else if (m == FALLOC_FL_COLLAPSE_RANGE || m == FALLOC_FL_INSERT_RANGE || m == FALLOC_FL_WRITE_ZEROES) {
    if (keep) return -EOPNOTSUPP;
  } else if (m != 0 && m != FALLOC_FL_UNSHARE_RANGE && m != FALLOC_FL_ZERO_RANGE) return -EOPNOTSUPP;
  if ((load<u32>(f, F_FLAGS) & O_ACCMODE) == O_RDONLY) return -EBADF;
  const rec = inode_get(load<u64>(f, F_INO));
  if (rec == 0) return fail(inode_errno);
  const t = load<u32>(rec, I_MODE);
  if ((t & S_IFMT) == S_IFIFO) return -ESPIPE;
  if (S_ISDIR(t)) return -EISDIR;
  if (!S_ISREG(t)) return -ENODEV;
  if (off > I64_MAX - len || <u64>(off + len) > FILE_SIZE_MAX) return -EFBIG;
  if (mode & FALLOC_UNIMPLEMENTED) return -EOPNOTSUPP;
  return 0;
}

/**
 * fallocate(2) on `fd` for bytes [off, off + len): mode 0 allocates (UNWRITTEN extents that
 * read as zeros) and grows the size, FALLOC_FL_KEEP_SIZE allocates only, PUNCH_HOLE|KEEP_SIZE
 * frees the whole blocks and zeroes the partial ones, ZERO_RANGE (with or without KEEP_SIZE)
 * makes the range read as zeros with its blocks allocated. mtime and ctime change, and
 * set-user-ID goes as on a write. The whole blocks go in chunks of FALLOC_CHUNK with the
 * syscall-boundary housekeeping (a commit when the log fills) between them.
 * 0 or -errno: EBADF (bad fd, not open for writing), EINVAL, EOPNOTSUPP (other modes, punch
 * without KEEP_SIZE: falloc_check), ESPIPE (FIFO), EISDIR, ENODEV, EFBIG (past the largest file), EROFS,
 * ENOSPC (checked for the whole call first: nothing changed), EIO.
 */
export function do_fallocate(fd: i32, mode: u32, off: i64, len: i64): i32 {
  const f = fget(fd);
  if (f == 0) return -EBADF;
  let r = falloc_check(f, mode, off, len);
  if (r != 0) return r;
  r = sys_enter_write();
  if (r != 0) return r;
  const ino = load<u64>(f, F_INO);
  const start = <u64>off, end = <u64>(off + len);
  r = falloc_prepare(ino, mode, start, end - start);
  if (r == -ENOSPC && commit_to_free_space()) r = falloc_prepare(ino, mode, start, end - start);
  if (r < 0) return fail(r);
  if (r == 0) {
    const ifrom = falloc_inner_from(start), ito = falloc_inner_to(end);
    const to = falloc_outer_to(end);
    for (let b = falloc_outer_from(start); b < to; b += FALLOC_CHUNK) {
      r = falloc_blocks(ino, mode, b, min<u64>(to, b + FALLOC_CHUNK), ifrom, ito);
      // falloc_prepare made sure of the space; an ENOSPC now may come from a tree split
      // between a record's delete and its reinsert (zero range, punch): fatal, as for a
      // namespace change that runs out of blocks halfway
      if (r != 0) return fail_ns(r);
      if (b + FALLOC_CHUNK < to) {
        r = sys_enter_write(); // a commit when the log or the deferred frees fill up
        if (r != 0) return r;
      }
    }
  }
  r = file_remove_privs(ino);
  if (r == 0) r = falloc_finish(ino, mode, end);
  if (r != 0) return fail(r);
  fsnotify_file(<u64>load<u32>(f, F_PARENT), ino, IN_MODIFY, f + F_NAME);
  return 0;
}

// ---- truncate / sync -------------------------------------------------------------------------

/**
 * Truncates regular file `ino` to `len` bytes; `byPath` (truncate(2)) also needs write
 * permission, as an open for writing did for ftruncate (Linux vfs_truncate). Set-user-ID and
 * set-group-ID go as a write clears them. 0 or -errno (EINVAL, EISDIR, EACCES, EFBIG, ENOSPC).
 */
function truncate_ino(ino: u64, len: i64, byPath: bool): i32 {
  if (len < 0) return -EINVAL;
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  const m = load<u32>(rec, I_MODE);
  if (S_ISDIR(m)) return -EISDIR;
  if (!S_ISREG(m)) return -EINVAL;
  if (byPath) {
    const pr = generic_permission(rec, MAY_WRITE);
    if (pr != 0) return pr;
  }
  if (<u64>len > FILE_SIZE_MAX) return -EFBIG;
  const oldSize = load<u64>(rec, I_SIZE);
  let r = file_remove_privs(ino);
  if (r != 0) return r;
  r = file_truncate(ino, <u64>len);
  if (r != 0) return fail(r);
  // ftruncate sets mtime and ctime always (ATTR_MTIME | ATTR_CTIME), truncate(2) when the
  // size changes; file_truncate's inline path leaves the times alone
  if (!byPath || oldSize != <u64>len) r = inode_touch(ino, T_MTIME | T_CTIME);
  return r != 0 ? fail(r) : 0;
}

/** truncate(2). 0 or -errno (ENOENT, EISDIR, EINVAL, EACCES, EFBIG, EROFS, ENOSPC). */
export function do_truncate(path: usize, plen: u32, len: i64): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  r = namei(path, plen, LOOKUP_FOLLOW);
  if (r != 0) return r;
  r = truncate_ino(nd_ino, len, true);
  if (r == 0) fsnotify_dentry(nd_parent, nd_name, nd_namelen, nd_ino, false, IN_MODIFY);
  return r;
}

/** ftruncate(2). 0 or -errno (EBADF, EINVAL when not open for writing, EISDIR, EFBIG). */
export function do_ftruncate(fd: i32, len: i64): i32 {
  const f = fget(fd);
  if (f == 0) return -EBADF;
  if ((load<u32>(f, F_FLAGS) & O_ACCMODE) == O_RDONLY) return -EINVAL;
  let r = sys_enter_write();
  if (r != 0) return r;
  r = truncate_ino(load<u64>(f, F_INO), len, false);
  if (r == 0) fsnotify_file(<u64>load<u32>(f, F_PARENT), load<u64>(f, F_INO), IN_MODIFY, f + F_NAME);
  return r;
}

/** fsync(2)/fdatasync(2): commits the running transaction with all ordered data. */
export function do_fsync(fd: i32): i32 {
  if (fget(fd) == 0) return -EBADF;
  const r = sys_enter();
  if (r != 0) return r;
  return fs_commit();
}

/** sync(2): everything durable and checkpointed. */
export function do_sync(): i32 {
  const r = sys_enter();
  if (r != 0) return r;
  return fs_sync();
}

/** The commit timer: a syscall boundary, then a commit when the running transaction aged. */
export function do_commit_timer(): i32 {
  if (!fs_mounted) return 0;
  const r = sys_enter();
  if (r != 0) return r;
  return fs_commit_aged();
}

// ---- stat ------------------------------------------------------------------------------------

// struct stat as 22 f64 (docs/abi.md), the shape of Node's statValues array, so the host
// reads one Float64Array:
//
//    0 dev | 8 ino | 16 mode | 24 nlink | 32 uid | 40 gid | 48 rdev | 56 size | 64 blksize
//   72 blocks | 80..104 {a,m,c,birth}time_ms | 112..168 {a,m,c,birth}time (sec, nsec)
const ST_DEV: usize = 0;
const ST_INO: usize = 8;
const ST_MODE: usize = 16;
const ST_NLINK: usize = 24;
const ST_UID: usize = 32;
const ST_GID: usize = 40;
const ST_RDEV: usize = 48;
const ST_SIZE: usize = 56;
const ST_BLKSIZE: usize = 64;
const ST_BLOCKS: usize = 72;
const ST_ATIME_MS: usize = 80;
const ST_ATIME_SEC: usize = 112;
/** st_dev of every HelixFS inode ("HX"). */
const STAT_DEV: u32 = 0x4858;

/** Fills struct stat (docs/abi.md) at `out` from inode `ino` (record `known` if not 0). */
function fill_stat(ino: u64, out: usize, known: usize = 0): i32 {
  const rec = known != 0 ? known : inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  const m = load<u32>(rec, I_MODE);
  store<f64>(out, <f64>STAT_DEV, ST_DEV);
  store<f64>(out, <f64>ino, ST_INO);
  store<f64>(out, <f64>m, ST_MODE);
  store<f64>(out, <f64>load<u32>(rec, I_NLINK), ST_NLINK);
  store<f64>(out, <f64>load<u32>(rec, I_UID), ST_UID);
  store<f64>(out, <f64>load<u32>(rec, I_GID), ST_GID);
  const t = m & S_IFMT;
  store<f64>(out, t == S_IFCHR || t == S_IFBLK ? <f64>load<u64>(rec, I_RDEV) : 0, ST_RDEV);
  store<f64>(out, S_ISDIR(m) ? 4096 : <f64>load<u64>(rec, I_SIZE), ST_SIZE);
  store<f64>(out, 4096, ST_BLKSIZE);
  store<f64>(out, S_ISDIR(m) ? 8 : <f64>(load<u64>(rec, I_BLOCKS) * 8), ST_BLOCKS);
  stat_time(out, load<i64>(rec, I_ATIME), 0);
  stat_time(out, load<i64>(rec, I_MTIME), 1);
  stat_time(out, load<i64>(rec, I_CTIME), 2);
  stat_time(out, load<i64>(rec, I_CRTIME), 3);
  return 0;
}

/** Stores time `t` (ns) of a stat record as ms (Node's st_*timeMs), seconds and nanoseconds. */
function stat_time(out: usize, ns: i64, t: usize): void {
  let sec = ns / 1_000_000_000;
  let nsec = ns % 1_000_000_000;
  if (nsec < 0) { nsec += 1_000_000_000; sec -= 1; }
  store<f64>(out + (t << 3), <f64>sec * 1e3 + <f64>nsec / 1e6, ST_ATIME_MS);
  store<f64>(out + (t << 4), <f64>sec, ST_ATIME_SEC);
  store<f64>(out + (t << 4), <f64>nsec, ST_ATIME_SEC + 8);
}

/** stat(2) / lstat(2) (`follow` false). 0 or -errno (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG). */
export function do_stat(path: usize, len: u32, out: usize, follow: bool): i32 {
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, len, follow ? LOOKUP_FOLLOW : 0);
  if (r != 0) return r;
  return fill_stat(nd_ino, out, nd_rec); // namei's last tree access was this inode
}

/** fstat(2). 0 or -EBADF. */
export function do_fstat(fd: i32, out: usize): i32 {
  const r = sys_enter();
  if (r != 0) return r;
  const f = fget(fd);
  if (f == 0) return -EBADF;
  return fill_stat(load<u64>(f, F_INO), out);
}

// ---- namespace -------------------------------------------------------------------------------

/** mkdir(2). 0 or -errno (EEXIST, ENOENT, ENOTDIR, EACCES, ENOSPC, EROFS, EMLINK). */
export function do_mkdir(path: usize, len: u32, mode: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  r = namei(path, len, LOOKUP_PARENT);
  if (r != 0) return r;
  if (nd_toolong) return -ENAMETOOLONG;
  if (nd_ino != 0) return -EEXIST;
  const parent = nd_parent;
  r = may_create(parent);
  if (r != 0) return r;
  const prec = inode_get(parent);
  if (prec == 0) return fail(inode_errno);
  if (load<u32>(prec, I_NLINK) >= LINK_MAX) return -EMLINK;
  // mkdir keeps the permission and sticky bits only (Linux vfs_mkdir); set-group-ID comes
  // from a set-group-ID parent
  const ino = create_node(S_IFDIR | (mode & 0o1777), parent, nd_name, nd_namelen);
  if (ino == 0) return create_err;
  const n = inode_link_delta(parent, 1);
  if (n < 0) return fail(n);
  fsnotify_create(parent, nd_name, nd_namelen, true);
  return 0;
}

/**
 * rmdir(2). 0 or -errno (ENOENT, EACCES, EPERM (sticky), ENOTDIR, ENOTEMPTY, EINVAL for ".",
 * EBUSY for "/").
 */
export function do_rmdir(path: usize, len: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  // the final name is never followed, even with a trailing slash (Linux do_rmdir)
  r = namei(path, len, LOOKUP_PARENT);
  if (r != 0) return r;
  if (nd_namelen == 1 && load<u8>(nd_name) == 46) return -EINVAL;
  if (nd_namelen == 2 && load<u8>(nd_name) == 46 && load<u8>(nd_name, 1) == 46) return -ENOTEMPTY;
  if (nd_namelen == 0 || nd_ino == ROOT_INO) return -EBUSY;
  if (nd_toolong) return -ENAMETOOLONG;
  if (nd_ino == 0) return -ENOENT;
  const ino = nd_ino;
  const parent = nd_parent;
  r = may_delete(parent, ino, true);
  if (r != 0) return r;
  if (!dir_is_empty(ino)) return bt_errno != 0 ? fail(bt_errno) : -ENOTEMPTY;
  r = dir_remove(parent, nd_name, nd_namelen);
  if (r != 0) return fail(r);
  r = drop_link(ino, true);
  if (r != 0) return fail(r);
  const freed = link_freed;
  namei_dir_gone(ino);
  const n = inode_link_delta(parent, -1);
  if (n < 0) return fail(n);
  r = inode_touch(parent, T_MTIME | T_CTIME);
  if (r != 0) return fail(r);
  fsnotify_delete(parent, nd_name, nd_namelen, ino, true, freed);
  return 0;
}

/**
 * chdir(2): makes the directory `path` names (symlinks followed) the working directory that
 * relative paths start at (fs/namei.ts cwd_ino). 0 or -errno: ENOENT, ENOTDIR (not a
 * directory, or a non-directory in the path), EACCES (no search permission on a directory of
 * the path or on the directory itself: Linux inode_permission(MAY_EXEC | MAY_CHDIR)), ELOOP,
 * ENAMETOOLONG, EINVAL (a NUL byte). Changes nothing on disk; a failed chdir keeps the old one.
 */
export function do_chdir(path: usize, len: u32): i32 {
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, len, LOOKUP_FOLLOW);
  if (r != 0) return r;
  if (!S_ISDIR(nd_mode)) return -ENOTDIR;
  const rec = inode_get(nd_ino);
  if (rec == 0) return fail(inode_errno);
  r = generic_permission(rec, MAY_EXEC);
  if (r != 0) return r;
  namei_set_cwd(nd_ino);
  return 0;
}

/** unlink(2). 0 or -errno (ENOENT, EACCES, EPERM (sticky), EISDIR, ENOTDIR, EROFS). */
export function do_unlink(path: usize, len: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  // the final name is never followed; a trailing slash on a non-directory is ENOTDIR
  r = namei(path, len, LOOKUP_PARENT);
  if (r != 0) return r;
  if (nd_toolong) return -ENAMETOOLONG;
  if (nd_ino == 0) return -ENOENT;
  // a trailing slash decides before any permission (Linux do_unlinkat's "slashes")
  if (nd_trailing) return S_ISDIR(nd_mode) ? -EISDIR : -ENOTDIR;
  const ino = nd_ino;
  const parent = nd_parent;
  r = may_delete(parent, ino, false);
  if (r != 0) return r;
  r = dir_remove(parent, nd_name, nd_namelen);
  if (r != 0) return fail(r);
  r = drop_link(ino, false);
  if (r != 0) return fail_ns(r);
  const freed = link_freed;
  r = inode_touch(parent, T_MTIME | T_CTIME);
  if (r != 0) return fail(r);
  fsnotify_delete(parent, nd_name, nd_namelen, ino, false, freed);
  return 0;
}

/**
 * rename(2): atomic within the running transaction. 0 or -errno: ENOENT, EINVAL (into its
 * own subtree), EACCES (no write and search permission on a parent, or no write permission
 * on a directory that moves to another parent), EPERM (sticky parent, rename_permission),
 * ENOTDIR / EISDIR (type mismatch with an existing target), ENOTEMPTY (a
 * non-empty target directory), EBUSY ("/", "." or ".." as either last component), EROFS,
 * ENOSPC, EUCLEAN (a cycle of parent pointers met by the subtree check).
 */
export function do_rename(p1: usize, l1: u32, p2: usize, l2: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  // the source's final name is never followed (Linux do_renameat2)
  r = namei(p1, l1, LOOKUP_PARENT);
  if (r != 0) return r;
  // a last component that is not a name ("/", ".", "..") is EBUSY for either path, once
  // both parents have resolved (do_renameat2: old_type/new_type != LAST_NORM)
  const srcNotName = nd_namelen == 0 || nd_ino == ROOT_INO || is_dots(nd_name, nd_namelen);
  const src = nd_ino;
  const srcMode = nd_mode;
  const srcParent = nd_parent;
  const srcLen = nd_namelen;
  const srcTrailing = nd_trailing;
  const srcTooLong = nd_toolong;
  memory.copy(SAVED_NAME, nd_name, srcLen);
  // Linux resolves both parents before it looks at the source name
  r = namei(p2, l2, LOOKUP_PARENT);
  if (r != 0) return r;
  if (srcNotName || nd_namelen == 0 || nd_ino == ROOT_INO || is_dots(nd_name, nd_namelen)) return -EBUSY;
  // Linux looks the source up, then the target, and only then checks trailing slashes
  if (srcTooLong) return -ENAMETOOLONG;
  if (src == 0) return -ENOENT;
  if (nd_toolong) return -ENAMETOOLONG;
  if (srcTrailing && !S_ISDIR(srcMode)) return -ENOTDIR;
  const dst = nd_ino;
  const dstParent = nd_parent;
  if (nd_trailing && !S_ISDIR(srcMode)) return -ENOTDIR;
  if (S_ISDIR(srcMode)) {
    const up = is_ancestor(src, dstParent);
    if (up != 0) return up > 0 ? -EINVAL : fail(up);
  }
  // a target that is an ancestor of the source is "not empty" (Linux lock_rename trap)
  if (dst != 0 && S_ISDIR(nd_mode)) {
    const up = is_ancestor(dst, srcParent);
    if (up != 0) return up > 0 ? -ENOTEMPTY : fail(up);
  }
  if (dst == src) return 0; // same inode: nothing to do (POSIX)
  const isDir = S_ISDIR(srcMode);
  const dstMode = nd_mode;
  r = rename_permission(src, srcParent, dst, dstParent, isDir);
  if (r != 0) return r;
  if (dst != 0) {
    if (S_ISDIR(dstMode) && !dir_is_empty(dst)) return bt_errno != 0 ? fail(bt_errno) : -ENOTEMPTY;
  }
  if (!alloc_can_grow(GROW_BLOCKS)) return -ENOSPC; // even over a target: the new entry may split a leaf
  if (isDir && srcParent != dstParent && dst == 0) {
    const prec = inode_get(dstParent);
    if (prec == 0) return fail(inode_errno);
    if (load<u32>(prec, I_NLINK) >= LINK_MAX) return -EMLINK;
  }
  // from here on every step changes metadata: errors are fatal (fail)
  const dstName = nd_name;
  const dstLen = nd_namelen;
  let dstFreed = false;
  if (dst != 0) {
    r = dir_remove(dstParent, dstName, dstLen);
    if (r != 0) return fail(r);
    const dstIsDir = S_ISDIR(nd_mode);
    r = drop_link(dst, dstIsDir);
    if (r != 0) return fail_ns(r);
    dstFreed = link_freed;
    if (dstIsDir) {
      namei_dir_gone(dst);
      const n = inode_link_delta(dstParent, -1);
      if (n < 0) return fail(n);
    }
  }
  r = dir_remove(srcParent, SAVED_NAME, srcLen);
  if (r != 0) return fail(r);
  r = dir_add(dstParent, dstName, dstLen, src, dtype_of(srcMode));
  if (r != 0) return fail_ns(r);
  if (isDir && srcParent != dstParent) {
    const rec = inode_get_mut(src);
    if (rec == 0) return fail(inode_errno);
    store<u64>(rec, dstParent, I_PARENT);
    let n = inode_link_delta(srcParent, -1);
    if (n < 0) return fail(n);
    n = inode_link_delta(dstParent, 1);
    if (n < 0) return fail(n);
  }
  r = inode_touch(src, T_CTIME);
  if (r == 0) r = inode_touch(srcParent, T_MTIME | T_CTIME);
  if (r == 0 && dstParent != srcParent) r = inode_touch(dstParent, T_MTIME | T_CTIME);
  if (r != 0) return fail(r);
  fsnotify_move(srcParent, SAVED_NAME, srcLen, dstParent, dstName, dstLen, src, isDir, dst, S_ISDIR(dstMode), dstFreed);
  return 0;
}

/**
 * Linux vfs_rename's permission checks: removing the source entry (may_delete), creating the
 * target name or replacing the target (may_delete, with the type checks: ENOTDIR / EISDIR),
 * and write permission on a directory that changes parent (its ".." changes). 0 or -errno.
 */
function rename_permission(src: u64, srcParent: u64, dst: u64, dstParent: u64, isDir: bool): i32 {
  let r = may_delete(srcParent, src, isDir);
  if (r != 0) return r;
  r = dst == 0 ? may_create(dstParent) : may_delete(dstParent, dst, isDir);
  if (r != 0) return r;
  if (isDir && srcParent != dstParent) return ino_permission(src, MAY_WRITE);
  return 0;
}

@inline function is_dots(p: usize, n: u32): bool {
  return (n == 1 && load<u8>(p) == 46) || (n == 2 && load<u8>(p) == 46 && load<u8>(p, 1) == 46);
}

/**
 * link(2). 0 or -errno (ENOENT, EEXIST, EACCES, EPERM for directories and for another user's
 * file the caller may not read and write (protected_hardlinks), EMLINK, EROFS, ENOSPC).
 */
export function do_link(p1: usize, l1: u32, p2: usize, l2: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  r = namei(p1, l1, 0);
  if (r != 0) return r;
  const src = nd_ino;
  const srcMode = nd_mode;
  // Linux resolves both names before it refuses a directory (vfs_link)
  r = namei(p2, l2, LOOKUP_PARENT);
  if (r != 0) return r;
  if (nd_toolong) return -ENAMETOOLONG;
  if (nd_ino != 0) return -EEXIST;
  if (nd_trailing) return -ENOENT;
  // Linux order: protected_hardlinks (do_linkat), may_create, then a directory (vfs_link)
  let rec = inode_get(src);
  if (rec == 0) return fail(inode_errno);
  r = may_linkat(rec);
  if (r != 0) return r;
  r = may_create(nd_parent);
  if (r != 0) return r;
  if (S_ISDIR(srcMode)) return -EPERM;
  rec = inode_get(src);
  if (rec == 0) return fail(inode_errno);
  if (load<u32>(rec, I_NLINK) >= LINK_MAX) return -EMLINK;
  if (!alloc_can_grow(GROW_BLOCKS)) return -ENOSPC;
  r = dir_add(nd_parent, nd_name, nd_namelen, src, dtype_of(srcMode));
  if (r != 0) return fail_ns(r);
  const n = inode_link_delta(src, 1);
  if (n < 0) return fail(n);
  r = inode_touch(nd_parent, T_MTIME | T_CTIME);
  if (r != 0) return fail(r);
  fsnotify_link(nd_parent, nd_name, nd_namelen, src);
  return 0;
}

/** symlink(2). 0 or -errno (EEXIST, ENOENT for an empty target, EACCES, ENAMETOOLONG, ENOSPC). */
export function do_symlink(target: usize, tlen: u32, path: usize, plen: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  if (tlen == 0) return -ENOENT;
  if (tlen >= 4096) return -ENAMETOOLONG;
  r = namei(path, plen, LOOKUP_PARENT);
  if (r != 0) return r;
  if (nd_toolong) return -ENAMETOOLONG;
  if (nd_ino != 0) return -EEXIST;
  if (nd_trailing) return -ENOENT;
  r = may_create(nd_parent);
  if (r != 0) return r;
  // a target too long to stay inline needs a data block: make sure of it before the name
  // exists, so ENOSPC leaves no empty symlink behind
  if (tlen > INLINE_MAX) {
    const need = GROW_BLOCKS + 1 + alloc_write_meta(1, 0) + META_RESERVE / 2;
    if (!alloc_can_grow(need) && !(commit_to_free_space() && alloc_can_grow(need))) return -ENOSPC;
  }
  const parent = nd_parent;
  const ino = create_node(S_IFLNK | 0o777, parent, nd_name, nd_namelen);
  if (ino == 0) return create_err;
  const n = file_write(ino, 0, target, tlen);
  if (n == <i32>tlen) { fsnotify_create(parent, nd_name, nd_namelen, false); return 0; }
  // the checks above make this unreachable short of a tree error: the half-made symlink
  // cannot be left behind, so the transaction aborts
  return fs_error(n < 0 ? n : -EIO);
}

/** readlink(2). Bytes placed in `buf` (not NUL-terminated) or -errno (EINVAL: not a symlink). */
export function do_readlink(path: usize, len: u32, buf: usize, bufsiz: u32): i32 {
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, len, 0);
  if (r != 0) return r;
  if (!S_ISLNK(nd_mode)) return -EINVAL;
  return file_read(nd_ino, 0, buf, bufsiz);
}

/**
 * getdents64(2): packs struct linux_dirent64 records for `fd` into `buf` (at most `len`
 * bytes) from the descriptor's position (a cookie); "." and ".." come first. Returns the
 * bytes filled (0 at the end) or -errno (EBADF, ENOTDIR, EINVAL when no record fits).
 */
export function do_getdents(fd: i32, buf: usize, len: u32): i32 {
  const r = sys_enter();
  if (r != 0) return r;
  const f = fget(fd);
  if (f == 0) return -EBADF;
  const dir = load<u64>(f, F_INO);
  const rec = inode_get(dir);
  if (rec == 0) return fail(inode_errno);
  if (!S_ISDIR(load<u32>(rec, I_MODE))) return -ENOTDIR;
  const parent = load<u64>(rec, I_PARENT);
  let pos = <u64>load<i64>(f, F_POS);
  let used: u32 = 0;
  for (let guard = 0; guard < 1 << 20; guard++) {
    let ino: u64, type: u8, name: usize, nlen: u32, next: u64;
    if (pos == 0) { ino = dir; type = DT_DIR; name = DOT; nlen = 1; next = 1; }
    else if (pos == 1) { ino = parent; type = DT_DIR; name = DOT; nlen = 2; next = 2; }
    else {
      if (!dir_next(dir, pos < 3 ? 3 : pos)) {
        if (bt_errno != 0) return fail(bt_errno);
        break;
      }
      ino = de_ino; type = de_type; name = de_name; nlen = de_namelen; next = de_key + 1;
    }
    const reclen = (19 + nlen + 1 + 7) & ~7;
    if (used + reclen > len) {
      if (used == 0) return -EINVAL;
      break;
    }
    const d = buf + used;
    store<u64>(d, ino, 0);
    store<i64>(d, <i64>next, 8);
    store<u16>(d, <u16>reclen, 16);
    store<u8>(d, type, 18);
    memory.copy(d + 19, name, nlen);
    memory.fill(d + 19 + nlen, 0, reclen - 19 - nlen);
    used += reclen;
    pos = next;
  }
  store<i64>(f, <i64>pos, F_POS);
  fsnotify_file(<u64>load<u32>(f, F_PARENT), dir, IN_ACCESS, f + F_NAME); // Linux iterate_dir: every call
  return <i32>used;
}
const DOT: usize = memory.data<u8>([46, 46]);

/**
 * scandir(3) in one call (a HelixFS extension doing what libuv's uv_fs_scandir does for
 * Node's readdirSync: read every entry, drop "." and "..", sort with strcmp). Writes the names
 * of directory `path` to `buf`, each NUL-terminated, in byte order; the count goes to `out`
 * (u32) and whether every byte is ASCII to `out + 4` (u32 0/1). Returns the bytes written, or
 * -E2BIG when the names need more than half of `size` bytes (the caller falls back to
 * getdents), or -errno: ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG (the path), EACCES (no read
 * permission on the directory, or no search permission on the way), EIO/EUCLEAN.
 *
 * `buf` while it works (the sorted copy cannot overlap what it is sorted from):
 *
 *   0              size/2                                                  size
 *   | sorted output | names as read, NUL-terminated ->     <- sort entries |
 *
 *   sort entry (16 B): | key u64: first 8 name bytes, big-endian, 0-padded | off u32 | len u32 |
 */
export function do_scandir(path: usize, plen: u32, buf: usize, size: u32, out: usize): i32 {
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, plen, LOOKUP_FOLLOW);
  if (r != 0) return r;
  if (!S_ISDIR(nd_mode)) return -ENOTDIR;
  const dir = nd_ino;
  // what open(O_RDONLY | O_DIRECTORY) would check (may_open): read permission
  r = ino_permission(dir, MAY_READ);
  if (r != 0) return r;
  const names = buf + (<usize>size >> 1);
  let used: usize = 0;
  let ents = buf + <usize>size;
  let n: u32 = 0;
  let ascii: u32 = 1;
  let pos: u64 = 3;
  for (let guard: u32 = 0; guard < SCANDIR_MAX; guard++) {
    if (!dir_next(dir, pos)) {
      if (bt_errno != 0) return fail(bt_errno);
      scandir_notify(dir);
      return scandir_emit(buf, names, ents, n, ascii, out);
    }
    const len = de_namelen;
    if (names + used + len + 1 > ents - SORT_ENT) return -E2BIG;
    memory.copy(names + used, de_name, len);
    store<u8>(names + used + len, 0);
    for (let i: u32 = 0; i < len; i++) ascii &= <u32>(load<u8>(de_name + i) < 0x80);
    ents -= SORT_ENT;
    store<u64>(ents, name_key(de_name, len));
    store<u32>(ents, <u32>used, 8);
    store<u32>(ents, len, 12);
    used += len + 1;
    n++;
    pos = de_key + 1;
  }
  return -E2BIG;
}
/**
 * What the open, getdents calls and close that scandir stands for report to inotify (libuv's
 * uv_fs_scandir on Linux: glibc's readdir calls getdents64 until it returns 0, twice for a
 * directory that fits one buffer): IN_OPEN, IN_ACCESS twice, IN_CLOSE_NOWRITE on the
 * directory. The walk's nd_* still name it.
 */
function scandir_notify(dir: u64): void {
  fsnotify_dentry(nd_parent, nd_name, nd_namelen, dir, true, IN_OPEN);
  fsnotify_dentry(nd_parent, nd_name, nd_namelen, dir, true, IN_ACCESS);
  fsnotify_dentry(nd_parent, nd_name, nd_namelen, dir, true, IN_ACCESS);
  fsnotify_dentry(nd_parent, nd_name, nd_namelen, dir, true, IN_CLOSE_NOWRITE);
}

/** Most entries scandir returns (a loop bound; far above what half a transfer buffer holds). */
const SCANDIR_MAX: u32 = 1 << 20;
const SORT_ENT: usize = 16;

/** The first 8 bytes of a name as a big-endian u64, zero-padded: compares like strcmp's prefix. */
function name_key(name: usize, len: u32): u64 {
  let k: u64 = 0;
  for (let i: u32 = 0; i < 8; i++) k = (k << 8) | (i < len ? <u64>load<u8>(name + i) : 0);
  return k;
}

/** strcmp order of two sort entries over the names at `names`. */
function ent_less(a: usize, b: usize, names: usize): bool {
  const ka = load<u64>(a), kb = load<u64>(b);
  if (ka != kb) return ka < kb;
  const la = load<u32>(a, 12), lb = load<u32>(b, 12);
  if (la > 8 && lb > 8) {
    const c = memory.compare(names + load<u32>(a, 8) + 8, names + load<u32>(b, 8) + 8, min(la, lb) - 8);
    if (c != 0) return c < 0;
  }
  return la < lb; // equal up to the shorter one: the prefix sorts first
}

@inline function ent_swap(a: usize, b: usize): void {
  const k = load<u64>(a), v = load<u64>(a, 8);
  store<u64>(a, load<u64>(b));
  store<u64>(a, load<u64>(b, 8), 8);
  store<u64>(b, k);
  store<u64>(b, v, 8);
}

function sift_down(base: usize, i: u32, n: u32, names: usize): void {
  for (let guard: u32 = 0; guard < 32; guard++) {
    let c: u32 = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && ent_less(base + (<usize>c << 4), base + (<usize>(c + 1) << 4), names)) c++;
    if (!ent_less(base + (<usize>i << 4), base + (<usize>c << 4), names)) return;
    ent_swap(base + (<usize>i << 4), base + (<usize>c << 4));
    i = c;
  }
}

/** Heapsort of `n` sort entries at `base` (in place, O(n log n) worst case, no recursion). */
function sort_entries(base: usize, n: u32, names: usize): void {
  for (let i = n >>> 1; i > 0; i--) sift_down(base, i - 1, n, names);
  for (let end = n; end > 1; end--) {
    ent_swap(base, base + (<usize>(end - 1) << 4));
    sift_down(base, 0, end - 1, names);
  }
}

/** Sorts the collected names and writes them NUL-terminated to `buf`; returns the bytes. */
function scandir_emit(buf: usize, names: usize, ents: usize, n: u32, ascii: u32, out: usize): i32 {
  sort_entries(ents, n, names);
  let o: usize = 0;
  for (let i: u32 = 0; i < n; i++) {
    const e = ents + (<usize>i << 4);
    const len = <usize>load<u32>(e, 12) + 1;
    memory.copy(buf + o, names + load<u32>(e, 8), len);
    o += len;
  }
  store<u32>(out, n);
  store<u32>(out, ascii, 4);
  return <i32>o;
}

// ---- attributes ------------------------------------------------------------------------------

/**
 * Linux chmod_common + setattr_prepare on inode `ino`: only the owner or root (EPERM); a
 * caller other than root outside the file's group cannot set set-group-ID (the bit is dropped
 * silently); the sticky bit is kept on any type (Linux). ctime changes. 0 or -errno.
 */
function chmod_ino(ino: u64, mode: u32): i32 {
  const cur = inode_get(ino); // a refusal dirties nothing
  if (cur == 0) return fail(inode_errno);
  if (!owner_or_capable(cur)) return -EPERM;
  const rec = inode_get_mut(ino);
  if (rec == 0) return fail(inode_errno);
  let m = mode & 0o7777;
  if (!in_group_p(load<u32>(rec, I_GID)) && !capable()) m &= ~S_ISGID;
  store<u32>(rec, (load<u32>(rec, I_MODE) & S_IFMT) | m, I_MODE);
  store<i64>(rec, fs_now(), I_CTIME);
  return 0;
}

/** chmod(2). 0 or -errno (ENOENT, EACCES (search), EPERM (not the owner), EROFS). */
export function do_chmod(path: usize, len: u32, mode: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  r = namei(path, len, LOOKUP_FOLLOW);
  if (r != 0) return r;
  r = chmod_ino(nd_ino, mode);
  if (r == 0) fsnotify_dentry(nd_parent, nd_name, nd_namelen, nd_ino, S_ISDIR(nd_mode), IN_ATTRIB);
  return r;
}

/** fchmod(2). 0 or -errno (EBADF, EPERM, EROFS). */
export function do_fchmod(fd: i32, mode: u32): i32 {
  const f = fget(fd);
  if (f == 0) return -EBADF;
  let r = sys_enter_write();
  if (r != 0) return r;
  r = chmod_ino(load<u64>(f, F_INO), mode);
  if (r == 0) fsnotify_file(<u64>load<u32>(f, F_PARENT), load<u64>(f, F_INO), IN_ATTRIB, f + F_NAME);
  return r;
}

/** The "leave this id" value of chown's uid and gid (-1 as u32). */
const ID_KEEP: u32 = 0xffffffff;

/**
 * Linux chown_common + setattr_prepare on inode `ino` (`uid`/`gid` ID_KEEP leave an id):
 *  - a new owner only by root, or by the owner naming itself (chown_ok: EPERM);
 *  - a new group only by root, or by the owner naming its own group or one of its
 *    supplementary groups (chgrp_ok: EPERM);
 *  - on anything but a directory, set-user-ID goes, and set-group-ID as should_drop_sgid
 *    says, even for root; a caller that may not change the mode (not the owner, not root)
 *    cannot have them cleared and gets EPERM;
 *  - ctime changes on success, even when nothing else does (Linux always sets ATTR_CTIME).
 * 0 or -errno.
 */
function chown_ino(ino: u64, uid: u32, gid: u32): i32 {
  const cur = inode_get(ino); // a refusal dirties nothing
  if (cur == 0) return fail(inode_errno);
  const ouid = load<u32>(cur, I_UID);
  const ogid = load<u32>(cur, I_GID);
  const mode = load<u32>(cur, I_MODE);
  const owner = ouid == cur_uid;
  if (uid != ID_KEEP && !(owner && uid == ouid) && !capable()) return -EPERM;
  if (gid != ID_KEEP && !(owner && (gid == ogid || in_group_p(gid))) && !capable()) return -EPERM;
  let kill: u32 = 0;
  if (!S_ISDIR(mode)) kill = (mode & S_ISUID) | (should_drop_sgid(mode, ogid) ? S_ISGID : 0);
  if (kill != 0 && !owner && !capable()) return -EPERM;
  const rec = inode_get_mut(ino);
  if (rec == 0) return fail(inode_errno);
  if (uid != ID_KEEP) store<u32>(rec, uid, I_UID);
  if (gid != ID_KEEP) store<u32>(rec, gid, I_GID);
  store<u32>(rec, mode & ~kill, I_MODE);
  store<i64>(rec, fs_now(), I_CTIME);
  return 0;
}
/** chown(2) / lchown(2) (`follow` false). 0 or -errno (ENOENT, EACCES, EPERM, EROFS). */
export function do_chown(path: usize, len: u32, uid: u32, gid: u32, follow: bool): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  r = namei(path, len, follow ? LOOKUP_FOLLOW : 0);
  if (r != 0) return r;
  r = chown_ino(nd_ino, uid, gid);
  if (r == 0) fsnotify_dentry(nd_parent, nd_name, nd_namelen, nd_ino, S_ISDIR(nd_mode), IN_ATTRIB);
  return r;
}

/** fchown(2). 0 or -errno (EBADF, EPERM, EROFS). */
export function do_fchown(fd: i32, uid: u32, gid: u32): i32 {
  const f = fget(fd);
  if (f == 0) return -EBADF;
  let r = sys_enter_write();
  if (r != 0) return r;
  r = chown_ino(load<u64>(f, F_INO), uid, gid);
  if (r == 0) fsnotify_file(<u64>load<u32>(f, F_PARENT), load<u64>(f, F_INO), IN_ATTRIB, f + F_NAME);
  return r;
}

/**
 * Linux vfs_utimes + setattr_prepare on inode `ino` (times in ns, UTIME_NOW, UTIME_OMIT;
 * both UTIME_OMIT never gets here): both UTIME_NOW needs the owner, root or write
 * permission (EACCES); any other combination sets an explicit time and needs the owner or
 * root (EPERM). ctime changes. 0 or -errno.
 */
function utimes_ino(ino: u64, atime: i64, mtime: i64): i32 {
  const rec = inode_get(ino);
  if (rec == 0) return fail(inode_errno);
  if (!owner_or_capable(rec)) {
    if (atime != UTIME_NOW || mtime != UTIME_NOW) return -EPERM;
    const r = generic_permission(rec, MAY_WRITE);
    if (r != 0) return r;
  }
  const w = inode_get_mut(ino);
  if (w == 0) return fail(inode_errno);
  const now = fs_now();
  if (atime != UTIME_OMIT) store<i64>(w, atime == UTIME_NOW ? now : atime, I_ATIME);
  if (mtime != UTIME_OMIT) store<i64>(w, mtime == UTIME_NOW ? now : mtime, I_MTIME);
  store<i64>(w, now, I_CTIME);
  return 0;
}

/**
 * utimensat(2) with ns times (UTIME_NOW -1, UTIME_OMIT -2). Both UTIME_OMIT is 0 before the
 * path is looked at (Linux: "nothing to do, we must not even check the path"). 0 or -errno
 * (ENOENT, EACCES, EPERM, EROFS).
 */
export function do_utimensat(path: usize, len: u32, atime: i64, mtime: i64, flags: u32): i32 {
  if (atime == UTIME_OMIT && mtime == UTIME_OMIT) return 0;
  let r = sys_enter_write();
  if (r != 0) return r;
  r = namei(path, len, (flags & AT_SYMLINK_NOFOLLOW) != 0 ? 0 : LOOKUP_FOLLOW);
  if (r != 0) return r;
  r = utimes_ino(nd_ino, atime, mtime);
  if (r == 0) fsnotify_dentry(nd_parent, nd_name, nd_namelen, nd_ino, S_ISDIR(nd_mode), utimes_event(atime, mtime));
  return r;
}

/** futimens(2): utimensat on a descriptor. 0 or -errno (EBADF, EACCES, EPERM, EROFS). */
export function do_futimens(fd: i32, atime: i64, mtime: i64): i32 {
  if (atime == UTIME_OMIT && mtime == UTIME_OMIT) return 0;
  const f = fget(fd);
  if (f == 0) return -EBADF;
  let r = sys_enter_write();
  if (r != 0) return r;
  r = utimes_ino(load<u64>(f, F_INO), atime, mtime);
  if (r == 0) fsnotify_file(<u64>load<u32>(f, F_PARENT), load<u64>(f, F_INO), utimes_event(atime, mtime), f + F_NAME);
  return r;
}

/**
 * The inotify event of a time change (Linux fsnotify_change): both times IN_ATTRIB, the access
 * time alone IN_ACCESS, the modification time alone IN_MODIFY.
 */
function utimes_event(atime: i64, mtime: i64): u32 {
  if (atime != UTIME_OMIT && mtime != UTIME_OMIT) return IN_ATTRIB;
  return atime != UTIME_OMIT ? IN_ACCESS : IN_MODIFY;
}

/** access(2) mode bits: F_OK 0, X_OK 1, W_OK 2, R_OK 4 (the same bits as MAY_*). */
const ACCESS_MASK: u32 = 7;

/**
 * access(2) / faccessat(2) following symlinks: whether the caller may read, write or execute
 * (search) `path` (the cred's ids are both real and effective). 0 or -errno: EINVAL (other
 * mode bits), ENOENT/ENOTDIR/ELOOP/ENAMETOOLONG/EACCES from the walk, EROFS (W_OK on a
 * read-only fs), EACCES.
 */
export function do_access(path: usize, len: u32, mode: u32): i32 {
  if ((mode & ~ACCESS_MASK) != 0) return -EINVAL;
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, len, LOOKUP_FOLLOW);
  if (r != 0) return r;
  if (mode == 0) return 0;
  if ((mode & MAY_WRITE) != 0 && (fs_readonly || fs_errored)) return -EROFS;
  const rec = inode_get(nd_ino);
  if (rec == 0) return fail(inode_errno);
  return generic_permission(rec, mode);
}

/** statfs(2). 0 or -errno. */
export function do_statfs(path: usize, len: u32, out: usize): i32 {
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, len, LOOKUP_FOLLOW);
  if (r != 0) return r;
  return fs_statfs(out);
}

// ---- mknod -----------------------------------------------------------------------------------

/**
 * mknod(2): a FIFO, character or block device, socket (a special inode: no data, an rdev for
 * CHR/BLK) or, for type 0 or S_IFREG, an empty regular file. `mode` is type | permission
 * bits; `rdev` the device number stored for CHR/BLK as given (Linux dev_t; ignored otherwise,
 * as Linux passes 0 for FIFOs and sockets). The inode is made by create_node like every other
 * create, so it gets that path's ownership. 0 or -errno, in Linux's order: EINVAL (a bad
 * type), EPERM (S_IFDIR), ENOENT / ENOTDIR / ELOOP / EACCES (the walk), ENAMETOOLONG, EEXIST,
 * ENOENT (a trailing slash), EROFS, EACCES (no write and search permission on the parent),
 * EPERM (CHR/BLK without capable()), ENOSPC.
 */
export function do_mknod(path: usize, len: u32, mode: u32, rdev: u64): i32 {
  const type = mode & S_IFMT;
  if (type == S_IFDIR) return -EPERM; // may_mknod
  if (type != 0 && type != S_IFREG && !S_ISSPECIAL(type)) return -EINVAL;
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, len, LOOKUP_PARENT);
  if (r != 0) return r;
  if (nd_toolong) return -ENAMETOOLONG;
  if (nd_ino != 0 || nd_namelen == 0) return -EEXIST;
  if (nd_trailing) return -ENOENT;
  if (fs_readonly || fs_errored) return -EROFS;
  const parent = nd_parent;
  const prec = inode_get(parent);
  if (prec == 0) return fail(inode_errno);
  r = generic_permission(prec, MAY_WRITE | MAY_EXEC);
  if (r != 0) return r;
  if ((type == S_IFCHR || type == S_IFBLK) && !capable()) return -EPERM;
  const m = (type == 0 ? S_IFREG : type) | (mode & 0o7777);
  const ino = create_node(m, parent, nd_name, nd_namelen);
  if (ino == 0) return create_err;
  if (S_ISSPECIAL(m)) {
    const rec = inode_get_mut(ino);
    if (rec == 0) return fail(inode_errno);
    store<u64>(rec, type == S_IFCHR || type == S_IFBLK ? rdev : 0, I_RDEV);
    r = sb_feature_enable(SB_INCOMPAT, INCOMPAT_SPECIAL);
    if (r != 0) return fail(r);
  }
  fsnotify_create(parent, nd_name, nd_namelen, false);
  return 0;
}

// ---- extended attributes ---------------------------------------------------------------------
//
// The *xattr calls take a NUL-terminated name (as Linux's) and `at_flags`: AT_SYMLINK_NOFOLLOW
// makes them the l*xattr calls (the final symlink itself). fs/xattr.ts has the storage, the
// limits and the permission rules.

/** Bytes of linear memory (a bound for pointers the host hands in). */
function mem_end(): u64 { return (<u64>memory.size()) << 16; }

/**
 * Length of the NUL-terminated attribute name at `name` (Linux copies it into a buffer of
 * XATTR_NAME_MAX + 1 bytes): 1..XATTR_NAME_MAX, or -ERANGE (empty or longer), -EFAULT.
 */
function xattr_name_len(name: usize): i32 {
  const end = mem_end();
  for (let i: u32 = 0; i <= XATTR_NAME_MAX; i++) {
    if (<u64>name + i >= end) return -EFAULT;
    if (load<u8>(name + i) == 0) return i == 0 ? -ERANGE : <i32>i;
  }
  return -ERANGE;
}

/** Whether [p, p + n) lies inside linear memory. */
@inline function in_memory(p: usize, n: u32): bool { return <u64>p + <u64>n <= mem_end(); }

/**
 * The start the xattr calls share: the walk to `path` (AT_SYMLINK_NOFOLLOW: the final symlink
 * itself), EROFS for a change (`mask` MAY_WRITE), the namespace's permission for `mask`
 * (xattr_permission), then the parsed name in xn_*. 0 with the inode in nd_ino, or -errno.
 */
function xattr_begin(path: usize, plen: u32, at_flags: u32, name: usize, nl: u32, mask: u32): i32 {
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, plen, (at_flags & AT_SYMLINK_NOFOLLOW) != 0 ? 0 : LOOKUP_FOLLOW);
  if (r != 0) return r;
  if (mask == MAY_WRITE && (fs_readonly || fs_errored)) return -EROFS;
  r = xattr_permission(nd_rec, xattr_name_ns(name, nl), mask);
  if (r != 0) return r;
  return xattr_name(name, nl);
}

/**
 * setxattr(2) / lsetxattr(2) (`at_flags` AT_SYMLINK_NOFOLLOW): sets attribute `name` of
 * `path` to `size` bytes at `value`; `flags` XATTR_CREATE / XATTR_REPLACE. Sets ctime.
 * 0 or -errno in Linux's order: EINVAL (unknown flags), ERANGE (name empty or longer than
 * 255 bytes), E2BIG (size above 65536), the walk's errors, EROFS, EPERM / EACCES
 * (xattr_permission), EOPNOTSUPP (a namespace other than user., trusted., security.),
 * EINVAL (nothing after the prefix), EEXIST, ENODATA, ENOSPC (the value does not fit one
 * tree item, the names would pass 64 KiB, or the disk is full).
 */
export function do_setxattr(path: usize, plen: u32, name: usize, value: usize, size: u32, flags: u32, at_flags: u32): i32 {
  if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) != 0 || (at_flags & ~AT_SYMLINK_NOFOLLOW) != 0) return -EINVAL;
  const nl = xattr_name_len(name);
  if (nl < 0) return nl;
  if (size > XATTR_SIZE_MAX) return -E2BIG;
  if (!in_memory(value, size)) return -EFAULT;
  let r = xattr_begin(path, plen, at_flags, name, <u32>nl, MAY_WRITE);
  if (r != 0) return r;
  const ino = nd_ino;
  if (!alloc_can_grow(GROW_BLOCKS) && !(commit_to_free_space() && alloc_can_grow(GROW_BLOCKS))) return -ENOSPC;
  r = xattr_set(ino, xn_ns, xn_name, xn_len, value, size, flags);
  if (r != 0) return xattr_tx_broken ? fail_ns(r) : fail(r);
  r = inode_touch(ino, T_CTIME);
  if (r != 0) return fail(r);
  fsnotify_dentry(nd_parent, nd_name, nd_namelen, ino, S_ISDIR(nd_mode), IN_ATTRIB); // Linux fsnotify_xattr
  return 0;
}

/**
 * getxattr(2) / lgetxattr(2): copies the value of `name` to `buf` (`size` bytes; 0 asks for
 * the length). The value's length, or -errno: EINVAL (flags), ERANGE (bad name, or `size`
 * too small), the walk's errors, ENODATA (absent; user.* of a special file or symlink;
 * trusted.* without capable()), EACCES (no read permission, user.*), EOPNOTSUPP.
 */
export function do_getxattr(path: usize, plen: u32, name: usize, buf: usize, size: u32, at_flags: u32): i32 {
  if ((at_flags & ~AT_SYMLINK_NOFOLLOW) != 0) return -EINVAL;
  const nl = xattr_name_len(name);
  if (nl < 0) return nl;
  const sz = min(size, XATTR_SIZE_MAX);
  if (!in_memory(buf, sz)) return -EFAULT;
  let r = xattr_begin(path, plen, at_flags, name, <u32>nl, MAY_READ);
  if (r != 0) return r;
  r = xattr_get(nd_ino, xn_ns, xn_name, xn_len, buf, sz);
  return r < 0 ? fail(r) : r;
}

/**
 * listxattr(2) / llistxattr(2): the full names of `path`'s attributes, each NUL-terminated,
 * into `buf` (`size` bytes; 0 asks for the length); trusted.* only for capable() callers.
 * Bytes, or -errno: EINVAL (flags), ERANGE (`size` too small), the walk's errors.
 */
export function do_listxattr(path: usize, plen: u32, buf: usize, size: u32, at_flags: u32): i32 {
  if ((at_flags & ~AT_SYMLINK_NOFOLLOW) != 0) return -EINVAL;
  const sz = min(size, XATTR_LIST_MAX);
  if (!in_memory(buf, sz)) return -EFAULT;
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, plen, (at_flags & AT_SYMLINK_NOFOLLOW) != 0 ? 0 : LOOKUP_FOLLOW);
  if (r != 0) return r;
  r = xattr_list(nd_ino, buf, sz, capable());
  return r < 0 ? fail(r) : r;
}

/**
 * removexattr(2) / lremovexattr(2). Sets ctime. 0 or -errno: EINVAL (flags), ERANGE (bad
 * name), the walk's errors, EROFS, EPERM / EACCES, EOPNOTSUPP, ENODATA (absent).
 */
export function do_removexattr(path: usize, plen: u32, name: usize, at_flags: u32): i32 {
  if ((at_flags & ~AT_SYMLINK_NOFOLLOW) != 0) return -EINVAL;
  const nl = xattr_name_len(name);
  if (nl < 0) return nl;
  let r = xattr_begin(path, plen, at_flags, name, <u32>nl, MAY_WRITE);
  if (r != 0) return r;
  const ino = nd_ino;
  r = xattr_remove(ino, xn_ns, xn_name, xn_len);
  if (r != 0) return fail(r);
  r = inode_touch(ino, T_CTIME);
  if (r != 0) return fail(r);
  fsnotify_dentry(nd_parent, nd_name, nd_namelen, ino, S_ISDIR(nd_mode), IN_ATTRIB);
  return 0;
}

// ---- inotify ---------------------------------------------------------------------------------

/**
 * inotify_add_watch(2) on the kernel's one inotify instance (fs/fsnotify.ts): watches `path`
 * (its final symlink followed unless IN_DONT_FOLLOW) for the events of `mask`. The watch
 * descriptor (the same for the same inode), or -errno in Linux's order: EINVAL (IN_MASK_ADD
 * with IN_MASK_CREATE, or no inotify bit), the walk's ENOENT / ENOTDIR / ELOOP / EACCES /
 * ENAMETOOLONG, ENOTDIR (IN_ONLYDIR on a non-directory), EACCES (no read permission on the
 * inode), EEXIST (IN_MASK_CREATE on a watched inode), ENOSPC (fsnotify's WATCH_MAX).
 */
export function do_inotify_add_watch(path: usize, plen: u32, mask: u32): i32 {
  if (!fsnotify_mask_ok(mask)) return -EINVAL;
  let r = sys_enter();
  if (r != 0) return r;
  r = namei(path, plen, (mask & IN_DONT_FOLLOW) != 0 ? 0 : LOOKUP_FOLLOW);
  if (r != 0) return r;
  if ((mask & IN_ONLYDIR) != 0 && !S_ISDIR(nd_mode)) return -ENOTDIR;
  const ino = nd_ino;
  const isdir = S_ISDIR(nd_mode);
  r = ino_permission(ino, MAY_READ);
  if (r != 0) return r;
  return fsnotify_add_watch(ino, isdir, mask);
}

// ---- snapshots (fs/snapshot.ts) ---------------------------------------------------------------
//
// Each operation runs between two commits: the first makes the live trees' state a committed
// transaction (dirty data written back, as btrfs flushes delalloc before a snapshot), the
// second makes the operation durable before the call returns. A rollback's dead-list range
// is cleared before any other snapshot operation reads the dead list (snap_settled).

/** Commits and runs the background work until no rollback's dead-list range is left. */
function snap_prepare(): i32 {
  let r = fs_commit();
  if (r != 0) return r;
  for (let round = 0; !snap_settled(); round++) {
    if (round > SNAP_SETTLE_ROUNDS_MAX) return -EIO;
    const w = snap_work(SNAP_SETTLE_BATCH);
    if (w < 0) return fail(<i32>w);
    r = fs_commit();
    if (r != 0) return r;
  }
  return 0;
}
/** Commits one write may make to finish after running out of reservation mid-call. */
const WRITE_RETRIES_MAX: i32 = 64;
/** Dead extents cleared per transaction while settling, and the rounds allowed. */
const SNAP_SETTLE_BATCH: u32 = 1024;
const SNAP_SETTLE_ROUNDS_MAX: i32 = 1 << 20;

/**
 * Creates snapshot `name` (flags 1: a writable clone). Returns its id or -errno: -EROFS,
 * -EINVAL, -EEXIST, -ENOSPC, -EOPNOTSUPP (see snap_create).
 */
export function do_snapshot_create(name: usize, len: u32, flags: u32): i64 {
  let r = sys_enter_write();
  if (r != 0) return r;
  if (flags & ~SNAP_F_WRITABLE) return -EINVAL;
  r = snap_prepare();
  if (r != 0) return r;
  const id = snap_create(name, len, (flags & SNAP_F_WRITABLE) != 0);
  // an error once the records began to change (a tree split out of space) leaves a half-made
  // snapshot in the running transaction: fatal, as for a namespace change (fail_ns)
  if (id < 0) return snap_changed ? <i64>fail_ns(<i32>id) : <i64>fail(<i32>id);
  r = fs_commit();
  return r != 0 ? <i64>r : id;
}
/** sys_snapshot_create flag: a writable clone. */
export const SNAP_F_WRITABLE: u32 = 1;

/** Deletes snapshot or clone `name` (its blocks are freed in the background). 0 or -errno. */
export function do_snapshot_delete(name: usize, len: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  r = snap_prepare();
  if (r != 0) return r;
  r = snap_delete(name, len);
  if (r != 0) return snap_changed ? fail_ns(r) : fail(r);
  return fs_commit();
}

/**
 * Rolls the live filesystem back to snapshot `name`. No file may be open (EBUSY): the
 * caches are dropped after, as for a remount. 0 or -errno (see snap_rollback).
 */
export function do_snapshot_rollback(name: usize, len: u32): i32 {
  let r = sys_enter_write();
  if (r != 0) return r;
  for (let fd: i32 = 0; fd < <i32>NR_OPEN; fd++) if (fget(fd) != 0) return -EBUSY;
  r = snap_prepare();
  if (r != 0) return r;
  // deletes in progress end first: a snapshot being deleted is not "newer" to the user
  if (snap_pending() && snap_drain_all() != 0) return -EIO;
  r = snap_rollback(name, len);
  if (r != 0) return snap_changed ? fail_ns(r) : fail(r);
  r = fs_commit();
  if (r != 0) return r;
  // every cached name, inode address and file page described the replaced tree
  drop_caches();
  dcache_clear();
  icache_init();
  namei_reset_cwd();
  return 0;
}

/**
 * Lists the snapshots (SNAPINFO records, snapshot.ts). On a writable mount it commits first,
 * so the exclusive bytes count what the running transaction stopped using. Count or -errno.
 */
export function do_snapshot_list(out: usize, cap: u32): i32 {
  const r = sys_enter();
  if (r != 0) return r;
  if (!fs_readonly && !fs_errored) {
    const c = fs_commit();
    if (c != 0) return c;
  }
  const n = snap_list(out, cap);
  return n < 0 ? fail(n) : n;
}

/** Does at most `budget` units of background snapshot work. Units still pending, or -errno. */
export function do_snapshot_work(budget: u32): i32 {
  if (!fs_mounted || fs_readonly || fs_errored) return 0;
  const w = snap_work(budget);
  if (w < 0) return fail(<i32>w);
  return w > 0x7fff_ffff ? 0x7fff_ffff : <i32>w;
}
