// host/web/volatile.ts -- VolatileCacheBackend: a disk's volatile write cache in front of any
// BlockBackend, so the page can pull the plug: what was written after the last completed FLUSH
// is lost (or only partly reaches the media, torn at sector boundaries).
//
// Layer: web role (portable: no DOM, no node:*), a BlockBackend wrapper like the recorder
// (host/crash/recorder.ts); host/web/system.ts puts it between the virtio-blk device and the
// OPFS (or memory) backend. Interface: new VolatileCacheBackend(inner), the BlockBackend calls,
// pending() (what a cut would lose now), powerCut({ mode, seed }) -> PowerCutReport.
// Rules (the disk model of DESIGN §3, the one host/crash/crashstates.ts builds states from):
//  - a write completes into the cache: reads see it at once, the media (inner) only at FLUSH;
//  - FLUSH writes the cache's newest copy of every dirty sector to inner (in ascending runs,
//    one inner call per run: order inside an epoch is not observable after the barrier),
//    then flushes inner, then empties the cache: only then is the epoch durable;
//  - DISCARD and WRITE_ZEROES are cached too: a discard drops the cached sectors of its range
//    and reaches inner at FLUSH (before the runs); write-zeroes is a write of zero sectors
//    (so it zeroes an OPFS file too, whose discard is a no-op);
//  - a power cut never flushes the cache: mode "drop" loses every pending write; mode
//    "random" cuts the pending writes into CRASH_UNIT_BYTES units (as crash states do) and,
//    seeded, lets each unit reach the media whole, not at all, or torn (some of its
//    sectors); surviving units land in issue order (the later copy of a sector wins), then
//    inner is flushed (what reached the media stays). After a cut every call throws EBADF
//    until the wrapper is dropped: the machine is off.

import { BlockBackend, BlockError, SECTOR_SIZE, checkRange, totalLength } from "../vmm/blockdev.js";
import { CRASH_UNIT_BYTES } from "../crash/crashstates.js";
import { Rng } from "../crash/rng.js";

/** Sectors in one crash unit (a kernel block). */
const UNIT_SECTORS = CRASH_UNIT_BYTES / SECTOR_SIZE;
/** Most bytes the cache holds before it writes back on its own (a disk's cache is bounded too). */
export const VOLATILE_CACHE_MAX_BYTES = 256 << 20;
/** A random cut: the chance (per mille) that a pending unit reaches the media at all. */
const SURVIVE_PER_MILLE = 500;
/** A random cut: the chance (per mille) that a surviving unit of several sectors is torn. */
const TORN_PER_MILLE = 250;

/** How a power cut treats the pending writes. */
export type PowerCutMode = "drop" | "random";

/** What a power cut did to the writes after the last FLUSH. */
export interface PowerCutReport {
  mode: PowerCutMode;
  /** Seed of a random cut (0 for drop). */
  seed: number;
  /** Writes (backend calls, after the device merged requests) pending at the cut. */
  pendingWrites: number;
  /** Units (CRASH_UNIT_BYTES pieces of those writes) pending at the cut. */
  pendingUnits: number;
  /** Units that reached the media whole. */
  survived: number;
  /** Units that reached the media in only some of their sectors. */
  torn: number;
  /** Units lost. */
  dropped: number;
  /** Sectors written to the media by the cut. */
  sectorsWritten: number;
  /** Discards pending at the cut (lost: a discard is a hint). */
  discards: number;
}

/** One cached write, in issue order: its device offset and a private copy of the bytes. */
interface PendingWrite { offset: number; data: Uint8Array }

/** A BlockBackend whose writes stay volatile until FLUSH. */
export class VolatileCacheBackend implements BlockBackend {
  readonly sizeBytes: number;
  /** Newest cached copy of each dirty sector: a 512-byte view into a PendingWrite's data. */
  private readonly sectors = new Map<number, Uint8Array>();
  /** Cached writes in issue order (for a random cut). */
  private writes: PendingWrite[] = [];
  /** Cached discards: [offset, length] pairs in issue order. */
  private discards: [number, number][] = [];
  private cachedBytes = 0;
  private off = false;
  /** Completed FLUSHes (the page shows when the last one was). */
  flushes = 0;
  /** Writes taken since the wrapper was made. */
  writeCount = 0;
  /** An armed cut: the power goes off right after write number `at` completes into the cache. */
  private armed: { at: number; mode: PowerCutMode; seed: number } | null = null;
  /** The report of the cut, once the power is off. */
  lastCut: PowerCutReport | null = null;

  constructor(readonly inner: BlockBackend) { this.sizeBytes = inner.sizeBytes; }

  /** Writes and bytes a power cut would lose now. */
  pending(): { writes: number; bytes: number; sectors: number; discards: number } {
    return { writes: this.writes.length, bytes: this.cachedBytes, sectors: this.sectors.size, discards: this.discards.length };
  }

  /**
   * Arms a cut in the middle of the work to come: the power goes off right after the
   * `afterWrites`-th write from now completes into the cache (later calls throw EBADF, as a
   * dead disk would fail them). `afterWrites` >= 1.
   */
  armCut(afterWrites: number, opts: { mode?: PowerCutMode; seed?: number } = {}): void {
    if (!Number.isSafeInteger(afterWrites) || afterWrites < 1) throw new RangeError(`armCut: afterWrites must be >= 1, got ${afterWrites}`);
    this.armed = { at: this.writeCount + afterWrites, mode: opts.mode ?? "drop", seed: opts.seed ?? 1 };
  }

  /** True once the power is off. */
  get isOff(): boolean { return this.off; }

  read(offset: number, dst: Uint8Array): void {
    this.live();
    this.inner.read(offset, dst);
    if (this.sectors.size === 0) return;
    const first = offset / SECTOR_SIZE, n = dst.length / SECTOR_SIZE;
    for (let i = 0; i < n; i++) {
      const s = this.sectors.get(first + i);
      if (s !== undefined) dst.set(s, i * SECTOR_SIZE);
    }
  }

  readv(offset: number, dsts: Uint8Array[]): void {
    let pos = offset;
    for (const d of dsts) {
      if (d.length % SECTOR_SIZE === 0) { this.read(pos, d); pos += d.length; continue; }
      // a piece that is not whole sectors: read the whole range once and scatter it
      const all = new Uint8Array(totalLength(dsts));
      this.read(offset, all);
      let p = 0;
      for (const x of dsts) { x.set(all.subarray(p, p + x.length)); p += x.length; }
      return;
    }
  }

  write(offset: number, src: Uint8Array): void {
    this.live();
    checkRange(this.sizeBytes, offset, src.length);
    this.cache(offset, src.slice());
  }

  writev(offset: number, srcs: Uint8Array[]): void {
    this.live();
    const n = totalLength(srcs);
    checkRange(this.sizeBytes, offset, n);
    const data = new Uint8Array(n);
    let p = 0;
    for (const s of srcs) { data.set(s, p); p += s.length; }
    this.cache(offset, data);
  }

  /** A write of zero sectors (OPFS cannot punch holes, so this is never a discard below). */
  writeZeroes(offset: number, length: number): void {
    this.live();
    checkRange(this.sizeBytes, offset, length);
    this.cache(offset, new Uint8Array(length));
  }

  discard(offset: number, length: number): void {
    this.live();
    checkRange(this.sizeBytes, offset, length);
    this.discardCached(offset, length);
    this.discards.push([offset, length]);
  }

  /**
   * The durability barrier: the pending discards, then every dirty sector's newest copy in
   * ascending runs, reach inner; inner is flushed; the cache empties. An inner failure
   * propagates and leaves the cache as it was (the FLUSH did not complete).
   */
  flush(): void {
    this.live();
    for (const [o, l] of this.discards) this.inner.discard(o, l);
    const keys = [...this.sectors.keys()].sort((a, b) => a - b);
    let i = 0;
    while (i < keys.length) {
      let j = i + 1;
      while (j < keys.length && keys[j] === keys[j - 1] + 1) j++;
      this.writeRun(keys, i, j);
      i = j;
    }
    this.inner.flush();
    this.clear();
    this.flushes++;
  }

  /**
   * Cuts the power: the cache is lost, except (mode "random") the units the seeded draw lets
   * through, whole or torn, which land on inner in issue order; inner is then flushed and
   * closed. Every later call throws EBADF. Returns what happened to the pending writes.
   */
  powerCut(opts: { mode?: PowerCutMode; seed?: number } = {}): PowerCutReport {
    this.live();
    const mode = opts.mode ?? "drop";
    const seed = mode === "random" ? (opts.seed ?? 1) >>> 0 : 0;
    const r: PowerCutReport = { mode, seed, pendingWrites: 0, pendingUnits: 0, survived: 0, torn: 0, dropped: 0, sectorsWritten: 0, discards: this.discards.length };
    const writes = this.writes;
    r.pendingWrites = writes.length;
    const rng = new Rng(seed || 1);
    for (const w of writes) {
      for (let u = 0; u < w.data.length; u += CRASH_UNIT_BYTES) {
        const unit = w.data.subarray(u, Math.min(w.data.length, u + CRASH_UNIT_BYTES));
        r.pendingUnits++;
        if (mode === "drop" || rng.below(1000) >= SURVIVE_PER_MILLE) { r.dropped++; continue; }
        const nsec = unit.length / SECTOR_SIZE;
        const mask = nsec > 1 && rng.below(1000) < TORN_PER_MILLE ? tornMask(rng, nsec) : fullMask(nsec);
        if (mask === fullMask(nsec)) r.survived++; else r.torn++;
        for (let s = 0; s < nsec; s++) {
          if ((mask & (1 << s)) === 0) continue;
          this.inner.write(w.offset + u + s * SECTOR_SIZE, unit.subarray(s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE));
          r.sectorsWritten++;
        }
      }
    }
    if (r.sectorsWritten > 0) this.inner.flush();
    this.clear();
    this.off = true;
    this.armed = null;
    try { this.inner.close(); } catch { /* already closed */ }
    this.lastCut = r;
    return r;
  }

  /** Closes inner. A close is not a FLUSH: a clean unmount flushes before it. */
  close(): void {
    if (this.off) return;
    this.off = true;
    this.clear();
    this.inner.close();
  }

  private cache(offset: number, data: Uint8Array): void {
    if (this.cachedBytes + data.length > VOLATILE_CACHE_MAX_BYTES) this.flush(); // a full cache writes back, as a disk's does
    this.writes.push({ offset, data });
    this.cachedBytes += data.length;
    const first = offset / SECTOR_SIZE;
    for (let i = 0; i < data.length / SECTOR_SIZE; i++) this.sectors.set(first + i, data.subarray(i * SECTOR_SIZE, (i + 1) * SECTOR_SIZE));
    this.writeCount++;
    if (this.armed !== null && this.writeCount >= this.armed.at) {
      const { mode, seed } = this.armed;
      this.armed = null;
      this.powerCut({ mode, seed });
    }
  }

  private discardCached(offset: number, length: number): void {
    const first = offset / SECTOR_SIZE;
    for (let i = 0; i < length / SECTOR_SIZE; i++) this.sectors.delete(first + i);
  }

  /** Writes the cached sectors keys[i..j) (consecutive) to inner in one call. */
  private writeRun(keys: number[], i: number, j: number): void {
    const buf = new Uint8Array((j - i) * SECTOR_SIZE);
    for (let k = i; k < j; k++) buf.set(this.sectors.get(keys[k])!, (k - i) * SECTOR_SIZE);
    this.inner.write(keys[i] * SECTOR_SIZE, buf);
  }

  private clear(): void {
    this.sectors.clear();
    this.writes = [];
    this.discards = [];
    this.cachedBytes = 0;
  }

  private live(): void {
    if (this.off) throw new BlockError("EBADF", "the power is off (volatile cache cut)");
  }
}

/** Every sector of an n-sector unit. */
function fullMask(n: number): number { return n >= 31 ? 0x7fffffff : (1 << n) - 1; }

/** A seeded sector mask of an n-sector unit (1 < n <= UNIT_SECTORS) that is neither none nor all. */
function tornMask(rng: Rng, n: number): number {
  const all = fullMask(Math.min(n, UNIT_SECTORS));
  return 1 + rng.below(all - 1); // 1 .. all-1
}
