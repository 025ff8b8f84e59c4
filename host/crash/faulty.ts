// host/crash/faulty.ts -- the fault injector: a BlockBackend that stacks on any backend and makes
// it misbehave on a seeded schedule, the way failing disks do.
//
// Layer: a wrapper between the virtio-blk device model (host/vmm/virtio.ts) and a storage
// backend. Interface: new FaultBackend(inner, schedule), then the BlockBackend calls;
// `events` and `counts` say what was injected; `enabled` arms and disarms it.
//
//   fault            request  effect (the request still reports success unless noted)
//   lost write       write    nothing is stored
//   misdirected      write    the data is stored at another 4 KiB-aligned offset instead;
//                             the intended sectors keep their old contents
//   torn write       write    only some of the request's 512-byte sectors are stored
//   write bit flip   write    the stored copy has one bit flipped (the caller's buffer is not)
//   read error       read     throws BlockError('EIO'); virtio completes the request with
//                             VIRTIO_BLK_S_IOERR
//   read bit flip    read     the returned bytes have one bit flipped (the disk is unchanged)
//
// Rules:
//  - explicit sector lists act on every request that touches a listed sector; probabilities
//    act per request (restricted to `sectorRange`, after `skipWrites` / `skipReads` requests,
//    and to the writes `writeFilter` accepts); at most one fault per request, explicit before random, in the table's order;
//  - every random choice comes from one seeded generator consumed in request order, so the
//    same seed and the same request sequence inject the same faults;
//  - flush and discard pass through untouched; readv/writev/writeZeroes are not offered, so
//    the virtio device splits vectors into read/write calls that all pass through the schedule;
//  - the schedule is checked at construction: a bad value throws RangeError.

import { BlockBackend, BlockError, SECTOR_SIZE, checkRange } from "../vmm/blockdev.js";
import { Rng } from "./rng.js";

/** Bytes of the block a misdirected write lands on (aligned to it): the kernel's block. */
export const MISDIRECT_ALIGN_BYTES = 4096;
/** Most events kept in FaultBackend.events (counts keep counting past it). */
export const FAULT_EVENTS_MAX = 10_000;
/** Most sectors in one explicit list: lists are for chosen sectors, not whole disks. */
export const FAULT_LIST_MAX = 1_000_000;

/** What a FaultBackend injected. */
export type FaultKind = "lost" | "misdirected" | "torn" | "writeBitFlip" | "readError" | "readBitFlip";

/** One injected fault. Offsets and lengths in bytes. */
export interface FaultEvent {
  /** Request number of its kind (the n-th write or read since construction, from 0). */
  request: number;
  kind: FaultKind;
  /** The request's byte offset and length. */
  offset: number;
  length: number;
  /** misdirected: where the data went (byte offset). */
  target?: number;
  /** torn: the sectors of the request that were stored (sector numbers on the device). */
  storedSectors?: number[];
  /** bit flips: the flipped bit as a byte offset on the device and a bit number 0..7. */
  byte?: number;
  bit?: number;
}

/** The schedule of a FaultBackend. Probabilities are per request, 0..1 (default 0). */
export interface FaultSchedule {
  /** Seed of every random choice (default 1). */
  seed?: number;
  lostWrite?: number;
  misdirectedWrite?: number;
  tornWrite?: number;
  writeBitFlip?: number;
  readError?: number;
  readBitFlip?: number;
  /** Writes touching one of these sectors are acknowledged and dropped. */
  lostWriteSectors?: Iterable<number>;
  /** A write whose first sector is `from` lands at sector `to` instead ([from, to] pairs). */
  misdirectedWrites?: Iterable<readonly [number, number]>;
  /** These sectors of any write are not stored; the write's other sectors are. */
  tornWriteSectors?: Iterable<number>;
  /** A write touching one of these sectors stores it with one bit flipped. */
  writeBitFlipSectors?: Iterable<number>;
  /** Reads touching one of these sectors throw BlockError('EIO'). */
  readErrorSectors?: Iterable<number>;
  /** Reads touching one of these sectors return it with one bit flipped. */
  readBitFlipSectors?: Iterable<number>;
  /** Random faults hit only requests overlapping sectors [start, end). Default: the device. */
  sectorRange?: readonly [number, number];
  /** Random write faults start after this many writes (e.g. to let mkfs through). Default 0. */
  skipWrites?: number;
  /**
   * Random write faults hit only writes this accepts (offset in bytes, the data), e.g. only
   * file data, never metadata. Default: every write. Explicit lists ignore it.
   */
  writeFilter?: (offset: number, src: Uint8Array) => boolean;
  /** Random read faults start after this many reads. Default 0. */
  skipReads?: number;
}


function probability(name: string, v: number | undefined): number {
  const p = v ?? 0;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`fault schedule: ${name} ${v} is not a probability in 0..1`);
  return p;
}

function sectorSet(name: string, list: Iterable<number> | undefined, sectors: number): Set<number> {
  const out = new Set<number>();
  if (list === undefined) return out;
  for (const s of list) {
    if (!Number.isInteger(s) || s < 0 || s >= sectors) throw new RangeError(`fault schedule: ${name} sector ${s} outside 0..${sectors - 1}`);
    if (out.size >= FAULT_LIST_MAX) throw new RangeError(`fault schedule: ${name} has more than ${FAULT_LIST_MAX} sectors`);
    out.add(s);
  }
  return out;
}

/**
 * A BlockBackend that injects faults into requests to `inner` on a seeded schedule (see the
 * file header). Errors from `inner` propagate unchanged.
 */
export class FaultBackend implements BlockBackend {
  readonly sizeBytes: number;
  /** The backend below. */
  readonly inner: BlockBackend;
  /** When false every request passes through untouched (and consumes no randomness). */
  enabled = true;
  /** Injected faults in order, the first FAULT_EVENTS_MAX of them. */
  readonly events: FaultEvent[] = [];
  /** Injected faults by kind, all of them. */
  readonly counts: Record<FaultKind, number> = { lost: 0, misdirected: 0, torn: 0, writeBitFlip: 0, readError: 0, readBitFlip: 0 };
  /** Writes and reads seen so far (request numbers of the next ones). */
  writes = 0;
  reads = 0;

  private readonly rng: Rng;
  private readonly p: { lost: number; misdirected: number; torn: number; writeBitFlip: number; readError: number; readBitFlip: number };
  private readonly lostSet: Set<number>;
  private readonly misdirectMap: Map<number, number>;
  private readonly tornSet: Set<number>;
  private readonly wflipSet: Set<number>;
  private readonly rerrSet: Set<number>;
  private readonly rflipSet: Set<number>;
  private readonly rangeStart: number;
  private readonly rangeEnd: number;
  private readonly skipWrites: number;
  private readonly skipReads: number;
  private readonly writeFilter: ((offset: number, src: Uint8Array) => boolean) | null;
  private scratch = new Uint8Array(0);

  /**
   * Stacks on `inner` with `schedule`. Throws RangeError for a probability outside 0..1, a
   * listed sector outside the device, or a bad range or skip count. (An explicit
   * misdirection whose target range would run past the device end fails that write with
   * BlockError('EINVAL') when it happens.)
   */
  constructor(inner: BlockBackend, schedule: FaultSchedule = {}) {
    this.inner = inner;
    this.sizeBytes = inner.sizeBytes;
    const sectors = inner.sizeBytes / SECTOR_SIZE;
    this.rng = new Rng(schedule.seed ?? 1);
    this.p = {
      lost: probability("lostWrite", schedule.lostWrite),
      misdirected: probability("misdirectedWrite", schedule.misdirectedWrite),
      torn: probability("tornWrite", schedule.tornWrite),
      writeBitFlip: probability("writeBitFlip", schedule.writeBitFlip),
      readError: probability("readError", schedule.readError),
      readBitFlip: probability("readBitFlip", schedule.readBitFlip),
    };
    this.lostSet = sectorSet("lostWriteSectors", schedule.lostWriteSectors, sectors);
    this.tornSet = sectorSet("tornWriteSectors", schedule.tornWriteSectors, sectors);
    this.wflipSet = sectorSet("writeBitFlipSectors", schedule.writeBitFlipSectors, sectors);
    this.rerrSet = sectorSet("readErrorSectors", schedule.readErrorSectors, sectors);
    this.rflipSet = sectorSet("readBitFlipSectors", schedule.readBitFlipSectors, sectors);
    this.misdirectMap = new Map();
    for (const [from, to] of schedule.misdirectedWrites ?? []) {
      for (const s of [from, to]) {
        if (!Number.isInteger(s) || s < 0 || s >= sectors) throw new RangeError(`fault schedule: misdirectedWrites sector ${s} outside 0..${sectors - 1}`);
      }
      this.misdirectMap.set(from, to);
    }
    const [rs, re] = schedule.sectorRange ?? [0, sectors];
    if (!Number.isInteger(rs) || !Number.isInteger(re) || rs < 0 || re > sectors || rs >= re) {
      throw new RangeError(`fault schedule: sectorRange [${rs}, ${re}) is not a non-empty range inside 0..${sectors}`);
    }
    this.rangeStart = rs;
    this.rangeEnd = re;
    this.skipWrites = schedule.skipWrites ?? 0;
    this.skipReads = schedule.skipReads ?? 0;
    this.writeFilter = schedule.writeFilter ?? null;
    if (!Number.isInteger(this.skipWrites) || this.skipWrites < 0) throw new RangeError(`fault schedule: skipWrites ${schedule.skipWrites}`);
    if (!Number.isInteger(this.skipReads) || this.skipReads < 0) throw new RangeError(`fault schedule: skipReads ${schedule.skipReads}`);
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** Reads through `inner`, then applies a read fault if the schedule says so. */
  read(offset: number, dst: Uint8Array): void {
    checkRange(this.sizeBytes, offset, dst.length);
    const req = this.reads++;
    if (!this.enabled || dst.length === 0) { this.inner.read(offset, dst); return; }
    const first = offset / SECTOR_SIZE;
    const n = dst.length / SECTOR_SIZE;
    const errSector = this.firstListed(this.rerrSet, first, n);
    if (errSector >= 0) this.readError(req, offset, dst.length, errSector);
    const flipSector = this.firstListed(this.rflipSet, first, n);
    const random = req >= this.skipReads && this.inRange(first, n);
    // one fault per request: a listed bit flip takes the request, so no random error on it
    if (flipSector < 0 && random && this.p.readError > 0 && this.rng.unit() < this.p.readError) this.readError(req, offset, dst.length, -1);
    this.inner.read(offset, dst);
    if (flipSector >= 0) {
      this.flipIn(req, "readBitFlip", offset, dst, (flipSector - first) * SECTOR_SIZE, SECTOR_SIZE);
    } else if (random && this.p.readBitFlip > 0 && this.rng.unit() < this.p.readBitFlip) {
      this.flipIn(req, "readBitFlip", offset, dst, 0, dst.length);
    }
  }

  // ---- writes --------------------------------------------------------------------------------

  /** Writes `src` at `offset` through `inner`, or injects the scheduled write fault instead. */
  write(offset: number, src: Uint8Array): void {
    checkRange(this.sizeBytes, offset, src.length);
    const req = this.writes++;
    if (!this.enabled || src.length === 0) { this.inner.write(offset, src); return; }
    const first = offset / SECTOR_SIZE;
    const n = src.length / SECTOR_SIZE;
    // explicit lists first, in the table's order
    if (this.firstListed(this.lostSet, first, n) >= 0) return this.lose(req, offset, src.length);
    const to = this.misdirectMap.get(first);
    if (to !== undefined) return this.misdirect(req, offset, src, to * SECTOR_SIZE);
    if (this.firstListed(this.tornSet, first, n) >= 0) {
      const keep: boolean[] = [];
      for (let i = 0; i < n; i++) keep.push(!this.tornSet.has(first + i));
      return this.tear(req, offset, src, keep);
    }
    const flipSector = this.firstListed(this.wflipSet, first, n);
    if (flipSector >= 0) return this.flipWrite(req, offset, src, (flipSector - first) * SECTOR_SIZE, SECTOR_SIZE);
    // random faults: one draw per configured kind, in order; the first hit wins
    if (req >= this.skipWrites && this.inRange(first, n) && (this.writeFilter === null || this.writeFilter(offset, src))) {
      if (this.p.lost > 0 && this.rng.unit() < this.p.lost) return this.lose(req, offset, src.length);
      if (this.p.misdirected > 0 && this.rng.unit() < this.p.misdirected) {
        const target = this.randomTarget(offset, src.length);
        if (target >= 0) return this.misdirect(req, offset, src, target);
      }
      if (this.p.torn > 0 && n >= 2 && this.rng.unit() < this.p.torn) {
        // a random non-empty proper subset of the sectors reaches the disk
        const keep: boolean[] = [];
        let kept = 0;
        for (let i = 0; i < n; i++) { const k = (this.rng.next() & 1) === 1; keep.push(k); if (k) kept++; }
        if (kept === 0) keep[this.rng.below(n)] = true;
        else if (kept === n) keep[this.rng.below(n)] = false;
        return this.tear(req, offset, src, keep);
      }
      if (this.p.writeBitFlip > 0 && this.rng.unit() < this.p.writeBitFlip) return this.flipWrite(req, offset, src, 0, src.length);
    }
    this.inner.write(offset, src);
  }

  /** Passes through (durability is the inner backend's business; faults model the media). */
  flush(): void { this.inner.flush(); }
  /** Passes through. */
  discard(offset: number, length: number): void { this.inner.discard(offset, length); }
  /** Closes `inner`. */
  close(): void { this.inner.close(); }

  // ---- internals -----------------------------------------------------------------------------

  private record(e: FaultEvent): void {
    this.counts[e.kind]++;
    if (this.events.length < FAULT_EVENTS_MAX) this.events.push(e);
  }

  private inRange(first: number, n: number): boolean {
    return first < this.rangeEnd && first + n > this.rangeStart;
  }

  /** First sector of [first, first + n) in `set`, or -1. */
  private firstListed(set: Set<number>, first: number, n: number): number {
    if (set.size === 0) return -1;
    for (let i = 0; i < n; i++) if (set.has(first + i)) return first + i;
    return -1;
  }

  private readError(req: number, offset: number, length: number, sector: number): never {
    this.record({ request: req, kind: "readError", offset, length });
    throw new BlockError("EIO", sector >= 0 ? `injected read error at sector ${sector}` : `injected read error at byte ${offset}`);
  }

  private lose(req: number, offset: number, length: number): void {
    this.record({ request: req, kind: "lost", offset, length });
  }

  private misdirect(req: number, offset: number, src: Uint8Array, target: number): void {
    checkRange(this.sizeBytes, target, src.length); // an explicit target too close to the end is a schedule bug
    this.record({ request: req, kind: "misdirected", offset, length: src.length, target });
    this.inner.write(target, src);
  }

  /** A random aligned offset other than `offset` where `length` bytes fit, or -1 if none. */
  private randomTarget(offset: number, length: number): number {
    const slots = Math.floor((this.sizeBytes - length) / MISDIRECT_ALIGN_BYTES) + 1;
    if (slots < 2) return -1;
    let t = this.rng.below(slots) * MISDIRECT_ALIGN_BYTES;
    if (t === offset) t = t + MISDIRECT_ALIGN_BYTES <= this.sizeBytes - length ? t + MISDIRECT_ALIGN_BYTES : t - MISDIRECT_ALIGN_BYTES;
    return t;
  }

  /** Stores the sectors of `src` whose `keep` flag is set, in runs. */
  private tear(req: number, offset: number, src: Uint8Array, keep: boolean[]): void {
    const first = offset / SECTOR_SIZE;
    const stored: number[] = [];
    let i = 0;
    while (i < keep.length) {
      if (!keep[i]) { i++; continue; }
      let j = i;
      while (j < keep.length && keep[j]) { stored.push(first + j); j++; }
      this.inner.write(offset + i * SECTOR_SIZE, src.subarray(i * SECTOR_SIZE, j * SECTOR_SIZE));
      i = j;
    }
    this.record({ request: req, kind: "torn", offset, length: src.length, storedSectors: stored });
  }

  /** Stores a copy of `src` with one random bit of bytes [from, from + span) flipped. */
  private flipWrite(req: number, offset: number, src: Uint8Array, from: number, span: number): void {
    if (this.scratch.length < src.length) this.scratch = new Uint8Array(src.length);
    const copy = this.scratch.subarray(0, src.length);
    copy.set(src);
    this.flipIn(req, "writeBitFlip", offset, copy, from, span);
    this.inner.write(offset, copy);
  }

  /** Flips one random bit of buf[from, from + span) and records it. */
  private flipIn(req: number, kind: "readBitFlip" | "writeBitFlip", offset: number, buf: Uint8Array, from: number, span: number): void {
    const at = from + this.rng.below(span);
    const bit = this.rng.below(8);
    buf[at] ^= 1 << bit;
    this.record({ request: req, kind, offset, length: buf.length, byte: offset + at, bit });
  }
}
