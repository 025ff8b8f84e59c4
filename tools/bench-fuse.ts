// tools/bench-fuse.ts -- the FUSE section of `npm run bench` (issue 12): the same work through a
// HelixFS mount (`helix mount --foreground`), through a C FUSE passthrough (Debian's bindfs)
// over tmpfs, through an in-memory null filesystem on the same fuse-native binding and mount
// options as `helix mount` (tools/bench-fuse-null.ts: the binding's bound), and on tmpfs
// directly, side by side in one run; ratios against bindfs and against the null fs.
//
// Layer: tools (Node-only). Interface: fuseUnavailable() -> reason | null; benchFuse(opts)
// -> FuseColumn[] (rates per contender, or an error line per contender that could not run).
// Rules:
//  - the I/O runs in a worker process (tools/bench-fuse-worker.ts), never in this process nor
//    in the mount's: the mount serves requests in its own process, so nothing here can
//    deadlock on it, and the three contenders run the same worker code;
//  - every mount this module makes is unmounted before it returns, even when a run fails
//    (helix: SIGTERM = its clean unmount with a final flush; bindfs: fusermount -u);
//  - bench is not a test: a missing /dev/fuse, bindfs or `helix mount` skips the section
//    with the reason printed; a mount that fails leaves its column empty with its error line.
//
//   this process (bench) ──spawn──> helix mount IMG MNT --foreground   (serves /dev/fuse)
//        │                 ──exec───> bindfs SRC MNT                     (daemon, serves)
//        │                 ──spawn──> bench-fuse-null MNT   (serves; stdin "counts" -> JSON)
//        └──spawn, await──> bench-fuse-worker meta|seq DIR ...  ── syscalls ──> MNT / tmpfs
//                            prints one JSON line of rates

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createImage } from "../host/node/node.js";

const MiB = 1 << 20;
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const WORKER = fileURLToPath(new URL("./bench-fuse-worker.js", import.meta.url));
const HELIX = path.join(ROOT, "bin", "helix.js");
const NULLFS = fileURLToPath(new URL("./bench-fuse-null.js", import.meta.url));
/** Files and directories of the request-counting pass on the null fs (small: counts, not rates). */
const COUNT_FILES = 1000, COUNT_DIRS = 10;
/** MiB of the request-counting pass of the sequential workload. */
const COUNT_MIB = 16;
/** How long a mount may take to appear in /proc/self/mountinfo (ms). */
const MOUNT_TIMEOUT_MS = 30_000;
/** How long `helix mount` may take for its clean unmount after SIGTERM (ms). */
const UNMOUNT_TIMEOUT_MS = 60_000;
/** Metadata space of the HelixFS image beyond the data of the sequential workload (bytes). */
const IMAGE_SLACK_BYTES = 512 * MiB;
/**
 * The bindfs columns: Debian's defaults (the anchor of the targets), then two variants that
 * show what FUSE options are worth here: no kernel attribute/entry caching (every lookup and
 * getattr reaches the daemon, as for a mount that never caches), and big_writes (libfuse 2
 * otherwise sends writes in 4 KiB requests).
 */
const BINDFS_VARIANTS: [name: string, options: string | null][] = [
  ["bindfs over tmpfs", null],
  ["bindfs -o attr/entry/negative_timeout=0", "attr_timeout=0,entry_timeout=0,negative_timeout=0"],
  ["bindfs -o big_writes", "big_writes"],
];

export interface FuseMeta { create: number; stat: number; unlink: number }
export interface FuseSeq { write: number; read: number; dropped: boolean }
/**
 * Requests the null fs received per operation of each phase (libfuse high-level calls: a
 * LOOKUP arrives as a getattr): total per op, and per call name, e.g. create: {getattr: 2, ...}.
 */
export interface FuseCounts { perOp: Record<string, number>; byCall: Record<string, Record<string, number>> }
export interface FuseColumn { name: string; meta?: FuseMeta; seq?: FuseSeq; error?: string; counts?: FuseCounts; countError?: string }
export interface FuseOptions { files: number; dirs: number; mib: number; rounds: number; seqRounds: number; dir: string; log: string }

/** Why the FUSE section cannot run here, or null when it can. */
export function fuseUnavailable(): string | null {
  if (process.platform !== "linux") return `FUSE bench is Linux-only (platform ${process.platform})`;
  if (!fs.existsSync("/dev/fuse")) return "no /dev/fuse (FUSE kernel module missing or not exposed to this container)";
  for (const tool of ["bindfs", "fusermount"]) {
    const r = spawnSync(tool, ["--version"], { stdio: "ignore" });
    if (r.error) return `${tool} not found (Debian: apt-get install ${tool === "bindfs" ? "bindfs" : "fuse"})`;
  }
  return null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** True when `dir` (absolute, no spaces) is a mount point now. */
function isMounted(dir: string): boolean {
  return fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === dir);
}

/** Polls until `dir` is mounted; throws the mount's failure when `died()` says it ended. */
async function waitMounted(dir: string, died: () => string | null): Promise<void> {
  const t0 = Date.now();
  while (!isMounted(dir)) {
    const why = died();
    if (why !== null) throw new Error(why);
    if (Date.now() - t0 > MOUNT_TIMEOUT_MS) throw new Error(`${dir}: not mounted after ${MOUNT_TIMEOUT_MS / 1000} s`);
    await sleep(50);
  }
}

/** Last non-empty line of a log file (the one-line error of a failed command). */
function lastLine(file: string): string {
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
  return lines.length ? lines[lines.length - 1] : "(no output)";
}

/** A mounted contender: where the work goes, and how to take the mount down. */
interface Mount { dir: string; down(): Promise<void> }

/** bindfs SRC MNT (daemonizes once mounted); down = fusermount -u. */
async function mountBindfs(src: string, mnt: string, options: string | null): Promise<Mount> {
  const args = options ? ["-o", options, src, mnt] : [src, mnt];
  const r = spawnSync("bindfs", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bindfs: ${(r.stderr || r.stdout || "").trim().split("\n")[0]}`);
  await waitMounted(mnt, () => null);
  return { dir: mnt, down: async () => { spawnSync("fusermount", ["-u", mnt], { stdio: "ignore" }); } };
}

/**
 * A FUSE server running as `child`, once `mnt` is mounted: `down` unmounts it (`unmountFirst`:
 * fusermount -u before SIGTERM, for a server that does not unmount on SIGTERM itself), then
 * SIGTERM, and waits for it to end; if it does not end in time, a lazy fusermount -u and
 * SIGKILL (the bench must not leave a mount behind). A child that ends before the mount is
 * live, or a mount that never appears, rejects with its last log line (the child is killed).
 */
async function childMount(child: ChildProcess, mnt: string, what: string, log: string, unmountFirst: boolean): Promise<Mount> {
  let ended: string | null = null;
  const exited = new Promise<void>((res) => child.on("exit", (code, sig) => {
    ended = `${what} ended (${sig ?? `exit ${code}`}): ${lastLine(log)}`;
    res();
  }));
  try {
    await waitMounted(mnt, () => ended);
  } catch (e) {
    if (ended === null) child.kill("SIGKILL");
    await exited;
    throw e;
  }
  return {
    dir: mnt,
    down: async () => {
      if (unmountFirst) spawnSync("fusermount", ["-u", mnt], { stdio: "ignore" });
      if (ended === null) child.kill("SIGTERM");
      const t = setTimeout(() => {
        spawnSync("fusermount", ["-u", "-z", mnt], { stdio: "ignore" });
        child.kill("SIGKILL");
      }, UNMOUNT_TIMEOUT_MS);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * `helix mount IMAGE MNT --foreground` as a child process (its output appended to `log`);
 * down = SIGTERM (the clean unmount with a final flush).
 */
async function mountHelix(image: string, mnt: string, log: string): Promise<Mount> {
  const out = fs.openSync(log, "a");
  const child: ChildProcess = spawn(process.execPath, [HELIX, "mount", image, mnt, "--foreground"], {
    stdio: ["ignore", out, out], env: { ...process.env, HELIX_NO_BUILD: "1" },
  });
  fs.closeSync(out);
  return childMount(child, mnt, "helix mount", log, false);
}

/** A mount with a request counter (the null fs): `counts()` = calls so far by op name. */
interface CountingMount extends Mount { counts(): Promise<Record<string, number>> }

/**
 * tools/bench-fuse-null.js MNT as a child process (stderr appended to `log`); down =
 * fusermount -u, then SIGTERM. `counts` asks it (a line on stdin) for its request counters.
 */
async function mountNull(mnt: string, log: string): Promise<CountingMount> {
  const err = fs.openSync(log, "a");
  const child: ChildProcess = spawn(process.execPath, [NULLFS, mnt], { stdio: ["pipe", "pipe", err] });
  fs.closeSync(err);
  let buf = "";
  const waiting: ((line: string) => void)[] = [];
  child.stdout!.on("data", (d) => {
    buf += d;
    for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) waiting.shift()?.(buf.slice(0, i));
  });
  const m = await childMount(child, mnt, "null fs", log, true);
  return {
    ...m,
    counts: () => new Promise((res) => { waiting.push((l) => res(JSON.parse(l) as Record<string, number>)); child.stdin!.write("counts\n"); }),
  };
}

/** `b - a` per op name, divided by `n` (calls per operation); zero entries left out. */
function perOp(a: Record<string, number>, b: Record<string, number>, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = (v - (a[k] ?? 0)) / n;
  return out;
}

/**
 * Counts the null fs's requests per operation: the metadata phases one worker run each on
 * COUNT_FILES files, and a COUNT_MIB sequential run (write and read per MiB, by call name).
 */
async function countRequests(m: CountingMount): Promise<FuseCounts> {
  const c: FuseCounts = { perOp: {}, byCall: {} };
  const dir = path.join(m.dir, "count");
  for (const ph of ["mkdirs", "create", "stat", "unlink", "rmdirs"]) {
    const before = await m.counts();
    await worker([ph, dir, String(COUNT_FILES), String(COUNT_DIRS)]);
    const calls = perOp(before, await m.counts(), ph.endsWith("dirs") ? COUNT_DIRS : COUNT_FILES);
    if (ph.endsWith("dirs")) continue;
    c.byCall[ph] = calls;
    c.perOp[ph] = Object.values(calls).reduce((x, y) => x + y, 0);
  }
  const before = await m.counts();
  await worker(["seq", path.join(m.dir, "count-seq"), String(COUNT_MIB)]);
  const calls = perOp(before, await m.counts(), COUNT_MIB);
  c.byCall["seq (per MiB)"] = calls;
  c.perOp.write = calls.write ?? 0;
  c.perOp.read = calls.read ?? 0;
  return c;
}

/** Runs the worker with `args`; resolves its JSON line, rejects with its one-line error. */
function worker<T>(args: string[]): Promise<T> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [WORKER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout!.on("data", (d) => { out += d; });
    child.stderr!.on("data", (d) => { err += d; });
    child.on("exit", (code) => {
      if (code === 0) res(JSON.parse(out) as T);
      else rej(new Error(err.trim().split("\n")[0] || `worker exit ${code}`));
    });
  });
}

/** Keeps the best of each metadata phase over rounds. */
function bestMeta(a: FuseMeta | undefined, b: FuseMeta): FuseMeta {
  if (!a) return b;
  return { create: Math.max(a.create, b.create), stat: Math.max(a.stat, b.stat), unlink: Math.max(a.unlink, b.unlink) };
}

/** Keeps the best write and the best read over rounds (`dropped` only if every round dropped). */
function bestSeq(a: FuseSeq | undefined, b: FuseSeq): FuseSeq {
  if (!a) return b;
  return { write: Math.max(a.write, b.write), read: Math.max(a.read, b.read), dropped: a.dropped && b.dropped };
}

/**
 * The FUSE benchmark. Mounts all contenders under a fresh directory in `opts.dir` (a tmpfs, so
 * every contender's storage is memory: bindfs's source directory and HelixFS's image file),
 * runs `opts.rounds` rounds of the metadata workload, then `opts.seqRounds` rounds of the
 * sequential one, the contenders taking turns round by round (each figure is its best round:
 * this machine is shared, and a slow spell should fall on every contender alike); unmounts
 * everything.
 * A contender whose mount or work fails gets `error` (one line) and the others still run.
 */
export async function benchFuse(opts: FuseOptions): Promise<FuseColumn[]> {
  const base = fs.mkdtempSync(path.join(opts.dir, "helix-fusebench-"));
  const sub = (n: string) => { const d = path.join(base, n); fs.mkdirSync(d); return d; };
  const image = path.join(base, "helix.img");
  const cols: { col: FuseColumn; mount?: Mount }[] = [];
  const attempt = async (name: string, up: () => Promise<Mount>) => {
    const col: FuseColumn = { name };
    try { cols.push({ col, mount: await up() }); } catch (e) { col.error = (e as Error).message; cols.push({ col }); }
  };
  try {
    const tmp = sub("tmpfs");
    await attempt("tmpfs (direct)", async () => ({ dir: tmp, down: async () => {} }));
    for (const [i, [name, options]] of BINDFS_VARIANTS.entries()) {
      await attempt(name, () => mountBindfs(sub(`bind${i}-src`), sub(`bind${i}-mnt`), options));
    }
    const counted: { c?: FuseCounts; error?: string } = {};
    await attempt("fuse-native null fs (bound)", async () => {
      const m = await mountNull(sub("null-mnt"), opts.log);
      try { counted.c = await countRequests(m); } catch (e) { counted.error = (e as Error).message; }
      return m;
    });
    cols[cols.length - 1].col.counts = counted.c;
    cols[cols.length - 1].col.countError = counted.error;
    await attempt("helixfs mount", async () => {
      createImage(image, opts.mib * MiB + IMAGE_SLACK_BYTES);
      return mountHelix(image, sub("helix-mnt"), opts.log);
    });
    const run = async <T>(c: { col: FuseColumn; mount?: Mount }, args: string[], keep: (v: T) => void) => {
      if (!c.mount || c.col.error) return;
      try { keep(await worker<T>(args)); } catch (e) { c.col.error = (e as Error).message; }
    };
    for (let r = 0; r < opts.rounds; r++) {
      for (const c of cols) {
        await run<FuseMeta>(c, ["meta", path.join(c.mount?.dir ?? "", `r${r}`), String(opts.files), String(opts.dirs)],
          (m) => { c.col.meta = bestMeta(c.col.meta, m); });
      }
    }
    for (let r = 0; r < opts.seqRounds; r++) {
      for (const c of cols) {
        await run<FuseSeq>(c, ["seq", path.join(c.mount?.dir ?? "", "seq"), String(opts.mib)], (s) => { c.col.seq = bestSeq(c.col.seq, s); });
      }
    }
  } finally {
    for (const c of cols) await c.mount?.down();
    fs.rmSync(base, { recursive: true, force: true });
  }
  return cols.map((c) => c.col);
}
