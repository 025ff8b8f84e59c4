// host/fs/sys.ts -- the syscall table under the Node-shaped fs, and the Linux numbers it speaks.
//
// Layer: the bottom of host/fs. Interface: `Sys` (implemented by host/vmm/kernel.ts over the
// WebAssembly kernel and by host/node/nodesys.ts over Node's fs), its records (StatRecord,
// StatfsRecord, DirentRecord), `Cred`, Linux's O_*, S_*, DT_*, SEEK_*, errno numbers, Node's
// `fs.constants`, and the errno -> libuv name table.
// Rules: values are Linux's (x86-64/generic ABI); nothing here imports anything.

// ---- the syscall table ---------------------------------------------------------------------

/** struct stat as the kernel reports it. Sizes in bytes, `blocks` in 512-byte units, times in ns since the epoch. */
export interface StatRecord {
  dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number; rdev: number;
  size: number; blksize: number; blocks: number;
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint; birthtimeNs: bigint;
  /** The same times in ms as Node computes them (sec * 1e3 + nsec / 1e6), when the source has them. */
  atimeMs?: number; mtimeMs?: number; ctimeMs?: number; birthtimeMs?: number;
}

/** struct statfs: `bsize` in bytes; block counts in `bsize` units; `namelen` = NAME_MAX. */
export interface StatfsRecord {
  type: number; bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number; namelen: number;
}

/**
 * A path as it crosses the Sys interface. Linux names are bytes: a string travels as its
 * UTF-8 encoding; a Uint8Array is the exact bytes of a path that is not valid UTF-8 (a
 * string cannot carry those). Both have `length` 0 only for the empty path.
 */
export type SysPath = string | Uint8Array;

/**
 * A name (or symlink target) coming back from Sys: a string when its bytes are valid UTF-8
 * (the common case, no copy), else a Uint8Array holding the exact bytes.
 */
export type SysName = string | Uint8Array;

/** One directory entry; `type` is a Linux DT_* value (DT_UNKNOWN 0 makes the caller lstat). */
export interface DirentRecord { name: SysName; ino: number; type: number /* DT_* */ }

/**
 * Credentials a syscall runs with (Linux struct cred): user id, group id and supplementary
 * groups, each a u32. The kernel makes every permission decision with them. Treat a Cred as
 * immutable: a Sys bound to one may cache it in the kernel.
 */
export interface Cred { readonly uid: number; readonly gid: number; readonly groups: readonly number[] }
/** Root's credentials: the default of a kernel booted without `cred`. */
export const ROOT_CRED: Cred = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] });

/**
 * The kernel's syscalls. Every method returns >= 0 (or the record) on success, or -errno
 * (Linux numbers) on failure. Paths are absolute within the kernel's namespace, strings or
 * exact bytes (SysPath); names and symlink targets come back as SysName. Offsets, lengths and
 * sizes are in bytes; `pos` null means "at and advancing the file position", a number (or,
 * for read, a bigint) means pread/pwrite at that offset; an offset that is not an integer in
 * [0, 2^63) is EINVAL, never wrapped. `uid`/`gid` -1 leaves the id unchanged. utimens times
 * are ns since the epoch (UTIME_NOW / UTIME_OMIT allowed).
 */
export interface Sys {
  open(path: SysPath, flags: number, mode: number): number; close(fd: number): number;
  read(fd: number, buf: Uint8Array, off: number, len: number, pos: number | bigint | null): number;
  write(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number;
  lseek(fd: number, offset: number, whence: number): number;
  /**
   * Optional: readv(2)/preadv(2) and writev(2)/pwritev(2): ONE syscall over `bufs` in order
   * (`pos` null: at and advancing the file position; a number: at that offset). A Sys may move
   * fewer bytes than the list holds (at most IO_CHUNK_MAX, 1 MiB, for the kernel); the caller
   * goes on with the rest. A writev is one write: atomic for other writers and for O_APPEND.
   * Returns bytes moved (0 at EOF) or -errno (EBADF, EISDIR, EINVAL, ENOSPC, EFBIG, EIO).
   */
  readv?(fd: number, bufs: readonly Uint8Array[], pos: number | null): number;
  writev?(fd: number, bufs: readonly Uint8Array[], pos: number | null): number;

  truncate(path: SysPath, len: number): number; ftruncate(fd: number, len: number): number;
  fsync(fd: number): number; fdatasync(fd: number): number; sync(): number;
  stat(path: SysPath): StatRecord | number; lstat(path: SysPath): StatRecord | number; fstat(fd: number): StatRecord | number;
  mkdir(path: SysPath, mode: number): number; rmdir(path: SysPath): number; unlink(path: SysPath): number;
  rename(from: SysPath, to: SysPath): number; link(existing: SysPath, newPath: SysPath): number;
  symlink(target: SysPath, path: SysPath): number; readlink(path: SysPath): SysName | number;
  getdents(fd: number): DirentRecord[] | number; /* all entries except . and .. */
  /**
   * Optional: the names of a directory except . and .., sorted by UTF-8 bytes (strcmp), in
   * one call; -E2BIG when they are too many for one call (the caller then uses getdents).
   */
  scandir?(path: SysPath): SysName[] | number;
  chmod(path: SysPath, mode: number): number; chown(path: SysPath, uid: number, gid: number): number;
  /** Optional: chown without following a final symlink (lchown(2); the FUSE adapter's chown of a symlink). */
  lchown?(path: SysPath, uid: number, gid: number): number;
  utimens(path: SysPath, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): number;
  statfs(path: SysPath): StatfsRecord | number;
  /** access(2) (following symlinks) with the Sys's credentials: F_OK 0, R_OK 4, W_OK 2, X_OK 1. */
  /**
   * Optional: chdir(2) of the kernel's one working directory, where relative paths start ("/"
   * after every mount). 0 or -errno (ENOENT, ENOTDIR, EACCES: no search permission on the
   * path or on the directory, ELOOP, ENAMETOOLONG). Absolute paths are unaffected.
   */
  chdir?(path: SysPath): number;
  access?(path: SysPath, mode: number): number;
  /** fchmod(2), fchown(2) (-1 leaves an id) and futimens(2) (ns; UTIME_NOW / UTIME_OMIT) on a descriptor. */
  fchmod?(fd: number, mode: number): number;
  fchown?(fd: number, uid: number, gid: number): number;
  futimens?(fd: number, atimeNs: bigint, mtimeNs: bigint): number;
  /** mknod(2): `mode` is type | permission bits (S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK, S_IFREG), `rdev` a Linux dev_t for CHR/BLK. */
  mknod?(path: SysPath, mode: number, rdev: number): number;
  /** setxattr(2) / lsetxattr(2) (`noFollow`); `flags` 1 XATTR_CREATE, 2 XATTR_REPLACE. */
  setxattr?(path: SysPath, name: SysPath, value: Uint8Array, flags: number, noFollow: boolean): number;
  /** getxattr(2) / lgetxattr(2): the value (a copy), or -errno. */
  getxattr?(path: SysPath, name: SysPath, noFollow: boolean): Uint8Array | number;
  /** listxattr(2) / llistxattr(2): full names ("user.x"; bytes that are not UTF-8 as a Uint8Array), or -errno. */
  listxattr?(path: SysPath, noFollow: boolean): SysName[] | number;
  /** removexattr(2) / lremovexattr(2). */
  removexattr?(path: SysPath, name: SysPath, noFollow: boolean): number;
  /**
   * Optional: fallocate(2) on an fd open for writing; `mode` is Linux's FALLOC_FL_* bits (0,
   * KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE with or without KEEP_SIZE). 0 or -errno.
   */
  fallocate?(fd: number, mode: number /* Linux FALLOC_FL_* */, offset: number, len: number): number;
  /**
   * Optional: inotify (docs/notify.md). The kernel has one inotify instance; the host shares it
   * among every Sys of that kernel. Adds `listener` to the watch on `path` (its final symlink
   * followed unless IN_DONT_FOLLOW) for the IN_* events of `mask` (IN_ONLYDIR and
   * IN_DONT_FOLLOW count; IN_MASK_ADD, IN_MASK_CREATE and IN_ONESHOT are the host's own). The
   * listener gets each event of that watch, in the kernel's order, in a microtask after the
   * syscall that caused it, plus IN_IGNORED when the watch ends (the inode was freed) and
   * IN_Q_OVERFLOW (wd -1) when the kernel's queue lost events. Returns the watch descriptor
   * (the same for the same inode; several listeners share it) or -errno (ENOENT, ENOTDIR,
   * ELOOP, EACCES: no read permission, ENAMETOOLONG, ENOSPC: too many watches).
   */
  inotifyAddWatch?(path: SysPath, mask: number, listener: InotifyListener): number;
  /** Removes `listener` from watch `wd`; the kernel's watch goes with its last listener. 0 or -EINVAL. */
  inotifyRmWatch?(wd: number, listener: InotifyListener): number;
}

/** One inotify event (Linux struct inotify_event): `name` is the child's name, null for the watched inode itself. */
export interface InotifyEvent { readonly wd: number; readonly mask: number; readonly cookie: number; readonly name: SysName | null }
/** Receives the events of one watch (Sys.inotifyAddWatch). */
export type InotifyListener = (ev: InotifyEvent) => void;

// ---- Linux numbers -------------------------------------------------------------------------

export const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200, O_NOCTTY = 0o400,
  O_TRUNC = 0o1000, O_APPEND = 0o2000, O_NONBLOCK = 0o4000, O_DSYNC = 0o10000, O_DIRECT = 0o40000,
  O_DIRECTORY = 0o200000, O_NOFOLLOW = 0o400000, O_NOATIME = 0o1000000, O_SYNC = 0o4010000;
export const S_IFMT = 0o170000, S_IFSOCK = 0o140000, S_IFLNK = 0o120000, S_IFREG = 0o100000,
  S_IFBLK = 0o60000, S_IFDIR = 0o40000, S_IFCHR = 0o20000, S_IFIFO = 0o10000;
export const DT_UNKNOWN = 0, DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8, DT_LNK = 10, DT_SOCK = 12;
/** inotify(7) event bits and flags (Linux include/uapi/linux/inotify.h). */
export const IN_ACCESS = 0x1, IN_MODIFY = 0x2, IN_ATTRIB = 0x4, IN_CLOSE_WRITE = 0x8, IN_CLOSE_NOWRITE = 0x10,
  IN_OPEN = 0x20, IN_MOVED_FROM = 0x40, IN_MOVED_TO = 0x80, IN_CREATE = 0x100, IN_DELETE = 0x200,
  IN_DELETE_SELF = 0x400, IN_MOVE_SELF = 0x800, IN_UNMOUNT = 0x2000, IN_Q_OVERFLOW = 0x4000, IN_IGNORED = 0x8000,
  IN_ONLYDIR = 0x01000000, IN_DONT_FOLLOW = 0x02000000, IN_EXCL_UNLINK = 0x04000000, IN_MASK_CREATE = 0x10000000,
  IN_MASK_ADD = 0x20000000, IN_ISDIR = 0x40000000, IN_ONESHOT = 0x80000000, IN_ALL_EVENTS = 0xfff;
/** Every bit inotify_add_watch knows (Linux ALL_INOTIFY_BITS). */
export const ALL_INOTIFY_BITS = (IN_ALL_EVENTS | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED | IN_ONLYDIR | IN_DONT_FOLLOW |
  IN_EXCL_UNLINK | IN_MASK_ADD | IN_MASK_CREATE | IN_ISDIR | IN_ONESHOT) >>> 0;
export const SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;
/** fallocate modes (Linux include/uapi/linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01, FALLOC_FL_PUNCH_HOLE = 0x02, FALLOC_FL_ZERO_RANGE = 0x10;
/** utimens nanosecond values meaning "now" and "leave unchanged" (Linux). */
export const UTIME_NOW = (1 << 30) - 1, UTIME_OMIT = (1 << 30) - 2;

export const EPERM = 1, ENOENT = 2, EIO = 5, E2BIG = 7, EBADF = 9, EACCES = 13, EEXIST = 17, ENOTDIR = 20,
  EISDIR = 21, EINVAL = 22, ENOSPC = 28, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40,
  EOPNOTSUPP = 95;

/** Node's `fs.constants` on Linux. */
export const constants = Object.freeze({
  UV_FS_SYMLINK_DIR: 1, UV_FS_SYMLINK_JUNCTION: 2, O_RDONLY, O_WRONLY, O_RDWR,
  UV_DIRENT_UNKNOWN: 0, UV_DIRENT_FILE: 1, UV_DIRENT_DIR: 2, UV_DIRENT_LINK: 3, UV_DIRENT_FIFO: 4,
  UV_DIRENT_SOCKET: 5, UV_DIRENT_CHAR: 6, UV_DIRENT_BLOCK: 7,
  EXTENSIONLESS_FORMAT_JAVASCRIPT: 0, EXTENSIONLESS_FORMAT_WASM: 1,
  S_IFMT, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK, S_IFSOCK,
  O_CREAT, O_EXCL, UV_FS_O_FILEMAP: 0, O_NOCTTY, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOATIME, O_NOFOLLOW,
  O_SYNC, O_DSYNC, O_DIRECT, O_NONBLOCK,
  S_IRWXU: 0o700, S_IRUSR: 0o400, S_IWUSR: 0o200, S_IXUSR: 0o100, S_IRWXG: 0o70, S_IRGRP: 0o40,
  S_IWGRP: 0o20, S_IXGRP: 0o10, S_IRWXO: 0o7, S_IROTH: 0o4, S_IWOTH: 0o2, S_IXOTH: 0o1,
  F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1,
  UV_FS_COPYFILE_EXCL: 1, COPYFILE_EXCL: 1, UV_FS_COPYFILE_FICLONE: 2, COPYFILE_FICLONE: 2,
  UV_FS_COPYFILE_FICLONE_FORCE: 4, COPYFILE_FICLONE_FORCE: 4,
});

/**
 * errno -> [code, description] as libuv names them (uv_err_name / uv_strerror on Linux).
 * HelixFS adds EUCLEAN, EBADMSG, ESTALE and EDQUOT, which libuv does not map (Node would say
 * UNKNOWN); any other number becomes UNKNOWN like in Node.
 */
export const ERRNO: ReadonlyMap<number, readonly [string, string]> = new Map<number, readonly [string, string]>([
  [1, ["EPERM", "operation not permitted"]], [2, ["ENOENT", "no such file or directory"]],
  [3, ["ESRCH", "no such process"]], [4, ["EINTR", "interrupted system call"]], [5, ["EIO", "i/o error"]],
  [6, ["ENXIO", "no such device or address"]], [7, ["E2BIG", "argument list too long"]],
  [9, ["EBADF", "bad file descriptor"]], [11, ["EAGAIN", "resource temporarily unavailable"]],
  [12, ["ENOMEM", "not enough memory"]], [13, ["EACCES", "permission denied"]],
  [14, ["EFAULT", "bad address in system call argument"]], [16, ["EBUSY", "resource busy or locked"]],
  [17, ["EEXIST", "file already exists"]], [18, ["EXDEV", "cross-device link not permitted"]],
  [19, ["ENODEV", "no such device"]], [20, ["ENOTDIR", "not a directory"]],
  [21, ["EISDIR", "illegal operation on a directory"]], [22, ["EINVAL", "invalid argument"]],
  [23, ["ENFILE", "file table overflow"]], [24, ["EMFILE", "too many open files"]],
  [25, ["ENOTTY", "inappropriate ioctl for device"]], [26, ["ETXTBSY", "text file is busy"]],
  [27, ["EFBIG", "file too large"]], [28, ["ENOSPC", "no space left on device"]],
  [29, ["ESPIPE", "invalid seek"]], [30, ["EROFS", "read-only file system"]], [31, ["EMLINK", "too many links"]],
  [32, ["EPIPE", "broken pipe"]], [34, ["ERANGE", "result too large"]], [36, ["ENAMETOOLONG", "name too long"]],
  [38, ["ENOSYS", "function not implemented"]], [39, ["ENOTEMPTY", "directory not empty"]],
  [40, ["ELOOP", "too many symbolic links encountered"]], [61, ["ENODATA", "no data available"]],
  [71, ["EPROTO", "protocol error"]], [74, ["EBADMSG", "bad message"]],
  [75, ["EOVERFLOW", "value too large for defined data type"]], [84, ["EILSEQ", "illegal byte sequence"]],
  [95, ["ENOTSUP", "operation not supported on socket"]], [116, ["ESTALE", "stale file handle"]],
  [117, ["EUCLEAN", "structure needs cleaning"]], [121, ["EREMOTEIO", "remote I/O error"]],
  [122, ["EDQUOT", "disk quota exceeded"]], [125, ["ECANCELED", "operation canceled"]],
]);

