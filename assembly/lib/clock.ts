// lib/clock.ts -- the wall clock, read from the host (one crossing per read).
@external("env", "clock_ns")
declare function clock_ns(): i64;

/** Nanoseconds since the Unix epoch. */
export function clock_now(): i64 { return clock_ns(); }

@external("env", "sleep_ms")
declare function sleep_ms(ms: u32): void;

/**
 * Sleeps `ms` milliseconds in the host (the kernel has no scheduler: the whole machine waits).
 * Only multiple-mount protection sleeps, while it watches another holder's block.
 */
export function clock_sleep_ms(ms: u32): void { sleep_ms(ms); }
