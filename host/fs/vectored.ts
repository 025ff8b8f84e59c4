// host/fs/vectored.ts -- readv/writev: scatter/gather I/O over a Sys (Node's readvSync, writevSync).
//
// Layer: host/fs, beside fs.ts (which adds the thin readvSync/writevSync methods and the
// FileHandle's readv/writev). Interface: validateBufferArray(), readvAll(), writevAll().
// Rules:
//  - with Sys.readv/writev (the kernel, NodeSys) one call moves the whole list, up to
//    IO_CHUNK_MAX bytes (the kernel's transfer buffer): a writev is ONE write(2), atomic with
//    respect to other writers and to O_APPEND, like Linux's, not one write per buffer;
//  - a list longer than IO_CHUNK_MAX is moved in further calls on the remaining bytes, like
//    the chunked readSync/writeSync; a short transfer ends the loop (EOF, ENOSPC);
//  - without them (a Sys that lacks the pair) the buffers are moved one read/write at a time;
//  - a list of ONE buffer is a read/write (pread/pwrite), as libuv makes it: for 0 bytes that
//    differs on a directory (read(2) says EISDIR, readv(2) returns 0 before the file's read);
//  - the position follows Node's GetOffset: a safe integer >= 0 is pread/pwrite at it,
//    anything else (null, -1, 1.5, NaN, a bigint, a string) is the current file position;
//  - an error after some bytes moved reports the short count (as read(2)/write(2) would);
//    an error before any byte is thrown as Node's uvException (syscall 'read' / 'write').

import { EIO, type Sys } from "./sys.js";
import { IO_CHUNK_MAX, invalidArgType, isArrayBufferView, toU8, uvException } from "./utils.js";

/** Node's validateBufferArray: an Array whose every element is an ArrayBufferView, else ERR_INVALID_ARG_TYPE. */
export function validateBufferArray(buffers: unknown, name = "buffers"): asserts buffers is ArrayBufferView[] {
  if (!Array.isArray(buffers)) throw invalidArgType(name, "ArrayBufferView[]", buffers);
  for (let i = 0; i < buffers.length; i++) {
    if (!isArrayBufferView(buffers[i])) throw invalidArgType(name, "ArrayBufferView[]", buffers);
  }
}

/** Total byte length of an iovec list. */
export function iovecBytes(bufs: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

/** The list after its first `skip` bytes (views, no copies): the rest of a partial transfer. */
export function iovecTail(bufs: readonly Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (skip >= b.length) { skip -= b.length; continue; }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

type Mover = (fd: number, bufs: readonly Uint8Array[], pos: number | null) => number;

/**
 * Moves the list with `move` (one syscall per call, at most IO_CHUNK_MAX bytes) until it is
 * done or a transfer comes back short. Returns bytes moved; throws uvException(syscall) for
 * an error before the first byte, EIO if the Sys claims more than it was given.
 */
function moveAll(move: Mover, fd: number, bufs: Uint8Array[], pos: number | null, syscall: string): number {
  const total = iovecBytes(bufs);
  let done = 0;
  do {
    const rest = done === 0 ? bufs : iovecTail(bufs, done);
    const want = Math.min(total - done, IO_CHUNK_MAX);
    const r = move(fd, rest, pos === null ? null : pos + done);
    if (r < 0) {
      if (done > 0) return done;
      throw uvException(r, syscall);
    }
    if (r > total - done) throw uvException(-EIO, syscall); // never trust a count past the buffers
    done += r;
    if (r < want || r === 0) break;
  } while (done < total);
  return done;
}

/**
 * The fallback without Sys.readv/writev: one read/write per buffer (at most IO_CHUNK_MAX bytes
 * each), as if the Sys moved one buffer per call; a buffer moved short ends the list.
 */
function perBuffer(sys: Sys, write: boolean): Mover {
  return (fd, bufs, pos) => {
    let done = 0;
    for (const b of bufs) {
      for (let off = 0; off < b.length;) {
        const n = Math.min(b.length - off, IO_CHUNK_MAX);
        const at = pos === null ? null : pos + done;
        const r = write ? sys.write(fd, b, off, n, at) : sys.read(fd, b, off, n, at);
        if (r < 0) return done > 0 ? done : r;
        if (r > n) return -EIO;
        done += r;
        off += r;
        if (r < n) return done;
      }
      if (done >= IO_CHUNK_MAX) return done; // moveAll calls again with the rest
    }
    if (bufs.length > 0 && done === 0 && !write) return sys.read(fd, bufs[0], 0, 0, pos); // checks the fd like readv(2) of 0 bytes
    if (bufs.length > 0 && done === 0) return sys.write(fd, bufs[0], 0, 0, pos);
    return done;
  };
}

/**
 * readv: fills `buffers` in order from `fd` at `position` (see the header for its rule).
 * Returns bytes read (0 at EOF). Throws EBADF, EISDIR, EINVAL (an empty list, as libuv), EIO.
 */
export function readvAll(sys: Sys, fd: number, buffers: readonly ArrayBufferView[], position: number | null): number {
  if (buffers.length === 0) throw uvException(-22 /* EINVAL: libuv refuses nbufs 0 */, "read");
  const bufs = buffers.map(toU8);
  const move: Mover = sys.readv && bufs.length > 1 ? sys.readv.bind(sys) : perBuffer(sys, false);
  return moveAll(move, fd, bufs, position, "read");
}

/**
 * writev: writes `buffers` in order to `fd` at `position` as one write(2) per IO_CHUNK_MAX
 * bytes. Returns bytes written; an empty list returns 0 without a syscall (Node does).
 * Throws EBADF, ENOSPC, EFBIG, EROFS, EIO like write(2).
 */
export function writevAll(sys: Sys, fd: number, buffers: readonly ArrayBufferView[], position: number | null): number {
  if (buffers.length === 0) return 0;
  const bufs = buffers.map(toU8);
  const move: Mover = sys.writev && bufs.length > 1 ? sys.writev.bind(sys) : perBuffer(sys, true);
  return moveAll(move, fd, bufs, position, "write");
}
