// host/crash/snapsys.ts -- the snapshot syscalls (issue 14, /work/wt/SNAPSHOT_ABI.md) as the crash
// checker and the snapshot tests call them: raw exports, raw results.
//
// Layer: crash role (portable: no node:*), over host/vmm/kernel.ts. Interface: SnapCalls(k)
// { create, list, delete, work, workAll, rollback, mountSnapshot }, decodeSnapInfo,
// snapshotFs(k) -> a WorkloadFs with the snapshot operations, ReadOnlyView.
// Rules:
//  - every call returns the kernel's number (>= 0 or -errno): the tests compare errnos, so
//    nothing here maps or throws (snapshotFs's methods throw errno-shaped Errors, as the
//    Node-shaped fs does, because the workload runner records `code`);
//  - names go into the argument area at ARG_PATH1 (kernel_args() + 0, as kernel.ts passes
//    paths), list records come back in the transfer buffer (kernel_xfer());
//  - this is deliberately independent of the friendly host API (`kernel.snapshots`, branch
//    snap-host): the crash oracle checks the kernel, not a wrapper of it. It reaches the
//    module's memory through the Kernel's private export table, the same way test/cred.test.ts
//    hands the kernel raw structs; once kernel.snapshots lands this can sit on top of it.

import type { Kernel } from "../vmm/kernel.js";
import type { BlockBackend } from "../vmm/blockdev.js";
import { BlockError } from "../vmm/blockdev.js";

// the ABI's numbers, from the host API's one definition of them
export { SNAPINFO_BYTES, SNAPSHOT_MAX, SNAPSHOT_NAME_MAX, SNAP_WRITABLE, SNAPF_WRITABLE, SNAPF_DELETING, SNAPF_MOUNTED } from "../vmm/snapshots.js";
import { SNAPINFO_BYTES, SNAPSHOT_MAX, SNAPF_DELETING } from "../vmm/snapshots.js";

/** Units of background work one workAll batch asks for. */
export const WORK_BATCH = 64;
/** workAll gives up after this many batches (a kernel that never reaches 0 is a bug, not a hang). */
export const WORK_BATCHES_MAX = 1_000_000;

/** One SNAPINFO record, decoded (byte sizes in bytes, ctime in ns since 1970). */
export interface SnapInfo {
  id: number;
  tid: number;
  ctimeNs: bigint;
  flags: number;
  name: string;
  referenced: number;
  exclusive: number;
  origin: number;
  shared: number;
}

/**
 * Decodes the SNAPINFO record at `at` of `dv`:
 *
 *    0 id u64 | 8 tid u64 | 16 ctime i64 | 24 flags u32 | 28 namelen u32 | 32 referenced u64 |
 *   40 exclusive u64 | 48 origin u64 | 56 shared u64 | 64 name[256] (namelen bytes, no NUL)
 *
 * Throws RangeError when namelen exceeds 256 (a record the ABI cannot produce).
 */
export function decodeSnapInfo(dv: DataView, at: number): SnapInfo {
  const u64 = (o: number) => Number(dv.getBigUint64(at + o, true));
  const namelen = dv.getUint32(at + 28, true);
  if (namelen > 256) throw new RangeError(`SNAPINFO: namelen ${namelen} > 256`);
  const name = new TextDecoder().decode(new Uint8Array(dv.buffer, dv.byteOffset + at + 64, namelen));
  return {
    id: u64(0), tid: u64(8), ctimeNs: dv.getBigInt64(at + 16, true), flags: dv.getUint32(at + 24, true), name,
    referenced: u64(32), exclusive: u64(40), origin: u64(48), shared: u64(56),
  };
}

/** The snapshot syscalls of one kernel, raw (see the file header). */
export class SnapCalls {
  private readonly enc = new TextEncoder();
  constructor(readonly k: Kernel) {}

  /** The module's memory (its buffer changes when memory grows: ask each time). */
  private memory(): WebAssembly.Memory {
    return (this.k as unknown as { x: { memory: WebAssembly.Memory } }).x.memory;
  }

  /** Writes `name` (UTF-8) at the argument area; returns [ptr, byte length]. */
  private putName(name: string): [number, number] {
    const bytes = this.enc.encode(name);
    if (bytes.length > 4096) throw new RangeError(`snapshot name of ${bytes.length} bytes does not fit the argument area`);
    const args = this.k.callExport("kernel_args") as number;
    new Uint8Array(this.memory().buffer).set(bytes, args);
    return [args, bytes.length];
  }

  /** sys_snapshot_create: the new id (> 0) or -errno. */
  create(name: string, flags = 0): number {
    const [p, n] = this.putName(name);
    return Number(this.k.callExport("sys_snapshot_create", p, n, flags));
  }

  /** sys_snapshot_list, every record (up to what the transfer buffer holds), in creation order. */
  list(): SnapInfo[] {
    const xfer = this.k.callExport("kernel_xfer") as number;
    const cap = Math.min(SNAPSHOT_MAX * 2, Math.floor((this.k.callExport("kernel_xfer_size") as number) / SNAPINFO_BYTES));
    const n = Number(this.k.callExport("sys_snapshot_list", xfer, cap));
    if (n < 0) throw Object.assign(new Error(`snapshot list failed: errno ${-n}`), { errno: -n });
    const dv = new DataView(this.memory().buffer);
    return Array.from({ length: n }, (_, i) => decodeSnapInfo(dv, xfer + i * SNAPINFO_BYTES));
  }

  /** Names of the snapshots `list` shows without the DELETING flag. */
  names(): string[] {
    return this.list().filter((s) => (s.flags & SNAPF_DELETING) === 0).map((s) => s.name);
  }

  /** sys_snapshot_delete: 0 or -errno. */
  delete(name: string): number {
    const [p, n] = this.putName(name);
    return Number(this.k.callExport("sys_snapshot_delete", p, n));
  }

  /** sys_snapshot_work: units still pending (0 idle) or -errno. */
  work(budget: number): number {
    return Number(this.k.callExport("sys_snapshot_work", budget >>> 0));
  }

  /**
   * Loops sys_snapshot_work(batch) until it returns 0; returns the batches it took, or the
   * first negative result. Throws Error after WORK_BATCHES_MAX batches (work that never ends).
   */
  workAll(batch = WORK_BATCH): number {
    for (let i = 1; i <= WORK_BATCHES_MAX; i++) {
      const r = this.work(batch);
      if (r <= 0) return r < 0 ? r : i;
    }
    throw new Error(`sys_snapshot_work still pending after ${WORK_BATCHES_MAX} batches of ${batch}`);
  }

  /** sys_snapshot_rollback: 0 or -errno. */
  rollback(name: string): number {
    const [p, n] = this.putName(name);
    return Number(this.k.callExport("sys_snapshot_rollback", p, n));
  }

  /** sys_mount_snapshot: names what the next sys_mount mounts ("" = the live filesystem); 0 or -errno. */
  mountSnapshot(name: string): number {
    const [p, n] = this.putName(name);
    return Number(this.k.callExport("sys_mount_snapshot", p, n));
  }
}

/** Linux errno numbers -> the code Node's fs would give. */
const CODES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 5: "EIO", 16: "EBUSY", 17: "EEXIST", 22: "EINVAL", 28: "ENOSPC", 30: "EROFS",
  39: "ENOTEMPTY", 95: "EOPNOTSUPP", 117: "EUCLEAN",
};
function check(r: number, what: string): number {
  if (r >= 0) return r;
  const code = CODES[-r] ?? `E${-r}`;
  throw Object.assign(new Error(`${code}: ${what}`), { code, errno: -r });
}

/** The snapshot operations a crash workload runs (host/crash/workload.ts WorkloadFs). */
export interface SnapshotOps {
  snapshotCreateSync(name: string): void;
  snapshotDeleteSync(name: string): void;
  snapshotRollbackSync(name: string): void;
  /** One sys_snapshot_work(budget); returns the units still pending. */
  snapshotWorkSync(budget: number): number;
  /** Names of the listed snapshots that are not being deleted, in creation order. */
  snapshotNamesSync(): string[];
}

/**
 * `k.fs` with the snapshot operations added (an object whose prototype is k.fs, so every fs
 * method runs unchanged); they throw Errors with `code` (EEXIST, ENOENT, ...) like the fs.
 */
export function snapshotFs<T extends object>(k: Kernel & { fs: T }): T & SnapshotOps {
  const s = new SnapCalls(k);
  const ops: SnapshotOps = {
    snapshotCreateSync: (name) => { check(s.create(name), `snapshot create '${name}'`); },
    snapshotDeleteSync: (name) => { check(s.delete(name), `snapshot delete '${name}'`); },
    snapshotRollbackSync: (name) => { check(s.rollback(name), `snapshot rollback '${name}'`); },
    snapshotWorkSync: (budget) => check(s.work(budget), "snapshot work"),
    snapshotNamesSync: () => s.names(),
  };
  return Object.assign(Object.create(k.fs) as T, ops) as T & SnapshotOps;
}

/**
 * A read-only view of a device for a snapshot mount beside a live kernel (BootOptions
 * norecovery: MNT_RDONLY|MNT_NORECOVERY, SNAPSHOT_ABI.md): reads go to `base`; writes, discards and write-zeroes throw
 * BlockError('EROFS') (a view must write nothing); close() leaves `base` open (the live
 * kernel still uses it).
 */
export class ReadOnlyView implements BlockBackend {
  readonly sizeBytes: number;
  constructor(private readonly base: BlockBackend) { this.sizeBytes = base.sizeBytes; }
  read(offset: number, dst: Uint8Array): void { this.base.read(offset, dst); }
  write(): void { throw new BlockError("EROFS", "snapshot view is read-only"); }
  discard(): void { this.write(); }
  writeZeroes(): void { this.write(); }
  flush(): void { /* nothing of ours is volatile */ }
  close(): void { /* the device belongs to the live kernel */ }
}

/**
 * A device that forwards everything to `base` except close() (a no-op): lets one kernel
 * unmount and another mount the same private overlay without the first close dropping it.
 */
export class KeepOpen implements BlockBackend {
  readonly sizeBytes: number;
  constructor(readonly base: BlockBackend) { this.sizeBytes = base.sizeBytes; }
  read(offset: number, dst: Uint8Array): void { this.base.read(offset, dst); }
  write(offset: number, src: Uint8Array): void { this.base.write(offset, src); }
  writev(offset: number, srcs: Uint8Array[]): void {
    if (this.base.writev) { this.base.writev(offset, srcs); return; }
    for (const s of srcs) { this.base.write(offset, s); offset += s.length; }
  }
  writeZeroes(offset: number, length: number): void {
    if (this.base.writeZeroes) this.base.writeZeroes(offset, length); else this.base.write(offset, new Uint8Array(length));
  }
  discard(offset: number, length: number): void { this.base.discard(offset, length); }
  flush(): void { this.base.flush(); }
  close(): void { /* kept open: the owner closes base */ }
}
