// host/fs/copyfile.ts -- libuv's uv_fs_copyfile over a Sys, written once for all its callers:
// HelixFs.copyFileSync (all at once), and promises.copyFile, callback copyFile and cp.ts's
// promises.cp (a macrotask between chunks).
//
// Layer: host/fs, under fs.ts and cp.ts. Imports sys.ts/utils.ts/async.ts only.
// Interface: copyFileSteps(sys, src, dest, mode, umask) (a generator: the one copy), and its
// two drivers copyFileNow(...) -> 0 | -errno and copyFileYielding(...) -> Promise<0 | -errno>.
// Rules:
//  - the steps are uv_fs_copyfile's: open src O_RDONLY, fstat it, open dest O_WRONLY|O_CREAT
//    (|O_EXCL with COPYFILE_EXCL) with src's mode & ~umask; without COPYFILE_EXCL fstat dest
//    and stop (success) when it is src's inode, else ftruncate it to 0; chmod dest to src's
//    mode; COPYFILE_FICLONE_FORCE fails EOPNOTSUPP (no reflinks); a directory fails EISDIR
//    (sendfile(2) from a directory); then the bytes, pread from offset 0 and written at dest's
//    position, IO_CHUNK_MAX bytes per step; a source that shrinks is copied as far as it goes;
//  - on any failure after dest was opened, dest is unlinked; both fds are always closed;
//  - the generator yields between two chunks, never before the first or after the last, so
//    a file of at most IO_CHUNK_MAX bytes is copied in one step whichever driver runs it;
//  - results are errnos (negative numbers), not exceptions: the callers name the syscall
//    ('copyfile') and the paths as they were given.
// No Node imports: runs in a browser.

import { EIO, EISDIR, ENOENT, EOPNOTSUPP, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY, S_IFDIR, S_IFMT, type Sys, type SysPath, constants } from "./sys.js";
import { IO_CHUNK_MAX } from "./utils.js";
import { nextMacrotask } from "./async.js";

/** The steps of one copy: yields (undefined) between chunks; returns 0 or -errno. */
export type CopySteps = Generator<void, number, void>;

/**
 * Copies the file `src` to `dest` (absolute SysPaths; empty means ENOENT) as uv_fs_copyfile
 * does (see the header). `mode` is copyFile's mode (COPYFILE_EXCL | COPYFILE_FICLONE |
 * COPYFILE_FICLONE_FORCE); `umask` masks dest's creation mode. Returns (as the generator's
 * value) 0, or -errno of the failing step: ENOENT/EACCES/ENOTDIR/ELOOP (open), EEXIST
 * (COPYFILE_EXCL), EOPNOTSUPP (FICLONE_FORCE), EISDIR (src a directory), EIO/ENOSPC (copy).
 */
export function* copyFileSteps(sys: Sys, src: SysPath, dest: SysPath, mode: number, umask: number): CopySteps {
  if (src.length === 0 || dest.length === 0) return -ENOENT;
  const srcFd = sys.open(src, O_RDONLY, 0);
  if (srcFd < 0) return srcFd;
  let destFd = -1;
  let err = 0;
  try {
    const st = sys.fstat(srcFd);
    if (typeof st === "number") return (err = st);
    const excl = (mode & constants.COPYFILE_EXCL) !== 0;
    destFd = sys.open(dest, O_WRONLY | O_CREAT | (excl ? O_EXCL : 0), st.mode & 0o7777 & ~umask);
    if (destFd < 0) return (err = destFd);
    if (!excl) {
      const dst = sys.fstat(destFd);
      if (typeof dst === "number") return (err = dst);
      if (dst.dev === st.dev && dst.ino === st.ino) return 0; // same file: nothing to do
      const t = sys.ftruncate(destFd, 0);
      if (t < 0) return (err = t);
    }
    const c = sys.chmod(dest, st.mode & 0o7777);
    if (c < 0) return (err = c);
    if ((mode & constants.COPYFILE_FICLONE_FORCE) !== 0) return (err = -EOPNOTSUPP); // no reflinks
    if ((st.mode & S_IFMT) === S_IFDIR) return (err = -EISDIR); // sendfile(2) from a directory
    return (err = yield* copyBytes(sys, srcFd, destFd, st.size));
  } finally {
    sys.close(srcFd);
    if (destFd >= 0) {
      sys.close(destFd);
      if (err < 0) sys.unlink(dest);
    }
  }
}

/**
 * Copies `size` bytes from srcFd (pread from 0) to destFd (its position), IO_CHUNK_MAX bytes
 * per step with a yield between steps; returns 0 or -errno (the read's or write's; EIO for a
 * write that moves nothing).
 */
function* copyBytes(sys: Sys, srcFd: number, destFd: number, size: number): CopySteps {
  const chunk = new Uint8Array(Math.min(Math.max(size, 1), IO_CHUNK_MAX));
  let pos = 0;
  while (pos < size) {
    if (pos > 0) yield;
    const n = sys.read(srcFd, chunk, 0, Math.min(chunk.length, size - pos), pos);
    if (n < 0) return n;
    if (n === 0) break; // the source shrank: copy what there was
    for (let w = 0; w < n;) {
      const r = sys.write(destFd, chunk, w, n - w, null);
      if (r < 0) return r;
      if (r === 0) return -EIO;
      w += r;
    }
    pos += n;
  }
  return 0;
}

/** copyFileSteps run to the end at once (copyFileSync): 0 or -errno. */
export function copyFileNow(sys: Sys, src: SysPath, dest: SysPath, mode: number, umask: number): number {
  const steps = copyFileSteps(sys, src, dest, mode, umask);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/** copyFileSteps with a macrotask between chunks (promises.cp): resolves to 0 or -errno. */
export async function copyFileYielding(sys: Sys, src: SysPath, dest: SysPath, mode: number, umask: number): Promise<number> {
  const steps = copyFileSteps(sys, src, dest, mode, umask);
  let r = steps.next();
  while (!r.done) {
    await nextMacrotask();
    r = steps.next();
  }
  return r.value;
}
