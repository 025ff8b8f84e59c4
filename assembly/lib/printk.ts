// lib/printk.ts -- the kernel log (printk). Text is assembled in a static line buffer with
// kputs/kputu/kputx and handed to the host console with one crossing per line (knl).
// ASCII only; no managed strings are allocated (string literals are static data).
// Wording (as ext4's `EXT4-fs (sda1): ...`): every filesystem line starts with one prefix,
// `helixfs (vda): ` (kfs), and names errnos by their symbol (kputerr: `EUCLEAN`, not `117`),
// so the host, a user and grep all see the same words.

import {
  EPERM, ENOENT, EIO, E2BIG, EBADF, ENOMEM, EACCES, EBUSY, EEXIST, EXDEV, ENODEV, ENOTDIR, EISDIR, EINVAL,
  EMFILE, EFBIG, ENOSPC, ESPIPE, EROFS, EMLINK, ERANGE, ENAMETOOLONG, ENOTEMPTY, ELOOP, EOVERFLOW, EUCLEAN,
} from "./errno";

@external("env", "console_write")
declare function console_write(ptr: usize, len: u32): void;

const LINE_MAX: u32 = 512;
const LINE: usize = memory.data(LINE_MAX);
let line_len: u32 = 0;
/** When false, printk output is discarded (quiet mounts in tests and benchmarks). */
export let printk_enabled = true;
export function printk_set_enabled(on: bool): void { printk_enabled = on; }

@inline function putc(c: u32): void {
  if (line_len < LINE_MAX) store<u8>(LINE + line_len++, <u8>c);
}

/** Appends an ASCII string literal. */
export function kputs(s: string): void {
  const n = s.length;
  for (let i = 0; i < n; i++) putc(<u32>s.charCodeAt(i));
}
/** Appends `len` raw bytes at `ptr` (a name from disk), replacing non-printables with '?'. */
export function kputb(ptr: usize, len: u32): void {
  for (let i: u32 = 0; i < len; i++) {
    const c = <u32>load<u8>(ptr + i);
    putc(c >= 32 && c < 127 ? c : 63);
  }
}
/** Appends an unsigned decimal. */
export function kputu(v: u64): void {
  const tmp = memory.data(24);
  let n = 0;
  do { store<u8>(tmp + n++, <u8>(48 + v % 10)); v /= 10; } while (v != 0);
  while (n > 0) putc(<u32>load<u8>(tmp + --n));
}
/** Appends a signed decimal. */
export function kputi(v: i64): void {
  if (v < 0) { putc(45); kputu(<u64>(-v)); } else kputu(<u64>v);
}
/** Appends `v` in hex with a 0x prefix. */
export function kputx(v: u64): void {
  kputs("0x");
  let started = false;
  for (let s = 60; s >= 0; s -= 4) {
    const d = <u32>((v >> <u64>s) & 0xf);
    if (d != 0 || started || s == 0) { putc(d < 10 ? 48 + d : 87 + d); started = true; }
  }
}
/** The prefix of filesystem messages: the fs and its device (one device: virtio-blk vda). */
export const FS_PREFIX = "helixfs (vda): ";
/** Starts a filesystem log line with FS_PREFIX. */
export function kfs(): void { kputs(FS_PREFIX); }

/** Appends the errno symbol of -errno or errno `err` (`EUCLEAN`); an unnamed one as `errno 99`. */
export function kputerr(err: i32): void {
  const e = err < 0 ? -err : err;
  const name = errno_name(e);
  if (name.length > 0) kputs(name);
  else { kputs("errno "); kputu(<u64>e); }
}

/** Symbols of the errnos the kernel returns (lib/errno.ts); "" for others. */
function errno_name(e: i32): string {
  switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EIO: return "EIO"; case E2BIG: return "E2BIG";
    case EBADF: return "EBADF"; case ENOMEM: return "ENOMEM"; case EACCES: return "EACCES"; case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST"; case EXDEV: return "EXDEV"; case ENODEV: return "ENODEV"; case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR"; case EINVAL: return "EINVAL"; case EMFILE: return "EMFILE"; case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC"; case ESPIPE: return "ESPIPE"; case EROFS: return "EROFS"; case EMLINK: return "EMLINK";
    case ERANGE: return "ERANGE"; case ENAMETOOLONG: return "ENAMETOOLONG"; case ENOTEMPTY: return "ENOTEMPTY"; case ELOOP: return "ELOOP";
    case EOVERFLOW: return "EOVERFLOW"; case EUCLEAN: return "EUCLEAN";
    default: return "";
  }
}

/** Ends the line and writes it to the host console. */
export function knl(): void {
  putc(10);
  if (printk_enabled) console_write(LINE, line_len);
  line_len = 0;
}
