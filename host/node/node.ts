// host/node/node.ts -- Node entry points: load the kernel module from build/, open image files,
// boot. Interface: boot({ image | device, memoryMiB, cpus, ... }), bootSync, createImage,
// parseSize. Rules: bad input (missing image, bad size) throws an Error with a `code` and a
// one-line message; nothing here prints. One writer per image: an image file is opened under
// the host lock (FileBackend), and the kernel gets this machine's identity (hostname, pid,
// program) for the image's MMP block; a refused boot throws KernelError('EBUSY') naming the
// holder.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FileBackend } from "./blockdev-node.js";
import { MemoryBackend, type BlockBackend } from "../vmm/blockdev.js";
import type { Cred } from "../fs/fs.js";
import { bootWith, describeHolder, setKernelMemoryHook, sleepMs, Kernel, KernelError, type BootOptions, type MmpHolder, type MmpIdentity } from "../vmm/kernel.js";
import { scheduleHeapSettle } from "./heap-settle.js";

// every kernel this process boots, through boot() or bootWith(), owes V8 a settle (Node 20 exit hang)
setKernelMemoryHook(scheduleHeapSettle);

const here = path.dirname(fileURLToPath(import.meta.url));
/** Folders between this file and the repository root at most (host/node/ or dist/host/node/). */
const ROOT_DEPTH_MAX = 4;

/** The nearest folder at or above `dir` that holds package.json, at most ROOT_DEPTH_MAX up. */
function findRoot(dir: string): string {
  for (let d = dir, i = 0; i <= ROOT_DEPTH_MAX; i++, d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "package.json"))) return d;
  }
  throw new Error(`helixfs: no package.json within ${ROOT_DEPTH_MAX} folders above ${dir}`);
}

/** Repository root (host/node/ in sources, dist/host/node/ when compiled). */
export const ROOT = findRoot(here);

const moduleCache = new Map<string, WebAssembly.Module>();

/** The compiled kernel: the release build, or the debug build (assertions on). */
export function kernelModule(debug = false): WebAssembly.Module {
  const file = path.join(ROOT, "build", debug ? "helix.debug.wasm" : "helix.wasm");
  let m = moduleCache.get(file);
  if (!m) {
    if (!fs.existsSync(file)) throw Object.assign(new Error(`kernel module ${file} is missing: run 'npm run build'`), { code: "ENOENT" });
    m = new WebAssembly.Module(fs.readFileSync(file));
    moduleCache.set(file, m);
  }
  return m;
}

/** Parses a size like 256M, 1G, 4096K or a byte count. Throws a one-line Error on bad input. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(String(s).trim());
  if (!m) throw Object.assign(new Error(`bad size '${s}': use a number with K, M, G or T (e.g. 256M)`), { code: "EINVAL" });
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"];
  const bytes = Math.floor(Number(m[1]) * mult / 4096) * 4096;
  if (!Number.isFinite(bytes) || bytes <= 0) throw Object.assign(new Error(`bad size '${s}'`), { code: "EINVAL" });
  return bytes;
}

/** Program name written into MMP blocks (the CLI sets 'helix <command>'). */
let programName = "helixfs";
/** Sets the program name this process writes into the MMP blocks of the images it mounts. */
export function setProgramName(name: string): void { programName = name; }

/** Options of boot() under Node: an image path or any BlockBackend. */
export interface NodeBootOptions extends Omit<BootOptions, "device" | "module" | "identity"> {
  image?: string;
  device?: BlockBackend;
  /** Use the debug kernel (assertions on). */
  debug?: boolean;
  /** With `mkfs` and an image path: create the image file of this many bytes first. */
  createBytes?: number;
  /**
   * With an image path: take the host lock (default true). false stands in for another machine
   * sharing the image, whose locks this host cannot see: only the MMP block guards it then.
   */
  hostLock?: boolean;
  /** Overrides parts of the MMP identity (default: os.hostname(), process.pid, the program name). */
  identity?: Partial<MmpIdentity>;
}

/** Opens the image under the host lock; a lock conflict becomes KernelError('EBUSY') naming the holder. */
function openImage(image: string, opts: NodeBootOptions, discard: "zero" | "ignore"): FileBackend {
  const lock = opts.hostLock === false ? "none" as const : "auto" as const;
  try {
    return opts.createBytes !== undefined
      ? FileBackend.create(image, opts.createBytes, { overwrite: true, discard, lock })
      : FileBackend.open(image, { discard, lock });
  } catch (err) {
    if ((err as { locked?: boolean }).locked !== true) throw err;
    throw new KernelError("EBUSY", describeHolder(probeHolder(image, opts)), 16);
  }
}

/**
 * Throws KernelError('EBUSY') naming the holder when another process holds `image` (its host
 * lock, as openImage takes it); nothing when the file is missing or free. For commands that
 * read an image before they open it (mkfs asks before overwriting a filesystem).
 */
export function assertImageFree(image: string, opts: NodeBootOptions = {}): void {
  if (!fs.existsSync(image)) return;
  openImage(image, opts, "ignore").close();
}

/** Probes of the holder's MMP block after a refused lock (it writes it right after locking). */
const PROBE_TRIES_MAX = 100;
/** Milliseconds between two probes (PROBE_TRIES_MAX x this bounds the wait at 2 s). */
const PROBE_GAP_MS = 20;

/**
 * Reads who holds `image` from its MMP block through a kernel on a read-only, unlocked view of
 * the file (nothing is written). A holder that has just taken the lock has not written its
 * block yet, so a clean or unreadable block is read again, up to PROBE_TRIES_MAX times. null
 * when the image has no MMP block or no holder showed up.
 */
function probeHolder(image: string, opts: NodeBootOptions): MmpHolder | null {
  let dev: FileBackend;
  try {
    dev = FileBackend.open(image, { readOnly: true, lock: "none" });
  } catch {
    return null;
  }
  try {
    const k = bootWith({ device: dev, module: kernelModule(opts.debug), noMount: true, memoryMiB: 32 });
    try {
      for (let i = 0; i < PROBE_TRIES_MAX; i++) {
        const h = k.probeHolder();
        if (h !== "unknown") return h;
        sleepMs(PROBE_GAP_MS);
      }
      return null;
    } finally { k.shutdown(); }
  } catch {
    return null;
  } finally {
    try { dev.close(); } catch { /* already closed by shutdown */ }
  }
}

/** Creates (or overwrites) a sparse image file of `bytes` and formats it. */
export function createImage(image: string, bytes: number, opts: Omit<NodeBootOptions, "image" | "device"> = {}): void {
  const k = bootSync({ ...opts, image, createBytes: bytes, mkfs: true, noMount: true });
  k.shutdown();
}

/** Boots synchronously. Throws a one-line Error (code ENOENT, EINVAL, EUCLEAN, ...) on bad input. */
export function bootSync(opts: NodeBootOptions): Kernel {
  let device = opts.device;
  if (!device) {
    if (!opts.image) throw Object.assign(new Error("boot needs an image path or a device"), { code: "EINVAL" });
    // with online discard the image file gets zeroes over freed blocks (Node cannot punch holes)
    const discard = opts.discard ? "zero" as const : "ignore" as const;
    if (opts.createBytes !== undefined) device = openImage(opts.image, opts, discard);
    else {
      if (!fs.existsSync(opts.image)) throw Object.assign(new Error(`image '${opts.image}' does not exist (create one with 'helix mkfs ${opts.image}')`), { code: "ENOENT" });
      const st = fs.statSync(opts.image);
      if (!st.isFile() && !st.isBlockDevice()) throw Object.assign(new Error(`'${opts.image}' is not a file`), { code: "EINVAL" });
      if (st.size < 4096 || st.size % 512 !== 0) throw Object.assign(new Error(`'${opts.image}' is not a HelixFS image (size ${st.size} is not a multiple of 512 bytes of at least 4 KiB)`), { code: "EINVAL" });
      device = openImage(opts.image, opts, discard);
    }
  }
  // a FileBackend without its host lock may share the file; any other device is private
  const exclusive = device instanceof FileBackend ? device.hostLocked : true;
  const identity = { node: os.hostname(), pid: process.pid, program: programName, exclusive, ...opts.identity };
  // an image file may be shared: keep the MMP block beating while idle (a shell at its prompt)
  const mmpHeartbeat = device instanceof FileBackend;
  return bootWith({ ...opts, device, identity, mmpHeartbeat, cred: opts.cred ?? processCred(), module: kernelModule(opts.debug) });
}

/** This process's credentials (uid, gid, supplementary groups): the default of a Node boot. */
export function processCred(): Cred {
  const gid = process.getgid!();
  const groups = process.getgroups!().filter((g) => g !== gid).slice(0, 256);
  return Object.freeze({ uid: process.getuid!(), gid, groups: Object.freeze(groups) });
}

/** Boots (async form of bootSync, for symmetry with the browser). */
export async function boot(opts: NodeBootOptions): Promise<Kernel> {
  return bootSync(opts);
}

/** A memory-backed device of `bytes`. */
export function memoryDevice(bytes: number): MemoryBackend { return new MemoryBackend(bytes); }
