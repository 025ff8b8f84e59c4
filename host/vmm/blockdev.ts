// host/vmm/blockdev.ts -- block-device backends: the storage under a virtio-blk device.
//
// Layer: the bottom of the host's storage stack; host/vmm/virtio.ts (the device model) sits on it,
// and wrappers (write-log recorder, fault injector, latency model) stack on any backend.
// Interface: BlockBackend -- positional byte I/O in multiples of SECTOR_SIZE, plus flush
// (durability barrier), discard (a hint) and close. MemoryBackend and ReadOnlyBackend (a
// read-only window on another backend, for snapshot views) live here; FileBackend (raw image
// file) lives in host/node/blockdev-node.ts so that this file runs unchanged in a browser.
// Rules:
//  - offsets and total lengths are multiples of SECTOR_SIZE and lie inside [0, sizeBytes);
//    a backend checks this at its public boundary and throws BlockError('EINVAL') otherwise;
//  - every failure is a thrown BlockError whose `code` is a Linux errno name ('EIO', ...),
//    never a silent short transfer: a call either moves every byte or throws;
//  - a write is durable only after flush() returns (DESIGN §3);
//  - after close() every call throws BlockError('EBADF').

/** virtio-blk sector size in bytes (virtio 1.x §5.2.6: always 512). */
export const SECTOR_SIZE = 512;
/** Largest MemoryBackend: 2 GiB keeps one Uint8Array within every engine's typed-array limit. */
export const MEMORY_BACKEND_MAX_BYTES = 2 ** 31;

/**
 * A failed block-device operation. `code` is a Linux errno name such as 'EIO' (media or host
 * I/O error), 'EINVAL' (misaligned or out-of-range request), 'EBADF' (backend closed),
 * 'ENOSPC' (the host could not allocate space for a sparse image).
 */
export class BlockError extends Error {
  /** Linux errno name, e.g. 'EIO'. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = "BlockError";
    this.code = code;
  }
}

/**
 * Storage behind one block device. Offsets and lengths are in bytes. `read`, `write`,
 * `readv`, `writev`, `writeZeroes` and `discard` take an offset and a total length that are
 * multiples of SECTOR_SIZE and lie inside the device; the pieces of a vector may have any
 * length. Errors are thrown as BlockError (Error with a `code` like 'EIO').
 */
export interface BlockBackend {
  /** Device size in bytes (a multiple of SECTOR_SIZE). */
  readonly sizeBytes: number;
  /** Fills `dst` with the bytes at [offset, offset + dst.length). */
  read(offset: number, dst: Uint8Array): void;
  /** Stores `src` at [offset, offset + src.length). Durable only after flush(). */
  write(offset: number, src: Uint8Array): void;
  /** Optional scatter read: fills each of `dsts` in turn from consecutive bytes at `offset`. */
  readv?(offset: number, dsts: Uint8Array[]): void;
  /** Optional gather write: stores `srcs` back to back at `offset`. The array is not kept. */
  writev?(offset: number, srcs: Uint8Array[]): void;
  /** Optional fast zeroing of [offset, offset + length); the device falls back to writes. */
  writeZeroes?(offset: number, length: number): void;
  /** Durability barrier: every write that returned before this call is on stable storage. */
  flush(): void;
  /** Hint that [offset, offset + length) is unused; its contents become unspecified. */
  discard(offset: number, length: number): void;
  /** Releases the storage; later calls throw BlockError('EBADF'). */
  close(): void;
}

/**
 * Checks one request against a device of `sizeBytes`: offset and length must be
 * non-negative integers, multiples of SECTOR_SIZE, and the range must end inside the device.
 * Throws BlockError('EINVAL') otherwise.
 */
export function checkRange(sizeBytes: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BlockError("EINVAL", `bad range offset=${offset} length=${length}`);
  }
  if (offset % SECTOR_SIZE !== 0 || length % SECTOR_SIZE !== 0) {
    throw new BlockError("EINVAL", `range not sector aligned: offset=${offset} length=${length}`);
  }
  if (offset + length > sizeBytes) {
    throw new BlockError("EINVAL", `range beyond device end: offset=${offset} length=${length} size=${sizeBytes}`);
  }
}

/** Sum of the byte lengths of `views`. */
export function totalLength(views: readonly Uint8Array[]): number {
  let n = 0;
  for (let i = 0; i < views.length; i++) n += views[i].length;
  return n;
}

/**
 * A RAM disk: the device's bytes in one Uint8Array. Flush is a no-op (nothing is volatile
 * beyond the array itself); discard zeroes the range so reads after it are deterministic,
 * which the virtio tests and crash-state replays rely on.
 */
export class MemoryBackend implements BlockBackend {
  readonly sizeBytes: number;
  private data: Uint8Array | null;

  /**
   * Creates a zero-filled disk of `sizeBytes` bytes, or wraps existing bytes (for example an
   * image loaded in a browser) without copying. The size must be a positive multiple of
   * SECTOR_SIZE, at most MEMORY_BACKEND_MAX_BYTES. Throws BlockError('EINVAL') otherwise.
   */
  constructor(sizeBytes: number | Uint8Array) {
    const n = typeof sizeBytes === "number" ? sizeBytes : sizeBytes.length;
    if (!Number.isSafeInteger(n) || n <= 0 || n % SECTOR_SIZE !== 0 || n > MEMORY_BACKEND_MAX_BYTES) {
      throw new BlockError("EINVAL", `bad memory disk size ${n}`);
    }
    this.sizeBytes = n;
    this.data = typeof sizeBytes === "number" ? new Uint8Array(n) : sizeBytes;
  }

  /** The disk's bytes, live (not a copy): for snapshots and inspection. Throws EBADF if closed. */
  get bytes(): Uint8Array {
    return this.live();
  }

  read(offset: number, dst: Uint8Array): void {
    const data = this.live();
    checkRange(this.sizeBytes, offset, dst.length);
    dst.set(data.subarray(offset, offset + dst.length));
  }

  write(offset: number, src: Uint8Array): void {
    const data = this.live();
    checkRange(this.sizeBytes, offset, src.length);
    data.set(src, offset);
  }

  readv(offset: number, dsts: Uint8Array[]): void {
    const data = this.live();
    checkRange(this.sizeBytes, offset, totalLength(dsts));
    let pos = offset;
    for (let i = 0; i < dsts.length; i++) {
      const d = dsts[i];
      d.set(data.subarray(pos, pos + d.length));
      pos += d.length;
    }
  }

  writev(offset: number, srcs: Uint8Array[]): void {
    const data = this.live();
    checkRange(this.sizeBytes, offset, totalLength(srcs));
    let pos = offset;
    for (let i = 0; i < srcs.length; i++) {
      data.set(srcs[i], pos);
      pos += srcs[i].length;
    }
  }

  writeZeroes(offset: number, length: number): void {
    const data = this.live();
    checkRange(this.sizeBytes, offset, length);
    data.fill(0, offset, offset + length);
  }

  flush(): void {
    this.live();
  }

  discard(offset: number, length: number): void {
    this.writeZeroes(offset, length);
  }

  close(): void {
    this.data = null;
  }

  private live(): Uint8Array {
    if (this.data === null) throw new BlockError("EBADF", "memory backend is closed");
    return this.data;
  }
}

/**
 * A read-only window on another backend, for a second kernel that browses a snapshot on the
 * device a live kernel is using (kernel.snapshots.open, SNAPSHOT_ABI "MNT_NORECOVERY"):
 *
 *   live kernel --virtio--> backend <--read-- ReadOnlyBackend <--virtio-- view kernel
 *
 * Reads go through to `inner`; every write, vector write, zeroing and discard throws
 * BlockError('EROFS') before touching it (the view's device completes the request with
 * VIRTIO_BLK_S_IOERR) and is counted in `refusedWrites`; flush has nothing of its own to make
 * durable and does not flush `inner` (that is the live kernel's to order). close() closes
 * only the window: `inner` belongs to the live kernel. A snapshot's blocks are never written
 * while it exists, so the window stays consistent while the live kernel goes on writing.
 */
export class ReadOnlyBackend implements BlockBackend {
  readonly sizeBytes: number;
  /** Writes, zeroings and discards refused so far (a NORECOVERY mount should make none). */
  refusedWrites = 0;
  private closed = false;

  constructor(private readonly inner: BlockBackend) {
    this.sizeBytes = inner.sizeBytes;
  }

  read(offset: number, dst: Uint8Array): void {
    this.open();
    this.inner.read(offset, dst);
  }

  readv(offset: number, dsts: Uint8Array[]): void {
    this.open();
    if (this.inner.readv) { this.inner.readv(offset, dsts); return; }
    // pieces may have any length, but a read must be whole sectors: one read, then scatter
    const all = new Uint8Array(totalLength(dsts));
    this.inner.read(offset, all);
    let pos = 0;
    for (const d of dsts) { d.set(all.subarray(pos, pos + d.length)); pos += d.length; }
  }

  write(offset: number, src: Uint8Array): void { this.refuse(offset, src.length); }
  writev(offset: number, srcs: Uint8Array[]): void { this.refuse(offset, totalLength(srcs)); }
  writeZeroes(offset: number, length: number): void { this.refuse(offset, length); }
  discard(offset: number, length: number): void { this.refuse(offset, length); }

  flush(): void { this.open(); }

  close(): void { this.closed = true; }

  /** Counts and refuses a modifying request of `length` bytes at `offset`. */
  private refuse(offset: number, length: number): never {
    this.open();
    this.refusedWrites++;
    throw new BlockError("EROFS", `read-only device: write of ${length} bytes at ${offset} refused`);
  }

  private open(): void {
    if (this.closed) throw new BlockError("EBADF", "read-only window is closed");
  }
}
