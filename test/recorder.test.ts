// test/recorder.test.ts -- the write-log recorder (host/crash/recorder.ts, host/node/recorder-node.ts)
// against a byte-array model of the disk: recording passes requests through unchanged,
// replaying up to entry k equals applying the first k requests, marks bound replays, the
// saved format round-trips and rejects every corruption.

import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BlockBackend, BlockError, MemoryBackend, SECTOR_SIZE } from "../host/vmm/blockdev.js";
import {
  LOG_FLUSH, LOG_MARK, LOG_WRITE, RecordingBackend, WRITE_LOG_HEADER_BYTES, WriteLog, crc32c,
} from "../host/crash/recorder.js";
import { loadLog, saveLog } from "../host/node/recorder-node.js";

const DEV = 64 * 1024; // 128 sectors: small enough to compare whole images per step
const SECTORS = DEV / SECTOR_SIZE;

const tmpBase = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-recorder-"));
afterAll(() => fs.rmSync(tmpBase, { recursive: true, force: true }));

/** One request of a random workload. */
type Op =
  | { t: "write"; sector: number; sectors: number; seed: number; fua: boolean }
  | { t: "writev"; sector: number; pieces: number[]; seed: number }
  | { t: "flush" }
  | { t: "discard" | "zero"; sector: number; sectors: number }
  | { t: "mark"; name: string };

function bytesOf(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed | 0) || 0x2545f491;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("write" as const), sector: fc.integer({ min: 0, max: SECTORS - 1 }), sectors: fc.integer({ min: 1, max: 24 }), seed: fc.integer(), fua: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("writev" as const), sector: fc.integer({ min: 0, max: SECTORS - 1 }), pieces: fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 4 }), seed: fc.integer() }) },
  { weight: 2, arbitrary: fc.constant({ t: "flush" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom("discard" as const, "zero" as const), sector: fc.integer({ min: 0, max: SECTORS - 1 }), sectors: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("mark" as const), name: fc.constantFrom("fsync /a", "sync", "end", "ünïcode ✓", "") }) },
);

/** Clamps an op to the device and to whole sectors (writev pieces may be odd, their sum not). */
function normalize(op: Op): Op {
  if (op.t === "write" || op.t === "discard" || op.t === "zero") return { ...op, sectors: Math.min(op.sectors, SECTORS - op.sector) };
  if (op.t === "writev") {
    const pieces = [...op.pieces];
    let total = pieces.reduce((a, b) => a + b, 0);
    const rem = total % SECTOR_SIZE;
    if (rem !== 0) { pieces.push(SECTOR_SIZE - rem); total += SECTOR_SIZE - rem; }
    if (op.sector * SECTOR_SIZE + total > DEV) return { t: "write", sector: op.sector, sectors: 1, seed: op.seed, fua: false };
    return { ...op, pieces };
  }
  return op;
}

/** Applies one op to the device and to the model. Returns nothing; marks go to the recorder only. */
function apply(op: Op, dev: RecordingBackend, model: Uint8Array): void {
  switch (op.t) {
    case "write": {
      const data = bytesOf(op.seed, op.sectors * SECTOR_SIZE);
      if (op.fua) dev.writeFua(op.sector * SECTOR_SIZE, data); else dev.write(op.sector * SECTOR_SIZE, data);
      model.set(data, op.sector * SECTOR_SIZE);
      break;
    }
    case "writev": {
      const pieces = op.pieces.map((n, i) => bytesOf(op.seed + i, n));
      dev.writev(op.sector * SECTOR_SIZE, pieces);
      let p = op.sector * SECTOR_SIZE;
      for (const piece of pieces) { model.set(piece, p); p += piece.length; }
      break;
    }
    case "flush": dev.flush(); break;
    case "discard": dev.discard(op.sector * SECTOR_SIZE, op.sectors * SECTOR_SIZE); model.fill(0, op.sector * SECTOR_SIZE, (op.sector + op.sectors) * SECTOR_SIZE); break;
    case "zero": dev.writeZeroes(op.sector * SECTOR_SIZE, op.sectors * SECTOR_SIZE); model.fill(0, op.sector * SECTOR_SIZE, (op.sector + op.sectors) * SECTOR_SIZE); break;
    case "mark": dev.mark(op.name); break;
  }
}

function baseImage(seed: number): Uint8Array { return bytesOf(seed, DEV); }

/** Entry i of two logs is the same (data compared with Buffer.compare: toEqual is slow on big arrays). */
function sameEntry(a: WriteLog, b: WriteLog, i: number): void {
  const x = a.entry(i), y = b.entry(i);
  expect({ ...x, data: undefined }).toEqual({ ...y, data: undefined });
  expect(x.data === undefined).toBe(y.data === undefined);
  if (x.data) expect(Buffer.compare(x.data, y.data!)).toBe(0);
}

describe("RecordingBackend", () => {
  it("passes requests through and replaying up to entry k equals applying the first k requests (property)", () => {
    fc.assert(fc.property(fc.integer(), fc.array(opArb, { minLength: 0, maxLength: 40 }), (baseSeed, rawOps) => {
      const ops = rawOps.map(normalize);
      const base = baseImage(baseSeed);
      const inner = new MemoryBackend(new Uint8Array(base));
      const rec = new RecordingBackend(inner);
      const model = new Uint8Array(base);
      const snapshots = [new Uint8Array(model)]; // snapshots[k] = model after k entries
      for (const op of ops) {
        apply(op, rec, model);
        snapshots.push(new Uint8Array(model));
      }
      expect(rec.log.length).toBe(ops.length); // one entry per request or mark
      expect(Buffer.compare(inner.bytes, model)).toBe(0); // recording changed nothing
      for (let k = 0; k <= ops.length; k++) {
        const target = new MemoryBackend(new Uint8Array(base));
        expect(rec.replay(target, { entry: k })).toBe(k);
        expect(Buffer.compare(target.bytes, snapshots[k]), `replay up to entry ${k}`).toBe(0);
      }
      // entry contents mirror the ops
      ops.forEach((op, i) => {
        const e = rec.log.entry(i);
        const kinds: Record<Op["t"], string> = { write: "write", writev: "write", flush: "flush", discard: "discard", zero: "writeZeroes", mark: "mark" };
        expect(e.kind).toBe(kinds[op.t]);
        if (op.t === "write") { expect(e.fua).toBe(op.fua); expect(Buffer.compare(e.data!, bytesOf(op.seed, op.sectors * SECTOR_SIZE))).toBe(0); }
        if (op.t === "mark") expect(e.name).toBe(op.name);
      });
    }), { numRuns: 150, seed: 7 });
  });

  it("replays up to a mark (inclusive) and rejects bad bounds", () => {
    const base = baseImage(1);
    const rec = new RecordingBackend(new MemoryBackend(new Uint8Array(base)));
    rec.write(0, bytesOf(2, 4096));
    rec.flush();
    rec.mark("fsync /a");
    const atMark = new Uint8Array(base); atMark.set(bytesOf(2, 4096), 0);
    rec.write(4096, bytesOf(3, 512));
    rec.mark("end");
    rec.mark("fsync /a"); // names may repeat: the first one bounds
    const t = new MemoryBackend(new Uint8Array(base));
    expect(rec.replay(t, { mark: "fsync /a" })).toBe(3);
    expect(Buffer.compare(t.bytes, atMark)).toBe(0);
    expect(rec.log.findMark("fsync /a", 3)).toBe(5);
    expect(rec.log.marks().map((m) => m.index)).toEqual([2, 4, 5]);
    expect(() => rec.replay(new MemoryBackend(DEV), { mark: "nope" })).toThrow(RangeError);
    expect(() => rec.replay(new MemoryBackend(DEV), { entry: 7 })).toThrow(RangeError);
    expect(() => rec.replay(new MemoryBackend(DEV), { entry: 1, mark: "end" })).toThrow(RangeError);
    expect(() => rec.replay(new MemoryBackend(DEV / 2))).toThrow(BlockError);
    expect(rec.log.stats()).toMatchObject({ entries: 6, writes: 2, flushes: 1, marks: 3, dataBytes: 4608 });
  });

  it("logs FUA writes and replays them through the target's writeFua", () => {
    const rec = new RecordingBackend(new MemoryBackend(DEV));
    rec.writeFua(512, bytesOf(5, 1024));
    rec.write(0, bytesOf(6, 512), true);
    expect(rec.log.isFua(0) && rec.log.isFua(1)).toBe(true);
    const seen: string[] = [];
    const target = Object.assign(new MemoryBackend(DEV), { writeFua(off: number, src: Uint8Array) { seen.push(`fua ${off} ${src.length}`); this.write(off, src); } });
    rec.replay(target);
    expect(seen).toEqual(["fua 512 1024", "fua 0 512"]);
    // a stack of two recorders: the lower one sees the FUA too
    const lower = new RecordingBackend(new MemoryBackend(DEV));
    const upper = new RecordingBackend(lower);
    upper.writeFua(0, bytesOf(7, 512));
    expect(lower.log.isFua(0)).toBe(true);
  });

  it("logs nothing for a request the backend below failed, and checks its own arguments", () => {
    const inner = new MemoryBackend(DEV);
    let fail = false;
    const flaky: BlockBackend = {
      sizeBytes: DEV,
      read: (o, d) => inner.read(o, d),
      write: (o, s) => { if (fail) throw new BlockError("EIO", "boom"); inner.write(o, s); },
      flush: () => { if (fail) throw new BlockError("EIO", "boom"); },
      discard: (o, l) => inner.discard(o, l),
      close: () => inner.close(),
    };
    const rec = new RecordingBackend(flaky);
    rec.write(0, new Uint8Array(512));
    fail = true;
    expect(() => rec.write(512, new Uint8Array(512))).toThrow(/EIO/);
    expect(() => rec.flush()).toThrow(/EIO/);
    expect(rec.log.length).toBe(1);
    expect(() => rec.write(100, new Uint8Array(512))).toThrow(/EINVAL/);
    expect(() => rec.write(DEV, new Uint8Array(512))).toThrow(/EINVAL/);
    expect(rec.log.length).toBe(1);
    rec.recording = false;
    fail = false;
    rec.write(0, new Uint8Array(512));
    expect(rec.log.length).toBe(1);
    rec.close();
    expect(() => rec.read(0, new Uint8Array(512))).toThrow(/EBADF/);
    expect(rec.log.length).toBe(1); // the log outlives the device
  });

  it("keeps data in one growing arena; early views stay valid after growth", () => {
    const rec = new RecordingBackend(new MemoryBackend(4 * 1024 * 1024));
    const first = bytesOf(11, 4096);
    rec.write(0, first);
    const view = rec.log.dataOf(0);
    for (let i = 0; i < 700; i++) rec.write((i % 1000) * 4096, bytesOf(i, 4096)); // > 2 MiB: the arena doubles twice
    expect(rec.log.dataBytes).toBe(701 * 4096);
    expect(Buffer.compare(view, first)).toBe(0);
    expect(Buffer.compare(rec.log.dataOf(0), first)).toBe(0);
    expect(Buffer.compare(rec.log.dataOf(700), bytesOf(699, 4096))).toBe(0);
    expect(() => rec.log.dataOf(701)).toThrow(RangeError);
  });
});

describe("saved write logs", () => {
  const sampleLog = (seed: number, ops: Op[]): WriteLog => {
    const rec = new RecordingBackend(new MemoryBackend(new Uint8Array(baseImage(seed))));
    for (const op of ops) apply(normalize(op), rec, new Uint8Array(DEV));
    return rec.log;
  };

  it("round-trip through serialize/deserialize and files (property)", () => {
    fc.assert(fc.property(fc.integer(), fc.array(opArb, { maxLength: 30 }), (seed, ops) => {
      const log = sampleLog(seed, ops);
      const bytes = log.serialize();
      expect(bytes.length).toBe(log.serializedBytes());
      const back = WriteLog.deserialize(bytes);
      expect(back.length).toBe(log.length);
      expect(back.deviceBytes).toBe(log.deviceBytes);
      for (let i = 0; i < log.length; i++) sameEntry(back, log, i);
      expect(Buffer.compare(back.serialize(), bytes)).toBe(0);
    }), { numRuns: 100, seed: 3 });
    const log = sampleLog(9, [{ t: "write", sector: 3, sectors: 9, seed: 1, fua: true }, { t: "flush" }, { t: "mark", name: "end" }]);
    const file = path.join(tmpBase, "a.hwlog");
    expect(saveLog(log, file)).toBe(fs.statSync(file).size);
    const back = loadLog(file);
    for (let i = 0; i < log.length; i++) sameEntry(back, log, i);
    expect(back.kindOf(0)).toBe(LOG_WRITE);
    expect(back.kindOf(1)).toBe(LOG_FLUSH);
    expect(back.kindOf(2)).toBe(LOG_MARK);
    expect(() => loadLog(path.join(tmpBase, "missing"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });

  it("rejects every single-byte corruption and every truncation (property)", () => {
    const log = sampleLog(4, [
      { t: "write", sector: 1, sectors: 3, seed: 5, fua: false }, { t: "mark", name: "fsync /x" }, { t: "flush" },
      { t: "discard", sector: 9, sectors: 2 }, { t: "writev", sector: 20, pieces: [100, 300, 112], seed: 8 }, { t: "zero", sector: 4, sectors: 1 },
    ]);
    const bytes = log.serialize();
    fc.assert(fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
      const bad = new Uint8Array(bytes);
      bad[pos] ^= x;
      expect(() => WriteLog.deserialize(bad)).toThrow(expect.objectContaining({ code: "EBADMSG" }));
    }), { numRuns: 300, seed: 5 });
    for (const cut of [0, 10, WRITE_LOG_HEADER_BYTES, WRITE_LOG_HEADER_BYTES + 20, bytes.length - 1]) {
      expect(() => WriteLog.deserialize(bytes.subarray(0, cut))).toThrow(expect.objectContaining({ code: "EBADMSG" }));
    }
    const longer = new Uint8Array(bytes.length + 8);
    longer.set(bytes);
    expect(() => WriteLog.deserialize(longer)).toThrow(/trailing/);
  });

  it("crc32c matches the standard check value", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    const data = bytesOf(1, 1000);
    expect(crc32c(data.subarray(300), crc32c(data.subarray(0, 300)))).toBe(crc32c(data));
  });
});
