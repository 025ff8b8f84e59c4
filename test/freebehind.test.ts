// test/freebehind.test.ts -- streams (pagecache.ts free-behind, file.ts read/write_through):
// a sequential pass over a big file does not keep the pages past FREEBEHIND_START (calls of
// 64 KiB or more move them straight between the device and the caller, smaller calls go
// through the cache and free-behind drops them), random access and the first 8 MiB stay
// cached, and no access pattern changes what a read returns. Oracles: a model buffer of the
// file, the bytes on the device and the device's own byte counters (what the kernel read
// and wrote, whatever its counters say: a page that left the cache is read from the device
// again), the kernel's page counters, and fsck.

import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { BlockError, type BlockBackend } from "../host/vmm/blockdev.js";
import { freshDevice, bootDevice, bytesOf, fsckClean, MiB, BLOCK } from "./helpers.js";

/** FREEBEHIND_START of pagecache.ts, in bytes. */
const START = 8 * MiB;

/** Reads `len` bytes at `pos` through a fresh descriptor, as one pread per `chunk` bytes. */
function readAt(k: Kernel, path: string, pos: number, len: number, chunk = MiB): Buffer {
  const out = Buffer.alloc(len);
  const fd = k.fs.openSync(path, "r");
  for (let done = 0; done < len;) {
    const n = k.fs.readSync(fd, out, done, Math.min(chunk, len - done), pos + done);
    if (n === 0) break;
    done += n;
  }
  k.fs.closeSync(fd);
  return out;
}

/** Bytes the device has read so far (its own counter, not the kernel's). */
const devRead = (k: Kernel) => k.device.stats.bytesRead;

/** Every 4 KiB block of `data` whose exact bytes are nowhere on `disk` (block-aligned). */
function blocksMissing(disk: Uint8Array, data: Uint8Array): number[] {
  const at = new Map<string, number[]>();
  const key = (b: Uint8Array, o: number) => Buffer.from(b.buffer, b.byteOffset + o, 16).toString("hex");
  for (let o = 0; o + BLOCK <= disk.length; o += BLOCK) {
    const kk = key(disk, o);
    const l = at.get(kk);
    if (l) l.push(o); else at.set(kk, [o]);
  }
  const missing: number[] = [];
  for (let o = 0; o + BLOCK <= data.length; o += BLOCK) {
    const want = data.subarray(o, o + BLOCK);
    if (!(at.get(key(data, o)) ?? []).some((d) => Buffer.compare(disk.subarray(d, d + BLOCK), want) === 0)) missing.push(o / BLOCK);
  }
  return missing;
}

describe("free-behind", () => {
  // Calls of 16 KiB stay on the cached path (below THROUGH_MIN): free-behind drops the pages.
  // Calls of 1 MiB move every page past 8 MiB straight to and from the device.
  for (const chunk of [16 * 1024, MiB]) {
  it(`a sequential pass in ${chunk / 1024} KiB calls keeps the first 8 MiB cached and no more; random reads stay cached`, () => {
    const dev = freshDevice(128 * MiB);
    const k = bootDevice(dev, 256);
    const size = 40 * MiB;
    const past = (size - START) / BLOCK; // pages past FREEBEHIND_START
    const through = chunk >= 64 * 1024;
    const data = Buffer.from(bytesOf(7, size));
    const fd = k.fs.openSync("/big", "w");
    // every call writes all of its bytes: a reservation running out mid-call commits and goes
    // on (a short count here once shifted the rest of the file by the missing pages)
    for (let off = 0; off < size; off += chunk) expect(k.fs.writeSync(fd, data, off, chunk)).toBe(chunk);
    if (through) {
      // written through: the pages past 8 MiB are on the device when write() returns
      expect(blocksMissing(dev.bytes, data.subarray(START)), "blocks past 8 MiB not on the device before fsync").toEqual([]);
      expect(k.device.stats.bytesWritten).toBeGreaterThanOrEqual(size - START);
    }
    k.fs.fsyncSync(fd);
    k.fs.closeSync(fd);
    // on the device: every block of the file, and the device wrote at least the file
    expect(blocksMissing(dev.bytes, data), "file blocks not on the device after fsync").toEqual([]);
    expect(k.device.stats.bytesWritten).toBeGreaterThanOrEqual(size);
    let info = k.info();
    // written back and dropped, or never cached: the first 8 MiB and metadata stay (40 MiB without)
    if (through) {
      expect(info.writeThrough).toBe(past);
      expect(info.freebehind).toBe(0);
    } else {
      expect(info.writeThrough).toBe(0);
      expect(info.freebehind).toBeGreaterThanOrEqual(past);
    }
    expect(info.cachedPages).toBeLessThan((START + 4 * MiB) / BLOCK);

    // a sequential read after drop_caches: right bytes, and the cache stays small
    k.dropCaches();
    const before = k.info();
    let d0 = devRead(k);
    expect(readAt(k, "/big", 0, size, chunk).equals(data)).toBe(true);
    // the device read the file once (and a little metadata), whatever the counters say
    expect(devRead(k) - d0).toBeGreaterThanOrEqual(size);
    expect(devRead(k) - d0).toBeLessThan(size + MiB);
    info = k.info();
    expect(info.readPages - before.readPages).toBe(size / BLOCK);
    if (through) expect(info.readThrough - before.readThrough).toBe(past);
    else expect(info.freebehind - before.freebehind).toBeGreaterThan(past - MiB / BLOCK);
    expect(info.cachedPages).toBeLessThan((START + 4 * MiB) / BLOCK);

    // the first 8 MiB are still cached: reading them again reads nothing from the disk
    let r0 = k.info().readPages;
    d0 = devRead(k);
    expect(readAt(k, "/big", 0, START).equals(data.subarray(0, START))).toBe(true);
    expect(devRead(k), "device bytes read for the cached first 8 MiB").toBe(d0);
    expect(k.info().readPages).toBe(r0);
    // and the rest really left the cache: reading it again comes from the device again
    d0 = devRead(k);
    expect(readAt(k, "/big", START, size - START, chunk).equals(data.subarray(START))).toBe(true);
    expect(devRead(k) - d0, "device bytes read for the pages past 8 MiB").toBeGreaterThanOrEqual(size - START);

    // random 4 KiB reads past 8 MiB are not a stream: a second pass hits the cache (the first
    // offset is past 8 MiB + 4 KiB: a read at 8 MiB would continue the pass that just ended there)
    const offsets = Array.from({ length: 64 }, (_, i) => START + ((1 + i * 7919) % ((size - START) / BLOCK)) * BLOCK);
    const randomPass = (): void => {
      for (const off of offsets) expect(readAt(k, "/big", off, BLOCK).equals(data.subarray(off, off + BLOCK))).toBe(true);
    };
    randomPass();
    const fb = k.info().freebehind;
    r0 = k.info().readPages;
    d0 = devRead(k);
    randomPass();
    expect(devRead(k), "device bytes read by the second random pass").toBe(d0);
    expect(k.info().readPages).toBe(r0);
    expect(k.info().freebehind).toBe(fb);
    fsckClean(k);
    k.shutdown();
  });
  }

  it("a device error or a bad block in a stream is EIO to that call, and the filesystem stays consistent", () => {
    const dev = freshDevice(64 * MiB);
    let failWrites = false, failReads = false;
    const flaky: BlockBackend = {
      sizeBytes: dev.sizeBytes,
      read: (o, d) => { if (failReads) throw new BlockError("EIO", "injected"); dev.read(o, d); },
      write: (o, s) => { if (failWrites) throw new BlockError("EIO", "injected"); dev.write(o, s); },
      flush: () => dev.flush(),
      discard: (o, l) => dev.discard(o, l),
      close: () => dev.close(),
    };
    const k = bootWith({ device: flaky, module: kernelModule(true), memoryMiB: 64 });
    k.callExport("sys_set_commit_interval", 0); // nothing commits inside the failing calls
    const size = 12 * MiB;
    const data = Buffer.from(bytesOf(11, size));
    const fd = k.fs.openSync("/s", "w+");
    for (let off = 0; off < size - MiB; off += MiB) k.fs.writeSync(fd, data, off, MiB);
    // the last MiB goes straight to the device, which fails it: EIO, nothing written
    const through = k.info().writeThrough;
    failWrites = true;
    expect(() => k.fs.writeSync(fd, data, size - MiB, MiB)).toThrow(expect.objectContaining({ code: "EIO" }));
    failWrites = false;
    expect(k.info().writeThrough).toBe(through);
    expect(k.fs.fstatSync(fd).size).toBe(size - MiB);
    // and the same call again succeeds
    expect(k.fs.writeSync(fd, data, size - MiB, MiB)).toBe(MiB);
    k.fs.fsyncSync(fd);
    fsckClean(k);

    // a device read error in a read-through call: EIO, then the bytes once the device heals
    k.dropCaches();
    const got = Buffer.alloc(MiB);
    // a sequential pass up to 10 MiB: cached to 8 MiB, then read through
    for (let off = 0; off < 10 * MiB; off += MiB) k.fs.readSync(fd, got, 0, MiB, off);
    const rt = k.info().readThrough;
    failReads = true;
    expect(() => k.fs.readSync(fd, got, 0, MiB, 10 * MiB)).toThrow(expect.objectContaining({ code: "EIO" }));
    failReads = false;
    expect(k.fs.readSync(fd, got, 0, MiB, 10 * MiB)).toBe(MiB);
    expect(got.equals(data.subarray(10 * MiB, 11 * MiB))).toBe(true);
    expect(k.info().readThrough).toBeGreaterThan(rt);

    // a block whose bytes changed on the medium: the read stops before it, then EIO
    const bad = 11 * MiB + 5 * BLOCK;
    const at = Buffer.from(dev.bytes.buffer, dev.bytes.byteOffset, dev.bytes.length).indexOf(data.subarray(bad, bad + BLOCK));
    expect(at % BLOCK).toBe(0);
    dev.bytes[at + 100] ^= 0x40;
    k.dropCaches();
    for (let off = 0; off < 11 * MiB; off += MiB) k.fs.readSync(fd, got, 0, MiB, off);
    const csum = k.info().csumErrors;
    expect(k.fs.readSync(fd, got, 0, MiB, 11 * MiB)).toBe(5 * BLOCK);
    expect(got.subarray(0, 5 * BLOCK).equals(data.subarray(11 * MiB, bad))).toBe(true);
    expect(() => k.fs.readSync(fd, got, 0, MiB, bad)).toThrow(expect.objectContaining({ code: "EIO" }));
    expect(k.info().csumErrors).toBeGreaterThan(csum);
    k.fs.closeSync(fd);
    fsckClean(k);
    k.shutdown();
  });

  it("any mix of sequential passes, random access, fsync and drop_caches reads back the model", () => {
    const SIZE_MAX = 20 * MiB;
    const op = fc.oneof(
      fc.record({ kind: fc.constant("seq" as const), write: fc.boolean(), from: fc.integer({ min: 0, max: 12 }), mib: fc.integer({ min: 1, max: 12 }), chunk: fc.constantFrom(4096, 65536, MiB, 300000) }),
      fc.record({ kind: fc.constant("rand" as const), write: fc.boolean(), off: fc.integer({ min: 0, max: SIZE_MAX - 1 }), len: fc.integer({ min: 1, max: 3 * BLOCK }) }),
      fc.constantFrom({ kind: "fsync" as const }, { kind: "drop" as const }),
    );
    let seed = 1;
    let through = { read: 0, write: 0, freebehind: 0 };
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), (ops) => {
        const k = bootDevice(freshDevice(64 * MiB), 48);
        let model = Buffer.alloc(0);
        const fd = k.fs.openSync("/f", "w+");
        const write = (pos: number, len: number): void => {
          const bytes = Buffer.from(bytesOf(seed++, len));
          expect(k.fs.writeSync(fd, bytes, 0, len, pos)).toBe(len);
          if (pos + len > model.length) model = Buffer.concat([model, Buffer.alloc(pos + len - model.length)]);
          bytes.copy(model, pos);
        };
        const check = (pos: number, len: number): void => {
          const got = Buffer.alloc(len);
          const n = k.fs.readSync(fd, got, 0, len, pos);
          const want = model.subarray(Math.min(pos, model.length), Math.min(pos + len, model.length));
          expect(n).toBe(want.length);
          expect(got.subarray(0, n).equals(want)).toBe(true);
        };
        for (const o of ops) {
          if (o.kind === "fsync") k.fs.fsyncSync(fd);
          else if (o.kind === "drop") k.dropCaches();
          else if (o.kind === "rand") {
            if (o.write) write(o.off, o.len); else check(o.off, o.len);
          } else {
            const from = o.from * MiB, end = Math.min(SIZE_MAX, from + o.mib * MiB);
            for (let p = from; p < end; p += o.chunk) {
              const len = Math.min(o.chunk, end - p);
              if (o.write) write(p, len); else check(p, len);
            }
          }
        }
        check(0, model.length + 1);
        k.fs.closeSync(fd);
        fsckClean(k);
        const info = k.info();
        through = { read: through.read + info.readThrough, write: through.write + info.writeThrough, freebehind: through.freebehind + info.freebehind };
        k.shutdown();
      }),
      { numRuns: 25, seed: 0x5eed },
    );
    // the runs took every path: pages read and written through, and pages freed behind
    console.log(`pages read through ${through.read}, written through ${through.write}, freed behind ${through.freebehind}`);
    expect(through.read).toBeGreaterThan(0);
    expect(through.write).toBeGreaterThan(0);
    expect(through.freebehind).toBeGreaterThan(0);
  });
});
