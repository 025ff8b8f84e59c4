// lib/clock.ts -- the wall clock, read from the host (one crossing per read).
@external("env", "clock_ns")
declare function clock_ns(): i64;

/** Nanoseconds since the Unix epoch. */
export function clock_now(): i64 { return clock_ns(); }
