// test/volatile.test.ts -- the page's volatile write cache (host/web/volatile.ts) against the
// write-log recorder as oracle: the kernel runs on Recording(Volatile(memory)), so the log
// holds every request in the order the cache saw it; after a cut the media must equal the log
// replayed up to its last FLUSH, and with a random cut every sector differs from that image
// only by the bytes some write after that FLUSH put there (whole or torn units, never other
// bytes). The rebooted kernel replays its journal, fsck is clean and fsynced files survive.

import { describe, expect, it } from "vitest";
import { BlockError, MemoryBackend, SECTOR_SIZE, type BlockBackend } from "../host/vmm/blockdev.js";
import { bootWith } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { RecordingBackend, type WriteLog } from "../host/crash/recorder.js";
import { VolatileCacheBackend } from "../host/web/volatile.js";
import { mountLines } from "../host/shell/format.js";
import { freshDevice, MiB } from "./helpers.js";

const IMAGE = 8 * MiB;

/** Index of the last FLUSH entry of `log`, or -1. */
function lastFlush(log: WriteLog): number {
  for (let i = log.length - 1; i >= 0; i--) if (log.entry(i).kind === "flush") return i;
  return -1;
}

/**
 * A kernel on Recording(Volatile(memory)) that writes an fsynced file, then unsynced ones and a
 * sync during which the armed cut comes (`cutAt` writes after the fsync: mid-commit). The
 * kernel is dropped without unmounting; its failures after the cut are expected.
 */
function runToCut(cutAt = 3, mode: "drop" | "random" = "drop", seed = 1) {
  const base = new Uint8Array(freshDevice(IMAGE).bytes);
  const media = new MemoryBackend(new Uint8Array(base));
  const bytes = media.bytes; // the cut closes the backend: keep its bytes
  const vol = new VolatileCacheBackend(media);
  const rec = new RecordingBackend(vol);
  const k = bootWith({ device: rec, module: kernelModule(true), memoryMiB: 32 });
  const fs = k.fs;
  fs.mkdirSync("/d");
  const fd = fs.openSync("/d/kept", "w");
  fs.writeSync(fd, new Uint8Array(10000).fill(0x41), 0, 10000, 0);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  vol.armCut(cutAt, { mode, seed });
  try {
    for (let i = 0; i < 20; i++) fs.writeFileSync(`/d/lost${i}`, new Uint8Array(20000).fill(0x42));
    fs.syncSync();
  } catch { /* the disk died under the kernel */ }
  expect(vol.isOff).toBe(true);
  return { base, bytes, vol, rec, k, report: vol.lastCut! };
}

/** The image the log's requests up to its last FLUSH leave on `base`. */
function flushImage(base: Uint8Array, log: WriteLog): Uint8Array {
  const img = new MemoryBackend(new Uint8Array(base));
  log.replay(img, { entry: lastFlush(log) + 1 });
  return img.bytes;
}

function mountAndCheck(bytes: Uint8Array) {
  const lines: string[] = [];
  const k = bootWith({ device: new MemoryBackend(bytes), module: kernelModule(true), memoryMiB: 32, log: (l) => lines.push(l) });
  const problems = k.fsck(true);
  return { k, lines, problems };
}

describe("VolatileCacheBackend", () => {
  it("reads see cached writes at once; the media gets them only at FLUSH", () => {
    const media = new MemoryBackend(64 * SECTOR_SIZE);
    const vol = new VolatileCacheBackend(media);
    vol.write(SECTOR_SIZE, new Uint8Array(2 * SECTOR_SIZE).fill(7));
    vol.writev(8 * SECTOR_SIZE, [new Uint8Array(100).fill(1), new Uint8Array(412).fill(2)]);
    const got = new Uint8Array(4 * SECTOR_SIZE);
    vol.read(0, got);
    expect(got.subarray(SECTOR_SIZE, 3 * SECTOR_SIZE).every((b) => b === 7)).toBe(true);
    expect(got[0]).toBe(0);
    expect(media.bytes.subarray(SECTOR_SIZE, 3 * SECTOR_SIZE).every((b) => b === 0)).toBe(true);
    expect(vol.pending()).toMatchObject({ writes: 2, sectors: 3 });
    vol.flush();
    expect(media.bytes.subarray(SECTOR_SIZE, 3 * SECTOR_SIZE).every((b) => b === 7)).toBe(true);
    expect(media.bytes[8 * SECTOR_SIZE + 99]).toBe(1);
    expect(media.bytes[8 * SECTOR_SIZE + 100]).toBe(2);
    expect(vol.pending().writes).toBe(0);
    expect(vol.flushes).toBe(1);
  });

  it("a discard drops the cached sectors of its range; write-zeroes writes zeroes", () => {
    const media = new MemoryBackend(new Uint8Array(16 * SECTOR_SIZE).fill(9));
    const vol = new VolatileCacheBackend(media);
    vol.write(0, new Uint8Array(4 * SECTOR_SIZE).fill(5));
    vol.discard(0, 2 * SECTOR_SIZE);
    vol.writeZeroes(8 * SECTOR_SIZE, 2 * SECTOR_SIZE);
    vol.flush();
    expect(media.bytes[0]).toBe(0); // MemoryBackend's discard zeroes
    expect(media.bytes[2 * SECTOR_SIZE]).toBe(5);
    expect(media.bytes[8 * SECTOR_SIZE]).toBe(0);
    expect(media.bytes[10 * SECTOR_SIZE]).toBe(9);
  });

  it("a failed FLUSH below keeps the cache (the barrier did not complete)", () => {
    const media = new MemoryBackend(16 * SECTOR_SIZE);
    let fail = true;
    const flaky: BlockBackend = {
      sizeBytes: media.sizeBytes, read: (o, d) => media.read(o, d), write: (o, s) => media.write(o, s),
      flush: () => { if (fail) throw new BlockError("EIO", "flush failed"); media.flush(); },
      discard: (o, l) => media.discard(o, l), close: () => media.close(),
    };
    const vol = new VolatileCacheBackend(flaky);
    vol.write(0, new Uint8Array(SECTOR_SIZE).fill(3));
    expect(() => vol.flush()).toThrow(/EIO/);
    expect(vol.pending().writes).toBe(1);
    fail = false;
    vol.flush();
    expect(vol.pending().writes).toBe(0);
    expect(media.bytes[0]).toBe(3);
  });

  it("armCut refuses a count below 1", () => {
    const vol = new VolatileCacheBackend(new MemoryBackend(16 * SECTOR_SIZE));
    expect(() => vol.armCut(0)).toThrow(RangeError);
  });

  it("after a cut every call throws EBADF", () => {
    const vol = new VolatileCacheBackend(new MemoryBackend(16 * SECTOR_SIZE));
    vol.powerCut();
    expect(() => vol.read(0, new Uint8Array(SECTOR_SIZE))).toThrow(/EBADF/);
    expect(() => vol.write(0, new Uint8Array(SECTOR_SIZE))).toThrow(/EBADF/);
    expect(() => vol.flush()).toThrow(/EBADF/);
    expect(() => vol.powerCut()).toThrow(/EBADF/);
  });

  it("a drop cut leaves exactly the image of the last FLUSH; the kernel replays it, fsck is clean, the fsynced file survives", () => {
    const { base, bytes, rec, report: r } = runToCut(3, "drop");
    expect(r.pendingWrites).toBeGreaterThan(0);
    expect(r.dropped).toBe(r.pendingUnits);
    expect(r.sectorsWritten).toBe(0);
    const want = flushImage(base, rec.log);
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(want))).toBe(0);
    const { k, lines, problems } = mountAndCheck(bytes);
    expect(problems).toBe(0);
    expect(Buffer.from(k.fs.readFileSync("/d/kept") as Uint8Array).equals(Buffer.alloc(10000, 0x41))).toBe(true);
    expect(lines.join("\n")).toMatch(/was not cleanly unmounted|journal/);
    k.shutdown();
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`a random cut (seed ${seed}) changes only sectors a pending write wrote, to that write's bytes; fsck is clean`, () => {
      const { base, bytes, rec, report: r } = runToCut(2 + seed, "random", seed);
      const log = rec.log;
      const from = lastFlush(log) + 1;
      expect(r.pendingUnits).toBeGreaterThan(0);
      expect(r.survived + r.torn + r.dropped).toBe(r.pendingUnits);
      const want = flushImage(base, log);
      // candidates of each sector: the flush image's copy and every pending write's copy
      const cands = new Map<number, Uint8Array[]>();
      for (let i = from; i < log.length; i++) {
        const e = log.entry(i);
        if (e.kind !== "write") continue;
        for (let s = 0; s < e.length / SECTOR_SIZE; s++) {
          const key = e.offset / SECTOR_SIZE + s;
          const l = cands.get(key) ?? [];
          l.push(e.data!.subarray(s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE));
          cands.set(key, l);
        }
      }
      let changed = 0;
      for (let s = 0; s < bytes.length / SECTOR_SIZE; s++) {
        const got = Buffer.from(bytes.subarray(s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE));
        if (got.equals(want.subarray(s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE))) continue;
        changed++;
        const ok = (cands.get(s) ?? []).some((c) => got.equals(c));
        expect(ok, `sector ${s} holds bytes no pending write had`).toBe(true);
      }
      expect(changed).toBeLessThanOrEqual(r.sectorsWritten);
      const { k, problems } = mountAndCheck(bytes);
      expect(problems).toBe(0);
      expect(Buffer.from(k.fs.readFileSync("/d/kept") as Uint8Array).equals(Buffer.alloc(10000, 0x41))).toBe(true);
      k.shutdown();
    });
  }

  it("random cuts over several seeds tear some units and keep others whole", () => {
    let torn = 0, survived = 0;
    for (const seed of [11, 12, 13]) {
      const { report: r } = runToCut(4, "random", seed);
      torn += r.torn;
      survived += r.survived;
    }
    expect(torn).toBeGreaterThan(0);
    expect(survived).toBeGreaterThan(0);
  });

  it("a clean unmount leaves nothing in the cache: the next mount finds the filesystem cleanly unmounted", () => {
    const media = new MemoryBackend(new Uint8Array(freshDevice(IMAGE).bytes));
    const bytes = media.bytes;
    const vol = new VolatileCacheBackend(media);
    const k = bootWith({ device: vol, module: kernelModule(true), memoryMiB: 32 });
    k.fs.writeFileSync("/f", new Uint8Array(3000).fill(1));
    k.shutdown(); // closes vol, which drops whatever was not flushed
    const k2 = bootWith({ device: new MemoryBackend(bytes), module: kernelModule(true), memoryMiB: 32 });
    expect(mountLines(k2, "img").join("\n")).toMatch(/was cleanly unmounted/);
    expect(k2.fs.readFileSync("/f").length).toBe(3000);
    k2.shutdown();
  });
});
