// mm/bench.ts -- micro-benchmarks of the page allocator and the slab allocator.
//
// Layer: test harness over buddy.ts and slab.ts; the host times these exports (DESIGN §8:
// buddy alloc+free <= 50 ns, slab alloc+free <= 15 ns). Rules: each function performs
// exactly `n` alloc+free pairs in bursts of BENCH_BURST (allocate a burst, free it in
// reverse), leaves the allocator as it found it, and returns a checksum of the addresses
// it got so the work cannot be optimised away. Requires mm_init to have run. A burst that
// finds memory exhausted stops the benchmark early (the checksum then differs).

import { MAX_ORDER } from "../params";
import { NO_PFN, MIGRATE_UNMOVABLE, MIGRATE_MOVABLE } from "./page";
import { alloc_page, free_page, alloc_pages, free_pages } from "./buddy";
import { kmem_cache_create, kmem_cache_alloc, kmem_cache_free, kmem_cache_destroy } from "./slab";

/** Allocations held at once by a benchmark burst. */
export const BENCH_BURST: u32 = 16;
/** Highest order the mixed benchmark asks for (Linux PAGE_ALLOC_COSTLY_ORDER). */
export const BENCH_MIXED_ORDER_MAX: u32 = 3;

/** Held pfns / objects of the current burst, and the orders of the mixed benchmark. */
const BURST: usize = memory.data(<i32>(BENCH_BURST * sizeof<usize>()), 16);
const BURST_ORDER: usize = memory.data(<i32>(BENCH_BURST * 4), 16);

/** n order-0 alloc_page + free_page pairs (MIGRATE_UNMOVABLE). Returns a checksum. */
export function mm_bench_buddy(n: u32): u32 {
  let sum: u32 = 0;
  let done: u32 = 0;
  while (done < n) {
    let k = min(BENCH_BURST, n - done);
    let got: u32 = 0;
    while (got < k) {
      let pfn = alloc_page(MIGRATE_UNMOVABLE);
      if (pfn == NO_PFN) break;
      store<u32>(BURST + (<usize>got << 2), pfn);
      sum = (sum ^ pfn) * 0x01000193;
      got++;
    }
    for (let j = <i32>got - 1; j >= 0; j--) free_page(load<u32>(BURST + (<usize>j << 2)));
    if (got < k) break;
    done += k;
  }
  return sum;
}

/** n alloc_pages + free_pages pairs of orders 0..BENCH_MIXED_ORDER_MAX drawn by xorshift32,
 *  alternating MIGRATE_UNMOVABLE and MIGRATE_MOVABLE: exercises split, merge and fallback
 *  as well as the pcp lists. Returns a checksum. */
export function mm_bench_buddy_mixed(n: u32): u32 {
  assert(BENCH_MIXED_ORDER_MAX < MAX_ORDER);
  let sum: u32 = 0;
  let rng: u32 = 0x9e3779b9;
  let done: u32 = 0;
  while (done < n) {
    let k = min(BENCH_BURST, n - done);
    let got: u32 = 0;
    while (got < k) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      let order = rng & BENCH_MIXED_ORDER_MAX;
      let pfn = alloc_pages(order, (got & 1) != 0 ? MIGRATE_MOVABLE : MIGRATE_UNMOVABLE);
      if (pfn == NO_PFN) break;
      store<u32>(BURST + (<usize>got << 2), pfn);
      store<u32>(BURST_ORDER + (<usize>got << 2), order);
      sum = (sum ^ pfn) * 0x01000193;
      got++;
    }
    for (let j = <i32>got - 1; j >= 0; j--) {
      free_pages(load<u32>(BURST + (<usize>j << 2)), load<u32>(BURST_ORDER + (<usize>j << 2)));
    }
    if (got < k) break;
    done += k;
  }
  return sum;
}

/** n kmem_cache_alloc + kmem_cache_free pairs on a fresh 64-byte cache, destroyed at the
 *  end. Returns a checksum (0 if the cache cannot be created). */
export function mm_bench_slab(n: u32): u32 {
  let cache = kmem_cache_create("bench-64", 64, 0);
  if (cache == 0) return 0;
  let sum: u32 = 0;
  let done: u32 = 0;
  while (done < n) {
    let k = min(BENCH_BURST, n - done);
    let got: u32 = 0;
    while (got < k) {
      let obj = kmem_cache_alloc(cache);
      if (obj == 0) break;
      store<usize>(BURST + (<usize>got << alignof<usize>()), obj);
      sum = (sum ^ <u32>obj) * 0x01000193;
      got++;
    }
    for (let j = <i32>got - 1; j >= 0; j--) {
      kmem_cache_free(cache, load<usize>(BURST + (<usize>j << alignof<usize>())));
    }
    if (got < k) break;
    done += k;
  }
  kmem_cache_destroy(cache);
  return sum;
}
