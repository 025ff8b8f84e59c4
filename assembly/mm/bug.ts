// mm/bug.ts -- mm_bug(): stop the kernel on a broken invariant at the mm boundary.
//
// Layer: helper for every mm file (Linux include/asm-generic/bug.h BUG()). Interface:
// mm_bug(msg), mm_bug_reason(), mm_bug_clear(). Rules: `msg` is a static string literal (no
// managed allocation on the way down); the host's `abort` import reports it as a kernel
// panic. AssemblyScript's abort() is only a call to that import, so mm_bug follows it with
// `unreachable`: if the host's abort returns (as-pect's does), the kernel still stops
// instead of running on. Before that it records `msg` as the reason of the last bug: the
// unit tests ask which check fired (as-pect's toThrow("...") takes the string as the
// assertion's own message and never compares it with the abort's), and a debugger can
// read it after a trap. The reason is one pointer store, in release builds too.

/** The message of the last mm_bug, "" when none fired since mm_bug_clear. */
let last_bug: string = "";

/** Records `msg`, reports it through the host's abort import and traps. Never returns. */
@inline export function mm_bug(msg: string): void {
  last_bug = msg;
  abort(msg);
  unreachable();
}

/** The message of the last mm_bug since mm_bug_clear ("" when none): which check fired. */
export function mm_bug_reason(): string { return last_bug; }

/** Forgets the last mm_bug's message. */
export function mm_bug_clear(): void { last_bug = ""; }
