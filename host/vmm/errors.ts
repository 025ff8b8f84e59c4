// host/vmm/errors.ts -- the errors the VMM's kernel calls throw: KernelError (an errno-shaped
// failure of a lifecycle or administrative call) and the errno names it carries.
//
// Layer: host/vmm (portable, no Node imports), under kernel.ts and snapshots.ts; kernel.ts
// re-exports everything here, so callers keep importing from "./kernel.js".
// Interface: KernelError(code, message, errno), errnoName(errno).
// Rules: `code` is always a Linux errno name ("ENOENT"), `errno` its positive number, and
// `message` one line that says what failed and why.

/** Linux errno numbers the kernel returns (negated) and their names. */
const errnoNames: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 5: "EIO", 9: "EBADF", 12: "ENOMEM", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV",
  20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 24: "EMFILE", 27: "EFBIG", 28: "ENOSPC", 30: "EROFS",
  34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 95: "EOPNOTSUPP", 117: "EUCLEAN",
};

/** The errno name of `e` (a positive Linux errno), or `E<n>` for one this table lacks. */
export function errnoName(e: number): string { return errnoNames[e] ?? `E${e}`; }

/** An error from the kernel lifecycle (mkfs, mount) or an administrative call, with the errno name as code. */
export class KernelError extends Error {
  constructor(readonly code: string, message: string, readonly errno: number) { super(message); this.name = "KernelError"; }
}
