// lib/printk.ts -- the kernel log (printk). Text is assembled in a static line buffer with
// kputs/kputu/kputx and handed to the host console with one crossing per line (knl).
// ASCII only; no managed strings are allocated (string literals are static data).

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
/** Ends the line and writes it to the host console. */
export function knl(): void {
  putc(10);
  if (printk_enabled) console_write(LINE, line_len);
  line_len = 0;
}
