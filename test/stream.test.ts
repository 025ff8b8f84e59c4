// test/stream.test.ts -- issue 13: readv/writev and fs streams of kernel.fs against Node's fs on tmpfs.
//
// Oracle: Node's own fs (and zlib, readline) over a directory in /dev/shm; every check runs
// the same operations on kernel.fs with kernel paths '/x' and on Node's fs with `${real}/x`,
// and requires the same bytes, counts, chunk sizes, events and errors (code, name, message
// with the host directory removed). Invariants the oracle cannot see (one kernel write per
// writev, the fd closed after destroy) are checked on the kernel directly.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as nodeFs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { createHash, randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import fc from "fast-check";
import { freshDevice, bootDevice, MiB, scratchDir } from "./helpers.js";
import type { Kernel } from "../host/vmm/kernel.js";
import { createFs, type HelixFs, IO_CHUNK_MAX, ReadStream, type Sys, WriteStream } from "../host/fs/fs.js";

const real = scratchDir("helix-stream-");
let k: Kernel;
let fs: HelixFs;

beforeAll(() => { k = bootDevice(freshDevice(96 * MiB), 96); fs = k.fs; });
afterAll(() => { k.shutdown(); });
afterEach(() => {
  for (const n of fs.readdirSync("/")) if (n !== "lost+found") fs.rmSync(`/${n}`, { recursive: true, force: true });
  for (const n of nodeFs.readdirSync(real)) nodeFs.rmSync(path.join(real, n), { recursive: true, force: true });
});

/** Both sides' path for a name. */
const K = (n: string) => `/${n}`;
const R = (n: string) => path.join(real, n);

/** An error's comparable shape (the host directory removed from messages and paths). */
function shape(e: unknown): Record<string, unknown> {
  const err = e as Error & Record<string, unknown>;
  const strip = (v: unknown) => (typeof v === "string" ? v.split(real).join("") : v);
  return { name: err.name, code: err.code, message: strip(err.message), syscall: err.syscall, path: strip(err.path), errno: err.errno };
}
function thrown(f: () => unknown): Record<string, unknown> | "no throw" {
  try { f(); } catch (e) { return shape(e); }
  return "no throw";
}

/** Drains a readable; returns its chunks and its events in order. */
async function drain(s: NodeJS.ReadableStream & { on: Function }): Promise<{ chunks: Buffer[]; events: string[]; error?: unknown }> {
  const chunks: Buffer[] = [];
  const events: string[] = [];
  return new Promise((resolve) => {
    let error: unknown;
    for (const ev of ["open", "ready", "end"]) s.on(ev, () => events.push(ev));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", (e: unknown) => { events.push("error"); error = e; });
    s.on("close", () => { events.push("close"); resolve({ chunks, events, error }); });
  });
}

function finishedWriting(w: NodeJS.WritableStream & { on: Function }): Promise<string[]> {
  const events: string[] = [];
  return new Promise((resolve) => {
    for (const ev of ["open", "ready", "finish"]) w.on(ev, () => events.push(ev));
    w.on("error", (e: Error) => events.push(`error ${(e as { code?: string }).code}`));
    w.on("close", () => { events.push("close"); resolve(events); });
  });
}

// ---- readv / writev --------------------------------------------------------------------------

describe("readvSync / writevSync", { timeout: 60_000 }, () => {
  it("match Node for random lists (empty buffers, several, >1 MiB) and positions", () => {
    fc.assert(fc.property(
      fc.array(fc.nat(200_000), { maxLength: 6 }), fc.array(fc.nat(300_000), { minLength: 1, maxLength: 6 }),
      fc.oneof(fc.constant(null), fc.nat(400_000), fc.constantFrom(-1, 1.5, NaN, 2 ** 53, "9")),
      fc.oneof(fc.constant(null), fc.nat(400_000), fc.constantFrom(-1, 2.5)), fc.integer(),
      (wsizes, rsizes, wpos, rpos, seed) => {
        const total = wsizes.reduce((a, b) => a + b, 0);
        const all = Buffer.alloc(total, seed & 0xff);
        for (let i = 0; i < total; i += 997) all[i] = (i * seed) & 0xff;
        const out: unknown[] = [];
        for (const [side, f, p] of [["k", fs, K("v")], ["n", nodeFs, R("v")]] as const) {
          const fd = (f as typeof nodeFs).openSync(p, "w+");
          (f as typeof nodeFs).writeSync(fd, Buffer.from("prefix-bytes"));
          let o = 0;
          const bufs = wsizes.map((n) => { const b = all.subarray(o, o + n); o += n; return b; });
          const w = (f as typeof nodeFs).writevSync(fd, bufs, wpos as number);
          const rbufs = rsizes.map((n) => Buffer.alloc(n));
          const r = (f as typeof nodeFs).readvSync(fd, rbufs, rpos as number);
          const afterPos = (f as typeof nodeFs).readSync(fd, Buffer.alloc(1), 0, 1, null); // where the position ended
          (f as typeof nodeFs).closeSync(fd);
          const content = (f as typeof nodeFs).readFileSync(p);
          out.push({ side, w, r, afterPos, rh: createHash("sha1").update(Buffer.concat(rbufs)).digest("hex"), ch: createHash("sha1").update(content).digest("hex"), size: content.length });
        }
        const [a, b] = out as Record<string, unknown>[];
        expect({ ...a, side: "" }).toEqual({ ...b, side: "" });
      }), { numRuns: 40 });
  });

  it("validate like Node: buffers type, element type, fd, empty list", () => {
    nodeFs.writeFileSync(R("e"), "abc");
    fs.writeFileSync(K("e"), "abc");
    const kfd = fs.openSync(K("e"), "r+");
    const nfd = nodeFs.openSync(R("e"), "r+");
    const cases: [string, (f: typeof nodeFs, fd: number) => unknown][] = [
      ["readv string", (f, fd) => f.readvSync(fd, "x" as never)],
      ["readv [1]", (f, fd) => f.readvSync(fd, [1] as never)],
      ["writev {}", (f, fd) => f.writevSync(fd, {} as never)],
      ["writev [buf, null]", (f, fd) => f.writevSync(fd, [Buffer.alloc(1), null] as never)],
      ["readv fd -1", (f) => f.readvSync(-1, [Buffer.alloc(1)])],
      ["readv fd 1.5", (f) => f.readvSync(1.5, [Buffer.alloc(1)])],
      ["writev fd 'x'", (f) => f.writevSync("x" as never, [Buffer.alloc(1)])],
      ["readv []", (f, fd) => f.readvSync(fd, [])],
      ["readv closed fd", (f) => f.readvSync(987, [Buffer.alloc(1)])],
      ["writev closed fd", (f) => f.writevSync(987, [Buffer.alloc(1)])],
    ];
    for (const [name, c] of cases) {
      expect(thrown(() => c(fs as unknown as typeof nodeFs, kfd)), name).toEqual(thrown(() => c(nodeFs, nfd)));
    }
    expect(fs.writevSync(kfd, [])).toBe(nodeFs.writevSync(nfd, []));
    expect(fs.readvSync(kfd, [Buffer.alloc(0)], 1)).toBe(nodeFs.readvSync(nfd, [Buffer.alloc(0)], 1));
    fs.closeSync(kfd);
    nodeFs.closeSync(nfd);
  });

  it("FileHandle.readv/writev resolve { bytesRead | bytesWritten, buffers } like Node's", async () => {
    const res: unknown[] = [];
    for (const [f, p] of [[fs.promises, K("h")], [nodeFs.promises, R("h")]] as const) {
      const h = await (f as typeof nodeFs.promises).open(p, "w+");
      const bufs = [Buffer.from("ab"), Buffer.alloc(0), Buffer.from("cde")];
      const w = await h.writev(bufs);
      const w0 = await h.writev([]);
      const rb = [Buffer.alloc(2), Buffer.alloc(9)];
      const r = await h.readv(rb, 1);
      const e = await h.readv([]).then(() => "no", (x) => shape(x));
      await h.close();
      const closed = await h.writev([Buffer.from("x")]).then(() => "no", (x) => shape(x));
      res.push({ w: { n: w.bytesWritten, same: w.buffers === bufs }, w0: { ...w0 }, r: { n: r.bytesRead, same: r.buffers === rb, s: Buffer.concat(rb).toString("latin1") }, e, closed });
    }
    expect(res[0]).toEqual(res[1]);
  });

  it("a writev is one kernel write per 1 MiB transfer buffer, not one per buffer", () => {
    // count the kernel's exports crossed by writev/readv (Kernel.call is the one door)
    const kk = k as unknown as { call: (name: string, ...a: unknown[]) => unknown };
    const orig = kk.call;
    const calls: string[] = [];
    kk.call = function (this: unknown, name: string, ...a: unknown[]) { calls.push(name); return orig.call(this, name, ...a); };
    try {
      const fd = fs.openSync(K("one"), "w+");
      calls.length = 0;
      const bufs = Array.from({ length: 100 }, (_, i) => Buffer.alloc(100 + i, i));
      const n = fs.writevSync(fd, bufs);
      expect(calls.filter((c) => c.startsWith("sys_"))).toEqual(["sys_write"]);
      calls.length = 0;
      const big = Array.from({ length: 5 }, (_, i) => Buffer.alloc(IO_CHUNK_MAX / 2 + 7, i + 1));
      const nb = fs.writevSync(fd, big, 0);
      expect(nb).toBe(big.reduce((a, b) => a + b.length, 0));
      expect(calls.filter((c) => c.startsWith("sys_"))).toEqual(["sys_pwrite", "sys_pwrite", "sys_pwrite"]); // 2.5 MiB in 1 MiB calls
      calls.length = 0;
      const r = fs.readvSync(fd, bufs.map((b) => Buffer.alloc(b.length)), 0);
      expect(calls.filter((c) => c.startsWith("sys_"))).toEqual(["sys_pread"]);
      expect(r).toBe(n);
      fs.closeSync(fd);
    } finally {
      kk.call = orig;
    }
  });

  it("without Sys.readv/writev the fallback loop gives the same results", () => {
    const bare: Sys = Object.create(k.sys as object);
    (bare as { readv?: unknown }).readv = undefined;
    (bare as { writev?: unknown }).writev = undefined;
    const fb = createFs(bare);
    fc.assert(fc.property(fc.array(fc.nat(40_000), { maxLength: 5 }), fc.array(fc.nat(50_000), { minLength: 1, maxLength: 5 }), fc.option(fc.nat(100_000)),
      (ws, rs, pos) => {
        const out: unknown[] = [];
        for (const f of [fs, fb]) {
          const fd = f.openSync(K("fb"), "w+");
          const w = f.writevSync(fd, ws.map((n, i) => Buffer.alloc(n, i + 1)), pos);
          const rb = rs.map((n) => Buffer.alloc(n));
          const r = f.readvSync(fd, rb, pos === null ? 0 : pos);
          f.closeSync(fd);
          out.push({ w, r, data: Buffer.concat(rb).toString("hex").length, h: createHash("sha1").update(Buffer.concat(rb)).digest("hex"), file: createHash("sha1").update(f.readFileSync(K("fb"))).digest("hex") });
        }
        expect(out[1]).toEqual(out[0]);
      }), { numRuns: 30 });
  });
});

// ---- streams -------------------------------------------------------------------------------

describe("createReadStream / createWriteStream", { timeout: 60_000 }, () => {
  it("gzip pipeline of a large random file: same .gz bytes as Node's, gunzip back byte-identical", async () => {
    const data = randomBytes(12 * MiB + 4321);
    fs.writeFileSync(K("big"), data);
    nodeFs.writeFileSync(R("big"), data);
    await pipeline(fs.createReadStream(K("big")), zlib.createGzip(), fs.createWriteStream(K("big.gz")));
    await pipeline(nodeFs.createReadStream(R("big")), zlib.createGzip(), nodeFs.createWriteStream(R("big.gz")));
    const gzK = fs.readFileSync(K("big.gz"));
    expect(gzK.equals(nodeFs.readFileSync(R("big.gz")))).toBe(true);
    await pipeline(fs.createReadStream(K("big.gz")), zlib.createGunzip(), fs.createWriteStream(K("back")));
    expect(fs.readFileSync(K("back")).equals(data)).toBe(true);
  });

  it("start/end ranges and highWaterMarks: same chunks, bytesRead and events as Node", async () => {
    await fc.assert(fc.asyncProperty(
      fc.nat(300_000), fc.option(fc.nat(320_000), { nil: undefined }), fc.option(fc.nat(320_000), { nil: undefined }),
      fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }), fc.boolean(),
      async (size, start, end, hwm, enc) => {
        if (start !== undefined && end !== undefined && start > end) [start, end] = [end, start];
        const data = Buffer.alloc(size);
        for (let i = 0; i < size; i += 13) data[i] = i & 0xff;
        fs.writeFileSync(K("r"), data);
        nodeFs.writeFileSync(R("r"), data);
        const opts = { start, end, highWaterMark: hwm, encoding: enc ? "latin1" as const : undefined };
        const ks = fs.createReadStream(K("r"), opts);
        const ns = nodeFs.createReadStream(R("r"), opts);
        const [a, b] = await Promise.all([drain(ks), drain(ns)]);
        expect(a.events).toEqual(b.events);
        expect(a.chunks.map((c) => c.length)).toEqual(b.chunks.map((c) => c.length));
        expect(a.chunks.join("|")).toEqual(b.chunks.join("|"));
        expect(ks.bytesRead).toBe(ns.bytesRead);
        expect(ks.pending).toBe(ns.pending);
        expect(ks.path).toBe(K("r"));
      }), { numRuns: 40 });
  });

  it("write streams with 'w', 'a', 'r+' and start: same file as Node's", async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom("w", "a", "r+", "a+"), fc.option(fc.nat(70_000), { nil: undefined }),
      fc.array(fc.nat(40_000), { maxLength: 8 }), fc.boolean(), fc.nat(255),
      async (flags, start, sizes, cork, fill) => {
        const pre = Buffer.alloc(50_000, 7);
        fs.writeFileSync(K("w"), pre);
        nodeFs.writeFileSync(R("w"), pre);
        const results: unknown[] = [];
        for (const [f, p] of [[fs, K("w")], [nodeFs, R("w")]] as const) {
          const ws = (f as typeof nodeFs).createWriteStream(p, { flags, start });
          const done = finishedWriting(ws);
          if (cork) ws.cork();
          sizes.forEach((n, i) => ws.write(Buffer.alloc(n, (fill + i) & 0xff)));
          if (cork) ws.uncork();
          ws.end("end");
          const events = await done;
          const c = (f as typeof nodeFs).readFileSync(p);
          results.push({ events, bytesWritten: ws.bytesWritten, size: c.length, h: createHash("sha1").update(c).digest("hex") });
        }
        expect(results[0]).toEqual(results[1]);
      }), { numRuns: 30 });
  });

  it("a missing file emits ENOENT like Node, then close; bad flags or mode are 'error's too", async () => {
    for (const [name, opts] of [["missing", {}], ["e", { flags: "q" }], ["e", { mode: "z" }]] as const) {
      fs.writeFileSync(K("e"), "x");
      nodeFs.writeFileSync(R("e"), "x");
      const [a, b] = await Promise.all([drain(fs.createReadStream(K(name), opts)), drain(nodeFs.createReadStream(R(name), opts))]);
      expect(a.events).toEqual(b.events);
      expect(shape(a.error)).toEqual({ ...shape(b.error), path: (b.error as { path?: string }).path === undefined ? undefined : K(name) });
    }
    const [a, b] = await Promise.all([finishedWriting(fs.createWriteStream(K("no/such"))), finishedWriting(nodeFs.createWriteStream(R("no/such")))]);
    expect(a).toEqual(b);
  });

  it("bad options throw synchronously with Node's errors", () => {
    fs.writeFileSync(K("o"), "x");
    nodeFs.writeFileSync(R("o"), "x");
    const reads: unknown[] = [{ start: -1 }, { start: 5, end: 2 }, { end: 1.5 }, { start: "1" }, { end: -3 }, { highWaterMark: -1 },
      { fd: "x" }, { fd: 1.5 }, { fd: -2 }, { fs: { open: 1 } }, { fs: { open() {}, read: null } }, { encoding: "bogus" }, 5, true, "bogus-enc"];
    for (const o of reads) {
      expect(thrown(() => fs.createReadStream(K("o"), o as never)), JSON.stringify(o)).toEqual(thrown(() => nodeFs.createReadStream(R("o"), o as never)));
    }
    const writes: unknown[] = [{ start: -2 }, { start: 1.5 }, { flush: 1 }, { fd: {} }, { fs: { open() {}, close() {} } }, { fs: { open() {}, write: 3 } }, 7];
    for (const o of writes) {
      expect(thrown(() => fs.createWriteStream(K("o"), o as never)), JSON.stringify(o)).toEqual(thrown(() => nodeFs.createWriteStream(R("o"), o as never)));
    }
    for (const p of [null, 42, "a\u0000b", {}]) {
      expect(thrown(() => fs.createReadStream(p as never))).toEqual(thrown(() => nodeFs.createReadStream(p as never)));
      expect(thrown(() => fs.createWriteStream(p as never))).toEqual(thrown(() => nodeFs.createWriteStream(p as never)));
    }
  });

  it("destroy mid-stream closes the fd (fstat is then EBADF), and 'close' follows", { timeout: 20_000 }, async () => {
    fs.writeFileSync(K("d"), Buffer.alloc(2 * MiB, 1));
    const rs = fs.createReadStream(K("d"), { highWaterMark: 4096 });
    let fd = -1;
    rs.on("open", (n: number) => { fd = n; });
    const closed = new Promise<void>((r) => rs.on("close", () => r()));
    rs.once("data", () => rs.destroy());
    await closed;
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(rs.fd).toBe(null);
    expect(rs.destroyed).toBe(true);
    expect(rs.bytesRead).toBeLessThan(2 * MiB);
    expect(thrown(() => fs.fstatSync(fd))).toMatchObject({ code: "EBADF", syscall: "fstat" });
    // an aborted signal does the same for a write stream, with Node's AbortError
    const ac = new AbortController();
    const ws = fs.createWriteStream(K("d2"), { signal: ac.signal });
    let wfd = -1;
    ws.on("open", (n: number) => { wfd = n; ac.abort(); });
    const err = new Promise<Error>((r) => ws.on("error", r));
    await new Promise<void>((r) => ws.on("close", () => r()));
    expect((await err).name).toBe("AbortError");
    expect(thrown(() => fs.fstatSync(wfd))).toMatchObject({ code: "EBADF" });
  });

  it("the `fs` option: the stream calls the given open/read/write/writev/fsync/close, as Node's does", async () => {
    nodeFs.writeFileSync(R("c"), "0123456789");
    const calls: string[] = [];
    const spy = (name: string) => (...a: unknown[]) => { calls.push(name); return (nodeFs as unknown as Record<string, (...x: unknown[]) => unknown>)[name](...a); };
    const custom = { open: spy("open"), read: spy("read"), write: spy("write"), writev: spy("writev"), fsync: spy("fsync"), close: spy("close") };
    const out: unknown[] = [];
    for (const f of [fs, nodeFs] as const) {
      calls.length = 0;
      const chunks: Buffer[] = [];
      for await (const c of (f as typeof nodeFs).createReadStream(R("c"), { fs: custom, start: 3, highWaterMark: 4 } as never)) chunks.push(c as Buffer);
      const w = (f as typeof nodeFs).createWriteStream(R("c2"), { fs: custom, flush: true } as never);
      w.cork(); w.write("ab"); w.write("cd"); w.uncork(); // two queued chunks: one writev
      await new Promise<void>((r) => w.end("e", () => r()));
      await new Promise<void>((r) => (w.closed ? r() : w.on("close", () => r())));
      out.push({ data: Buffer.concat(chunks).toString(), calls: [...calls], file: nodeFs.readFileSync(R("c2"), "latin1") });
    }
    expect(out[0]).toEqual(out[1]);
    expect((out[0] as { calls: string[] }).calls).toEqual(expect.arrayContaining(["open", "read", "writev", "fsync", "close"]));
  });

  it("autoClose false leaves the fd open; fd and FileHandle options; classes and their aliases", async () => {
    fs.writeFileSync(K("f"), "0123456789");
    const fd = fs.openSync(K("f"), "r");
    const rs = fs.createReadStream(K("ignored"), { fd, autoClose: false, start: 2, end: 5 });
    const { chunks } = await new Promise<{ chunks: Buffer[] }>((resolve) => {
      const c: Buffer[] = [];
      rs.on("data", (x: Buffer) => c.push(x));
      rs.on("end", () => resolve({ chunks: c }));
    });
    expect(Buffer.concat(chunks).toString()).toBe("2345");
    expect(fs.fstatSync(fd).size).toBe(10);
    fs.closeSync(fd);
    expect(rs).toBeInstanceOf(ReadStream);
    expect(rs).toBeInstanceOf(fs.ReadStream);
    expect(fs.FileReadStream).toBe(fs.ReadStream);
    expect(new fs.WriteStream(K("g"))).toBeInstanceOf(WriteStream);

    const h = await fs.promises.open(K("f"), "r+");
    const w = h.createWriteStream({ start: 8 });
    await new Promise<void>((r) => w.end("XY", () => r()));
    expect(fs.readFileSync(K("f"), "latin1")).toBe("01234567XY");
    expect(h.fd).toBe(-1); // autoClose closed the handle
    const h2 = await fs.promises.open(K("f"), "r");
    const r2 = h2.createReadStream({ start: 1, end: 3 });
    const closed = new Promise<void>((r) => r2.on("close", () => r()));
    await h2.close(); // closing the handle ends its streams
    await closed;
    expect(r2.destroyed).toBe(true);
    const h3 = await fs.promises.open(K("f"), "r");
    expect(thrown(() => h3.createReadStream({ fs: {} } as never))).toMatchObject({ code: "ERR_METHOD_NOT_IMPLEMENTED" });
    await h3.close();
  });
});

// ---- readLines, readableWebStream, openAsBlob ----------------------------------------------

describe("readLines / readableWebStream / openAsBlob", () => {
  it("readLines gives Node's readline lines (\\n, \\r\\n, lone \\r, UTF-8 across chunks)", async () => {
    const piece = fc.constantFrom("a", "bc", "é", "€", "😀", "\n", "\r\n", "\r", "", " ");
    await fc.assert(fc.asyncProperty(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 1, max: 16 }), async (parts, hwm) => {
      const text = parts.join("");
      fs.writeFileSync(K("l"), text);
      nodeFs.writeFileSync(R("l"), text);
      const got: string[] = [];
      const h = await fs.promises.open(K("l"));
      const events: string[] = [];
      const rl = h.readLines({ highWaterMark: hwm });
      rl.on("close", () => events.push("close"));
      for await (const line of rl) got.push(line);
      const want: string[] = [];
      const nh = await nodeFs.promises.open(R("l"));
      for await (const line of nh.readLines({ highWaterMark: hwm })) want.push(line);
      expect(got).toEqual(want);
      expect(events).toEqual(["close"]);
    }), { numRuns: 60 });
  });

  it("readLines: 'line' events and an early break", async () => {
    fs.writeFileSync(K("m"), "one\ntwo\nthree\n");
    const lines: string[] = [];
    const rl = (await fs.promises.open(K("m"))).readLines();
    rl.on("line", (l: string) => lines.push(l));
    await new Promise<void>((r) => rl.on("close", () => r()));
    expect(lines).toEqual(["one", "two", "three"]);
    const h = await fs.promises.open(K("m"));
    for await (const l of h.readLines()) { expect(l).toBe("one"); break; }
    await h.close();
  });

  it("readableWebStream gives the file's bytes (default and 'bytes'), locks the handle", async () => {
    const data = randomBytes(300_000);
    fs.writeFileSync(K("web"), data);
    for (const type of [undefined, "bytes"]) {
      const h = await fs.promises.open(K("web"));
      const s = h.readableWebStream(type ? { type } : undefined);
      expect(thrown(() => h.readableWebStream())).toEqual({ name: "Error", code: "ERR_INVALID_STATE", message: "Invalid state: The FileHandle is locked", syscall: undefined, path: undefined, errno: undefined });
      const parts: Uint8Array[] = [];
      for await (const c of s as unknown as AsyncIterable<Uint8Array>) parts.push(new Uint8Array(c));
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      await h.close();
      expect(thrown(() => h.readableWebStream())).toMatchObject({ code: "ERR_INVALID_STATE", message: "Invalid state: The FileHandle is closed" });
    }
  });

  it("openAsBlob: Node's bytes, type and errors", async () => {
    const data = randomBytes(70_000);
    fs.writeFileSync(K("b"), data);
    nodeFs.writeFileSync(R("b"), data);
    const [a, b] = await Promise.all([fs.openAsBlob(K("b"), { type: "x/y" }), nodeFs.openAsBlob(R("b"), { type: "x/y" })]);
    expect({ size: a.size, type: a.type }).toEqual({ size: b.size, type: b.type });
    expect(Buffer.from(await a.arrayBuffer()).equals(Buffer.from(await b.arrayBuffer()))).toBe(true);
    expect((await fs.openAsBlob(K("b"))).type).toBe("");
    for (const [p, o] of [[K("missing"), undefined], [K("b"), { type: 3 }], [3, undefined], [K("b"), 3]] as const) {
      const rp = typeof p === "string" ? R(p.slice(1)) : p;
      expect(thrown(() => fs.openAsBlob(p as never, o as never))).toEqual(thrown(() => nodeFs.openAsBlob(rp as never, o as never)));
    }
  });
});

// ---- the streams yield to the event loop -----------------------------------------------------

describe("streams and the event loop", () => {
  it("a timer fires while a 16 MiB file streams into a sink (each read is at most highWaterMark)", async () => {
    fs.writeFileSync(K("loop"), Buffer.alloc(16 * MiB, 3));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let biggest = 0;
    await pipeline(fs.createReadStream(K("loop")), new Writable({ write(c: Buffer, _e, cb) { biggest = Math.max(biggest, c.length); cb(); } }));
    clearInterval(timer);
    expect(biggest).toBe(64 * 1024);
    expect(ticks).toBeGreaterThan(0);
  });
});

// ---- the legacy way to subclass (graceful-fs, fs-extra) ---------------------------------------

describe("ReadStream and WriteStream as function constructors", () => {
  /** A subclass made as graceful-fs makes its own: Base.apply(this, args), open() replaced. */
  function legacy(F: typeof fs.ReadStream | typeof fs.WriteStream, base: typeof nodeFs.ReadStream | typeof nodeFs.WriteStream, opener: (path: string, cb: (e: Error | null, fd?: number) => void) => void) {
    function Sub(this: object, p: string, o?: object) {
      (F as unknown as Function).apply(this, [p, o]);
      return this;
    }
    Sub.prototype = Object.create(F.prototype);
    Sub.prototype.open = function (this: { path: string; fd: number | null; emit(e: string, v?: unknown): void; destroy(): void }) {
      opener(this.path, (e, fd) => {
        if (e) { this.destroy(); this.emit("error", e); } else { this.fd = fd!; this.emit("open", fd); }
      });
    };
    void base;
    return Sub as unknown as new (p: string, o?: object) => NodeJS.ReadableStream & { on: Function; fd: number | null };
  }

  it("Base.apply(this) with a replaced open() reads and writes like Node's; its 'error' ends the construction", async () => {
    fs.writeFileSync(K("leg"), "legacy bytes");
    nodeFs.writeFileSync(R("leg"), "legacy bytes");
    const kOpen = (p: string, cb: (e: Error | null, fd?: number) => void) => { try { cb(null, fs.openSync(p, "r")); } catch (e) { cb(e as Error); } };
    const nOpen = (p: string, cb: (e: Error | null, fd?: number) => void) => nodeFs.open(p, "r", cb);
    const KS = legacy(fs.ReadStream, nodeFs.ReadStream, kOpen), NS = legacy(nodeFs.ReadStream as never, nodeFs.ReadStream, nOpen);
    const [a, b] = await Promise.all([drain(new KS(K("leg"))), drain(new NS(R("leg")))]);
    expect(Buffer.concat(a.chunks).toString()).toBe("legacy bytes");
    expect(a.events).toEqual(b.events);
    expect(new KS(K("leg"))).toBeInstanceOf(fs.ReadStream);
    const [c, d] = await Promise.all([drain(new KS(K("nope"))), drain(new NS(R("nope")))]);
    expect(c.events).toEqual(d.events);
    expect(shape(c.error)).toEqual(shape(d.error));
    // called without new, as Node's constructors can be
    const plain = (fs.ReadStream as unknown as (p: string) => NodeJS.ReadableStream & { on: Function })(K("leg"));
    expect(Buffer.concat((await drain(plain)).chunks).toString()).toBe("legacy bytes");
    expect(fs.ReadStream.name).toBe("ReadStream");
    expect(fs.WriteStream.name).toBe("WriteStream");
  });
});

// ---- fd 0 is a file here ----------------------------------------------------------------------

describe("a stream on descriptor 0", () => {
  it("closes it (the kernel has no stdio: the first open of a fresh kernel is fd 0)", async () => {
    const k0 = bootDevice(freshDevice(32 * MiB), 32);
    try {
      const f = k0.fs;
      const w = f.createWriteStream("/zero", { flush: true });
      const opened = new Promise<number>((resolve) => w.on("open", resolve));
      const closed = new Promise<void>((resolve) => w.on("close", () => resolve()));
      w.end("hello");
      expect(await opened).toBe(0);
      await closed;
      expect(() => f.fstatSync(0)).toThrow(expect.objectContaining({ code: "EBADF" }));
      const r = f.createReadStream("/zero");
      const got = await drain(r);
      expect(Buffer.concat(got.chunks).toString()).toBe("hello");
      expect(got.events).toEqual(["open", "ready", "end", "close"]);
      expect(() => f.fstatSync(0)).toThrow(expect.objectContaining({ code: "EBADF" }));
    } finally {
      k0.shutdown();
    }
  });
});
