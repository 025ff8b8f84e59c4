// host/fuse/mount.ts -- a HelixFS image mounted on the host through FUSE: mount options, mount
// point checks, the mount's life (live after libfuse's INIT, over when the kernel's mount
// table no longer has it), unmount (`helix umount`).
//
// Layer: FUSE role (Node only), above host/fuse/ops.ts and host/node/node.ts (boot, the image
// lock). Interface: parseMountOptions(list), FuseMount.mount(opts) -> FuseMount (.closed,
// .unmount()), umountHelix(mountpoint), readMountInfo().
// Rules:
//  - every refusal is a CliError with one line, before anything is mounted: a missing or
//    non-directory mount point (libfuse's "bad mount point" wording), one already mounted, a
//    non-empty one without -o nonempty (libfuse's wording), an image another process holds
//    (the host lock and the MMP block, host/node/node.ts);
//  - the kernel is booted before FUSE mounts, so a refused image never leaves a mount behind;
//  - FUSE options that keep results correct are always given: entry, negative and attribute
//    timeouts 0 (the FUSE kernel asks again for every lookup and stat, so nothing it shows
//    can disagree with the kernel's inodes), use_ino (the kernel's inode numbers), hard_remove
//    (an unlinked open file stays the kernel's orphan, no .fuse_hidden renames). Why not
//    longer timeouts, though every change goes through this mount: Linux's dentry cache is
//    shared by all callers, and without default_permissions the FUSE module checks no search
//    permission itself, so a cached entry would let uid 65534 walk through a directory that
//    only root's lookup went through; and attributes change without a FUSE request for that
//    inode (atime on a read, ctime and nlink through another name);
//  - the mount ends when the host's mount table no longer lists it (fusermount -u, umount,
//    helix umount, a lazy unmount): then one sync and a clean unmount of the kernel
//    (sys_umount: commit, checkpoint, state clean) before the image lock is released;
//  - nothing here blocks the JS thread on a child process: the FUSE requests of the mount are
//    answered on this thread (a synchronous `fusermount` against our own mount would deadlock).

import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { bootSync } from "../node/node.js";
import { FileBackend } from "../node/blockdev-node.js";
import type { Kernel } from "../vmm/kernel.js";
import { checkSnapshotName } from "../vmm/snapshots.js";
import { CliError, UsageError, errorMessage, STRERROR } from "../shell/format.js";
import { FuseUnavailable, loadFuseBinding, type FuseBinding } from "./binding.js";
import { FuseOps, FUSE_IO_MAX } from "./ops.js";

const execFileP = promisify(execFile);

/** The filesystem type the host's mount table shows (`fuse.` + subtype). */
export const FSTYPE = "fuse.helix";
/** How long libfuse's INIT may take after mount(2), in ms. */
const INIT_TIMEOUT_MS = 10_000;
/** How often the mount table is read to notice an unmount, in ms. */
const WATCH_INTERVAL_MS = 200;
/** How long `helix umount` waits for the mount's process to release the image, in ms. */
export const UMOUNT_WAIT_MS = 60_000;
/** Gap between two checks of the image lock while waiting, in ms. */
const UMOUNT_POLL_MS = 50;
/** Longest option string the addon takes (fuse-native.c `mntopts[1024]`, with its NUL). */
const FUSE_OPTS_MAX = 1023;
/** Largest uid/gid. */
const ID_MAX = 2 ** 32 - 2;

/** What `-o` may say (the FUSE and mount(8) names). */
export interface MountFlags {
  readOnly: boolean; allowOther: boolean; defaultPermissions: boolean; discard: boolean; nonempty: boolean;
  uid?: number; gid?: number;
  /** `snapshot=NAME`: mount this snapshot (read-only) or clone (read-write) instead of the live filesystem. */
  snapshot?: string;
}

/** Options of FuseMount.mount. */
export interface MountOptions extends Partial<MountFlags> {
  image: string;
  mountpoint: string;
  memoryMiB?: number;
  debug?: boolean;
  /** Kernel log lines and adapter errors. */
  log?: (line: string) => void;
}

/**
 * Parses `-o` values (each a comma-separated list): ro, rw, allow_other, default_permissions,
 * discard, nodiscard, nonempty, uid=N, gid=N, snapshot=NAME. Throws UsageError on anything
 * else and on a bad snapshot name.
 */
export function parseMountOptions(list: readonly string[]): MountFlags {
  const f: MountFlags = { readOnly: false, allowOther: false, defaultPermissions: false, discard: false, nonempty: false };
  for (const item of list.flatMap((s) => s.split(","))) {
    const o = item.trim();
    if (o === "") continue;
    const m = /^(uid|gid)=(.*)$/.exec(o);
    if (m !== null) {
      if (!/^\d+$/.test(m[2]) || Number(m[2]) > ID_MAX) throw new UsageError(`bad mount option '${o}': ${m[1]} must be a number from 0 to ${ID_MAX}`);
      f[m[1] as "uid" | "gid"] = Number(m[2]);
      continue;
    }
    if (o.startsWith("snapshot=")) {
      const name = o.slice("snapshot=".length), why = checkSnapshotName(name);
      if (why !== null) throw new UsageError(`bad mount option '${o}': ${why}`);
      f.snapshot = name;
      continue;
    }
    switch (o) {
      case "ro": f.readOnly = true; break;
      case "rw": f.readOnly = false; break;
      case "allow_other": f.allowOther = true; break;
      case "default_permissions": f.defaultPermissions = true; break;
      case "discard": f.discard = true; break;
      case "nodiscard": f.discard = false; break;
      case "nonempty": f.nonempty = true; break;
      default:
        throw new UsageError(`unknown mount option '${o}' (known: ro, rw, allow_other, default_permissions, uid=N, gid=N, discard, nonempty, snapshot=NAME)`);
    }
  }
  return f;
}

/** An option value for libfuse's option parser (commas and backslashes escaped). */
function optValue(s: string): string { return s.replace(/[\\,]/g, (c) => `\\${c}`); }

/** The `-o` string given to libfuse for `flags`, the image named as the mount's source. */
export function fuseOptionString(flags: MountFlags, image: string): string {
  const o = [
    `fsname=${optValue(image)}`, "subtype=helix", "use_ino", "hard_remove",
    "entry_timeout=0", "negative_timeout=0", "attr_timeout=0",
    "big_writes", `max_write=${FUSE_IO_MAX}`, `max_read=${FUSE_IO_MAX}`,
  ];
  if (flags.readOnly) o.push("ro");
  if (flags.allowOther) o.push("allow_other");
  if (flags.defaultPermissions) o.push("default_permissions");
  if (flags.nonempty) o.push("nonempty");
  if (flags.uid !== undefined) o.push(`uid=${flags.uid}`);
  if (flags.gid !== undefined) o.push(`gid=${flags.gid}`);
  const s = "-o" + o.join(",");
  if (Buffer.byteLength(s) > FUSE_OPTS_MAX) throw new CliError(`image path '${image}' is too long for a FUSE mount's options`);
  return s;
}

// ---- the host's mount table ----------------------------------------------------------------

/** One line of /proc/self/mountinfo. */
export interface MountEntry { mountpoint: string; fstype: string; source: string }

/** Undoes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The host's mounts, as this process sees them (read asynchronously). */
export async function readMountInfo(): Promise<MountEntry[]> {
  const text = await fsp.readFile("/proc/self/mountinfo", "utf8");
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const dash = line.indexOf(" - ");
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(" ");
    const post = line.slice(dash + 3).split(" ");
    if (pre.length < 5 || post.length < 2) continue;
    out.push({ mountpoint: unescapeMount(pre[4]), fstype: post[0], source: unescapeMount(post[1]) });
  }
  return out;
}

/** The last mount at `abs` (the one on top), or null. */
async function mountAt(abs: string): Promise<MountEntry | null> {
  const all = await readMountInfo();
  for (let i = all.length - 1; i >= 0; i--) if (all[i].mountpoint === abs) return all[i];
  return null;
}

/** `p` absolute with its parent's symlinks resolved (works on a dead mount, whose own stat fails). */
async function canonical(p: string): Promise<string> {
  const abs = path.resolve(p);
  if (abs === "/") return abs;
  try {
    return path.join(await fsp.realpath(path.dirname(abs)), path.basename(abs));
  } catch {
    return abs;
  }
}

/** The strerror text of a Node error code (STRERROR, else the code). */
function strerror(err: unknown): string {
  const code = (err as { code?: string }).code ?? "";
  if (code === "ENOTCONN") return "Transport endpoint is not connected";
  return STRERROR[code] ?? (code || errorMessage(err));
}

/**
 * Checks a mount point and returns its canonical path. CliError (one line): missing, not a
 * directory, a dead FUSE mount, already mounted, not empty (unless `nonempty`).
 */
export async function checkMountPoint(mnt: string, nonempty: boolean): Promise<string> {
  const abs = path.resolve(mnt);
  try {
    const st = await fsp.stat(abs);
    if (!st.isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
  } catch (err) {
    const dead = (err as { code?: string }).code === "ENOTCONN" ? ` (a mount whose process is gone: run 'helix umount ${mnt}')` : "";
    throw new CliError(`bad mount point '${mnt}': ${strerror(err)}${dead}`);
  }
  const real = await fsp.realpath(abs);
  const on = await mountAt(real);
  if (on !== null) throw new CliError(`'${mnt}' is already mounted (${on.fstype} from ${on.source}): unmount it first`);
  if (!nonempty && (await fsp.readdir(real)).length > 0) {
    throw new CliError(`mountpoint '${mnt}' is not empty; if you are sure this is safe, use the 'nonempty' mount option`);
  }
  return real;
}

// ---- a mount -------------------------------------------------------------------------------

/** A live FUSE mount of an image: the kernel, the adapter and the FUSE thread. */
export class FuseMount {
  /** Resolves when the mount is over and the kernel unmounted (null) or failed to (its error). */
  readonly closed: Promise<Error | null>;
  private resolveClosed!: (e: Error | null) => void;
  private timer: ReturnType<typeof setInterval> | null = null;
  private watching = false;
  private done = false;
  /** The request threads' locals (allocated by the addon through `malloc`), kept alive here. */
  readonly threadLocals = new Set<Buffer>();

  private constructor(readonly mountpoint: string, readonly image: string, readonly kernel: Kernel,
    private readonly b: FuseBinding, private readonly thread: Buffer, readonly ops: FuseOps) {
    this.closed = new Promise((res) => { this.resolveClosed = res; });
  }

  /**
   * Boots the kernel on the image and mounts it at the mount point; resolves once the mount is
   * live (libfuse's INIT answered). CliError (one line) on every refusal; nothing is left
   * mounted or locked then.
   */
  static async mount(o: MountOptions): Promise<FuseMount> {
    let b: FuseBinding;
    try {
      b = loadFuseBinding();
    } catch (err) {
      if (err instanceof FuseUnavailable) throw new CliError(err.message);
      throw err;
    }
    const flags = { ...parseMountOptions([]), ...o };
    const mnt = await checkMountPoint(o.mountpoint, flags.nonempty === true);
    const image = path.resolve(o.image);
    const optString = fuseOptionString(flags as MountFlags, image);
    let k: Kernel;
    try {
      k = bootSync({ image, discard: flags.discard, memoryMiB: o.memoryMiB, debug: o.debug, log: o.log, fsckMount: flags.readOnly ? "check" : undefined, snapshot: flags.snapshot });
    } catch (err) {
      // host/node/node.ts's own lines name the image already; kernel errors get its name first
      const msg = errorMessage(err);
      throw new CliError(/^image '|^'/.test(msg) ? msg : `${o.image}: ${msg}`);
    }
    // a snapshot mounts read-only whatever -o said: FUSE is told so (ro), as the kernel is
    let liveOpts = optString;
    if (flags.snapshot !== undefined && !flags.readOnly && k.info().readOnly === 1) {
      flags.readOnly = true;
      try { liveOpts = fuseOptionString(flags as MountFlags, image); } catch (err) { k.shutdown(); throw err; }
    }
    const ops = new FuseOps(k, b, { readOnly: flags.readOnly, log: o.log });
    const thread = Buffer.alloc(b.sizeof_fuse_thread_t);
    const m = new FuseMount(mnt, image, k, b, thread, ops);
    const live = new Promise<void>((res) => ops.onInit(res));
    try {
      b.fuse_native_mount(mnt, liveOpts, thread, {}, (size: number) => {
        const buf = Buffer.alloc(size);
        m.threadLocals.add(buf);
        return buf;
      }, ops.handlers(), ops.implemented());
    } catch (err) {
      k.shutdown();
      throw new CliError(`mount of '${o.mountpoint}' failed: libfuse refused it (${errorMessage(err)})`);
    }
    let timeout: ReturnType<typeof setTimeout> | undefined;
    const inTime = await Promise.race([
      live.then(() => true),
      new Promise<boolean>((res) => { timeout = setTimeout(() => res(false), INIT_TIMEOUT_MS); }),
    ]);
    clearTimeout(timeout);
    if (!inTime) {
      await execFileP("fusermount", ["-u", "-z", mnt]).catch(() => undefined);
      k.shutdown();
      throw new CliError(`mount of '${o.mountpoint}' failed: FUSE did not start within ${INIT_TIMEOUT_MS / 1000} s`);
    }
    m.watch();
    return m;
  }

  /** Reads the mount table every WATCH_INTERVAL_MS; the mount's disappearance ends it. */
  private watch(): void {
    this.timer = setInterval(() => {
      if (this.watching || this.done) return;
      this.watching = true;
      mountAt(this.mountpoint).then((e) => {
        this.watching = false;
        if (e === null || e.fstype !== FSTYPE) this.finish();
      }, () => { this.watching = false; });
    }, WATCH_INTERVAL_MS);
  }

  /** The mount is gone: final sync, clean kernel unmount, image released. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearInterval(this.timer);
    let err: Error | null = null;
    try {
      this.kernel.sys.sync();
      this.kernel.shutdown();
    } catch (e) {
      err = e instanceof Error ? e : new Error(String(e));
    }
    try { this.b.fuse_native_unmount(this.mountpoint, this.thread); } catch { /* the FUSE thread is gone already */ }
    this.resolveClosed(err);
  }

  /**
   * Unmounts (fusermount -u); when the mount point is busy and `lazy`, detaches it instead
   * (fusermount -u -z: open files keep working until closed or this process ends). Resolves
   * when the kernel is unmounted. CliError when busy and not lazy.
   */
  async unmount(lazy = true): Promise<Error | null> {
    if (!this.done) {
      try {
        await execFileP("fusermount", ["-u", this.mountpoint]);
      } catch (err) {
        if (!lazy) throw new CliError(`umount: ${this.mountpoint}: ${fusermountReason(err)}`);
        await execFileP("fusermount", ["-u", "-z", this.mountpoint]).catch(() => undefined);
      }
      // the mount table may already say so: do not wait for the next tick
      const e = await mountAt(this.mountpoint).catch(() => null);
      if (e === null) this.finish();
    }
    return this.closed;
  }
}

/** fusermount's reason for a failed unmount, as umount(8) words it. */
function fusermountReason(err: unknown): string {
  const text = String((err as { stderr?: string }).stderr ?? errorMessage(err));
  if (/busy/i.test(text)) return "target is busy";
  const m = /fusermount: (.*)$/m.exec(text);
  return m !== null ? m[1].trim() : errorMessage(err);
}

/**
 * `helix umount MOUNTPOINT`: unmounts a HelixFS FUSE mount and waits until its process has
 * unmounted the kernel and released the image (so fsck or another mount may follow at once).
 * CliError: not mounted, not HelixFS, busy (unless `lazy`), or the process did not finish.
 */
export async function umountHelix(mnt: string, opts: { lazy?: boolean; waitMs?: number } = {}): Promise<void> {
  const abs = await canonical(mnt);
  const e = await mountAt(abs);
  if (e === null) throw new CliError(`umount: ${mnt}: not mounted`);
  if (e.fstype !== FSTYPE) throw new CliError(`umount: ${mnt}: not a HelixFS mount (${e.fstype})`);
  try {
    await execFileP("fusermount", opts.lazy ? ["-u", "-z", abs] : ["-u", abs]);
  } catch (err) {
    throw new CliError(`umount: ${mnt}: ${fusermountReason(err)}`);
  }
  // the mount's process unmounts the kernel and then releases the image lock
  const until = Date.now() + (opts.waitMs ?? UMOUNT_WAIT_MS);
  for (;;) {
    if (imageFree(e.source)) return;
    if (Date.now() > until) throw new CliError(`umount: ${mnt}: unmounted, but the process serving it still holds '${e.source}'`);
    await new Promise((r) => setTimeout(r, UMOUNT_POLL_MS));
  }
}

/** True when no process holds the image's host lock (or it no longer exists). */
function imageFree(image: string): boolean {
  try {
    FileBackend.open(image, { readOnly: true }).close();
    return true;
  } catch (err) {
    return (err as { locked?: boolean }).locked !== true;
  }
}
