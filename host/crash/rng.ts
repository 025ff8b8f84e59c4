// host/crash/rng.ts -- the seeded generator of the crash tools: mulberry32 (Tommy Ettinger), small,
// fast, and good enough to pick subsets and schedule faults. Same seed, same sequence.

/** mulberry32 over a 32-bit state. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  /** Next 32-bit unsigned value. */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  unit(): number { return this.next() / 4294967296; }
  /** Uniform integer in [0, n), n <= 2^32. */
  below(n: number): number { return Math.floor(this.unit() * n); }
}
