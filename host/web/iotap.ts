// host/web/iotap.ts -- a BlockBackend wrapper that records every request the virtio-blk device
// hands to the backend (type, size, start time) for the block I/O timeline.
//
// Layer: web role, worker side, over host/vmm/blockdev.ts (BlockBackend). Interface: IoTap
// (a BlockBackend; drain() -> the requests since the last drain). Rules: it stacks on any
// backend and changes nothing it passes on (same calls, same order, same errors; the vectored
// calls stay vectored); recording is three typed-array stores per request into a ring of
// TAP_RING_MAX entries, so it never allocates on the I/O path; a full ring counts the requests
// it drops instead of growing. Node never runs it (it lives in host/web).

import type { BlockBackend } from "../vmm/blockdev.js";
import type { BlkEvents } from "./views-types.js";

/** Requests kept between two drains (10 Hz sampling: 64 Ki requests is 640 Ki requests/s). */
export const TAP_RING_MAX = 65536;
/** BLK_KINDS codes. */
const READ = 0, WRITE = 1, FLUSH = 2, DISCARD = 3, ZEROES = 4;

/** A recording BlockBackend over `inner`. */
export class IoTap implements BlockBackend {
  readonly sizeBytes: number;
  /** Requests and bytes since the tap was made, per BLK_KINDS code. */
  readonly totals = { requests: [0, 0, 0, 0, 0], bytes: [0, 0, 0, 0, 0] };
  private readonly t = new Float64Array(TAP_RING_MAX);
  private readonly kind = new Uint8Array(TAP_RING_MAX);
  private readonly bytes = new Float64Array(TAP_RING_MAX);
  private n = 0;
  private dropped = 0;
  readv?: (offset: number, dsts: Uint8Array[]) => void;
  writev?: (offset: number, srcs: Uint8Array[]) => void;
  writeZeroes?: (offset: number, length: number) => void;

  constructor(readonly inner: BlockBackend, private readonly now: () => number = () => performance.now()) {
    this.sizeBytes = inner.sizeBytes;
    // only offer the optional calls the inner backend has: the device falls back otherwise
    if (inner.readv) this.readv = (o, d) => { this.note(READ, sum(d)); inner.readv!(o, d); };
    if (inner.writev) this.writev = (o, s) => { this.note(WRITE, sum(s)); inner.writev!(o, s); };
    if (inner.writeZeroes) this.writeZeroes = (o, l) => { this.note(ZEROES, l); inner.writeZeroes!(o, l); };
  }

  read(offset: number, dst: Uint8Array): void { this.note(READ, dst.length); this.inner.read(offset, dst); }
  write(offset: number, src: Uint8Array): void { this.note(WRITE, src.length); this.inner.write(offset, src); }
  flush(): void { this.note(FLUSH, 0); this.inner.flush(); }
  discard(offset: number, length: number): void { this.note(DISCARD, length); this.inner.discard(offset, length); }
  close(): void { this.inner.close(); }

  /** The requests recorded since the last drain, as fresh arrays (the caller may transfer them). */
  drain(): BlkEvents {
    const n = this.n;
    const out: BlkEvents = { t: this.t.slice(0, n), kind: this.kind.slice(0, n), bytes: this.bytes.slice(0, n), dropped: this.dropped };
    this.n = 0;
    this.dropped = 0;
    return out;
  }

  private note(kind: number, bytes: number): void {
    this.totals.requests[kind]++;
    this.totals.bytes[kind] += bytes;
    const i = this.n;
    if (i >= TAP_RING_MAX) { this.dropped++; return; }
    this.t[i] = this.now();
    this.kind[i] = kind;
    this.bytes[i] = bytes;
    this.n = i + 1;
  }
}

function sum(views: readonly Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.length;
  return n;
}

/** Empty BlkEvents (no tap, or a sample taken before the kernel booted). */
export function noEvents(): BlkEvents {
  return { t: new Float64Array(0), kind: new Uint8Array(0), bytes: new Float64Array(0), dropped: 0 };
}
