// test/clients.test.ts -- real programs that take an `fs` object, run on kernel.fs.
//
// Oracles: the real tools. isomorphic-git builds a repository on kernel.fs (init, add, commit
// of nested trees, branch, checkout, log, statusMatrix); the repository is then exported to
// the host with exportHostDir and the real `git` (a Debian package CI installs) must find it
// sound (`git fsck --strict`) and agree with what isomorphic-git reported (`git log`, `git
// status --porcelain`). graceful-fs wraps kernel.fs through its documented injection point
// (gracefulify(fs)), copies a real tree of this repository into the kernel, which must match
// the host's files byte for byte, and removes it again; the kernel's fsck stays clean.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import * as nodeFs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { pipeline } from "node:stream/promises";
import git from "isomorphic-git";
import type { Kernel } from "../host/vmm/kernel.js";
import { exportHostDir } from "../host/node/hostdir.js";
import { bootDevice, freshDevice, fsckClean, MiB, scratchDir } from "./helpers.js";

const run = promisify(execFile);
const base = scratchDir("helix-clients-");

let k: Kernel;
beforeEach(() => { k = bootDevice(freshDevice(64 * MiB)); });
afterEach(() => { fsckClean(k); k.shutdown(); });

/** git on the host, or null; CI installs it (.ci/run), so there a missing git fails instead of skipping. */
const HAVE_GIT = (() => { try { execFileSync("git", ["--version"]); return true; } catch { return false; } })();
const RUN_GIT = HAVE_GIT || process.env.CI === "true";

/** The host's git with no user or system configuration, in `cwd`; resolves to stdout. */
async function hostGit(cwd: string, ...args: string[]): Promise<string> {
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", HOME: base, LC_ALL: "C" };
  const { stdout } = await run("git", args, { cwd, env, maxBuffer: 16 * MiB });
  return stdout;
}

/** isomorphic-git's statusMatrix rows as `git status --porcelain` lines (the rows it can report). */
function porcelain(rows: [string, number, number, number][]): string[] {
  const code: Record<string, string> = {
    "0,2,0": "??", "0,2,2": "A ", "0,2,3": "AM", "1,2,1": " M", "1,2,2": "M ", "1,2,3": "MM", "1,0,1": " D", "1,0,0": "D ",
  };
  const out: string[] = [];
  for (const [file, head, work, stage] of rows) {
    if (head === 1 && work === 1 && stage === 1) continue; // unmodified
    const c = code[`${head},${work},${stage}`];
    expect(c, `statusMatrix row ${file} ${head},${work},${stage}`).toBeDefined();
    out.push(`${c} ${file}`);
  }
  return out.sort();
}

describe("isomorphic-git on kernel.fs, checked by the real git", () => {
  it.runIf(RUN_GIT)("init, add, commit, branch, checkout, log, statusMatrix; git fsck --strict, log and status agree", async () => {
    const fs = k.fs;
    const dir = "/work/repo";
    const author = { name: "Helix Test", email: "helix@example.org", timestamp: 1_700_000_000, timezoneOffset: 0 };
    await git.init({ fs, dir, defaultBranch: "main" });
    fs.fromJSON({
      "README.md": "# repo on kernel.fs\n",
      "src/main.ts": "export const x = 1;\n",
      "src/lib/util.ts": "export function f() { return 2; }\n",
      "src/lib/deep/er/leaf.txt": "leaf\n",
      "docs/guide.md": "guide\n",
      "bin/tool.sh": "#!/bin/sh\necho tool\n",
      "data/blob.bin": Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff)),
      "empty.txt": "",
    }, dir);
    fs.chmodSync(`${dir}/bin/tool.sh`, 0o755);
    const addAll = async (): Promise<void> => {
      for (const [file, , work] of await git.statusMatrix({ fs, dir })) {
        if (work === 0) await git.remove({ fs, dir, filepath: file });
        else await git.add({ fs, dir, filepath: file });
      }
    };
    await addAll();
    const c1 = await git.commit({ fs, dir, message: "first: a nested tree", author });
    fs.writeFileSync(`${dir}/src/main.ts`, "export const x = 42;\n");
    fs.unlinkSync(`${dir}/docs/guide.md`);
    fs.fromJSON({ "docs/new/page.md": "page\n" }, dir);
    await addAll();
    const c2 = await git.commit({ fs, dir, message: "second: modify, delete, add", author: { ...author, timestamp: author.timestamp + 60 } });

    await git.branch({ fs, dir, ref: "feature" });
    await git.checkout({ fs, dir, ref: "feature" });
    expect(await git.currentBranch({ fs, dir })).toBe("feature");
    fs.writeFileSync(`${dir}/feature.txt`, "only on feature\n");
    fs.writeFileSync(`${dir}/README.md`, "# changed on feature\n");
    await addAll();
    const c3 = await git.commit({ fs, dir, message: "third: on feature", author: { ...author, timestamp: author.timestamp + 120 } });
    await git.checkout({ fs, dir, ref: "main" });
    expect(await git.currentBranch({ fs, dir })).toBe("main");
    expect(fs.existsSync(`${dir}/feature.txt`)).toBe(false); // checkout removed the feature-only file
    expect(fs.readFileSync(`${dir}/README.md`, "utf8")).toBe("# repo on kernel.fs\n");

    const log = await git.log({ fs, dir, ref: "main" });
    expect(log.map((e) => e.oid)).toEqual([c2, c1]);
    expect((await git.log({ fs, dir, ref: "feature" })).map((e) => e.oid)).toEqual([c3, c2, c1]);

    // working-tree changes of every kind statusMatrix reports
    fs.writeFileSync(`${dir}/README.md`, "# modified, not staged\n");
    fs.writeFileSync(`${dir}/src/lib/util.ts`, "export function f() { return 3; }\n");
    await git.add({ fs, dir, filepath: "src/lib/util.ts" });
    fs.writeFileSync(`${dir}/staged-new.txt`, "new and staged\n");
    await git.add({ fs, dir, filepath: "staged-new.txt" });
    fs.unlinkSync(`${dir}/empty.txt`);
    fs.fromJSON({ "untracked/dir/file.txt": "untracked\n" }, dir);
    const matrix = await git.statusMatrix({ fs, dir });
    const expected = porcelain(matrix as [string, number, number, number][]);
    expect(expected).toEqual([" D empty.txt", " M README.md", "?? untracked/dir/file.txt", "A  staged-new.txt", "M  src/lib/util.ts"].sort());

    // the real git on the exported repository
    const host = path.join(base, "repo");
    exportHostDir(fs, dir, host);
    await hostGit(host, "fsck", "--strict", "--no-dangling"); // rejects (non-zero exit) on any problem
    const fsckOut = await hostGit(host, "fsck", "--strict");
    expect(fsckOut).toBe(""); // not even a dangling object
    expect((await hostGit(host, "log", "--format=%H", "main")).trim().split("\n")).toEqual([c2, c1]);
    expect((await hostGit(host, "log", "--format=%H %s", "feature")).trim().split("\n")).toEqual(
      (await git.log({ fs, dir, ref: "feature" })).map((e) => `${e.oid} ${e.commit.message.trim()}`));
    expect((await hostGit(host, "rev-parse", "--abbrev-ref", "HEAD")).trim()).toBe("main");
    const status = (await hostGit(host, "status", "--porcelain", "--untracked-files=all")).split("\n").filter((l) => l !== "").sort();
    expect(status).toEqual(expected);
    expect((await hostGit(host, "ls-files", "-s", "bin/tool.sh")).slice(0, 6)).toBe("100755"); // the mode went into the index
    // the oracle is live: the same check rejects a damaged copy (one loose object's bytes changed)
    const objDir = path.join(host, ".git/objects", c1.slice(0, 2));
    const obj = path.join(objDir, c1.slice(2));
    nodeFs.chmodSync(obj, 0o644);
    nodeFs.writeFileSync(obj, Buffer.from(nodeFs.readFileSync(obj).map((b, i) => (i === 20 ? b ^ 0xff : b))));
    await expect(hostGit(host, "fsck", "--strict")).rejects.toThrow(/Command failed: git fsck --strict/);
  }, 20_000);
});

// ---- graceful-fs ---------------------------------------------------------------------------

/** The callback functions of Node's fs that the copy below calls through graceful-fs. */
interface CallbackFs {
  mkdir(p: string, o: { recursive?: boolean; mode?: number }, cb: (e: Error | null) => void): void;
  writeFile(p: string, d: Uint8Array, cb: (e: Error | null) => void): void;
  readFile(p: string, cb: (e: Error | null, d: Buffer) => void): void;
  readdir(p: string, o: { withFileTypes: true }, cb: (e: Error | null, d: nodeFs.Dirent[]) => void): void;
  chmod(p: string, m: number, cb: (e: Error | null) => void): void;
  stat(p: string, cb: (e: Error | null, s: nodeFs.Stats) => void): void;
  open(p: string, f: string, cb: (e: (Error & { code?: string }) | null, fd: number) => void): void;
  close(fd: number, cb: (e: Error | null) => void): void;
  rm(p: string, o: { recursive: boolean; force?: boolean }, cb: (e: Error | null) => void): void;
  gracefulify?: unknown;
}

/** `fn(...args, cb)` as a promise of the callback's result. */
function call<T>(fn: (...a: never[]) => void, ...args: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    (fn as (...a: unknown[]) => void)(...args, (err: Error | null, v: T) => (err ? reject(err) : resolve(v)));
  });
}

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

/** Copies host directory `src` into the kernel as `dest` through the callback fs `g` (mode bits too); returns the files copied. */
async function copyIn(g: CallbackFs, src: string, dest: string): Promise<string[]> {
  const files: string[] = [];
  await call(g.mkdir, dest, { recursive: true });
  for (const e of nodeFs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name), d = `${dest}/${e.name}`;
    if (e.isDirectory()) files.push(...await copyIn(g, s, d));
    else if (e.isFile()) {
      await call(g.writeFile, d, nodeFs.readFileSync(s));
      await call(g.chmod, d, nodeFs.statSync(s).mode & 0o7777);
      files.push(d);
    }
  }
  return files;
}

describe("graceful-fs wrapped around kernel.fs", () => {
  it("gracefulify(kernel.fs) copies this repository's assembly/ and docs/ in byte for byte, then rm -r removes them", async () => {
    const gracefulFs = (await import("graceful-fs")).default as unknown as { gracefulify<T extends object>(fs: T): T };
    const g = gracefulFs.gracefulify(k.fs) as unknown as CallbackFs;
    expect(g).toBe(k.fs); // the documented injection point patches the object it is given
    expect(typeof g.gracefulify).toBe("function");
    const copied: string[] = [];
    for (const sub of ["assembly", "docs"]) copied.push(...await copyIn(g, path.join(REPO, sub), `/tree/${sub}`));
    expect(copied.length).toBeGreaterThan(20);
    // every file, read back through graceful-fs, equals the host's bytes and mode
    for (const d of copied) {
      const host = path.join(REPO, d.slice("/tree/".length));
      const data = await call<Buffer>(g.readFile, d);
      expect(Buffer.compare(data, nodeFs.readFileSync(host)), d).toBe(0);
      expect((await call<nodeFs.Stats>(g.stat, d)).mode, d).toBe(nodeFs.statSync(host).mode);
    }
    // and the directory listings agree (graceful-fs's readdir sorts, as libuv's does)
    const listing = async (dir: string): Promise<string[]> =>
      (await call<nodeFs.Dirent[]>(g.readdir, dir, { withFileTypes: true })).map((e) => `${e.name}:${e.isDirectory() ? "d" : "f"}`);
    for (const sub of ["assembly", "docs", "assembly/fs"]) {
      expect(await listing(`/tree/${sub}`)).toEqual(nodeFs.readdirSync(path.join(REPO, sub), { withFileTypes: true })
        .filter((e) => e.isDirectory() || e.isFile()).map((e) => `${e.name}:${e.isDirectory() ? "d" : "f"}`).sort());
    }
    const before = k.fs.statfsSync("/");
    await call(g.rm, "/tree", { recursive: true });
    expect(k.fs.existsSync("/tree")).toBe(false);
    expect(k.fs.readdirSync("/")).toEqual([]);
    expect(k.fs.statfsSync("/").bfree).toBeGreaterThan(before.bfree); // the blocks came back
    // fsck runs in afterEach
  }, 20_000);

  it("graceful-fs's createReadStream / createWriteStream on kernel.fs (Node's legacy stream constructors and open()) copy a file byte for byte", async () => {
    const gracefulFs = (await import("graceful-fs")).default as unknown as { gracefulify<T extends object>(fs: T): T };
    const g = gracefulFs.gracefulify(k.fs) as unknown as {
      createReadStream(p: string, o?: object): NodeJS.ReadableStream; createWriteStream(p: string, o?: object): NodeJS.WritableStream;
      ReadStream: new (...a: unknown[]) => object; WriteStream: new (...a: unknown[]) => object;
    };
    const host = path.join(REPO, "assembly/fs/btree.ts");
    const want = nodeFs.readFileSync(host);
    // graceful-fs builds its streams as Node's fs does: fs$ReadStream.apply(this, args) on an
    // object made from its own prototype, and a patched open() the stream must call
    await pipeline(nodeFs.createReadStream(host, { highWaterMark: 4096 }), g.createWriteStream("/streamed.ts"));
    expect(Buffer.compare(k.fs.readFileSync("/streamed.ts"), want)).toBe(0);
    const rs = g.createReadStream("/streamed.ts", { highWaterMark: 1000 });
    expect(rs).toBeInstanceOf(g.ReadStream);
    const chunks: Buffer[] = [];
    for await (const c of rs) chunks.push(c as Buffer);
    expect(chunks.length).toBe(Math.ceil(want.length / 1000));
    expect(Buffer.compare(Buffer.concat(chunks), want)).toBe(0);
  }, 20_000);

  it("opens beyond the kernel's descriptor table (NR_OPEN) wait in graceful-fs's queue instead of failing EMFILE", async () => {
    const NR_OPEN = 4096, N = NR_OPEN + 200;
    k.fs.mkdirSync("/many");
    for (let i = 0; i < 8; i++) k.fs.writeFileSync(`/many/f${i}`, `file ${i}`);
    // plain kernel.fs: the table fills and the rest fail with EMFILE
    const raw = k.fs as unknown as CallbackFs;
    const rawFds: number[] = [];
    let emfile = 0;
    await Promise.all(Array.from({ length: N }, (_, i) => new Promise<void>((resolve) => raw.open(`/many/f${i % 8}`, "r", (err, fd) => {
      if (err?.code === "EMFILE") emfile++;
      else if (!err) rawFds.push(fd);
      resolve();
    }))));
    expect(emfile).toBeGreaterThan(0);
    expect(rawFds.length + emfile).toBe(N);
    for (const fd of rawFds) k.fs.closeSync(fd);
    // through graceful-fs every open succeeds once earlier descriptors are closed
    const gracefulFs = (await import("graceful-fs")).default as unknown as { gracefulify<T extends object>(fs: T): T };
    const g = gracefulFs.gracefulify(k.fs) as unknown as CallbackFs;
    let opened = 0;
    await Promise.all(Array.from({ length: N }, (_, i) => new Promise<void>((resolve, reject) => g.open(`/many/f${i % 8}`, "r", (err, fd) => {
      if (err) return reject(err);
      opened++;
      setTimeout(() => g.close(fd, (e) => (e ? reject(e) : resolve())), 2);
    }))));
    expect(opened).toBe(N);
  }, 20_000);
});
