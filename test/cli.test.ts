// test/cli.test.ts -- the `helix` CLI as users run it: `node bin/helix.js ...` in a child
// process, on images in a temporary directory.
//
// Covers mkfs -> import -> export round trips (contents, types, symlink targets, modes,
// mtimes), fsck, the shell (-c and a script on stdin), inspect/stat, and every bad-input case:
// each must end with exactly one stderr line `helix: ...`, a non-zero exit (2 for usage
// errors), no stack trace and no WebAssembly RuntimeError.
// Rules: the CLI runs from dist/ (built by `npm run build` / `npx tsc`); HELIX_NO_BUILD=1 keeps
// the launcher from rebuilding while others edit sources; every child has a timeout.

import { runHelix, type RunResult } from "./cli-run.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "helix.js");
const TMP = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-cli-"));
/** Longest a single CLI run may take before the test fails (a hang is a bug). */
const RUN_TIMEOUT_MS = 60_000;

/** Runs `node bin/helix.js ...args` in the test directory. */
function helix(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return runHelix(TMP, args, RUN_TIMEOUT_MS, opts);
}

/** Asserts the one-line failure contract and returns the line. */
function oneErrorLine(r: RunResult, exitCode?: number): string {
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  expect(lines, `stderr: ${r.stderr}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^helix: \S/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toContain("RuntimeError");
  expect(r.stdout).not.toContain("RuntimeError");
  expect(r.code).not.toBe(0);
  if (exitCode !== undefined) expect(r.code).toBe(exitCode);
  return lines[0];
}

/** Writes a deterministic pseudo-random buffer. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; b[i] = s >>> 24; }
  return b;
}

/** A small tree with nested dirs, empty files, a binary file, modes, old mtimes and symlinks. */
function makeTree(root: string): void {
  fs.mkdirSync(path.join(root, "a", "b", "c"), { recursive: true });
  fs.mkdirSync(path.join(root, "empty-dir"));
  fs.writeFileSync(path.join(root, "a", "hello.txt"), "hello, helix\n");
  fs.writeFileSync(path.join(root, "a", "b", "empty"), "");
  fs.writeFileSync(path.join(root, "a", "b", "c", "bin.dat"), bytes(300_000, 7));
  fs.writeFileSync(path.join(root, "run.sh"), "#!/bin/sh\necho hi\n");
  fs.chmodSync(path.join(root, "run.sh"), 0o755);
  fs.chmodSync(path.join(root, "a", "b"), 0o750);
  for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(root, "a", `f${String(i).padStart(2, "0")}.js`), `module.exports = ${i};\n`.repeat(i * 10));
  fs.symlinkSync("a/hello.txt", path.join(root, "link"));
  fs.symlinkSync("does/not/exist", path.join(root, "dangling"));
  fs.symlinkSync("a", path.join(root, "dirlink"));
  fs.utimesSync(path.join(root, "a", "hello.txt"), new Date("2001-02-03T04:05:06.789Z"), new Date("2001-02-03T04:05:06.789Z"));
}

interface Node { type: string; mode: number; mtimeMs: number; data?: string; target?: string }

/** Describes a host tree: relative path -> type, mode, mtime, content hash or link target. */
function describeTree(root: string): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) { out.set(r, { type: "dir", mode: st.mode & 0o7777, mtimeMs: st.mtimeMs }); walk(r); }
      else if (st.isSymbolicLink()) out.set(r, { type: "symlink", mode: 0, mtimeMs: st.mtimeMs, target: fs.readlinkSync(p) });
      else out.set(r, { type: "file", mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, data: fs.readFileSync(p).toString("base64") });
    }
  };
  walk("");
  return out;
}

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, "dist", "host", "cli", "main.js"))) throw new Error("dist/ is missing: run `npm run build` first");
});
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

describe("mkfs, import, export, fsck", () => {
  const img = path.join(TMP, "round.img");
  const src = path.join(TMP, "src");
  const out = path.join(TMP, "out");

  it("mkfs prints a summary", async () => {
    const r = await helix(["mkfs", img, "--size", "64M", "--label", "test"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/16384 blocks/);
    expect(r.stdout).toMatch(/journal: \d+ blocks/);
    expect(r.stdout).toMatch(/free: +\d+ blocks/);
    expect(fs.statSync(img).size).toBe(64 * 1024 * 1024);
  });

  it("import then export reproduces the tree", async () => {
    makeTree(src);
    const imp = await helix(["import", img, src, "/data"]);
    expect(imp.stderr).toBe("");
    expect(imp.code).toBe(0);
    expect(imp.stdout).toMatch(/34 files, 4 dirs, 3 symlinks/);
    expect(imp.stdout).toMatch(/MiB\/s/);
    const exp = await helix(["export", img, "/data", out]);
    expect(exp.stderr).toBe("");
    expect(exp.code).toBe(0);
    const a = describeTree(src), b = describeTree(out);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, v] of a) {
      const w = b.get(k)!;
      expect({ k, type: w.type, mode: w.mode, data: w.data, target: w.target }).toEqual({ k, type: v.type, mode: v.mode, data: v.data, target: v.target });
      // the image keeps ns; the host's utimes takes a double of seconds (sub-microsecond loss)
      expect(Math.abs(w.mtimeMs - v.mtimeMs), k).toBeLessThan(0.01);
    }
  });

  it("export into a host tree where a file stands in for a directory names both paths and stops", async () => {
    const blocked = path.join(TMP, "blocked");
    fs.mkdirSync(blocked);
    fs.writeFileSync(path.join(blocked, "a"), "not a directory");
    const line = oneErrorLine(await helix(["export", img, "/data", blocked]), 1);
    expect(line).toMatch(/export stopped at \/data\/a -> '.*blocked\/a': EEXIST/);
    expect(fs.readFileSync(path.join(blocked, "a"), "utf8")).toBe("not a directory"); // left alone
  });

  it("fsck is clean after the import", async () => {
    const r = await helix(["fsck", img]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/clean/);
  });

  it("inspect shows superblock, trees, histogram and journal", async () => {
    const r = await helix(["inspect", img]);
    expect(r.code).toBe(0);
    for (const s of ["superblock", "journal size", "mount count", "trees", "inode", "dirent", "extent", "bno", "cnt", "free space by extent length", "journal"]) {
      expect(r.stdout).toContain(s);
    }
    expect(r.stdout).toMatch(/#+/);
  });

  it("stat shows grouped counters, buddy orders and slabinfo", async () => {
    const r = await helix(["stat", img]);
    expect(r.code).toBe(0);
    for (const s of ["memory", "page cache", "journal", "block device", "B+ tree", "allocator", "buddy allocator", "slabinfo", "kmem_cache"]) {
      expect(r.stdout).toContain(s);
    }
  });
});

describe("boot and the shell", () => {
  const img = path.join(TMP, "shell.img");
  beforeAll(async () => { expect((await helix(["mkfs", img, "--size", "32M"])).code).toBe(0); });

  it("prints a timestamped boot log with the mount lines", async () => {
    const r = await helix(["boot", img, "-c", "pwd"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^\[ +\d+\.\d{6}\] HelixFS kernel/);
    expect(r.stdout).toMatch(/^\[ +\d+\.\d{6}\] helixfs \(vda\): was cleanly unmounted; journal /m);
    expect(r.stdout).toMatch(/^\[ +\d+\.\d{6}\] helixfs \(vda\): mounted filesystem 'helixfs' read-write, /m);
    expect(r.stdout).toMatch(/blocks free/);
    expect(r.stdout).toMatch(/^\/$/m);
  });

  it("runs -c commands separated by ';' and newlines", async () => {
    const script = [
      "mkdir -p /a/b/c; echo hello > /a/b/f; echo 'more text' >> /a/b/f",
      "cat /a/b/f",
      "cd /a; pwd; ln -s b/f l; cat l; cp b/f g; mv g h; ls",
      "ls -l /a",
      "stat /a/h",
      "touch /a/t; rm /a/t; rmdir /a/b/c",
      "df",
      "tree /a",
      "sync; rm -r /a/b; ls /a",
      "echo -n no-newline",
    ].join("\n");
    const r = await helix(["boot", img, "-q", "-c", script]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const o = r.stdout;
    expect(o).toContain("hello\nmore text\n/a\nhello\nmore text\nb\nh\nl\n");
    expect(o).toMatch(/^lrwxrwxrwx +1 .* l -> b\/f$/m);
    expect(o).toMatch(/^drwxr-xr-x .* b$/m);
    expect(o).toMatch(/Size: 16 .*regular file/);
    expect(o).toMatch(/Access: \(0644\/-rw-r--r--\)/);
    expect(o).toMatch(/^Filesystem +1K-blocks +Used +Available +Use% +Mounted on$/m);
    expect(o).toContain("/a\n├── b\n│   └── f\n├── h\n└── l -> b/f\n\n1 directory, 3 files\n");
    expect(o).toContain("h\nl\nno-newline");
    expect(o.endsWith("no-newline")).toBe(true);
  });

  it("a failing command prints one helix: line, the rest still runs, exit status 1", async () => {
    const r = await helix(["boot", img, "-q", "-c", "ls /nope; echo still-here; rmdir /; cat"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("still-here");
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toBe("helix: ls: /nope: No such file or directory");
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^helix: /);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("reads a script from stdin when stdin is not a TTY", async () => {
    const r = await helix(["boot", img, "-q"], { input: "echo from-stdin > /s.txt\ncat /s.txt\nexit 3\necho not-reached\n" });
    expect(r.stdout).toContain("from-stdin\n");
    expect(r.stdout).not.toContain("not-reached");
    expect(r.code).toBe(3);
  });

  it("keeps data across boots (clean shutdown)", async () => {
    expect((await helix(["boot", img, "-q", "-c", "echo persisted > /p.txt"])).code).toBe(0);
    const r = await helix(["boot", img, "-c", "cat /p.txt"]);
    expect(r.stdout).toContain("persisted\n");
    expect(r.stdout).toMatch(/was cleanly unmounted/);
    expect((await helix(["fsck", img])).code).toBe(0);
  });
});

describe("bad input: one line on stderr, non-zero exit", () => {
  it("missing image", async () => {
    expect(oneErrorLine(await helix(["boot", path.join(TMP, "nope.img"), "-c", "ls"]), 1)).toMatch(/does not exist/);
    oneErrorLine(await helix(["fsck", path.join(TMP, "nope.img")]), 8); // e2fsck's operational error
    oneErrorLine(await helix(["inspect", path.join(TMP, "nope.img")]), 1);
    oneErrorLine(await helix(["stat", path.join(TMP, "nope.img")]), 1);
    oneErrorLine(await helix(["export", path.join(TMP, "nope.img"), "/", path.join(TMP, "x")]), 1);
  });

  it("a file that is not a HelixFS image", async () => {
    const junk = path.join(TMP, "junk.img");
    fs.writeFileSync(junk, bytes(16 * 1024 * 1024, 3));
    expect(oneErrorLine(await helix(["boot", junk, "-c", "ls"]), 1)).toMatch(/not a HelixFS image/);
    const text = path.join(TMP, "notes.txt");
    fs.writeFileSync(text, "just some text\n");
    expect(oneErrorLine(await helix(["fsck", text]), 8)).toMatch(/not a HelixFS image/);
  });

  it("a corrupted superblock (block 0 and the backup in the last block)", async () => {
    const img = path.join(TMP, "corrupt.img");
    expect((await helix(["mkfs", img, "--size", "16M"])).code).toBe(0);
    const blocks = fs.statSync(img).size / 4096;
    const fd = fs.openSync(img, "r+");
    // garbage past the magic: checksum and geometry fail, magic still says HelixFS
    fs.writeSync(fd, bytes(3000, 11), 0, 3000, 64);
    fs.writeSync(fd, bytes(3000, 12), 0, 3000, (blocks - 1) * 4096 + 64);
    fs.closeSync(fd);
    expect(oneErrorLine(await helix(["boot", img, "-c", "ls"]), 1)).toMatch(/corrupt/);
    // whole blocks of garbage
    const fd2 = fs.openSync(img, "r+");
    fs.writeSync(fd2, bytes(4096, 13), 0, 4096, 0);
    fs.writeSync(fd2, bytes(4096, 14), 0, 4096, (blocks - 1) * 4096);
    fs.closeSync(fd2);
    oneErrorLine(await helix(["boot", img, "-c", "ls"]), 1);
    oneErrorLine(await helix(["inspect", img]), 1);
  });

  it("ENOSPC during import names the file and stops; the image stays consistent", async () => {
    const img = path.join(TMP, "tiny.img");
    const big = path.join(TMP, "big");
    fs.mkdirSync(big);
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(big, `part${i}.bin`), bytes(2_000_000, i));
    expect((await helix(["mkfs", img, "--size", "4M"])).code).toBe(0);
    const line = oneErrorLine(await helix(["import", img, big]), 1);
    expect(line).toMatch(/ENOSPC/);
    expect(line).toMatch(/part\d\.bin/);
    const f = await helix(["fsck", img]);
    expect(f.stderr).toBe("");
    expect(f.code).toBe(0);
  });

  it("bad sizes", async () => {
    expect(oneErrorLine(await helix(["mkfs", path.join(TMP, "q.img"), "--size", "12Q"]), 2)).toMatch(/bad size/);
    expect(oneErrorLine(await helix(["mkfs", path.join(TMP, "q.img"), "--size", "1M"]), 2)).toMatch(/at least 4M/);
    oneErrorLine(await helix(["mkfs", path.join(TMP, "q.img"), "--size", "0"]), 2);
    expect(fs.existsSync(path.join(TMP, "q.img"))).toBe(false);
  });

  it("a missing host directory", async () => {
    const img = path.join(TMP, "hostdir.img");
    expect((await helix(["mkfs", img, "--size", "16M"])).code).toBe(0);
    expect(oneErrorLine(await helix(["import", img, path.join(TMP, "no-such-dir")]), 1)).toMatch(/does not exist/);
  });

  it("usage errors exit 2", async () => {
    expect(oneErrorLine(await helix(["frobnicate"]), 2)).toMatch(/unknown command/);
    expect(oneErrorLine(await helix([]), 2)).toMatch(/missing command/);
    expect(oneErrorLine(await helix(["boot"]), 2)).toMatch(/missing required argument/);
    expect(oneErrorLine(await helix(["fsck", "a.img", "b.img"]), 2)).toMatch(/too many arguments/);
    expect(oneErrorLine(await helix(["boot", "x.img", "--bogus"]), 2)).toMatch(/unknown option/);
    expect(oneErrorLine(await helix(["boot", "x.img", "--memory", "5"]), 2)).toMatch(/--memory/);
    expect(oneErrorLine(await helix(["boot", "x.img", "--cpus", "many"]), 2)).toMatch(/--cpus/);
  });

  it("--help and --version succeed", async () => {
    const h = await helix(["--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/mkfs/);
    expect(h.stdout).toMatch(/inspect/);
    const v = await helix(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("a bare `node bin/helix.js` (no Node flags) runs the CLI; output and exit codes pass through", async () => {
    const bare = { nodeFlags: [] as string[] };
    const v = await runHelix(TMP, ["--version"], RUN_TIMEOUT_MS, bare);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(oneErrorLine(await runHelix(TMP, ["frobnicate"], RUN_TIMEOUT_MS, bare), 2)).toMatch(/unknown command/);
    expect(oneErrorLine(await runHelix(TMP, ["fsck", path.join(TMP, "none.img")], RUN_TIMEOUT_MS, bare), 8)).toMatch(/does not exist/);
  });
});
