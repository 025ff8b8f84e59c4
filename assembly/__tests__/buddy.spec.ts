// buddy.spec.ts -- the page allocator (mm/buddy.ts) against a model.
//
// Physical memory is a 64 MiB block from heap.alloc (raw, unmanaged). The model is one byte
// per frame (1 = handed out) plus the list of live blocks; every step of the random traces
// checks that no frame is handed out twice and that free + allocated == total, and at the
// end that freeing everything coalesces back to the canonical maximal blocks.

import { MAX_ORDER, NR_CPUS, PAGE_SHIFT, PAGE_SIZE } from "../params";
import { mm_bug_reason, mm_bug_clear } from "../mm/bug";
import {
  NO_PFN, PG_FLAGS, PG_ORDER, PG_MT, PG_head, PG_buddy, PG_reserved,
  MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_TYPES,
  nr_frames, max_frames, phys_base, pfn_to_page, pfn_to_addr,
} from "../mm/page";
import {
  mm_init, mm_hotplug, mm_set_hotplug, mm_drain_pcp, mm_verify, mm_frame_table_bytes,
  alloc_pages, free_pages, alloc_page, free_page,
  nr_free_pages, nr_total_pages, nr_reserved_pages, nr_free_blocks, nr_free_blocks_mt,
  fragmentation_index, mm_event_count, PAGEBLOCK_NR, PCP_BATCH, HOTPLUG_CHUNK,
  MM_EV_FALLBACK_CLAIM, MM_EV_FALLBACK_STEAL, MM_EV_HOTPLUG_GROW, MM_EV_ALLOC_FAIL,
  MM_EV_PCP_REFILL, MM_EV_PCP_SPILL,
} from "../mm/buddy";
import { set_current_cpu } from "../mm/slab";

const MIB: usize = 1 << 20;
const MIB32: u32 = 1 << 20;
const REGION_BYTES: usize = 64 * MIB;
const REGION: usize = heap.alloc(REGION_BYTES);
const MODEL_FRAMES: u32 = <u32>(REGION_BYTES >> PAGE_SHIFT);
const MODEL: usize = heap.alloc(MODEL_FRAMES);
const LIVE_MAX: u32 = 16384;
const LIVE_PFN: usize = heap.alloc(LIVE_MAX * 4);
const LIVE_ORDER: usize = heap.alloc(LIVE_MAX * 4);
let live: u32 = 0;
let allocated: u32 = 0;

let rng: u32 = 1;
function rnd(): u32 {
  let x = rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  rng = x;
  return x;
}

/** mm_init over the first `bytes` of the region, frame table sized for `max_bytes`. */
function init(bytes: usize, max_bytes: usize): void {
  mm_init(REGION, REGION + bytes, REGION + max_bytes);
  memory.fill(MODEL, 0, MODEL_FRAMES);
  live = 0;
  allocated = 0;
  set_current_cpu(0);
}

/** Blocks of `order` in the canonical buddy decomposition of frames [from, to). */
function canonical_blocks(order: u32, from: u32, to: u32): u32 {
  let n: u32 = 0;
  let p = from;
  while (p < to) {
    let o = min<u32>(<u32>ctz(p), MAX_ORDER - 1);
    while (p + (1 << o) > to) o--;
    if (o == order) n++;
    p += 1 << o;
  }
  return n;
}

/** Everything is free and coalesced into the canonical maximal blocks. */
function check_all_free(): void {
  mm_drain_pcp();
  expect<u32>(nr_free_pages()).toBe(nr_total_pages(), "free == total");
  expect<u32>(mm_verify()).toBe(nr_total_pages(), "mm_verify sees every frame");
  for (let o: u32 = 0; o < MAX_ORDER; o++) {
    expect<u32>(nr_free_blocks(o)).toBe(canonical_blocks(o, nr_reserved_pages(), nr_frames), "canonical blocks");
  }
}

/** Model: records block (pfn, order) as handed out; aborts if any frame already was. */
function model_alloc(pfn: u32, order: u32): void {
  assert(pfn != NO_PFN, "model_alloc: NO_PFN");
  assert((pfn & ((1 << order) - 1)) == 0, "block not aligned to its order");
  assert(pfn >= nr_reserved_pages() && pfn + (1 << order) <= nr_frames, "block outside allocatable frames");
  let w = load<u32>(pfn_to_page(pfn), PG_FLAGS);
  assert((w & (PG_head | PG_buddy | PG_reserved)) == PG_head, "head flags after alloc");
  assert(<u32>load<u8>(pfn_to_page(pfn), PG_ORDER) == order, "head order after alloc");
  for (let f: u32 = 0; f < (1 << order); f++) {
    assert(load<u8>(MODEL + pfn + f) == 0, "frame handed out twice");
    store<u8>(MODEL + pfn + f, 1);
  }
  assert(live < LIVE_MAX, "live table full");
  store<u32>(LIVE_PFN + (<usize>live << 2), pfn);
  store<u32>(LIVE_ORDER + (<usize>live << 2), order);
  live++;
  allocated += 1 << order;
}

/** Model: frees live block `idx` through the allocator. */
function model_free(idx: u32, use_free_page: bool): void {
  let pfn = load<u32>(LIVE_PFN + (<usize>idx << 2));
  let order = load<u32>(LIVE_ORDER + (<usize>idx << 2));
  live--;
  store<u32>(LIVE_PFN + (<usize>idx << 2), load<u32>(LIVE_PFN + (<usize>live << 2)));
  store<u32>(LIVE_ORDER + (<usize>idx << 2), load<u32>(LIVE_ORDER + (<usize>live << 2)));
  for (let f: u32 = 0; f < (1 << order); f++) {
    assert(load<u8>(MODEL + pfn + f) == 1, "model: freeing a frame not handed out");
    store<u8>(MODEL + pfn + f, 0);
  }
  if (order == 0 && use_free_page) free_page(pfn);
  else free_pages(pfn, order);
  allocated -= 1 << order;
}

function free_everything(): void {
  while (live > 0) model_free(live - 1, (live & 1) != 0);
}

/** Asserts that the check that stopped the last call was `reason` (as-pect's toThrow("...")
 *  only names the assertion; mm/bug.ts records which mm_bug fired), then forgets it. */
function expect_bug(reason: string): void {
  expect<string>(mm_bug_reason()).toBe(reason, "the check that fired");
  mm_bug_clear();
}

// globals for toThrow callbacks (closures cannot capture locals)
let victim: u32 = 0;
let victim_order: u32 = 0;

describe("buddy: init", () => {
  it("reserves the frame table and frees every other frame", () => {
    init(REGION_BYTES, REGION_BYTES);
    let base = (REGION + PAGE_SIZE - 1) & ~(<usize>PAGE_SIZE - 1);
    expect<usize>(phys_base).toBe(base);
    let frames = <u32>((REGION + REGION_BYTES - base) >> PAGE_SHIFT);
    expect<u32>(nr_frames).toBe(frames);
    let table = <u32>(mm_frame_table_bytes(REGION, REGION + REGION_BYTES) >> PAGE_SHIFT);
    expect<u32>(nr_reserved_pages()).toBe(table);
    expect<u32>(table).toBe((frames * 64 + PAGE_SIZE - 1) / PAGE_SIZE);
    for (let p: u32 = 0; p < table; p++) assert(load<u32>(pfn_to_page(p), PG_FLAGS) == PG_reserved);
    expect<u32>(nr_total_pages()).toBe(frames - table);
    check_all_free();
    // 64 MiB region: 15 whole 4 MiB blocks after the 256 KiB frame table
    expect<u32>(nr_free_blocks(MAX_ORDER - 1)).toBe((frames >> 10) - ((table + 1023) >> 10));
    expect<i32>(fragmentation_index(MAX_ORDER - 1)).toBe(-1000);
  });

  it("sizes the frame table for max_end and keeps the rest for hotplug", () => {
    init(16 * MIB, 64 * MIB);
    expect<u32>(max_frames).toBeGreaterThanOrEqual(nr_frames * 4 - 1);
    expect<u32>(nr_reserved_pages()).toBe((max_frames * 64 + PAGE_SIZE - 1) / PAGE_SIZE);
    check_all_free();
  });

  it("aborts on a region too small for its frame table", () => {
    expect(() => { mm_init(REGION, REGION + 64 * 1024, REGION + 64 * MIB); }).toThrow();
    expect_bug("mm_init: region too small for the frame table");
  });
});

describe("buddy: alloc and free", () => {
  it("hands out aligned blocks with PG_head and the order, and takes them back", () => {
    init(REGION_BYTES, REGION_BYTES);
    for (let o: u32 = 0; o < MAX_ORDER; o++) {
      let pfn = alloc_pages(o, MIGRATE_UNMOVABLE);
      model_alloc(pfn, o);
      expect<u8>(load<u8>(pfn_to_page(pfn), PG_MT)).toBe(MIGRATE_UNMOVABLE);
      // the frame is writable memory inside the region
      store<u64>(pfn_to_addr(pfn) + (PAGE_SIZE << o) - 8, 0x1234);
    }
    expect<u32>(nr_free_pages() + allocated).toBe(nr_total_pages());
    expect<u32>(mm_verify()).toBe(nr_free_pages());
    free_everything();
    check_all_free();
  });

  it("returns NO_PFN for order >= MAX_ORDER", () => {
    init(REGION_BYTES, REGION_BYTES);
    expect<u32>(alloc_pages(MAX_ORDER, MIGRATE_MOVABLE)).toBe(NO_PFN);
    expect<u32>(alloc_pages(40, MIGRATE_MOVABLE)).toBe(NO_PFN);
  });

  it("returns NO_PFN on exhaustion instead of trapping, for every order", () => {
    init(8 * MIB, 8 * MIB);
    let total = nr_total_pages();
    let n: u32 = 0;
    while (n <= total) {
      let pfn = alloc_page(<u8>(n % 3));
      if (pfn == NO_PFN) break;
      model_alloc(pfn, 0);
      n++;
    }
    expect<u32>(n).toBe(total, "every frame can be allocated");
    expect<u32>(nr_free_pages()).toBe(0);
    for (let o: u32 = 0; o < MAX_ORDER; o++) {
      expect<u32>(alloc_pages(o, MIGRATE_MOVABLE)).toBe(NO_PFN);
    }
    expect<i32>(fragmentation_index(3)).toBe(0);
    expect<u32>(mm_event_count(MM_EV_ALLOC_FAIL)).toBeGreaterThanOrEqual(MAX_ORDER);
    free_everything();
    check_all_free();
  });

  it("fragmentation_index follows Linux's formula", () => {
    init(8 * MIB, 8 * MIB);
    // allocate everything as order 0, then free every other frame: only order-0 free blocks
    let total = nr_total_pages();
    for (let i: u32 = 0; i < total; i++) model_alloc(alloc_pages(0, MIGRATE_MOVABLE), 0);
    mm_drain_pcp();
    let i: u32 = 0;
    while (i < live) {
      let pfn = load<u32>(LIVE_PFN + (<usize>i << 2));
      if (pfn & 1) model_free(i, false);
      else i++;
    }
    mm_drain_pcp();
    let free = nr_free_pages();
    expect<u32>(nr_free_blocks(0)).toBe(free, "no two free frames are buddies");
    expect<i32>(fragmentation_index(0)).toBe(-1000);
    // Linux: 1000 - (1000 + free_pages * 1000 / requested) / free_blocks_total
    let expected = 1000 - <i32>((1000 + (<u64>free * 1000) / 4) / <u64>free);
    expect<i32>(fragmentation_index(2)).toBe(expected);
    expect<i32>(fragmentation_index(2)).toBeGreaterThan(700, "failure due to fragmentation");
    free_everything();
    check_all_free();
  });

  it("aborts on double free, wrong order, reserved or out-of-range frames", () => {
    init(REGION_BYTES, REGION_BYTES);
    victim = alloc_pages(3, MIGRATE_MOVABLE);
    victim_order = 3;
    expect(() => { free_pages(victim, 2); }).toThrow("order mismatch");
    expect_bug("free_pages: order does not match the allocation");
    expect(() => { free_pages(victim + 1, 0); }).toThrow("tail frame");
    expect_bug("free_pages: not an allocated block head (double free?)");
    free_pages(victim, 3);
    expect(() => { free_pages(victim, victim_order); }).toThrow("double free of a buddy block");
    expect_bug("free_pages: double free (block is already free)");
    victim = alloc_page(MIGRATE_MOVABLE);
    free_page(victim);
    expect(() => { free_page(victim); }).toThrow("double free of a pcp frame");
    expect_bug("free_pages: not an allocated block head (double free?)");
    expect(() => { free_page(0); }).toThrow("reserved frame");
    expect_bug("free_pages: frame is reserved");
    expect(() => { free_page(nr_frames); }).toThrow("beyond memory");
    expect_bug("free_pages: pfn beyond physical memory");
    expect(() => { free_page(NO_PFN); }).toThrow("NO_PFN");
    expect_bug("free_pages: pfn beyond physical memory");
    check_all_free();
  });
});

describe("buddy: owners' flags", () => {
  it("lets owners rewrite flags and still catches double frees", () => {
    init(REGION_BYTES, REGION_BYTES);
    // the page cache style: flags replaced wholesale while the owner holds the frame
    let p = alloc_page(MIGRATE_MOVABLE);
    store<u32>(pfn_to_page(p), (1 << 3) | (1 << 8), PG_FLAGS); // PG_cache | PG_lru, no PG_head
    store<u32>(pfn_to_page(p), 0, PG_FLAGS);
    free_pages(p, 0);
    victim = p;
    expect(() => { free_pages(victim, 0); }).toThrow("double free after flags were rewritten");
    expect_bug("free_pages: not an allocated block head (double free?)");
    let q = alloc_pages(2, MIGRATE_MOVABLE);
    store<u32>(pfn_to_page(q), 1 << 5, PG_FLAGS); // PG_dirty only
    free_pages(q, 2);
    victim = q;
    expect(() => { free_pages(victim, 2); }).toThrow("double free of an order-2 block");
    expect_bug("free_pages: double free (block is already free)");
    check_all_free();
  });
});

describe("buddy: migratetypes", () => {
  it("an unmovable allocation claims a whole movable pageblock", () => {
    init(REGION_BYTES, REGION_BYTES);
    let top_before = nr_free_blocks(MAX_ORDER - 1);
    let pfn = alloc_pages(1, MIGRATE_UNMOVABLE);
    model_alloc(pfn, 1);
    expect<u32>(mm_event_count(MM_EV_FALLBACK_CLAIM)).toBe(1);
    expect<u32>(nr_free_blocks(MAX_ORDER - 1)).toBe(top_before - 1);
    // the rest of the claimed pageblock now sits on the unmovable lists: orders 1..9
    for (let o: u32 = 1; o < MAX_ORDER - 1; o++) {
      expect<u32>(nr_free_blocks_mt(o, MIGRATE_UNMOVABLE)).toBe(1);
    }
    // a second unmovable allocation is served from that pageblock, with no new claim
    model_alloc(alloc_pages(2, MIGRATE_UNMOVABLE), 2);
    expect<u32>(mm_event_count(MM_EV_FALLBACK_CLAIM)).toBe(1);
    expect<u32>((load<u32>(LIVE_PFN + 4) >> 10)).toBe(pfn >> 10, "same pageblock");
    // movable allocations do not touch it
    let m = alloc_pages(4, MIGRATE_MOVABLE);
    model_alloc(m, 4);
    expect<bool>((m >> 10) != (pfn >> 10)).toBe(true);
    free_everything();
    mm_drain_pcp();
    // the claimed pageblock merged back whole on the unmovable list
    expect<u32>(nr_free_blocks_mt(MAX_ORDER - 1, MIGRATE_UNMOVABLE)).toBe(1);
    check_all_free();
  });

  it("reclaimable falls back to unmovable before movable", () => {
    init(REGION_BYTES, REGION_BYTES);
    // make one whole pageblock unmovable: claim it with an order-10 block, free it
    let u = alloc_pages(MAX_ORDER - 1, MIGRATE_UNMOVABLE);
    free_pages(u, MAX_ORDER - 1);
    expect<u32>(nr_free_blocks_mt(MAX_ORDER - 1, MIGRATE_UNMOVABLE)).toBe(1);
    let claims = mm_event_count(MM_EV_FALLBACK_CLAIM);
    let r = alloc_pages(3, MIGRATE_RECLAIMABLE);
    model_alloc(r, 3);
    expect<u32>(mm_event_count(MM_EV_FALLBACK_CLAIM)).toBe(claims + 1);
    expect<u32>(r >> 10).toBe(u >> 10, "reclaimable claimed the unmovable pageblock");
    expect<u32>(nr_free_blocks_mt(MAX_ORDER - 1, MIGRATE_UNMOVABLE)).toBe(0);
    expect<u32>(nr_free_blocks_mt(3, MIGRATE_RECLAIMABLE)).toBe(1);
    free_everything();
    check_all_free();
  });

  it("steals small blocks without claiming when only fragments remain", () => {
    init(8 * MIB, 8 * MIB);
    // fill memory with unmovable order-0 frames, then free every 4th: fragments only
    let total = nr_total_pages();
    for (let i: u32 = 0; i < total; i++) model_alloc(alloc_pages(0, MIGRATE_UNMOVABLE), 0);
    let i: u32 = 0;
    while (i < live) {
      if ((load<u32>(LIVE_PFN + (<usize>i << 2)) & 3) == 0) model_free(i, false);
      else i++;
    }
    mm_drain_pcp();
    let steals = mm_event_count(MM_EV_FALLBACK_STEAL);
    model_alloc(alloc_pages(0, MIGRATE_MOVABLE), 0);
    expect<u32>(mm_event_count(MM_EV_FALLBACK_STEAL)).toBeGreaterThan(steals);
    free_everything();
    check_all_free();
  });
});

describe("buddy: per-CPU lists", () => {
  it("refills in batches and spills above the high mark, on every CPU", () => {
    init(REGION_BYTES, REGION_BYTES);
    for (let cpu: u32 = 0; cpu < NR_CPUS; cpu++) {
      set_current_cpu(cpu);
      for (let k: u32 = 0; k < 1000; k++) model_alloc(alloc_page(MIGRATE_MOVABLE), 0);
    }
    expect<u32>(mm_event_count(MM_EV_PCP_REFILL)).toBeGreaterThanOrEqual(NR_CPUS * 1000 / PCP_BATCH);
    // free everything on CPU 0: its list spills to the buddy lists
    set_current_cpu(0);
    free_everything();
    expect<u32>(mm_event_count(MM_EV_PCP_SPILL)).toBeGreaterThan(0);
    expect<u32>(nr_free_pages()).toBe(nr_total_pages(), "pcp frames count as free");
    expect<u32>(mm_verify()).toBe(nr_total_pages());
    check_all_free();
  });

  it("drains other CPUs' lists before reporting exhaustion", () => {
    init(8 * MIB, 8 * MIB);
    set_current_cpu(1);
    let p = alloc_page(MIGRATE_MOVABLE); // CPU 1's list now holds PCP_BATCH - 1 frames
    free_page(p);
    expect<u32>(nr_free_pages()).toBe(nr_total_pages());
    set_current_cpu(2);
    let total = nr_total_pages();
    let n: u32 = 0;
    while (n <= total) {
      let pfn = alloc_page(MIGRATE_MOVABLE);
      if (pfn == NO_PFN) break;
      model_alloc(pfn, 0);
      n++;
    }
    expect<u32>(n).toBe(total, "CPU 1's frames were drained and handed out");
    free_everything();
    check_all_free();
  });
});

describe("buddy: hotplug", () => {
  it("adds the frames between the old and the new end", () => {
    init(16 * MIB, 64 * MIB);
    let before = nr_total_pages();
    let added = mm_hotplug(REGION + 40 * MIB + 12 * 1024); // an unaligned end
    expect<u32>(nr_total_pages()).toBe(before + added);
    expect<u32>(nr_frames).toBe(<u32>((REGION + 40 * MIB + 12 * 1024 - phys_base) >> PAGE_SHIFT));
    check_all_free();
    expect<u32>(mm_hotplug(REGION + 20 * MIB)).toBe(0, "shrinking is not hotplug");
    let added2 = mm_hotplug(REGION + 64 * MIB);
    expect<u32>(added + added2 + before).toBe(nr_total_pages());
    expect<u32>(nr_frames).toBe(max_frames);
    expect<u32>(mm_hotplug(REGION + 64 * MIB + 4 * MIB)).toBe(0, "clipped to max_end");
    check_all_free();
  });

  it("merges hot-added frames with blocks allocated and freed before", () => {
    init(10 * MIB, 64 * MIB);
    rng = 77;
    for (let k: u32 = 0; k < 2000; k++) {
      let o = rnd() % 4;
      let pfn = alloc_pages(o, MIGRATE_MOVABLE);
      if (pfn != NO_PFN) model_alloc(pfn, o);
    }
    mm_hotplug(REGION + 50 * MIB);
    for (let k: u32 = 0; k < 2000; k++) {
      let o = rnd() % 6;
      let pfn = alloc_pages(o, <u8>(k % 3));
      if (pfn != NO_PFN) model_alloc(pfn, o);
    }
    expect<u32>(nr_free_pages() + allocated).toBe(nr_total_pages());
    free_everything();
    check_all_free();
  });
});

/** One random trace of `steps` alloc/free operations with mixed orders, migratetypes and
 *  CPUs against the model; hot-adds memory half way. */
function random_trace(steps: u32, seed: u32): void {
  init(48 * MIB, REGION_BYTES);
  rng = seed;
  let target: u32 = 1000;
  let failures: u32 = 0;
  for (let step: u32 = 0; step < steps; step++) {
    if ((step & 0xffff) == 0) target = 100 + rnd() % 3000;
    if ((step & 15) == 0) set_current_cpu(rnd() % NR_CPUS);
    if (step == steps / 2) mm_hotplug(REGION + REGION_BYTES - 20 * 1024);
    let r = rnd();
    let want_alloc = live == 0 || (live < LIVE_MAX && r % 100 < (live < target ? 65 : 35));
    if (want_alloc) {
      let r2 = rnd();
      let pick = r2 % 1000;
      let order: u32 = pick < 700 ? 0 : pick < 970 ? 1 + (r2 >> 10) % 3 : 4 + (r2 >> 10) % 7;
      let mt = <u8>((r2 >> 16) % <u32>MIGRATE_TYPES);
      let pfn = order == 0 && (r2 & (1 << 20)) != 0 ? alloc_page(mt) : alloc_pages(order, mt);
      if (pfn == NO_PFN) {
        failures++;
        // the slow path drained the pcp lists: no block of this order or larger is free
        for (let o = order; o < MAX_ORDER; o++) assert(nr_free_blocks(o) == 0, "NO_PFN while a block was free");
      } else {
        model_alloc(pfn, order);
      }
    } else {
      model_free(rnd() % live, (r & 1) != 0);
    }
    assert(nr_free_pages() + allocated == nr_total_pages(), "free + allocated != total");
    if (step % 100000 == 0) assert(mm_verify() == nr_free_pages(), "mm_verify");
  }
  expect<u32>(failures).toBeGreaterThan(0, "the trace reached exhaustion");
  expect<u32>(mm_event_count(MM_EV_FALLBACK_CLAIM)).toBeGreaterThan(0);
  expect<u32>(mm_event_count(MM_EV_FALLBACK_STEAL)).toBeGreaterThan(0);
  free_everything();
  check_all_free();
  expect<u32>(nr_free_blocks(MAX_ORDER - 1)).toBe(canonical_blocks(MAX_ORDER - 1, nr_reserved_pages(), nr_frames));
}

describe("buddy: random traces", () => {
  it("1,000,000 mixed alloc/free operations match the model", () => {
    random_trace(1000000, 0x2545f491);
  });
  it("200,000 more with another seed", () => {
    random_trace(200000, 0x9e3779b9);
  });
});

// Last: this grows linear memory. Physical memory is a range we grow ourselves at the end of
// linear memory, so hot-added frames are contiguous with it (nothing allocates from the
// managed heap between the grows inside the loop).
describe("buddy: memory.grow hotplug", () => {
  it("grows linear memory on exhaustion up to the limit, then returns NO_PFN", () => {
    let start = <usize>memory.grow(128) << 16; // 8 MiB
    let limit = start + 64 * MIB;
    mm_init(start, start + 8 * MIB, limit);
    mm_set_hotplug(true, limit);
    let n: u32 = 0;
    while (n < 1 << 20) {
      if (alloc_page(<u8>(n % 3)) == NO_PFN) break;
      n++;
    }
    let size_after = <usize>memory.size() << 16;
    expect<usize>(size_after).toBe(limit);
    expect<u32>(n).toBe(((64 * MIB32) >> PAGE_SHIFT) - nr_reserved_pages());
    expect<u32>(mm_event_count(MM_EV_HOTPLUG_GROW)).toBe((56 * MIB32) / HOTPLUG_CHUNK + 1);
    expect<u32>(nr_free_pages()).toBe(0);
    mm_set_hotplug(false, 0);
  });
});
