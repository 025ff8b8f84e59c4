// host/crash/crashstates.ts -- crash states: the disk images a power cut could leave behind, built
// from a write log (host/crash/recorder.ts) and the image the workload started from.
//
// Layer: above the recorder, below the crash checker. Interface: new CrashPlan(log, base,
// { seed }) indexes the log once; plan.generate({ maxStates, ... }) returns CrashState
// descriptions; state.backend() boots as a BlockBackend (an OverlayBackend over the durable
// image); plan.state(id) rebuilds one state from its id.
//
// The disk model (DESIGN §3): a write is durable after a completed FLUSH or when it is FUA;
// writes between two flushes (an epoch) may reach the disk in any order and any subset; a
// write may be torn at 512-byte sector boundaries. Epoch e is the writes after the e-th
// completed FLUSH and before the next one (epoch 0 before the first; the last epoch may end
// without a flush). For a cut during epoch e every write of epochs < e is on disk, and
//
//   state kind   id        image
//   flush        b<e>      every write of epochs < e, none of epoch e (the image right
//                          after flush e-1; b0 is the base image)
//   prefix       e<e>p<k>  + the first k units of epoch e
//   subset       e<e>s<j>  + subset j of epoch e's units (FUA units always in); j < 2^m - 2
//                          enumerates them all when the epoch has m <= SUBSET_EXHAUSTIVE_UNITS
//                          non-FUA units, else subset j is seeded random
//   drop         e<e>d<i>  + every unit of epoch e except its i-th non-FUA unit: the subsets
//                          that catch a missing FLUSH between two writes ("B reached the disk
//                          without A"), which random subsets of a large epoch rarely hit
//   torn         e<e>t<j>  + the units of epoch e before unit u, and unit u in only some of
//                          its sectors (u and the sectors seeded from j)
//
// A unit is a write cut at CRASH_UNIT_BYTES-aligned device offsets: the virtio device merges
// adjacent requests into one backend call, so one logged write is many 4 KiB requests of the
// kernel, each of which may persist alone. DISCARD and WRITE_ZEROES entries are one unit each
// and read as zeroes (MemoryBackend's behaviour for discard). When two included units write
// the same sector the later one in the log wins (a disk cache keeps the newest copy).
// Rules:
//  - nothing copies the image: the durable part of a state is a read-only LogImageBackend
//    that finds each sector's last durable writer in a per-sector history, and the in-flight
//    part is a Map from sector to a 512-byte view of the log's arena; an OverlayBackend puts
//    the state's own writes (journal replay at mount) in a private map on top;
//  - ids are stable: a state depends only on (log, seed, id), never on maxStates or the
//    other options, so (workload seed, state id) reproduces a failure;
//  - generation is bounded: at most maxStates states (flush states first), the rest spread
//    over the epochs by water-filling and sampled without replacement per epoch.

import { BlockBackend, BlockError, SECTOR_SIZE, checkRange } from "../vmm/blockdev.js";
import { LOG_DISCARD, LOG_FLUSH, LOG_WRITE, LOG_WRITE_ZEROES, type WriteLog } from "./recorder.js";
import { Rng } from "./rng.js";

/** Bytes of a crash unit: the kernel's block size; a logged write is cut at these boundaries. */
export const CRASH_UNIT_BYTES = 4096;
/** Sectors per full unit. */
const UNIT_SECTORS = CRASH_UNIT_BYTES / SECTOR_SIZE;
/** Largest maxStates accepted: bounds memory for the state list. */
export const CRASH_STATES_MAX = 1_000_000;
/** Default maxStates. */
export const DEFAULT_MAX_STATES = 1000;
/** Default random subsets per epoch (beyond the exhaustive small-epoch case). */
export const DEFAULT_SUBSETS_PER_EPOCH = 16;
/** Default torn-write states per epoch. */
export const DEFAULT_TORN_PER_EPOCH = 8;
/** Epochs with at most this many non-FUA units get every subset enumerated (2^m - 2 of them). */
export const SUBSET_EXHAUSTIVE_UNITS = 4;
/** Largest per-epoch count option: the ids e<e>s<j> and e<e>t<j> stay short. */
export const PER_EPOCH_MAX = 1_000_000;

/** What kind of crash a state models (see the table in the file header). */
export type CrashStateKind = "flush" | "prefix" | "subset" | "drop" | "torn";

/** Options of CrashPlan.generate(). */
export interface CrashStateOptions {
  /** At most this many states (1..CRASH_STATES_MAX, default DEFAULT_MAX_STATES). */
  maxStates?: number;
  /** Random subsets per epoch (0..PER_EPOCH_MAX, default DEFAULT_SUBSETS_PER_EPOCH). */
  subsetsPerEpoch?: number;
  /** Torn-write states per epoch (0..PER_EPOCH_MAX, default DEFAULT_TORN_PER_EPOCH). */
  tornPerEpoch?: number;
  /** In-flight states for every epoch (default) or only the last one (the epoch after the last flush). */
  epochs?: "all" | "last";
}

/** A torn unit: which sectors of it reached the disk. */
export interface TornUnit {
  /** Unit index (CrashPlan.unit()). */
  unit: number;
  /** Bit i set = sector i of the unit persisted; never all and never none of its sectors. */
  sectorMask: number;
}

// ---- seeded randomness ---------------------------------------------------------------------

/** A 32-bit integer hash (lowbias32): spreads seeds so neighbouring ids are unrelated. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}


const STREAM_SUBSET = 1, STREAM_TORN = 2, STREAM_SELECT = 3;
function rngFor(seed: number, epoch: number, stream: number, j: number): Rng {
  return new Rng(mix32(seed ^ mix32((epoch >>> 0) ^ mix32(stream ^ mix32(j >>> 0)))));
}

/** `r` distinct integers of [0, n), ascending (Floyd's algorithm: O(r) draws). */
function sample(rng: Rng, n: number, r: number): number[] {
  if (r >= n) return Array.from({ length: n }, (_, i) => i);
  const chosen = new Set<number>();
  for (let j = n - r; j < n; j++) {
    const t = rng.below(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** Unit kind flags. */
const U_FUA = 1, U_ZERO = 2;
/** 512 zero bytes, shared by every zeroed sector (never written: overlays are read-only). */
const ZERO_SECTOR = new Uint8Array(SECTOR_SIZE);

// ---- the plan: the log indexed once ----------------------------------------------------------

/** One epoch of the log: its units and the entries that bound it. */
export interface EpochInfo {
  /** Epoch number. */
  epoch: number;
  /** First unit of the epoch. */
  firstUnit: number;
  /** One past the last unit of the epoch. */
  endUnit: number;
  /** Entries [0, durableEntry) are on disk for any cut in this epoch (it is the index after the FLUSH that opened the epoch; 0 for epoch 0). */
  durableEntry: number;
  /** Index of the FLUSH that closes the epoch, or the log's length for a last epoch that no flush closes. */
  crashEntry: number;
  /** True when a FLUSH closes the epoch. */
  flushed: boolean;
}

/**
 * A write log indexed for crash-state generation: the log's writes cut into units, grouped
 * into epochs, and a per-sector history of the units that wrote each sector. Building it is
 * O(sectors written); it copies no data (units are views of the log's arena).
 */
export class CrashPlan {
  readonly log: WriteLog;
  /** The image before the workload (log.deviceBytes bytes); never modified. */
  readonly base: Uint8Array;
  /** Seed of every random choice; ids reproduce only under the same seed. */
  readonly seed: number;
  /** Units: entry, byte offset, byte length, flags (U_FUA, U_ZERO). */
  private readonly uEntry: Int32Array;
  private readonly uOffset: Float64Array;
  private readonly uLength: Float64Array;
  private readonly uFlags: Uint8Array;
  /** Views of each write entry's data (undefined for other kinds). */
  private readonly entryData: (Uint8Array | undefined)[];
  /** epochStart[e] = first unit of epoch e; epochStart[epochs] = unit count. */
  private readonly epochStart: Int32Array;
  /** Entry index of the FLUSH closing epoch e, or log.length. */
  private readonly epochFlush: Int32Array;
  /** Sector -> ascending unit indices that wrote it. */
  private readonly history: Map<number, number[]>;

  /**
   * Indexes `log` over `base` (the image before the workload, exactly log.deviceBytes long).
   * `seed` (an integer, default 1) drives every random subset and torn write. Throws
   * BlockError('EINVAL') if the base size differs from the log's device.
   */
  constructor(log: WriteLog, base: Uint8Array, opts: { seed?: number } = {}) {
    if (base.length !== log.deviceBytes) {
      throw new BlockError("EINVAL", `base image has ${base.length} bytes, the log's device ${log.deviceBytes}`);
    }
    this.log = log;
    this.base = base;
    this.seed = (opts.seed ?? 1) >>> 0;
    const uEntry: number[] = [], uOffset: number[] = [], uLength: number[] = [], uFlags: number[] = [];
    const epochStart: number[] = [0], epochFlush: number[] = [];
    this.entryData = new Array(log.length);
    const history = new Map<number, number[]>();
    const addHistory = (u: number, off: number, len: number) => {
      for (let s = off / SECTOR_SIZE, end = (off + len) / SECTOR_SIZE; s < end; s++) {
        const h = history.get(s);
        if (h === undefined) history.set(s, [u]); else h.push(u);
      }
    };
    for (let i = 0; i < log.length; i++) {
      const kind = log.kindOf(i);
      if (kind === LOG_FLUSH) {
        epochFlush.push(i);
        epochStart.push(uEntry.length);
        continue;
      }
      const off = log.offsetOf(i), len = log.lengthOf(i);
      if (len === 0) continue;
      if (kind === LOG_WRITE) {
        this.entryData[i] = log.dataOf(i);
        const fua = log.isFua(i) ? U_FUA : 0;
        for (let p = off; p < off + len;) {
          const next = Math.min(off + len, (Math.floor(p / CRASH_UNIT_BYTES) + 1) * CRASH_UNIT_BYTES);
          const u = uEntry.length;
          uEntry.push(i); uOffset.push(p); uLength.push(next - p); uFlags.push(fua);
          addHistory(u, p, next - p);
          p = next;
        }
      } else if (kind === LOG_DISCARD || kind === LOG_WRITE_ZEROES) {
        const u = uEntry.length;
        uEntry.push(i); uOffset.push(off); uLength.push(len); uFlags.push(U_ZERO);
        addHistory(u, off, len);
      }
    }
    epochFlush.push(log.length);
    epochStart.push(uEntry.length);
    this.uEntry = Int32Array.from(uEntry);
    this.uOffset = Float64Array.from(uOffset);
    this.uLength = Float64Array.from(uLength);
    this.uFlags = Uint8Array.from(uFlags);
    this.epochStart = Int32Array.from(epochStart);
    this.epochFlush = Int32Array.from(epochFlush);
    this.history = history;
  }

  /** Number of epochs (completed flushes + 1). */
  get epochCount(): number { return this.epochFlush.length; }
  /** Number of units (see the file header). */
  get unitCount(): number { return this.uEntry.length; }

  /** Unit `u`: its log entry, byte offset and length on the device, FUA, and whether it writes zeroes. */
  unit(u: number): { entry: number; offset: number; length: number; fua: boolean; zero: boolean } {
    if (!Number.isInteger(u) || u < 0 || u >= this.unitCount) throw new RangeError(`crash plan: unit ${u} outside 0..${this.unitCount - 1}`);
    return { entry: this.uEntry[u], offset: this.uOffset[u], length: this.uLength[u], fua: (this.uFlags[u] & U_FUA) !== 0, zero: (this.uFlags[u] & U_ZERO) !== 0 };
  }

  /** Epoch `e` (0..epochCount-1). Throws RangeError outside. */
  epoch(e: number): EpochInfo {
    if (!Number.isInteger(e) || e < 0 || e >= this.epochCount) throw new RangeError(`crash plan: epoch ${e} outside 0..${this.epochCount - 1}`);
    return {
      epoch: e, firstUnit: this.epochStart[e], endUnit: this.epochStart[e + 1],
      durableEntry: e === 0 ? 0 : this.epochFlush[e - 1] + 1, crashEntry: this.epochFlush[e],
      flushed: e < this.epochCount - 1,
    };
  }

  /** The epoch unit `u` belongs to. */
  epochOfUnit(u: number): number {
    let lo = 0, hi = this.epochCount - 1; // last e with epochStart[e] <= u
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.epochStart[mid] <= u) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /**
   * The image with units [0, units) applied over the base, as a read-only BlockBackend
   * (writes throw BlockError('EROFS')). Costs nothing to build; a read looks each sector up
   * in the history. Throws RangeError for units outside 0..unitCount.
   */
  imageAt(units: number): LogImageBackend {
    if (!Number.isInteger(units) || units < 0 || units > this.unitCount) throw new RangeError(`crash plan: ${units} units outside 0..${this.unitCount}`);
    return new LogImageBackend(this, units);
  }

  /**
   * Copies sector `s` as unit `u` wrote it into dst[at, at + 512). Internal to this module
   * (LogImageBackend and overlays); u must have written s.
   */
  copySector(u: number, s: number, dst: Uint8Array, at: number): void {
    const v = this.sectorView(u, s);
    dst.set(v, at);
  }

  /** A 512-byte view of sector `s` as unit `u` wrote it (the log's arena or the shared zero sector). */
  sectorView(u: number, s: number): Uint8Array {
    if ((this.uFlags[u] & U_ZERO) !== 0) return ZERO_SECTOR;
    const e = this.uEntry[u];
    const at = s * SECTOR_SIZE - this.log.offsetOf(e);
    return this.entryData[e]!.subarray(at, at + SECTOR_SIZE);
  }

  /** The last unit before `units` that wrote sector `s`, or -1 (the base holds it). */
  lastWriter(s: number, units: number): number {
    const h = this.history.get(s);
    if (h === undefined || h[0] >= units) return -1;
    let lo = 0, hi = h.length - 1; // last index with h[idx] < units
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (h[mid] < units) lo = mid; else hi = mid - 1;
    }
    return h[lo];
  }

  // ---- candidates per epoch ---------------------------------------------------------------

  /** Units of epoch e that are not FUA (the ones a subset may leave out). */
  private optionalUnits(e: number): number[] {
    const out: number[] = [];
    for (let u = this.epochStart[e]; u < this.epochStart[e + 1]; u++) if ((this.uFlags[u] & U_FUA) === 0) out.push(u);
    return out;
  }

  /** Units of epoch e that can tear: data writes of two or more sectors, not FUA. */
  private tearableUnits(e: number): number[] {
    const out: number[] = [];
    for (let u = this.epochStart[e]; u < this.epochStart[e + 1]; u++) {
      if (this.uFlags[u] === 0 && this.uLength[u] >= 2 * SECTOR_SIZE) out.push(u);
    }
    return out;
  }

  /** How many prefix, subset and torn states epoch e offers under the per-epoch limits. */
  private candidates(e: number, subsetsPerEpoch: number, tornPerEpoch: number): Candidates {
    const n = this.epochStart[e + 1] - this.epochStart[e];
    if (n === 0) return { prefixes: 0, subsets: 0, drops: 0, torn: 0 };
    const last = e === this.epochCount - 1;
    const m = this.optionalUnits(e).length;
    const subsetsAll = m < 2 ? 0 : m <= SUBSET_EXHAUSTIVE_UNITS ? (1 << m) - 2 : Infinity;
    return {
      // the full epoch of a flushed epoch is the next flush state; of the last epoch, the final image
      prefixes: last ? n : n - 1,
      subsets: Math.min(subsetsAll, subsetsPerEpoch),
      // with at most SUBSET_EXHAUSTIVE_UNITS optional units the subsets already include every drop
      drops: m > SUBSET_EXHAUSTIVE_UNITS ? m : 0,
      torn: this.tearableUnits(e).length > 0 ? tornPerEpoch : 0,
    };
  }

  // ---- generation -------------------------------------------------------------------------

  /**
   * The crash states of the log: every flush state (evenly thinned if there are more than
   * maxStates), then in-flight states spread over the epochs. Deterministic for a given plan
   * seed and options; ordered by epoch, then kind (flush, prefix, subset, drop, torn), then number.
   * Throws RangeError for options outside their documented ranges.
   */
  generate(opts: CrashStateOptions = {}): CrashState[] {
    const maxStates = opts.maxStates ?? DEFAULT_MAX_STATES;
    const subsetsPerEpoch = opts.subsetsPerEpoch ?? DEFAULT_SUBSETS_PER_EPOCH;
    const tornPerEpoch = opts.tornPerEpoch ?? DEFAULT_TORN_PER_EPOCH;
    checkCount("maxStates", maxStates, 1, CRASH_STATES_MAX);
    checkCount("subsetsPerEpoch", subsetsPerEpoch, 0, PER_EPOCH_MAX);
    checkCount("tornPerEpoch", tornPerEpoch, 0, PER_EPOCH_MAX);
    const E = this.epochCount;
    // Flush states: b<e> for epochs that have writes, and the last epoch (its b is the image
    // after the final flush). An empty epoch's b equals the next one's, whose crash window
    // is later, so only the later is kept.
    let flushEpochs: number[] = [];
    for (let e = 0; e < E; e++) if (e === E - 1 || this.epochStart[e + 1] > this.epochStart[e]) flushEpochs.push(e);
    if (flushEpochs.length > maxStates) {
      const keep = new Set<number>();
      for (let i = 0; i < maxStates; i++) keep.add(flushEpochs[maxStates === 1 ? flushEpochs.length - 1 : Math.round((i * (flushEpochs.length - 1)) / (maxStates - 1))]);
      flushEpochs = [...keep].sort((a, b) => a - b);
    }
    // In-flight candidates per epoch, then a water-filled budget per epoch so big data epochs
    // (hundreds of prefixes) do not crowd out the small metadata epochs.
    const from = opts.epochs === "last" ? E - 1 : 0;
    const counts: { e: number; c: Candidates; total: number; budget: number }[] = [];
    for (let e = from; e < E; e++) {
      const c = this.candidates(e, subsetsPerEpoch, tornPerEpoch);
      const total = c.prefixes + c.subsets + c.drops + c.torn;
      if (total > 0) counts.push({ e, c, total, budget: 0 });
    }
    let left = maxStates - flushEpochs.length;
    const bySize = [...counts].sort((a, b) => a.total - b.total || a.e - b.e);
    for (let i = 0; i < bySize.length; i++) {
      const share = Math.floor(left / (bySize.length - i));
      bySize[i].budget = Math.min(bySize[i].total, share);
      left -= bySize[i].budget;
    }
    // leftover from rounding goes to the largest epochs first
    for (let i = bySize.length - 1; i >= 0 && left > 0; i--) {
      const more = Math.min(left, bySize[i].total - bySize[i].budget);
      bySize[i].budget += more;
      left -= more;
    }
    const out: CrashState[] = [];
    const inFlight = new Map<number, (typeof counts)[number]>();
    for (const c of counts) inFlight.set(c.e, c);
    let fi = 0;
    for (let e = 0; e < E; e++) {
      if (fi < flushEpochs.length && flushEpochs[fi] === e) { out.push(this.flushState(e)); fi++; }
      const c = inFlight.get(e);
      if (c === undefined || c.budget === 0) continue;
      const picks = sample(rngFor(this.seed, e, STREAM_SELECT, 0), c.total, c.budget);
      for (const p of picks) {
        if (p < c.c.prefixes) out.push(this.prefixState(e, p + 1));
        else if (p < c.c.prefixes + c.c.subsets) out.push(this.subsetState(e, p - c.c.prefixes));
        else if (p < c.c.prefixes + c.c.subsets + c.c.drops) out.push(this.dropState(e, p - c.c.prefixes - c.c.subsets));
        else out.push(this.tornState(e, p - c.c.prefixes - c.c.subsets - c.c.drops));
      }
    }
    return out;
  }

  /**
   * Rebuilds the state with id `id` ("b3", "e3p5", "e3s17", "e3d4", "e3t2"; see the file header).
   * Throws RangeError for a malformed id or one outside this log (epoch, prefix length,
   * exhaustive subset number, or an epoch with nothing to tear).
   */
  state(id: string): CrashState {
    const m = /^(?:b(\d+)|e(\d+)([psdt])(\d+))$/.exec(id);
    if (!m) throw new RangeError(`crash state id '${id}' is not b<epoch> or e<epoch>{p|s|d|t}<n>`);
    const e = Number(m[1] ?? m[2]);
    if (e >= this.epochCount) throw new RangeError(`crash state '${id}': epoch ${e} outside 0..${this.epochCount - 1}`);
    if (m[1] !== undefined) return this.flushState(e);
    const j = Number(m[4]);
    const n = this.epochStart[e + 1] - this.epochStart[e];
    const c = this.candidates(e, PER_EPOCH_MAX, PER_EPOCH_MAX);
    switch (m[3]) {
      case "p":
        if (j < 1 || j > c.prefixes) throw new RangeError(`crash state '${id}': prefix ${j} outside 1..${c.prefixes} (epoch of ${n} units)`);
        return this.prefixState(e, j);
      case "s":
        if (j >= c.subsets) throw new RangeError(`crash state '${id}': epoch ${e} has ${c.subsets} subsets`);
        return this.subsetState(e, j);
      case "d":
        if (j >= c.drops) throw new RangeError(`crash state '${id}': epoch ${e} has ${c.drops} drop states`);
        return this.dropState(e, j);
      default:
        if (c.torn === 0) throw new RangeError(`crash state '${id}': epoch ${e} has no unit that can tear`);
        return this.tornState(e, j);
    }
  }

  private flushState(e: number): CrashState {
    return new CrashState(this, `b${e}`, e, "flush", this.epochStart[e], [], null);
  }

  private prefixState(e: number, k: number): CrashState {
    const first = this.epochStart[e];
    const units: number[] = [];
    for (let u = first; u < first + k; u++) units.push(u);
    return new CrashState(this, `e${e}p${k}`, e, "prefix", first, units, null);
  }

  private subsetState(e: number, j: number): CrashState {
    const optional = this.optionalUnits(e);
    const chosen = new Set<number>();
    if (optional.length <= SUBSET_EXHAUSTIVE_UNITS) {
      const mask = j + 1; // 1 .. 2^m - 2: neither none nor all
      for (let i = 0; i < optional.length; i++) if ((mask >>> i) & 1) chosen.add(optional[i]);
    } else {
      // each optional unit in with probability 1/2; redraw the rare none/all outcomes
      const rng = rngFor(this.seed, e, STREAM_SUBSET, j);
      for (let tries = 0; tries < 64; tries++) {
        chosen.clear();
        for (const u of optional) if (rng.next() & 1) chosen.add(u);
        if (chosen.size > 0 && chosen.size < optional.length) break;
      }
    }
    const units: number[] = [];
    for (let u = this.epochStart[e]; u < this.epochStart[e + 1]; u++) {
      if ((this.uFlags[u] & U_FUA) !== 0 || chosen.has(u)) units.push(u);
    }
    return new CrashState(this, `e${e}s${j}`, e, "subset", this.epochStart[e], units, null);
  }

  private dropState(e: number, i: number): CrashState {
    const dropped = this.optionalUnits(e)[i];
    const units: number[] = [];
    for (let u = this.epochStart[e]; u < this.epochStart[e + 1]; u++) if (u !== dropped) units.push(u);
    return new CrashState(this, `e${e}d${i}`, e, "drop", this.epochStart[e], units, null);
  }

  private tornState(e: number, j: number): CrashState {
    const tearable = this.tearableUnits(e);
    const rng = rngFor(this.seed, e, STREAM_TORN, j);
    const u = tearable[rng.below(tearable.length)];
    const sectors = this.uLength[u] / SECTOR_SIZE;
    const mask = 1 + rng.below(2 ** sectors - 2); // 1 .. 2^sectors - 2: some but not all
    const units: number[] = [];
    for (let v = this.epochStart[e]; v < u; v++) units.push(v);
    return new CrashState(this, `e${e}t${j}`, e, "torn", this.epochStart[e], units, { unit: u, sectorMask: mask });
  }
}

/** State counts one epoch offers, by kind. */
interface Candidates { prefixes: number; subsets: number; drops: number; torn: number }

function checkCount(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`crash states: ${name} ${v} outside ${lo}..${hi}`);
}

// ---- one crash state -----------------------------------------------------------------------

/**
 * One disk image a power cut could leave: the durable units [0, durableUnits), plus in-flight
 * `units` of the epoch applied in log order, plus the sectors of `torn` that persisted. A
 * description only: the image is built when backend() is called, as overlays (no copies).
 */
export class CrashState {
  /** Stable id (see the file header); with the plan seed it reproduces this state. */
  readonly id: string;
  /** The epoch in flight at the cut. */
  readonly epoch: number;
  readonly kind: CrashStateKind;
  /** Units [0, durableUnits) are on disk (every write of epochs before `epoch`). */
  readonly durableUnits: number;
  /** Units of the epoch that reached the disk whole, ascending. */
  readonly units: readonly number[];
  /** The torn unit, if any (kind 'torn'). */
  readonly torn: TornUnit | null;
  /** Entries [0, durableEntry) were durable at the cut (it follows the last completed FLUSH). */
  readonly durableEntry: number;
  /**
   * The cut came before entry `crashEntry` (the FLUSH closing the epoch, or the log's end)
   * completed; any entry before it, marks included, may have completed. An fsync's mark
   * follows the FLUSH that made it durable, so every fsync/sync mark before crashEntry was
   * kept by this state.
   */
  readonly crashEntry: number;
  private readonly plan: CrashPlan;

  /** Built by CrashPlan; use plan.generate() or plan.state(id). */
  constructor(plan: CrashPlan, id: string, epoch: number, kind: CrashStateKind, durableUnits: number, units: number[], torn: TornUnit | null) {
    this.plan = plan;
    this.id = id;
    this.epoch = epoch;
    this.kind = kind;
    this.durableUnits = durableUnits;
    this.units = units;
    this.torn = torn;
    const info = plan.epoch(epoch);
    this.durableEntry = info.durableEntry;
    this.crashEntry = info.crashEntry;
  }

  /** The log entries that have in-flight data in this state (whole or torn), ascending, unique. */
  entries(): number[] {
    const out: number[] = [];
    const push = (e: number) => { if (out.length === 0 || out[out.length - 1] !== e) out.push(e); };
    let ti = this.torn ? this.plan.unit(this.torn.unit).entry : -1;
    for (const u of this.units) {
      const e = this.plan.unit(u).entry;
      if (ti >= 0 && ti < e) { push(ti); ti = -1; }
      push(e);
    }
    if (ti >= 0) push(ti);
    return out;
  }

  /** One line for logs and failure reports: id, epoch bounds, what reached the disk. */
  describe(): string {
    const info = this.plan.epoch(this.epoch);
    const n = info.endUnit - info.firstUnit;
    const where = `epoch ${this.epoch} (entries ${info.durableEntry}..${info.crashEntry - 1}${info.flushed ? `, closed by the flush at ${info.crashEntry}` : ", no closing flush"})`;
    const ents = this.entries();
    const list = ents.length > 12 ? `${ents.slice(0, 12).join(", ")}, ...` : ents.join(", ");
    switch (this.kind) {
      case "flush": return `${this.id}: ${where}: flush state, none of its ${n} units`;
      case "prefix": return `${this.id}: ${where}: prefix of ${this.units.length}/${n} units (entries ${list})`;
      case "subset": return `${this.id}: ${where}: subset of ${this.units.length}/${n} units (entries ${list})`;
      case "drop": return `${this.id}: ${where}: all ${n} units but one (entries ${list})`;
      default: {
        const t = this.torn!;
        const u = this.plan.unit(t.unit);
        return `${this.id}: ${where}: ${this.units.length} units whole, then unit ${t.unit} (entry ${u.entry}, byte ${u.offset}) torn to sectors mask 0x${t.sectorMask.toString(16)}`;
      }
    }
  }

  /**
   * The in-flight layer: sector number -> 512 bytes (views of the log's arena; read-only),
   * later units over earlier ones, the torn unit's persisted sectors last.
   */
  overlay(): Map<number, Uint8Array> {
    const plan = this.plan;
    const map = new Map<number, Uint8Array>();
    for (const u of this.units) {
      const { offset, length } = plan.unit(u);
      for (let s = offset / SECTOR_SIZE, end = (offset + length) / SECTOR_SIZE; s < end; s++) map.set(s, plan.sectorView(u, s));
    }
    if (this.torn) {
      const { offset, length } = plan.unit(this.torn.unit);
      const first = offset / SECTOR_SIZE;
      for (let i = 0; i < length / SECTOR_SIZE; i++) {
        if ((this.torn.sectorMask >>> i) & 1) map.set(first + i, plan.sectorView(this.torn.unit, first + i));
      }
    }
    return map;
  }

  /**
   * A fresh writable device showing this state: an OverlayBackend over the durable image.
   * Writes (journal replay, the checker's probes) stay in the backend's private layer, so a
   * state can be booted any number of times.
   */
  backend(): OverlayBackend {
    return new OverlayBackend(this.plan.imageAt(this.durableUnits), this.overlay());
  }
}

// ---- devices ---------------------------------------------------------------------------------

/**
 * The image after units [0, units) of a plan, read-only: each sector comes from its last
 * writer before `units` (found in the plan's per-sector history) or from the base image.
 * Writes, discards and write-zeroes throw BlockError('EROFS'); flush does nothing.
 */
export class LogImageBackend implements BlockBackend {
  readonly sizeBytes: number;
  private readonly plan: CrashPlan;
  private readonly units: number;
  private closed = false;

  /** Use CrashPlan.imageAt(units). */
  constructor(plan: CrashPlan, units: number) {
    this.plan = plan;
    this.units = units;
    this.sizeBytes = plan.base.length;
  }

  /** Fills `dst` from the image; sectors nobody wrote come from the base in one copy per run. */
  read(offset: number, dst: Uint8Array): void {
    this.live();
    checkRange(this.sizeBytes, offset, dst.length);
    const plan = this.plan;
    const first = offset / SECTOR_SIZE;
    const n = dst.length / SECTOR_SIZE;
    let run = 0; // sectors [run, i) come from the base: copied in one piece
    for (let i = 0; i < n; i++) {
      const u = plan.lastWriter(first + i, this.units);
      if (u < 0) continue;
      if (run < i) dst.set(plan.base.subarray(offset + run * SECTOR_SIZE, offset + i * SECTOR_SIZE), run * SECTOR_SIZE);
      plan.copySector(u, first + i, dst, i * SECTOR_SIZE);
      run = i + 1;
    }
    if (run < n) dst.set(plan.base.subarray(offset + run * SECTOR_SIZE, offset + dst.length), run * SECTOR_SIZE);
  }

  /** Always throws BlockError('EROFS'): the image is shared by every state over it. */
  write(): void { this.live(); throw new BlockError("EROFS", "log image is read-only (stack an OverlayBackend on it)"); }
  /** Always throws BlockError('EROFS'). */
  discard(): void { this.write(); }
  /** Nothing is volatile: does nothing. */
  flush(): void { this.live(); }
  /** Later calls throw BlockError('EBADF'); the plan is untouched. */
  close(): void { this.closed = true; }

  private live(): void {
    if (this.closed) throw new BlockError("EBADF", "log image is closed");
  }
}

/** Bytes of one chunk of an OverlayBackend's private sector store. */
const OVERLAY_CHUNK_BYTES = 64 * 1024;

/**
 * A copy-on-write device: reads see the backend's own writes, then `overlay` (sector number
 * -> 512 bytes), then `base` (a BlockBackend or the image bytes). Neither `base` nor
 * `overlay` is ever modified: writes land in a private sector map (`writes`) whose bytes
 * live in 64 KiB chunks, so many states can share one base and one overlay. Flush does
 * nothing (there is nothing volatile); discard and write-zeroes store zero sectors, so reads
 * after them are deterministic (as with MemoryBackend).
 */
export class OverlayBackend implements BlockBackend {
  readonly sizeBytes: number;
  /** The private layer: sectors this backend wrote (sector number -> 512 bytes). */
  readonly writes = new Map<number, Uint8Array>();
  /** The shared layer given at construction (sector number -> 512 bytes); never modified here. */
  readonly overlay: ReadonlyMap<number, Uint8Array>;
  private readonly base: BlockBackend | Uint8Array;
  private chunk = new Uint8Array(0);
  private chunkUsed = 0;
  private closed = false;

  /**
   * `base` is the image under everything; `overlay` maps sector numbers (offset / 512) inside
   * the device to exactly 512 bytes each. Throws BlockError('EINVAL') for a base that is not
   * a positive multiple of SECTOR_SIZE, or an overlay entry outside the device or of another size.
   */
  constructor(base: BlockBackend | Uint8Array, overlay: ReadonlyMap<number, Uint8Array> = new Map()) {
    const size = base instanceof Uint8Array ? base.length : base.sizeBytes;
    if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR_SIZE !== 0) throw new BlockError("EINVAL", `bad overlay base size ${size}`);
    const sectors = size / SECTOR_SIZE;
    for (const [s, v] of overlay) {
      if (!Number.isInteger(s) || s < 0 || s >= sectors || v.length !== SECTOR_SIZE) {
        throw new BlockError("EINVAL", `overlay entry for sector ${s} (${v.length} bytes) does not fit a ${size}-byte device`);
      }
    }
    this.sizeBytes = size;
    this.base = base;
    this.overlay = overlay;
  }

  /** Fills `dst`: own writes first, then the overlay, then the base (runs of base sectors in one call). */
  read(offset: number, dst: Uint8Array): void {
    this.live();
    checkRange(this.sizeBytes, offset, dst.length);
    if (this.writes.size === 0 && this.overlay.size === 0) { this.readBase(offset, dst); return; }
    const first = offset / SECTOR_SIZE;
    const n = dst.length / SECTOR_SIZE;
    let run = 0; // sectors [run, i) come from the base
    for (let i = 0; i < n; i++) {
      const s = first + i;
      const v = this.writes.get(s) ?? this.overlay.get(s);
      if (v === undefined) continue;
      if (run < i) this.readBase(offset + run * SECTOR_SIZE, dst.subarray(run * SECTOR_SIZE, i * SECTOR_SIZE));
      dst.set(v, i * SECTOR_SIZE);
      run = i + 1;
    }
    if (run < n) this.readBase(offset + run * SECTOR_SIZE, dst.subarray(run * SECTOR_SIZE));
  }

  /** Copies `src` into the private layer (a sector written before is overwritten in place). */
  write(offset: number, src: Uint8Array): void {
    this.live();
    checkRange(this.sizeBytes, offset, src.length);
    const first = offset / SECTOR_SIZE;
    for (let i = 0; i < src.length / SECTOR_SIZE; i++) this.slot(first + i).set(src.subarray(i * SECTOR_SIZE, (i + 1) * SECTOR_SIZE));
  }

  /** Gather write into the private layer. */
  writev(offset: number, srcs: Uint8Array[]): void {
    let len = 0;
    for (const s of srcs) len += s.length;
    this.live();
    checkRange(this.sizeBytes, offset, len);
    if (srcs.every((s) => s.length % SECTOR_SIZE === 0)) {
      for (const s of srcs) { this.write(offset, s); offset += s.length; }
      return;
    }
    const all = new Uint8Array(len); // odd piece sizes: gather once
    let p = 0;
    for (const s of srcs) { all.set(s, p); p += s.length; }
    this.write(offset, all);
  }

  /** Stores zero sectors over the range in the private layer. */
  writeZeroes(offset: number, length: number): void {
    this.live();
    checkRange(this.sizeBytes, offset, length);
    for (let s = offset / SECTOR_SIZE, end = (offset + length) / SECTOR_SIZE; s < end; s++) this.slot(s).fill(0);
  }

  /** Zeroes the range (deterministic reads after a discard, as MemoryBackend). */
  discard(offset: number, length: number): void {
    this.writeZeroes(offset, length);
  }

  /** Nothing is volatile: does nothing. */
  flush(): void { this.live(); }

  /** Drops the private layer and refuses later calls (BlockError('EBADF')); base and overlay are untouched. */
  close(): void {
    this.closed = true;
    this.writes.clear();
  }

  /** The private 512-byte slot of sector `s`, allocated from the chunk store on first write. */
  private slot(s: number): Uint8Array {
    let v = this.writes.get(s);
    if (v === undefined) {
      if (this.chunkUsed === this.chunk.length) { this.chunk = new Uint8Array(OVERLAY_CHUNK_BYTES); this.chunkUsed = 0; }
      v = this.chunk.subarray(this.chunkUsed, this.chunkUsed + SECTOR_SIZE);
      this.chunkUsed += SECTOR_SIZE;
      this.writes.set(s, v);
    }
    return v;
  }

  private readBase(offset: number, dst: Uint8Array): void {
    if (this.base instanceof Uint8Array) dst.set(this.base.subarray(offset, offset + dst.length));
    else this.base.read(offset, dst);
  }

  private live(): void {
    if (this.closed) throw new BlockError("EBADF", "overlay backend is closed");
  }
}

/**
 * Convenience: index `log` over `base` with `opts.seed` and generate states (see
 * CrashPlan.generate). Returns the plan too, for state(id) and imageAt().
 */
export function generateCrashStates(log: WriteLog, base: Uint8Array, opts: CrashStateOptions & { seed?: number } = {}): { plan: CrashPlan; states: CrashState[] } {
  const plan = new CrashPlan(log, base, { seed: opts.seed });
  return { plan, states: plan.generate(opts) };
}
