// host/vmm/virtio.ts -- the device side of virtio-blk over one split virtqueue (virtio 1.x §2.7, §5.2).
//
// Layer: between the kernel's virtio-blk driver (assembly/dev/virtio_blk.ts, in wasm linear
// memory) and a BlockBackend (host/vmm/blockdev.ts). Interface: setQueue(desc, avail, used) once the
// driver has laid out its rings, then notify() per doorbell (the `virtio_notify` import).
// notify() completes every request made available since the last call before it returns.
//
//   descriptor (16 B)   | addr u64 | len u32 | flags u16 | next u16 |
//   avail ring          | flags u16 | idx u16 | ring[Q] u16 | used_event u16 |
//   used ring           | flags u16 | idx u16 | ring[Q] { id u32, len u32 } | avail_event u16 |
//   request header (16) | type u32 | reserved u32 | sector u64 |
//   discard/write-zeroes segment (16) | sector u64 | num_sectors u32 | flags u32 |
//
// A request is a descriptor chain: driver-readable bytes (header, then OUT data or segments)
// followed by device-writable bytes (IN data or ID, then one status byte). Per VIRTIO_F_ANY_LAYOUT
// the device treats each side as one byte stream, so any split into descriptors works.
// Rules:
//  - the device never throws from notify() because of what the driver or the backend did:
//    a bad request gets IOERR (or UNSUPP), a chain it cannot parse gets a used element with
//    len 0; a corrupt avail index sets needsReset and stops (virtio's DEVICE_NEEDS_RESET);
//  - wasm memory.grow replaces the ArrayBuffer, so the views are re-fetched on every notify;
//  - consecutive IN (or OUT) requests that are contiguous on disk merge into one backend call
//    (readv/writev when the backend has them), bounded by MERGE_MAX_BYTES and MERGE_MAX_SEGS;
//    requests are executed in ring order, so a FLUSH sees every earlier write;
//  - nothing is allocated per request except the Uint8Array views handed to the backend.

import { BlockBackend, SECTOR_SIZE } from "./blockdev.js";

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** virtio_blk_discard_write_zeroes.flags bit: the range may be deallocated (WRITE_ZEROES only). */
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
/** Bytes of the device ID string returned by GET_ID (NUL-padded ASCII). */
export const VIRTIO_BLK_ID_BYTES = 20;
/** Largest split-virtqueue size (virtio 1.x §2.7: a power of 2, at most 32768). */
export const VIRTQ_SIZE_MAX = 32768;
/** Bytes merged into one backend call across requests (one request may exceed it alone). */
export const MERGE_MAX_BYTES = 4 * 1024 * 1024;
/** Buffers merged into one readv/writev call: Linux IOV_MAX. */
export const MERGE_MAX_SEGS = 1024;
/** Segments accepted in one DISCARD or WRITE_ZEROES request (Linux caps itself at 256). */
export const DWZ_SEG_MAX = 256;

const DESC_SIZE = 16;
const REQ_HDR_SIZE = 16;
const DWZ_SEG_SIZE = 16;
const USED_ELEM_SIZE = 8;
/** Default GET_ID answer. */
const DEFAULT_SERIAL = "helix-virtio-blk";

/** Counters of one device since construction; all are plain numbers (bytes, requests, calls). */
export interface VirtioBlkStats {
  /** Doorbells received (notify calls). */
  notifies: number;
  /** Requests taken from the avail ring (all types, including malformed ones). */
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  discards: number;
  writeZeroes: number;
  getIds: number;
  /** Bytes copied from disk into driver buffers by successful IN requests. */
  bytesRead: number;
  /** Bytes stored by successful OUT requests. */
  bytesWritten: number;
  /** Bytes zeroed by successful WRITE_ZEROES requests. */
  bytesZeroed: number;
  /** Bytes covered by successful DISCARD requests. */
  bytesDiscarded: number;
  /** Calls made into the backend for IN/OUT data (shows merging: calls < reads + writes). */
  backendCalls: number;
  /** IN/OUT requests that joined the previous request's backend call. */
  merged: number;
  /** Requests completed with VIRTIO_BLK_S_IOERR. */
  ioErrors: number;
  /** Requests completed with VIRTIO_BLK_S_UNSUPP. */
  unsupported: number;
  /** Chains the device could not parse (bad index, address, loop, layout). */
  malformed: number;
}

/** Optional device settings. */
export interface VirtioBlkOptions {
  /** GET_ID answer, ASCII, at most VIRTIO_BLK_ID_BYTES (longer is cut). Default 'helix-virtio-blk'. */
  serial?: string;
}

function zeroStats(): VirtioBlkStats {
  return {
    notifies: 0, requests: 0, reads: 0, writes: 0, flushes: 0, discards: 0, writeZeroes: 0,
    getIds: 0, bytesRead: 0, bytesWritten: 0, bytesZeroed: 0, bytesDiscarded: 0,
    backendCalls: 0, merged: 0, ioErrors: 0, unsupported: 0, malformed: 0,
  };
}

/** statusAddr of a chain that has no device-writable byte. */
const NO_STATUS = -1;
/** Kind of a merge group: the type of the IN/OUT requests it holds, or none. */
const GROUP_NONE = -1;

/**
 * The host half of a virtio-blk device over one split virtqueue in wasm linear memory.
 * Construct it, call setQueue() with the ring addresses the driver chose, and call notify()
 * on every doorbell.
 */
export class VirtioBlkDevice {
  readonly backend: BlockBackend;
  /** Entries in each ring (a power of 2). */
  readonly queueSize: number;
  /** Device capacity in 512-byte sectors. */
  readonly capacitySectors: number;
  /** Counters; see VirtioBlkStats. Reset with resetStats(). */
  stats: VirtioBlkStats = zeroStats();
  /** Set when the driver broke the ring protocol; notify() does nothing until reset(). */
  needsReset = false;
  /**
   * The first error a backend threw (its BlockError with the host's errno name, e.g. ENOSPC
   * when the host's disk is full). The driver only sees VIRTIO_BLK_S_IOERR; the host's tools
   * report this cause. Kept until cleared (set to null) by whoever reported it.
   */
  hostError: Error | null = null;

  private readonly memory: () => ArrayBufferLike;
  private readonly id: Uint8Array;
  // Views of linear memory, rebuilt when memory.grow replaces the buffer.
  private buf: ArrayBufferLike | null = null;
  private u8: Uint8Array = new Uint8Array(0);
  private dv: DataView = new DataView(new ArrayBuffer(0));
  // Ring addresses and indices.
  private descAddr = 0;
  private availAddr = 0;
  private usedAddr = 0;
  private ready = false;
  private lastAvail = 0;
  private usedIdx = 0;
  // The chain being parsed: segments (address, length, device-writable) in chain order.
  private readonly segAddr: Uint32Array;
  private readonly segLen: Uint32Array;
  private nseg = 0;
  private firstWritable = 0;
  private readableBytes = 0;
  private writableBytes = 0;
  private readonly scratch = new Uint8Array(REQ_HDR_SIZE);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private hdrView: DataView = this.scratchView;
  // The merge group: consecutive IN or OUT requests contiguous on disk, not yet executed.
  private groupKind = GROUP_NONE;
  private groupEnd = 0;
  private groupBytes = 0;
  private groupCount = 0;
  private readonly groupViews: Uint8Array[] = [];
  private readonly reqHead: Uint32Array;
  private readonly reqStatus: Uint32Array;
  private readonly reqBytes: Float64Array;
  private readonly reqOffset: Float64Array;
  private readonly reqView: Uint32Array; // first view index of each request in groupViews
  private bounce = new Uint8Array(0);
  private zero = new Uint8Array(0);

  /**
   * `backend` is the storage; `memory` returns the current wasm memory buffer (called on
   * every notify, because memory.grow replaces it); `queueSize` is the ring size the driver
   * uses (a power of 2, 1..32768). Throws RangeError for a bad queue size or a backend whose
   * size is not a multiple of 512.
   */
  constructor(backend: BlockBackend, memory: () => ArrayBufferLike, queueSize: number, opts: VirtioBlkOptions = {}) {
    if (!Number.isInteger(queueSize) || queueSize < 1 || queueSize > VIRTQ_SIZE_MAX || (queueSize & (queueSize - 1)) !== 0) {
      throw new RangeError(`virtio-blk: queue size ${queueSize} is not a power of 2 in 1..${VIRTQ_SIZE_MAX}`);
    }
    if (!Number.isSafeInteger(backend.sizeBytes) || backend.sizeBytes % SECTOR_SIZE !== 0) {
      throw new RangeError(`virtio-blk: backend size ${backend.sizeBytes} is not a multiple of ${SECTOR_SIZE}`);
    }
    this.backend = backend;
    this.memory = memory;
    this.queueSize = queueSize;
    this.capacitySectors = backend.sizeBytes / SECTOR_SIZE;
    this.segAddr = new Uint32Array(queueSize);
    this.segLen = new Uint32Array(queueSize);
    this.reqHead = new Uint32Array(queueSize);
    this.reqStatus = new Uint32Array(queueSize);
    this.reqBytes = new Float64Array(queueSize);
    this.reqOffset = new Float64Array(queueSize);
    this.reqView = new Uint32Array(queueSize + 1);
    this.id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
    const serial = opts.serial ?? DEFAULT_SERIAL;
    for (let i = 0; i < serial.length && i < VIRTIO_BLK_ID_BYTES; i++) this.id[i] = serial.charCodeAt(i) & 0x7f;
  }

  /**
   * Points the device at the driver's rings (byte addresses in linear memory) and resets the
   * ring indices to 0, as a device does when the driver enables the queue. Throws RangeError
   * if a ring is misaligned (desc 16, avail 2, used 4 bytes) or lies outside current memory.
   */
  setQueue(descAddr: number, availAddr: number, usedAddr: number): void {
    const q = this.queueSize;
    this.refresh();
    this.checkRing("descriptor table", descAddr, 16, DESC_SIZE * q);
    this.checkRing("avail ring", availAddr, 2, 6 + 2 * q);
    this.checkRing("used ring", usedAddr, 4, 6 + USED_ELEM_SIZE * q);
    this.descAddr = descAddr;
    this.availAddr = availAddr;
    this.usedAddr = usedAddr;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.ready = true;
    this.needsReset = false;
  }

  /** Forgets the rings (the driver must call setQueue again) and clears needsReset. */
  reset(): void {
    this.ready = false;
    this.needsReset = false;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.groupViews.length = 0;
    this.groupCount = 0;
    this.groupKind = GROUP_NONE;
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.stats = zeroStats();
  }

  /**
   * The doorbell: completes every request made available since the last notify, writing
   * status bytes, used elements and finally used.idx. Never throws for driver or backend
   * faults (see the file header).
   */
  notify(): void {
    this.stats.notifies++;
    if (!this.ready || this.needsReset) return;
    this.refresh();
    const dv = this.dv;
    const q = this.queueSize;
    const availIdx = dv.getUint16(this.availAddr + 2, true);
    let pending = (availIdx - this.lastAvail) & 0xffff;
    if (pending > q) { // the driver claims more buffers than the ring holds
      this.needsReset = true;
      this.stats.malformed++;
      return;
    }
    try {
      while (pending-- > 0) {
        const head = dv.getUint16(this.availAddr + 4 + 2 * (this.lastAvail & (q - 1)), true);
        this.lastAvail = (this.lastAvail + 1) & 0xffff;
        this.handle(head);
      }
    } finally {
      this.runGroup();
      dv.setUint16(this.usedAddr + 2, this.usedIdx, true); // publish: the driver reaps up to here
    }
  }

  // ---- memory views -------------------------------------------------------------------

  private refresh(): void {
    const buf = this.memory();
    if (buf === this.buf) return;
    this.buf = buf;
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
  }

  private checkRing(what: string, addr: number, align: number, bytes: number): void {
    if (!Number.isInteger(addr) || addr < 0 || addr % align !== 0 || addr + bytes > this.u8.length) {
      throw new RangeError(`virtio-blk: ${what} at ${addr} (${bytes} bytes, align ${align}) is outside memory or misaligned`);
    }
  }

  // ---- one request ----------------------------------------------------------------------

  private handle(head: number): void {
    this.stats.requests++;
    if (!this.walk(head)) {
      this.stats.malformed++;
      this.completeNow(head, NO_STATUS, VIRTIO_BLK_S_IOERR); // nowhere to put a status: used len 0
      return;
    }
    const statusAddr = this.writableBytes > 0 ? this.segAddr[this.nseg - 1] + this.segLen[this.nseg - 1] - 1 : NO_STATUS;
    if (this.readableBytes < REQ_HDR_SIZE || statusAddr < 0) {
      this.stats.malformed++;
      this.completeNow(head, statusAddr, VIRTIO_BLK_S_IOERR);
      return;
    }
    const base = this.header();
    const hdr = this.hdrView;
    const type = hdr.getUint32(base, true);
    const sectorLo = hdr.getUint32(base + 8, true);
    const sectorHi = hdr.getUint32(base + 12, true);
    // Sectors past 2^53 bytes cannot be on any backend: mark them out of range.
    const sector = sectorHi < 0x200000 ? sectorHi * 0x100000000 + sectorLo : Infinity;
    switch (type) {
      case VIRTIO_BLK_T_IN:
      case VIRTIO_BLK_T_OUT:
        this.readWrite(head, type, sector, statusAddr);
        return;
      default:
        break;
    }
    this.runGroup(); // everything below completes at once, after all earlier requests
    switch (type) {
      case VIRTIO_BLK_T_FLUSH:
        this.flush(head, statusAddr);
        return;
      case VIRTIO_BLK_T_GET_ID:
        this.getId(head, statusAddr);
        return;
      case VIRTIO_BLK_T_DISCARD:
      case VIRTIO_BLK_T_WRITE_ZEROES:
        this.discardOrZero(head, type, statusAddr);
        return;
      default:
        this.completeNow(head, statusAddr, VIRTIO_BLK_S_UNSUPP);
    }
  }

  /**
   * Collects the chain starting at `head` into segAddr/segLen (zero-length descriptors are
   * skipped), following one level of indirect table. False if the chain is unusable: an index
   * or address out of range, a loop, a readable descriptor after a writable one, nested or
   * chained indirect descriptors.
   */
  private walk(head: number): boolean {
    const dv = this.dv;
    const memBytes = this.u8.length;
    let table = this.descAddr;
    let tableSize = this.queueSize;
    let idx = head;
    let indirect = false;
    let steps = 0;
    this.nseg = 0;
    this.firstWritable = -1;
    this.readableBytes = 0;
    this.writableBytes = 0;
    for (;;) {
      if (idx >= tableSize || ++steps > tableSize) return false;
      const d = table + idx * DESC_SIZE;
      const addr = dv.getUint32(d, true);
      const addrHi = dv.getUint32(d + 4, true);
      const len = dv.getUint32(d + 8, true);
      const flags = dv.getUint16(d + 12, true);
      if (addrHi !== 0 || addr + len > memBytes) return false;
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (indirect || (flags & VIRTQ_DESC_F_NEXT) !== 0 || len === 0 || len % DESC_SIZE !== 0) return false;
        indirect = true;
        table = addr;
        tableSize = len / DESC_SIZE;
        idx = 0;
        steps = 0;
        continue;
      }
      if (!this.addSegment(addr, len, (flags & VIRTQ_DESC_F_WRITE) !== 0)) return false;
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) return true;
      idx = dv.getUint16(d + 14, true);
    }
  }

  private addSegment(addr: number, len: number, writable: boolean): boolean {
    if (!writable && this.firstWritable >= 0) return false; // readable after writable
    if (len === 0) return true;
    if (this.nseg >= this.queueSize) return false;
    if (writable) {
      if (this.firstWritable < 0) this.firstWritable = this.nseg;
      this.writableBytes += len;
    } else {
      this.readableBytes += len;
    }
    this.segAddr[this.nseg] = addr;
    this.segLen[this.nseg] = len;
    this.nseg++;
    return true;
  }

  /**
   * Locates the 16-byte request header: sets hdrView and returns the header's offset in it.
   * The header is read in place when the first segment holds it (the usual layout), else it
   * is gathered into the scratch buffer.
   */
  private header(): number {
    if (this.segLen[0] >= REQ_HDR_SIZE) {
      this.hdrView = this.dv;
      return this.segAddr[0];
    }
    this.gatherReadable(0);
    this.hdrView = this.scratchView;
    return 0;
  }

  /** Copies 16 bytes of the readable stream starting at stream offset `from` into scratch. */
  private gatherReadable(from: number): void {
    const u8 = this.u8;
    const dst = this.scratch;
    let skip = from;
    let out = 0;
    const end = this.firstWritable < 0 ? this.nseg : this.firstWritable;
    for (let i = 0; i < end && out < dst.length; i++) {
      const len = this.segLen[i];
      if (skip >= len) { skip -= len; continue; }
      const a = this.segAddr[i] + skip;
      const n = Math.min(len - skip, dst.length - out);
      for (let j = 0; j < n; j++) dst[out + j] = u8[a + j]; // at most 16 bytes: no view needed
      out += n;
      skip = 0;
    }
  }

  /**
   * Appends views of stream bytes [from, from + length) of one side (readable or writable)
   * to `out`. Returns the number of views appended.
   */
  private pushViews(writableSide: boolean, from: number, length: number, out: Uint8Array[]): number {
    const start = writableSide ? this.firstWritable : 0;
    const end = writableSide ? this.nseg : (this.firstWritable < 0 ? this.nseg : this.firstWritable);
    let skip = from;
    let left = length;
    let pushed = 0;
    for (let i = start; i < end && left > 0; i++) {
      const len = this.segLen[i];
      if (skip >= len) { skip -= len; continue; }
      const a = this.segAddr[i] + skip;
      const n = Math.min(len - skip, left);
      out.push(this.u8.subarray(a, a + n));
      pushed++;
      left -= n;
      skip = 0;
    }
    return pushed;
  }

  // ---- IN / OUT with merging -------------------------------------------------------------

  private readWrite(head: number, type: number, sector: number, statusAddr: number): void {
    const isRead = type === VIRTIO_BLK_T_IN;
    const bytes = isRead ? this.writableBytes - 1 : this.readableBytes - REQ_HDR_SIZE;
    const offset = sector * SECTOR_SIZE;
    if (bytes % SECTOR_SIZE !== 0 || !(offset + bytes <= this.backend.sizeBytes)) {
      this.runGroup();
      if (isRead) this.stats.reads++; else this.stats.writes++;
      this.completeNow(head, statusAddr, VIRTIO_BLK_S_IOERR);
      return;
    }
    const views = this.countViews(isRead, bytes);
    const joins = this.groupKind === type && offset === this.groupEnd &&
      this.groupBytes + bytes <= MERGE_MAX_BYTES && this.groupViews.length + views <= MERGE_MAX_SEGS;
    if (!joins) {
      this.runGroup();
      this.groupKind = type;
    } else {
      this.stats.merged++;
    }
    const k = this.groupCount++;
    this.reqHead[k] = head;
    this.reqStatus[k] = statusAddr;
    this.reqBytes[k] = bytes;
    this.reqOffset[k] = offset;
    this.reqView[k] = this.groupViews.length;
    this.pushViews(isRead, isRead ? 0 : REQ_HDR_SIZE, bytes, this.groupViews);
    this.reqView[k + 1] = this.groupViews.length;
    this.groupEnd = offset + bytes;
    this.groupBytes += bytes;
  }

  /** Number of views the data of the current request needs (segments it touches). */
  private countViews(isRead: boolean, bytes: number): number {
    if (bytes === 0) return 0;
    return isRead ? this.nseg - this.firstWritable : (this.firstWritable < 0 ? this.nseg : this.firstWritable);
  }

  /** Executes the merge group in one backend call and completes its requests. */
  private runGroup(): void {
    const n = this.groupCount;
    if (n === 0) return;
    const kind = this.groupKind;
    const views = this.groupViews;
    const ok = this.transfer(kind, this.reqOffset[0], views, 0, views.length);
    if (!ok && n > 1) {
      // Find which requests fail: redo them one by one (reads and writes are idempotent).
      for (let k = 0; k < n; k++) {
        const good = this.transfer(kind, this.reqOffset[k], views, this.reqView[k], this.reqView[k + 1]);
        this.completeGrouped(k, kind, good);
      }
    } else {
      for (let k = 0; k < n; k++) this.completeGrouped(k, kind, ok);
    }
    views.length = 0;
    this.groupCount = 0;
    this.groupBytes = 0;
    this.groupKind = GROUP_NONE;
  }

  private completeGrouped(k: number, kind: number, ok: boolean): void {
    const bytes = this.reqBytes[k];
    if (kind === VIRTIO_BLK_T_IN) {
      this.stats.reads++;
      if (ok) this.stats.bytesRead += bytes;
      this.completeNow(this.reqHead[k], this.reqStatus[k], ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, ok ? bytes + 1 : 1);
    } else {
      this.stats.writes++;
      if (ok) this.stats.bytesWritten += bytes;
      this.completeNow(this.reqHead[k], this.reqStatus[k], ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
    }
  }

  /** One backend data call over views[from, to); false if the backend threw. */
  private transfer(kind: number, offset: number, views: Uint8Array[], from: number, to: number): boolean {
    if (from === to) return true;
    const list = from === 0 && to === views.length ? views : views.slice(from, to);
    this.stats.backendCalls++;
    try {
      if (kind === VIRTIO_BLK_T_IN) this.readInto(offset, list);
      else this.writeFrom(offset, list);
      return true;
    } catch (err) {
      this.noteHostError(err);
      return false;
    }
  }

  private readInto(offset: number, list: Uint8Array[]): void {
    const b = this.backend;
    if (list.length === 1) return b.read(offset, list[0]);
    if (b.readv) return b.readv(offset, list);
    if (allAligned(list)) {
      for (const v of list) { b.read(offset, v); offset += v.length; }
      return;
    }
    const tmp = this.bounceOf(totalBytes(list)); // odd-sized pieces: one aligned read, then scatter
    b.read(offset, tmp);
    let pos = 0;
    for (const v of list) { v.set(tmp.subarray(pos, pos + v.length)); pos += v.length; }
  }

  private writeFrom(offset: number, list: Uint8Array[]): void {
    const b = this.backend;
    if (list.length === 1) return b.write(offset, list[0]);
    if (b.writev) return b.writev(offset, list);
    if (allAligned(list)) {
      for (const v of list) { b.write(offset, v); offset += v.length; }
      return;
    }
    const tmp = this.bounceOf(totalBytes(list)); // odd-sized pieces: gather, then one aligned write
    let pos = 0;
    for (const v of list) { tmp.set(v, pos); pos += v.length; }
    b.write(offset, tmp);
  }

  /** Keeps the first backend error (see hostError). */
  private noteHostError(err: unknown): void {
    if (this.hostError === null) this.hostError = err instanceof Error ? err : new Error(String(err));
  }

  private bounceOf(bytes: number): Uint8Array {
    if (this.bounce.length < bytes) this.bounce = new Uint8Array(bytes);
    return this.bounce.subarray(0, bytes);
  }

  // ---- FLUSH, GET_ID, DISCARD, WRITE_ZEROES ----------------------------------------------

  private flush(head: number, statusAddr: number): void {
    this.stats.flushes++;
    let status = VIRTIO_BLK_S_OK;
    try {
      this.backend.flush();
    } catch (err) {
      this.noteHostError(err);
      status = VIRTIO_BLK_S_IOERR;
    }
    this.completeNow(head, statusAddr, status);
  }

  private getId(head: number, statusAddr: number): void {
    this.stats.getIds++;
    const room = Math.min(this.writableBytes - 1, VIRTIO_BLK_ID_BYTES);
    let written = 0;
    for (let i = this.firstWritable; i < this.nseg && written < room; i++) {
      const n = Math.min(this.segLen[i], room - written);
      const a = this.segAddr[i];
      for (let j = 0; j < n; j++) this.u8[a + j] = this.id[written + j];
      written += n;
    }
    this.completeNow(head, statusAddr, VIRTIO_BLK_S_OK, written + 1);
  }

  private discardOrZero(head: number, type: number, statusAddr: number): void {
    const isDiscard = type === VIRTIO_BLK_T_DISCARD;
    if (isDiscard) this.stats.discards++; else this.stats.writeZeroes++;
    const bytes = this.readableBytes - REQ_HDR_SIZE;
    const nseg = bytes / DWZ_SEG_SIZE;
    if (bytes === 0 || bytes % DWZ_SEG_SIZE !== 0 || nseg > DWZ_SEG_MAX) {
      this.completeNow(head, statusAddr, VIRTIO_BLK_S_IOERR);
      return;
    }
    const status = this.checkSegments(isDiscard, nseg);
    if (status !== VIRTIO_BLK_S_OK) {
      this.completeNow(head, statusAddr, status);
      return;
    }
    let total = 0;
    try {
      for (let s = 0; s < nseg; s++) total += this.applySegment(isDiscard, s);
    } catch {
      this.completeNow(head, statusAddr, VIRTIO_BLK_S_IOERR);
      return;
    }
    if (isDiscard) this.stats.bytesDiscarded += total; else this.stats.bytesZeroed += total;
    this.completeNow(head, statusAddr, VIRTIO_BLK_S_OK);
  }

  /** Validates every segment before any is applied, so a bad request changes nothing. */
  private checkSegments(isDiscard: boolean, nseg: number): number {
    for (let s = 0; s < nseg; s++) {
      const seg = this.segment(s);
      const flags = seg.getUint32(12, true);
      if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0) return VIRTIO_BLK_S_UNSUPP; // unknown flag
      if (isDiscard && flags !== 0) return VIRTIO_BLK_S_UNSUPP; // unmap is defined for WRITE_ZEROES only
      const hi = seg.getUint32(4, true);
      const sector = hi < 0x200000 ? hi * 0x100000000 + seg.getUint32(0, true) : Infinity;
      const end = (sector + seg.getUint32(8, true)) * SECTOR_SIZE;
      if (!(end <= this.backend.sizeBytes)) return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
  }

  /** Applies segment `s` (already validated); returns its length in bytes. */
  private applySegment(isDiscard: boolean, s: number): number {
    const seg = this.segment(s);
    const offset = (seg.getUint32(4, true) * 0x100000000 + seg.getUint32(0, true)) * SECTOR_SIZE;
    const length = seg.getUint32(8, true) * SECTOR_SIZE;
    if (length === 0) return 0;
    if (isDiscard) this.backend.discard(offset, length);
    else this.zeroRange(offset, length);
    return length;
  }

  /** A view on discard/write-zeroes segment `s` (copied into the scratch buffer). */
  private segment(s: number): DataView {
    this.gatherReadable(REQ_HDR_SIZE + s * DWZ_SEG_SIZE);
    return this.scratchView;
  }

  private zeroRange(offset: number, length: number): void {
    const b = this.backend;
    if (b.writeZeroes) return b.writeZeroes(offset, length);
    if (this.zero.length === 0) this.zero = new Uint8Array(MERGE_MAX_BYTES / 16);
    for (let pos = 0; pos < length; pos += this.zero.length) {
      const n = Math.min(this.zero.length, length - pos);
      b.write(offset + pos, this.zero.subarray(0, n));
    }
  }

  // ---- completion ------------------------------------------------------------------------

  /**
   * Writes `status` at statusAddr (if any) and the used element {head, len}. `len` counts the
   * bytes written into driver buffers including the status byte (default 1; 0 without status).
   */
  private completeNow(head: number, statusAddr: number, status: number, len = statusAddr >= 0 ? 1 : 0): void {
    if (statusAddr >= 0) this.u8[statusAddr] = status;
    if (status === VIRTIO_BLK_S_IOERR) this.stats.ioErrors++;
    else if (status === VIRTIO_BLK_S_UNSUPP) this.stats.unsupported++;
    const e = this.usedAddr + 4 + USED_ELEM_SIZE * (this.usedIdx & (this.queueSize - 1));
    this.dv.setUint32(e, head, true);
    this.dv.setUint32(e + 4, len, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
  }
}

function allAligned(list: Uint8Array[]): boolean {
  for (const v of list) if (v.length % SECTOR_SIZE !== 0) return false;
  return true;
}

function totalBytes(list: Uint8Array[]): number {
  let n = 0;
  for (const v of list) n += v.length;
  return n;
}
