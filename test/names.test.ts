// test/names.test.ts -- names are bytes (issue 10 §4, §2): the Node-shaped fs over the kernel
// and over NodeSys against Node's fs on tmpfs (the oracle: the kernel's names are bytes, so
// NFC and NFD are two names), then `helix import` / `export` round trips of such names, and
// crafted images whose directory entries are not one path component. A property test draws
// random byte names (bytes that make UTF-8 invalid are favoured) against the same oracle.

import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createFs, type HelixFs, type Sys } from "../host/fs/fs.js";
import { NodeSys } from "../host/node/nodesys.js";
import { badComponent, NAME_MAX, quoteName, scanGuestTree } from "../host/shell/tree.js";
import { exportTree } from "../host/cli/copy.js";
import { bootDevice, freshDevice, MiB } from "./helpers.js";
import { items, renameEntry, TREE } from "./image-edit.js";

/** Renames the only entry of directory `dir` on `img` to `name` (same length), key recomputed. */
function renameOnlyEntry(img: Uint8Array, dir: number, name: Uint8Array): void {
  const mine = items(img, TREE.dirent).filter((it) => it.k1 === BigInt(dir));
  expect(mine, `entries of directory ${dir}`).toHaveLength(1);
  renameEntry(img, mine[0], name, true);
}
import { runHelix } from "./cli-run.js";

const TMP = nodeFs.mkdtempSync(path.join(nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-names-"));
afterAll(() => nodeFs.rmSync(TMP, { recursive: true, force: true }));
const RUN_TIMEOUT_MS = 60_000;

const L = (s: string) => Buffer.from(s, "latin1");
const U = (s: string) => Buffer.from(s, "utf8");
const cat = (...p: (string | Buffer)[]) => Buffer.concat(p.map((x) => (typeof x === "string" ? U(x) : x)));

/** Names Linux accepts: not UTF-8 in several ways, control bytes, NFC and NFD, a BOM, astral. */
const NAMES: Buffer[] = [
  L("bad\xff\xfename"), L("\x80"), L("trail\xc3"), L("overlong\xc0\xaf"), L("surrogate\xed\xa0\x80"),
  U("a\nb"), U("tab\tcr\rbell\x07esc\x1bdel\x7f"), U("caf\u00e9"), U("cafe\u0301"), U("\ufeffbom"),
  U("\u{1f600}"), U("\uffef"), U("back\\slash"), U(" lead space"), cat("x".repeat(NAME_MAX - 1), L("\xff")),
];

type Outcome = unknown;

/** A comparable rendering: Buffers as hex, the oracle's directory prefix removed from strings. */
function norm(v: unknown, prefix: string): unknown {
  if (Buffer.isBuffer(v)) return { bytes: v.toString("latin1").split(prefix).join("") }; // latin1: one char per byte
  if (typeof v === "string") return v.split(prefix).join("");
  if (Array.isArray(v)) return v.map((x) => norm(x, prefix));
  if (v instanceof Error) {
    const e = v as Error & Record<string, unknown>;
    return { err: e.code, syscall: e.syscall, message: norm(e.message, prefix), path: norm(e.path, prefix) };
  }
  if (v !== null && typeof v === "object" && typeof (v as { isFile?: unknown }).isFile === "function") {
    const d = v as { name: unknown; parentPath: unknown; isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean };
    return { name: norm(d.name, prefix), parentPath: norm(d.parentPath, prefix), file: d.isFile(), dir: d.isDirectory(), link: d.isSymbolicLink() };
  }
  return v;
}

function outcome(f: () => unknown, prefix: string): Outcome {
  try {
    return { ok: norm(f(), prefix) };
  } catch (e) {
    return { threw: norm(e, prefix) };
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFs = any;

/**
 * The same script on a subject fs (paths under `/t`) and on Node's fs (under a tmpfs
 * directory); every step's outcome must be equal.
 */
function script(fs: AnyFs, p: (rel: Buffer | string) => Buffer, prefix: string): Outcome[] {
  const out: Outcome[] = [];
  const step = (f: () => unknown) => out.push(outcome(f, prefix));
  step(() => fs.mkdirSync(p("")));
  for (const n of NAMES) step(() => fs.writeFileSync(p(n), cat("data of ", n)));
  step(() => fs.readdirSync(p("")));
  step(() => fs.readdirSync(p(""), "buffer"));
  step(() => fs.readdirSync(p(""), { encoding: "latin1" }));
  step(() => fs.readdirSync(p(""), { encoding: "hex" }));
  step(() => fs.readdirSync(p(""), { withFileTypes: true, encoding: "buffer" }));
  step(() => fs.readdirSync(p(""), { withFileTypes: true }).map((d: { name: string }) => d.name));
  for (const n of NAMES) {
    step(() => fs.readFileSync(p(n)));
    step(() => fs.statSync(p(n)).size);
  }
  // NFC and NFD are different names: removing one leaves the other
  step(() => fs.unlinkSync(p(U("caf\u00e9"))));
  step(() => fs.readFileSync(p(U("cafe\u0301")), "utf8"));
  step(() => fs.existsSync(p(U("caf\u00e9"))));
  // rename, link, symlink with a non-UTF-8 target, readlink in both encodings
  step(() => fs.renameSync(p(L("bad\xff\xfename")), p(L("moved\xfe"))));
  step(() => fs.linkSync(p(L("moved\xfe")), p(L("hard\x81"))));
  step(() => fs.statSync(p(L("hard\x81"))).nlink);
  step(() => fs.symlinkSync(L("tar\xfeget/\x80"), p(L("link\xff"))));
  step(() => fs.readlinkSync(p(L("link\xff")), "buffer"));
  step(() => fs.readlinkSync(p(L("link\xff"))));
  step(() => fs.lstatSync(p(L("link\xff"))).isSymbolicLink());
  // directories whose names are not UTF-8, mkdir -p through them, Dirents inside
  step(() => fs.mkdirSync(p(L("dir\xff/sub\xfe/deep\x80")), { recursive: true }));
  step(() => fs.writeFileSync(p(L("dir\xff/sub\xfe/f\x90")), "inner"));
  step(() => fs.readdirSync(p(L("dir\xff/sub\xfe")), { withFileTypes: true, encoding: "buffer" }));
  step(() => fs.chmodSync(p(L("dir\xff/sub\xfe/f\x90")), 0o640));
  step(() => (fs.statSync(p(L("dir\xff/sub\xfe/f\x90"))).mode & 0o7777).toString(8));
  step(() => fs.utimesSync(p(L("dir\xff/sub\xfe/f\x90")), 1000, 2000));
  step(() => fs.statSync(p(L("dir\xff/sub\xfe/f\x90"))).mtimeMs);
  step(() => fs.accessSync(p(L("dir\xff/sub\xfe/f\x90"))));
  step(() => fs.appendFileSync(p(L("dir\xff/sub\xfe/f\x90")), "+more"));
  step(() => fs.truncateSync(p(L("dir\xff/sub\xfe/f\x90")), 8));
  step(() => fs.chownSync(p(L("dir\xff/sub\xfe/f\x90")), -1, -1));
  step(() => fs.lutimesSync(p(L("link\xff")), 3000, 4000));
  step(() => fs.lstatSync(p(L("link\xff"))).mtimeMs);
  step(() => { const fd = fs.openSync(p(L("dir\xff/sub\xfe/f\x90")), "r"); fs.closeSync(fd); return typeof fd; });
  step(() => fs.copyFileSync(p(L("dir\xff/sub\xfe/f\x90")), p(L("copy\xa0"))));
  step(() => fs.readFileSync(p(L("copy\xa0")), "utf8"));
  // errors name the path as Node does (invalid bytes shown as U+FFFD)
  step(() => fs.statSync(p(L("nope\xff"))));
  step(() => fs.readdirSync(p(L("nope\xfe"))));
  step(() => fs.rmdirSync(p(L("dir\xff"))));
  // rm -r removes what it cannot name as a string
  step(() => fs.rmSync(p(L("dir\xff")), { recursive: true }));
  step(() => fs.readdirSync(p(""), "buffer"));
  step(() => fs.rmSync(p(""), { recursive: true }));
  step(() => fs.existsSync(p("")));
  return out;
}

function compareWithNode(fs: HelixFs, label: string): void {
  const real = path.join(TMP, `real-${label}`);
  nodeFs.mkdirSync(real);
  const mine = script(fs, (rel) => cat("/t", rel.length ? "/" : "", rel), "\0none\0");
  const theirs = script(nodeFs, (rel) => cat(real, "/t", rel.length ? "/" : "", rel), real);
  expect(mine.length).toBe(theirs.length);
  for (let i = 0; i < mine.length; i++) expect(mine[i], `step ${i}`).toEqual(theirs[i]);
}

describe("names are bytes: the Node-shaped fs against Node on tmpfs", () => {
  it("over the kernel", () => {
    const k = bootDevice(freshDevice(64 * MiB));
    try {
      compareWithNode(k.fs, "kernel");
    } finally {
      k.shutdown();
    }
  });

  it("over NodeSys", () => {
    const root = path.join(TMP, "nodesys");
    nodeFs.mkdirSync(root);
    compareWithNode(createFs(new NodeSys(root), { umask: process.umask() }), "nodesys");
  });

  it("random byte names: readdir as strings and as bytes, contents and rm -r agree with Node", () => {
    const k = bootDevice(freshDevice(64 * MiB));
    const real = path.join(TMP, "random");
    nodeFs.mkdirSync(real);
    // any byte but NUL and '/', biased toward the bytes that make UTF-8 invalid or multi-byte
    const byte = fc.oneof(fc.integer({ min: 1, max: 255 }), fc.constantFrom(0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xff, 0x0a, 0x2e))
      .filter((b) => b !== 0x2f);
    const nameArb = fc.array(byte, { minLength: 1, maxLength: 12 }).map((a) => Buffer.from(a))
      .filter((b) => b.toString("latin1") !== "." && b.toString("latin1") !== "..");
    let round = 0;
    try {
      fc.assert(fc.property(fc.uniqueArray(nameArb, { minLength: 1, maxLength: 10, selector: (b) => b.toString("hex") }), (names) => {
        round++;
        const mine = U(`/rnd${round}`), theirs = U(path.join(real, `rnd${round}`));
        for (const [fs, dir] of [[k.fs, mine], [nodeFs, theirs]] as [AnyFs, Buffer][]) {
          fs.mkdirSync(dir);
          for (const n of names) fs.writeFileSync(cat(dir, "/", n), n);
        }
        const list = (fs: AnyFs, dir: Buffer) => ({
          strings: fs.readdirSync(dir),
          bytes: (fs.readdirSync(dir, "buffer") as Buffer[]).map((b) => b.toString("hex")),
          data: (fs.readdirSync(dir, "buffer") as Buffer[]).map((b) => fs.readFileSync(cat(dir, "/", b)).toString("hex")),
        });
        expect(list(k.fs, mine)).toEqual(list(nodeFs, theirs));
        k.fs.rmSync(mine, { recursive: true });
        expect(k.fs.existsSync(mine)).toBe(false);
      }), { numRuns: 40, seed: 10 });
    } finally {
      k.shutdown();
    }
  });

  it("recursive readdir follows directories by their bytes ('buffer' gives exact relative paths)", () => {
    const k = bootDevice(freshDevice(64 * MiB));
    try {
      const fs = k.fs;
      fs.mkdirSync(L("/r/d\xff/e\xfe"), { recursive: true });
      fs.writeFileSync(L("/r/d\xff/e\xfe/f\x80"), "");
      fs.writeFileSync("/r/plain", "");
      expect((fs.readdirSync("/r", { recursive: true, encoding: "buffer" }) as Buffer[]).map((b) => b.toString("latin1")))
        .toEqual(["d\xff", "plain", "d\xff/e\xfe", "d\xff/e\xfe/f\x80"]);
      expect(fs.readdirSync("/r", { recursive: true })).toEqual(["d\ufffd", "plain", "d\ufffd/e\ufffd", "d\ufffd/e\ufffd/f\ufffd"]);
      const ds = fs.readdirSync("/r", { recursive: true, withFileTypes: true, encoding: "buffer" }) as { name: Buffer }[];
      expect(ds.map((d) => d.name.toString("latin1"))).toEqual(["d\xff", "plain", "e\xfe", "f\x80"]);
    } finally {
      k.shutdown();
    }
  });
});

// ---- the CLI ---------------------------------------------------------------------------

/** Every entry under `dir` by exact relative bytes: kind, mode, mtime (µs), content or target. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: Buffer) => {
    const abs = rel.length ? cat(dir, "/", rel) : U(dir);
    for (const n of nodeFs.readdirSync(abs, "buffer")) {
      const r = rel.length ? cat(rel, "/", n) : n;
      const p = cat(dir, "/", r);
      const st = nodeFs.lstatSync(p, { bigint: true });
      const meta = `${(st.mode & 0o7777n).toString(8)} ${st.mtimeNs / 1000n}`;
      const key = r.toString("hex");
      if (st.isDirectory()) { out[key] = `dir ${meta}`; walk(r); }
      else if (st.isSymbolicLink()) out[key] = `link ${nodeFs.readlinkSync(p, "buffer").toString("hex")} ${st.mtimeNs / 1000n}`;
      else out[key] = `file ${meta} ${nodeFs.readFileSync(p).toString("hex")}`;
    }
  };
  walk(Buffer.alloc(0));
  return out;
}

describe("names are bytes: helix import and export", () => {
  it("import carries every name (the issue's 'bad\\xff\\xfename' among them) and export reproduces the tree byte for byte", async () => {
    const src = path.join(TMP, "src"), out = path.join(TMP, "out"), img = path.join(TMP, "names.img");
    nodeFs.mkdirSync(src);
    for (const n of NAMES) nodeFs.writeFileSync(cat(src, "/", n), cat("content ", n));
    nodeFs.mkdirSync(cat(src, "/", L("dir\xff")));
    nodeFs.writeFileSync(cat(src, "/", L("dir\xff/in\x80side")), "inside");
    nodeFs.chmodSync(cat(src, "/", L("dir\xff/in\x80side")), 0o604);
    nodeFs.symlinkSync(L("target\xfe/\x01"), cat(src, "/", L("link\xfe")));
    const files = NAMES.length + 1;
    expect((await runHelix(TMP, ["mkfs", img, "--size", "32M"], RUN_TIMEOUT_MS)).code).toBe(0);
    const imp = await runHelix(TMP, ["import", img, src, "/in"], RUN_TIMEOUT_MS);
    expect(imp.stderr).toBe("");
    expect(imp.code).toBe(0);
    expect(imp.stdout).toContain(`: ${files} files, 1 dir, 1 symlink,`);
    const exp = await runHelix(TMP, ["export", img, "/in", out], RUN_TIMEOUT_MS);
    expect(exp.stderr).toBe("");
    expect(exp.code).toBe(0);
    expect(exp.stdout).toContain(`: ${files} files, 1 dir, 1 symlink,`);
    const want = snapshot(src);
    expect(Object.keys(want)).toHaveLength(files + 2);
    expect(snapshot(out)).toEqual(want);
  });
});

describe("the image inside the tree it imports", () => {
  it("is left out (its host path is compared as bytes)", async () => {
    const dir = path.join(TMP, "inside");
    nodeFs.mkdirSync(dir);
    nodeFs.writeFileSync(cat(dir, "/", L("a\xff")), "a");
    const img = path.join(dir, "self.img");
    expect((await runHelix(TMP, ["mkfs", img, "--size", "16M"], RUN_TIMEOUT_MS)).code).toBe(0);
    const r = await runHelix(dir, ["import", "self.img", ".", "/x"], RUN_TIMEOUT_MS);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(": 1 file, 0 dirs, 0 symlinks, 1 bytes");
  });
});

// ---- names that are not one path component ----------------------------------------------

describe("names that are not one path component", () => {
  it("badComponent refuses '/', NUL, '.', '..', empty and over-long names, and accepts the rest", () => {
    for (const bad of [U("../../x"), U("a/b"), U("/"), U("."), U(".."), Buffer.alloc(0), U("a\0b"), U("x".repeat(NAME_MAX + 1))]) {
      expect(badComponent(bad), quoteName(bad)).not.toBeNull();
    }
    for (const ok of [...NAMES, U("..."), U(".x"), U("x".repeat(NAME_MAX))]) expect(badComponent(ok), quoteName(ok)).toBeNull();
  });

  it("quoteName shows every byte on one line", () => {
    expect(quoteName(L("bad\xff\xfename"))).toBe("bad\\xff\\xfename");
    expect(quoteName(U("a\nb\\c\x01caf\u00e9"))).toBe("a\\nb\\\\c\\x01caf\u00e9");
    expect(quoteName(U("nel\u0085nbsp\u00a0"))).toBe("nel\\u0085nbsp\u00a0");
  });

  // A Sys whose readdir hands out a name from a crafted disk: the tree walk that import and
  // export share must stop at it, whatever the kernel below does.
  for (const bad of ["../../x", "a/b", "..", ".", ""]) {
    it(`a tree walk refuses an entry named '${bad}' with one line naming it`, () => {
      const root = path.join(TMP, `walk-${Buffer.from(bad).toString("hex") || "empty"}`);
      nodeFs.mkdirSync(path.join(root, "d"), { recursive: true });
      nodeFs.writeFileSync(path.join(root, "d", "f"), "x");
      const base = new NodeSys(root);
      const sys: Sys = Object.create(base);
      sys.getdents = (fd) => {
        const r = base.getdents(fd);
        return typeof r === "number" ? r : r.map((e) => (e.name === "f" ? { ...e, name: bad } : e));
      };
      sys.scandir = undefined;
      const fs = createFs(sys);
      expect(() => scanGuestTree(fs, "/")).toThrow(`'/d' holds an entry named '${bad}': `);
    });
  }

  it("helix export of a crafted image refuses an entry named '../../x' and writes nothing outside its target", async () => {
    const dev = freshDevice(16 * MiB);
    const k = bootDevice(dev);
    // /x exists, so '/e/up/../../x' resolves in the image: a copy that joined the name to a
    // host path would really write outside its target
    k.fs.writeFileSync("/x", "escaped");
    const inos = new Map<string, number>();
    for (const [d, len] of [["up", 7], ["slash", 3], ["dotdot", 2], ["dot", 1]] as const) {
      k.fs.mkdirSync(`/e/${d}`, { recursive: true });
      k.fs.writeFileSync(`/e/${d}/${"n".repeat(len)}`, "payload");
      inos.set(d, k.fs.statSync(`/e/${d}`).ino);
    }
    const bytes = dev.bytes;
    k.shutdown();
    const crafted: [string, string][] = [["up", "../../x"], ["slash", "a/b"], ["dotdot", ".."], ["dot", "."]];
    const messages: string[] = [];
    for (const [d, name] of crafted) {
      const img = new Uint8Array(bytes);
      renameOnlyEntry(img, inos.get(d)!, U(name));
      const file = path.join(TMP, `crafted-${d}.img`);
      nodeFs.writeFileSync(file, img);
      const box = path.join(TMP, `box-${d}`);
      nodeFs.mkdirSync(box);
      const r = await runHelix(TMP, ["export", file, `/e/${d}`, path.join(box, "out")], RUN_TIMEOUT_MS);
      expect(r.code, r.stdout).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      // the host refuses the name; a kernel that checks names first says EUCLEAN (§2)
      expect(lines[0]).toMatch(new RegExp(`^helix: .*(named '${name.replace(/[./]/g, "\\$&")}'|EUCLEAN|Structure needs cleaning)`));
      // the walk refuses before anything is copied: not even the target is created
      expect(nodeFs.readdirSync(box)).toEqual([]);
      expect(nodeFs.existsSync(path.join(TMP, "x"))).toBe(false);
      messages.push(lines[0]);
    }
    if (!/EUCLEAN|Structure needs cleaning/.test(messages[0])) {
      expect(messages[0]).toBe("helix: '/e/up' holds an entry named '../../x': name contains '/'; refusing to copy it");
    }
  });

  it("readdir through getdents hands on an entry stored as '..' (or refuses it), never hides it", () => {
    const dev = freshDevice(16 * MiB);
    let k = bootDevice(dev);
    k.fs.mkdirSync("/e");
    k.fs.writeFileSync("/e/nn", "x");
    const ino = k.fs.statSync("/e").ino;
    const bytes = dev.bytes;
    k.shutdown();
    const img = new Uint8Array(bytes);
    renameOnlyEntry(img, ino, U(".."));
    k = bootDevice(new (dev.constructor as new (b: Uint8Array) => typeof dev)(img));
    try {
      let names: string[] | string;
      try {
        names = k.fs.readdirSync("/e", { withFileTypes: true }).map((d) => d.name);
      } catch (e) {
        names = (e as { code: string }).code;
      }
      // the kernel may refuse the name itself (EUCLEAN, §2); the host must not drop it
      expect(names === "EUCLEAN" || (Array.isArray(names) && names.length === 1 && names[0] === "..")).toBe(true);
    } finally {
      k.shutdown();
    }
  });

  it("exportTree never joins a bad name to a host path (the walk stops before any copy)", () => {
    const root = path.join(TMP, "walk-export");
    nodeFs.mkdirSync(path.join(root, "a", "b"), { recursive: true });
    nodeFs.writeFileSync(path.join(root, "a", "b", "f"), "x");
    const base = new NodeSys(root);
    const sys: Sys = Object.create(base);
    sys.scandir = undefined;
    sys.getdents = (fd) => {
      const r = base.getdents(fd);
      return typeof r === "number" ? r : r.map((e) => (e.name === "f" ? { ...e, name: "../../../escaped" } : e));
    };
    const target = path.join(TMP, "walk-export-out", "t");
    expect(() => exportTree(createFs(sys), "/", target)).toThrow(/holds an entry named '\.\.\/\.\.\/\.\.\/escaped'/);
    expect(nodeFs.existsSync(path.join(TMP, "walk-export-out"))).toBe(false);
    expect(nodeFs.existsSync(path.join(TMP, "escaped"))).toBe(false);
  });
});
