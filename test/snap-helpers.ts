// test/snap-helpers.ts -- helpers of the snapshot tests (issue 14 §3): the raw snapshot syscalls,
// a whole-tree model of a filesystem, and read-only views of a snapshot.
//
// Layer: tests, over host/crash/snapsys.ts (raw exports, raw results; not the friendly
// kernel.snapshots API, which the tests must not depend on) and host/vmm/kernel.ts.
// Interface: Tree / TNode (path -> node), readTree(fs), cloneTree, diffTrees, openView.
// Rules: a Tree holds everything the tests promise a snapshot keeps: each path's type, a file's
// bytes, permission bits (mode & 0o7777) of files and directories, a symlink's target, and the
// extended attributes of files and directories (as name -> hex of the value); timestamps and
// inode numbers are not compared (a snapshot keeps them, but the model does not predict them).

import type { MemoryBackend, BlockBackend } from "../host/vmm/blockdev.js";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { SnapCalls, ReadOnlyView, KeepOpen } from "../host/crash/snapsys.js";

export { SnapCalls, ReadOnlyView, KeepOpen };

/** Linux errno numbers the snapshot tests expect. */
export const ENOENT = 2, EBUSY = 16, EEXIST = 17, EINVAL = 22, ENOSPC = 28, EROFS = 30, ENOTEMPTY = 39, EOPNOTSUPP = 95;
/** Memory of a view kernel in MiB (views only read a small tree). */
export const VIEW_MEMORY_MIB = 32;

/** One object of a tree. */
export type TNode =
  | { kind: "file"; data: Uint8Array; mode: number; xattrs: Map<string, string> }
  | { kind: "dir"; mode: number; xattrs: Map<string, string> }
  | { kind: "link"; target: string };
/** A whole filesystem: absolute path -> object ("/" included). */
export type Tree = Map<string, TNode>;

/** The fs calls readTree needs (HelixFs fits). */
export interface TreeFs {
  readdirSync(p: string): string[];
  lstatSync(p: string): { mode: number; isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean };
  readFileSync(p: string): Uint8Array;
  readlinkSync(p: string): string;
  listxattrSync(p: string): string[];
  getxattrSync(p: string, name: string): Uint8Array;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
}

/** `dir` + "/" + `name` without doubling the root's slash. */
export function join(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** Reads every object reachable from "/" of `fs` into a Tree. Throws what the fs throws. */
export function readTree(fs: TreeFs): Tree {
  const t: Tree = new Map();
  const xattrs = (p: string) => new Map(fs.listxattrSync(p).map((n) => [n, hex(fs.getxattrSync(p, n))] as [string, string]));
  const visit = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      t.set(p, { kind: "dir", mode: st.mode & 0o7777, xattrs: xattrs(p) });
      for (const n of fs.readdirSync(p)) visit(join(p, n));
    } else if (st.isSymbolicLink()) {
      t.set(p, { kind: "link", target: fs.readlinkSync(p) });
    } else if (st.isFile()) {
      t.set(p, { kind: "file", data: new Uint8Array(fs.readFileSync(p)), mode: st.mode & 0o7777, xattrs: xattrs(p) });
    } else {
      throw new Error(`readTree: ${p} is neither a file, a directory nor a symlink (mode ${st.mode.toString(8)})`);
    }
  };
  visit("/");
  return t;
}

/** A deep copy of `t` (file bytes and xattr maps copied). */
export function cloneTree(t: Tree): Tree {
  const out: Tree = new Map();
  for (const [p, n] of t) {
    if (n.kind === "file") out.set(p, { kind: "file", data: n.data.slice(), mode: n.mode, xattrs: new Map(n.xattrs) });
    else if (n.kind === "dir") out.set(p, { kind: "dir", mode: n.mode, xattrs: new Map(n.xattrs) });
    else out.set(p, { kind: "link", target: n.target });
  }
  return out;
}

function xattrText(m: Map<string, string>): string {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, v]) => `${n}=${v.length > 40 ? v.slice(0, 40) + "..." : v}`).join(",");
}

/** The first difference between `want` and `got` as one line ("" when they are equal). */
export function diffTrees(want: Tree, got: Tree): string {
  for (const [p, w] of [...want].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const g = got.get(p);
    if (g === undefined) return `${p}: missing (expected a ${w.kind})`;
    if (g.kind !== w.kind) return `${p}: a ${g.kind}, expected a ${w.kind}`;
    if (w.kind === "link") { if (w.target !== (g as typeof w).target) return `${p}: target '${(g as typeof w).target}', expected '${w.target}'`; continue; }
    const gg = g as typeof w;
    if (w.mode !== gg.mode) return `${p}: mode ${gg.mode.toString(8)}, expected ${w.mode.toString(8)}`;
    if (xattrText(w.xattrs) !== xattrText(gg.xattrs)) return `${p}: xattrs [${xattrText(gg.xattrs)}], expected [${xattrText(w.xattrs)}]`;
    if (w.kind === "file") {
      const gd = (gg as typeof w).data;
      if (gd.length !== w.data.length) return `${p}: ${gd.length} bytes, expected ${w.data.length}`;
      for (let i = 0; i < gd.length; i++) if (gd[i] !== w.data[i]) return `${p}: byte ${i} is 0x${gd[i].toString(16)}, expected 0x${w.data[i].toString(16)}`;
    }
  }
  for (const p of got.keys()) if (!want.has(p)) return `${p}: present (a ${got.get(p)!.kind}), expected absent`;
  return "";
}

/**
 * A kernel that mounts snapshot `name` of `dev` read-only. `norecovery`: the live kernel is
 * still running on `dev` (it must have called sys_sync): the view mounts a ReadOnlyView with
 * MNT_RDONLY|MNT_NORECOVERY, as SNAPSHOT_ABI.md says a host opens a view; otherwise `dev`
 * holds an unmounted image and the view mounts it the ordinary way (a snapshot mounts
 * read-only by itself). Throws Error naming the errno when the kernel refuses.
 */
export function openView(dev: BlockBackend, name: string, norecovery: boolean): Kernel {
  // the raw sys_mount_snapshot, then Kernel.mount() (MNT_RDONLY|MNT_NORECOVERY with `norecovery`)
  const k = bootWith({ device: norecovery ? new ReadOnlyView(dev) : new KeepOpen(dev), module: kernelModule(true), memoryMiB: VIEW_MEMORY_MIB, noMount: true, norecovery });
  try {
    const r = new SnapCalls(k).mountSnapshot(name);
    if (r !== 0) throw new Error(`sys_mount_snapshot('${name}') = ${r}`);
    k.mount();
  } catch (e) {
    try { k.shutdown(); } catch { /* already failing */ }
    throw e;
  }
  return k;
}

/** Reads snapshot `name` of `dev` through a view kernel (see openView) and closes the view. */
export function readSnapshot(dev: BlockBackend, name: string, norecovery: boolean): Tree {
  const v = openView(dev, name, norecovery);
  try {
    return readTree(v.fs as unknown as TreeFs);
  } finally {
    v.shutdown();
  }
}

/**
 * kernel_info's snapshot counters (assembly/fs/inspect.ts fields 70..72, past Kernel.info()'s
 * INFO_FIELDS on this branch): records (snapshots, clones, deletes in progress), blocks held
 * only by snapshots (the dead lists), and whether background work is pending.
 */
export function snapInfo(k: Kernel): { count: number; deadBlocks: number; pending: number } {
  const out = (k.callExport("kernel_args") as number) + 8192;
  const n = k.callExport("kernel_info", out) as number;
  if (n < 73) throw new Error(`kernel_info wrote ${n} fields: no snapshot counters`);
  const dv = new DataView((k as unknown as { x: { memory: WebAssembly.Memory } }).x.memory.buffer);
  const f = (i: number) => Number(dv.getBigUint64(out + 8 * i, true));
  return { count: f(70), deadBlocks: f(71), pending: f(72) };
}

/** Boots the debug kernel on `dev` kept open across shutdowns (the tests reboot it). */
export function bootKept(dev: MemoryBackend, memoryMiB = 64): Kernel {
  return bootWith({ device: new KeepOpen(dev), module: kernelModule(true), memoryMiB });
}
