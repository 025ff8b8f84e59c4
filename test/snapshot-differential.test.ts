// test/snapshot-differential.test.ts -- issue 14 §3 "Differential": a seeded random workload of
// file and directory operations interleaved with snapshot create / delete / rollback, checked
// against a model that keeps a full copy of the tree at each snapshot.
//
// Layer: integration tests over the debug kernel on a memory device, raw snapshot syscalls
// (test/snap-helpers.ts; not the host's kernel.snapshots API).
// The model: `live` (a Tree: path -> bytes, mode, symlink target, xattrs) and, per snapshot in
// creation order, its name and a copy of `live` taken when it was created. Every operation is
// chosen valid on the model (so any error from the kernel is a failure), except the snapshot
// error cases, whose errno the model predicts (EEXIST, ENOENT, ENOTEMPTY, EINVAL). Rollback
// makes `live` a copy of the snapshot's tree. Checked:
//  - after every step: the live filesystem reads back exactly `live`, the snapshot list shows
//    the model's names in creation order, and fsck is clean;
//  - every CHECK_EVERY steps and after each snapshot operation: every live snapshot reads back
//    exactly its copy through a read-only view beside the running kernel (sys_sync, then a
//    second kernel with sys_mount_snapshot + MNT_RDONLY|MNT_NORECOVERY);
//  - at a reboot (shutdown, then boot again on the same image): every snapshot read through a
//    view that mounts the unmounted image the ordinary way, then the live tree and the list;
//  - at a power cut (sys_sync, then a new kernel on a copy of the device, the old one dropped
//    without unmounting): fsck first (background work the cut interrupted is still pending),
//    then the usual checks;
//  - right after a rollback, before any other call: the list shows exactly the snapshots;
//  - writable clones: `<clone>@origin` and the clone are listed (WRITABLE, origin id); at a
//    clone mount (the live kernel shut down) a few file operations change the clone against
//    its own model (fsck after each), a snapshot of it is EOPNOTSUPP; the origin cannot be
//    deleted while the clone exists (EBUSY), a clone cannot be rolled back to (EINVAL), and
//    deleting a clone deletes its own origin; views of clones are checked like snapshots.
// Seeds: SEEDS_CI in `npm test`; HELIX_SNAP_SEEDS=N runs seeds 1..N (HELIX_SNAP_STEPS=S steps).

import { describe, it, expect } from "vitest";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { SNAP_WRITABLE, SNAPF_WRITABLE, SNAPF_MOUNTED } from "../host/crash/snapsys.js";
import { Rng } from "../host/crash/rng.js";
import { freshDevice, bytesOf, MiB } from "./helpers.js";
import {
  SnapCalls, KeepOpen, readTree, cloneTree, diffTrees, readSnapshot, bootKept, join, hex,
  EBUSY, EEXIST, EINVAL, ENOENT, ENOTEMPTY, EOPNOTSUPP, type Tree, type TreeFs,
} from "./snap-helpers.js";

/** Seeds and steps per seed in `npm test` (about 20-40 s in all on the debug kernel). */
const SEEDS_CI = 6;
const STEPS_CI = 160;
const SEEDS = Number(process.env.HELIX_SNAP_SEEDS ?? SEEDS_CI);
const STEPS = Number(process.env.HELIX_SNAP_STEPS ?? STEPS_CI);
/** Snapshots are read back through views every this many steps (and after snapshot operations). */
const CHECK_EVERY = 12;
/** Most snapshots the workload keeps at once (each view check boots one kernel per snapshot). */
const LIVE_SNAPSHOTS_MAX = 5;
/** Deepest directory the workload makes (levels below "/"). */
const DEPTH_MAX = 3;
/** Largest file the workload grows (bytes): keeps each step's reads cheap. */
const FILE_MAX = 96 * 1024;
/** Names the workload draws from in each directory. */
const NAMES = ["a", "b", "c", "d", "e"];
const XATTR_NAMES = ["user.x0", "user.x1", "user.x2"];
/** Most objects the model holds (bulk creates stop there): a tree of several levels, read every step. */
const OBJECTS_MAX = 700;
/** Files one bulk create makes (small: names and inodes, so the fs trees grow levels). */
const BULK_MIN = 40, BULK_MAX = 160;
/** HelixFs's default umask: files are created 0o666 & ~umask, directories 0o777 & ~umask. */
const FILE_MODE = 0o644, DIR_MODE = 0o755;

/**
 * One record of the list, in creation order: a snapshot, a writable clone (its tree changes
 * when the clone is mounted and written) or the origin snapshot made with a clone
 * (`<clone>@origin`, which cannot be deleted while its clone exists).
 */
interface SnapModel { name: string; id: number; tree: Tree; kind: "snap" | "clone" | "origin"; clone?: string }
interface Model { live: Tree; snaps: SnapModel[]; next: number }

/** One run: the kernel, its device and the log of steps (for failure messages). */
class Run {
  k: Kernel;
  dev: MemoryBackend;
  readonly calls: () => SnapCalls;
  readonly log: string[] = [];
  readonly m: Model;
  rng: Rng;
  /** Figures for the long run's report. */
  stats = { steps: 0, snapCreates: 0, snapDeletes: 0, rollbacks: 0, clones: 0, cloneMounts: 0, reboots: 0, cuts: 0, views: 0, errorsChecked: 0 };

  constructor(readonly seed: number, dev: MemoryBackend) {
    this.dev = dev;
    this.rng = new Rng(seed);
    this.k = bootKept(dev);
    this.calls = () => new SnapCalls(this.k);
    this.m = { live: readTree(this.fs()), snaps: [], next: 1 };
  }

  fs(): TreeFs & Kernel["fs"] { return this.k.fs as unknown as TreeFs & Kernel["fs"]; }

  fail(what: string): never {
    throw new Error(`seed ${this.seed}, step ${this.stats.steps}: ${what}\n  last steps: ${this.log.slice(-8).join(" | ")}`);
  }

  pick<T>(xs: T[]): T { return xs[this.rng.below(xs.length)]; }

  paths(kind: "file" | "dir" | "link" | "any"): string[] {
    return [...this.m.live.keys()].filter((p) => p !== "/" && (kind === "any" || this.m.live.get(p)!.kind === kind));
  }

  /** A path that does not exist yet, in an existing directory (depth-limited), or null. */
  freshPath(forDir: boolean): string | null {
    const dirs = ["/", ...this.paths("dir")].filter((d) => (d === "/" ? 0 : d.split("/").length - 1) < (forDir ? DEPTH_MAX : DEPTH_MAX + 1));
    for (let tries = 0; tries < 8; tries++) {
      const p = join(this.pick(dirs), this.pick(NAMES));
      if (!this.m.live.has(p)) return p;
    }
    return null;
  }

  // ---- file and directory operations (valid on the model) -------------------------------

  create(): void {
    const p = this.freshPath(false);
    if (!p) return;
    const data = bytesOf(this.rng.next(), this.rng.below(6000));
    this.log.push(`create ${p} ${data.length}`);
    this.fs().writeFileSync(p, data);
    this.m.live.set(p, { kind: "file", data, mode: FILE_MODE, xattrs: new Map() });
  }

  write(): void {
    const files = this.paths("file");
    if (files.length === 0) return this.create();
    const p = this.pick(files);
    const f = this.m.live.get(p) as { kind: "file"; data: Uint8Array };
    const off = this.rng.below(Math.min(f.data.length + 8192, FILE_MAX));
    const len = 1 + this.rng.below(Math.min(16384, FILE_MAX - off));
    const data = bytesOf(this.rng.next(), len);
    this.log.push(`write ${p} @${off} +${len}`);
    const fd = this.fs().openSync(p, "r+");
    try { this.fs().writeSync(fd, data, 0, len, off); } finally { this.fs().closeSync(fd); }
    const n = new Uint8Array(Math.max(f.data.length, off + len));
    n.set(f.data);
    n.set(data, off);
    f.data = n;
  }

  truncate(): void {
    const files = this.paths("file");
    if (files.length === 0) return;
    const p = this.pick(files);
    const f = this.m.live.get(p) as { kind: "file"; data: Uint8Array };
    const len = this.rng.below(Math.min(FILE_MAX, f.data.length * 2 + 5000));
    this.log.push(`truncate ${p} ${len}`);
    this.fs().truncateSync(p, len);
    const n = new Uint8Array(len);
    n.set(f.data.subarray(0, len));
    f.data = n;
  }

  unlink(): void {
    const xs = [...this.paths("file"), ...this.paths("link")];
    if (xs.length === 0) return;
    const p = this.pick(xs);
    this.log.push(`unlink ${p}`);
    this.fs().unlinkSync(p);
    this.m.live.delete(p);
  }

  mkdir(): void {
    const p = this.freshPath(true);
    if (!p) return;
    this.log.push(`mkdir ${p}`);
    this.fs().mkdirSync(p);
    this.m.live.set(p, { kind: "dir", mode: DIR_MODE, xattrs: new Map() });
  }

  rmdir(): void {
    const empty = this.paths("dir").filter((d) => !this.paths("any").some((p) => p.startsWith(d + "/")));
    if (empty.length === 0) return;
    const p = this.pick(empty);
    this.log.push(`rmdir ${p}`);
    this.fs().rmdirSync(p);
    this.m.live.delete(p);
  }

  /** rename to a fresh path, or a file over another file. */
  rename(): void {
    const src = this.paths("any");
    if (src.length === 0) return;
    const from = this.pick(src);
    const node = this.m.live.get(from)!;
    let to: string | null;
    if (node.kind === "file" && this.rng.below(3) === 0 && this.paths("file").length > 1) {
      to = this.pick(this.paths("file").filter((p) => p !== from));
    } else {
      to = this.freshPath(node.kind === "dir");
      if (to !== null && node.kind === "dir" && (to === from || to.startsWith(from + "/"))) to = null;
      if (to !== null && node.kind === "dir") {
        const depth = (p: string) => p.split("/").length - 1;
        const deepest = Math.max(...this.paths("any").filter((p) => p === from || p.startsWith(from + "/")).map((p) => depth(p) - depth(from)));
        if (depth(to) + deepest > DEPTH_MAX + 1) to = null;
      }
    }
    if (to === null) return;
    this.log.push(`rename ${from} ${to}`);
    this.fs().renameSync(from, to);
    const moved: [string, (typeof node)][] = [];
    for (const [p, n] of this.m.live) if (p === from || p.startsWith(from + "/")) moved.push([p, n]);
    for (const [p] of moved) this.m.live.delete(p);
    for (const [p, n] of moved) this.m.live.set(to + p.slice(from.length), n);
  }

  /** A new directory of many small files: the inode, dirent and xattr trees split into levels. */
  bulk(): void {
    if (this.m.live.size > OBJECTS_MAX - BULK_MAX) return this.unbulk();
    const d = this.freshPath(true);
    if (!d) return;
    const n = BULK_MIN + this.rng.below(BULK_MAX - BULK_MIN);
    this.log.push(`bulk ${d} ${n}`);
    this.fs().mkdirSync(d);
    this.m.live.set(d, { kind: "dir", mode: DIR_MODE, xattrs: new Map() });
    for (let i = 0; i < n; i++) {
      const p = `${d}/file-with-a-longer-name-${i}`;
      const data = bytesOf(this.rng.next(), this.rng.below(700));
      this.fs().writeFileSync(p, data);
      const xattrs = new Map<string, string>();
      if (i % 3 === 0) { const v = bytesOf(i + 1, 20); this.fs().setxattrSync(p, "user.b", v); xattrs.set("user.b", hex(v)); }
      this.m.live.set(p, { kind: "file", data, mode: FILE_MODE, xattrs });
    }
  }

  /** rm -r of a directory (with everything below it). */
  unbulk(): void {
    const dirs = this.paths("dir");
    if (dirs.length === 0) return;
    const d = this.pick(dirs);
    this.log.push(`rm -r ${d}`);
    this.fs().rmSync(d, { recursive: true, force: false });
    for (const p of [...this.m.live.keys()]) if (p === d || p.startsWith(d + "/")) this.m.live.delete(p);
  }

  symlink(): void {
    const p = this.freshPath(false);
    if (!p) return;
    const target = this.pick(["a", "../b/c", "/x/y/z", "d".repeat(1 + this.rng.below(300))]);
    this.log.push(`symlink ${target.slice(0, 20)} ${p}`);
    this.fs().symlinkSync(target, p);
    this.m.live.set(p, { kind: "link", target });
  }

  chmod(): void {
    const xs = [...this.paths("file"), ...this.paths("dir")];
    if (xs.length === 0) return;
    const p = this.pick(xs);
    const mode = this.rng.below(0o1000);
    this.log.push(`chmod ${p} ${mode.toString(8)}`);
    this.fs().chmodSync(p, mode);
    (this.m.live.get(p) as { mode: number }).mode = mode;
  }

  xattr(): void {
    const xs = ["/", ...this.paths("file"), ...this.paths("dir")];
    const p = this.pick(xs);
    const node = this.m.live.get(p) as { xattrs: Map<string, string> };
    const name = this.pick(XATTR_NAMES);
    if (node.xattrs.has(name) && this.rng.below(3) === 0) {
      this.log.push(`removexattr ${p} ${name}`);
      this.fs().removexattrSync(p, name);
      node.xattrs.delete(name);
      return;
    }
    const value = bytesOf(this.rng.next(), this.rng.below(300));
    this.log.push(`setxattr ${p} ${name} ${value.length}`);
    this.fs().setxattrSync(p, name, value);
    node.xattrs.set(name, hex(value));
  }

  // ---- snapshot operations ------------------------------------------------------------------

  snapCreate(): void {
    if (this.m.snaps.length >= LIVE_SNAPSHOTS_MAX) return this.snapDelete();
    const name = `s${this.m.next++}`;
    this.log.push(`snap-create ${name}`);
    const id = this.calls().create(name);
    if (id <= 0) this.fail(`sys_snapshot_create('${name}') = ${id}`);
    const last = this.m.snaps[this.m.snaps.length - 1];
    if (last && id <= last.id) this.fail(`snapshot ids must grow: '${name}' got ${id} after ${last.id}`);
    this.m.snaps.push({ name, id, tree: cloneTree(this.m.live), kind: "snap" });
    this.stats.snapCreates++;
  }

  /** A writable clone: records `<name>@origin` (a snapshot) and the clone, both of the live tree. */
  cloneCreate(): void {
    if (this.m.snaps.length >= LIVE_SNAPSHOTS_MAX - 1) return this.snapDelete();
    const name = `c${this.m.next++}`;
    this.log.push(`clone-create ${name}`);
    const id = this.calls().create(name, SNAP_WRITABLE);
    if (id <= 0) this.fail(`sys_snapshot_create('${name}', WRITABLE) = ${id}`);
    const info = this.calls().list();
    const origin = info.find((x) => x.name === `${name}@origin`), clone = info.find((x) => x.name === name);
    if (!origin || !clone || clone.id !== id || (clone.flags & SNAPF_WRITABLE) === 0 || clone.origin !== origin.id) {
      this.fail(`after creating clone '${name}' (id ${id}) the list is ${JSON.stringify(info.map((x) => [x.id, x.name, x.flags, x.origin]))}`);
    }
    this.m.snaps.push({ name: `${name}@origin`, id: origin.id, tree: cloneTree(this.m.live), kind: "origin", clone: name });
    this.m.snaps.push({ name, id, tree: cloneTree(this.m.live), kind: "clone" });
    this.stats.clones++;
  }

  /**
   * Shutdown, mount a clone read-write, change it with a few file operations (checked against
   * its own model), then boot the live filesystem again: the live tree and every other record
   * must not have seen any of it. A snapshot of a mounted clone is refused (EOPNOTSUPP).
   */
  cloneWrite(): void {
    const clones = this.m.snaps.filter((x) => x.kind === "clone");
    if (clones.length === 0) return this.cloneCreate();
    const c = this.pick(clones);
    this.log.push(`clone-mount ${c.name}`);
    this.k.shutdown();
    const saved = this.m.live;
    const ck = bootWith({ device: new KeepOpen(this.dev), module: kernelModule(true), memoryMiB: 64, noMount: true });
    try {
      if (new SnapCalls(ck).mountSnapshot(c.name) !== 0) this.fail(`sys_mount_snapshot('${c.name}')`);
      ck.mount();
      this.k = ck;
      this.m.live = c.tree;
      const r = this.calls().create("on-a-clone");
      if (r !== -EOPNOTSUPP) this.fail(`a snapshot of mounted clone '${c.name}' = ${r}, expected -EOPNOTSUPP`);
      const mounted = this.calls().list().find((x) => x.name === c.name);
      if (!mounted || (mounted.flags & SNAPF_MOUNTED) === 0) this.fail(`clone '${c.name}' is not listed as MOUNTED on its own mount`);
      const ops = [() => this.create(), () => this.write(), () => this.truncate(), () => this.unlink(), () => this.mkdir(), () => this.rename(), () => this.xattr(), () => this.chmod(), () => this.symlink()];
      for (let i = 0, n = 2 + this.rng.below(5); i < n; i++) {
        this.pick(ops)();
        const d = diffTrees(this.m.live, readTree(this.fs()));
        if (d) this.fail(`clone '${c.name}' differs from its model: ${d}`);
        this.checkFsck();
      }
      c.tree = this.m.live;
    } finally {
      this.m.live = saved;
      ck.shutdown();
      this.k = bootKept(this.dev);
    }
    this.stats.cloneMounts++;
  }

  snapDelete(): void {
    if (this.m.snaps.length === 0) return this.snapCreate();
    const i = this.rng.below(this.m.snaps.length);
    const { name, kind, clone } = this.m.snaps[i];
    const busy = kind === "origin" && this.m.snaps.some((x) => x.name === clone);
    this.log.push(`snap-delete ${name}${busy ? " (origin of a clone: EBUSY)" : ""}`);
    const r = this.calls().delete(name);
    if (busy) {
      if (r !== -EBUSY) this.fail(`sys_snapshot_delete('${name}'), the origin of clone '${clone}', = ${r}, expected -EBUSY`);
      this.stats.errorsChecked++;
      return;
    }
    if (r !== 0) this.fail(`sys_snapshot_delete('${name}') = ${r}`);
    this.m.snaps.splice(i, 1);
    // a clone's own origin (made with it, no other clone) goes with it (fs/snapshot.ts delete_own_origin)
    if (kind === "clone") this.m.snaps = this.m.snaps.filter((x) => !(x.kind === "origin" && x.clone === name));
    this.stats.snapDeletes++;
    // sometimes wait for the background free, sometimes leave it to later steps and the mount
    if (this.rng.below(2) === 0) {
      const b = this.calls().workAll(1 + this.rng.below(16));
      if (b < 0) this.fail(`sys_snapshot_work = ${b}`);
    }
  }

  /** Rollback to the newest snapshot (valid); an older one must fail ENOTEMPTY. */
  rollback(): void {
    if (this.m.snaps.length === 0) return this.snapCreate();
    const i = this.rng.below(this.m.snaps.length);
    const { name, tree, kind } = this.m.snaps[i];
    if (kind === "clone") {
      this.log.push(`rollback ${name} (a clone: EINVAL)`);
      const r = this.calls().rollback(name);
      if (r !== -EINVAL) this.fail(`sys_snapshot_rollback('${name}') of a clone = ${r}, expected -EINVAL`);
      this.stats.errorsChecked++;
      return;
    }
    // newest among the snapshots (origins included; a clone is not a newer snapshot)
    const newest = !this.m.snaps.slice(i + 1).some((x) => x.kind !== "clone");
    this.log.push(`rollback ${name}${newest ? "" : " (older: ENOTEMPTY)"}`);
    const r = this.calls().rollback(name);
    if (newest) {
      if (r !== 0) this.fail(`sys_snapshot_rollback('${name}') = ${r}`);
      this.m.live = cloneTree(tree);
      this.stats.rollbacks++;
      // straight away, before other calls do background work: the list is still the snapshots
      const names = this.calls().names();
      if (names.join(",") !== this.m.snaps.map((x) => x.name).join(",")) this.fail(`right after rollback '${name}' the snapshot list is [${names.map((n) => `'${n}'`)}], expected [${this.m.snaps.map((x) => `'${x.name}'`)}]`);
    } else {
      if (r !== -ENOTEMPTY) this.fail(`sys_snapshot_rollback('${name}') with newer snapshots = ${r}, expected -ENOTEMPTY`);
      this.stats.errorsChecked++;
    }
  }

  /** A snapshot call the model says must fail, with the errno it must fail with. */
  snapError(): void {
    const c = this.calls();
    const taken = this.m.snaps.length > 0 ? this.pick(this.m.snaps).name : null;
    const cases: [string, () => number, number][] = [
      ["create ''", () => c.create(""), -EINVAL],
      ["create 'a/b'", () => c.create("a/b"), -EINVAL],
      ["create '.'", () => c.create("."), -EINVAL],
      ["create '..'", () => c.create(".."), -EINVAL],
      ["create 256 bytes", () => c.create("n".repeat(256)), -EINVAL],
      ["delete 'nope'", () => c.delete("nope"), -ENOENT],
      ["rollback 'nope'", () => c.rollback("nope"), -ENOENT],
    ];
    if (taken) cases.push([`create '${taken}' (taken)`, () => c.create(taken), -EEXIST]);
    const [what, call, want] = this.pick(cases);
    this.log.push(`snap-error ${what}`);
    const r = call();
    if (r !== want) this.fail(`${what} = ${r}, expected ${want}`);
    this.stats.errorsChecked++;
  }

  /** A little background work at an arbitrary point (what an idle timer does). */
  work(): void {
    const b = this.rng.below(8);
    this.log.push(`work ${b}`);
    const r = this.calls().work(b);
    if (r < 0) this.fail(`sys_snapshot_work(${b}) = ${r}`);
  }

  /** Shutdown, read every snapshot from the unmounted image, boot again. */
  reboot(): void {
    this.log.push("reboot");
    this.k.shutdown();
    for (const s of this.m.snaps) this.checkSnapshot(s, false);
    this.k = bootKept(this.dev);
    this.stats.reboots++;
  }

  /**
   * A power cut after a sync: the device as it is (a memory device has no volatile cache, and
   * sys_sync left nothing dirty: the model is exactly what is on it), the kernel dropped
   * without unmounting, a new one booted on a copy. Background work the cut interrupted
   * resumes at mount; the step's checks run fsck before anything else does it.
   */
  cut(): void {
    this.log.push("power-cut");
    const r = this.k.callExport("sys_sync") as number;
    if (r !== 0) this.fail(`sys_sync = ${r}`);
    this.dev = new MemoryBackend(new Uint8Array(this.dev.bytes));
    this.k = bootKept(this.dev);
    this.checkFsck();
    this.stats.cuts++;
  }

  // ---- checks ---------------------------------------------------------------------------------

  checkLive(): void {
    const d = diffTrees(this.m.live, readTree(this.fs()));
    if (d) this.fail(`live filesystem differs from the model: ${d}`);
    const names = this.calls().names();
    const want = this.m.snaps.map((s) => s.name);
    if (names.join(",") !== want.join(",")) this.fail(`snapshot list [${names}], expected [${want}]`);
  }

  checkFsck(): void {
    const before = this.k.logLines.length;
    const n = this.k.fsck(true);
    if (n !== 0) this.fail(`fsck found ${n} problem(s): ${this.k.logLines.slice(before).filter((l) => l.startsWith("fsck")).slice(0, 4).join("; ")}`);
  }

  checkSnapshot(s: { name: string; tree: Tree }, beside: boolean): void {
    let got: Tree;
    try { got = readSnapshot(this.dev, s.name, beside); } catch (e) { this.fail(`snapshot '${s.name}' view: ${(e as Error).message}`); }
    this.stats.views++;
    const d = diffTrees(s.tree, got);
    if (d) this.fail(`snapshot '${s.name}' (${beside ? "beside the live kernel" : "after shutdown"}) differs from its copy: ${d}`);
  }

  checkSnapshotsBeside(): void {
    if (this.m.snaps.length === 0) return;
    const r = this.k.callExport("sys_sync") as number;
    if (r !== 0) this.fail(`sys_sync = ${r}`);
    for (const s of this.m.snaps) this.checkSnapshot(s, true);
  }

  /** One random step, then the checks. */
  step(): void {
    this.stats.steps++;
    const ops: [number, () => void][] = [
      [10, () => this.create()], [16, () => this.write()], [5, () => this.truncate()], [5, () => this.unlink()],
      [6, () => this.rename()], [5, () => this.mkdir()], [3, () => this.rmdir()], [4, () => this.symlink()],
      [4, () => this.chmod()], [6, () => this.xattr()], [1, () => this.bulk()], [1, () => this.unbulk()],
      [5, () => this.snapCreate()], [3, () => this.snapDelete()], [2, () => this.rollback()], [2, () => this.snapError()],
      [3, () => this.work()], [1, () => this.reboot()], [1, () => this.cut()],
      [1, () => this.cloneCreate()], [1, () => this.cloneWrite()],
    ];
    const total = ops.reduce((a, [w]) => a + w, 0);
    let x = this.rng.below(total);
    let fn = ops[0][1];
    for (const [w, f] of ops) { if (x < w) { fn = f; break; } x -= w; }
    const before = this.log.length;
    try { fn(); } catch (e) { if ((e as Error).message.startsWith(`seed ${this.seed},`)) throw e; this.fail(`${this.log[this.log.length - 1] ?? "?"}: ${(e as Error).message}`); }
    const op = this.log.length > before ? this.log[this.log.length - 1] : "";
    this.checkLive();
    this.checkFsck();
    if (this.stats.steps % CHECK_EVERY === 0 || /^(snap-|rollback|clone-)/.test(op)) this.checkSnapshotsBeside();
  }

  finish(): void {
    this.checkSnapshotsBeside();
    this.reboot();
    this.checkLive();
    this.checkFsck();
    // deleting everything and finishing the background work leaves a clean filesystem
    for (const s of [...this.m.snaps].reverse()) { // clones (and with them their origins) first
      if (!this.m.snaps.includes(s)) continue;
      this.m.snaps = this.m.snaps.filter((x) => x !== s && !(s.kind === "clone" && x.kind === "origin" && x.clone === s.name));
      const r = this.calls().delete(s.name);
      if (r !== 0) this.fail(`final delete '${s.name}' = ${r}`);
    }
    this.m.snaps = [];
    if (this.calls().workAll() < 0) this.fail("final work");
    this.checkLive();
    this.checkFsck();
    this.k.shutdown();
  }
}

function runSeed(seed: number, steps: number): Run["stats"] {
  const dev = freshDevice(32 * MiB);
  const run = new Run(seed, dev);
  try {
    for (let i = 0; i < steps; i++) run.step();
    run.finish();
  } catch (e) {
    try { run.k.shutdown(); } catch { /* already failing */ }
    throw e;
  }
  return run.stats;
}

describe("snapshots against a whole-tree model (differential)", () => {
  it(`${SEEDS} seeded workloads of ${STEPS} steps: live tree, every snapshot and fsck after every step and across reboots`, () => {
    const t0 = performance.now();
    const sum = { steps: 0, snapCreates: 0, snapDeletes: 0, rollbacks: 0, clones: 0, cloneMounts: 0, reboots: 0, cuts: 0, views: 0, errorsChecked: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const s = runSeed(seed, STEPS);
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += s[k];
    }
    const secs = (performance.now() - t0) / 1000;
    if (process.env.HELIX_SNAP_SEEDS) console.log(`snapshot differential: ${SEEDS} seeds x ${STEPS} steps in ${secs.toFixed(1)} s: ${JSON.stringify(sum)}`);
    // the workload did what it claims: snapshots were made, deleted, rolled back to and read
    expect(sum.snapCreates).toBeGreaterThan(SEEDS * 2);
    expect(sum.snapDeletes).toBeGreaterThan(SEEDS);
    expect(sum.rollbacks).toBeGreaterThan(0);
    expect(sum.reboots).toBeGreaterThan(0);
    expect(sum.cloneMounts).toBeGreaterThan(0);
    expect(sum.views).toBeGreaterThan(SEEDS * 5);
  });

  it("the model catches a snapshot that does not hold its copy (the checks have teeth)", () => {
    const dev = freshDevice(32 * MiB);
    const run = new Run(99, dev);
    try {
      run.fs().writeFileSync("/f", "one");
      run.m.live.set("/f", { kind: "file", data: new TextEncoder().encode("one"), mode: FILE_MODE, xattrs: new Map() });
      run.snapCreate();
      // a model that believes the snapshot saw a later write must be told it differs
      (run.m.snaps[0].tree.get("/f") as { data: Uint8Array }).data = new TextEncoder().encode("two");
      expect(() => run.checkSnapshotsBeside()).toThrow(/snapshot 's1' .* differs from its copy: \/f: byte 0/);
      // and a live tree that lost a file
      run.m.live.set("/g", { kind: "dir", mode: DIR_MODE, xattrs: new Map() });
      expect(() => run.checkLive()).toThrow(/\/g: missing/);
    } finally {
      run.k.shutdown();
    }
  });
});
