// tools/bench-fuse-worker.ts -- the worker process of the FUSE benchmark (tools/bench-fuse.ts):
// runs one workload on one directory and prints its rates as ONE JSON line on stdout.
//
// Layer: tools (Node-only, outside the host's layers). Interface:
//   node dist/tools/bench-fuse-worker.js meta DIR FILES DIRS
//     -> {"create":ops/s,"stat":ops/s,"unlink":ops/s}
//   node dist/tools/bench-fuse-worker.js seq FILE MIB
//     -> {"write":MiB/s,"read":MiB/s,"dropped":true|false}
//   node dist/tools/bench-fuse-worker.js mkdirs|create|stat|unlink|rmdirs DIR FILES DIRS
//     -> {"ops":N}: one phase of `meta` alone (the bench counts a mount's requests per phase)
// Rules:
//  - it never runs inside the process that serves a FUSE mount: a synchronous syscall on the
//    mount from the serving process's own thread would wait for a reply that thread must send
//    (deadlock); so the bench spawns this worker, and the mount runs in another process;
//  - the same code runs on every contender (HelixFS mount, bindfs, tmpfs), so Node's own
//    per-call overhead is in every column alike;
//  - errors: one line `bench-fuse-worker: ...` on stderr and exit 1, never a stack trace.

import * as fs from "node:fs";

const MiB = 1 << 20;
/** Bytes of each file of the metadata workload (as tools/bench.ts's metadata workload). */
const META_FILE_BYTES = 100;
/** Where Linux drops its clean page cache, dentries and inodes (root only). */
const DROP_CACHES = "/proc/sys/vm/drop_caches";

/** ops/s of `n` operations since `t0` (performance.now() ms). */
const rate = (n: number, t0: number): number => (n * 1000) / (performance.now() - t0);

/**
 * create (open O_CREAT|O_TRUNC + write 100 B + close), stat and unlink of `files` files spread
 * over `dirs` directories under `root` (the directories are made first, untimed). ops/s.
 */
/** One phase of the metadata workload on `files` files in `dirs` directories under `root`; ops done. */
function phase(name: string, root: string, files: number, dirs: number): number {
  const data = Buffer.alloc(META_FILE_BYTES, 0x61);
  const p = (i: number): string => `${root}/d${i % dirs}/f${i}`;
  switch (name) {
    case "mkdirs": for (let d = 0; d < dirs; d++) fs.mkdirSync(`${root}/d${d}`, { recursive: true }); return dirs;
    case "create": for (let i = 0; i < files; i++) fs.writeFileSync(p(i), data); return files;
    case "stat": for (let i = 0; i < files; i++) fs.statSync(p(i)); return files;
    case "unlink": for (let i = 0; i < files; i++) fs.unlinkSync(p(i)); return files;
    case "rmdirs": for (let d = 0; d < dirs; d++) fs.rmdirSync(`${root}/d${d}`); return dirs;
    default: throw new Error(`unknown phase '${name}'`);
  }
}

/**
 * create (open O_CREAT|O_TRUNC + write 100 B + close), stat and unlink of `files` files spread
 * over `dirs` directories under `root` (the directories are made first, untimed). ops/s.
 */
function meta(root: string, files: number, dirs: number): Record<string, number> {
  phase("mkdirs", root, files, dirs);
  const timed = (name: string) => { const t = performance.now(); return rate(phase(name, root, files, dirs), t); };
  const create = timed("create"), stat = timed("stat"), unlink = timed("unlink");
  phase("rmdirs", root, files, dirs);
  return { create, stat, unlink };
}

/** sync(2), then drops the page cache; false when this process may not (not root, RO /proc). */
function dropCaches(): boolean {
  try {
    fs.writeFileSync(DROP_CACHES, "3\n");
    return true;
  } catch {
    return false;
  }
}

/**
 * Sequential write of `mib` MiB in 1 MiB write(2) calls, fsync, close (timed together); then
 * the page cache is dropped and the file is read back in 1 MiB read(2) calls and compared
 * (a wrong byte throws). MiB/s; `dropped` says whether the drop happened.
 */
function seq(file: string, mib: number): Record<string, number | boolean> {
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  let t = performance.now();
  let fd = fs.openSync(file, "w");
  for (let i = 0; i < mib; i++) fs.writeSync(fd, chunk, 0, MiB);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const write = rate(mib, t);
  const dropped = dropCaches();
  const back = Buffer.alloc(MiB);
  t = performance.now();
  fd = fs.openSync(file, "r");
  for (let i = 0; i < mib; i++) {
    const n = fs.readSync(fd, back, 0, MiB, null);
    if (n !== MiB || !back.equals(chunk)) throw new Error(`${file}: MiB ${i} read back wrong (${n} bytes)`);
  }
  fs.closeSync(fd);
  const read = rate(mib, t);
  fs.unlinkSync(file);
  return { write, read, dropped };
}

/** The phases `meta` runs, each also a mode of its own. */
const PHASES = ["mkdirs", "create", "stat", "unlink", "rmdirs"];

function main(argv: string[]): void {
  const [mode, target, a, b] = argv;
  const num = (s: string | undefined, what: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${what} must be a positive integer, got '${s}'`);
    return n;
  };
  if (mode === "meta") process.stdout.write(JSON.stringify(meta(target, num(a, "FILES"), num(b, "DIRS"))) + "\n");
  else if (mode === "seq") process.stdout.write(JSON.stringify(seq(target, num(a, "MIB"))) + "\n");
  else if (PHASES.includes(mode)) process.stdout.write(JSON.stringify({ ops: phase(mode, target, num(a, "FILES"), num(b, "DIRS")) }) + "\n");
  else throw new Error("usage: bench-fuse-worker meta DIR FILES DIRS | seq FILE MIB | mkdirs|create|stat|unlink|rmdirs DIR FILES DIRS");
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bench-fuse-worker: ${String((e as Error).message).split("\n")[0]}\n`);
  process.exit(1);
}
