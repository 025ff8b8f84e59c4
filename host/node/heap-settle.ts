// host/node/heap-settle.ts -- Node only: keeps V8's heap out of the state in which Node 20 hangs at
// exit, so a program that boots kernels runs under plain `node` (no V8 flag).
//
// Layer: Node host, below node.ts (which installs it as the kernel memory hook at import).
// Interface: scheduleHeapSettle() after a kernel boots or shuts down; settleHeapNow().
// Rules: one major GC per burst of boots and shutdowns (coalesced through one setImmediate),
// run before the event loop can end and again on 'exit' if one is still owed; nothing here
// throws (no GC available means no settle, the old behaviour).
//
// Why (docs/decisions.md, "Node 20 exit hang"): V8 11.3 counts external memory allocated
// since the last mark-compact (ArrayBuffers, and a WebAssembly.Memory growing to memoryMiB at
// kernel_boot) against the old-generation allocation limit. One boot takes 32 MiB or more, far
// above the few MiB of headroom a small heap has, and a heap under 8 MiB never starts
// incremental marking on its own, so the heap stays "at its limit" until some mark-compact.
// In that state a background TurboFan job that allocates in old space (a HeapNumber for a
// folded double field) cannot expand the heap: it asks the main thread for a GC and waits
// (CollectionBarrier::AwaitCollectionBackground). A busy main thread serves that at its next
// interrupt check; a main thread whose event loop has ended is itself waiting for the job in
// NodePlatform::DrainTasks (process.exit(): joining the worker in NodePlatform::Shutdown),
// and neither ever moves (nodejs/node#54918; fixed only in later Node lines). A mark-compact
// after the kernel's allocations resets that count, so the job's allocation succeeds; and a
// job already waiting is released by it.
//
//   boot (memory.grow 64 MiB) --> heap at limit --> TurboFan job allocates --> waits for GC
//                                     |                                          |
//                     settle: mark-compact, limit has room again      main thread in DrainTasks:
//                                                                       waits for the job (hang)

import * as v8 from "node:v8";
import * as vm from "node:vm";

/**
 * The major GC function; null until found. A failed look-up is tried again at the next settle
 * (another worker thread may have turned the process-wide flag off between our two steps).
 */
let majorGc: (() => void) | null = null;
/** True while a settle is owed (scheduled and not run yet). */
let owed = false;
/** True once the 'exit' listener is installed (one per process). */
let exitHooked = false;

/**
 * V8's `gc` (a full, synchronous mark-compact). Without `--expose-gc` it is taken from a fresh
 * vm context made while the flag is on; the flag goes off again at once, so the program's own
 * contexts never see a `gc` global. null if that fails (this settle is then skipped).
 */
function lookUpGc(): (() => void) | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === "function") return own as () => void;
  try {
    v8.setFlagsFromString("--expose-gc");
    const fn: unknown = vm.runInNewContext("gc");
    return typeof fn === "function" ? (fn as () => void) : null;
  } catch {
    return null;
  } finally {
    v8.setFlagsFromString("--no-expose-gc");
  }
}

/** Runs the owed settle now (one major GC); nothing when none is owed. Never throws. */
export function settleHeapNow(): void {
  if (!owed) return;
  owed = false;
  if (majorGc === null) majorGc = lookUpGc();
  try {
    majorGc?.();
  } catch {
    // a GC that cannot run leaves the heap as it was: the old behaviour, not an error
  }
}

/**
 * Owes one settle after a kernel's large allocation (boot) or release (shutdown). It runs from
 * a referenced setImmediate, so the event loop cannot end, and NodePlatform::DrainTasks cannot
 * begin, before it; boots and shutdowns in one synchronous stretch share it. A process.exit()
 * that comes first runs it from the 'exit' event, before Node joins its worker threads.
 */
export function scheduleHeapSettle(): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on("exit", settleHeapNow);
  }
  if (owed) return;
  owed = true;
  setImmediate(settleHeapNow);
}
