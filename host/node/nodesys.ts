// host/node/nodesys.ts -- NodeSys: the Sys syscall table (host/fs/fs.ts) over Node's own fs.
//
// Layer: a reference "kernel" for the differential tests. createFs(new NodeSys(dir)) behaves
// like Node's fs rooted at `dir`, so host/fs/fs.ts can be tested against Node before the wasm
// kernel exists, and the same harness later compares the kernel with Linux.
// Interface: new NodeSys(rootDir) -> Sys. Kernel path '/a/b' is host path `${root}/a/b`;
// symlink targets are stored verbatim (relative targets therefore stay inside the root).
// Rules:
//  - every Node error becomes -errno (Linux numbers); nothing throws out of a syscall;
//  - only fds this NodeSys opened are accepted (others get -EBADF): closing a foreign fd
//    number could close the test runner's own files;
//  - Node has no lseek, so each fd's position is tracked here and reads/writes are positional;
//    O_APPEND writes let the host kernel append, then the position moves to the new end;
//  - getdents reads the directory by the path it was opened with (no fd-based readdir in
//    Node): renaming an open directory confuses it; the tests do not do that;
//  - '..' above the root and absolute symlink targets reach outside the root: this is a test
//    adapter, not a sandbox.

import * as fs from "node:fs";
import {
  DirentRecord, EBADF, EINVAL, EIO, O_APPEND, SEEK_CUR, SEEK_END, SEEK_SET, SEEK_DATA, SEEK_HOLE, StatRecord, StatfsRecord, Sys,
  SysName, SysPath, UTIME_NOW, UTIME_OMIT, DT_BLK, DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, DT_SOCK, DT_UNKNOWN,
} from "../fs/fs.js";

/** Linux ENXIO: lseek SEEK_DATA/SEEK_HOLE at or past EOF. */
const ENXIO = 6;

/** NAME_MAX reported by statfs (Node's StatFs has no namelen; Linux file systems use 255). */
const NAME_MAX = 255;
/** Half a microsecond in seconds: keeps a µs-exact time exact through libuv's double -> timespec. */
const HALF_US = 5e-7;

interface OpenFile { hostFd: number; pos: number; append: boolean; hostPath: string | Buffer }

/** -errno for a Node error (EIO for anything that carries no errno). */
function errnoOf(err: unknown): number {
  const e = err as { errno?: unknown; code?: unknown };
  if (typeof e?.errno === "number" && e.errno < 0) return e.errno;
  if (typeof e?.code === "string" && e.code.startsWith("ERR_")) return -EINVAL; // Node rejected an argument
  return -EIO;
}

function toRecord(s: fs.BigIntStats): StatRecord {
  return {
    dev: Number(s.dev), ino: Number(s.ino), mode: Number(s.mode), nlink: Number(s.nlink), uid: Number(s.uid),
    gid: Number(s.gid), rdev: Number(s.rdev), size: Number(s.size), blksize: Number(s.blksize), blocks: Number(s.blocks),
    atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, birthtimeNs: s.birthtimeNs,
  };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Host bytes as a SysName: a string when they are UTF-8, else the bytes. */
function sysName(b: Buffer): SysName {
  try {
    return strictUtf8.decode(b);
  } catch {
    return b;
  }
}

function dtOf(d: fs.Dirent<string | Buffer>): number {
  if (d.isFile()) return DT_REG;
  if (d.isDirectory()) return DT_DIR;
  if (d.isSymbolicLink()) return DT_LNK;
  if (d.isFIFO()) return DT_FIFO;
  if (d.isCharacterDevice()) return DT_CHR;
  if (d.isBlockDevice()) return DT_BLK;
  if (d.isSocket()) return DT_SOCK;
  return DT_UNKNOWN;
}

/**
 * ns since the epoch -> a value Node's utimesSync turns back into exactly those ns (to the
 * microsecond). Node maps negative numbers to "now", so negative times go as numeric strings,
 * which it passes through unchanged.
 */
function nsToNodeTime(ns: bigint): number | string {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) { nsec += 1_000_000_000n; sec -= 1n; }
  // libuv truncates toward zero: nudge by half a microsecond away from the truncation edge.
  const t = Number(sec) + Number(nsec) / 1e9 + (sec < 0n ? -HALF_US : HALF_US);
  return t < 0 ? String(t) : t;
}

/** The Sys table over Node's fs, rooted at a host directory. */
export class NodeSys implements Sys {
  /** Host directory that is '/' in the kernel namespace. */
  readonly root: string;
  private files = new Map<number, OpenFile>();

  /** `root` must be an existing host directory (not checked until the first call). */
  constructor(root: string) {
    this.root = root.replace(/\/+$/, "");
  }

  /** Host path for a kernel path ('' stays '', which Node rejects with ENOENT). */
  hostPath(p: SysPath): string | Buffer {
    if (typeof p !== "string") { // exact bytes: the host path is bytes too
      if (p.length === 0) return "";
      return Buffer.concat([Buffer.from(p[0] === 47 ? this.root : `${this.root}/`), p]);
    }
    if (p === "") return "";
    return p.startsWith("/") ? this.root + p : `${this.root}/${p}`;
  }

  /** Number of fds open through this NodeSys. */
  get openCount(): number { return this.files.size; }

  /** Closes every fd this NodeSys opened (for reboot-style tests). */
  closeAll(): void {
    for (const fd of [...this.files.keys()]) this.close(fd);
  }

  private run(f: () => void): number {
    try {
      f();
      return 0;
    } catch (err) {
      return errnoOf(err);
    }
  }

  open(path: SysPath, flags: number, mode: number): number {
    try {
      const host = this.hostPath(path);
      const hostFd = fs.openSync(host, flags, mode);
      this.files.set(hostFd, { hostFd, pos: 0, append: (flags & O_APPEND) !== 0, hostPath: host });
      return hostFd;
    } catch (err) {
      return errnoOf(err);
    }
  }

  close(fd: number): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    this.files.delete(fd);
    return this.run(() => fs.closeSync(f.hostFd));
  }

  read(fd: number, buf: Uint8Array, off: number, len: number, pos: number | bigint | null): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    try {
      // Node's readSync returns 0 for length 0 without a syscall; readv of one empty buffer is
      // a real read(2) of 0 bytes (EBADF on a write-only fd, EISDIR on a directory, as Linux)
      const n = len === 0 ? fs.readvSync(f.hostFd, [buf.subarray(off, off)], pos === null ? f.pos : Number(pos)) : fs.readSync(f.hostFd, buf, off, len, pos ?? f.pos);
      if (pos === null) f.pos += n;
      return n;
    } catch (err) {
      return errnoOf(err);
    }
  }

  write(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    try {
      if (pos !== null) return fs.writeSync(f.hostFd, buf, off, len, pos); // Linux: O_APPEND pwrite appends too
      if (f.append) {
        const n = fs.writeSync(f.hostFd, buf, off, len, null);
        f.pos = fs.fstatSync(f.hostFd).size; // an append leaves the position at the new end
        return n;
      }
      const n = fs.writeSync(f.hostFd, buf, off, len, f.pos);
      f.pos += n;
      return n;
    } catch (err) {
      return errnoOf(err);
    }
  }

  /** readv with Node's readvSync at the tracked position (or `pos`). */
  readv(fd: number, bufs: readonly Uint8Array[], pos: number | null): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    try {
      const n = fs.readvSync(f.hostFd, bufs as Uint8Array[], pos ?? f.pos);
      if (pos === null) f.pos += n;
      return n;
    } catch (err) {
      return errnoOf(err);
    }
  }

  /** writev with Node's writevSync (one host writev(2)), moving the tracked position like write. */
  writev(fd: number, bufs: readonly Uint8Array[], pos: number | null): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    try {
      if (bufs.length === 0) return 0;
      if (pos !== null) return fs.writevSync(f.hostFd, bufs as Uint8Array[], pos);
      if (f.append) {
        const n = fs.writevSync(f.hostFd, bufs as Uint8Array[]);
        f.pos = fs.fstatSync(f.hostFd).size;
        return n;
      }
      const n = fs.writevSync(f.hostFd, bufs as Uint8Array[], f.pos);
      f.pos += n;
      return n;
    } catch (err) {
      return errnoOf(err);
    }
  }

  lseek(fd: number, offset: number, whence: number): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    let base: number;
    if (whence === SEEK_SET) base = 0;
    else if (whence === SEEK_CUR) base = f.pos;
    else if (whence === SEEK_END) {
      try {
        base = fs.fstatSync(f.hostFd).size;
      } catch (err) {
        return errnoOf(err);
      }
    } else if (whence === SEEK_DATA || whence === SEEK_HOLE) {
      // Node cannot ask the host: the file counts as all data with the hole at EOF, which
      // POSIX allows (lseek(2): "the entire file may be reported as data")
      let size: number;
      try { size = fs.fstatSync(f.hostFd).size; } catch (err) { return errnoOf(err); }
      if (offset < 0 || offset >= size) return -ENXIO;
      f.pos = whence === SEEK_DATA ? offset : size;
      return f.pos;
    } else return -EINVAL;
    const next = base + offset;
    if (!Number.isSafeInteger(next) || next < 0) return -EINVAL;
    f.pos = next;
    return next;
  }

  truncate(path: SysPath, len: number): number {
    if (len < 0) return -EINVAL;
    return this.run(() => fs.truncateSync(this.hostPath(path), len));
  }

  ftruncate(fd: number, len: number): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    if (len < 0) return -EINVAL;
    return this.run(() => fs.ftruncateSync(f.hostFd, len));
  }

  fsync(fd: number): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    return this.run(() => fs.fsyncSync(f.hostFd));
  }

  fdatasync(fd: number): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    return this.run(() => fs.fdatasyncSync(f.hostFd));
  }

  /** Node has no sync(2); fsync every open file instead (tmpfs needs nothing more). */
  sync(): number {
    for (const f of this.files.values()) {
      try { fs.fsyncSync(f.hostFd); } catch { /* a directory fd or a read-only fd: ignore */ }
    }
    return 0;
  }

  stat(path: SysPath): StatRecord | number {
    try {
      return toRecord(fs.statSync(this.hostPath(path), { bigint: true }));
    } catch (err) {
      return errnoOf(err);
    }
  }

  lstat(path: SysPath): StatRecord | number {
    try {
      return toRecord(fs.lstatSync(this.hostPath(path), { bigint: true }));
    } catch (err) {
      return errnoOf(err);
    }
  }

  fstat(fd: number): StatRecord | number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    try {
      return toRecord(fs.fstatSync(f.hostFd, { bigint: true }));
    } catch (err) {
      return errnoOf(err);
    }
  }

  mkdir(path: SysPath, mode: number): number {
    return this.run(() => fs.mkdirSync(this.hostPath(path), mode));
  }

  rmdir(path: SysPath): number {
    return this.run(() => fs.rmdirSync(this.hostPath(path)));
  }

  unlink(path: SysPath): number {
    return this.run(() => fs.unlinkSync(this.hostPath(path)));
  }

  rename(from: SysPath, to: SysPath): number {
    return this.run(() => fs.renameSync(this.hostPath(from), this.hostPath(to)));
  }

  link(existing: SysPath, newPath: SysPath): number {
    return this.run(() => fs.linkSync(this.hostPath(existing), this.hostPath(newPath)));
  }

  symlink(target: SysPath, path: SysPath): number {
    return this.run(() => fs.symlinkSync(typeof target === "string" ? target : Buffer.from(target), this.hostPath(path)));
  }

  readlink(path: SysPath): SysName | number {
    try {
      return sysName(fs.readlinkSync(this.hostPath(path), "buffer"));
    } catch (err) {
      return errnoOf(err);
    }
  }

  getdents(fd: number): DirentRecord[] | number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    try {
      return fs.readdirSync(f.hostPath, { withFileTypes: true, encoding: "buffer" }).map((d) => {
        let ino = 0;
        try { ino = Number(fs.lstatSync(Buffer.concat([Buffer.from(f.hostPath), Buffer.from("/"), d.name]), { bigint: true }).ino); } catch { /* raced away */ }
        return { name: sysName(d.name), ino, type: dtOf(d) };
      });
    } catch (err) {
      return errnoOf(err);
    }
  }

  chmod(path: SysPath, mode: number): number {
    return this.run(() => fs.chmodSync(this.hostPath(path), mode));
  }

  chown(path: SysPath, uid: number, gid: number): number {
    return this.run(() => fs.chownSync(this.hostPath(path), uid, gid));
  }

  lchown(path: SysPath, uid: number, gid: number): number {
    return this.run(() => fs.lchownSync(this.hostPath(path), uid, gid));
  }

  utimens(path: SysPath, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): number {
    const host = this.hostPath(path);
    try {
      const cur = atimeNs === BigInt(UTIME_OMIT) || mtimeNs === BigInt(UTIME_OMIT)
        ? (noFollow ? fs.lstatSync(host, { bigint: true }) : fs.statSync(host, { bigint: true }))
        : null;
      const now = BigInt(Date.now()) * 1_000_000n;
      const pick = (t: bigint, old: bigint | undefined): bigint =>
        t === BigInt(UTIME_NOW) ? now : t === BigInt(UTIME_OMIT) ? old! : t;
      const a = nsToNodeTime(pick(atimeNs, cur?.atimeNs));
      const m = nsToNodeTime(pick(mtimeNs, cur?.mtimeNs));
      if (noFollow) fs.lutimesSync(host, a, m);
      else fs.utimesSync(host, a, m);
      return 0;
    } catch (err) {
      return errnoOf(err);
    }
  }

  access(path: SysPath, mode: number): number {
    return this.run(() => fs.accessSync(this.hostPath(path), mode));
  }

  fchmod(fd: number, mode: number): number {
    const f = this.files.get(fd);
    return f ? this.run(() => fs.fchmodSync(f.hostFd, mode)) : -EBADF;
  }

  fchown(fd: number, uid: number, gid: number): number {
    const f = this.files.get(fd);
    return f ? this.run(() => fs.fchownSync(f.hostFd, uid, gid)) : -EBADF;
  }

  /** futimens through Node's futimes (UTIME_NOW becomes the host's now; UTIME_OMIT keeps the time). */
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): number {
    const f = this.files.get(fd);
    if (!f) return -EBADF;
    try {
      const cur = fs.fstatSync(f.hostFd, { bigint: true });
      const now = BigInt(Date.now()) * 1_000_000n;
      const pick = (t: bigint, old: bigint): bigint => (t === BigInt(UTIME_NOW) ? now : t === BigInt(UTIME_OMIT) ? old : t);
      fs.futimesSync(f.hostFd, nsToNodeTime(pick(atimeNs, cur.atimeNs)), nsToNodeTime(pick(mtimeNs, cur.mtimeNs)));
      return 0;
    } catch (err) {
      return errnoOf(err);
    }
  }

  statfs(path: SysPath): StatfsRecord | number {
    try {
      const s = fs.statfsSync(this.hostPath(path));
      return { type: s.type, bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namelen: NAME_MAX };
    } catch (err) {
      return errnoOf(err);
    }
  }
}
