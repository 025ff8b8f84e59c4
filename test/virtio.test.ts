// test/virtio.test.ts -- the virtio-blk device model against a TypeScript driver and a disk model.
//
// The driver below lays out a split virtqueue in a real WebAssembly.Memory (so memory.grow
// really detaches the old buffer), queues batches of IN/OUT/FLUSH/GET_ID/DISCARD/WRITE_ZEROES
// requests with randomized descriptor layouts (split headers, scatter-gather data of odd piece
// sizes, status sharing a descriptor with data, indirect tables), rings the doorbell and checks
// statuses, used lengths and data against a Uint8Array model of the disk.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BlockBackend, BlockError, MemoryBackend, SECTOR_SIZE } from "../host/vmm/blockdev.js";
import { FileBackend } from "../host/node/blockdev-node.js";
import {
  VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES,
  VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VirtioBlkDevice,
} from "../host/vmm/virtio.js";

const PAGE = 65536;
const SERIAL = "test-disk-0001";

const tmpBase = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-virtio-"));
afterAll(() => fs.rmSync(tmpBase, { recursive: true, force: true }));

// ---- requests and layouts ------------------------------------------------------------------

interface DwzSeg { sector: number; sectors: number; flags: number }
interface Layout {
  /** Split the 16-byte header into two descriptors at this byte (0 = no split). */
  hdrSplit: number;
  /** Piece sizes for the data stream (the rest goes into a final piece). */
  pieces: number[];
  /** Put the status byte in the same descriptor as the last data byte (IN / GET_ID). */
  statusMerged: boolean;
  /** Use an indirect descriptor table. */
  indirect: boolean;
}
type Req =
  | { kind: "out"; sector: number; bytes: number; seed: number; layout: Layout }
  | { kind: "in"; sector: number; bytes: number; layout: Layout }
  | { kind: "flush"; layout: Layout }
  | { kind: "getid"; bytes: number; layout: Layout }
  | { kind: "discard" | "wz"; segs: DwzSeg[]; layout: Layout }
  | { kind: "bad"; type: number; layout: Layout };

interface Completion { id: number; len: number; status: number; data: Uint8Array }

function fill(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function typeOf(r: Req): number {
  switch (r.kind) {
    case "out": return VIRTIO_BLK_T_OUT;
    case "in": return VIRTIO_BLK_T_IN;
    case "flush": return VIRTIO_BLK_T_FLUSH;
    case "getid": return VIRTIO_BLK_T_GET_ID;
    case "discard": return VIRTIO_BLK_T_DISCARD;
    case "wz": return VIRTIO_BLK_T_WRITE_ZEROES;
    case "bad": return r.type;
  }
}

// ---- the driver ----------------------------------------------------------------------------

interface Pending { req: Req; writable: { addr: number; len: number }[]; statusAddr: number; descs: number[] }
interface Buf { bytes?: Uint8Array; len: number; write: boolean }

/** A minimal virtio-blk driver: rings at the bottom of memory, a bump arena above them. */
class TestDriver {
  readonly q: number;
  readonly mem: WebAssembly.Memory;
  readonly desc = 0;
  readonly avail: number;
  readonly used: number;
  readonly arenaStart: number;
  private arena: number;
  private free: number[] = [];
  private availIdx = 0;
  private lastUsed = 0;
  private pending = new Map<number, Pending>();
  order: number[] = []; // heads in submission order since the last kick

  constructor(q: number, pages: number) {
    this.q = q;
    this.mem = new WebAssembly.Memory({ initial: pages, maximum: pages + 64 });
    this.avail = 16 * q;
    this.used = align(this.avail + 6 + 2 * q, 4);
    this.arenaStart = align(this.used + 6 + 8 * q, 16);
    this.arena = this.arenaStart;
    for (let i = 0; i < q; i++) this.free.push(i);
  }

  get u8(): Uint8Array { return new Uint8Array(this.mem.buffer); }
  get dv(): DataView { return new DataView(this.mem.buffer); }

  private alloc(n: number): number {
    const a = this.arena;
    this.arena = align(a + Math.max(n, 1), 8);
    if (this.arena > this.mem.buffer.byteLength) throw new Error("test arena exhausted");
    return a;
  }

  private writeDesc(at: number, addr: number, len: number, flags: number, next: number): void {
    const dv = this.dv;
    dv.setUint32(at, addr, true);
    dv.setUint32(at + 4, 0, true);
    dv.setUint32(at + 8, len, true);
    dv.setUint16(at + 12, flags, true);
    dv.setUint16(at + 14, next, true);
  }

  /** Descriptors `r` needs in the main table. */
  need(r: Req): number {
    return r.layout.indirect ? 1 : this.buffers(r).length;
  }

  get freeCount(): number { return this.free.length; }

  /** The request as a list of buffers (readable first), per its layout. */
  buffers(r: Req): Buf[] {
    const hdr = new Uint8Array(16);
    const hv = new DataView(hdr.buffer);
    hv.setUint32(0, typeOf(r), true);
    const sector = "sector" in r ? r.sector : 0;
    hv.setUint32(8, sector % 2 ** 32, true);
    hv.setUint32(12, Math.floor(sector / 2 ** 32), true);
    let payload: Uint8Array = new Uint8Array(0);
    let writableData = 0;
    if (r.kind === "out") payload = fill(r.seed, r.bytes);
    if (r.kind === "discard" || r.kind === "wz") {
      payload = new Uint8Array(16 * r.segs.length);
      const pv = new DataView(payload.buffer);
      r.segs.forEach((s, i) => {
        pv.setUint32(16 * i, s.sector % 2 ** 32, true);
        pv.setUint32(16 * i + 4, Math.floor(s.sector / 2 ** 32), true);
        pv.setUint32(16 * i + 8, s.sectors, true);
        pv.setUint32(16 * i + 12, s.flags, true);
      });
    }
    if (r.kind === "in" || r.kind === "getid") writableData = r.bytes;
    const out: Buf[] = [];
    const L = r.layout;
    if (L.hdrSplit > 0 && L.hdrSplit < 16) {
      out.push({ bytes: hdr.subarray(0, L.hdrSplit), len: L.hdrSplit, write: false });
      out.push({ bytes: hdr.subarray(L.hdrSplit), len: 16 - L.hdrSplit, write: false });
    } else {
      out.push({ bytes: hdr, len: 16, write: false });
    }
    for (const [a, b] of cut(payload.length, L.pieces)) out.push({ bytes: payload.subarray(a, b), len: b - a, write: false });
    const wcuts = cut(writableData, L.pieces);
    if (L.statusMerged && wcuts.length > 0) {
      for (let i = 0; i < wcuts.length - 1; i++) out.push({ len: wcuts[i][1] - wcuts[i][0], write: true });
      const last = wcuts[wcuts.length - 1];
      out.push({ len: last[1] - last[0] + 1, write: true });
    } else {
      for (const [a, b] of wcuts) out.push({ len: b - a, write: true });
      out.push({ len: 1, write: true });
    }
    return out;
  }

  /** Queues `r`; the caller checked need(r) <= freeCount. Returns the head index. */
  queue(r: Req): number {
    const bufs = this.buffers(r);
    const u8 = this.u8;
    const writable: { addr: number; len: number }[] = [];
    const addrs = bufs.map((b) => {
      const a = this.alloc(b.len);
      if (b.bytes) u8.set(b.bytes, a);
      else u8.fill(0xee, a, a + b.len); // poison device-writable buffers
      if (b.write) writable.push({ addr: a, len: b.len });
      return a;
    });
    const last = writable[writable.length - 1];
    const statusAddr = last.addr + last.len - 1;
    u8[statusAddr] = 0xff;
    let head: number;
    const descs: number[] = [];
    if (r.layout.indirect) {
      const table = this.alloc(16 * bufs.length);
      bufs.forEach((b, i) => {
        const more = i < bufs.length - 1;
        this.writeDesc(table + 16 * i, addrs[i], b.len, (b.write ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0), more ? i + 1 : 0);
      });
      head = this.free.pop()!;
      descs.push(head);
      this.writeDesc(this.desc + 16 * head, table, 16 * bufs.length, VIRTQ_DESC_F_INDIRECT, 0);
    } else {
      for (let i = 0; i < bufs.length; i++) descs.push(this.free.pop()!);
      bufs.forEach((b, i) => {
        const more = i < bufs.length - 1;
        this.writeDesc(this.desc + 16 * descs[i], addrs[i], b.len,
          (b.write ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0), more ? descs[i + 1] : 0);
      });
      head = descs[0];
    }
    this.publish(head);
    this.pending.set(head, { req: r, writable, statusAddr, descs });
    this.order.push(head);
    return head;
  }

  /** Puts `head` in the avail ring and bumps avail.idx. */
  publish(head: number): void {
    const dv = this.dv;
    dv.setUint16(this.avail + 4 + 2 * (this.availIdx % this.q), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    dv.setUint16(this.avail + 2, this.availIdx, true);
  }

  /** Rings the doorbell and reaps every used element. */
  kick(dev: VirtioBlkDevice): Map<number, Completion> {
    dev.notify();
    const dv = this.dv;
    const usedIdx = dv.getUint16(this.used + 2, true);
    const done = new Map<number, Completion>();
    while (this.lastUsed !== usedIdx) {
      const e = this.used + 4 + 8 * (this.lastUsed % this.q);
      const id = dv.getUint32(e, true);
      const len = dv.getUint32(e + 4, true);
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
      const p = this.pending.get(id);
      if (!p) throw new Error(`device completed unknown head ${id}`);
      this.pending.delete(id);
      const u8 = this.u8;
      const parts = p.writable.map((w) => u8.slice(w.addr, w.addr + w.len));
      const all = concat(parts);
      done.set(id, { id, len, status: u8[p.statusAddr], data: all.subarray(0, all.length - 1) });
      for (const d of p.descs) this.free.push(d);
    }
    if (this.pending.size === 0) this.arena = this.arenaStart;
    return done;
  }
}

function align(n: number, a: number): number { return Math.ceil(n / a) * a; }

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Splits [0, n) at the given piece sizes; the remainder is one final piece. */
function cut(n: number, pieces: number[]): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  for (const p of pieces) {
    if (pos >= n) break;
    const e = Math.min(n, pos + p);
    out.push([pos, e]);
    pos = e;
  }
  if (pos < n) out.push([pos, n]);
  return out;
}

// ---- the disk model ------------------------------------------------------------------------

interface Expect { status: number; len: number; data?: Uint8Array }

function idBytes(n: number): Uint8Array {
  const id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
  for (let i = 0; i < SERIAL.length; i++) id[i] = SERIAL.charCodeAt(i);
  return id.subarray(0, Math.min(n, VIRTIO_BLK_ID_BYTES));
}

/** Applies `r` to the model and returns what the device must answer. */
function model(disk: Uint8Array, r: Req): Expect {
  const size = disk.length;
  switch (r.kind) {
    case "out":
    case "in": {
      const off = r.sector * SECTOR_SIZE;
      if (r.bytes % SECTOR_SIZE !== 0 || off + r.bytes > size) return { status: VIRTIO_BLK_S_IOERR, len: 1 };
      if (r.kind === "out") {
        disk.set(fill(r.seed, r.bytes), off);
        return { status: VIRTIO_BLK_S_OK, len: 1 };
      }
      return { status: VIRTIO_BLK_S_OK, len: r.bytes + 1, data: disk.slice(off, off + r.bytes) };
    }
    case "flush":
      return { status: VIRTIO_BLK_S_OK, len: 1 };
    case "getid": {
      const id = idBytes(r.bytes);
      return { status: VIRTIO_BLK_S_OK, len: id.length + 1, data: id };
    }
    case "discard":
    case "wz": {
      if (r.segs.length === 0) return { status: VIRTIO_BLK_S_IOERR, len: 1 };
      for (const s of r.segs) {
        if ((s.flags & ~1) !== 0) return { status: VIRTIO_BLK_S_UNSUPP, len: 1 };
        if (r.kind === "discard" && s.flags !== 0) return { status: VIRTIO_BLK_S_UNSUPP, len: 1 };
        if ((s.sector + s.sectors) * SECTOR_SIZE > size) return { status: VIRTIO_BLK_S_IOERR, len: 1 };
      }
      for (const s of r.segs) disk.fill(0, s.sector * SECTOR_SIZE, (s.sector + s.sectors) * SECTOR_SIZE);
      return { status: VIRTIO_BLK_S_OK, len: 1 };
    }
    case "bad":
      return { status: VIRTIO_BLK_S_UNSUPP, len: 1 };
  }
}

// ---- backends under test -------------------------------------------------------------------

/** Only the mandatory BlockBackend methods: forces the device's per-piece and bounce paths. */
class PlainBackend implements BlockBackend {
  constructor(private inner: MemoryBackend) {}
  get sizeBytes(): number { return this.inner.sizeBytes; }
  read(o: number, d: Uint8Array): void { this.inner.read(o, d); }
  write(o: number, s: Uint8Array): void { this.inner.write(o, s); }
  flush(): void { this.inner.flush(); }
  discard(o: number, n: number): void { this.inner.discard(o, n); }
  close(): void { this.inner.close(); }
}

/** Counts backend calls and fails any access touching `badSector`. */
class FaultyBackend implements BlockBackend {
  calls = 0;
  constructor(private inner: MemoryBackend, private badSector: number) {}
  get sizeBytes(): number { return this.inner.sizeBytes; }
  private check(o: number, n: number): void {
    this.calls++;
    const bad = this.badSector * SECTOR_SIZE;
    if (o <= bad && bad < o + n) throw new BlockError("EIO", "injected");
  }
  read(o: number, d: Uint8Array): void { this.check(o, d.length); this.inner.read(o, d); }
  write(o: number, s: Uint8Array): void { this.check(o, s.length); this.inner.write(o, s); }
  readv(o: number, ds: Uint8Array[]): void { this.check(o, ds.reduce((n, d) => n + d.length, 0)); this.inner.readv(o, ds); }
  writev(o: number, ss: Uint8Array[]): void { this.check(o, ss.reduce((n, d) => n + d.length, 0)); this.inner.writev(o, ss); }
  flush(): void { this.calls++; }
  discard(o: number, n: number): void { this.inner.discard(o, n); }
  close(): void { this.inner.close(); }
}

type BackendKind = "memory" | "file" | "plain";
let fileCounter = 0;
function makeBackend(kind: BackendKind, size: number): BlockBackend {
  if (kind === "memory") return new MemoryBackend(size);
  if (kind === "plain") return new PlainBackend(new MemoryBackend(size));
  return FileBackend.create(path.join(tmpBase, `disk${fileCounter++}.img`), size, { discard: "zero" });
}

function readAll(b: BlockBackend): Uint8Array {
  const out = new Uint8Array(b.sizeBytes);
  b.read(0, out);
  return out;
}

// ---- one scripted run ----------------------------------------------------------------------

/**
 * Runs `batches` through a fresh device and driver; checks every completion and the final
 * disk against the model. `grow` grows wasm memory before each batch whose index is in it.
 */
function runScript(kind: BackendKind, batches: Req[][], grow: boolean[], q = 64): VirtioBlkDevice {
  const SECTORS = 48;
  const backend = makeBackend(kind, SECTORS * SECTOR_SIZE);
  const drv = new TestDriver(q, 4);
  const dev = new VirtioBlkDevice(backend, () => drv.mem.buffer, q, { serial: SERIAL });
  dev.setQueue(drv.desc, drv.avail, drv.used);
  const disk = new Uint8Array(SECTORS * SECTOR_SIZE);
  try {
    batches.forEach((batch, bi) => {
      if (grow[bi]) drv.mem.grow(1); // detaches the buffer the device saw last time
      let i = 0;
      while (i < batch.length) {
        drv.order = [];
        const queued: Req[] = [];
        while (i < batch.length && drv.need(batch[i]) <= drv.freeCount) queued.push(batch[i]), drv.queue(batch[i++]);
        if (queued.length === 0) throw new Error("request needs more descriptors than the ring has");
        const heads = drv.order;
        const done = drv.kick(dev);
        expect(done.size).toBe(queued.length);
        heads.forEach((h, k) => {
          const want = model(disk, queued[k]);
          const got = done.get(h)!;
          const ctx = JSON.stringify({ req: { ...queued[k], layout: undefined }, want: { ...want, data: undefined }, got: { ...got, data: undefined } });
          expect(got.status, ctx).toBe(want.status);
          expect(got.len, ctx).toBe(want.len);
          if (want.data) expect(Buffer.from(got.data.subarray(0, want.data.length)).equals(Buffer.from(want.data)), ctx).toBe(true);
        });
      }
    });
    expect(Buffer.from(readAll(backend)).equals(Buffer.from(disk))).toBe(true);
  } finally {
    backend.close();
  }
  return dev;
}

// ---- generators ----------------------------------------------------------------------------

const layoutArb: fc.Arbitrary<Layout> = fc.record({
  hdrSplit: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 15 }) }),
  pieces: fc.oneof(
    { weight: 3, arbitrary: fc.constant<number[]>([]) },
    { weight: 2, arbitrary: fc.array(fc.constantFrom(512, 1024, 4096), { maxLength: 4 }) },
    { weight: 2, arbitrary: fc.array(fc.integer({ min: 1, max: 1500 }), { maxLength: 4 }) },
  ),
  statusMerged: fc.boolean(),
  indirect: fc.boolean(),
});
const SECT = 48;
const sectorArb = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: SECT - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: SECT - 2, max: SECT + 4 }) });
const lenArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 8 }).map((n) => n * SECTOR_SIZE) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }) }, // often unaligned: IOERR
);
const segArb: fc.Arbitrary<DwzSeg> = fc.record({
  sector: sectorArb,
  sectors: fc.integer({ min: 0, max: 6 }),
  flags: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2) }),
});
const reqArb: fc.Arbitrary<Req> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("out" as const), sector: sectorArb, bytes: lenArb, seed: fc.integer(), layout: layoutArb }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("in" as const), sector: sectorArb, bytes: lenArb, layout: layoutArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("flush" as const), layout: layoutArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("getid" as const), bytes: fc.integer({ min: 0, max: 40 }), layout: layoutArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("discard" as const), segs: fc.array(segArb, { maxLength: 3 }), layout: layoutArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("wz" as const), segs: fc.array(segArb, { maxLength: 3 }), layout: layoutArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bad" as const), type: fc.constantFrom(2, 3, 99, 0xffffffff), layout: layoutArb }) },
);
const scriptArb = fc.record({
  batches: fc.array(fc.array(reqArb, { minLength: 1, maxLength: 14 }), { minLength: 1, maxLength: 6 }),
  grow: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
});

// ---- tests ---------------------------------------------------------------------------------

describe("VirtioBlkDevice vs a disk model", () => {
  for (const kind of ["memory", "plain", "file"] as const) {
    it(`random request batches agree with the model (${kind} backend)`, () => {
      fc.assert(fc.property(scriptArb, ({ batches, grow }) => { runScript(kind, batches, grow); }),
        { numRuns: kind === "file" ? 60 : 200 });
    }, 60_000);
  }
});

const L0: Layout = { hdrSplit: 0, pieces: [], statusMerged: false, indirect: false };

describe("VirtioBlkDevice merging and stats", () => {
  it("merges contiguous writes and reads into one backend call each", () => {
    const inner = new MemoryBackend(64 * SECTOR_SIZE);
    const backend = new FaultyBackend(inner, 1e9);
    const drv = new TestDriver(64, 4);
    const dev = new VirtioBlkDevice(backend, () => drv.mem.buffer, 64);
    dev.setQueue(drv.desc, drv.avail, drv.used);
    for (let i = 0; i < 8; i++) drv.queue({ kind: "out", sector: i * 4, bytes: 2048, seed: i + 1, layout: { ...L0, pieces: [1024] } });
    drv.kick(dev);
    expect(backend.calls).toBe(1);
    expect(dev.stats.merged).toBe(7);
    expect(dev.stats.bytesWritten).toBe(8 * 2048);
    backend.calls = 0;
    for (let i = 0; i < 8; i++) drv.queue({ kind: "in", sector: i * 4, bytes: 2048, layout: L0 });
    drv.queue({ kind: "flush", layout: L0 });
    drv.queue({ kind: "in", sector: 40, bytes: 512, layout: L0 }); // not contiguous: its own call
    const done = drv.kick(dev);
    expect(backend.calls).toBe(1 + 1 + 1); // reads, flush, the lone read
    expect([...done.values()].every((c) => c.status === VIRTIO_BLK_S_OK)).toBe(true);
    expect(dev.stats).toMatchObject({ notifies: 2, requests: 18, reads: 9, writes: 8, flushes: 1, bytesRead: 8 * 2048 + 512 });
  });

  it("a failing request inside a merged group fails alone", () => {
    const inner = new MemoryBackend(64 * SECTOR_SIZE);
    const backend = new FaultyBackend(inner, 9);
    const drv = new TestDriver(64, 4);
    const dev = new VirtioBlkDevice(backend, () => drv.mem.buffer, 64);
    dev.setQueue(drv.desc, drv.avail, drv.used);
    const heads = [0, 1, 2, 3].map((i) => drv.queue({ kind: "out", sector: i * 4, bytes: 2048, seed: 7, layout: L0 }));
    const done = drv.kick(dev);
    expect(heads.map((h) => done.get(h)!.status)).toEqual([VIRTIO_BLK_S_OK, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK]);
    expect(dev.stats.ioErrors).toBe(1);
    const disk = readAll(inner);
    expect(Buffer.from(disk.subarray(0, 2048)).equals(Buffer.from(fill(7, 2048)))).toBe(true);
    expect(disk.subarray(4096, 6144).every((b) => b === 0)).toBe(true);
  });

  it("keeps working after memory.grow detaches the buffer", () => {
    const backend = new MemoryBackend(16 * SECTOR_SIZE);
    const drv = new TestDriver(16, 2);
    const dev = new VirtioBlkDevice(backend, () => drv.mem.buffer, 16);
    dev.setQueue(drv.desc, drv.avail, drv.used);
    drv.queue({ kind: "out", sector: 0, bytes: 512, seed: 3, layout: L0 });
    drv.kick(dev);
    const old = drv.mem.buffer;
    drv.mem.grow(2);
    expect(old.byteLength).toBe(0);
    const h = drv.queue({ kind: "in", sector: 0, bytes: 512, layout: L0 });
    const c = drv.kick(dev).get(h)!;
    expect(c.status).toBe(VIRTIO_BLK_S_OK);
    expect(Buffer.from(c.data).equals(Buffer.from(fill(3, 512)))).toBe(true);
    expect(drv.mem.buffer.byteLength).toBe(4 * PAGE);
  });
});

describe("VirtioBlkDevice never throws on a broken driver", () => {
  function setup(q = 8) {
    const backend = new MemoryBackend(16 * SECTOR_SIZE);
    const drv = new TestDriver(q, 2);
    const dev = new VirtioBlkDevice(backend, () => drv.mem.buffer, q);
    dev.setQueue(drv.desc, drv.avail, drv.used);
    return { backend, drv, dev };
  }
  function usedElem(drv: TestDriver, i: number): { id: number; len: number } {
    const dv = drv.dv;
    return { id: dv.getUint32(drv.used + 4 + 8 * i, true), len: dv.getUint32(drv.used + 8 + 8 * i, true) };
  }
  function desc(drv: TestDriver, i: number, addr: number, len: number, flags: number, next: number): void {
    const dv = drv.dv;
    const d = drv.desc + 16 * i;
    dv.setUint32(d, addr, true); dv.setUint32(d + 4, 0, true); dv.setUint32(d + 8, len, true);
    dv.setUint16(d + 12, flags, true); dv.setUint16(d + 14, next, true);
  }
  const hdrAt = (drv: TestDriver) => drv.arenaStart;
  const statusAt = (drv: TestDriver) => drv.arenaStart + 64;

  it("a descriptor loop, a bad next index and an address past memory give used len 0", () => {
    const { drv, dev } = setup();
    desc(drv, 0, hdrAt(drv), 16, VIRTQ_DESC_F_NEXT, 1);
    desc(drv, 1, hdrAt(drv), 16, VIRTQ_DESC_F_NEXT, 0); // loop 0 -> 1 -> 0
    desc(drv, 2, hdrAt(drv), 16, VIRTQ_DESC_F_NEXT, 200); // next out of range
    desc(drv, 3, 0xfffffff0, 16, 0, 0); // beyond memory
    for (const h of [0, 2, 3]) drv.publish(h);
    expect(() => dev.notify()).not.toThrow();
    expect(drv.dv.getUint16(drv.used + 2, true)).toBe(3);
    expect([0, 1, 2].map((i) => usedElem(drv, i))).toEqual([{ id: 0, len: 0 }, { id: 2, len: 0 }, { id: 3, len: 0 }]);
    expect(dev.stats.malformed).toBe(3);
  });

  it("a chain without a status byte, or readable after writable, is rejected", () => {
    const { drv, dev } = setup();
    desc(drv, 0, hdrAt(drv), 16, 0, 0); // header only
    desc(drv, 1, statusAt(drv), 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    desc(drv, 2, hdrAt(drv), 16, 0, 0); // readable after writable
    desc(drv, 3, hdrAt(drv), 8, VIRTQ_DESC_F_NEXT, 4); // header too short
    desc(drv, 4, statusAt(drv), 1, VIRTQ_DESC_F_WRITE, 0);
    drv.dv.setUint32(hdrAt(drv), VIRTIO_BLK_T_FLUSH, true);
    drv.u8[statusAt(drv)] = 0xff;
    for (const h of [0, 1, 3]) drv.publish(h);
    dev.notify();
    expect([0, 1, 2].map((i) => usedElem(drv, i))).toEqual([{ id: 0, len: 0 }, { id: 1, len: 0 }, { id: 3, len: 1 }]);
    expect(drv.u8[statusAt(drv)]).toBe(VIRTIO_BLK_S_IOERR);
  });

  it("an avail index jump larger than the ring sets needsReset", () => {
    const { drv, dev } = setup();
    drv.dv.setUint16(drv.avail + 2, 100, true);
    dev.notify();
    expect(dev.needsReset).toBe(true);
    expect(drv.dv.getUint16(drv.used + 2, true)).toBe(0);
    dev.setQueue(drv.desc, drv.avail, drv.used);
    expect(dev.needsReset).toBe(false);
  });

  it("a backend that throws turns into IOERR, not an exception", () => {
    const drv = new TestDriver(8, 2);
    const broken: BlockBackend = {
      sizeBytes: 8 * SECTOR_SIZE,
      read() { throw new Error("boom"); }, write() { throw new Error("boom"); },
      flush() { throw new BlockError("EIO", "flush"); }, discard() { throw new Error("boom"); }, close() {},
    };
    const dev = new VirtioBlkDevice(broken, () => drv.mem.buffer, 8);
    dev.setQueue(drv.desc, drv.avail, drv.used);
    const hs = [
      drv.queue({ kind: "in", sector: 0, bytes: 512, layout: L0 }),
      drv.queue({ kind: "out", sector: 0, bytes: 512, seed: 1, layout: L0 }),
    ];
    let done = drv.kick(dev);
    expect(hs.map((h) => done.get(h)!.status)).toEqual([VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR]);
    const f = drv.queue({ kind: "flush", layout: L0 });
    const d = drv.queue({ kind: "discard", segs: [{ sector: 0, sectors: 1, flags: 0 }], layout: L0 });
    done = drv.kick(dev);
    expect([done.get(f)!.status, done.get(d)!.status]).toEqual([VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR]);
  });

  it("rejects bad construction and ring placement", () => {
    const drv = new TestDriver(8, 1);
    const b = new MemoryBackend(SECTOR_SIZE);
    expect(() => new VirtioBlkDevice(b, () => drv.mem.buffer, 6)).toThrow(RangeError);
    const dev = new VirtioBlkDevice(b, () => drv.mem.buffer, 8);
    expect(() => dev.setQueue(8, 0, 0)).toThrow(RangeError);
    expect(() => dev.setQueue(0, PAGE - 2, 0)).toThrow(RangeError);
    expect(() => dev.notify()).not.toThrow(); // no queue yet: ignored
  });
});

describe("block backends", () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(tmpBase, "b-")); });

  it("MemoryBackend checks alignment, range and closed state", () => {
    const m = new MemoryBackend(4 * SECTOR_SIZE);
    expect(() => m.read(1, new Uint8Array(512))).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => m.write(3 * 512, new Uint8Array(1024))).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => new MemoryBackend(100)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    m.close();
    expect(() => m.flush()).toThrow(expect.objectContaining({ code: "EBADF" }));
  });

  it("FileBackend creates sparse images, reopens them, and reads back what was written", () => {
    const p = path.join(dir, "a.img");
    const f = FileBackend.create(p, 1 << 20);
    const data = fill(5, 4096);
    f.writev(8192, [data.subarray(0, 100), data.subarray(100, 3000), data.subarray(3000)]);
    f.flush();
    f.close();
    expect(fs.statSync(p).size).toBe(1 << 20);
    expect(fs.statSync(p).blocks * 512).toBeLessThan(1 << 20); // sparse
    expect(() => FileBackend.create(p, 1 << 20)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    const g = FileBackend.open(p);
    const back = [new Uint8Array(1), new Uint8Array(4095)];
    g.readv(8192, back);
    expect(Buffer.from(concat(back)).equals(Buffer.from(data))).toBe(true);
    g.writeZeroes(8192, 512);
    const one = new Uint8Array(512);
    g.read(8192, one);
    expect(one.every((b) => b === 0)).toBe(true);
    expect(() => g.read(1 << 20, one)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    g.close();
    const r = FileBackend.open(p, { readOnly: true });
    expect(() => r.write(0, one)).toThrow(expect.objectContaining({ code: "EROFS" }));
    r.close();
    expect(() => FileBackend.open(path.join(dir, "missing.img"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });
});
