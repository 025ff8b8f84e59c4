// host/cli/snapshot.ts -- `helix snapshot create|list|delete|rollback|diff IMAGE ...`: the
// snapshots and clones of an image (issue 14), over kernel.snapshots (host/vmm/snapshots.ts).
//
// Layer: CLI (Node), above host/cli/session.ts. Interface: one cmd* function per subcommand,
// each taking the image, its operands, parsed kernel options and the output function; each
// returns the exit code. main.ts wires them into commander.
// Rules (those of main.ts):
//  - a failure is ONE line `helix: IMAGE: <what failed> (<why>)` and exit 1; a bad snapshot
//    name is a usage error (exit 2) caught before the image is booted;
//  - the kernel is always unmounted before a command returns (withSession);
//  - `delete` waits until the background free has finished (every block back in the free
//    space) before it unmounts, so what it prints as freed is free when it exits;
//  - sizes are human sizes as `df -h` prints them (1024-based, rounded up); times local.

import { KernelError, type SnapshotDiff, type SnapshotInfo } from "../vmm/kernel.js";
import { checkSnapshotName } from "../vmm/snapshots.js";
import { CliError, UsageError, formatTid, humanSize, shortTime, table, BLOCK_SIZE } from "../shell/format.js";
import { withSession, type KernelOptions, type Session } from "./session.js";

/** Where a command writes its results (main.ts's print: quiet once stdout's reader is gone). */
export type Print = (s: string) => void;

/** Throws UsageError (exit 2) when `name` is not a valid snapshot name. */
export function checkNameArg(name: string): void {
  const why = checkSnapshotName(name);
  if (why !== null) throw new UsageError(`bad snapshot name '${name}': ${why}`);
}

/** Runs `fn` on a session of `image`; a KernelError becomes a one-line CliError naming the image. */
function onImage<T>(image: string, kopts: KernelOptions, fn: (s: Session) => T): T {
  return withSession(image, kopts, (s) => {
    try {
      return fn(s);
    } catch (err) {
      if (err instanceof KernelError) throw new CliError(`${image}: ${err.message}`);
      throw err;
    }
  });
}

/** `helix snapshot create IMAGE NAME [--writable]`. */
export function cmdSnapshotCreate(image: string, name: string, o: { writable?: boolean }, kopts: KernelOptions, print: Print): number {
  checkNameArg(name);
  const made = onImage(image, kopts, (s) => s.k.snapshots.create(name, { writable: o.writable === true }));
  if (made.writable) print(`created clone '${made.name}' (id ${made.id}) of snapshot '${made.name}@origin', transaction ${formatTid(made.tid)}\n`);
  else print(`created snapshot '${made.name}' (id ${made.id}), transaction ${formatTid(made.tid)}, ${humanSize(made.referencedBytes)} referenced\n`);
  return 0;
}

/** The list as JSON: numbers as numbers, ctime as ISO text and ns (a decimal string: beyond 2^53). */
export function snapshotsJson(list: SnapshotInfo[]): string {
  const byId = new Map(list.map((s) => [s.id, s.name]));
  return JSON.stringify(list.map((s) => ({
    name: s.name, id: s.id, tid: s.tid, created: s.ctime.toISOString(), ctimeNs: s.ctimeNs.toString(),
    type: s.writable ? "clone" : "snapshot", origin: s.origin === 0 ? null : byId.get(s.origin) ?? s.origin,
    mounted: s.mounted, deleting: s.deleting,
    referencedBytes: s.referencedBytes, exclusiveBytes: s.exclusiveBytes, sharedBytes: s.sharedBytes,
  })), null, 2) + "\n";
}

/**
 * The list as a table (zfs list -t snapshot): name, id, created (local time), transaction,
 * referenced, exclusive (what deleting it frees) and shared bytes; a clone's origin.
 */
export function snapshotsTable(list: SnapshotInfo[]): string {
  if (list.length === 0) return "no snapshots\n";
  const byId = new Map(list.map((s) => [s.id, s.name]));
  const rows = list.map((s) => [
    s.name + (s.mounted ? " *" : ""), s.id, shortTime(s.ctime.getTime()), formatTid(s.tid),
    humanSize(s.referencedBytes), humanSize(s.exclusiveBytes), humanSize(s.sharedBytes),
    s.writable ? `clone of ${byId.get(s.origin) ?? `#${s.origin}`}` : s.deleting ? "deleting" : "snapshot",
  ]);
  return table(rows, ["NAME", "ID", "CREATED", "TID", "REFER", "EXCL", "SHARED", "TYPE"])+ "\n";
}

/** `helix snapshot list IMAGE [--json]`. */
export function cmdSnapshotList(image: string, o: { json?: boolean }, kopts: KernelOptions, print: Print): number {
  const list = onImage(image, kopts, (s) => s.k.snapshots.list());
  print(o.json ? snapshotsJson(list) : snapshotsTable(list));
  return 0;
}

/** `helix snapshot delete IMAGE NAME`: deletes, waits for the background free, says what it freed. */
export function cmdSnapshotDelete(image: string, name: string, kopts: KernelOptions, print: Print): number {
  checkNameArg(name);
  const r = onImage(image, kopts, (s) => s.k.snapshots.delete(name, { wait: true }));
  const what = r.snapshot.writable ? "clone" : "snapshot";
  const also = r.alsoDeleted.length > 0 ? ` and its origin ${r.alsoDeleted.map((n) => `'${n}'`).join(", ")}` : "";
  print(`deleted ${what} '${name}' (id ${r.snapshot.id})${also}: freed ${humanSize(r.freedBytes)} (${r.freedBytes / BLOCK_SIZE} blocks)\n`);
  return 0;
}

/** `helix snapshot rollback IMAGE NAME`. */
export function cmdSnapshotRollback(image: string, name: string, kopts: KernelOptions, print: Print): number {
  checkNameArg(name);
  const tid = onImage(image, kopts, (s) => {
    s.k.snapshots.rollback(name);
    // the old live tree's blocks go back to the free space before the image is released
    s.k.snapshots.waitIdle();
    return s.k.snapshots.get(name).tid;
  });
  print(`rolled back to snapshot '${name}' (transaction ${formatTid(tid)})\n`);
  return 0;
}

/** One line per change, as `zfs diff` prints them: `+ /p`, `- /p`, `M /p`, `R /old -> /new`. */
export function diffLines(d: SnapshotDiff): string {
  const mark = { created: "+", deleted: "-", modified: "M", renamed: "R" } as const;
  return d.changes.map((c) => c.kind === "renamed" ? `R ${c.path} -> ${c.to}\n` : `${mark[c.kind]} ${c.path}\n`).join("");
}

/** `helix snapshot diff IMAGE A [B] [--stats]` (B omitted: the live filesystem). */
export function cmdSnapshotDiff(image: string, a: string, b: string | undefined, o: { stats?: boolean }, kopts: KernelOptions, print: Print): number {
  checkNameArg(a);
  if (b !== undefined) checkNameArg(b);
  const d = onImage(image, kopts, (s) => s.k.snapshots.diff(a, b ?? null));
  print(diffLines(d));
  if (o.stats) {
    const pct = d.nodesTotal > 0 ? ((100 * d.nodesRead) / d.nodesTotal).toFixed(2) : "0.00";
    print(`${d.changes.length} change(s); read ${d.nodesRead} of ${d.nodesTotal} tree nodes (${pct}%)\n`);
  }
  return 0;
}
