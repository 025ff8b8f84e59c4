// host/shell/format.ts -- text the shell, the CLI and the page print alike: one-line errors
// (CliError, strerror with coreutils' wording), sizes and rates, tables, modes, times, the
// dmesg-style names of superblock states and transaction ids.
//
// Layer: portable (no node:* import, no DOM): used by host/shell/shell.ts, host/cli/ and
// host/web/. Interface: pure functions of their arguments. Rules: every message is one line;
// sizes are binary (KiB, MiB), as coreutils' -h prints them.

import type { Kernel, KernelInfo } from "../vmm/kernel.js";

export const FS_LOG_PREFIX = "helixfs (vda): ";


/** Filesystem block size (docs/abi.md statfs bsize; fs/format.ts BLOCK_SIZE). */
export const BLOCK_SIZE = 4096;

export const MiB = 1024 * 1024;

// ---- errors --------------------------------------------------------------------------------

/** A failure the CLI reports as one line; exitCode 1 (runtime) unless a subclass says otherwise. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) { super(message); this.name = "CliError"; }
}

/** Bad command-line input (unknown option, bad size, bad number): exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) { super(message, 2); this.name = "UsageError"; }
}

/** Collapses a message to one line (kernel and commander messages may span lines). */
export function oneLine(s: string): string {
  return s.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0).join(" ");
}

/** The message of any thrown value, one line. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return oneLine(err.message) || err.name;
  return oneLine(String(err));
}

/** The errno name (`code`) of a Node-shaped fs error, or undefined. */
export function errCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

/** strerror(3) texts for the codes the shell prints (coreutils style). */
export const STRERROR: Record<string, string> = {
  EPERM: "Operation not permitted", ENOENT: "No such file or directory", EIO: "Input/output error",
  EBADF: "Bad file descriptor", ENOMEM: "Cannot allocate memory", EACCES: "Permission denied",
  EBUSY: "Device or resource busy", EEXIST: "File exists", EXDEV: "Invalid cross-device link",
  ENOTDIR: "Not a directory", EISDIR: "Is a directory", EINVAL: "Invalid argument",
  EMFILE: "Too many open files", EFBIG: "File too large", ENOSPC: "No space left on device",
  EROFS: "Read-only file system", EMLINK: "Too many links", ENAMETOOLONG: "File name too long",
  ENOTEMPTY: "Directory not empty", ELOOP: "Too many levels of symbolic links",
  EUCLEAN: "Structure needs cleaning", EBADMSG: "Bad message", ENOSYS: "Function not implemented",
  ENOTSUP: "Operation not supported", EOPNOTSUPP: "Operation not supported", ESTALE: "Stale file handle",
  EDQUOT: "Disk quota exceeded", EOVERFLOW: "Value too large for defined data type",
};

/** The strerror text for an fs error, or its one-line message when the code is not known. */
export function strerror(err: unknown): string {
  const c = errCode(err);
  if (c !== undefined && STRERROR[c] !== undefined) return STRERROR[c];
  return errorMessage(err);
}

// ---- formatting ----------------------------------------------------------------------------

/** Bytes in binary units with one decimal: 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** A rate in MiB/s with one decimal; "-" when the time is too short to mean anything. */
export function formatRate(bytes: number, seconds: number): string {
  return seconds > 0.0005 ? `${(bytes / MiB / seconds).toFixed(1)} MiB/s` : "- MiB/s";
}

/**
 * coreutils' human-readable size (df -h, ls -lh): powers of 1024 with one-letter units, one
 * decimal below 10, always rounded up (human_ceiling): 134217728 -> "128M", 2228224 -> "2.2M".
 */
export function humanSize(bytes: number): string {
  const units = ["", "K", "M", "G", "T", "P", "E"];
  if (bytes < 1024) return String(bytes);
  let u = 0, v = bytes;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  if (v < 10) {
    const t = Math.ceil(v * 10 - 1e-9) / 10;
    if (t < 10) return `${t.toFixed(1)}${units[u]}`;
    v = t;
  }
  let n = Math.ceil(v - 1e-9);
  if (n >= 1024 && u < units.length - 1) { n = 1; u++; return `${(1).toFixed(1)}${units[u]}`; }
  return `${n}${units[u]}`;
}

/** dmesg's timestamp: seconds since boot, `[%5lu.%06lu]`. */
export function dmesgStamp(seconds: number): string {
  return `[${seconds.toFixed(6).padStart(12)}]`;
}

/** Renders rows as left/right aligned columns (numbers right, text left). */
export function table(rows: (string | number)[][], header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const r of all) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, String(c).length); });
  const line = (r: (string | number)[]) => r.map((c, i) => {
    const s = String(c);
    const last = i === r.length - 1;
    if (typeof c === "number") return s.padStart(widths[i]);
    return last ? s : s.padEnd(widths[i]);
  }).join("  ").trimEnd();
  return all.map(line).join("\n");
}

/** ls -l's mode string, e.g. "drwxr-xr-x". */
export function modeString(mode: number): string {
  const t = mode & 0o170000;
  const type = t === 0o040000 ? "d" : t === 0o120000 ? "l" : t === 0o100000 ? "-" : t === 0o010000 ? "p" :
    t === 0o140000 ? "s" : t === 0o020000 ? "c" : t === 0o060000 ? "b" : "?";
  const rwx = (bits: number, special: boolean, sch: string) =>
    ((bits & 4) ? "r" : "-") + ((bits & 2) ? "w" : "-") +
    (special ? ((bits & 1) ? sch : sch.toUpperCase()) : (bits & 1) ? "x" : "-");
  return type + rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, "s") + rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, "s") +
    rwx(mode & 7, (mode & 0o1000) !== 0, "t");
}

function pad2(n: number): string { return String(n).padStart(2, "0"); }

/** Local time as "YYYY-MM-DD HH:MM" (ls -l --time-style=long-iso). */
export function shortTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** UTC time with nanoseconds, as stat(1) prints it: "2024-05-01 10:20:30.123456789 +0000". */
export function fullTime(ns: bigint): string {
  const sec = ns / 1_000_000_000n, frac = ns % 1_000_000_000n;
  const d = new Date(Number(sec) * 1000);
  const iso = d.toISOString().slice(0, 19).replace("T", " ");
  return `${iso}.${String(frac < 0n ? -frac : frac).padStart(9, "0")} +0000`;
}

// ---- progress ------------------------------------------------------------------------------

/** Work a file costs besides its bytes, in bytes of copying (open, create, chmod, utimens, close). */

export const STATE_DIRTY = 0, STATE_CLEAN = 1, STATE_ERROR = 2;

/** The state a superblock was found in at mount, as `inspect` and the mount lines say it. */
export function stateName(s: number): string {
  return s === STATE_CLEAN ? "clean" : s === STATE_DIRTY ? "not clean (was not cleanly unmounted)" :
    s === STATE_ERROR ? "errors recorded (a metadata error)" : `unknown (${s})`;
}

/** Why a mount is read-only (kernel_info flags), with `run 'helix fsck IMAGE'` when fsck is the way out. */
export function readOnlyReason(i: KernelInfo, image: string): string {
  const fsck = `; run 'helix fsck ${image}'`;
  if (i.errorState === 1 || i.mountFoundState === STATE_ERROR) return `mounted read-only: the filesystem has errors recorded by an earlier metadata error${fsck}`;
  if (i.errored === 1) return `mounted read-only: a metadata error met while mounting aborted the journal${fsck}`;
  return "mounted read-only"; // unknown ro_compat features (and any later read-only cause)
}

/** What kernel_info says about snapshots, or null from a kernel without them. */
export interface SnapshotSpace {
  /** Snapshots and clones (the ones being deleted included). */
  count: number;
  /** Bytes in use that only snapshots hold (the dead lists): statfs counts them as used. */
  heldBytes: number;
  /** Background work (deletes, rollback frees) is pending. */
  pending: boolean;
}

/**
 * The snapshot fields of kernel_info `i` (SNAPSHOT_ABI "kernel_info gains ..."), or null from
 * a kernel that predates them (kernel_info wrote fewer fields: info() leaves them undefined).
 */
export function snapshotSpace(i: KernelInfo): SnapshotSpace | null {
  if (i.snapshots === undefined) return null;
  return { count: i.snapshots, heldBytes: (i.snapshotOnlyBlocks ?? 0) * BLOCK_SIZE, pending: (i.snapshotWorkPending ?? 0) !== 0 };
}

/** `n thing` / `n things`. */
export function plural(n: number, thing: string): string { return `${n} ${thing}${n === 1 ? "" : "s"}`; }

/**
 * A transaction id as the log and `inspect` print it: hex (mkfs draws the first tid from the
 * clock, so in decimal it is a 15-digit number nobody can read or compare at a glance).
 */
export function formatTid(tid: number): string { return `0x${tid.toString(16)}`; }

/**
 * Lines that describe a mount, dmesg-style with the kernel's prefix (FS_LOG_PREFIX): label,
 * size, mount count, whether the filesystem was cleanly unmounted (and what recovery
 * replayed), orphans, and for a read-only mount why and what to run (`image` names it).
 */
export function mountLines(k: Kernel, image: string): string[] {
  const i = k.info();
  const dev = FS_LOG_PREFIX;
  const lines = [
    `${dev}mounted filesystem '${k.label()}' ${i.readOnly ? "read-only" : "read-write"}, ${i.totalBlocks} blocks of ${BLOCK_SIZE / 1024} KiB ` +
      `(${formatBytes(i.totalBlocks * BLOCK_SIZE)}), mount #${i.mountCount}`,
  ];
  const journal = `journal ${i.journalBlocks} blocks at block ${i.journalStart}, head ${i.journalHead}, next transaction ${formatTid(i.tid)}`;
  if (i.mountFoundState === STATE_CLEAN && i.mountReplayedTx === 0) {
    lines.push(`${dev}was cleanly unmounted; ${journal}`);
  } else {
    lines.push(`${dev}was not cleanly unmounted: recovery replayed ${plural(i.mountReplayedTx, "transaction")} ` +
      `(${plural(i.replayedBlocks, "block")}); ${journal}`);
  }
  if (i.mountOrphans > 0) lines.push(`${dev}${plural(i.mountOrphans, "orphan inode")} cleaned up`);
  if (i.mountUsedBackup) lines.push(`${dev}primary superblock was bad: restored from the backup copy`);
  if (i.readOnly) lines.push(`${dev}${readOnlyReason(i, image)}`);
  lines.push(`${dev}${i.freeBlocks} blocks free (${formatBytes(i.freeBlocks * BLOCK_SIZE)}), ${plural(i.inodes, "inode")}`);
  return lines;
}

/** The counters of `helix stat` (and of the page's counter panel), grouped as it prints them. */
export const STAT_GROUPS: [string, (keyof KernelInfo)[]][] = [
  ["memory", ["memoryBytes", "memTotalPages", "memFreePages"]],
  ["page cache", ["cachedPages", "dirtyPages", "pinnedMeta", "cacheHits", "cacheMisses", "evictions", "freebehind", "readThrough", "writeThrough", "readPages", "writtenPages", "csumErrors"]],
  ["lookup caches", ["dcacheHits", "dcacheMisses", "icacheHits"]],
  ["journal", ["journalStart", "journalBlocks", "journalHead", "tid", "commits", "checkpoints", "loggedBlocks", "absorbed", "revokes", "replayedBlocks", "replayedTx", "mountReplayedTx"]],
  ["block device", ["blkRequests", "blkNotifies", "blkReadBlocks", "blkWriteBlocks", "blkFlushes", "blkErrors"]],
  ["B+ tree", ["btLookups", "btSplits", "btMerges", "hInode", "hDirent", "hExtent", "hBno", "hCnt", "rInode", "rDirent", "rExtent", "rBno", "rCnt"]],
  ["allocator", ["totalBlocks", "freeBlocks", "availBlocks", "reservedBlocks", "allocs", "frees", "goalHits", "extentsAllocated", "discardedBlocks", "discardErrors"]],
  ["inodes and mount", ["inodes", "nextIno", "mountCount", "state", "mountFoundState", "mountOrphans", "mountUsedBackup", "mountReason", "readOnly", "errored"]],
  ["snapshots", ["snapshots", "snapshotOnlyBlocks", "snapshotWorkPending", "lastSnapshotTid", "mountedSnapshotId", "hSnap", "hDead", "btShadows", "transidErrors", "cowFloor"]],
];
