// test/fuse-fake.ts -- a stand-in for the fuse-native addon, for tests of the FUSE adapter
// (host/fuse/ops.ts) without a mount: test/fuse.test.ts and test/chdir.test.ts.
//
// Layer: test helper (not a test file). Interface: fakeBinding() -> { b, answers } and
// handle(uid, gid, pid) -> a request handle. Rules: op codes are numbered as fuse-native
// numbers them (FUSE_OPS order); each signal records its answer as [op, result, ...out].

import { FUSE_OPS, type FuseBinding } from "../host/fuse/binding.js";

/** A stand-in for the addon: op codes as fuse-native numbers them, signals that record answers. */
export function fakeBinding(): { b: FuseBinding; answers: unknown[][] } {
  const answers: unknown[][] = [];
  const b: Record<string, unknown> = { sizeof_fuse_thread_t: 64, offsetof_caller: 4 };
  FUSE_OPS.forEach((name, i) => {
    b[`op_${name}`] = i;
    b[`fuse_native_signal_${name}`] = (_h: unknown, res: number, ...out: unknown[]) => { answers.push([name, res, ...out]); };
  });
  return { b: b as unknown as FuseBinding, answers };
}

/** A request handle whose caller is (uid, gid, pid), at the fake binding's offset (64 bytes). */
export function handle(uid: number, gid: number, pid: number): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32LE(uid, 4); h.writeUInt32LE(gid, 8); h.writeUInt32LE(pid, 12);
  return h;
}
