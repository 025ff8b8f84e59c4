// test/dirops.test.ts -- issue 13's path and tree functions (realpath, mkdtemp, opendir/Dir,
// cp, lchown) on the kernel against Node's own fs on tmpfs (/dev/shm) as the oracle.
//
// Each case builds the same tree on both sides (the kernel under /w, Node under a fresh
// tmpfs directory), runs the same call, and compares results and errors (code, errno,
// syscall, message with the roots made equal) and the resulting trees (names, types,
// contents, permission bits, symlink targets). fast-check generates the trees and symlink
// graphs; bad-argument errors must be Node's TypeError/RangeError byte for byte.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { execFileSync } from "node:child_process";
import { freshDevice, bootDevice, MiB } from "./helpers.js";
import type { Kernel } from "../host/vmm/kernel.js";
import { createFs, type HelixFs, Dir } from "../host/fs/fs.js";

const TMP = nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
const UMASK = process.umask();
const KROOT = "/w";
const RUNS = Number(process.env.HELIX_DIROPS_RUNS ?? 150);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFs = any;
interface Side { fs: AnyFs; root: string }

let k: Kernel;
let hfs: HelixFs;
let oracleDir: string;
let caseNo = 0;

beforeAll(() => {
  k = bootDevice(freshDevice(32 * MiB));
  // a cwd outside every case root, as the oracle's process.cwd() is: cp resolves relative
  // verbatim link targets against the cwd (a Node quirk), so both must be unrelated to the trees
  hfs = createFs(k.fs.sys, { umask: UMASK, cwd: "/elsewhere" });
  oracleDir = nodeFs.mkdtempSync(path.join(TMP, "helix-dirops-"));
});
afterAll(() => {
  k.shutdown();
  nodeFs.rmSync(oracleDir, { recursive: true, force: true });
});

/** Fresh empty directories for one case: [kernel side, oracle side]. */
function fresh(): [Side, Side] {
  caseNo++;
  const kr = `${KROOT}${caseNo}`;
  const nr = `${oracleDir}/c${caseNo}`;
  hfs.mkdirSync(kr, { recursive: true });
  nodeFs.mkdirSync(nr);
  return [{ fs: hfs, root: kr }, { fs: nodeFs, root: nr }];
}

/** `s` with the side's root replaced by <R>, so both sides compare equal. */
function unroot(side: Side, v: unknown): unknown {
  if (typeof v === "string") return v.split(side.root).join("<R>");
  if (Buffer.isBuffer(v)) return { buffer: unroot(side, v.toString("latin1")) };
  if (Array.isArray(v)) return v.map((x) => unroot(side, x));
  if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, unroot(side, x)]));
  }
  return v;
}

/** A call's outcome, comparable across sides: the value, or the error's observable shape. */
function outcome(side: Side, fn: () => unknown): unknown {
  try {
    return { ok: unroot(side, fn()) };
  } catch (e) {
    const err = e as Error & Record<string, unknown>;
    const info = err.info as Record<string, unknown> | undefined;
    return {
      err: {
        name: err.name, code: err.code, errno: err.errno, syscall: err.syscall, message: unroot(side, err.message),
        path: unroot(side, err.path), dest: unroot(side, err.dest), info: info && { ...info, message: unroot(side, info.message), path: unroot(side, info.path) },
        str: unroot(side, String(err)),
      },
    };
  }
}

async function outcomeAsync(side: Side, fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: unroot(side, await fn()) };
  } catch (e) {
    return outcome(side, () => { throw e; });
  }
}

/** Every entry under `dir`: relative path -> type, permission bits, content hash or link target. */
function snapshot(side: Side, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const names = (side.fs.readdirSync(rel ? `${dir}/${rel}` : dir) as string[]).slice().sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const p = `${dir}/${r}`;
      const st = side.fs.lstatSync(p);
      const perm = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[r] = `link ${unroot(side, side.fs.readlinkSync(p))}`;
      else if (st.isDirectory()) { out[r] = `dir ${perm}`; walk(r); }
      else out[r] = `file ${perm} ${createHash("sha1").update(side.fs.readFileSync(p)).digest("hex").slice(0, 12)}`;
    }
  };
  walk("");
  return out;
}

// ---- random trees ----------------------------------------------------------------------------

interface Node { kind: "file" | "dir" | "link"; name: string; mode: number; data: string; target: string; children: Node[] }
const NAMES = ["a", "b", "c", "d", "e"];
const TARGETS = ["a", "b", "../a", "c/d", "x", ".", "..", "/", "a/b/c", "e"];

function nodeArb(depth: number): fc.Arbitrary<Node> {
  return fc.record({
    kind: depth <= 1 ? fc.constantFrom<"file" | "link">("file", "link") : fc.constantFrom<"file" | "dir" | "link">("file", "dir", "dir", "link"),
    name: fc.constantFrom(...NAMES),
    mode: fc.constantFrom(0o644, 0o600, 0o755, 0o700, 0o444, 0o555),
    data: fc.string({ maxLength: 40 }),
    target: fc.constantFrom(...TARGETS),
    children: depth <= 1 ? fc.constant([]) : fc.array(nodeArb(depth - 1), { maxLength: 4 }),
  });
}
const treeArb = fc.array(nodeArb(3), { maxLength: 5 });

/** Links that make a dereferencing recursive copy endless (both sides then fail at PATH_MAX, at different depths). */
function hasAncestorLink(nodes: Node[]): boolean {
  return nodes.some((n) => (n.kind === "link" && ["/", ".", ".."].includes(n.target)) || hasAncestorLink(n.children));
}

/** Builds `nodes` under `dir` on a side (duplicate names: the first wins). Link targets are absolute (rooted) when they start with '/'. */
function build(side: Side, dir: string, nodes: Node[], shallow: boolean): void {
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.name)) continue;
    seen.add(n.name);
    const p = `${dir}/${n.name}`;
    if (n.kind === "file") { side.fs.writeFileSync(p, n.data); side.fs.chmodSync(p, n.mode); }
    else if (n.kind === "link") side.fs.symlinkSync(n.target.startsWith("/") ? `${side.root}${n.target}` : n.target, p);
    else { side.fs.mkdirSync(p); if (!shallow) { build(side, p, n.children, false); side.fs.chmodSync(p, n.mode | 0o700); } }
  }
}

/** The kernel's getdents order of a directory's names (a Dir hands entries out unsorted). */
function kernelOrder(dir: string): string[] {
  const d = hfs.opendirSync(dir);
  const names: string[] = [];
  for (let e = d.readSync(); e !== null; e = d.readSync()) names.push(e.name as string);
  d.closeSync();
  return names;
}

/**
 * Builds `nodes` under `rel` on both sides: first the kernel, then the oracle in the reverse
 * of the kernel's getdents order, because tmpfs lists a directory newest first; so Node's
 * opendir walks the tree in the kernel's order and a copy that fails part-way fails at the
 * same entry on both sides.
 */
function buildBoth(sides: [Side, Side], rel: string, nodes: Node[]): void {
  build(sides[0], `${sides[0].root}/${rel}`, nodes, true);
  const order = kernelOrder(`${sides[0].root}/${rel}`);
  const byName = new Map<string, Node>();
  for (const n of nodes) if (!byName.has(n.name)) byName.set(n.name, n);
  for (const name of order.slice().reverse()) {
    const n = byName.get(name)!;
    build(sides[1], `${sides[1].root}/${rel}`, [{ ...n, children: [] }], true);
    if (n.kind === "dir") {
      buildBoth(sides, `${rel}/${name}`, n.children);
      for (const s of sides) s.fs.chmodSync(`${s.root}/${rel}/${name}`, n.mode | 0o700);
    }
  }
}

// ---- cp ----------------------------------------------------------------------------------------

const cpOptsArb = fc.record({
  recursive: fc.boolean(), force: fc.boolean(), errorOnExist: fc.boolean(), dereference: fc.boolean(),
  verbatimSymlinks: fc.boolean(), filterOut: fc.option(fc.constantFrom(...NAMES), { nil: undefined }),
  preserveTimestamps: fc.boolean(),
});

function cpOptions(side: Side, o: { recursive: boolean; force: boolean; errorOnExist: boolean; dereference: boolean; verbatimSymlinks: boolean; filterOut?: string; preserveTimestamps: boolean }): object {
  const out: Record<string, unknown> = { recursive: o.recursive, force: o.force, errorOnExist: o.errorOnExist, preserveTimestamps: o.preserveTimestamps };
  if (o.dereference) out.dereference = true; else out.verbatimSymlinks = o.verbatimSymlinks;
  if (o.filterOut !== undefined) { const f = o.filterOut; out.filter = (s: string) => path.basename(s) !== f; }
  void side;
  return out;
}

/** Times the oracle's promises.cp is re-run when its first stat races (see below). */
const RACE_RETRIES = 20;

/** True for an outcome that is an lstat/stat failure (nothing was copied). */
function statFailure(r: unknown): boolean {
  const e = (r as { err?: { syscall?: string } }).err;
  return e?.syscall === "lstat" || e?.syscall === "stat";
}

describe("cpSync and promises.cp vs Node on random trees", () => {
  it("cpSync: same result, error and tree as Node's cpSync", () => {
    fc.assert(fc.property(treeArb, treeArb, cpOptsArb, fc.constantFrom("src", "src/a", "src/b", "src/c"), fc.constantFrom("dst", "dst/a", "src/a/x", "src", "dst/new/deep"),
      (srcTree, dstTree, o, from, to) => {
        fc.pre(!o.dereference || !hasAncestorLink(srcTree));
        const sides = fresh();
        for (const s of sides) { s.fs.mkdirSync(`${s.root}/src`); s.fs.mkdirSync(`${s.root}/dst`); }
        buildBoth(sides, "src", srcTree);
        buildBoth(sides, "dst", dstTree);
        const results = sides.map((s) => {
          const r = outcome(s, () => s.fs.cpSync(`${s.root}/${from}`, `${s.root}/${to}`, cpOptions(s, o)));
          return { r, tree: snapshot(s, s.root) };
        });
        expect(results[0]).toEqual(results[1]);
      }), { numRuns: RUNS, seed: 13 });
  });

  it("promises.cp: same result, error and tree as Node's promises.cp", async () => {
    await fc.assert(fc.asyncProperty(treeArb, treeArb, cpOptsArb, fc.constantFrom("src", "src/a", "src/b"), fc.constantFrom("dst", "dst/a", "src/a/x", "dst/new"),
      async (srcTree, dstTree, o, from, to) => {
        fc.pre(!o.dereference || !hasAncestorLink(srcTree));
        const sides = fresh();
        const results: { r: unknown; tree: Record<string, string> }[] = [];
        for (const s of sides) { s.fs.mkdirSync(`${s.root}/src`); s.fs.mkdirSync(`${s.root}/dst`); }
        buildBoth(sides, "src", srcTree);
        buildBoth(sides, "dst", dstTree);
        for (const s of sides) {
          const run = (): Promise<unknown> => outcomeAsync(s, () => s.fs.promises.cp(`${s.root}/${from}`, `${s.root}/${to}`, cpOptions(s, o)));
          let r = await run();
          // Node stats src and dest in parallel (Promise.all): when both fail, which error
          // wins is a race; such a failure changes nothing, so ask again until it agrees
          for (let i = 0; s.fs === nodeFs && i < RACE_RETRIES && !isDeepStrictEqual(r, results[0].r) && statFailure(r); i++) r = await run();
          results.push({ r, tree: snapshot(s, s.root) });
        }
        expect(results[0]).toEqual(results[1]);
      }), { numRuns: Math.ceil(RUNS / 2), seed: 14 });
  });
});

// ---- realpath ------------------------------------------------------------------------------

const LINK_NAMES = ["l0", "l1", "l2", "l3"];
const GRAPH_TARGETS = ["l0", "l1", "l2", "l3", "d", "d/f", "d/l0", "../d", "./l1", "d/..", "f", "missing", "f/x", "/d", "/l2", "d/", "//d/./f", "d/e/../f"];
const QUERY_PARTS = ["l0", "l1", "l2", "l3", "d", "f", "e", "..", ".", "missing", ""];

const graphArb = fc.record({
  links: fc.array(fc.tuple(fc.constantFrom(...LINK_NAMES), fc.constantFrom(...GRAPH_TARGETS)), { maxLength: 6 }),
  inner: fc.array(fc.tuple(fc.constantFrom(...LINK_NAMES), fc.constantFrom(...GRAPH_TARGETS)), { maxLength: 3 }),
  queries: fc.array(fc.array(fc.constantFrom(...QUERY_PARTS), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
  encoding: fc.constantFrom(undefined, "buffer", "hex", "utf8"),
});

/** Where a graph lives: three levels below the case's root, so '..' stays inside it. */
const GRAPH_BASE = "x/y/t";

/** True when `parts` never climbs above the case's root lexically (3 levels above GRAPH_BASE). */
function staysInRoot(parts: string[]): boolean {
  let depth = 3;
  for (const p of parts) if (p === ".." && --depth < 0) return false; else if (p !== "." && p !== ".." && p !== "") depth++;
  return true;
}

/** GRAPH_BASE: d/ (dir), d/e/ (dir), d/f (file), f (file), then the random links in it and in d/ ('/x' targets mean GRAPH_BASE/x). */
function buildGraph(s: Side, g: { links: [string, string][]; inner: [string, string][] }): void {
  const base = `${s.root}/${GRAPH_BASE}`;
  s.fs.mkdirSync(`${base}/d/e`, { recursive: true });
  s.fs.writeFileSync(`${base}/d/f`, "x");
  s.fs.writeFileSync(`${base}/f`, "y");
  const mk = (dir: string, links: [string, string][]): void => {
    const seen = new Set<string>();
    for (const [name, t] of links) {
      if (seen.has(name)) continue;
      seen.add(name);
      s.fs.symlinkSync(t.startsWith("/") ? `${base}${t}` : t, `${dir}/${name}`);
    }
  };
  mk(base, g.links);
  mk(`${base}/d`, g.inner);
}

describe("realpath vs Node on random symlink graphs", () => {
  it("realpathSync, realpathSync.native and promises.realpath agree with Node (values, ENOENT/ELOOP/ENOTDIR errors, encodings)", async () => {
    const seen = new Set<string>();
    await fc.assert(fc.asyncProperty(graphArb, async (g) => {
      const sides = fresh();
      for (const s of sides) buildGraph(s, g);
      for (const parts of g.queries.filter(staysInRoot)) {
        const rel = `${GRAPH_BASE}/${parts.join("/")}`;
        const opts = g.encoding === undefined ? undefined : { encoding: g.encoding };
        const got = [];
        for (const s of sides) {
          const p = `${s.root}/${rel}`;
          // hex results are decoded (kept marked) so the roots can be made equal
          const dec = (v: unknown): unknown => (g.encoding === "hex" ? { hex: Buffer.from(v as string, "hex").toString() } : v);
          got.push([
            outcome(s, () => dec(s.fs.realpathSync(p, opts))),
            outcome(s, () => dec(s.fs.realpathSync.native(p, opts))),
            await outcomeAsync(s, async () => dec(await s.fs.promises.realpath(p, opts))),
          ]);
        }
        for (const r of got[1]) seen.add(((r as { err?: { code: string; syscall: string } }).err?.code ?? "ok") + ((r as { err?: { syscall: string } }).err?.syscall ?? ""));
        expect(got[0], rel).toEqual(got[1]);
      }
    }), { numRuns: RUNS, seed: 15 });
    // the graphs reached every outcome the property is about
    for (const want of ["ok", "ENOENTlstat", "ENOENTstat", "ELOOPstat", "ENOTDIRlstat", "ENOENTrealpath", "ELOOPrealpath", "ENOTDIRrealpath"]) expect(seen, want).toContain(want);
  });

  it("relative paths resolve against the HelixFs cwd; '' is the cwd for realpathSync and ENOENT for .native", () => {
    const [s] = fresh();
    buildGraph(s, { links: [["l0", "d/f"], ["l1", "../d"]], inner: [] });
    const base = `${s.root}/${GRAPH_BASE}`;
    const rel = createFs(k.fs.sys, { cwd: `${base}/d` });
    expect(rel.realpathSync("../l0")).toBe(`${base}/d/f`);
    expect(rel.realpathSync.native("../l0")).toBe(`${base}/d/f`);
    expect(rel.realpathSync("")).toBe(`${base}/d`);
    expect(() => rel.realpathSync.native("")).toThrow(expect.objectContaining({ code: "ENOENT", syscall: "realpath" }));
    expect(() => nodeFs.realpathSync.native("")).toThrow(expect.objectContaining({ code: "ENOENT", syscall: "realpath" }));
  });
});

// ---- opendir / Dir ---------------------------------------------------------------------------

/** All Dirents of a Dir read with readSync (then closed): name + type + parentPath, as a sorted list. */
function readAllSync(dir: Dir | nodeFs.Dir): string[] {
  const out: string[] = [];
  for (let d = dir.readSync(); d !== null; d = dir.readSync()) out.push(`${String(d.name)} ${d.isDirectory() ? "d" : d.isSymbolicLink() ? "l" : "f"} ${unrootPlain(String(d.parentPath))}`);
  dir.closeSync();
  return out.sort();
}
let currentRoots: [string, string] = ["", ""];
const unrootPlain = (p: string): string => p.split(currentRoots[0]).join("<R>").split(currentRoots[1]).join("<R>");

describe("opendir and Dir vs Node", () => {
  it("readSync, read(), read(cb) and for-await give Node's entries (as sets; recursive too), with parentPath", async () => {
    // recursive: bufferSize above any directory's size here, since Node 20 reads only the first
    // bufferSize entries of a subdirectory (see the last test)
    await fc.assert(fc.asyncProperty(treeArb, fc.boolean(), fc.integer({ min: 1, max: 4 }), async (tree, recursive, small) => {
      const bufferSize = recursive ? 8 : small;
      const sides = fresh();
      currentRoots = [sides[0].root, sides[1].root];
      for (const s of sides) s.fs.mkdirSync(`${s.root}/src`);
      buildBoth(sides, "src", tree);
      const got = [];
      for (const s of sides) {
        const opts = { recursive, bufferSize };
        const viaSync = readAllSync(s.fs.opendirSync(`${s.root}/src`, opts));
        const viaPromise: string[] = [];
        const d1 = await s.fs.promises.opendir(`${s.root}/src`, opts);
        for (let d = await d1.read(); d !== null; d = await d1.read()) viaPromise.push(`${d.name} ${d.isDirectory() ? "d" : d.isSymbolicLink() ? "l" : "f"} ${unrootPlain(String(d.parentPath))}`);
        await d1.close();
        const viaIter: string[] = [];
        for await (const d of await s.fs.promises.opendir(`${s.root}/src`, opts)) viaIter.push(`${d.name} ${d.isDirectory() ? "d" : d.isSymbolicLink() ? "l" : "f"} ${unrootPlain(String(d.parentPath))}`);
        const d2 = s.fs.opendirSync(`${s.root}/src`, opts);
        const viaCb: string[] = await new Promise((resolve, reject) => {
          const acc: string[] = [];
          const step = (): void => d2.read((err: Error | null, d: nodeFs.Dirent | null) => {
            if (err) return reject(err);
            if (d === null) return d2.close((e: Error | null) => (e ? reject(e) : resolve(acc)));
            acc.push(`${d.name} ${d.isDirectory() ? "d" : d.isSymbolicLink() ? "l" : "f"} ${unrootPlain(String(d.parentPath))}`);
            step();
          });
          step();
        });
        got.push([viaSync, viaPromise.sort(), viaIter.sort(), viaCb.sort()]);
      }
      expect(got[0]).toEqual(got[1]);
    }), { numRuns: Math.ceil(RUNS / 3), seed: 16 });
  });

  it("a Dir lists entries in the kernel's getdents order (unsorted, like libuv) and readdirSync sorts them", () => {
    const [s] = fresh();
    for (const n of ["zeta", "alpha", "mid", "beta", "omega", "kappa"]) s.fs.writeFileSync(`${s.root}/${n}`, "");
    const order = kernelOrder(s.root);
    expect(new Set(order)).toEqual(new Set(s.fs.readdirSync(s.root)));
    expect(s.fs.readdirSync(s.root)).toEqual([...order].sort());
    // the raw getdents order is what the Dir gives, whatever bufferSize
    const fd = s.fs.openSync(s.root, "r");
    const raw = (k.fs.sys.getdents(fd) as { name: string }[]).map((e) => e.name);
    s.fs.closeSync(fd);
    expect(order).toEqual(raw);
    const d = s.fs.opendirSync(s.root, { bufferSize: 1 });
    expect(readAllSync(d).map((x) => x.split(" ")[0])).toEqual([...raw].sort());
  });

  it("encoding 'buffer' gives Buffer names; errors after close, concurrent use and bad arguments match Node", async () => {
    const sides = fresh();
    const shapes = [];
    for (const s of sides) {
      s.fs.writeFileSync(`${s.root}/f`, "");
      const d = s.fs.opendirSync(s.root, { encoding: "buffer" });
      const e = d.readSync();
      const isBuf = Buffer.isBuffer(e.name) && e.name.toString() === "f";
      expect(d.readSync()).toBe(null);
      d.closeSync();
      const pending = s.fs.opendirSync(s.root);
      const p = pending.read();
      const concurrent = [outcome(s, () => pending.readSync()), outcome(s, () => pending.closeSync())];
      await p;
      await pending.close();
      const closeTwice = await outcomeAsync(s, () => pending.close());
      const cbClosed: unknown = await new Promise((resolve) => pending.close((err: Error) => resolve(outcome(s, () => { throw err; }))));
      // read(cb) of an entry already buffered is not pending: readSync may run meanwhile
      s.fs.writeFileSync(`${s.root}/g`, "");
      const d4 = s.fs.opendirSync(s.root);
      const first = d4.readSync() !== null;
      const viaCb = new Promise((resolve) => d4.read((err: Error | null, e: { name: string } | null) => resolve(err ? "error" : e === null ? null : "entry")));
      const meanwhile = outcome(s, () => { const x = d4.readSync(); return x === null ? null : "entry"; });
      const buffered = [first, await viaCb, meanwhile];
      d4.closeSync();
      shapes.push({
        buffered,
        isBuf, path: unroot(s, d.path), concurrent, closeTwice, cbClosed,
        afterClose: [outcome(s, () => d.readSync()), outcome(s, () => d.closeSync()), outcome(s, () => d.read())],
        badSize: [0, 1.5, -1, 2 ** 32, "8"].map((b) => outcome(s, () => s.fs.opendirSync(s.root, { bufferSize: b }))),
        badEnc: outcome(s, () => s.fs.opendirSync(s.root, { encoding: "nope" })),
        badPath: [42, "a\0b", null].map((p) => outcome(s, () => s.fs.opendirSync(p))),
        missing: outcome(s, () => s.fs.opendirSync(`${s.root}/missing`)),
        notDir: outcome(s, () => s.fs.opendirSync(`${s.root}/f`)),
        badCb: outcome(s, () => { const d3 = s.fs.opendirSync(s.root); try { return d3.read(42); } finally { d3.closeSync(); } }),
        promiseMissing: await outcomeAsync(s, () => s.fs.promises.opendir(`${s.root}/missing`)),
      });
    }
    expect(shapes[0]).toEqual(shapes[1]);
    expect(shapes[0].isBuf).toBe(true);
  });

  it("recursive reads every entry of a subdirectory, also past bufferSize (Node 20 stops at bufferSize there: a bug we do not copy)", () => {
    const [s] = fresh();
    s.fs.mkdirSync(`${s.root}/sub`);
    for (let i = 0; i < 40; i++) s.fs.writeFileSync(`${s.root}/sub/f${i}`, "");
    const names = readAllSync(s.fs.opendirSync(s.root, { recursive: true, bufferSize: 32 }));
    expect(names.length).toBe(41);
  });
});

// ---- mkdtemp -----------------------------------------------------------------------------------

describe("mkdtemp vs Node", () => {
  it("prefix + 6 characters of [A-Za-z0-9], a new directory with mode 0o700 & ~umask, in the requested encoding", async () => {
    const sides = fresh();
    const shapes = [];
    for (const s of sides) {
      const made = [
        s.fs.mkdtempSync(`${s.root}/t-`),
        s.fs.mkdtempSync(`${s.root}/t-`, "buffer"),
        s.fs.mkdtempSync(Buffer.from(`${s.root}/b`), { encoding: "buffer" }),
        await s.fs.promises.mkdtemp(`${s.root}/p`),
        s.fs.mkdtempSync(`${s.root}/h`, "hex"),
      ];
      const strs = made.map((m, i) => (i === 4 ? Buffer.from(m as string, "hex").toString() : Buffer.isBuffer(m) ? m.toString() : m as string));
      shapes.push({
        types: made.map((m) => (Buffer.isBuffer(m) ? "buffer" : typeof m)),
        shape: strs.map((m) => unroot(s, m).toString().replace(/[A-Za-z0-9]{6}$/, "XXXXXX")),
        modes: strs.map((m) => (s.fs.statSync(m).mode & 0o7777).toString(8)),
        dirs: strs.map((m) => s.fs.statSync(m).isDirectory()),
        unique: new Set(strs).size,
        errors: [
          outcome(s, () => s.fs.mkdtempSync(`${s.root}/missing/x`)),
          outcome(s, () => { s.fs.writeFileSync(`${s.root}/file`, ""); return s.fs.mkdtempSync(`${s.root}/file/x`); }),
          outcome(s, () => s.fs.mkdtempSync(42)),
          outcome(s, () => s.fs.mkdtempSync(`${s.root}/a\0b`)),
          outcome(s, () => s.fs.mkdtempSync(`${s.root}/a`, { encoding: "bogus" })),
          outcome(s, () => s.fs.mkdtempSync(`${s.root}/a`, 42)),
          // the asynchronous error names the random name tried (glibc fills the template in place)
          JSON.parse(JSON.stringify(await outcomeAsync(s, () => s.fs.promises.mkdtemp(`${s.root}/missing/y`))).replace(/missing\/y[A-Za-z0-9]{6}/g, "missing/y??????")),
        ],
      });
    }
    expect(shapes[0]).toEqual(shapes[1]);
  });

  it("many mkdtemp calls with one prefix give distinct names from the 62-character alphabet", () => {
    const [s] = fresh();
    const names = Array.from({ length: 300 }, () => s.fs.mkdtempSync(`${s.root}/p`) as string);
    expect(new Set(names).size).toBe(300);
    const chars = new Set(names.flatMap((n) => [...n.slice(-6)]));
    for (const c of chars) expect("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789").toContain(c);
    expect(chars.size).toBeGreaterThan(40);
  });
});

// ---- bad arguments, lchown, cp details ---------------------------------------------------------

describe("bad arguments and fixed cases vs Node", () => {
  it("cpSync / promises.cp / realpath / lchown refuse bad arguments with Node's errors, before touching anything", async () => {
    const sides = fresh();
    const shapes = [];
    for (const s of sides) {
      s.fs.writeFileSync(`${s.root}/f`, "x");
      const a = `${s.root}/f`, b = `${s.root}/g`;
      const cpCases: [unknown, unknown, unknown][] = [
        [42, b, undefined], [a, null, undefined], [a, b, 42], [a, b, "str"], [a, b, { recursive: 1 }], [a, b, { force: "yes" }],
        [a, b, { errorOnExist: null }], [a, b, { dereference: 0 }], [a, b, { preserveTimestamps: "" }], [a, b, { verbatimSymlinks: 1 }],
        [a, b, { mode: 8 }], [a, b, { mode: -1 }], [a, b, { mode: 1.5 }], [a, b, { mode: "1" }], [a, b, { filter: 42 }],
        [a, b, { dereference: true, verbatimSymlinks: true }], [`${s.root}/a\0`, b, undefined], [a, b, []],
        [Buffer.from(a), b, undefined], [a, Buffer.from(b), undefined], [Buffer.from(s.root), b, { recursive: true }],
        [a, b, { filter: () => Promise.resolve(true) }],
      ];
      shapes.push({
        cpSync: cpCases.map(([x, y, o]) => outcome(s, () => s.fs.cpSync(x, y, o))),
        cp: await Promise.all(cpCases.slice(0, -1).map(([x, y, o]) => outcomeAsync(s, () => s.fs.promises.cp(x, y, o)))),
        realpath: [42, null, "a\0b"].map((p) => [outcome(s, () => s.fs.realpathSync.native(p)), outcome(s, () => s.fs.realpathSync(`${s.root}/f`, { encoding: "nope" }))]),
        realpathJs: [Buffer.from(`${s.root}/f`), new URL(`file://${s.root}/f`), `${s.root}/f\0`].map((p) => outcome(s, () => s.fs.realpathSync(p))),
        lchown: [[42, 0, 0], [a, "0", 0], [a, 0, -2], [a, 2 ** 32, 0], [a, 1.5, 0], [`${s.root}/missing`, 0, 0]].map(([p, u, g]) => outcome(s, () => s.fs.lchownSync(p, u, g))),
        lchownP: await outcomeAsync(s, () => s.fs.promises.lchown(`${s.root}/missing`, 1, 1)),
        untouched: s.fs.existsSync(b),
      });
    }
    expect(shapes[0]).toEqual(shapes[1]);
  });

  it("realpathSync turns a non-string path into text like Node (`p += ''`): 42 is the relative path '42'", () => {
    const [s] = fresh();
    s.fs.writeFileSync(`${s.root}/42`, "");
    const rel = createFs(k.fs.sys, { cwd: s.root });
    expect(rel.realpathSync(42 as unknown as string)).toBe(`${s.root}/42`);
    expect(() => rel.realpathSync(43 as unknown as string)).toThrow(`ENOENT: no such file or directory, lstat '${s.root}/43'`);
    expect(() => nodeFs.realpathSync(-7 as unknown as string)).toThrow(`ENOENT: no such file or directory, lstat '${process.cwd()}/-7'`);
  });

  it("lchown changes the link, not its target; -1 keeps an id (root only: CI runs as root)", () => {
    if (process.getuid?.() !== 0) {
      // not root: Node's lchown to another owner is EPERM; the kernel (root by default) is checked alone
      const [s] = fresh();
      s.fs.writeFileSync(`${s.root}/t`, "");
      s.fs.symlinkSync("t", `${s.root}/l`);
      s.fs.lchownSync(`${s.root}/l`, 1234, 5678);
      expect([s.fs.lstatSync(`${s.root}/l`).uid, s.fs.lstatSync(`${s.root}/l`).gid, s.fs.statSync(`${s.root}/l`).uid]).toEqual([1234, 5678, 0]);
      s.fs.lchownSync(`${s.root}/l`, -1, 42);
      expect([s.fs.lstatSync(`${s.root}/l`).uid, s.fs.lstatSync(`${s.root}/l`).gid]).toEqual([1234, 42]);
      return;
    }
    const sides = fresh();
    const got = sides.map((s) => {
      s.fs.writeFileSync(`${s.root}/t`, "");
      s.fs.symlinkSync("t", `${s.root}/l`);
      s.fs.lchownSync(`${s.root}/l`, 1234, 5678);
      const one = [s.fs.lstatSync(`${s.root}/l`).uid, s.fs.lstatSync(`${s.root}/l`).gid, s.fs.statSync(`${s.root}/l`).uid];
      s.fs.lchownSync(`${s.root}/l`, -1, 42);
      return [...one, s.fs.lstatSync(`${s.root}/l`).uid, s.fs.lstatSync(`${s.root}/l`).gid];
    });
    expect(got[0]).toEqual(got[1]);
  });

  it("cp error messages for the fixed conflicts are Node's (into itself, dir onto file, file onto dir, EEXIST, EISDIR, same file, link into own target)", async () => {
    const sides = fresh();
    const shapes = [];
    for (const s of sides) {
      const r = s.root;
      s.fs.mkdirSync(`${r}/d/sub`, { recursive: true });
      s.fs.writeFileSync(`${r}/d/f`, "1");
      s.fs.writeFileSync(`${r}/f2`, "2");
      s.fs.symlinkSync(`${r}/d`, `${r}/ld`);
      s.fs.symlinkSync(`${r}/d/sub`, `${r}/lsub`);
      const cases: [string, string, object][] = [
        ["d", "d/sub/x", { recursive: true }], ["d", "f2", { recursive: true }], ["f2", "d", {}], ["f2", "d/f", { force: false, errorOnExist: true }],
        ["d", "new", {}], ["f2", "f2", {}], ["d/f", "d/f", {}], ["ld", "lsub", {}], ["lsub", "ld", {}], ["d", "d", { recursive: true }],
        ["f2", "d/f", { force: false }], ["missing", "x", {}], ["f2", "d/f", { mode: 1 }],
      ];
      const sync = cases.map(([a, b, o]) => outcome(s, () => s.fs.cpSync(`${r}/${a}`, `${r}/${b}`, o)));
      const prom = [];
      for (const [a, b, o] of cases) prom.push(await outcomeAsync(s, () => s.fs.promises.cp(`${r}/${a}`, `${r}/${b}`, o)));
      shapes.push({ sync, prom, tree: snapshot(s, r) });
    }
    expect(shapes[0]).toEqual(shapes[1]);
  });

  it("a link over a link to its target's directory: cpSync stats dest (ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY), promises.cp stats src (replaces it), as Node", async () => {
    const shapes = [];
    for (const s of fresh()) {
      const r = s.root;
      s.fs.mkdirSync(`${r}/t`);
      s.fs.writeFileSync(`${r}/t/f`, "1");
      s.fs.symlinkSync(`${r}/t/f`, `${r}/lf`);
      s.fs.symlinkSync(`${r}/t`, `${r}/lt`);
      const sync = outcome(s, () => s.fs.cpSync(`${r}/lf`, `${r}/lt`));
      const prom = await outcomeAsync(s, () => s.fs.promises.cp(`${r}/lf`, `${r}/lt`));
      shapes.push({ sync, prom, tree: snapshot(s, r) });
    }
    expect(shapes[0]).toEqual(shapes[1]);
    expect(shapes[0].sync).toMatchObject({ err: { code: "ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY" } });
  });

  it("promises.cp of a large file yields to the event loop between 1 MiB chunks and copies every byte", async () => {
    const [s] = fresh();
    const big = Buffer.alloc(5 * MiB + 123);
    for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
    s.fs.writeFileSync(`${s.root}/big`, big);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    let turns = 0;
    const counter = (): void => { turns++; if (!done) setImmediate(counter); };
    let done = false;
    setImmediate(counter);
    await s.fs.promises.cp(`${s.root}/big`, `${s.root}/copy`);
    done = true;
    clearInterval(timer);
    expect(Buffer.compare(s.fs.readFileSync(`${s.root}/copy`), big)).toBe(0);
    expect(turns).toBeGreaterThanOrEqual(5); // one turn per chunk at least
    void ticks;
  });
});

describe("names that are not UTF-8, special files, timestamps", () => {
  it("realpathSync.native and promises.realpath keep bytes that are not UTF-8 (Buffer paths, link targets) like glibc; realpathSync is lossy like Node's", async () => {
    const sides = fresh();
    const shapes = [];
    for (const s of sides) {
      const bad = Buffer.from("bad\xff", "latin1");
      const root = Buffer.from(s.root);
      const at = (...parts: (string | Buffer)[]): Buffer => Buffer.concat([root, ...parts.map((x) => Buffer.concat([Buffer.from("/"), Buffer.from(x as Buffer)]))]);
      s.fs.mkdirSync(at(bad));
      s.fs.writeFileSync(at(bad, "x"), "");
      s.fs.symlinkSync(Buffer.concat([bad, Buffer.from("/x")]), at("l"));
      s.fs.symlinkSync(bad, at(Buffer.from("l\xfe", "latin1")));
      s.fs.symlinkSync(Buffer.concat([bad, Buffer.from("/missing")]), at("dangling"));
      const hex = (v: unknown): unknown => (Buffer.isBuffer(v) ? unroot(s, v.toString("latin1")) : v);
      const q = [at("l"), at(Buffer.from("l\xfe", "latin1"), "x"), at("dangling"), at(bad, "x", "y")];
      shapes.push({
        native: q.map((p) => outcome(s, () => hex(s.fs.realpathSync.native(p, "buffer")))),
        nativeStr: q.map((p) => outcome(s, () => s.fs.realpathSync.native(p))),
        promise: await Promise.all(q.map((p) => outcomeAsync(s, async () => hex(await s.fs.promises.realpath(p, { encoding: "buffer" }))))),
        js: q.map((p) => outcome(s, () => hex(s.fs.realpathSync(p, "buffer")))),
      });
    }
    expect(shapes[0]).toEqual(shapes[1]);
  });

  it("cp with preserveTimestamps copies atime/mtime (also of read-only files) like Node; a FIFO source fails with ERR_FS_CP_FIFO_PIPE", async () => {
    const sides = fresh();
    const shapes = [];
    for (const s of sides) {
      const r = s.root;
      s.fs.mkdirSync(`${r}/src/sub`, { recursive: true });
      s.fs.writeFileSync(`${r}/src/w`, "w");
      s.fs.writeFileSync(`${r}/src/sub/ro`, "ro");
      s.fs.chmodSync(`${r}/src/sub/ro`, 0o444);
      // atimes after the mtimes and in the future: Linux's relatime then leaves them alone
      // when cp reads the source (the kernel never updates atime on read)
      s.fs.utimesSync(`${r}/src/w`, 2.1e9 + 0.25, 1.5e9 + 0.5);
      s.fs.utimesSync(`${r}/src/sub/ro`, 2e9, 1234.5);
      s.fs.cpSync(`${r}/src`, `${r}/dst`, { recursive: true, preserveTimestamps: true });
      await s.fs.promises.cp(`${r}/src`, `${r}/dst2`, { recursive: true, preserveTimestamps: true });
      const times = ["dst/w", "dst/sub/ro", "dst2/w", "dst2/sub/ro"].map((x) => {
        const st = s.fs.statSync(`${r}/${x}`);
        return [st.atimeMs, st.mtimeMs, (st.mode & 0o7777).toString(8)];
      });
      if (s.fs === nodeFs) execFileSync("mkfifo", [`${r}/fifo`]);
      else (s.fs as HelixFs).mkfifoSync(`${r}/fifo`);
      shapes.push({
        times,
        fifo: outcome(s, () => s.fs.cpSync(`${r}/fifo`, `${r}/fifo2`)),
        fifoP: await outcomeAsync(s, () => s.fs.promises.cp(`${r}/fifo`, `${r}/fifo3`)),
      });
    }
    expect(shapes[0]).toEqual(shapes[1]);
  });
});

describe("cwd-relative paths and early exits", () => {
  it("mkdtemp, opendir and cp take paths relative to the HelixFs cwd; mkdtemp returns the relative name", () => {
    const [s] = fresh();
    const rel = createFs(k.fs.sys, { cwd: s.root, umask: UMASK });
    const made = rel.mkdtempSync("tmp-") as string;
    expect(made).toMatch(/^tmp-[A-Za-z0-9]{6}$/);
    expect(hfs.statSync(`${s.root}/${made}`).isDirectory()).toBe(true);
    rel.writeFileSync(`${made}/f`, "data");
    rel.cpSync(made, "copy", { recursive: true });
    expect(hfs.readFileSync(`${s.root}/copy/f`, "utf8")).toBe("data");
    const d = rel.opendirSync("copy");
    expect(d.path).toBe("copy");
    expect(d.readSync()?.parentPath).toBe("copy");
    d.closeSync();
  });

  it("breaking out of for-await closes the Dir, as Node's does", async () => {
    const sides = fresh();
    const got = [];
    for (const s of sides) {
      for (const n of ["a", "b", "c"]) s.fs.writeFileSync(`${s.root}/${n}`, "");
      const dir = await s.fs.promises.opendir(s.root);
      let seen = 0;
      for await (const e of dir) { void e; seen++; break; }
      got.push([seen, outcome(s, () => dir.readSync()), await outcomeAsync(s, () => dir.close())]);
    }
    expect(got[0]).toEqual(got[1]);
  });
});
