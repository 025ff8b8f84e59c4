// host/cli/start.ts -- the main job behind `npm start`: copy a real tree (the project's own
// node_modules) into a fresh HelixFS image, reboot from the image, verify every byte, every
// directory listing and every symlink against what was copied, run fsck, print a summary.
//
// Layer: CLI (Node), on host/cli/session.ts, copy.ts and progress.ts, which sit on
// host/node/ and the kernel's Node-shaped fs. host/cli/main.ts loads it for `helix start`.
// Interface: runStart(options) -> exit code (0: everything matches and fsck is clean; 1: the
// first mismatch or the fsck result as one `helix:` line on stderr); verifyTree(); run
// through `helix start [--image P] [--source D] [--memory MiB] [--no-keep]` or `npm start`.
// Rules:
//  - the two phases run on two separate boots, so verification reads what the first kernel
//    wrote to the image (through journal checkpoint and a clean unmount), not its caches;
//  - the host side of every file is hashed as it is copied in (importTree), so the check is
//    "the image holds exactly the bytes we gave it"; a host file that changes afterwards (e.g.
//    vitest's cache under node_modules/.vite) cannot cause a false mismatch. With
//    --verify-only there was no import in this run and the host files are hashed at verify time;
//  - names and symlink targets are compared as exact bytes (a name need not be UTF-8, and
//    NFC and NFD are two names), listings both ways (a missing and an extra entry);
//  - verification goes on after a mismatch (to count them) but reports the first one;
//  - every kernel is shut down before runStart returns (host/cli/main.ts withSession / Session.close).

import * as nodefs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ROOT } from "../node/node.js";
import { KernelPanic, type KernelInfo } from "../vmm/kernel.js";
import type { HelixFs } from "../fs/fs.js";
import { BLOCK_SIZE, CliError, errorMessage, formatBytes, formatRate, strerror, table } from "../shell/format.js";
import { COPY_CHUNK, compareNames, quoteName, type CopyStats, type EntryKind, type ScannedTree, type TreeEntry } from "../shell/tree.js";
import { Progress } from "./progress.js";
import { Session, imageSize, mkfsImage, runFsck } from "./session.js";
import { importTree, scanHostTree } from "./copy.js";

/** Smallest default image. */
const IMAGE_MIN_BYTES = 256 * 1024 * 1024;
/** Default images are rounded up to this (keeps sizes readable: 640 MiB, not 611.3). */
const IMAGE_ROUND_BYTES = 64 * 1024 * 1024;
/** The snapshot the main job takes of the imported tree. */
const START_SNAPSHOT = "imported";
/** Mismatch lines kept for the summary (the rest are only counted). */
const MISMATCHES_SHOWN = 10;

/** Options of runStart; paths default to the repository's node_modules and helix.img. */
export interface StartOptions {
  image?: string;
  source?: string;
  /** Image size like "1G" (default: twice the tree's space, at least 256 MiB). */
  size?: string;
  memoryMiB?: number;
  /** Keep the image afterwards (default true). */
  keep?: boolean;
  /** Verify an existing image against the tree without creating or importing. */
  verifyOnly?: boolean;
  /** Draw progress bars (default: stderr is a TTY). */
  progress?: boolean;
}

/** What verifyTree found. */
export interface VerifyResult {
  files: number; dirs: number; symlinks: number; bytes: number; seconds: number;
  mismatches: number;
  /** The first MISMATCHES_SHOWN mismatches, `path: reason`. */
  details: string[];
}

function out(s: string): void { process.stdout.write(s); }

/** Space a tree takes on a block filesystem: every file rounded up to blocks, a block per directory and symlink. */
export function treeFootprint(tree: ScannedTree): number {
  let n = 0;
  for (const e of tree.entries) n += e.kind === "file" ? Math.ceil(e.size / BLOCK_SIZE) * BLOCK_SIZE : BLOCK_SIZE;
  return n;
}

/** The default image size: twice the tree's footprint rounded up to 64 MiB, at least 256 MiB. */
export function defaultImageBytes(tree: ScannedTree): number {
  const want = Math.ceil((2 * treeFootprint(tree)) / IMAGE_ROUND_BYTES) * IMAGE_ROUND_BYTES;
  return Math.max(IMAGE_MIN_BYTES, want);
}

function kindOf(d: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }): EntryKind | "other" {
  return d.isDirectory() ? "dir" : d.isFile() ? "file" : d.isSymbolicLink() ? "symlink" : "other";
}

/** `dest/rel` in bytes (`dest` for the root entry): names are bytes, kept exact. */
function guestPath(dest: string, rel: Buffer): Buffer {
  if (rel.length === 0) return Buffer.from(dest);
  return Buffer.concat([Buffer.from(dest === "/" ? "/" : `${dest}/`), rel]);
}

/** SHA-256 of a host file (used when the import did not hash it in this run). */
function hashHostFile(file: Buffer, buf: Buffer): string {
  const h = createHash("sha256");
  const fd = nodefs.openSync(file, "r");
  try {
    for (let pos = 0; ;) {
      const n = nodefs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    nodefs.closeSync(fd);
  }
  return h.digest("hex");
}

/** SHA-256 and length of a file in the image, read in transfer-buffer-sized chunks. */
function hashGuestFile(fs: HelixFs, file: Buffer, buf: Buffer, progress?: Progress): { sha: string; bytes: number } {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  let pos = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
      progress?.add(n, 0);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { sha: h.digest("hex"), bytes: pos };
}

/** One name of a directory listing: exact bytes and kind. */
interface Listed { name: Buffer; kind: EntryKind | "other" }

/**
 * Compares the image tree under `dest` with a scanned host tree, by exact bytes of every
 * name: for every directory its sorted listing (names and types: a missing or an extra
 * entry is a mismatch), permission bits and mtime; for every file its type, size, SHA-256,
 * permission bits and mtime; for every symlink its target (bytes), permission bits and
 * mtime. Times are compared to the nanosecond because importTree sets them with utimensat.
 */
export function verifyTree(fs: HelixFs, tree: ScannedTree, dest: string, progress?: Progress): VerifyResult {
  const t0 = performance.now();
  const r: VerifyResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, seconds: 0, mismatches: 0, details: [] };
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  // children by parent rel; latin1 maps bytes to a string one to one, so it is a safe key
  const children = new Map<string, Listed[]>();
  for (const e of tree.entries) {
    if (e.rel.length === 0) continue;
    const slash = e.rel.lastIndexOf(0x2f);
    const parent = slash < 0 ? "" : e.rel.subarray(0, slash).toString("latin1");
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push({ name: e.rel.subarray(slash + 1), kind: e.kind });
  }
  const miss = (e: TreeEntry, why: string) => {
    r.mismatches++;
    if (r.details.length < MISMATCHES_SHOWN) r.details.push(`${quoteName(guestPath(dest, e.rel))}: ${why}`);
  };
  for (const e of tree.entries) {
    const gp = guestPath(dest, e.rel);
    try {
      const st = fs.lstatSync(gp, { bigint: true });
      if (kindOf(st) !== e.kind) { miss(e, `is a ${kindOf(st)} in the image, a ${e.kind} on the host`); continue; }
      if (e.kind === "dir") {
        r.dirs++;
        const want = (children.get(e.rel.toString("latin1")) ?? []).slice().sort((a, b) => compareNames(a.name, b.name));
        const got: Listed[] = fs.readdirSync(gp, { withFileTypes: true, encoding: "buffer" })
          .map((d) => ({ name: d.name as Buffer, kind: kindOf(d) }))
          .sort((a, b) => compareNames(a.name, b.name));
        const diff = firstListingDifference(want, got);
        if (diff !== null) miss(e, `directory listing differs: ${diff}`);
      } else if (e.kind === "symlink") {
        r.symlinks++;
        const target = fs.readlinkSync(gp, "buffer") as Buffer;
        if (!target.equals(e.target!)) miss(e, `symlink target '${quoteName(target)}' in the image, '${quoteName(e.target!)}' on the host`);
        progress?.add(0, 1);
      } else {
        r.files++;
        if (Number(st.size) !== e.size) miss(e, `size ${st.size} in the image, ${e.size} on the host`);
        const g = hashGuestFile(fs, gp, buf, progress);
        r.bytes += g.bytes;
        const want = e.sha256 ?? hashHostFile(guestPath(tree.root, e.rel), buf);
        if (g.sha !== want) miss(e, `content differs (sha256 ${g.sha.slice(0, 16)}... in the image, ${want.slice(0, 16)}... on the host)`);
        progress?.add(0, 1);
      }
      // metadata after contents, so the first report about a file says what matters most
      if ((Number(st.mode) & 0o7777) !== e.perm) miss(e, `mode ${(Number(st.mode) & 0o7777).toString(8)} in the image, ${e.perm.toString(8)} on the host`);
      if (st.mtimeNs !== e.mtimeNs) miss(e, `mtime ${st.mtimeNs} ns in the image, ${e.mtimeNs} ns on the host`);
    } catch (err) {
      if (err instanceof KernelPanic) throw err;
      miss(e, `${strerror(err)} (${errorMessage(err)})`);
    }
  }
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

/** The first difference of two listings sorted by name bytes, or null if they are equal. */
function firstListingDifference(want: Listed[], got: Listed[]): string | null {
  let i = 0, j = 0;
  while (i < want.length || j < got.length) {
    const c = i >= want.length ? 1 : j >= got.length ? -1 : compareNames(want[i].name, got[j].name);
    if (c < 0) return `'${quoteName(want[i].name)}' is missing from the image`;
    if (c > 0) return `'${quoteName(got[j].name)}' is in the image but not on the host`;
    if (want[i].kind !== got[j].kind) return `'${quoteName(want[i].name)}' is a ${got[j].kind} in the image, a ${want[i].kind} on the host`;
    i++; j++;
  }
  return null;
}

/**
 * The main job (see the file header). Returns the exit code; prints a summary on stdout and,
 * when something differs or fsck finds problems, one `helix:` line on stderr. Bad input
 * (missing source, bad size) throws CliError for the caller's one-line report.
 */
export async function runStart(o: StartOptions = {}): Promise<number> {
  const source = path.resolve(o.source ?? path.join(ROOT, "node_modules"));
  const image = path.resolve(o.image ?? path.join(ROOT, "helix.img"));
  const dest = `/${path.basename(source) || "import"}`;
  const kopts = { memoryMiB: o.memoryMiB };
  const bars = o.progress ?? process.stderr.isTTY === true;

  const tScan = performance.now();
  const tree = scanHostTree(source, new Set([image]));
  const scanSeconds = (performance.now() - tScan) / 1000;
  out(`helix start: ${source} -> ${image}:${dest}\n`);
  out(`  scanned ${tree.files} files, ${tree.dirs} dirs, ${tree.symlinks} symlinks, ${formatBytes(tree.bytes)} in ${scanSeconds.toFixed(2)} s\n`);

  let imported: CopyStats | null = null;
  let importInfo: KernelInfo | null = null;
  let importSeconds = 0;
  /** ms the snapshot of the imported tree took (after a sync: the create itself, issue 14). */
  let snapshotMs = -1;
  /** ms two device FLUSHes take right after it: the bound of a durable create (its one commit). */
  let flushMs = -1;
  if (!o.verifyOnly) {
    const bytes = o.size !== undefined ? imageSize(o.size) : defaultImageBytes(tree);
    const mk = mkfsImage(image, bytes, "helix-start", kopts);
    out(`  mkfs ${formatBytes(bytes)}: ${mk.totalBlocks} blocks, journal ${mk.journalBlocks} blocks\n`);
    // phase 1: import, then a clean unmount (commit + checkpoint) so the data is on the image
    const s = Session.open(image, kopts);
    let ok = false;
    const t0 = performance.now();
    try {
      const progress = new Progress("import", tree.bytes, tree.files + tree.symlinks, bars);
      try {
        imported = importTree(s.fs, tree, dest, progress);
      } finally {
        progress.stop();
      }
      // a snapshot of the whole imported tree: O(1), whatever the tree's size
      s.fs.syncSync();
      const ts = performance.now();
      s.k.snapshots.create(START_SNAPSHOT);
      snapshotMs = performance.now() - ts;
      const tf = performance.now();
      s.k.backend.flush();
      s.k.backend.flush();
      flushMs = performance.now() - tf;
      importInfo = s.k.info();
      ok = true;
      s.close();
    } finally {
      if (!ok) s.close(true);
    }
    importSeconds = (performance.now() - t0) / 1000;
  } else if (!nodefs.existsSync(image)) {
    throw new CliError(`image '${image}' does not exist (run 'helix start' without --verify-only first)`);
  }

  // phase 2: a fresh boot reads everything back from the image
  const s = Session.open(image, kopts);
  let ok = false;
  let verify: VerifyResult, fsck: ReturnType<typeof runFsck>, mountInfo: KernelInfo, statfs: { blocks: number; bavail: number; bsize: number };
  try {
    mountInfo = s.k.info();
    const progress = new Progress("verify", tree.bytes, tree.files + tree.symlinks, bars);
    try {
      verify = verifyTree(s.fs, tree, dest, progress);
    } finally {
      progress.stop();
    }
    fsck = runFsck(s);
    statfs = s.fs.statfsSync("/");
    ok = true;
    s.close();
  } finally {
    if (!ok) s.close(true);
  }

  const rows: (string | number)[][] = [
    ["files", tree.files], ["directories", tree.dirs + 1], ["symlinks", tree.symlinks],
    ["bytes", `${tree.bytes} (${formatBytes(tree.bytes)})`],
  ];
  if (tree.skipped.length > 0) rows.push(["skipped", `${tree.skipped.length} special files (e.g. ${tree.skipped[0]})`]);
  if (imported !== null) {
    rows.push(["import", `${importSeconds.toFixed(2)} s  ${formatRate(imported.bytes, importSeconds)}  (copy ${imported.seconds.toFixed(2)} s + unmount)`]);
  }
  if (snapshotMs >= 0) {
    rows.push(["snapshot", `'${START_SNAPSHOT}' of the whole tree in ${snapshotMs.toFixed(3)} ms, of which the commit's ` +
      `2 device flushes take ~${flushMs.toFixed(3)} ms here (helix snapshot list ${image})`]);
  }
  rows.push(["verify", `${verify.seconds.toFixed(2)} s  ${formatRate(verify.bytes, verify.seconds)}  (${verify.files} files, ${verify.dirs} listings, ${verify.symlinks} symlinks)`]);
  const free = statfs.bavail * statfs.bsize, total = statfs.blocks * statfs.bsize;
  rows.push(["free space", `${formatBytes(free)} of ${formatBytes(total)} (${((100 * free) / total).toFixed(1)}%)`]);
  if (importInfo !== null) {
    rows.push(["journal", `${importInfo.commits} commits, ${importInfo.checkpoints} checkpoints, ${importInfo.loggedBlocks} logged blocks, ` +
      `${importInfo.absorbed} absorbed, ${importInfo.revokes} revokes (import boot)`]);
  }
  rows.push(["replayed tx", `${mountInfo.mountReplayedTx} at the verify mount (${mountInfo.replayedBlocks} blocks)`]);
  const st = fsck.stats;
  rows.push(["fsck", `${fsck.count === 0 ? "clean" : `${fsck.count} problem(s)`} (${st.inodes} inodes, ${st.dirents} dirents, ${st.extents} extents, ${st.nodes} tree nodes)`]);
  rows.push(["result", verify.mismatches === 0 ? "OK: every file, listing and symlink matches" : `${verify.mismatches} mismatch(es)`]);
  out("\n" + table(rows.map((r) => ["  " + r[0], String(r[1])])) + "\n");
  for (const d of verify.details) out(`  mismatch: ${d}\n`);
  for (const p of fsck.problems.slice(0, MISMATCHES_SHOWN)) out(`  ${p}\n`);

  if (o.keep === false) nodefs.rmSync(image, { force: true });
  if (verify.mismatches > 0) {
    process.stderr.write(`helix: start: verify failed: ${verify.details[0]}${verify.mismatches > 1 ? ` (and ${verify.mismatches - 1} more)` : ""}\n`);
    return 1;
  }
  if (fsck.count > 0) {
    process.stderr.write(`helix: start: fsck found ${fsck.count} problem(s)${fsck.problems[0] ? `: ${fsck.problems[0]}` : ""}\n`);
    return 1;
  }
  return 0;
}
