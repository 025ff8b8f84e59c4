// test/crashstates.test.ts -- crash-state generation (host/crash/crashstates.ts) against a model, and
// the kernel recovering from the crash states of a recorded workload.
//
// The model of a state is built without the plan's index: replay the log up to the state's
// durable entry onto a copy of the base (WriteLog.replay, checked in recorder.test.ts), then
// copy the in-flight units' bytes from the log entries. Every state must obey the disk model
// (flushed writes present, in-flight data only from the state's epoch, FUA writes present,
// torn writes split at sector boundaries) and its overlay must read exactly like the model.

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as crypto from "node:crypto";
import { MemoryBackend, SECTOR_SIZE } from "../host/vmm/blockdev.js";
import { CRASH_UNIT_BYTES, CrashPlan, CrashState, OverlayBackend, generateCrashStates } from "../host/crash/crashstates.js";
import { LOG_FLUSH, RecordingBackend, WriteLog } from "../host/crash/recorder.js";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { freshDevice, MiB, bytesOf } from "./helpers.js";

const DEV = 64 * 1024;
const SECTORS = DEV / SECTOR_SIZE;


type Op =
  | { t: "write"; sector: number; sectors: number; seed: number; fua: boolean }
  | { t: "flush" }
  | { t: "discard"; sector: number; sectors: number }
  | { t: "mark" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant("write" as const), sector: fc.integer({ min: 0, max: SECTORS - 1 }), sectors: fc.integer({ min: 1, max: 20 }), seed: fc.integer(), fua: fc.boolean({ frequency: 8 }) }) },
  { weight: 2, arbitrary: fc.constant({ t: "flush" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("discard" as const), sector: fc.integer({ min: 0, max: SECTORS - 1 }), sectors: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: "mark" as const }) },
);

/** Records `ops` over `base`; returns the log. */
function record(base: Uint8Array, ops: Op[]): WriteLog {
  const rec = new RecordingBackend(new MemoryBackend(new Uint8Array(base)));
  for (const op of ops) {
    if (op.t === "write") {
      const n = Math.min(op.sectors, SECTORS - op.sector);
      rec.write(op.sector * SECTOR_SIZE, bytesOf(op.seed, n * SECTOR_SIZE), op.fua);
    } else if (op.t === "flush") rec.flush();
    else if (op.t === "discard") rec.discard(op.sector * SECTOR_SIZE, Math.min(op.sectors, SECTORS - op.sector) * SECTOR_SIZE);
    else rec.mark("m");
  }
  return rec.log;
}

/** The model image of `s`, built from the log alone (see the file header). */
function modelOf(plan: CrashPlan, s: CrashState): Uint8Array {
  const dev = new MemoryBackend(new Uint8Array(plan.base));
  plan.log.replay(dev, { entry: s.durableEntry });
  const img = dev.bytes;
  const unitBytes = (u: number): Uint8Array => {
    const { entry, offset, length, zero } = plan.unit(u);
    if (zero) return new Uint8Array(length);
    const e = plan.log.entry(entry);
    return e.data!.subarray(offset - e.offset, offset - e.offset + length);
  };
  for (const u of s.units) img.set(unitBytes(u), plan.unit(u).offset);
  if (s.torn) {
    const data = unitBytes(s.torn.unit);
    const off = plan.unit(s.torn.unit).offset;
    for (let i = 0; i < data.length / SECTOR_SIZE; i++) {
      if ((s.torn.sectorMask >>> i) & 1) img.set(data.subarray(i * SECTOR_SIZE, (i + 1) * SECTOR_SIZE), off + i * SECTOR_SIZE);
    }
  }
  return img;
}

/** Checks the disk-model rules of one state; returns nothing, throws on a violation. */
function checkRules(plan: CrashPlan, s: CrashState): void {
  const info = plan.epoch(s.epoch);
  const log = plan.log;
  // flushed writes present: every unit of an entry before the durable point is durable
  expect(s.durableUnits).toBe(info.firstUnit);
  for (let u = 0; u < plan.unitCount; u++) expect(plan.unit(u).entry < s.durableEntry).toBe(u < s.durableUnits);
  expect(s.durableEntry === 0 || log.kindOf(s.durableEntry - 1) === LOG_FLUSH).toBe(true);
  expect(s.crashEntry === log.length || log.kindOf(s.crashEntry) === LOG_FLUSH).toBe(true);
  // in-flight data only from the state's epoch, ascending, unique
  for (let i = 0; i < s.units.length; i++) {
    expect(s.units[i]).toBeGreaterThanOrEqual(info.firstUnit);
    expect(s.units[i]).toBeLessThan(info.endUnit);
    if (i > 0) expect(s.units[i]).toBeGreaterThan(s.units[i - 1]);
  }
  const epochUnits = info.endUnit - info.firstUnit;
  switch (s.kind) {
    case "flush":
      expect(s.units.length).toBe(0);
      expect(s.torn).toBeNull();
      expect(s.id).toBe(`b${s.epoch}`);
      break;
    case "prefix":
      s.units.forEach((u, i) => expect(u).toBe(info.firstUnit + i));
      expect(s.units.length).toBeGreaterThan(0);
      expect(s.units.length).toBeLessThanOrEqual(epochUnits);
      if (s.units.length === epochUnits) expect(info.flushed).toBe(false); // a flushed epoch's full prefix is the next flush state
      break;
    case "subset":
      // FUA writes were durable on completion: every subset holds them
      for (let u = info.firstUnit; u < info.endUnit; u++) if (plan.unit(u).fua) expect(s.units).toContain(u);
      expect(s.units.length).toBeLessThan(epochUnits);
      break;
    case "drop": {
      // every unit of the epoch but one, and that one is not FUA
      expect(s.units.length).toBe(epochUnits - 1);
      const missing = [];
      for (let u = info.firstUnit; u < info.endUnit; u++) if (!s.units.includes(u)) missing.push(u);
      expect(missing.length).toBe(1);
      expect(plan.unit(missing[0]).fua).toBe(false);
      break;
    }
    case "torn": {
      const t = s.torn!;
      const unit = plan.unit(t.unit);
      expect(t.unit).toBeGreaterThanOrEqual(info.firstUnit);
      expect(t.unit).toBeLessThan(info.endUnit);
      expect(unit.fua || unit.zero).toBe(false);
      // split only at sector boundaries: the unit is whole sectors inside one 4 KiB block
      expect(unit.offset % SECTOR_SIZE).toBe(0);
      expect(unit.length % SECTOR_SIZE).toBe(0);
      expect(Math.floor(unit.offset / CRASH_UNIT_BYTES)).toBe(Math.floor((unit.offset + unit.length - 1) / CRASH_UNIT_BYTES));
      const full = 2 ** (unit.length / SECTOR_SIZE) - 1;
      expect(t.sectorMask).toBeGreaterThan(0);
      expect(t.sectorMask).toBeLessThan(full);
      s.units.forEach((u, i) => expect(u).toBe(info.firstUnit + i));
      expect(s.units.length).toBe(t.unit - info.firstUnit);
      break;
    }
  }
  // the id rebuilds the same state
  const again = plan.state(s.id);
  expect({ kind: again.kind, epoch: again.epoch, units: [...again.units], torn: again.torn }).toEqual({ kind: s.kind, epoch: s.epoch, units: [...s.units], torn: s.torn });
}

function readAll(dev: { sizeBytes: number; read(o: number, d: Uint8Array): void }): Uint8Array {
  const out = new Uint8Array(dev.sizeBytes);
  dev.read(0, out);
  return out;
}

describe("crash states", () => {
  it("every state obeys the disk model and reads exactly like the model (property)", () => {
    fc.assert(fc.property(
      fc.integer(), fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 6 }), fc.boolean(),
      (seed, ops, maxStates, subsets, torn, lastOnly) => {
        const base = bytesOf(seed, DEV);
        const log = record(base, ops);
        const { plan, states } = generateCrashStates(log, base, { seed, maxStates, subsetsPerEpoch: subsets, tornPerEpoch: torn, epochs: lastOnly ? "last" : "all" });
        expect(states.length).toBeLessThanOrEqual(maxStates);
        expect(new Set(states.map((s) => s.id)).size).toBe(states.length);
        // deterministic: a second plan with the same seed gives the same states
        const again = new CrashPlan(log, base, { seed }).generate({ maxStates, subsetsPerEpoch: subsets, tornPerEpoch: torn, epochs: lastOnly ? "last" : "all" });
        expect(again.map((s) => s.id)).toEqual(states.map((s) => s.id));
        for (const s of states) {
          checkRules(plan, s);
          if (lastOnly && s.kind !== "flush") expect(s.epoch).toBe(plan.epochCount - 1);
          expect(Buffer.compare(readAll(s.backend()), modelOf(plan, s)), s.describe()).toBe(0);
          // the durable image alone equals the replay up to the durable entry
          const replayed = new MemoryBackend(new Uint8Array(base));
          log.replay(replayed, { entry: s.durableEntry });
          expect(Buffer.compare(readAll(plan.imageAt(s.durableUnits)), replayed.bytes)).toBe(0);
        }
      }), { numRuns: 120, seed: 11 });
  });

  it("without a bound: every flush state, every prefix, all subsets of small epochs", () => {
    const base = bytesOf(1, DEV);
    // epoch 0: 3 units (one write crossing a 4 KiB boundary + one FUA); epoch 1: empty; epoch 2: 2 units, no flush
    const log = record(base, [
      { t: "write", sector: 6, sectors: 4, seed: 1, fua: false }, // sectors 6..9: units [6,8) and [8,10)
      { t: "write", sector: 20, sectors: 1, seed: 2, fua: true },
      { t: "flush" }, { t: "mark" }, { t: "flush" },
      { t: "write", sector: 0, sectors: 8, seed: 3, fua: false },
      { t: "write", sector: 3, sectors: 1, seed: 4, fua: false },
    ]);
    const plan = new CrashPlan(log, base, { seed: 5 });
    expect(plan.unitCount).toBe(5);
    expect(plan.epochCount).toBe(3);
    const states = plan.generate({ maxStates: 1000, subsetsPerEpoch: 100, tornPerEpoch: 3 });
    const ids = states.map((s) => s.id);
    // b1 is skipped: epoch 1 is empty, so its image equals b2, whose crash window is later
    expect(ids.filter((i) => i.startsWith("b"))).toEqual(["b0", "b2"]);
    expect(ids.filter((i) => /^e0p/.test(i))).toEqual(["e0p1", "e0p2"]);
    expect(ids.filter((i) => /^e2p/.test(i))).toEqual(["e2p1", "e2p2"]); // the last epoch's full prefix is the final image
    expect(ids.filter((i) => /^e0s/.test(i))).toEqual(["e0s0", "e0s1"]); // 2 optional units: 2^2 - 2 subsets
    expect(ids.filter((i) => /^e2s/.test(i))).toEqual(["e2s0", "e2s1"]);
    expect(ids.filter((i) => /^e0t/.test(i)).length).toBe(3);
    const b2 = plan.state("b2");
    expect(b2.durableEntry).toBe(5);
    expect(b2.crashEntry).toBe(log.length);
    const e0s0 = plan.state("e0s0");
    expect(e0s0.units).toContain(2); // the FUA unit
    expect(e0s0.crashEntry).toBe(2);
    expect(e0s0.describe()).toMatch(/^e0s0: epoch 0 .*subset/);
    expect(plan.state("e0t1").describe()).toMatch(/torn/);
    for (const bad of ["x", "b9", "e0p0", "e0p3", "e0s2", "e1t0", "e5p1"]) expect(() => plan.state(bad)).toThrow(RangeError);
    expect(() => plan.generate({ maxStates: 0 })).toThrow(RangeError);
  });

  it("OverlayBackend reads like a model and never changes its base or overlay (property)", () => {
    fc.assert(fc.property(
      fc.integer(), fc.uniqueArray(fc.integer({ min: 0, max: SECTORS - 1 }), { maxLength: 30 }),
      fc.array(fc.tuple(fc.constantFrom("w", "z", "r"), fc.integer({ min: 0, max: SECTORS - 1 }), fc.integer({ min: 1, max: 12 }), fc.integer()), { maxLength: 30 }),
      (seed, overlaySectors, ops) => {
        const base = bytesOf(seed, DEV);
        const baseCopy = new Uint8Array(base);
        const overlay = new Map<number, Uint8Array>();
        const model = new Uint8Array(base);
        for (const s of overlaySectors) {
          const v = bytesOf(seed ^ s, SECTOR_SIZE);
          overlay.set(s, v);
          model.set(v, s * SECTOR_SIZE);
        }
        const overlayCopy = new Map([...overlay].map(([k, v]) => [k, new Uint8Array(v)]));
        // alternate the base between raw bytes and a BlockBackend
        const dev = new OverlayBackend(seed & 1 ? base : new MemoryBackend(base), overlay);
        for (const [op, sector, n0, dseed] of ops) {
          const n = Math.min(n0, SECTORS - sector);
          if (op === "w") { const d = bytesOf(dseed, n * SECTOR_SIZE); dev.write(sector * SECTOR_SIZE, d); model.set(d, sector * SECTOR_SIZE); }
          else if (op === "z") { dev.writeZeroes(sector * SECTOR_SIZE, n * SECTOR_SIZE); model.fill(0, sector * SECTOR_SIZE, (sector + n) * SECTOR_SIZE); }
          else {
            const d = new Uint8Array(n * SECTOR_SIZE);
            dev.read(sector * SECTOR_SIZE, d);
            expect(Buffer.compare(d, model.subarray(sector * SECTOR_SIZE, (sector + n) * SECTOR_SIZE))).toBe(0);
          }
        }
        expect(Buffer.compare(readAll(dev), model)).toBe(0);
        expect(Buffer.compare(base, baseCopy)).toBe(0);
        expect(overlay.size).toBe(overlayCopy.size);
        for (const [k, v] of overlay) expect(Buffer.compare(v, overlayCopy.get(k)!)).toBe(0);
      }), { numRuns: 150, seed: 13 });
    expect(() => new OverlayBackend(new Uint8Array(DEV), new Map([[SECTORS, new Uint8Array(SECTOR_SIZE)]]))).toThrow(/EINVAL/);
    expect(() => new OverlayBackend(new Uint8Array(DEV), new Map([[0, new Uint8Array(100)]]))).toThrow(/EINVAL/);
    const dev = new OverlayBackend(new Uint8Array(DEV));
    dev.close();
    expect(() => dev.read(0, new Uint8Array(512))).toThrow(/EBADF/);
  });

  it("generates thousands of states per second", () => {
    // a log shaped like a journaled workload: bursts of 4 KiB writes and multi-block data
    // writes, a flush before and after each one-block commit
    const size = 64 * MiB;
    const rec = new RecordingBackend(new MemoryBackend(size));
    const block = bytesOf(3, 64 * 1024);
    let x = 1;
    const rnd = (n: number) => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x % n; };
    for (let tx = 0; tx < 400; tx++) {
      for (let i = 0; i < 8; i++) rec.write(rnd(size / 4096 - 16) * 4096, block.subarray(0, 4096 * (1 + (i === 0 ? rnd(16) : 0))));
      rec.flush();
      rec.write(rnd(256) * 4096, block.subarray(0, 4096));
      rec.flush();
      rec.mark(`fsync ${tx}`);
    }
    const base = new Uint8Array(size);
    const t0 = performance.now();
    const plan = new CrashPlan(rec.log, base, { seed: 9 });
    const t1 = performance.now();
    const states = plan.generate({ maxStates: 10000 });
    const t2 = performance.now();
    let sectors = 0;
    for (const s of states) sectors += s.backend().overlay.size; // build every overlay and device
    const t3 = performance.now();
    const perSec = Math.round(states.length / ((t3 - t1) / 1000));
    console.log(`crash states: ${states.length} states from ${rec.log.length} entries (${plan.unitCount} units, ${plan.epochCount} epochs); ` +
      `index ${(t1 - t0).toFixed(1)} ms, generate ${(t2 - t1).toFixed(1)} ms, overlays ${(t3 - t2).toFixed(1)} ms (${sectors} sectors): ${perSec} states/s`);
    expect(states.length).toBe(10000);
  });
});

// ---- the kernel under crash states ------------------------------------------------------------

/** A version of a file: from log entry `at` (the mark after the call that made it) it may be on disk. */
interface Version { at: number; name: string; data: Buffer }

/**
 * The workload's promises, tied to log positions by marks. A file version becomes possible
 * once the call that made it returned (its mark); it becomes required (as the floor) once an
 * fsync of that file or a sync returned. For a cut before entry c the allowed versions of a
 * file are the one current at its last persistence mark before c and every later one before
 * c: exactly one of their names must exist (rename is atomic) with one of their contents. A
 * file not yet persisted may be missing, but never under two names, and what it shows must
 * be a prefix of one of its versions (no bytes that were never written to it).
 */
class Oracle {
  readonly versions = new Map<number, Version[]>();
  readonly persisted: { at: number; file: number | null }[] = []; // file null: sync
  readonly dirs: { at: number; path: string }[] = [];
  /** Written without fsync: may be missing or short, never foreign bytes. */
  readonly unsynced = new Map<string, Buffer>();
  constructor(private readonly rec: RecordingBackend) {}

  version(file: number, name: string, data: Buffer): void {
    const at = this.rec.mark(`version ${file} ${name}`);
    const vs = this.versions.get(file);
    if (vs) vs.push({ at, name, data }); else this.versions.set(file, [{ at, name, data }]);
  }
  current(file: number): Version { const vs = this.versions.get(file)!; return vs[vs.length - 1]; }
  persist(file: number | null): void { this.persisted.push({ at: this.rec.mark(file === null ? "sync" : `fsync ${file}`), file }); }
  mkdir(path: string): void { this.dirs.push({ at: this.rec.mark(`mkdir ${path}`), path }); }

  /** Violations of the promises in a kernel booted on a state whose cut came before entry `c`. */
  check(k: Kernel, c: number): string[] {
    const out: string[] = [];
    let lastSync = -1;
    for (const q of this.persisted) if (q.at < c && q.file === null) lastSync = q.at;
    for (const d of this.dirs) {
      if (d.at < lastSync && !(k.fs.existsSync(d.path) && k.fs.statSync(d.path).isDirectory())) out.push(`dir ${d.path} missing after sync`);
    }
    for (const [file, vs] of this.versions) {
      let p = -1;
      for (const q of this.persisted) if (q.at < c && (q.file === null || q.file === file)) p = q.at;
      const floor = p >= 0 && vs[0].at < p; // a sync before the file existed promises nothing about it
      let lo = 0;
      while (floor && lo + 1 < vs.length && vs[lo + 1].at < p) lo++;
      const allowed = vs.slice(lo).filter((v) => v.at < c);
      if (allowed.length === 0) continue;
      const names = [...new Set(allowed.map((v) => v.name))];
      const present = names.filter((n) => k.fs.existsSync(n));
      if (present.length > 1 || (floor && present.length === 0)) { out.push(`file ${file}: ${names.join(" or ")} present ${present.length} times`); continue; }
      if (present.length === 0) continue;
      const got = k.fs.readFileSync(present[0]);
      const mine = allowed.filter((v) => v.name === present[0]);
      // persisted: exactly one allowed version; not yet: a prefix of one (no bytes never written)
      const ok = mine.some((v) => floor ? Buffer.compare(v.data, got) === 0 : got.length <= v.data.length && Buffer.compare(v.data.subarray(0, got.length), got) === 0);
      if (!ok) out.push(`file ${file}: ${present[0]} has ${got.length} bytes matching none of its ${mine.map((v) => v.data.length).join("/")}-byte versions${floor ? "" : " (not even a prefix)"}`);
    }
    for (const [name, d] of this.unsynced) {
      if (!k.fs.existsSync(name)) continue;
      const got = k.fs.readFileSync(name);
      if (got.length > d.length || Buffer.compare(got, d.subarray(0, got.length)) !== 0) out.push(`${name} shows ${got.length} bytes that were never written`);
    }
    return out;
  }
}

/**
 * Records the workload on a kernel (with journal ordering broken by `breakFlags`, 0 = correct),
 * generates `maxStates` crash states, boots and checks each. Returns the failures, each with
 * its reproduction (seed, state id, description), and the summary line.
 */
function crashCampaign(SEED: number, maxStates: number, breakFlags: number, discard = false): { failures: string[]; summary: string } {
    const dev = freshDevice(16 * MiB);
    const base = new Uint8Array(dev.bytes);
    const rec = new RecordingBackend(dev);
    const mod = kernelModule(true);
    const k = bootWith({ device: rec, module: mod, memoryMiB: 64, discard });
    if (breakFlags !== 0) k.callExport("kernel_debug_break", breakFlags);
    const o = new Oracle(rec);
    // ---- the workload: mkdir, write, fsync, rename, overwrite, sync
    const sizes = [0, 100, 1500, 4096, 5000, 20000, 70000, 300, 9000, 1024];
    const content = (i: number, n: number) => {
      const h = crypto.createHash("sha512").update(`${SEED}:${i}`).digest();
      const b = Buffer.alloc(n);
      for (let j = 0; j < n; j++) b[j] = h[j % 64] ^ (j >> 6);
      return b;
    };
    for (let i = 0; i < 10; i++) {
      k.fs.mkdirSync(`/d${i}`);
      o.mkdir(`/d${i}`);
      const data = content(i, sizes[i]);
      const fd = k.fs.openSync(`/d${i}/f`, "w");
      k.fs.writeSync(fd, data);
      o.version(i, `/d${i}/f`, data);
      k.fs.fsyncSync(fd);
      k.fs.closeSync(fd);
      o.persist(i);
      if (i % 3 === 1) { // rename an fsync'ed file into the new directory, without a sync
        const v = o.current(i - 1);
        k.fs.renameSync(v.name, `/d${i}/g${i - 1}`);
        o.version(i - 1, `/d${i}/g${i - 1}`, v.data);
      }
      if (i % 4 === 3) { // a file that is never synced
        const d = Buffer.alloc(3000 + i * 1000, i);
        k.fs.writeFileSync(`/d${i}/tmp`, d);
        o.unsynced.set(`/d${i}/tmp`, d);
      }
      if (i === 5) { // overwrite an fsync'ed file in place, then fsync it
        const d = Buffer.alloc(6000, 0x5a);
        const name = o.current(2).name;
        k.fs.writeFileSync(name, d);
        o.version(2, name, d);
        const fd2 = k.fs.openSync(name, "r+");
        k.fs.fsyncSync(fd2);
        k.fs.closeSync(fd2);
        o.persist(2);
      }
      if (i % 3 === 2) { k.fs.syncSync(); o.persist(null); }
    }
    rec.mark("end");
    k.shutdown(); // the unmount's checkpoint is part of the log too
    return checkCrashStates(rec, base, mod, o, SEED, maxStates, (discard ? " with online discard" : "") + (breakFlags ? ` (journal ordering broken: ${breakFlags})` : ""));
}

/**
 * Generates up to `maxStates` crash states of the workload recorded by `rec` over `base`,
 * boots `mod` on each, and checks fsck, the oracle's promises and that every directory takes
 * a new file. Returns the failures (each with its reproduction) and a summary line.
 */
function checkCrashStates(rec: RecordingBackend, base: Uint8Array, mod: WebAssembly.Module, o: Oracle, SEED: number, maxStates: number, label: string): { failures: string[]; summary: string } {
    const log = rec.log;
    // ---- crash states
    const g0 = performance.now();
    const plan = new CrashPlan(log, base, { seed: SEED });
    const states = plan.generate({ maxStates });
    for (const s of states) s.overlay();
    const g1 = performance.now();
    const failures: string[] = [];
    const c0 = performance.now();
    for (const s of states) {
      const repro = `(seed ${SEED}, state ${s.id}) ${s.describe()}`;
      let k2: Kernel;
      try {
        k2 = bootWith({ device: s.backend(), module: mod, memoryMiB: 32 });
      } catch (e) {
        failures.push(`boot: ${(e as Error).message} ${repro}`);
        continue;
      }
      try {
        const problems = k2.fsck(true);
        if (problems !== 0) failures.push(`fsck: ${problems} problems: ${k2.logLines.filter((l) => l.startsWith("fsck")).slice(0, 3).join(" | ")} ${repro}`);
        for (const v of o.check(k2, s.crashEntry)) failures.push(`${v} ${repro}`);
        // every directory takes a new file, and gives it back
        for (const dir of ["/", ...k2.fs.readdirSync("/").map((n) => `/${n}`)]) {
          if (!k2.fs.statSync(dir).isDirectory()) continue;
          const probe = `${dir === "/" ? "" : dir}/.probe`;
          k2.fs.writeFileSync(probe, "x");
          k2.fs.unlinkSync(probe);
        }
      } catch (e) {
        failures.push(`check: ${(e as Error).message} ${repro}`);
      }
    }
    const c1 = performance.now();
    const genRate = Math.round(states.length / ((g1 - g0) / 1000));
    const checkRate = Math.round(states.length / ((c1 - c0) / 1000));
    const kinds = states.reduce((m, s) => ((m[s.kind] = (m[s.kind] ?? 0) + 1), m), {} as Record<string, number>);
    const st = log.stats();
    const summary = `kernel crash states${label}: log of ${log.length} entries (${st.writes} writes, ${st.flushes} flushes, ${st.discards} discards, ${st.marks} marks, ${(log.dataBytes / MiB).toFixed(1)} MiB), ` +
      `${plan.epochCount} epochs; ${states.length} states ${JSON.stringify(kinds)}; generated ${genRate} states/s, checked ${checkRate} states/s; ${failures.length} failures`;
    return { failures, summary };
}

describe("kernel recovery from the crash states of a recorded workload", () => {
  it("boots every state, fsck finds nothing, fsync'ed files are intact, renames are atomic", () => {
    const { failures, summary } = crashCampaign(2024, 200, 0);
    console.log(summary);
    for (const f of failures.slice(0, 20)) console.log(`  FAIL ${f}`);
    expect(summary).toMatch(/ 200 states /);
    expect(failures).toEqual([]);
  });

  it("the states and the oracle catch a kernel that breaks journal ordering", () => {
    // kernel_debug_break flags (assembly/index.ts): each drops one FLUSH of the commit protocol
    for (const flags of [1, 2]) {
      const { failures, summary } = crashCampaign(2024, 200, flags);
      console.log(summary);
      for (const f of failures.slice(0, 3)) console.log(`  caught: ${f}`);
      expect(failures.length).toBeGreaterThan(0);
    }
  });
});

describe("online discard under crashes", () => {
  // The overwrite and the renames of the workload free blocks of fsync'ed files; with discard
  // the device zeroes them (the recorded DISCARDs are part of every crash state), so a discard
  // sent before its commit was durable leaves a state whose committed file points at zeroes.
  it("a commit's discards come after it is durable: every crash state keeps its promises", () => {
    const { failures, summary } = crashCampaign(2024, 200, 0, true);
    console.log(summary);
    for (const f of failures.slice(0, 20)) console.log(`  FAIL ${f}`);
    expect(summary).toMatch(/ 200 states /);
    expect(failures).toEqual([]);
  });

  it("the states catch a kernel that discards before the commit is durable", () => {
    const { failures, summary } = crashCampaign(2024, 200, 4, true);
    console.log(summary);
    for (const f of failures.slice(0, 3)) console.log(`  caught: ${f}`);
    expect(failures.length).toBeGreaterThan(0);
  });
});

describe("streams under crashes: write-through, background writeback and free-behind", () => {
  // Big sequential writes reach the disk before any commit (their blocks are new: nothing
  // committed points at them): calls of 64 KiB or more past 8 MiB straight from the caller's
  // buffer (write-through), smaller ones written back at half the dirty limit, their pages
  // leaving the cache once written (free-behind). A cut anywhere must still show each
  // fsync'ed file whole and an unsynced stream as missing or a prefix, never other bytes.
  it("fsync'ed streams are whole, an unsynced stream is a prefix, in every crash state", () => {
    const SEED = 77;
    const dev = freshDevice(64 * MiB);
    const base = new Uint8Array(dev.bytes);
    const rec = new RecordingBackend(dev);
    const mod = kernelModule(true);
    const k = bootWith({ device: rec, module: mod, memoryMiB: 32 });
    k.callExport("sys_set_commit_interval", 0); // commits only at fsync or pressure
    const o = new Oracle(rec);
    /** Writes `data` to `name` in 1 MiB calls; with `file`, records the version, then fsyncs. */
    const stream = (name: string, data: Buffer, file?: number, chunk = MiB): void => {
      const fd = k.fs.openSync(name, "w");
      for (let off = 0; off < data.length; off += chunk) k.fs.writeSync(fd, data, off, Math.min(chunk, data.length - off));
      if (file !== undefined) {
        o.version(file, name, data);
        k.fs.fsyncSync(fd);
        o.persist(file);
      }
      k.fs.closeSync(fd);
    };
    stream("/a", Buffer.from(bytesOf(SEED, 10 * MiB)), 0);
    const before = k.info();
    // two unsynced streams: /b in 1 MiB calls (past 8 MiB written straight from the caller's
    // buffer), /d in 60 KiB calls (cached, written back in the background, freed behind)
    const b = Buffer.from(bytesOf(SEED + 1, 12 * MiB));
    stream("/b", b);
    o.unsynced.set("/b", b);
    const d = Buffer.from(bytesOf(SEED + 4, 12 * MiB));
    stream("/d", d, undefined, 60 * 1024);
    o.unsynced.set("/d", d);
    const after = k.info();
    // both went to disk without a commit and left the cache
    expect(after.writeThrough - before.writeThrough).toBe(4 * MiB / 4096);
    expect(after.writtenPages - before.writtenPages).toBeGreaterThan(8 * MiB / 4096);
    expect(after.commits).toBe(before.commits);
    expect(after.freebehind).toBeGreaterThan(before.freebehind);
    stream("/c", Buffer.from(bytesOf(SEED + 2, 300000)), 1);
    // truncated and rewritten: until the fsync's commit a cut shows the old version
    stream("/a", Buffer.from(bytesOf(SEED + 3, 10 * MiB + 5000)), 0);
    rec.mark("end");
    k.shutdown();
    const { failures, summary } = checkCrashStates(rec, base, mod, o, SEED, 150, " (streams)");
    console.log(summary);
    for (const f of failures.slice(0, 20)) console.log(`  FAIL ${f}`);
    expect(failures).toEqual([]);
  });
});

describe("kernel bugs the crash states found (regressions)", () => {
  // Found by this suite: truncating an fsync'ed file to a size inside a block used to zero
  // the block's tail in place as ordered data, which reached the disk before the transaction
  // that shrinks i_size committed. A cut in between showed the old size with zeroes where
  // fsync'ed bytes were. The kernel now zeroes past EOF only in the cache and writes the
  // zeros back when the file grows (fs/file.ts zero_past_eof, flush_eof_tail).
  it("a shrinking truncate never shows zeroes inside the old size", () => {
    const dev = freshDevice(16 * MiB);
    const base = new Uint8Array(dev.bytes);
    const rec = new RecordingBackend(dev);
    const mod = kernelModule(true);
    const k = bootWith({ device: rec, module: mod, memoryMiB: 64 });
    const fd = k.fs.openSync("/f", "w");
    k.fs.writeSync(fd, Buffer.alloc(13000, 0xab));
    k.fs.fsyncSync(fd);
    k.fs.closeSync(fd);
    k.fs.truncateSync("/f", 2854);
    k.fs.syncSync();
    k.shutdown();
    const plan = new CrashPlan(rec.log, base, { seed: 1 });
    const bad: string[] = [];
    for (const s of plan.generate({ maxStates: 300 })) {
      const k2 = bootWith({ device: s.backend(), module: mod, memoryMiB: 32 });
      if (!k2.fs.existsSync("/f")) continue;
      const got = k2.fs.readFileSync("/f");
      const at = got.findIndex((b) => b !== 0xab);
      if (at >= 0) bad.push(`${s.id}: /f has ${got.length} bytes, byte ${at} is ${got[at]} :: ${s.describe()}`);
    }
    if (bad.length > 0) console.log(`shrinking truncate: ${bad.length} states show foreign bytes, e.g. ${bad[0]}`);
    expect(bad).toEqual([]);
  });
});
