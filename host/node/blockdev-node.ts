// host/node/blockdev-node.ts -- FileBackend: a raw disk image file as a block device (Node only).
//
// Layer: a BlockBackend (host/vmm/blockdev.ts) over the host's file system, under the virtio-blk
// device model. Interface: FileBackend.open(path) for an existing image, FileBackend.create(path,
// size) for a new sparse one; then the BlockBackend calls.
// Rules:
//  - positional I/O only (readSync/writeSync/readvSync/writevSync with explicit positions), so
//    the file offset never matters and calls need no seek;
//  - short transfers from the host are retried until every byte moved; a read past the end of
//    a (truncated) image returns zeroes, as reading a hole does;
//  - FLUSH is fsync(2): the host page cache caches writes, and DESIGN §3 requires FLUSH to
//    make them durable;
//  - discard is a hint and by default does nothing (Node cannot punch holes); with
//    { discard: 'zero' } it writes zeroes so reads after it are deterministic;
//  - one writer per image: open/create take flock(2) on the image (exclusive for read-write,
//    shared for read-only; never waiting) before reading or changing a byte, through the
//    native binding `fs-ext`. The kernel drops an flock when the last descriptor of its open
//    file goes away, so a SIGKILLed holder leaves nothing behind. When `fs-ext` cannot be
//    loaded, `hostLocked` is false and the kernel's MMP block (fs/mmp.ts) is the only guard.

import * as fs from "node:fs";
import { createRequire } from "node:module";
import { BlockBackend, BlockError, SECTOR_SIZE, checkRange, totalLength } from "../vmm/blockdev.js";

/** Largest image: offsets stay exact in a double and inside Node's positional-I/O range. */
export const FILE_BACKEND_MAX_BYTES = 2 ** 50;
/** Bytes of the shared zero buffer used to zero ranges (one host write per chunk group). */
const ZERO_CHUNK = 64 * 1024;
/** Zero chunks handed to one writev call (bounds one host call at 1 MiB). */
const ZERO_CHUNKS_PER_CALL = 16;
/** Retries of a host call that moved no bytes before the backend reports EIO. */
const STALL_MAX = 3;

/** flock(2) through the optional native dependency fs-ext (null when it is not installed). */
type Flock = (fd: number, how: "exnb" | "shnb") => void;
let flockFn: Flock | null | undefined;
function flockBinding(): Flock | null {
  if (flockFn === undefined) {
    try {
      flockFn = (createRequire(import.meta.url)("fs-ext") as { flockSync: Flock }).flockSync;
    } catch {
      flockFn = null;
    }
  }
  return flockFn;
}
/** True when host locks (flock through fs-ext) are available. */
export function hostLockAvailable(): boolean { return flockBinding() !== null; }

/** The host lock FileBackend takes: by access mode (default), or none (the caller knows better). */
export type LockMode = "auto" | "none";

/** How FileBackend treats DISCARD: ignore it (default) or write zeroes over the range. */
export type DiscardMode = "ignore" | "zero";

/** Options shared by FileBackend.open and FileBackend.create. */
export interface FileBackendOptions {
  /** Open without write access; writes throw BlockError('EROFS'). Default false. */
  readOnly?: boolean;
  /** DISCARD behaviour, default 'ignore'. */
  discard?: DiscardMode;
  /**
   * 'auto' (default): flock the image, exclusive when writable, shared when read-only; a
   * conflict throws BlockError('EBUSY') with `locked: true`. 'none': no host lock (e.g. a test
   * standing in for another machine, whose locks this host cannot see).
   */
  lock?: LockMode;
}

/** Takes the host lock on `fd`; false when no binding is available. Throws EBUSY on a conflict. */
function lockImage(fd: number, path: string, exclusive: boolean, mode: LockMode | undefined): boolean {
  if (mode === "none") return false;
  const flock = flockBinding();
  if (flock === null) return false;
  try {
    flock(fd, exclusive ? "exnb" : "shnb");
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EAGAIN" || code === "EWOULDBLOCK") {
      throw Object.assign(new BlockError("EBUSY", `image ${path} is in use (another process holds its lock)`), { locked: true });
    }
    throw hostError(err, `flock ${path}`);
  }
  return true;
}

let zeroChunk: Uint8Array | null = null;
function zeroes(): Uint8Array {
  if (zeroChunk === null) zeroChunk = new Uint8Array(ZERO_CHUNK);
  return zeroChunk;
}

/** Wraps a Node error into a BlockError keeping its errno name (default 'EIO'). */
function hostError(err: unknown, what: string): BlockError {
  const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "EIO";
  const msg = err instanceof Error ? err.message : String(err);
  return new BlockError(code, `${what}: ${msg}`);
}

/** A raw image file (sector N at byte N * 512) behind the BlockBackend interface. */
export class FileBackend implements BlockBackend {
  readonly sizeBytes: number;
  /** Host path of the image. */
  readonly path: string;
  private fd: number;
  private readonly readOnly: boolean;
  private readonly discardMode: DiscardMode;
  /** This backend holds a host lock (flock) on the image until close(). */
  readonly hostLocked: boolean;

  private constructor(path: string, fd: number, sizeBytes: number, opts: FileBackendOptions, hostLocked: boolean) {
    this.path = path;
    this.hostLocked = hostLocked;
    this.fd = fd;
    this.sizeBytes = sizeBytes;
    this.readOnly = opts.readOnly === true;
    this.discardMode = opts.discard ?? "ignore";
  }

  /**
   * Opens an existing image; its size must be a positive multiple of SECTOR_SIZE. Takes the
   * host lock first (opts.lock). Throws BlockError with the host's code ('ENOENT', 'EACCES',
   * ...), 'EINVAL' for a bad size, 'EBUSY' (with `locked: true`) when another open file holds
   * a conflicting lock.
   */
  static open(path: string, opts: FileBackendOptions = {}): FileBackend {
    let fd: number;
    try {
      fd = fs.openSync(path, opts.readOnly ? "r" : "r+");
    } catch (err) {
      throw hostError(err, `open ${path}`);
    }
    let locked: boolean;
    try {
      locked = lockImage(fd, path, !opts.readOnly, opts.lock);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    let size: number;
    try {
      size = fs.fstatSync(fd).size;
    } catch (err) {
      fs.closeSync(fd);
      throw hostError(err, `fstat ${path}`);
    }
    if (size <= 0 || size % SECTOR_SIZE !== 0 || size > FILE_BACKEND_MAX_BYTES) {
      fs.closeSync(fd);
      throw new BlockError("EINVAL", `image ${path} has size ${size}, not a positive multiple of ${SECTOR_SIZE}`);
    }
    return new FileBackend(path, fd, size, opts, locked);
  }

  /**
   * Creates a sparse image of `sizeBytes` bytes (a positive multiple of SECTOR_SIZE). Fails
   * with BlockError('EEXIST') if the file exists, unless `overwrite` is set, in which case the
   * old contents are discarded, but only once the host lock is held: an image in use is never
   * truncated (BlockError('EBUSY'), as open). Other host errors keep their code.
   */
  static create(path: string, sizeBytes: number, opts: FileBackendOptions & { overwrite?: boolean } = {}): FileBackend {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % SECTOR_SIZE !== 0 ||
        sizeBytes > FILE_BACKEND_MAX_BYTES) {
      throw new BlockError("EINVAL", `bad image size ${sizeBytes}`);
    }
    let fd: number;
    try {
      // no O_TRUNC: the old contents go only after the lock is ours
      const C = fs.constants;
      fd = fs.openSync(path, C.O_RDWR | C.O_CREAT | (opts.overwrite ? 0 : C.O_EXCL), 0o666);
    } catch (err) {
      throw hostError(err, `create ${path}`);
    }
    let locked: boolean;
    try {
      locked = lockImage(fd, path, true, opts.lock);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    try {
      fs.ftruncateSync(fd, 0);
      fs.ftruncateSync(fd, sizeBytes); // sparse: no data blocks until written
    } catch (err) {
      fs.closeSync(fd);
      throw hostError(err, `ftruncate ${path}`);
    }
    return new FileBackend(path, fd, sizeBytes, { ...opts, readOnly: false }, locked);
  }

  read(offset: number, dst: Uint8Array): void {
    const fd = this.live();
    checkRange(this.sizeBytes, offset, dst.length);
    let done = 0;
    while (done < dst.length) {
      let n: number;
      try {
        n = fs.readSync(fd, dst, done, dst.length - done, offset + done);
      } catch (err) {
        throw hostError(err, `read ${this.path} at ${offset + done}`);
      }
      if (n === 0) { // image shorter than its nominal size: the rest reads as a hole
        dst.fill(0, done);
        return;
      }
      done += n;
    }
  }

  write(offset: number, src: Uint8Array): void {
    const fd = this.writable();
    checkRange(this.sizeBytes, offset, src.length);
    let done = 0;
    let stalls = 0;
    while (done < src.length) {
      let n: number;
      try {
        n = fs.writeSync(fd, src, done, src.length - done, offset + done);
      } catch (err) {
        throw hostError(err, `write ${this.path} at ${offset + done}`);
      }
      if (n === 0 && ++stalls > STALL_MAX) throw new BlockError("EIO", `write ${this.path} made no progress`);
      done += n;
    }
  }

  readv(offset: number, dsts: Uint8Array[]): void {
    const fd = this.live();
    const total = totalLength(dsts);
    checkRange(this.sizeBytes, offset, total);
    let views = dsts;
    let done = 0;
    while (done < total) {
      let n: number;
      try {
        n = fs.readvSync(fd, views, offset + done);
      } catch (err) {
        throw hostError(err, `readv ${this.path} at ${offset + done}`);
      }
      if (n === 0) { // past the end of a short image: zero what is left
        for (const v of views) v.fill(0);
        return;
      }
      done += n;
      views = advance(views, n);
    }
  }

  writev(offset: number, srcs: Uint8Array[]): void {
    const fd = this.writable();
    const total = totalLength(srcs);
    checkRange(this.sizeBytes, offset, total);
    let views = srcs;
    let done = 0;
    let stalls = 0;
    while (done < total) {
      let n: number;
      try {
        n = fs.writevSync(fd, views, offset + done);
      } catch (err) {
        throw hostError(err, `writev ${this.path} at ${offset + done}`);
      }
      if (n === 0 && ++stalls > STALL_MAX) throw new BlockError("EIO", `writev ${this.path} made no progress`);
      done += n;
      views = advance(views, n);
    }
  }

  writeZeroes(offset: number, length: number): void {
    this.writable();
    checkRange(this.sizeBytes, offset, length);
    const z = zeroes();
    const batch: Uint8Array[] = [];
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      batch.length = 0;
      let n = 0;
      while (batch.length < ZERO_CHUNKS_PER_CALL && pos + n < end) {
        const piece = Math.min(ZERO_CHUNK, end - pos - n);
        batch.push(piece === ZERO_CHUNK ? z : z.subarray(0, piece));
        n += piece;
      }
      this.writev(pos, batch);
      pos += n;
    }
  }

  flush(): void {
    const fd = this.live();
    if (this.readOnly) return;
    try {
      fs.fsyncSync(fd);
    } catch (err) {
      throw hostError(err, `fsync ${this.path}`);
    }
  }

  discard(offset: number, length: number): void {
    this.writable();
    checkRange(this.sizeBytes, offset, length);
    if (this.discardMode === "zero") this.writeZeroes(offset, length);
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw hostError(err, `close ${this.path}`);
    }
  }

  private live(): number {
    if (this.fd < 0) throw new BlockError("EBADF", `image ${this.path} is closed`);
    return this.fd;
  }

  private writable(): number {
    const fd = this.live();
    if (this.readOnly) throw new BlockError("EROFS", `image ${this.path} is open read-only`);
    return fd;
  }
}

/** The views left after `n` bytes of `views` were transferred (splits a partial view). */
function advance(views: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (i < views.length && n >= views[i].length) {
    n -= views[i].length;
    i++;
  }
  const rest = views.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = rest[0].subarray(n);
  return rest;
}
