// mm/bug.ts -- mm_bug(): stop the kernel on a broken invariant at the mm boundary.
//
// Layer: helper for every mm file (Linux include/asm-generic/bug.h BUG()). Interface:
// mm_bug(msg). Rules: `msg` is a static string literal (no managed allocation on the way
// down); the host's `abort` import reports it as a kernel panic. AssemblyScript's abort()
// is only a call to that import, so mm_bug follows it with `unreachable`: if the host's
// abort returns (as-pect's does), the kernel still stops instead of running on.

/** Reports `msg` through the host's abort import and traps. Never returns. */
@inline export function mm_bug(msg: string): void {
  abort(msg);
  unreachable();
}
