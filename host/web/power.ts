// host/web/power.ts -- pull the plug (issue 11 §4), worker side: cut the power under the
// running kernel, reboot it from the image, and tell the page what the journal replay did,
// what fsck says and which files survived and why.
//
// Layer: web role, a worker feature over host/web/system.ts (WebSystem: the kernel, its
// VolatileCacheBackend, the shell's sync hook) and host/web/volatile.ts. Interface: the
// handlers `power.cut` ({ mode, seed }), `power.cutDuring` ({ line, afterWrites, mode, seed }:
// run a shell line and cut after that many device writes) and `power.status`; it posts
// `power.report` (PowerReport) and prints the same story in the terminal.
// Rules:
//  - a cut never unmounts: the kernel instance is dropped as it is (no commit, no clean flag,
//    no FLUSH); only the volatile cache's seeded survivors reach the image;
//  - what the user made durable is tracked from the shell's own `sync` / `sync FILE` (the
//    contents each file had right after its fsync returned), so "why it survived" compares
//    with what fsync promised (DESIGN §5), not with a guess;
//  - every walk of the tree is bounded (WALK_FILES_MAX entries, TREE_DEPTH_MAX levels).

import type { HelixFs } from "../fs/fs.js";
import { crc32c } from "../crash/recorder.js";
import { TREE_DEPTH_MAX } from "../shell/tree.js";
import { errorMessage, FS_LOG_PREFIX } from "../shell/format.js";
import type { PowerCutMode, PowerCutReport } from "./volatile.js";
import type { WebSystem } from "./system.js";

/** A feature's worker handlers (worker.ts's Handlers; not imported, so the two files do not import each other). */
type Handlers = Record<string, (msg: Record<string, unknown>, sys: WebSystem) => void | Promise<void>>;

/** Most files a survivors list covers (the rest are counted, not listed). */
export const WALK_FILES_MAX = 2000;
/** Most device writes a cut-during run may wait for. */
const CUT_AFTER_WRITES_MAX = 1_000_000;

/** A file as the walk saw it: size and crc32c of its bytes. */
interface FileSig { size: number; crc: number }
/** What a sync promised for one file: its signature right after the sync returned. */
interface Durable extends FileSig { how: "sync FILE" | "sync"; at: number }

/** One file in the survivors list. */
export interface SurvivorRow {
  path: string;
  /** survived (same bytes as before the cut), older (other bytes), lost (gone), appeared (back after a deletion). */
  status: "survived" | "older" | "lost" | "appeared";
  /** Why, in one line. */
  reason: string;
  sizeBefore: number | null;
  sizeAfter: number | null;
  /** The file was fsync'ed (or synced) and the version the sync promised is what is there now. */
  durable: boolean;
}

/** One step of the journal replay, as the kernel logged it at the reboot's mount. */
export interface ReplayStep { kind: "found" | "replayed" | "discarded" | "end" | "mount" | "info"; text: string }

/** What `power.report` carries. */
export interface PowerReport {
  cut: PowerCutReport;
  /** Milliseconds from the cut to the rebooted kernel's prompt. */
  rebootMs: number;
  /** The mount's log (journal replay, MMP, orphans), step by step. */
  replay: ReplayStep[];
  /** Kernel counters of the recovery mount. */
  counters: { replayedTx: number; replayedBlocks: number; orphans: number; state: number };
  fsck: { problems: number; lines: string[] };
  files: SurvivorRow[];
  /** Files beyond WALK_FILES_MAX that were not compared. */
  filesNotListed: number;
  /** Set when the reboot failed: one line. */
  error: string | null;
}

/** Walks the tree of `fs` from "/" and signs each regular file (bounded). */
export function signFiles(fs: HelixFs, limit = WALK_FILES_MAX): { files: Map<string, FileSig>; more: number } {
  const files = new Map<string, FileSig>();
  let more = 0;
  const walk = (dir: string, depth: number): void => {
    if (depth > TREE_DEPTH_MAX) return;
    let ents;
    try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const p = dir === "/" ? `/${e.name}` : `${dir}/${e.name}`;
      if (e.isDirectory()) { walk(p, depth + 1); continue; }
      if (!e.isFile()) continue;
      if (files.size >= limit) { more++; continue; }
      try { files.set(p, signOf(fs.readFileSync(p) as Uint8Array)); } catch { /* vanished or unreadable: not listed */ }
    }
  };
  walk("/", 0);
  return { files, more };
}

function signOf(b: Uint8Array): FileSig { return { size: b.length, crc: crc32c(b) >>> 0 }; }

/** Classifies one kernel log line of the recovery mount. */
export function replayStep(line: string): ReplayStep {
  const text = line.replace(/^helixfs \(vda\): /, "");
  if (/^journal: found /.test(text)) return { kind: "found", text };
  if (/^journal: replayed /.test(text)) return { kind: "replayed", text };
  if (/discarded|not replayed|damaged/.test(text)) return { kind: "discarded", text };
  if (/^journal: end of log/.test(text)) return { kind: "end", text };
  if (/MMP|mounted|cleanly|recovery|orphan/.test(text)) return { kind: "mount", text };
  return { kind: "info", text };
}

/**
 * The survivors list: each file the kernel held before the cut, compared with what the
 * rebooted kernel holds, and each file back after the cut that was gone before.
 */
export function compareFiles(before: Map<string, FileSig>, after: Map<string, FileSig>, durable: Map<string, Durable>, t0: number): SurvivorRow[] {
  const rows: SurvivorRow[] = [];
  const when = (d: Durable) => `${((d.at - t0) / 1000).toFixed(1)} s into the session`;
  for (const [path, b] of before) {
    const a = after.get(path) ?? null;
    const d = durable.get(path);
    const dMatches = d !== undefined && a !== null && a.crc === d.crc && a.size === d.size;
    let status: SurvivorRow["status"], reason: string;
    if (a === null) {
      status = "lost";
      reason = d !== undefined ? `LOST although ${d.how === "sync" ? "synced" : "fsync'ed"} at ${when(d)}: a crash-consistency violation` : "never fsync'ed: its data and its directory entry lived only in memory (page cache, running transaction)";
    } else if (a.crc === b.crc && a.size === b.size) {
      status = "survived";
      reason = dMatches ? `${d!.how === "sync" ? "synced by `sync`" : "fsync'ed by `sync FILE`"} at ${when(d!)}: the journal commit made it durable`
        : "not fsync'ed, but a journal commit (another file's fsync, a sync, or a full transaction) carried it before the cut";
    } else {
      status = "older";
      reason = dMatches ? `the version ${d!.how === "sync" ? "synced" : "fsync'ed"} at ${when(d!)} survived; the later changes were never synced`
        : "an earlier committed version survived; the later changes were never synced";
    }
    rows.push({ path, status, reason, sizeBefore: b.size, sizeAfter: a?.size ?? null, durable: dMatches });
  }
  for (const [path, a] of after) {
    if (before.has(path)) continue;
    rows.push({ path, status: "appeared", reason: "it had been removed or renamed, but that change was never synced", sizeBefore: null, sizeAfter: a.size, durable: false });
  }
  return rows.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/** The power feature's state in one worker. */
class Power {
  /** What each `sync` promised, by path (the contents right after it returned). */
  private readonly durable = new Map<string, Durable>();
  private readonly t0 = performance.now();

  constructor(private readonly sys: WebSystem) {
    sys.onShellSync = (paths) => this.onSync(paths);
  }

  private onSync(paths: string[] | null): void {
    const fs = this.sys.kernel?.fs;
    if (fs === undefined) return;
    const at = performance.now();
    if (paths === null) {
      this.durable.clear(); // a whole sync: the image is what the kernel holds now
      for (const [p, s] of signFiles(fs).files) this.durable.set(p, { ...s, how: "sync", at });
      return;
    }
    for (const p of paths) {
      try { this.durable.set(p, { ...signOf(fs.readFileSync(p) as Uint8Array), how: "sync FILE", at }); } catch { /* not a regular file */ }
    }
  }

  /** Cuts now (or after `afterWrites` device writes of `line`), reboots, reports. */
  async cut(mode: PowerCutMode, seed: number, during?: { line: string; afterWrites: number }): Promise<void> {
    const sys = this.sys;
    const k = sys.kernel, dev = sys.device;
    if (k === null || dev === null || sys.shell === null) { sys.post({ type: "error", message: "pull the plug: the kernel is not running (reboot first)" }); return; }
    let before = signFiles(k.fs);
    if (during !== undefined) {
      if (!Number.isSafeInteger(during.afterWrites) || during.afterWrites < 1 || during.afterWrites > CUT_AFTER_WRITES_MAX) {
        sys.post({ type: "error", message: `pull the plug: the write count must be 1 to ${CUT_AFTER_WRITES_MAX}` });
        return;
      }
      dev.armCut(during.afterWrites, { mode, seed });
      sys.print(`\x1b[33m[power] the plug goes after ${during.afterWrites} device write${during.afterWrites === 1 ? "" : "s"} of: ${during.line}\x1b[0m\n`);
      try { sys.shell.run(during.line); } catch { /* the disk died under the kernel: expected */ }
      if (!dev.isOff) sys.print("[power] the command finished before that many writes: cutting now\n");
      // what the kernel held when the line stopped (its caches still answer); a kernel that
      // panicked keeps the walk from before the line
      if (!k.isDead) before = signFiles(k.fs);
    }
    const t0 = performance.now();
    const cut = dev.isOff ? dev.lastCut! : dev.powerCut({ mode, seed });
    sys.dropKernel(); // no sys_umount: the instance is dropped as it is
    sys.print(`\x1b[31;1m[power] POWER CUT\x1b[0m: ${cutLine(cut)}\n`);
    await sys.boot(false, { prompt: false });
    const report = this.afterReboot(cut, before.files, before.more, performance.now() - t0);
    sys.post({ type: "power.report", report });
    this.printReport(report);
    sys.prompt();
  }

  private afterReboot(cut: PowerCutReport, before: Map<string, FileSig>, moreBefore: number, rebootMs: number): PowerReport {
    const k = this.sys.kernel;
    const base = { cut, rebootMs, replay: [], counters: { replayedTx: 0, replayedBlocks: 0, orphans: 0, state: 0 }, fsck: { problems: 0, lines: [] }, files: [], filesNotListed: 0 };
    if (k === null) return { ...base, error: "the kernel did not come back: see the message above (Reboot or Reformat)" };
    try {
      const replay = k.logLines.filter((l) => l.startsWith(FS_LOG_PREFIX)).map(replayStep); // the mount's lines, not the boot's
      const info = k.info();
      const n = k.logLines.length;
      const problems = k.fsck(true);
      const fsckLines = k.logLines.slice(n).filter((l) => l.startsWith("fsck"));
      const after = signFiles(k.fs);
      const files = compareFiles(before, after.files, this.durable, this.t0);
      // what was durable before the cut and is on the image now stays the promise
      for (const p of [...this.durable.keys()]) if (!after.files.has(p)) this.durable.delete(p);
      return {
        cut, rebootMs, replay, error: null,
        counters: { replayedTx: info.mountReplayedTx, replayedBlocks: info.replayedBlocks, orphans: info.mountOrphans, state: info.mountFoundState },
        fsck: { problems, lines: fsckLines }, files, filesNotListed: moreBefore + after.more,
      };
    } catch (err) {
      return { ...base, error: `after the reboot: ${errorMessage(err)}` };
    }
  }

  private printReport(r: PowerReport): void {
    const p = (s: string) => this.sys.print(s + "\n");
    if (r.error !== null) { p(`[power] ${r.error}`); return; }
    p(`[power] recovery: ${r.counters.replayedTx} transaction${r.counters.replayedTx === 1 ? "" : "s"} replayed (${r.counters.replayedBlocks} blocks), ${r.counters.orphans} orphan${r.counters.orphans === 1 ? "" : "s"} freed; rebooted in ${r.rebootMs.toFixed(0)} ms`);
    p(`[power] fsck: ${r.fsck.problems === 0 ? "clean" : `${r.fsck.problems} problem(s)`}`);
    const tag: Record<SurvivorRow["status"], string> = { survived: "\x1b[32msurvived\x1b[0m", older: "\x1b[33molder   \x1b[0m", lost: "\x1b[31mlost    \x1b[0m", appeared: "\x1b[33mappeared\x1b[0m" };
    for (const f of r.files) p(`[power] ${tag[f.status]} ${f.path}: ${f.reason}`);
    if (r.filesNotListed > 0) p(`[power] (${r.filesNotListed} more files not compared)`);
  }
}

/** A cut report as one line. */
export function cutLine(c: PowerCutReport): string {
  if (c.pendingUnits === 0) return "the disk's write cache was empty (every write had been flushed)";
  const base = `${c.pendingWrites} write${c.pendingWrites === 1 ? "" : "s"} (${c.pendingUnits} blocks) after the last FLUSH`;
  if (c.mode === "drop") return `${base}: all lost`;
  return `${base}, random cut (seed ${c.seed}): ${c.survived} reached the disk whole, ${c.torn} torn, ${c.dropped} lost`;
}

let power: Power | null = null;
const powerOf = (sys: WebSystem): Power => (power ??= new Power(sys));

/** Parses the mode and seed of a cut message. */
function cutOpts(m: Record<string, unknown>): { mode: PowerCutMode; seed: number } {
  const mode: PowerCutMode = m.mode === "random" ? "random" : "drop";
  const seed = Number.isSafeInteger(m.seed) ? Number(m.seed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  return { mode, seed };
}

/** Sets the power feature up on the worker's system (the shell's sync hook) before the first line runs. */
export function initPower(sys: WebSystem): void { powerOf(sys); }

/** The worker handlers of the power feature. */
export const powerHandlers: Handlers = {
  "power.cut": async (m, sys) => {
    const { mode, seed } = cutOpts(m);
    await powerOf(sys).cut(mode, seed);
  },
  "power.cutDuring": async (m, sys) => {
    const { mode, seed } = cutOpts(m);
    await powerOf(sys).cut(mode, seed, { line: String(m.line ?? ""), afterWrites: Number(m.afterWrites) });
  },
  "power.status": (_m, sys) => {
    sys.post({ type: "power.status", pending: sys.device?.pending() ?? null, flushes: sys.device?.flushes ?? 0 });
  },
};
