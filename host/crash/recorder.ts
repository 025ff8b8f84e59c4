// host/crash/recorder.ts -- the write-log recorder: a BlockBackend that stacks on any backend and
// logs every state-changing request in order, like Linux dm-log-writes.
//
// Layer: a wrapper between the virtio-blk device model (host/vmm/virtio.ts) and the storage
// backend below it; the crash-state generator (host/crash/crashstates.ts) and replays consume its
// log. Interface: new RecordingBackend(inner) then the BlockBackend calls plus mark(name),
// writeFua(); the log (WriteLog) answers entry queries, replay(target, upTo), serialize() and
// WriteLog.deserialize(bytes). File save/load lives in host/node/recorder-node.ts (Node only): this
// file has no Node imports so the browser can record too.
// Rules:
//  - a request is logged only after the backend below completed it (as dm-log-writes logs on
//    completion): a failed request leaves no entry, so the log is exactly what was acknowledged;
//  - entries keep issue order; FLUSH makes every earlier write durable, a FUA write is durable
//    on completion (DESIGN §3); reads are not logged;
//  - write data is copied into one growing ArrayBuffer arena (doubling, bounded by
//    WRITE_LOG_DATA_MAX); entry fields live in parallel typed arrays (doubling too), so
//    recording allocates nothing per request beyond that amortized growth;
//  - a log never changes an entry once appended; data(i) views stay valid after later appends.
//
// Saved log (little-endian; the same diagram is in docs/crash.md):
//
//   file header (64 bytes)
//   0        8          12            16            20          24                32
//   +--------+----------+-------------+-------------+-----------+-----------------+
//   | magic  | version  | header size | sector size | reserved  | device bytes u64|
//   | 8 B    | u32 (1)  | u32 (64)    | u32 (512)   | u32 (0)   |                 |
//   +--------+----------+-------------+-------------+-----------+-----------------+
//   32                  40                   48          52                      64
//   +-------------------+--------------------+-----------+-----------------------+
//   | entry count u64   | payload bytes u64  | crc32c u32| reserved (12 bytes 0) |
//   +-------------------+--------------------+-----------+-----------------------+
//   magic = "HLXWLOG\0"; crc32c covers bytes [0, 64) with the crc field zeroed.
//
//   then `entry count` records back to back, each a 32-byte record header, its payload, and
//   zero padding to a multiple of 8 bytes:
//   0      1       2         4          8               16              24          28       32
//   +------+-------+---------+----------+---------------+---------------+-----------+--------+
//   | kind | flags | rsv u16 | seq u32  | offset u64    | length u64    | paylen u32| crc32c |
//   +------+-------+---------+----------+---------------+---------------+-----------+--------+
//   | payload [paylen] | pad to 8 |
//
//   kind    1 WRITE (payload = the `length` bytes written at `offset`)
//           2 FLUSH (offset = length = 0, no payload)
//           3 DISCARD, 4 WRITE_ZEROES (offset, length; no payload)
//           5 MARK (payload = the mark name in UTF-8; offset = length = 0)
//   flags   bit 0 FUA (WRITE only)
//   seq     the entry's index (low 32 bits): catches dropped or reordered records
//   crc32c  over the record header (crc field zeroed) and the payload, not the padding

import { BlockBackend, BlockError, SECTOR_SIZE, checkRange, totalLength } from "../vmm/blockdev.js";

/** Entry kind: a write of data (payload = the bytes). */
export const LOG_WRITE = 1;
/** Entry kind: a completed FLUSH (durability barrier for every earlier write). */
export const LOG_FLUSH = 2;
/** Entry kind: a DISCARD of [offset, offset + length). */
export const LOG_DISCARD = 3;
/** Entry kind: a WRITE_ZEROES of [offset, offset + length). */
export const LOG_WRITE_ZEROES = 4;
/** Entry kind: a named mark the workload inserted (after fsync, sync, at the end, ...). */
export const LOG_MARK = 5;
/** Entry flag bit: the write was issued with FUA (durable on completion). */
export const LOG_FLAG_FUA = 1;

/** Saved-log magic, 8 ASCII bytes "HLXWLOG\0". */
export const WRITE_LOG_MAGIC = "HLXWLOG\0";
/** Saved-log format version. */
export const WRITE_LOG_VERSION = 1;
/** Bytes of the saved-log file header. */
export const WRITE_LOG_HEADER_BYTES = 64;
/** Bytes of one saved record header (payload follows). */
export const WRITE_LOG_RECORD_BYTES = 32;
/** Largest total of logged write data (bytes): one ArrayBuffer, within every engine's limit. */
export const WRITE_LOG_DATA_MAX = 2 ** 31;
/** Most entries in one log: the typed-array index space, and far more than any workload needs. */
export const WRITE_LOG_ENTRIES_MAX = 2 ** 28;
/** Longest mark name in UTF-8 bytes: names are labels, not payloads. */
export const MARK_NAME_MAX = 4096;

/** First capacity of the entry arrays and of the data arena (grown by doubling). */
const INITIAL_ENTRIES = 1024;
const INITIAL_ARENA = 1 << 20;
/** Record header offsets. */
const R_KIND = 0, R_FLAGS = 1, R_SEQ = 4, R_OFFSET = 8, R_LENGTH = 16, R_PAYLEN = 24, R_CRC = 28;
/** File header offsets. */
const H_VERSION = 8, H_HDRSIZE = 12, H_SECTOR = 16, H_DEVICE = 24, H_COUNT = 32, H_PAYLOAD = 40, H_CRC = 48;

/** Names of the entry kinds, indexed by kind number. */
const KIND_NAMES = ["?", "write", "flush", "discard", "writeZeroes", "mark"] as const;
/** An entry kind as a word. */
export type LogEntryKind = "write" | "flush" | "discard" | "writeZeroes" | "mark";

/** One log entry, decoded (for inspection and tests; hot paths use WriteLog's accessors). */
export interface LogEntry {
  /** Position in the log (0-based). */
  index: number;
  kind: LogEntryKind;
  /** Byte offset on the device (0 for flush and mark). */
  offset: number;
  /** Byte length (0 for flush and mark). */
  length: number;
  /** Write issued with FUA: durable on completion. */
  fua: boolean;
  /** The written bytes (write only): a view into the log's arena, not a copy. */
  data?: Uint8Array;
  /** The mark's name (mark only). */
  name?: string;
}

/** Where a replay stops: before entry `entry`, or just after the first mark named `mark`. */
export interface ReplayBound {
  /** Apply entries [0, entry) (0..length; default: all). */
  entry?: number;
  /** Apply entries up to and including the first mark with this name. */
  mark?: string;
}

// ---- crc32c (Castagnoli), slice-by-8 --------------------------------------------------------

const CRC_TABLES = makeCrcTables();

function makeCrcTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i] >>> 8) ^ t[t[(s - 1) * 256 + i] & 0xff];
  }
  return t;
}

/**
 * crc32c of `bytes` continuing from `crc` (0 to start). Returns an unsigned 32-bit value.
 * The same function the kernel uses for block checksums (Castagnoli polynomial).
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = CRC_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  const n8 = n - (n & 7);
  while (i < n8) {
    const lo = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) >>> 0;
    c = t[1792 + (lo & 0xff)] ^ t[1536 + ((lo >>> 8) & 0xff)] ^ t[1280 + ((lo >>> 16) & 0xff)] ^ t[1024 + (lo >>> 24)] ^
      t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^ t[bytes[i + 7]];
    i += 8;
  }
  while (i < n) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- the log ---------------------------------------------------------------------------------

/**
 * An in-memory write log: the ordered requests one device completed. Entry fields sit in
 * parallel typed arrays; write data in one growing arena. Offsets and lengths are bytes.
 */
export class WriteLog {
  /** Size in bytes of the device the log was recorded on. */
  readonly deviceBytes: number;
  private n = 0;
  private kinds: Uint8Array;
  private flagsArr: Uint8Array;
  private offsets: Float64Array;
  private lengths: Float64Array;
  /** Arena position of a write's data; for marks, the index into `names`. */
  private dataPos: Float64Array;
  private arena: Uint8Array;
  private arenaUsed = 0;
  private readonly names: string[] = [];
  private readonly enc = new TextEncoder();

  /**
   * An empty log for a device of `deviceBytes` bytes (a positive multiple of SECTOR_SIZE).
   * `capacity` presizes the entry arrays and the data arena (they grow anyway). Throws
   * BlockError('EINVAL') for a bad size.
   */
  constructor(deviceBytes: number, capacity: { entries?: number; dataBytes?: number } = {}) {
    if (!Number.isSafeInteger(deviceBytes) || deviceBytes <= 0 || deviceBytes % SECTOR_SIZE !== 0) {
      throw new BlockError("EINVAL", `bad device size ${deviceBytes} for a write log`);
    }
    this.deviceBytes = deviceBytes;
    // capacity hints (a loader knows the sizes) avoid regrowth; both stay within the limits
    const entries = Math.max(1, Math.min(capacity.entries ?? INITIAL_ENTRIES, WRITE_LOG_ENTRIES_MAX));
    this.kinds = new Uint8Array(entries);
    this.flagsArr = new Uint8Array(entries);
    this.offsets = new Float64Array(entries);
    this.lengths = new Float64Array(entries);
    this.dataPos = new Float64Array(entries);
    this.arena = new Uint8Array(Math.max(1, Math.min(capacity.dataBytes ?? INITIAL_ARENA, WRITE_LOG_DATA_MAX)));
  }

  /** Number of entries. */
  get length(): number { return this.n; }
  /** Bytes of write data held (the arena's used part). */
  get dataBytes(): number { return this.arenaUsed; }
  /** Kind number of entry `i` (LOG_WRITE ... LOG_MARK). No bounds check beyond the typed array. */
  kindOf(i: number): number { return this.kinds[i]; }
  /** Byte offset of entry `i` on the device (0 for flush and mark). */
  offsetOf(i: number): number { return this.offsets[i]; }
  /** Byte length of entry `i` (0 for flush and mark). */
  lengthOf(i: number): number { return this.lengths[i]; }
  /** True if entry `i` is a FUA write. */
  isFua(i: number): boolean { return (this.flagsArr[i] & LOG_FLAG_FUA) !== 0; }

  /**
   * The bytes written by write entry `i`: a view into the arena (no copy). Throws RangeError
   * if entry `i` is not a write.
   */
  dataOf(i: number): Uint8Array {
    this.checkIndex(i);
    if (this.kinds[i] !== LOG_WRITE) throw new RangeError(`write log: entry ${i} is a ${KIND_NAMES[this.kinds[i]]}, not a write`);
    const p = this.dataPos[i];
    return this.arena.subarray(p, p + this.lengths[i]);
  }

  /** The name of mark entry `i`, or undefined if entry `i` is not a mark. */
  markName(i: number): string | undefined {
    this.checkIndex(i);
    return this.kinds[i] === LOG_MARK ? this.names[this.dataPos[i]] : undefined;
  }

  /** Entry `i` decoded. Throws RangeError for an index outside [0, length). */
  entry(i: number): LogEntry {
    this.checkIndex(i);
    const k = this.kinds[i];
    const e: LogEntry = { index: i, kind: KIND_NAMES[k] as LogEntryKind, offset: this.offsets[i], length: this.lengths[i], fua: this.isFua(i) };
    if (k === LOG_WRITE) e.data = this.dataOf(i);
    if (k === LOG_MARK) e.name = this.names[this.dataPos[i]];
    return e;
  }

  /** Index of the first mark named `name` at or after entry `from`, or -1. */
  findMark(name: string, from = 0): number {
    for (let i = Math.max(0, from); i < this.n; i++) {
      if (this.kinds[i] === LOG_MARK && this.names[this.dataPos[i]] === name) return i;
    }
    return -1;
  }

  /** Every mark in log order: its entry index and name. */
  marks(): { index: number; name: string }[] {
    const out: { index: number; name: string }[] = [];
    for (let i = 0; i < this.n; i++) if (this.kinds[i] === LOG_MARK) out.push({ index: i, name: this.names[this.dataPos[i]] });
    return out;
  }

  /** Counts of entries by kind and the data bytes, for summaries. */
  stats(): { entries: number; writes: number; flushes: number; discards: number; writeZeroes: number; marks: number; fua: number; dataBytes: number } {
    const s = { entries: this.n, writes: 0, flushes: 0, discards: 0, writeZeroes: 0, marks: 0, fua: 0, dataBytes: this.arenaUsed };
    for (let i = 0; i < this.n; i++) {
      switch (this.kinds[i]) {
        case LOG_WRITE: s.writes++; if (this.isFua(i)) s.fua++; break;
        case LOG_FLUSH: s.flushes++; break;
        case LOG_DISCARD: s.discards++; break;
        case LOG_WRITE_ZEROES: s.writeZeroes++; break;
        case LOG_MARK: s.marks++; break;
      }
    }
    return s;
  }

  // ---- appending -------------------------------------------------------------------------

  /**
   * Appends a write of `srcs` (concatenated) at byte `offset`, copying the bytes into the
   * arena. Throws BlockError('EINVAL') for a misaligned or out-of-range request and
   * BlockError('ENOSPC') when the arena would pass WRITE_LOG_DATA_MAX.
   */
  appendWrite(offset: number, srcs: Uint8Array | readonly Uint8Array[], fua = false): number {
    const len = srcs instanceof Uint8Array ? srcs.length : totalLength(srcs);
    checkRange(this.deviceBytes, offset, len);
    const pos = this.reserveData(len);
    if (srcs instanceof Uint8Array) {
      this.arena.set(srcs, pos);
    } else {
      let p = pos;
      for (let i = 0; i < srcs.length; i++) { this.arena.set(srcs[i], p); p += srcs[i].length; }
    }
    return this.push(LOG_WRITE, fua ? LOG_FLAG_FUA : 0, offset, len, pos);
  }

  /** Appends a completed FLUSH. Returns the entry index. */
  appendFlush(): number { return this.push(LOG_FLUSH, 0, 0, 0, 0); }

  /** Appends a DISCARD of [offset, offset + length) bytes. Throws BlockError('EINVAL') if out of range. */
  appendDiscard(offset: number, length: number): number {
    checkRange(this.deviceBytes, offset, length);
    return this.push(LOG_DISCARD, 0, offset, length, 0);
  }

  /** Appends a WRITE_ZEROES of [offset, offset + length) bytes. Throws BlockError('EINVAL') if out of range. */
  appendWriteZeroes(offset: number, length: number): number {
    checkRange(this.deviceBytes, offset, length);
    return this.push(LOG_WRITE_ZEROES, 0, offset, length, 0);
  }

  /**
   * Appends a mark named `name` (any string of at most MARK_NAME_MAX UTF-8 bytes; names may
   * repeat). Throws BlockError('EINVAL') for a longer name.
   */
  appendMark(name: string): number {
    if (this.enc.encode(name).length > MARK_NAME_MAX) throw new BlockError("EINVAL", `mark name longer than ${MARK_NAME_MAX} bytes`);
    this.names.push(name);
    return this.push(LOG_MARK, 0, 0, 0, this.names.length - 1);
  }

  // ---- replay ------------------------------------------------------------------------------

  /**
   * The number of entries a replay bounded by `upTo` applies: `upTo.entry` (0..length), or
   * the index after the first mark named `upTo.mark`, or every entry. Throws RangeError for an
   * entry outside 0..length, a missing mark, or both bounds given.
   */
  resolveBound(upTo: ReplayBound = {}): number {
    if (upTo.entry !== undefined && upTo.mark !== undefined) throw new RangeError("write log: give an entry or a mark, not both");
    if (upTo.mark !== undefined) {
      const i = this.findMark(upTo.mark);
      if (i < 0) throw new RangeError(`write log: no mark named '${upTo.mark}'`);
      return i + 1;
    }
    if (upTo.entry === undefined) return this.n;
    if (!Number.isInteger(upTo.entry) || upTo.entry < 0 || upTo.entry > this.n) {
      throw new RangeError(`write log: entry ${upTo.entry} outside 0..${this.n}`);
    }
    return upTo.entry;
  }

  /**
   * Applies entries [0, bound) to `target` in order: writes (FUA writes through writeFua when
   * the target has it), flushes, discards and write-zeroes (target.writeZeroes, or zero writes);
   * marks are skipped. `target` should hold the image the log started from. Returns the number
   * of entries applied. Throws what the target throws, RangeError for a bad bound, and
   * BlockError('EINVAL') if the target is smaller than the logged device.
   */
  replay(target: BlockBackend, upTo: ReplayBound = {}): number {
    const end = this.resolveBound(upTo);
    if (target.sizeBytes < this.deviceBytes) {
      throw new BlockError("EINVAL", `replay target has ${target.sizeBytes} bytes, the log's device ${this.deviceBytes}`);
    }
    const fuaTarget = target as BlockBackend & { writeFua?(offset: number, src: Uint8Array): void };
    let zero: Uint8Array | null = null;
    for (let i = 0; i < end; i++) {
      const off = this.offsets[i];
      const len = this.lengths[i];
      switch (this.kinds[i]) {
        case LOG_WRITE: {
          const p = this.dataPos[i];
          const src = this.arena.subarray(p, p + len);
          if (this.isFua(i) && fuaTarget.writeFua) fuaTarget.writeFua(off, src);
          else target.write(off, src);
          break;
        }
        case LOG_FLUSH: target.flush(); break;
        case LOG_DISCARD: target.discard(off, len); break;
        case LOG_WRITE_ZEROES:
          if (target.writeZeroes) target.writeZeroes(off, len);
          else {
            zero ??= new Uint8Array(REPLAY_ZERO_CHUNK);
            for (let p = 0; p < len; p += zero.length) target.write(off + p, zero.subarray(0, Math.min(zero.length, len - p)));
          }
          break;
        default: break; // marks change nothing on the disk
      }
    }
    return end;
  }

  // ---- save / load ---------------------------------------------------------------------------

  /** Bytes of serialize()'s output. */
  serializedBytes(): number {
    let total = WRITE_LOG_HEADER_BYTES;
    for (let i = 0; i < this.n; i++) total += WRITE_LOG_RECORD_BYTES + pad8(this.payloadLength(i));
    return total;
  }

  /**
   * The log in the saved format (see the file header and docs/crash.md), as one new buffer.
   * Throws RangeError if it would exceed WRITE_LOG_DATA_MAX + headers (cannot happen for a
   * log recorded within its limits).
   */
  serialize(): Uint8Array {
    const total = this.serializedBytes();
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) out[i] = WRITE_LOG_MAGIC.charCodeAt(i);
    dv.setUint32(H_VERSION, WRITE_LOG_VERSION, true);
    dv.setUint32(H_HDRSIZE, WRITE_LOG_HEADER_BYTES, true);
    dv.setUint32(H_SECTOR, SECTOR_SIZE, true);
    setU64(dv, H_DEVICE, this.deviceBytes);
    setU64(dv, H_COUNT, this.n);
    let payloadTotal = 0;
    let pos = WRITE_LOG_HEADER_BYTES;
    for (let i = 0; i < this.n; i++) {
      const k = this.kinds[i];
      const payload = k === LOG_WRITE ? this.dataOf(i) : k === LOG_MARK ? this.enc.encode(this.names[this.dataPos[i]]) : EMPTY;
      out[pos + R_KIND] = k;
      out[pos + R_FLAGS] = this.flagsArr[i];
      dv.setUint32(pos + R_SEQ, i >>> 0, true);
      setU64(dv, pos + R_OFFSET, this.offsets[i]);
      setU64(dv, pos + R_LENGTH, this.lengths[i]);
      dv.setUint32(pos + R_PAYLEN, payload.length, true);
      out.set(payload, pos + WRITE_LOG_RECORD_BYTES);
      const crc = crc32c(payload, crc32c(out.subarray(pos, pos + WRITE_LOG_RECORD_BYTES)));
      dv.setUint32(pos + R_CRC, crc, true);
      payloadTotal += payload.length;
      pos += WRITE_LOG_RECORD_BYTES + pad8(payload.length);
    }
    setU64(dv, H_PAYLOAD, payloadTotal);
    dv.setUint32(H_CRC, crc32c(out.subarray(0, WRITE_LOG_HEADER_BYTES)), true);
    return out;
  }

  /**
   * Parses a saved log. Every field is checked (magic, version, sizes, checksums, sequence
   * numbers, kinds, ranges against the device size); a bad log throws
   * BlockError('EBADMSG') naming the first bad record, never a partial log.
   */
  static deserialize(bytes: Uint8Array): WriteLog {
    const bad = (why: string): never => { throw new BlockError("EBADMSG", `bad write log: ${why}`); };
    if (bytes.length < WRITE_LOG_HEADER_BYTES) bad(`${bytes.length} bytes is shorter than the header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < 8; i++) if (bytes[i] !== WRITE_LOG_MAGIC.charCodeAt(i)) bad("not a HelixFS write log (magic)");
    const hdr = new Uint8Array(bytes.subarray(0, WRITE_LOG_HEADER_BYTES)); // a copy (Buffer#slice would be a view)
    new DataView(hdr.buffer).setUint32(H_CRC, 0, true);
    if (crc32c(hdr) !== dv.getUint32(H_CRC, true)) bad("header checksum mismatch");
    if (dv.getUint32(H_VERSION, true) !== WRITE_LOG_VERSION) bad(`unsupported version ${dv.getUint32(H_VERSION, true)}`);
    if (dv.getUint32(H_HDRSIZE, true) !== WRITE_LOG_HEADER_BYTES) bad("unexpected header size");
    if (dv.getUint32(H_SECTOR, true) !== SECTOR_SIZE) bad("unexpected sector size");
    const device = getU64(dv, H_DEVICE);
    const count = getU64(dv, H_COUNT);
    const payloadTotal = getU64(dv, H_PAYLOAD);
    if (!(device > 0) || device % SECTOR_SIZE !== 0) bad(`bad device size ${device}`);
    if (!(count <= WRITE_LOG_ENTRIES_MAX)) bad(`entry count ${count} over the limit`);
    if (!(payloadTotal <= WRITE_LOG_DATA_MAX) || payloadTotal > bytes.length) bad(`payload size ${payloadTotal} does not fit the file`);
    const log = new WriteLog(device, { entries: count, dataBytes: payloadTotal });
    const dec = new TextDecoder("utf-8", { fatal: true });
    let pos = WRITE_LOG_HEADER_BYTES;
    let seen = 0;
    for (let i = 0; i < count; i++) {
      if (pos + WRITE_LOG_RECORD_BYTES > bytes.length) bad(`record ${i} is cut off`);
      const kind = bytes[pos + R_KIND];
      const flags = bytes[pos + R_FLAGS];
      const paylen = dv.getUint32(pos + R_PAYLEN, true);
      const body = pos + WRITE_LOG_RECORD_BYTES;
      if (body + paylen > bytes.length) bad(`record ${i} payload is cut off`);
      const rec = new Uint8Array(bytes.subarray(pos, pos + WRITE_LOG_RECORD_BYTES));
      new DataView(rec.buffer).setUint32(R_CRC, 0, true);
      const payload = bytes.subarray(body, body + paylen);
      if (crc32c(payload, crc32c(rec)) !== dv.getUint32(pos + R_CRC, true)) bad(`record ${i} checksum mismatch`);
      if (dv.getUint32(pos + R_SEQ, true) !== (i >>> 0)) bad(`record ${i} has sequence ${dv.getUint32(pos + R_SEQ, true)}`);
      const offset = getU64(dv, pos + R_OFFSET);
      const length = getU64(dv, pos + R_LENGTH);
      if ((flags & ~LOG_FLAG_FUA) !== 0 || (flags !== 0 && kind !== LOG_WRITE)) bad(`record ${i} has flags ${flags}`);
      try {
        switch (kind) {
          case LOG_WRITE:
            if (length !== paylen) bad(`record ${i}: write of ${length} bytes carries ${paylen}`);
            log.appendWrite(offset, payload, flags !== 0);
            break;
          case LOG_FLUSH:
          case LOG_MARK:
            if (offset !== 0 || length !== 0) bad(`record ${i}: ${KIND_NAMES[kind]} with a range`);
            if (kind === LOG_FLUSH) {
              if (paylen !== 0) bad(`record ${i}: flush with a payload`);
              log.appendFlush();
            } else {
              if (paylen > MARK_NAME_MAX) bad(`record ${i}: mark name too long`);
              log.appendMark(dec.decode(payload));
            }
            break;
          case LOG_DISCARD:
          case LOG_WRITE_ZEROES:
            if (paylen !== 0) bad(`record ${i}: ${KIND_NAMES[kind]} with a payload`);
            if (kind === LOG_DISCARD) log.appendDiscard(offset, length); else log.appendWriteZeroes(offset, length);
            break;
          default:
            bad(`record ${i} has unknown kind ${kind}`);
        }
      } catch (e) {
        if (e instanceof BlockError && e.code === "EBADMSG") throw e;
        bad(`record ${i}: ${e instanceof Error ? e.message : String(e)}`);
      }
      for (let p = body + paylen; p < body + pad8(paylen); p++) if (p >= bytes.length || bytes[p] !== 0) bad(`record ${i} padding`);
      seen += paylen;
      pos = body + pad8(paylen);
    }
    if (seen !== payloadTotal) bad(`payload total ${seen} != header ${payloadTotal}`);
    if (pos !== bytes.length) bad(`${bytes.length - pos} trailing bytes after the last record`);
    return log;
  }

  // ---- internals ---------------------------------------------------------------------------

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) throw new RangeError(`write log: entry ${i} outside 0..${this.n - 1}`);
  }

  private payloadLength(i: number): number {
    const k = this.kinds[i];
    if (k === LOG_WRITE) return this.lengths[i];
    if (k === LOG_MARK) return this.enc.encode(this.names[this.dataPos[i]]).length;
    return 0;
  }

  /** Makes room for `len` data bytes; returns their arena position. */
  private reserveData(len: number): number {
    const need = this.arenaUsed + len;
    if (need > WRITE_LOG_DATA_MAX) throw new BlockError("ENOSPC", `write log data would exceed ${WRITE_LOG_DATA_MAX} bytes`);
    if (need > this.arena.length) {
      let cap = this.arena.length;
      while (cap < need) cap *= 2;
      const grown = new Uint8Array(Math.min(cap, WRITE_LOG_DATA_MAX));
      grown.set(this.arena.subarray(0, this.arenaUsed));
      // Views handed out earlier keep the old buffer alive and still show the same bytes.
      this.arena = grown;
    }
    const pos = this.arenaUsed;
    this.arenaUsed = need;
    return pos;
  }

  private push(kind: number, flags: number, offset: number, length: number, dataPos: number): number {
    const i = this.n;
    if (i >= WRITE_LOG_ENTRIES_MAX) throw new BlockError("ENOSPC", `write log is full (${WRITE_LOG_ENTRIES_MAX} entries)`);
    if (i === this.kinds.length) this.growEntries();
    this.kinds[i] = kind;
    this.flagsArr[i] = flags;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.dataPos[i] = dataPos;
    this.n = i + 1;
    return i;
  }

  private growEntries(): void {
    const cap = this.kinds.length * 2;
    const g8 = (a: Uint8Array) => { const b = new Uint8Array(cap); b.set(a); return b; };
    const g64 = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    this.kinds = g8(this.kinds);
    this.flagsArr = g8(this.flagsArr);
    this.offsets = g64(this.offsets);
    this.lengths = g64(this.lengths);
    this.dataPos = g64(this.dataPos);
  }
}

/** Zero chunk used by replay when the target has no writeZeroes (bytes). */
const REPLAY_ZERO_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);

function pad8(n: number): number { return (n + 7) & ~7; }

function setU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v % 0x100000000, true);
  dv.setUint32(at + 4, Math.floor(v / 0x100000000), true);
}

/** A u64 field as a number; values past 2^53 come back as Infinity so range checks reject them. */
function getU64(dv: DataView, at: number): number {
  const hi = dv.getUint32(at + 4, true);
  if (hi >= 0x200000) return Infinity;
  return hi * 0x100000000 + dv.getUint32(at, true);
}

// ---- the recording device ----------------------------------------------------------------------

/**
 * A BlockBackend that passes every request to `inner` and logs the completed state-changing
 * ones (writes with their data, FLUSH, DISCARD, WRITE_ZEROES) plus the workload's marks.
 * Reads pass through unlogged. Errors from `inner` propagate unchanged and are not logged.
 */
export class RecordingBackend implements BlockBackend {
  readonly sizeBytes: number;
  /** The backend below. */
  readonly inner: BlockBackend;
  /** The log being recorded (kept after close()). */
  readonly log: WriteLog;
  /** When false, requests pass through without being logged (e.g. during setup). */
  recording = true;
  private closed = false;

  /**
   * Stacks on `inner`, appending to `log` (default: a new empty log for inner's size).
   * Throws BlockError('EINVAL') if `log` was made for a different device size.
   */
  constructor(inner: BlockBackend, log?: WriteLog) {
    this.inner = inner;
    this.sizeBytes = inner.sizeBytes;
    this.log = log ?? new WriteLog(inner.sizeBytes);
    if (this.log.deviceBytes !== inner.sizeBytes) {
      throw new BlockError("EINVAL", `log is for a ${this.log.deviceBytes}-byte device, backend has ${inner.sizeBytes}`);
    }
  }

  /** Inserts a named mark at the current position of the log (e.g. "fsync /a" after fsync returns). */
  mark(name: string): number {
    this.live();
    return this.log.appendMark(name);
  }

  /** Reads through `inner`; not logged. */
  read(offset: number, dst: Uint8Array): void {
    this.live();
    this.inner.read(offset, dst);
  }

  /** Scatter read through `inner` (readv when it has one); not logged. */
  readv(offset: number, dsts: Uint8Array[]): void {
    this.live();
    if (this.inner.readv) { this.inner.readv(offset, dsts); return; }
    for (const d of dsts) { this.inner.read(offset, d); offset += d.length; }
  }

  /**
   * Stores `src` at byte `offset` through `inner` and logs it. With `fua` the write is
   * logged as FUA (durable on completion); `inner` gets a flush right after the write
   * when it has no writeFua of its own, which gives the same guarantee.
   */
  write(offset: number, src: Uint8Array, fua = false): void {
    this.live();
    checkRange(this.sizeBytes, offset, src.length);
    const inner = this.inner as BlockBackend & { writeFua?(offset: number, src: Uint8Array): void };
    if (fua && inner.writeFua) inner.writeFua(offset, src);
    else {
      inner.write(offset, src);
      if (fua) inner.flush();
    }
    if (this.recording) this.log.appendWrite(offset, src, fua);
  }

  /** A FUA write: write(offset, src, true). */
  writeFua(offset: number, src: Uint8Array): void {
    this.write(offset, src, true);
  }

  /** Gather write through `inner` (writev when it has one), logged as one write entry. */
  writev(offset: number, srcs: Uint8Array[]): void {
    this.live();
    checkRange(this.sizeBytes, offset, totalLength(srcs));
    if (this.inner.writev) this.inner.writev(offset, srcs);
    else {
      let p = offset;
      for (const s of srcs) { this.inner.write(p, s); p += s.length; }
    }
    if (this.recording) this.log.appendWrite(offset, srcs, false);
  }

  /** Zeroes [offset, offset + length) through `inner` (writeZeroes or zero writes); logged. */
  writeZeroes(offset: number, length: number): void {
    this.live();
    checkRange(this.sizeBytes, offset, length);
    if (this.inner.writeZeroes) this.inner.writeZeroes(offset, length);
    else {
      const z = new Uint8Array(Math.min(length, REPLAY_ZERO_CHUNK)); // rare path: the device's own fallback is used first
      for (let p = 0; p < length; p += z.length) this.inner.write(offset + p, z.subarray(0, Math.min(z.length, length - p)));
    }
    if (this.recording) this.log.appendWriteZeroes(offset, length);
  }

  /** Flushes `inner`, then logs the FLUSH (only a completed flush is a barrier). */
  flush(): void {
    this.live();
    this.inner.flush();
    if (this.recording) this.log.appendFlush();
  }

  /** Discards through `inner`, then logs it. */
  discard(offset: number, length: number): void {
    this.live();
    this.inner.discard(offset, length);
    if (this.recording) this.log.appendDiscard(offset, length);
  }

  /** Closes `inner`; the log stays readable. Later device calls throw BlockError('EBADF'). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inner.close();
  }

  /** The log applied to `target` up to `upTo` (see WriteLog.replay). */
  replay(target: BlockBackend, upTo: ReplayBound = {}): number {
    return this.log.replay(target, upTo);
  }

  /** The log in the saved format (see WriteLog.serialize). */
  serialize(): Uint8Array {
    return this.log.serialize();
  }

  private live(): void {
    if (this.closed) throw new BlockError("EBADF", "recording backend is closed");
  }
}
