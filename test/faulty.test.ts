// test/faulty.test.ts -- the fault injector (host/crash/faulty.ts) against a byte-array model of the
// disk: explicit sector lists do exactly what they say, random schedules do what their event
// log says (and nothing else), the same seed gives the same faults, probabilities hold
// roughly, and the virtio device turns an injected read error into a failed request that the
// kernel survives.

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BlockError, MemoryBackend, SECTOR_SIZE } from "../host/vmm/blockdev.js";
import { FaultBackend, type FaultEvent, type FaultSchedule } from "../host/crash/faulty.js";
import { bootWith, KernelError, KernelPanic } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { freshDevice, MiB, bytesOf } from "./helpers.js";

const DEV = 64 * 1024;
const SECTORS = DEV / SECTOR_SIZE;


type Op = { t: "w" | "r"; sector: number; sectors: number; seed: number };
const opArb: fc.Arbitrary<Op> = fc.record({ t: fc.constantFrom("w" as const, "r" as const), sector: fc.integer({ min: 0, max: SECTORS - 1 }), sectors: fc.integer({ min: 1, max: 16 }), seed: fc.integer() });
const clamp = (op: Op): Op => ({ ...op, sectors: Math.min(op.sectors, SECTORS - op.sector) });

/** Number of differing bits between two equal-length arrays. */
function bitDiff(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) { let x = a[i] ^ b[i]; while (x) { n += x & 1; x >>= 1; } }
  return n;
}

/**
 * Applies one write to the model the way `events` (the ones the injector recorded for this
 * request) say it happened; no event means the write went through whole.
 */
function applyWrite(model: Uint8Array, offset: number, src: Uint8Array, ev: FaultEvent | undefined): void {
  if (!ev) { model.set(src, offset); return; }
  switch (ev.kind) {
    case "lost": return;
    case "misdirected": model.set(src, ev.target!); return;
    case "torn": for (const s of ev.storedSectors!) model.set(src.subarray(s * SECTOR_SIZE - offset, (s + 1) * SECTOR_SIZE - offset), s * SECTOR_SIZE); return;
    case "writeBitFlip": model.set(src, offset); model[ev.byte!] ^= 1 << ev.bit!; return;
    default: throw new Error(`read fault ${ev.kind} on a write`);
  }
}

describe("FaultBackend with explicit sector lists", () => {
  it("does exactly what the lists say (property)", () => {
    const sectorList = fc.uniqueArray(fc.integer({ min: 0, max: SECTORS - 1 }), { maxLength: 6 });
    fc.assert(fc.property(
      fc.integer(), sectorList, sectorList, sectorList, sectorList, sectorList,
      fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: SECTORS - 1 }), fc.integer({ min: 0, max: SECTORS - 17 })), { maxLength: 3, selector: (p) => p[0] }),
      fc.array(opArb, { maxLength: 40 }),
      (seed, lost, torn, wflip, rerr, rflip, mis, ops) => {
        const base = bytesOf(seed, DEV);
        const inner = new MemoryBackend(new Uint8Array(base));
        const dev = new FaultBackend(inner, {
          seed, lostWriteSectors: lost, tornWriteSectors: torn, writeBitFlipSectors: wflip,
          readErrorSectors: rerr, readBitFlipSectors: rflip, misdirectedWrites: mis,
        });
        const misMap = new Map(mis);
        const model = new Uint8Array(base);
        for (const raw of ops) {
          const op = clamp(raw);
          const off = op.sector * SECTOR_SIZE, len = op.sectors * SECTOR_SIZE;
          const range = Array.from({ length: op.sectors }, (_, i) => op.sector + i);
          const evBefore = dev.events.length;
          if (op.t === "w") {
            const src = bytesOf(op.seed, len);
            const srcCopy = new Uint8Array(src);
            // the expected fault, by the documented precedence
            const target = misMap.get(op.sector);
            if (range.some((s) => lost.includes(s))) {
              dev.write(off, src);
            } else if (target !== undefined) {
              if ((target + op.sectors) * SECTOR_SIZE > DEV) { expect(() => dev.write(off, src)).toThrow(/EINVAL/); continue; }
              dev.write(off, src);
              model.set(src, target * SECTOR_SIZE);
            } else if (range.some((s) => torn.includes(s))) {
              dev.write(off, src);
              for (const s of range) if (!torn.includes(s)) model.set(src.subarray((s - op.sector) * SECTOR_SIZE, (s - op.sector + 1) * SECTOR_SIZE), s * SECTOR_SIZE);
            } else if (range.some((s) => wflip.includes(s))) {
              dev.write(off, src);
              const s = range.find((x) => wflip.includes(x))!;
              const stored = inner.bytes.subarray(off, off + len);
              expect(bitDiff(stored, src)).toBe(1); // one bit, inside the listed sector
              const ev = dev.events[dev.events.length - 1];
              expect(Math.floor(ev.byte! / SECTOR_SIZE)).toBe(s);
              model.set(src, off);
              model[ev.byte!] ^= 1 << ev.bit!;
            } else {
              dev.write(off, src);
              model.set(src, off);
              expect(dev.events.length).toBe(evBefore);
            }
            expect(Buffer.compare(src, srcCopy)).toBe(0); // the caller's buffer is never touched
          } else {
            const dst = new Uint8Array(len);
            if (range.some((s) => rerr.includes(s))) {
              expect(() => dev.read(off, dst)).toThrow(expect.objectContaining({ code: "EIO" }));
              expect(dev.events[dev.events.length - 1].kind).toBe("readError");
              continue;
            }
            dev.read(off, dst);
            const want = model.subarray(off, off + len);
            const s = range.find((x) => rflip.includes(x));
            if (s === undefined) expect(Buffer.compare(dst, want)).toBe(0);
            else {
              expect(bitDiff(dst, want)).toBe(1);
              const ev = dev.events[dev.events.length - 1];
              expect(ev.kind).toBe("readBitFlip");
              expect(Math.floor(ev.byte! / SECTOR_SIZE)).toBe(s);
            }
          }
          expect(Buffer.compare(inner.bytes, model)).toBe(0); // the disk is exactly the model
        }
      }), { numRuns: 200, seed: 17 });
  });

  it("rejects bad schedules", () => {
    const inner = new MemoryBackend(DEV);
    const bad: FaultSchedule[] = [
      { lostWrite: 1.5 }, { readError: -0.1 }, { tornWrite: Number.NaN }, { readErrorSectors: [SECTORS] },
      { lostWriteSectors: [1.5] }, { misdirectedWrites: [[0, SECTORS]] }, { sectorRange: [5, 5] }, { sectorRange: [0, SECTORS + 1] },
      { skipWrites: -1 },
    ];
    for (const s of bad) expect(() => new FaultBackend(inner, s), JSON.stringify(s)).toThrow(RangeError);
    const dev = new FaultBackend(inner);
    expect(() => dev.write(100, new Uint8Array(512))).toThrow(BlockError);
  });
});

describe("FaultBackend with probabilities", () => {
  const schedArb = fc.record({
    seed: fc.integer(),
    lostWrite: fc.double({ min: 0, max: 0.3, noNaN: true }),
    misdirectedWrite: fc.double({ min: 0, max: 0.3, noNaN: true }),
    tornWrite: fc.double({ min: 0, max: 0.3, noNaN: true }),
    writeBitFlip: fc.double({ min: 0, max: 0.3, noNaN: true }),
    readError: fc.double({ min: 0, max: 0.3, noNaN: true }),
    readBitFlip: fc.double({ min: 0, max: 0.3, noNaN: true }),
  });

  it("does what its event log says and nothing else; the same seed gives the same faults (property)", () => {
    fc.assert(fc.property(schedArb, fc.array(opArb, { maxLength: 60 }), (sched, rawOps) => {
      const ops = rawOps.map(clamp);
      const run = () => {
        const inner = new MemoryBackend(new Uint8Array(DEV));
        const dev = new FaultBackend(inner, sched);
        const model = new Uint8Array(DEV);
        for (const op of ops) {
          const off = op.sector * SECTOR_SIZE, len = op.sectors * SECTOR_SIZE;
          const before = dev.events.length;
          if (op.t === "w") {
            const req = dev.writes;
            const src = bytesOf(op.seed, len);
            dev.write(off, src);
            const evs = dev.events.slice(before);
            expect(evs.length).toBeLessThanOrEqual(1); // one fault per request
            if (evs[0]) {
              expect(evs[0].request).toBe(req);
              if (evs[0].kind === "torn") { // some, never all or none, of the sectors
                expect(evs[0].storedSectors!.length).toBeGreaterThan(0);
                expect(evs[0].storedSectors!.length).toBeLessThan(op.sectors);
              }
              if (evs[0].kind === "misdirected") {
                expect(evs[0].target! % 4096).toBe(0);
                expect(evs[0].target).not.toBe(off);
              }
            }
            applyWrite(model, off, src, evs[0]);
          } else {
            const dst = new Uint8Array(len);
            let threw = false;
            try { dev.read(off, dst); } catch (e) { threw = true; expect((e as BlockError).code).toBe("EIO"); }
            const evs = dev.events.slice(before);
            expect(evs.length).toBeLessThanOrEqual(1);
            expect(threw).toBe(evs[0]?.kind === "readError");
            if (!threw) {
              const want = new Uint8Array(model.subarray(off, off + len));
              if (evs[0]) { expect(evs[0].kind).toBe("readBitFlip"); want[evs[0].byte! - off] ^= 1 << evs[0].bit!; }
              expect(Buffer.compare(dst, want)).toBe(0);
            }
          }
          expect(Buffer.compare(inner.bytes, model)).toBe(0);
        }
        return dev.events;
      };
      expect(run()).toEqual(run());
    }), { numRuns: 200, seed: 19 });
  });

  it("hits about p of the requests, only inside sectorRange and after skipWrites, and not while disabled", () => {
    const inner = new MemoryBackend(DEV);
    const dev = new FaultBackend(inner, { seed: 3, lostWrite: 0.25, readError: 0.1, sectorRange: [0, 64], skipWrites: 100 });
    const block = new Uint8Array(4096);
    for (let i = 0; i < 4000; i++) dev.write((i % 16) * 4096, block); // sectors 0..127: half in range
    const lost = dev.events.filter((e) => e.kind === "lost");
    expect(lost.every((e) => e.request >= 100 && e.offset < 64 * SECTOR_SIZE)).toBe(true);
    const eligible = 3900 / 2;
    expect(lost.length).toBeGreaterThan(eligible * 0.25 * 0.85);
    expect(lost.length).toBeLessThan(eligible * 0.25 * 1.15);
    let errors = 0;
    for (let i = 0; i < 2000; i++) { try { dev.read(0, block); } catch { errors++; } }
    expect(errors).toBeGreaterThan(2000 * 0.1 * 0.8);
    expect(errors).toBeLessThan(2000 * 0.1 * 1.2);
    expect(dev.counts.readError).toBe(errors);
    dev.enabled = false;
    const n = dev.events.length;
    for (let i = 0; i < 200; i++) { dev.write(0, block); dev.read(0, block); }
    expect(dev.events.length).toBe(n);
  });
});

describe("FaultBackend under the kernel", () => {
  it("an injected read error becomes a failed virtio request; the kernel reports it and does not trap", () => {
    const dev = freshDevice(16 * MiB);
    const bytes = dev.bytes; // the device's own array: the boot below closes the device
    // the primary superblock stays unreadable, even after the mount rewrites it from the
    // backup: the mount fails with EIO (super.ts's case table), it does not trap
    const faulty = new FaultBackend(dev, { readErrorSectors: [0, 1, 2, 3, 4, 5, 6, 7] });
    let err: unknown;
    try {
      bootWith({ device: faulty, module: kernelModule(true), memoryMiB: 32 }).shutdown();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect(err).not.toBeInstanceOf(KernelPanic);
    expect((err as KernelError).code).toBe("EIO");
    expect((err as KernelError).message).toMatch(/I\/O error reading the superblock/);
    expect(faulty.counts.readError).toBeGreaterThan(1);
    // with the sector readable again (the failed boot closed the device: reopen its bytes),
    // the image mounts from block 0, which the failed mount rewrote from the backup
    const k = bootWith({ device: new MemoryBackend(bytes), module: kernelModule(true), memoryMiB: 32 });
    expect(k.info().mountUsedBackup).toBe(0);
    expect(k.isDead).toBe(false);
    k.fs.writeFileSync("/a", "x");
    k.shutdown();
  });
});
