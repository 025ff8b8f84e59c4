// host/fuse/binding.ts -- the native FUSE binding: fuse-native's addon (libfuse 2.9's high-level
// API on a thread of its own), as patched by patches/fuse-native+2.2.6.patch.
//
// Layer: FUSE role (Node only), the bottom of host/fuse/. Interface: loadFuseBinding() ->
// FuseBinding (mount, unmount, the op codes, one `signal` function per op), callerOf(handle).
// Rules:
//  - only the patched addon is accepted: it hands over each request's caller (uid, gid, pid,
//    read with fuse_get_context() in the FUSE thread), times in seconds + nanoseconds,
//    create's open flags, readdir's directory handle and names as exact bytes (latin1
//    strings). An unpatched addon is refused with one line naming the fix (`npm install`
//    applies the patch and rebuilds the addon from source; bin/build-fuse.js);
//  - fuse-native's index.js is not used: host/fuse/ops.ts answers the addon directly, so no
//    timeouts or defaults stand between a request and the kernel.
//
// How a request travels (fuse-native.c):
//
//   FUSE thread (libfuse)             JS thread (this process's event loop)
//   fuse_native_<op>(...)
//     caller <- fuse_get_context()
//     uv_async_send ----------------> handlers[op](handle, op, ...args)
//     uv_sem_wait                        ... kernel syscalls ...
//                     <----------------- signal_<op>(handle, result, ...out)  (uv_sem_post)
//   returns result to libfuse
//
// `handle` is the request thread's locals (a Buffer the addon allocated through `malloc`); the
// caller sits at offsetof_caller in it: 3 x u32 little-endian (uid, gid, pid).

import { createRequire } from "node:module";
import * as path from "node:path";

/** A request thread's locals, as the addon hands them to a handler (opaque but for the caller). */
export type FuseHandle = Buffer;

/** The addon's exports this adapter uses. */
export interface FuseBinding {
  sizeof_fuse_thread_t: number;
  offsetof_caller: number;
  fuse_native_mount(mnt: string, opts: string, thread: Buffer, ctx: object, malloc: (size: number) => Buffer,
    handlers: unknown[], implemented: Uint32Array): void;
  fuse_native_unmount(mnt: string, thread: Buffer): void;
  [name: string]: unknown;
}

/** The FUSE operations the addon knows, by the name of its op_* constant. */
export const FUSE_OPS = [
  "init", "error", "access", "statfs", "fgetattr", "getattr", "flush", "fsync", "fsyncdir", "readdir",
  "truncate", "ftruncate", "utimens", "readlink", "chown", "chmod", "mknod", "setxattr", "getxattr",
  "listxattr", "removexattr", "open", "opendir", "read", "write", "release", "releasedir", "create",
  "unlink", "rename", "link", "symlink", "mkdir", "rmdir", "fallocate",
] as const;
export type FuseOpName = typeof FUSE_OPS[number];

/** Size of the addon's handler table (fuse-native.c `napi_ref handlers[35]`). */
export const FUSE_OP_SLOTS = 35;

/** Thrown when FUSE cannot be used here; `message` is the one line the CLI prints. */
export class FuseUnavailable extends Error {
  readonly code = "ENOSYS";
}

let cached: FuseBinding | null = null;

/** Environment variable naming another fuse-native folder to load (tests: an unpatched copy). */
export const FUSE_NATIVE_DIR_ENV = "HELIX_FUSE_NATIVE_DIR";

/**
 * Loads the patched fuse-native addon (build/Release, built from source by `npm install`), or
 * the one in $HELIX_FUSE_NATIVE_DIR.
 * Throws FuseUnavailable with one line when fuse-native is missing, fails to load (no libfuse2),
 * or is the unpatched prebuild.
 */
export function loadFuseBinding(): FuseBinding {
  if (cached !== null) return cached;
  const req = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = process.env[FUSE_NATIVE_DIR_ENV] || path.dirname(req.resolve("fuse-native/package.json"));
  } catch {
    throw new FuseUnavailable("FUSE is not available: the npm package fuse-native is not installed (run 'npm install')");
  }
  let b: FuseBinding;
  try {
    b = (req("node-gyp-build") as (d: string) => FuseBinding)(dir);
  } catch (err) {
    const why = String((err as Error).message ?? err).split("\n")[0];
    throw new FuseUnavailable(`FUSE is not available: fuse-native does not load (${why}); install libfuse2 (apt-get install libfuse2 fuse)`);
  }
  if (typeof b.offsetof_caller !== "number" || typeof b.op_fallocate !== "number") {
    throw new FuseUnavailable("FUSE is not available: fuse-native is not patched to pass each request's caller " +
      "(run 'npm install': it applies patches/fuse-native+2.2.6.patch and rebuilds the addon)");
  }
  cached = b;
  return b;
}

/** The caller of the request `h` belongs to: uid, gid and pid (a thread id) of the process. */
export function callerOf(b: FuseBinding, h: FuseHandle): { uid: number; gid: number; pid: number } {
  const o = b.offsetof_caller;
  return { uid: h.readUInt32LE(o), gid: h.readUInt32LE(o + 4), pid: h.readUInt32LE(o + 8) };
}
