// test/discard.test.ts -- online discard (boot option `discard`, fs/alloc.ts
// alloc_discard_committed) and the device serial (GET_ID at boot). Oracles: the memory
// device's bytes (a DISCARD zeroes them there), a model of every file's contents, fsck, the
// device's request counters and what it was told to discard, and the crash states of a
// recorded workload (a discard that ran before its commit was durable would leave committed
// files pointing at zeroed blocks).

import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule, bootSync } from "../host/node/node.js";
import * as nodefs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BlockError, MemoryBackend, type BlockBackend } from "../host/vmm/blockdev.js";
import { freshDevice, bytesOf, fsckClean, MiB, BLOCK } from "./helpers.js";

function boot(dev: BlockBackend, discard: boolean, log?: (l: string) => void): Kernel {
  return bootWith({ device: dev, module: kernelModule(true), memoryMiB: 64, discard, log });
}

/** How many of the 4 KiB blocks of `data` still stand, whole, somewhere on the device. */
function blocksOnDevice(dev: MemoryBackend, data: Uint8Array): number {
  const disk = Buffer.from(dev.bytes.buffer, dev.bytes.byteOffset, dev.bytes.byteLength);
  let n = 0;
  for (let off = 0; off + BLOCK <= data.length; off += BLOCK) {
    if (disk.indexOf(data.subarray(off, off + BLOCK)) >= 0) n++;
  }
  return n;
}

/**
 * Watches what `dev` is told: the bytes it was asked to discard, and the blocks discarded and
 * not written since (the device's view, independent of the kernel's discardedBlocks).
 */
function watchDiscards(dev: MemoryBackend): { bytes: () => number; stale: Set<number> } {
  const stale = new Set<number>();
  let bytes = 0;
  const span = (off: number, len: number, f: (b: number) => void) => { for (let b = off / BLOCK; b < (off + len) / BLOCK; b++) f(b); };
  const [discard, write, writev, writeZeroes] = [dev.discard.bind(dev), dev.write.bind(dev), dev.writev.bind(dev), dev.writeZeroes.bind(dev)];
  dev.discard = (o, l) => { discard(o, l); bytes += l; span(o, l, (b) => stale.add(b)); };
  dev.write = (o, src) => { write(o, src); span(o, src.length, (b) => stale.delete(b)); };
  dev.writev = (o, srcs) => { writev(o, srcs); span(o, srcs.reduce((n, x) => n + x.length, 0), (b) => stale.delete(b)); };
  dev.writeZeroes = (o, l) => { writeZeroes(o, l); span(o, l, (b) => stale.delete(b)); };
  return { bytes: () => bytes, stale };
}

describe("online discard", () => {
  for (const discard of [true, false]) {
    it(`an unlinked file's blocks ${discard ? "are discarded once its unlink commits" : "stay on the device without the option"}`, () => {
      const dev = freshDevice(32 * MiB);
      const k = boot(dev, discard);
      const gone = bytesOf(31, 40 * BLOCK), kept = bytesOf(32, 24 * BLOCK + 77);
      k.fs.writeFileSync("/gone", gone);
      k.fs.writeFileSync("/kept", kept);
      k.fs.syncSync();
      expect(blocksOnDevice(dev, gone)).toBe(40);
      k.fs.unlinkSync("/gone");
      expect(blocksOnDevice(dev, gone)).toBe(40); // not before the commit
      k.fs.syncSync();
      const info = k.info();
      if (discard) {
        expect(blocksOnDevice(dev, gone)).toBe(0);
        expect(info.discardedBlocks).toBeGreaterThanOrEqual(40);
        expect(k.device.stats.discards).toBeGreaterThan(0);
        expect(k.device.stats.bytesDiscarded).toBe(info.discardedBlocks * BLOCK);
      } else {
        expect(blocksOnDevice(dev, gone)).toBe(40);
        expect(info.discardedBlocks).toBe(0);
        expect(k.device.stats.discards).toBe(0);
      }
      expect(info.discardErrors).toBe(0);
      expect(Buffer.from(k.fs.readFileSync("/kept")).equals(Buffer.from(kept))).toBe(true);
      fsckClean(k);
      k.shutdown();
    });
  }

  for (const discard of [true, false]) {
    it(`an image file booted by path ${discard ? "gets zeroes over a deleted file's blocks" : "keeps a deleted file's blocks without the option"}`, () => {
      const dir = nodefs.mkdtempSync(path.join(nodefs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-discard-"));
      try {
        const image = path.join(dir, "disk.img");
        bootSync({ image, createBytes: 16 * MiB, mkfs: true, noMount: true, debug: true }).shutdown();
        const k = bootSync({ image, discard, debug: true, memoryMiB: 64 });
        const gone = bytesOf(51, 12 * BLOCK);
        k.fs.writeFileSync("/gone", gone);
        k.fs.syncSync();
        k.fs.unlinkSync("/gone");
        k.fs.syncSync();
        k.shutdown();
        const disk = nodefs.readFileSync(image);
        let found = 0;
        for (let off = 0; off < gone.length; off += BLOCK) if (disk.indexOf(gone.subarray(off, off + BLOCK)) >= 0) found++;
        expect(found).toBe(discard ? 0 : 12);
      } finally {
        nodefs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("a device that fails DISCARD costs nothing but the counter: no EIO, data and fsck intact", () => {
    const dev = freshDevice(32 * MiB);
    let failDiscards = false;
    const flaky: BlockBackend = {
      sizeBytes: dev.sizeBytes,
      read: (o, d) => dev.read(o, d),
      write: (o, s) => dev.write(o, s),
      flush: () => dev.flush(),
      discard: (o, l) => { if (failDiscards) throw new BlockError("EIO", "injected"); dev.discard(o, l); },
      close: () => dev.close(),
    };
    const k = boot(flaky, true);
    const a = bytesOf(41, 20 * BLOCK), b = bytesOf(42, 9 * BLOCK);
    k.fs.writeFileSync("/a", a);
    k.fs.writeFileSync("/b", b);
    k.fs.syncSync();
    failDiscards = true;
    k.fs.unlinkSync("/a");
    k.fs.syncSync();
    failDiscards = false;
    const info = k.info();
    expect(info.discardErrors).toBe(1);
    expect(info.discardedBlocks).toBe(0);
    expect(info.errored).toBe(0);
    expect(info.readOnly).toBe(0);
    expect(blocksOnDevice(dev, a)).toBe(20); // the hint was lost, the space is free anyway
    k.fs.writeFileSync("/c", a); // and reusable
    expect(Buffer.from(k.fs.readFileSync("/b")).equals(Buffer.from(b))).toBe(true);
    fsckClean(k);
    k.shutdown();
  });

  it("random writes, overwrites, truncates, unlinks and directory churn read back like the model, before and after a reboot (property)", () => {
    let discarded = 0;
    const op = fc.oneof(
      fc.record({ t: fc.constant("write" as const), f: fc.nat(7), seed: fc.nat(), len: fc.nat(120_000) }),
      fc.record({ t: fc.constant("pwrite" as const), f: fc.nat(7), seed: fc.nat(), at: fc.nat(150_000), len: fc.nat(40_000) }),
      fc.record({ t: fc.constant("truncate" as const), f: fc.nat(7), len: fc.nat(100_000) }),
      fc.record({ t: fc.constant("unlink" as const), f: fc.nat(7) }),
      fc.record({ t: fc.constant("churn" as const), n: fc.integer({ min: 50, max: 400 }) }),
      fc.record({ t: fc.constant("sync" as const) }),
    );
    fc.assert(fc.property(fc.array(op, { minLength: 5, maxLength: 40 }), (ops) => {
      const dev = freshDevice(32 * MiB);
      const told = watchDiscards(dev);
      let k = boot(dev, true);
      const model = new Map<string, Buffer>();
      for (const o of ops) {
        if (o.t === "sync") { k.fs.syncSync(); continue; }
        if (o.t === "churn") { // fills a directory's tree nodes, then frees them again
          k.fs.mkdirSync("/churn");
          for (let i = 0; i < o.n; i++) k.fs.writeFileSync(`/churn/entry-with-a-long-name-${i}`, "");
          k.fs.rmSync("/churn", { recursive: true });
          continue;
        }
        const p = `/f${o.f}`;
        const cur = model.get(p);
        if (o.t === "write") {
          const d = Buffer.from(bytesOf(o.seed + 1, o.len));
          k.fs.writeFileSync(p, d);
          model.set(p, d);
        } else if (o.t === "unlink") {
          if (!cur) continue;
          k.fs.unlinkSync(p);
          model.delete(p);
        } else if (!cur) {
          continue;
        } else if (o.t === "truncate") {
          k.fs.truncateSync(p, o.len);
          const d = Buffer.alloc(o.len);
          cur.copy(d, 0, 0, Math.min(cur.length, o.len));
          model.set(p, d);
        } else {
          const d = Buffer.from(bytesOf(o.seed + 7, o.len));
          const fd = k.fs.openSync(p, "r+");
          k.fs.writeSync(fd, d, 0, d.length, o.at);
          k.fs.closeSync(fd);
          const next = Buffer.alloc(Math.max(cur.length, o.at + d.length));
          cur.copy(next);
          d.copy(next, o.at);
          model.set(p, next);
        }
      }
      const check = () => {
        expect(k.fs.readdirSync("/").filter((n) => n.startsWith("f")).sort()).toEqual([...model.keys()].map((p) => p.slice(1)).sort());
        for (const [p, d] of model) expect(Buffer.from(k.fs.readFileSync(p)).equals(d), p).toBe(true);
        fsckClean(k);
      };
      k.fs.syncSync();
      check();
      const info = k.info();
      expect(info.discardErrors).toBe(0);
      // the device was told exactly what the kernel counted, and a discarded block not
      // written since reads as zeros there (a live file pointing at one would fail above)
      expect(told.bytes()).toBe(info.discardedBlocks * BLOCK);
      for (const b of told.stale) expect(dev.bytes.subarray(b * BLOCK, (b + 1) * BLOCK).every((x) => x === 0), `block ${b}`).toBe(true);
      discarded += told.bytes() / BLOCK;
      const disk = dev.bytes; // the live array: it outlives the device's close at shutdown
      k.shutdown();
      k = boot(new MemoryBackend(disk), true);
      check();
      k.shutdown();
    }), { numRuns: 25, seed: 0x0d15c4d });
    expect(discarded).toBeGreaterThan(0);
  }, 120_000);
});

describe("device serial", () => {
  it("boot asks the device for its serial (GET_ID) and logs it", () => {
    const lines: string[] = [];
    const k = boot(freshDevice(16 * MiB), false, (l) => lines.push(l));
    expect(lines.some((l) => l.includes("virtio_blk virtio0: [vda] serial 'helix-virtio-blk'"))).toBe(true);
    expect(k.device.stats.getIds).toBe(1);
    k.shutdown();
  });
});
