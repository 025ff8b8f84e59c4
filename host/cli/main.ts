// host/cli/main.ts -- the `helix` command line: mkfs, boot (boot log + shell), import, export, fsck,
// inspect, stat and start (host/cli/start.ts).
//
// Layer: the top of the host (CLI role), above host/node/ (bootSync, parseSize), the CLI's
// session, copy and progress modules and the portable shell (host/shell/). bin/helix.js is a
// launcher that builds if needed and calls main(); no module imports this one.
// Interface: main(argv) -> exit code; report(err) -> exit code.
// Rules:
//  - every failure ends as ONE line `helix: <message>` on stderr with exit code 2 (usage:
//    unknown command or option, bad size, bad number) or 1 (runtime: missing image, not a
//    HelixFS image, ENOSPC, kernel panic); stacks are printed only with HELIX_DEBUG=1. A
//    WebAssembly trap never escapes: host/vmm/kernel.ts turns it into a one-liner;
//  - a booted kernel is always shut down (sys_umount) before a command returns, on success
//    and on failure, so the image is left clean whenever the kernel is still alive;
//  - stdout carries results, stderr carries the one error line and progress bars; bars are
//    drawn only when stderr is a TTY, so pipes and tests see plain text;
//  - tree copies (import, export, start) carry names and symlink targets as exact bytes and
//    refuse a directory entry that is not one path component before copying anything;
//  - kernel calls are synchronous: a command is a plain loop over syscalls, no promises per
//    file (one syscall = one JS->WASM crossing, DESIGN.md §1).

import * as nodefs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import * as readline from "node:readline";
import { performance } from "node:perf_hooks";
import { Command, CommanderError, Option } from "commander";
import { setProgramName, assertImageFree, ROOT } from "../node/node.js";
import {
  TREE_NAMES, DEFAULT_MEMORY_MIB, type KernelInfo,
  FSCK_VERBOSE, FSCK_DATA, FSCK_PREEN, FSCK_YES, FSCK_MARK_ERRORS,
} from "../vmm/kernel.js";
import type { HelixFs } from "../fs/fs.js";
import {
  BLOCK_SIZE, CliError, FS_LOG_PREFIX, UsageError, dmesgStamp, errorMessage, formatBytes, formatRate, formatTid, oneLine,
  plural, snapshotSpace, stateName, table, STAT_GROUPS,
} from "../shell/format.js";
import type { CopyStats } from "../shell/tree.js";
import { Shell, completions } from "../shell/shell.js";
import { Progress } from "./progress.js";
import {
  Session, bootError, checkImagePath, existingHelixFs, fsckPass, imageSize, mkfsImage, withSession,
  type KernelOptions, type LogLine,
} from "./session.js";
import { exportTree, importTreeInterruptible, scanHostTree } from "./copy.js";
import { checkNameArg, cmdSnapshotCreate, cmdSnapshotDelete, cmdSnapshotDiff, cmdSnapshotList, cmdSnapshotRollback } from "./snapshot.js";

/** Default image size of mkfs. */
const MKFS_DEFAULT_SIZE = "256M";

/** Memory limits the kernel accepts (host/vmm/kernel.ts BootOptions). */
const MEMORY_MIB_MIN = 32, MEMORY_MIB_MAX = 3072, CPUS_MIN = 1, CPUS_MAX = 4;
/** Width of the text bars of `inspect`. */
const HIST_BAR_WIDTH = 40;


// ---- commands ------------------------------------------------------------------------------

/** Set once stdout's reader has gone (EPIPE): output is dropped from then on. */
let stdoutGone = false;

/**
 * Makes a closed stdout quiet, as a program killed by SIGPIPE is (`helix ... | head`): Node
 * ignores SIGPIPE, so a write to a closed pipe fails with EPIPE, reported as an 'error' event.
 * That error ends the output, never the command: the kernel still unmounts cleanly. Other
 * stdout errors stay errors.
 */
function quietEpipe(): void {
  if (process.stdout.listenerCount("error") > 0) return;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") { stdoutGone = true; return; }
    process.stderr.write(`helix: stdout: ${errorMessage(err)}\n`);
    process.exit(1);
  });
}

/** Writes to stdout (strings or bytes); nothing once the reader is gone. */
function print(s: string | Uint8Array): void { if (!stdoutGone) process.stdout.write(s); }

/** Parses an integer option in [min, max] or throws UsageError. */
function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(String(value).trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`bad ${name} '${value}': must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** The kernel options of --memory / --cpus / --debug. */
export function kernelOptions(o: { memory?: string; cpus?: string; debug?: boolean }): KernelOptions {
  return {
    memoryMiB: intOption(o.memory, "--memory (MiB)", MEMORY_MIB_MIN, MEMORY_MIB_MAX),
    cpus: intOption(o.cpus, "--cpus", CPUS_MIN, CPUS_MAX),
    debug: o.debug === true,
  };
}

/**
 * Asks before mkfs overwrites an existing HelixFS image, as mke2fs asks "contains a ext4 file
 * system ... Proceed anyway? (y,N)": on a terminal it asks; otherwise (scripts, pipes) it
 * refuses. `force` skips the question. Throws CliError (exit 1) when refused.
 */
async function confirmOverwrite(image: string, force: boolean): Promise<void> {
  if (force) return;
  const old = existingHelixFs(image);
  if (old === null) return;
  const what = `'${image}' contains a HelixFS file system labelled '${old.label}' (${formatBytes(old.bytes)})`;
  if (process.stdin.isTTY !== true) throw new CliError(`${what}; use --force to overwrite it`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const answer = await new Promise<string>((resolve) => {
    rl.on("close", () => resolve(""));
    rl.question(`${what}\nProceed anyway? (y,N) `, resolve);
  });
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(`${image}: not overwritten`);
}


async function cmdMkfs(image: string, o: { size: string; label: string; memory?: string; force?: boolean }): Promise<number> {
  const bytes = imageSize(o.size);
  if (Buffer.byteLength(o.label) > 63) throw new UsageError(`label '${o.label}' is longer than 63 bytes`);
  const kopts = kernelOptions(o);
  checkImagePath(image);
  // an image in use is refused before anything asks about overwriting it (mkfs would refuse later)
  try { assertImageFree(image); } catch (err) { throw bootError(image, err); }
  await confirmOverwrite(image, o.force === true);
  const i = mkfsImage(image, bytes, o.label, kopts);
  print(`${image}: HelixFS, label '${o.label}', ${formatBytes(i.totalBlocks * BLOCK_SIZE)} (${i.totalBlocks} blocks of ${BLOCK_SIZE} bytes)\n`);
  print(`  journal: ${i.journalBlocks} blocks (${formatBytes(i.journalBlocks * BLOCK_SIZE)}) at block ${i.journalStart}\n`);
  print(`  free:    ${i.freeBlocks} blocks (${formatBytes(i.freeBlocks * BLOCK_SIZE)}), ${i.availBlocks} available\n`);
  print(`  inodes:  ${i.inodes} in use\n`);
  return 0;
}

async function cmdBoot(image: string, o: { command?: string; memory?: string; cpus?: string; debug?: boolean; quiet?: boolean; snapshot?: string }): Promise<number> {
  const kopts = kernelOptions(o);
  if (o.snapshot !== undefined) checkNameArg(o.snapshot);
  const s = Session.open(image, { ...kopts, snapshot: o.snapshot });
  let ok = false;
  try {
    const stamp = (l: LogLine) => `${dmesgStamp(l.t)} ${l.text}\n`;
    if (!o.quiet) {
      for (const l of s.log) print(stamp(l));
      const t = s.now();
      for (const m of s.mountLines()) print(stamp({ t, text: m }));
      if (o.snapshot !== undefined) {
        const what = s.k.info().readOnly ? "snapshot" : "clone";
        print(stamp({ t, text: `${FS_LOG_PREFIX}mounted ${what} '${o.snapshot}' ${what === "snapshot" ? "read-only" : "read-write"}` }));
      }
    }
    // later kernel messages (errors met by a command) show up like a console's printk
    s.setSink((l) => print(stamp(l)));
    // the first failure caused by the host (a full disk) is named once, after the command's line
    let causeShown = false;
    const err = (line: string) => {
      process.stderr.write(line + "\n");
      const cause = causeShown ? null : s.hostCause();
      if (cause !== null) { causeShown = true; process.stderr.write(`helix: ${cause}; the filesystem is read-only now: run 'helix fsck ${image}'\n`); }
    };
    const shell = new Shell(s.fs, { out: print, err, snapshotBytes: () => snapshotSpace(s.k.info())?.heldBytes ?? 0 });
    let status: number;
    if (o.command !== undefined) {
      shell.run(o.command);
      status = shell.exitStatus ?? (shell.failures > 0 ? 1 : 0);
    } else if (process.stdin.isTTY) {
      status = await interactive(shell);
    } else {
      // a script on stdin: one line at a time, like `sh < script`
      const rl = readline.createInterface({ input: process.stdin, terminal: false });
      for await (const line of rl) {
        shell.run(line);
        if (shell.exitStatus !== null) break;
      }
      rl.close();
      status = shell.exitStatus ?? (shell.failures > 0 ? 1 : 0);
    }
    if (!o.quiet) print(stamp({ t: s.now(), text: "helixfs (vda): unmounting" }));
    ok = true;
    s.close();
    return status;
  } finally {
    if (!ok) s.close(true);
  }
}

/** The interactive shell on a TTY; resolves with the exit status. */
function interactive(shell: Shell): Promise<number> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: true, completer: (line: string) => completions(shell, line), historySize: 500 });
    print("HelixFS shell. Type 'help' for commands, 'exit' or Ctrl-D to shut down.\n");
    rl.setPrompt(shell.prompt());
    rl.prompt();
    let done = false;
    rl.on("line", (line) => {
      try {
        shell.run(line);
      } catch (err) {
        done = true;
        rl.close();
        reject(err);
        return;
      }
      if (shell.exitStatus !== null) { done = true; rl.close(); resolve(shell.exitStatus); return; }
      rl.setPrompt(shell.prompt());
      rl.prompt();
    });
    // Ctrl-C clears the line instead of killing the VM with the image mounted
    rl.on("SIGINT", () => { print("^C\n"); rl.write(null, { ctrl: true, name: "u" }); rl.prompt(); });
    rl.on("close", () => { if (!done) { print("\n"); resolve(0); } });
  });
}

/** Exit status after SIGINT, as a shell reports a command killed by it (128 + 2). */
export const EXIT_SIGINT = 130;

async function cmdImport(image: string, hostDir: string, dest: string, o: { memory?: string; cpus?: string; debug?: boolean }): Promise<number> {
  const kopts = kernelOptions(o);
  if (!dest.startsWith("/")) throw new UsageError(`image path '${dest}' must be absolute`);
  const exclude = new Set([path.resolve(image)]);
  const tree = scanHostTree(path.resolve(hostDir), exclude);
  const t0 = performance.now();
  // Ctrl-C stops the copy between two entries; what was copied is committed and the image
  // unmounted cleanly. A second Ctrl-C leaves at once (the journal keeps the image consistent).
  let interrupts = 0;
  const onSigint = () => { if (++interrupts > 1) process.exit(EXIT_SIGINT); };
  process.on("SIGINT", onSigint);
  let stats: CopyStats;
  try {
    const s = Session.open(image, kopts);
    let ok = false;
    try {
      const progress = new Progress("import", tree.bytes, tree.files + tree.symlinks);
      try {
        stats = await importTreeInterruptible(s.fs, tree, dest, () => interrupts > 0, progress, () => s.hostCause());
        s.fs.syncSync();
      } finally {
        progress.stop();
      }
      ok = true;
      s.close();
    } catch (err) {
      const cause = s.hostCause();
      if (cause !== null && !(err instanceof CliError && err.message.includes(cause))) {
        throw new CliError(`${image}: ${cause}; the image is read-only from here on: run 'helix fsck ${image}'`);
      }
      if (err instanceof CliError && /^import stopped at /.test(err.message) && cause !== null) {
        throw new CliError(`${err.message}; the image keeps what was committed before: run 'helix fsck ${image}'`);
      }
      throw err;
    } finally {
      if (!ok) s.close(true);
    }
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
  // report the time until the data is durable: copy, sync and the unmount's checkpoint
  stats.seconds = (performance.now() - t0) / 1000;
  const what = copiedWhat(stats);
  if (stats.interrupted !== undefined) {
    print(`interrupted: kept ${what} of ${tree.files} files, ${formatBytes(tree.bytes)} in ${image}:${dest}, committed; ` +
      `the image is consistent and cleanly unmounted\n`);
    process.stderr.write(`helix: import interrupted${stats.interrupted !== null ? ` before '${stats.interrupted}'` : ""}\n`);
    return EXIT_SIGINT;
  }
  print(`imported ${hostDir} -> ${image}:${dest}: ${what} in ${stats.seconds.toFixed(2)} s, ${formatRate(stats.bytes, stats.seconds)}\n`);
  if (tree.skipped.length > 0) print(`skipped ${tree.skipped.length} special files (sockets, FIFOs, devices), e.g. ${tree.skipped[0]}\n`);
  return 0;
}

/** "3 files, 1 dir, 2 symlinks, 4096 bytes (4.0 KiB)": what a tree copy moved. */
function copiedWhat(stats: CopyStats): string {
  return `${plural(stats.files, "file")}, ${plural(stats.dirs, "dir")}, ${plural(stats.symlinks, "symlink")}, ` +
    `${stats.bytes} bytes (${formatBytes(stats.bytes)})`;
}

function cmdExport(image: string, src: string, hostDir: string, o: { memory?: string; cpus?: string; debug?: boolean }): number {
  const kopts = kernelOptions(o);
  if (!src.startsWith("/")) throw new UsageError(`image path '${src}' must be absolute`);
  const stats = withSession(image, kopts, (s) =>
    exportTree(s.fs, src, hostDir, (t) => new Progress("export", t.bytes, t.files + t.symlinks)));
  print(`exported ${image}:${src} -> ${hostDir}: ${copiedWhat(stats)} in ${stats.seconds.toFixed(2)} s, ${formatRate(stats.bytes, stats.seconds)}\n`);
  return 0;
}

/** fsck exit codes, as e2fsck's (bits; docs/cli.md). */
export const FSCK_EXIT = { clean: 0, corrected: 1, uncorrected: 4, operational: 8 } as const;
/** Problem lines the kernel prints per pass (fs/fsck.ts FSCK_REPORT_MAX); the rest are counted. */
const FSCK_SHOWN_MAX = 100;
/** Repair passes before giving up (each repair can reveal what the damage hid, as e2fsck restarts). */
const FSCK_PASSES_MAX = 6;

/**
 * Maps the inodes of data-checksum problems to a path each (a walk of the namespace, done
 * only when such problems exist); an inode no name reaches maps to nothing.
 */
function pathsOf(fs: HelixFs, inos: Set<number>): Map<number, string> {
  const found = new Map<number, string>();
  const stack = ["/"];
  while (stack.length > 0 && found.size < inos.size) {
    const dir = stack.pop()!;
    let names: string[];
    try { names = fs.readdirSync(dir) as string[]; } catch { continue; }
    for (const n of names) {
      const p = dir === "/" ? `/${n}` : `${dir}/${n}`;
      let st;
      try { st = fs.lstatSync(p); } catch { continue; }
      if (inos.has(Number(st.ino)) && !found.has(Number(st.ino))) found.set(Number(st.ino), p);
      if (st.isDirectory()) stack.push(p);
    }
  }
  return found;
}

/** Prints one pass's lines (data-checksum lines get the file's path), then "N more". */
function printFsckLines(s: Session, lines: string[], count: number): void {
  const dataInos = new Set<number>();
  for (const l of lines) if (l.endsWith("[data-csum]") || l.endsWith("[data-io]")) dataInos.add(Number(/inode (\d+)/.exec(l)?.[1] ?? 0));
  const paths = dataInos.size > 0 ? pathsOf(s.fs, dataInos) : new Map<number, string>();
  for (const l of lines) {
    const ino = Number(/inode (\d+)/.exec(l)?.[1] ?? 0);
    const p = (l.endsWith("[data-csum]") || l.endsWith("[data-io]")) ? paths.get(ino) : undefined;
    print((p !== undefined ? l.replace(/ \[data-(csum|io)\]$/, `, path ${p} [data-$1]`) : l) + "\n");
  }
  const shown = lines.filter((l) => !l.startsWith("fsck: fixed:") && !l.startsWith("fsck: could not fix:")).length;
  if (count > shown && shown >= FSCK_SHOWN_MAX) print(`fsck: ... and ${count - shown} more problem(s) not shown\n`);
}

/**
 * `helix fsck [-p | -y] [--data] IMAGE`, as e2fsck: says what the mount did on the way
 * (unclean unmount, superblock restored from the backup, journal recovery, orphans), checks,
 * and with -p / -y repairs in passes until a pass is clean or changes nothing. Returns the
 * exit code: 0 clean, 1 errors corrected, 4 errors left uncorrected, 8 operational error.
 */
function cmdFsck(image: string, o: { memory?: string; cpus?: string; debug?: boolean; preen?: boolean; yes?: boolean; data?: boolean }): number {
  if (o.preen && o.yes) throw new UsageError("fsck: only one of the options -p or -y may be specified");
  const mode = o.yes ? "yes" as const : o.preen ? "preen" as const : undefined;
  const kopts = { ...kernelOptions(o), fsckMount: mode ?? "check" as const };
  let s: Session;
  try {
    s = Session.open(image, kopts);
  } catch (err) {
    throw new CliError(errorMessage(err), FSCK_EXIT.operational);
  }
  let ok = false;
  try {
    const code = fsckSession(s, image, mode, o.data === true);
    ok = true;
    return code;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${image}: fsck: ${errorMessage(err)}`, FSCK_EXIT.operational);
  } finally {
    s.close(!ok);
  }
}

function fsckSession(s: Session, image: string, mode: "preen" | "yes" | undefined, data: boolean): number {
  const info = s.k.info();
  const mounted = s.k.fsckStats();
  let corrected = 0;
  // what the mount did on the way: said, never silent
  if (mounted.mountPrevState === 0) print(`${image}: was not cleanly unmounted, check forced.\n`);
  if (mounted.mountPrevState === 2) print(`${image}: contains a filesystem with errors, check forced.\n`);
  if (info.mountUsedBackup) { print(`${image}: primary superblock was damaged, restored from the backup\n`); corrected++; }
  if (info.mountReplayedTx > 0) print(`${image}: recovering journal (${info.mountReplayedTx} transaction${info.mountReplayedTx === 1 ? "" : "s"})\n`);
  if (mounted.journalSbRepaired !== 0) {
    const what = [mounted.journalSbRepaired & 1 ? "log start outside the journal" : "", mounted.journalSbRepaired & 2 ? "first log block wrong" : ""].filter((x) => x).join(", ");
    print(`${image}: journal superblock damaged (${what}): rewritten by the journal recovery\n`);
    corrected++;
  }
  if (mounted.mountDroppedLog) { print(`${image}: journal damaged: committed transactions after the damaged one discarded\n`); corrected++; }
  if (info.mountOrphans > 0) { print(`${image}: cleared ${info.mountOrphans} orphaned inode(s) (unlinked while open)\n`); corrected++; }
  if (mode && info.readOnly) print(`${image}: mounted read-only${info.errored ? " after a metadata error" : ""}: nothing can be repaired\n`);
  const base = FSCK_VERBOSE | (data ? FSCK_DATA : 0);
  let count: number;
  if (!mode) {
    const r = fsckPass(s, base);
    printFsckLines(s, r.lines, r.count);
    count = r.count;
  } else {
    const repair = mode === "yes" ? FSCK_YES : FSCK_PREEN;
    let pass = 1;
    for (;;) {
      const r = fsckPass(s, base | repair);
      printFsckLines(s, r.lines, r.count);
      count = r.count;
      const fixed = s.k.fsckStats().fixed;
      corrected += fixed;
      if (r.count === 0 || fixed === 0) break;
      if (++pass > FSCK_PASSES_MAX) {
        // still changing: one more check says what is left and flags it
        const last = fsckPass(s, base | FSCK_MARK_ERRORS);
        printFsckLines(s, last.lines, last.count);
        count = last.count;
        break;
      }
      print(`${image}: restarting the check after repairs (pass ${pass})\n`);
    }
    if (count > 0 && !s.k.info().readOnly) fsckPass(s, FSCK_MARK_ERRORS); // the next mount is read-only
  }
  const st = s.k.fsckStats();
  let cleared = false;
  if (count === 0 && s.k.info().errorState === 1) { s.k.clearErrors(); cleared = true; }
  print(`${image}: ${count === 0 ? "clean" : `${count} problem(s)`}: ${st.inodes} inodes, ${st.dirents} dirents, ${st.extents} extents, ` +
    `${st.freeExtents} free extents, ${st.nodes} tree nodes, ${st.usedBlocks} blocks accounted` +
    `${data ? `, ${st.dataBlocks} data blocks checked` : ""}\n`);
  if (cleared) print(`${image}: the error state recorded by an earlier metadata error is cleared (next mount is read-write)\n`);
  if (corrected > 0) print(`\n${image}: ***** FILE SYSTEM WAS MODIFIED *****\n`);
  if (count > 0) {
    if (mode === "preen") print(`${image}: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.\n\t(i.e., 'helix fsck -y ${image}')\n`);
    process.stderr.write(`helix: ${image}: ${count} problem(s) left uncorrected\n`);
    return FSCK_EXIT.uncorrected;
  }
  return corrected > 0 ? FSCK_EXIT.corrected : FSCK_EXIT.clean;
}

/** The free-space histogram as text bars (log2 buckets of extent length in blocks). */
export function histogramText(h: number[]): string {
  const max = Math.max(...h, 1);
  const last = h.reduce((a, v, i) => (v > 0 ? i : a), -1);
  if (last < 0) return "  (no free extents)\n";
  const rows: string[] = [];
  for (let i = 0; i <= last; i++) {
    const lo = 2 ** i, hi = 2 ** (i + 1) - 1;
    const range = lo === hi ? `${lo}` : `${lo}-${hi}`;
    const bar = "#".repeat(Math.ceil((h[i] / max) * HIST_BAR_WIDTH));
    rows.push(`  ${range.padStart(21)} blocks ${String(h[i]).padStart(8)} ${bar}`);
  }
  return rows.join("\n") + "\n";
}

function cmdInspect(image: string, o: { memory?: string; cpus?: string; debug?: boolean }): number {
  const text = withSession(image, kernelOptions(o), (s) => {
    const i = s.k.info();
    const out: string[] = [];
    const blocks = (n: number) => `${n} (${formatBytes(n * BLOCK_SIZE)})`;
    out.push(`superblock (${image})`);
    out.push(table([
      ["label", `'${s.k.label()}'`],
      ["blocks", blocks(i.totalBlocks)], ["free", blocks(i.freeBlocks)], ["available", blocks(i.availBlocks)],
      ["reserved", blocks(i.reservedBlocks)], ["inodes", String(i.inodes)], ["next inode", String(i.nextIno)],
      ["journal start", String(i.journalStart)], ["journal size", blocks(i.journalBlocks)], ["journal head", String(i.journalHead)],
      // the state as found: inspecting mounts the image, which marks it dirty while mounted
      ["next transaction", formatTid(i.tid)], ["state", stateName(i.mountFoundState)], ["mount count", String(i.mountCount)],
      ["read-only", i.readOnly ? "yes" : "no"], ["errors", i.errored ? "yes" : "no"], ["backup used", i.mountUsedBackup ? "yes" : "no"],
    ].map((r) => ["  " + r[0], r[1]])));
    const snaps = snapshotSpace(i);
    if (snaps !== null) {
      out.push("", "snapshots");
      out.push(table([
        ["snapshots and clones", String(snaps.count)],
        ["held only by snapshots", `${snaps.heldBytes / BLOCK_SIZE} blocks (${formatBytes(snaps.heldBytes)}), counted as used`],
        ["background work pending", snaps.pending ? "yes" : "no"],
      ].map((r) => ["  " + r[0], r[1]])));
    }
    out.push("", "trees");
    const roots = [i.rInode, i.rDirent, i.rExtent, i.rBno, i.rCnt, i.rSnap, i.rDead];
    const rows = TREE_NAMES.map((name, t) => {
      const ti = s.k.treeInfo(t);
      return ["  " + name, roots[t] ?? 0, ti.height, ti.nodes, ti.leaves, ti.items, ti.bytes, `${(ti.fillPermille / 10).toFixed(1)}%`];
    });
    out.push(table(rows, ["  tree", "root", "height", "nodes", "leaves", "items", "bytes", "fill"]));
    out.push("", "free space by extent length");
    out.push(histogramText(s.k.freeHistogram()).trimEnd());
    out.push("", "journal");
    out.push(table([
      ["area", `blocks ${i.journalStart}..${i.journalStart + i.journalBlocks - 1} (${formatBytes(i.journalBlocks * BLOCK_SIZE)})`],
      ["head", String(i.journalHead)], ["next transaction", formatTid(i.tid)],
      ["replayed at this mount", `${i.mountReplayedTx} transaction(s), ${i.replayedBlocks} block(s)`],
      ["orphans at this mount", String(i.mountOrphans)],
      ["since boot", `${i.commits} commits, ${i.checkpoints} checkpoints, ${i.loggedBlocks} logged blocks, ${i.absorbed} absorbed, ${i.revokes} revokes`],
    ].map((r) => ["  " + r[0], r[1]])));
    return out.join("\n") + "\n";
  });
  print(text);
  return 0;
}


function cmdStat(image: string, o: { memory?: string; cpus?: string; debug?: boolean }): number {
  const text = withSession(image, kernelOptions(o), (s) => {
    const i = s.k.info();
    const out: string[] = [];
    const seen = new Set<string>();
    for (const [group, fields] of STAT_GROUPS) {
      out.push(group);
      const rows: (string | number)[][] = [];
      for (const f of fields) {
        if (i[f] === undefined) continue;
        seen.add(f);
        rows.push([`  ${f}`, i[f]]);
      }
      if (group === "page cache" && i.cacheHits + i.cacheMisses > 0) rows.push(["  hit ratio", `${((100 * i.cacheHits) / (i.cacheHits + i.cacheMisses)).toFixed(1)}%`]);
      if (group === "memory") rows.push(["  summary", `linear memory ${formatBytes(i.memoryBytes)}; frames ${formatBytes(i.memFreePages * BLOCK_SIZE)} free of ${formatBytes(i.memTotalPages * BLOCK_SIZE)}`]);
      out.push(table(rows), "");
    }
    const rest = (Object.keys(i) as (keyof KernelInfo)[]).filter((f) => !seen.has(f));
    if (rest.length > 0) out.push("other", table(rest.map((f) => [`  ${f}`, i[f]])), "");
    const mm = s.k.mmInfo();
    out.push("buddy allocator (free blocks per order, fragmentation index per mille; '-' = enough free)");
    out.push(table([
      ["  free", ...mm.freeBlocks],
      ["  frag", ...mm.fragIndex.map((v) => (v < 0 ? "-" : v))],
    ], ["  order", ...mm.freeBlocks.map((_, o) => String(o))]), "");
    out.push("slabinfo - version: 2.1 (helix)");
    const slabs = s.k.slabInfo();
    out.push(table(slabs.map((c) => [c.name, c.active, c.total, c.objsize, c.slabs, c.pages, c.slabs > 0 ? Math.round(c.total / c.slabs) : 0]),
      ["# name", "<active_objs>", "<num_objs>", "<objsize>", "<slabs>", "<pages>", "<objperslab>"]));
    return out.join("\n") + "\n";
  });
  print(text);
  return 0;
}

// ---- the program ---------------------------------------------------------------------------

/** Builds the commander program; actions store their exit code in `status`. */
function program(status: { code: number }): Command {
  const p = new Command("helix");
  p.description("HelixFS: a journaled B+ tree filesystem kernel in WebAssembly, and its tools")
    .version(readVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stdout.write(s), // help requested with --help goes to stdout
      outputError: () => { /* reported once, by main() */ },
    })
    .showHelpAfterError(false)
    .allowExcessArguments(false);
  const kernelFlags = (c: Command) => c
    .option("--memory <MiB>", `kernel memory limit in MiB (${MEMORY_MIB_MIN}..${MEMORY_MIB_MAX}, default ${DEFAULT_MEMORY_MIB})`)
    .option("--cpus <n>", `simulated CPUs (${CPUS_MIN}..${CPUS_MAX})`)
    .option("--debug", "boot the debug kernel (assertions on)");

  p.command("mkfs").argument("<IMAGE>", "image file (created or overwritten, sparse)")
    .description("create and format an image")
    .option("-s, --size <size>", "image size with K/M/G/T suffix (>= 4M)", MKFS_DEFAULT_SIZE)
    .option("-L, --label <label>", "volume label", "helixfs")
    .option("-F, --force", "overwrite an existing HelixFS image without asking")
    .option("--memory <MiB>", "kernel memory limit in MiB")
    .action(async (image: string, o) => { status.code = await cmdMkfs(image, o); });

  kernelFlags(p.command("boot").argument("<IMAGE>").description("boot the kernel on an image: boot log, then a shell")
    .option("-c, --command <cmds>", "run these shell commands (separated by ';' or newlines) instead of a shell")
    .option("-q, --quiet", "do not print the boot log")
    .option("--snapshot <NAME>", "mount snapshot NAME (read-only) or clone NAME (read-write) instead of the live filesystem"))
    .action(async (image: string, o) => { status.code = await cmdBoot(image, o); });

  kernelFlags(p.command("import").argument("<IMAGE>").argument("<HOSTDIR>", "host directory to copy")
    .argument("[PATH]", "directory inside the image", "/").description("copy a host directory tree into the image"))
    .action(async (image: string, hostDir: string, dest: string, o) => { status.code = await cmdImport(image, hostDir, dest, o); });

  kernelFlags(p.command("export").argument("<IMAGE>").argument("<PATH>", "directory inside the image")
    .argument("<HOSTDIR>", "host directory (created if missing)").description("copy a tree of the image to the host"))
    .action((image: string, src: string, hostDir: string, o) => { status.code = cmdExport(image, src, hostDir, o); });

  kernelFlags(p.command("fsck").argument("<IMAGE>")
    .description("check an image, and repair it with -p or -y (exit 0 clean, 1 errors corrected, 4 errors left, 8 operational error)")
    .option("-p, --preen", "repair what is safe without asking (link counts, free space, orphaned entries, lost+found, counters)")
    .option("-y, --yes", "repair everything fsck can")
    .option("--data", "also read every data block and check it against its extent's checksum"))
    .action((image: string, o) => { status.code = cmdFsck(image, o); });

  kernelFlags(p.command("inspect").argument("<IMAGE>").description("superblock, B+ trees, free space histogram, journal"))
    .action((image: string, o) => { status.code = cmdInspect(image, o); });

  kernelFlags(p.command("stat").argument("<IMAGE>").description("kernel statistics: counters, buddy allocator, slab caches"))
    .action((image: string, o) => { status.code = cmdStat(image, o); });

  const snap = p.command("snapshot").description("snapshots and clones of an image: create, list, delete, rollback, diff");
  kernelFlags(snap.command("create").argument("<IMAGE>").argument("<NAME>", "snapshot name (1..255 bytes, no '/')")
    .description("snapshot the filesystem (O(1), read-only); --writable makes a writable clone (and its origin NAME@origin)")
    .option("-w, --writable", "make a writable clone"))
    .action((image: string, name: string, o) => { status.code = cmdSnapshotCreate(image, name, o, kernelOptions(o), print); });
  kernelFlags(snap.command("list").argument("<IMAGE>")
    .description("snapshots and clones: name, id, created, transaction, referenced, exclusive and shared bytes")
    .option("--json", "print JSON instead of a table"))
    .action((image: string, o) => { status.code = cmdSnapshotList(image, o, kernelOptions(o), print); });
  kernelFlags(snap.command("delete").argument("<IMAGE>").argument("<NAME>")
    .description("delete a snapshot or clone; waits until its blocks are free and prints what it freed"))
    .action((image: string, name: string, o) => { status.code = cmdSnapshotDelete(image, name, kernelOptions(o), print); });
  kernelFlags(snap.command("rollback").argument("<IMAGE>").argument("<NAME>")
    .description("make the live filesystem the snapshot's contents (newer snapshots must be deleted first)"))
    .action((image: string, name: string, o) => { status.code = cmdSnapshotRollback(image, name, kernelOptions(o), print); });
  kernelFlags(snap.command("diff").argument("<IMAGE>").argument("<A>", "snapshot").argument("[B]", "snapshot (default: the live filesystem)")
    .description("paths created (+), deleted (-), modified (M) and renamed (R) from A to B")
    .option("--stats", "also print how many tree nodes the diff read"))
    .action((image: string, a: string, b: string | undefined, o) => { status.code = cmdSnapshotDiff(image, a, b, o, kernelOptions(o), print); });
  // `helix snapshot` alone or with an unknown command: one usage line (set after the
  // subcommands, which would otherwise inherit allowExcessArguments)
  snap.allowExcessArguments(true).action((_o: unknown, c: Command) => {
    const what = c.args.length > 0 ? `unknown command '${c.args[0]}'` : "missing command";
    throw new UsageError(`snapshot: ${what}: create, list, delete, rollback or diff (try 'helix snapshot --help')`);
  });

  p.command("mount").argument("<IMAGE>").argument("<MOUNTPOINT>", "an empty directory")
    .description("mount an image on the host through FUSE; returns once the mount is live (see 'helix umount')")
    .option("-o, --options <opts>", "mount options, comma-separated: ro, rw, allow_other, default_permissions, uid=N, gid=N, discard, nonempty, snapshot=NAME",
      (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option("-f, --foreground", "stay in the foreground and serve the mount until it is unmounted or signalled")
    .option("--memory <MiB>", `kernel memory limit in MiB (${MEMORY_MIB_MIN}..${MEMORY_MIB_MAX}, default ${DEFAULT_MEMORY_MIB})`)
    .option("--debug", "boot the debug kernel (assertions on)")
    .addOption(new Option("--notify-parent").hideHelp())
    .action(async (image: string, mnt: string, o) => {
      const { cmdMount } = await import("./mount.js");
      const k = kernelOptions(o);
      status.code = await cmdMount(image, mnt, { options: o.options, foreground: o.foreground === true, notifyParent: o.notifyParent === true, memory: k.memoryMiB, debug: k.debug });
    });

  p.command("umount").argument("<MOUNTPOINT>").description("unmount a HelixFS mount and wait until its image is clean and released")
    .option("-z, --lazy", "detach the mount now even when busy; the image is released when its files are closed")
    .action(async (mnt: string, o) => {
      const { cmdUmount } = await import("./mount.js");
      status.code = await cmdUmount(mnt, o);
    });

  p.command("crashtest").description("crash-consistency campaign: record workloads, build crash states, recover and check each")
    .option("--workload <kind>", "ace1 | ace2 | ace3 | random | snap", "ace1")
    .option("--seed <n>", "seed of the crash-state choices and random workloads", "1")
    .option("--states <n>", "crash states per workload at most", "1000")
    .option("--jobs <n>", "worker threads", String(Math.max(1, os.cpus().length)))
    .option("--image-size <size>", "size of the test image", "8M")
    .option("--sample <n>", "check a seeded sample of this many workloads")
    .option("--only <id>", "check only this workload (reproduction)")
    .option("--state <id>", "check only this crash state of it (reproduction)")
    .option("--steps <json>", "check only this workload, given as its steps (a minimised workload's reproduction)")
    .option("--break <flags>", "debug: break the journal ordering (1 = no flush after commit, 2 = none before, 4 = discard before commit)")
    .option("--discard", "record the workloads with online discard")
    .option("--debug", "run the debug kernel (assertions on)")
    .action(async (o) => {
      const kinds = ["ace1", "ace2", "ace3", "random", "snap"];
      if (!kinds.includes(o.workload)) throw new UsageError(`--workload must be one of ${kinds.join(", ")}`);
      const crash = await import("./crashtest.js");
      status.code = await crash.runCrashtest({
        workload: o.workload, seed: intOption(o.seed, "--seed", 0, 2 ** 31) ?? 1,
        states: intOption(o.states, "--states", 1, 1_000_000) ?? 1000,
        jobs: intOption(o.jobs, "--jobs", 1, 64) ?? 1,
        imageBytes: imageSize(o.imageSize),
        sample: intOption(o.sample, "--sample", 1, 10_000_000),
        only: o.only, state: o.state, steps: o.steps,
        breakOrdering: intOption(o.break, "--break", 0, 7), discard: o.discard === true, debug: o.debug === true,
      });
    });

  p.command("start").description("the main job: import a tree (node_modules), reboot, verify every byte, fsck")
    .option("--image <path>", "image file (default: helix.img in the repository root)")
    .option("--source <dir>", "host tree to import (default: the repository's node_modules)")
    .option("--size <size>", "image size (default: 2x the tree, at least 256M)")
    .option("--memory <MiB>", `kernel memory limit in MiB (default ${DEFAULT_MEMORY_MIB})`)
    .option("--keep", "keep the image afterwards", true)
    .option("--no-keep", "delete the image afterwards")
    .option("--verify-only", "do not create or import: verify an existing image against the tree")
    .action(async (o) => {
      // loaded when used: the main job's modules are not needed by the other commands
      const start = await import("./start.js");
      status.code = await start.runStart({
        image: o.image, source: o.source,
        size: o.size, memoryMiB: intOption(o.memory, "--memory (MiB)", MEMORY_MIB_MIN, MEMORY_MIB_MAX),
        keep: o.keep !== false, verifyOnly: o.verifyOnly === true,
      });
    });
  return p;
}

function readVersion(): string {
  try {
    return (JSON.parse(nodefs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/**
 * Runs the CLI with `argv` (without node and the script). Returns the exit code; prints
 * results on stdout and, on failure, exactly one line `helix: <message>` on stderr.
 */
export async function main(argv: string[]): Promise<number> {
  const status = { code: 0 };
  quietEpipe();
  try {
    if (argv.length === 0) throw new UsageError("missing command (try 'helix --help')");
    setProgramName(`helix ${argv[0]}`.slice(0, 32)); // names this process in the MMP blocks it writes
    await program(status).parseAsync(argv, { from: "user" });
    return status.code;
  } catch (err) {
    return report(err);
  }
}

/** Prints the one error line for `err` (and its stack with HELIX_DEBUG=1); returns the exit code. */
export function report(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
    process.stderr.write(`helix: ${oneLine(err.message.replace(/^error: /, ""))}\n`);
    return 2;
  }
  const code = err instanceof CliError ? err.exitCode : 1;
  process.stderr.write(`helix: ${errorMessage(err)}\n`);
  if (process.env.HELIX_DEBUG === "1" && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
  return code;
}

