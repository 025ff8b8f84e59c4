// slab.spec.ts -- object caches and kmalloc (mm/slab.ts) against a model.
//
// Physical memory is a 64 MiB block from heap.alloc. The model is a shadow byte per 8-byte
// granule of that block (1 = inside an object handed out) plus the list of live objects: no
// two live objects may overlap, every object lies in a slab frame of its cache (or a
// kmalloc_large block), and freeing everything and shrinking gives every frame back.

import { MAX_ORDER, NR_CPUS, PAGE_SHIFT, PAGE_SIZE } from "../params";
import { mm_bug_reason, mm_bug_clear } from "../mm/bug";
import {
  NO_PFN, PG_FLAGS, PG_MAPPING, PG_INDEX, PG_slab, PG_head, MIGRATE_MOVABLE,
  nr_frames, phys_base, pfn_to_page, pfn_to_addr,
} from "../mm/page";
import {
  mm_init, mm_drain_pcp, mm_verify, alloc_pages, free_pages,
  nr_free_pages, nr_total_pages, nr_reserved_pages, nr_free_blocks,
} from "../mm/buddy";
import {
  set_current_cpu, kmem_cache_create, kmem_cache_alloc, kmem_cache_free, kmem_cache_shrink,
  kmem_cache_shrink_all, kmem_cache_destroy, kmem_cache_size, kmem_cache_objects_in_use,
  kmem_cache_total_objects, kmem_cache_nr_slabs, kmem_cache_nr_pages,
  kmalloc, kzalloc, kfree, ksize, slab_cache_count, slab_cache_get, slab_cache_name,
  slab_cache_object_size, slab_cache_objects_in_use, slab_cache_total_objects,
  slab_cache_slabs, slab_cache_pages, slab_verify,
  KMALLOC_MAX_CACHE_SIZE, KMALLOC_MAX_SIZE, KMEM_CACHE_OBJ_MAX, KMEM_CACHES_MAX, L1_CACHE_BYTES,
} from "../mm/slab";

const MIB: usize = 1 << 20;
const REGION_BYTES: usize = 64 * MIB;
const REGION: usize = heap.alloc(REGION_BYTES);
const SHADOW: usize = heap.alloc(REGION_BYTES >> 3);
const LIVE_MAX: u32 = 65536;
const LIVE_OBJ: usize = heap.alloc(LIVE_MAX * 4);
const LIVE_KIND: usize = heap.alloc(LIVE_MAX * 4); // cache slot in CACHES, or KIND_KMALLOC
const LIVE_SIZE: usize = heap.alloc(LIVE_MAX * 4);
const KIND_KMALLOC: u32 = 0xff;
const CACHES_NR: u32 = 8;
const CACHES: usize = heap.alloc(CACHES_NR * 4);
const CACHE_LIVE: usize = heap.alloc(CACHES_NR * 4);
const NAME_BUF: usize = heap.alloc(64);
let live: u32 = 0;

let rng: u32 = 1;
function rnd(): u32 {
  let x = rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  rng = x;
  return x;
}

function init(bytes: usize): void {
  mm_init(REGION, REGION + bytes, REGION + bytes);
  memory.fill(SHADOW, 0, REGION_BYTES >> 3);
  memory.fill(CACHE_LIVE, 0, CACHES_NR * 4);
  live = 0;
  set_current_cpu(0);
}

/** Frames held by slabs of every cache (what slab_cache_pages reports). */
function slab_pages_total(): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < slab_cache_count(); i++) n += slab_cache_pages(i);
  return n;
}

/** Model: object [obj, obj+size) handed out; checks bounds, flags and overlap, then fills it
 *  with a pattern (which would corrupt a slab freelist or a neighbour if layouts overlapped). */
function model_alloc(obj: usize, size: u32, kind: u32): void {
  assert(obj != 0, "model_alloc: 0");
  assert((obj & 7) == 0, "object not 8-byte aligned");
  let first = <u32>((obj - phys_base) >> PAGE_SHIFT);
  assert(obj >= phys_base && first >= nr_reserved_pages(), "object outside allocatable frames");
  assert(<u32>((obj + size - 1 - phys_base) >> PAGE_SHIFT) < nr_frames, "object beyond memory");
  let flags = load<u32>(pfn_to_page(first), PG_FLAGS);
  if (kind != KIND_KMALLOC) {
    assert((flags & PG_slab) != 0, "cache object not in a slab frame");
    assert(load<u32>(pfn_to_page(first), PG_MAPPING) == load<u32>(CACHES + (<usize>kind << 2)), "object in another cache's slab");
    store<u32>(CACHE_LIVE + (<usize>kind << 2), load<u32>(CACHE_LIVE + (<usize>kind << 2)) + 1);
  } else {
    size = <u32>ksize(obj);
  }
  let g0 = (obj - REGION) >> 3;
  let g1 = (obj + size - REGION + 7) >> 3;
  for (let g = g0; g < g1; g++) {
    assert(load<u8>(SHADOW + g) == 0, "objects overlap");
    store<u8>(SHADOW + g, 1);
  }
  memory.fill(obj, <u8>(live * 7 + 1), size);
  assert(live < LIVE_MAX, "live table full");
  store<u32>(LIVE_OBJ + (<usize>live << 2), <u32>obj);
  store<u32>(LIVE_KIND + (<usize>live << 2), kind);
  store<u32>(LIVE_SIZE + (<usize>live << 2), size);
  live++;
}

function model_free(idx: u32, via_kfree: bool): void {
  let obj = <usize>load<u32>(LIVE_OBJ + (<usize>idx << 2));
  let kind = load<u32>(LIVE_KIND + (<usize>idx << 2));
  let size = load<u32>(LIVE_SIZE + (<usize>idx << 2));
  live--;
  store<u32>(LIVE_OBJ + (<usize>idx << 2), load<u32>(LIVE_OBJ + (<usize>live << 2)));
  store<u32>(LIVE_KIND + (<usize>idx << 2), load<u32>(LIVE_KIND + (<usize>live << 2)));
  store<u32>(LIVE_SIZE + (<usize>idx << 2), load<u32>(LIVE_SIZE + (<usize>live << 2)));
  let g0 = (obj - REGION) >> 3;
  let g1 = (obj + size - REGION + 7) >> 3;
  for (let g = g0; g < g1; g++) store<u8>(SHADOW + g, 0);
  if (kind == KIND_KMALLOC || via_kfree) {
    kfree(obj);
  } else {
    kmem_cache_free(<usize>load<u32>(CACHES + (<usize>kind << 2)), obj);
  }
  if (kind != KIND_KMALLOC) {
    store<u32>(CACHE_LIVE + (<usize>kind << 2), load<u32>(CACHE_LIVE + (<usize>kind << 2)) - 1);
  }
}

function free_everything(): void {
  while (live > 0) model_free(live - 1, false);
}

/** Every object of every cache is back, and shrinking leaves only what the cache of caches
 *  needs for the live descriptors: then every frame is accounted for. */
function check_all_returned(): void {
  for (let i: u32 = 0; i < slab_cache_count(); i++) {
    let c = slab_cache_get(i);
    if (i > 0) expect<u32>(kmem_cache_objects_in_use(c)).toBe(0, "no object still out");
  }
  kmem_cache_shrink_all();
  expect<u32>(slab_verify()).toBe(slab_cache_slabs(0), "only the cache of caches keeps slabs");
  mm_drain_pcp();
  expect<u32>(nr_free_pages() + slab_pages_total()).toBe(nr_total_pages(), "every frame accounted for");
  expect<u32>(mm_verify()).toBe(nr_free_pages());
}

let ctor_calls: u32 = 0;
function ctor_mark(obj: usize): void {
  store<u32>(obj, 0xc0ffee);
  store<u32>(obj + 4, ctor_calls);
  ctor_calls++;
}

/** Asserts that the check that stopped the last call was `reason` (as-pect's toThrow("...")
 *  only names the assertion; mm/bug.ts records which mm_bug fired), then forgets it. */
function expect_bug(reason: string): void {
  expect<string>(mm_bug_reason()).toBe(reason, "the check that fired");
  mm_bug_clear();
}

// globals for toThrow callbacks
let bad_cache: usize = 0;
let bad_obj: usize = 0;

describe("slab: caches", () => {
  it("creates caches and validates arguments", () => {
    init(REGION_BYTES);
    expect<u32>(slab_cache_count()).toBe(1, "the cache of caches");
    let c = kmem_cache_create("test-64", 64, 0);
    expect<usize>(c).not.toBe(0);
    expect<u32>(kmem_cache_size(c)).toBe(64);
    expect<u32>(slab_cache_count()).toBe(2);
    expect<usize>(slab_cache_get(1)).toBe(c);
    let n = slab_cache_name(1, NAME_BUF, 64);
    expect<u32>(n).toBe(7);
    expect<string>(String.UTF8.decodeUnsafe(NAME_BUF, n)).toBe("test-64");
    expect<u32>(slab_cache_name(0, NAME_BUF, 64)).toBe(10);
    expect<string>(String.UTF8.decodeUnsafe(NAME_BUF, 10)).toBe("kmem_cache");
    expect<u32>(slab_cache_name(0, NAME_BUF, 3)).toBe(3, "truncated");
    expect<u32>(slab_cache_name(9, NAME_BUF, 64)).toBe(0, "out of range");
    expect<usize>(kmem_cache_create("zero", 0, 0)).toBe(0);
    expect<usize>(kmem_cache_create("huge", KMEM_CACHE_OBJ_MAX + 1, 0)).toBe(0);
    expect<usize>(kmem_cache_create("align3", 64, 3)).toBe(0);
    expect<usize>(kmem_cache_create("align8k", 64, 8192)).toBe(0);
    expect<u32>(slab_cache_count()).toBe(2, "failed creates leave nothing behind");
    let big = kmem_cache_create("big", KMEM_CACHE_OBJ_MAX, 0);
    expect<usize>(big).not.toBe(0);
    let o = kmem_cache_alloc(big);
    expect<usize>(o).not.toBe(0);
    kmem_cache_free(big, o);
    expect<bool>(kmem_cache_destroy(big)).toBe(true);
    expect<bool>(kmem_cache_destroy(c)).toBe(true);
    expect<u32>(slab_cache_count()).toBe(1);
    check_all_returned();
  });

  it("refuses to create more than KMEM_CACHES_MAX caches", () => {
    init(REGION_BYTES);
    let made: u32 = 0;
    while (made < KMEM_CACHES_MAX + 10) {
      if (kmem_cache_create("many", 32, 0) == 0) break;
      made++;
    }
    expect<u32>(made).toBe(KMEM_CACHES_MAX - 1);
    expect<u32>(slab_cache_count()).toBe(KMEM_CACHES_MAX);
    while (slab_cache_count() > 1) expect<bool>(kmem_cache_destroy(slab_cache_get(1))).toBe(true);
    check_all_returned();
  });

  it("aligns objects and colours slabs by cache line", () => {
    init(REGION_BYTES);
    let c = kmem_cache_create("aligned-100", 100, 32);
    let d = kmem_cache_create("colour-1000", 1000, 0);
    store<u32>(CACHES, <u32>c);
    store<u32>(CACHES + 4, <u32>d);
    for (let k: u32 = 0; k < 200; k++) {
      let o = kmem_cache_alloc(c);
      expect<usize>(o & 31).toBe(0, "32-byte aligned");
      model_alloc(o, 100, 0);
    }
    // 1000-byte objects: 4 per 4 KiB slab and 88 bytes of slack -> two colours, 0 and 64
    let seen0 = false;
    let seen64 = false;
    for (let k: u32 = 0; k < 64; k++) {
      let o = kmem_cache_alloc(d);
      model_alloc(o, 1000, 1);
      let in_slab = <u32>(o & (PAGE_SIZE - 1));
      let colour = in_slab % 1000;
      expect<u32>(colour % L1_CACHE_BYTES).toBe(0);
      if (colour == 0) seen0 = true;
      if (colour == 64) seen64 = true;
    }
    expect<bool>(seen0 && seen64).toBe(true, "both colours used");
    expect<u32>(kmem_cache_objects_in_use(c)).toBe(200);
    expect<u32>(kmem_cache_objects_in_use(d)).toBe(64);
    free_everything();
    expect<u32>(kmem_cache_objects_in_use(c)).toBe(0);
    expect<bool>(kmem_cache_shrink(c) > 0).toBe(true, "shrink gives pages back");
    expect<u32>(kmem_cache_nr_slabs(c)).toBe(0);
    expect<u32>(kmem_cache_nr_pages(c)).toBe(0);
    expect<bool>(kmem_cache_destroy(c)).toBe(true);
    expect<bool>(kmem_cache_destroy(d)).toBe(true);
    check_all_returned();
  });

  it("runs the constructor once per object when a slab is made, and keeps constructed state", () => {
    init(REGION_BYTES);
    ctor_calls = 0;
    let c = kmem_cache_create("ctor-48", 48, 0, ctor_mark);
    let o = kmem_cache_alloc(c);
    expect<u32>(load<u32>(o)).toBe(0xc0ffee);
    expect<u32>(ctor_calls).toBe(kmem_cache_total_objects(c), "one ctor call per object");
    let calls = ctor_calls;
    let tag = load<u32>(o + 4);
    kmem_cache_free(c, o);
    let o2 = kmem_cache_alloc(c);
    expect<usize>(o2).toBe(o, "LIFO per-CPU cache");
    expect<u32>(load<u32>(o2 + 4)).toBe(tag, "object kept its constructed state");
    expect<u32>(ctor_calls).toBe(calls, "no ctor call on reuse");
    kmem_cache_free(c, o2);
    expect<bool>(kmem_cache_destroy(c)).toBe(true);
    check_all_returned();
  });

  it("keeps objects in per-CPU caches and drains them all on shrink", () => {
    init(REGION_BYTES);
    let c = kmem_cache_create("percpu-64", 64, 0);
    store<u32>(CACHES, <u32>c);
    for (let cpu: u32 = 0; cpu < NR_CPUS; cpu++) {
      set_current_cpu(cpu);
      for (let k: u32 = 0; k < 300; k++) model_alloc(kmem_cache_alloc(c), 64, 0);
    }
    expect<u32>(kmem_cache_objects_in_use(c)).toBe(NR_CPUS * 300);
    // free on other CPUs than the one that allocated
    for (let k: u32 = 0; k < NR_CPUS * 300; k++) {
      set_current_cpu((k * 3) % NR_CPUS);
      model_free(rnd() % live, false);
      if ((k & 127) == 0) expect<u32>(kmem_cache_objects_in_use(c)).toBe(live);
    }
    // an object freed on CPU 2 is the next one CPU 2 gets back
    set_current_cpu(2);
    let o = kmem_cache_alloc(c);
    kmem_cache_free(c, o);
    set_current_cpu(1);
    let o1 = kmem_cache_alloc(c);
    expect<bool>(o1 != o).toBe(true, "CPU 1 does not see CPU 2's cached object");
    set_current_cpu(2);
    expect<usize>(kmem_cache_alloc(c)).toBe(o);
    kmem_cache_free(c, o);
    set_current_cpu(1);
    kmem_cache_free(c, o1);
    expect<u32>(kmem_cache_objects_in_use(c)).toBe(0);
    expect<bool>(kmem_cache_total_objects(c) > 0).toBe(true, "objects still cached");
    expect<u32>(kmem_cache_shrink(c)).toBeGreaterThan(0);
    expect<u32>(kmem_cache_total_objects(c)).toBe(0, "all CPUs drained");
    expect<bool>(kmem_cache_destroy(c)).toBe(true);
    check_all_returned();
  });

  it("refuses to destroy a cache with objects out", () => {
    init(REGION_BYTES);
    let c = kmem_cache_create("busy", 128, 0);
    let o = kmem_cache_alloc(c);
    expect<bool>(kmem_cache_destroy(c)).toBe(false);
    expect<u32>(kmem_cache_objects_in_use(c)).toBe(1);
    kmem_cache_free(c, o);
    expect<bool>(kmem_cache_destroy(c)).toBe(true);
    check_all_returned();
  });

  it("aborts on frees of foreign, misaligned or outside pointers", () => {
    init(REGION_BYTES);
    let a = kmem_cache_create("a-64", 64, 0);
    let b = kmem_cache_create("b-64", 64, 0);
    bad_cache = a;
    bad_obj = kmem_cache_alloc(b);
    expect(() => { kmem_cache_free(bad_cache, bad_obj); }).toThrow("object of another cache");
    expect_bug("kmem_cache_free: object does not belong to this cache");
    bad_cache = b;
    expect(() => { kmem_cache_free(bad_cache, bad_obj + 8); }).toThrow("inside an object");
    expect_bug("kmem_cache_free: pointer is not an object of this cache");
    expect(() => { kmem_cache_free(bad_cache, REGION - 64); }).toThrow("outside physical memory");
    expect_bug("kmem_cache_free: pointer outside physical memory");
    expect(() => { kmem_cache_free(bad_cache + 4, bad_obj); }).toThrow("not a cache");
    expect_bug("kmem_cache_free: not a kmem_cache");
    expect(() => { kfree(bad_obj + 4); }).toThrow("kfree inside an object");
    expect_bug("kmem_cache_free: pointer is not an object of this cache");
    kmem_cache_free(b, bad_obj);
    expect(() => { kmem_cache_free(bad_cache, bad_obj); }).toThrow("double free (debug build)");
    expect_bug("kmem_cache_free: double free (object is in the CPU's array cache)");
    bad_obj = kmalloc(3 * PAGE_SIZE);
    expect(() => { kfree(bad_obj + PAGE_SIZE); }).toThrow("kfree inside a large block");
    expect_bug("kfree: pointer not from kmalloc (or double free)");
    kfree(bad_obj);
    expect(() => { kfree(bad_obj); }).toThrow("double kfree of a large block");
    expect_bug("kfree: pointer not from kmalloc (or double free)");
    let pfn = alloc_pages(1, MIGRATE_MOVABLE);
    bad_obj = pfn_to_addr(pfn);
    expect(() => { kfree(bad_obj); }).toThrow("kfree of a page not from kmalloc");
    expect_bug("kfree: pointer not from kmalloc (or double free)");
    free_pages(pfn, 1);
    kmem_cache_destroy(a);
    kmem_cache_destroy(b);
    check_all_returned();
  });
});

describe("slab: kmalloc", () => {
  it("serves every size class and large sizes", () => {
    init(REGION_BYTES);
    for (let size: u32 = 0; size <= 2 * KMALLOC_MAX_CACHE_SIZE; size += size < 64 ? 1 : 7) {
      let p = kmalloc(size);
      model_alloc(p, max(size, 1), KIND_KMALLOC);
      let ks = <u32>ksize(p);
      expect<bool>(ks >= size).toBe(true, "ksize covers the request");
      if (size <= KMALLOC_MAX_CACHE_SIZE) {
        expect<u32>(ks).toBe(size <= 8 ? 8 : <u32>1 << (32 - clz(size - 1)), "power-of-two class");
      } else {
        expect<usize>(p & (PAGE_SIZE - 1)).toBe(0, "large kmalloc is page aligned");
      }
    }
    for (let shift: u32 = 12; shift <= 22; shift++) {
      let size = <u32>1 << shift;
      let p = kmalloc(size - 1);
      model_alloc(p, size - 1, KIND_KMALLOC);
      expect<u32>(<u32>ksize(p)).toBe(size);
    }
    expect<usize>(kmalloc(KMALLOC_MAX_SIZE + 1)).toBe(0);
    expect<usize>(kmalloc(<usize>0xffffffff)).toBe(0);
    kfree(0);
    // all nine kmalloc caches exist
    let found: u32 = 0;
    for (let i: u32 = 0; i < slab_cache_count(); i++) {
      let n = slab_cache_name(i, NAME_BUF, 64);
      if (n >= 8 && String.UTF8.decodeUnsafe(NAME_BUF, 8) == "kmalloc-") {
        found++;
        expect<u32>(slab_cache_objects_in_use(i)).toBeGreaterThan(0);
        expect<bool>(slab_cache_total_objects(i) >= slab_cache_objects_in_use(i)).toBe(true);
        expect<bool>(slab_cache_pages(i) >= slab_cache_slabs(i)).toBe(true);
        expect<u32>(slab_cache_object_size(i) & (slab_cache_object_size(i) - 1)).toBe(0);
      }
    }
    expect<u32>(found).toBe(9);
    free_everything();
    check_all_returned();
  });

  it("kzalloc zeroes, kmalloc does not have to", () => {
    init(REGION_BYTES);
    let p = kmalloc(200);
    memory.fill(p, 0xab, 200);
    kfree(p);
    let q = kzalloc(200);
    expect<usize>(q).toBe(p, "same object back (LIFO)");
    for (let i: u32 = 0; i < 200; i++) assert(load<u8>(q + i) == 0, "kzalloc zeroed");
    kfree(q);
    let r = kzalloc(5 * PAGE_SIZE);
    for (let i: u32 = 0; i < 5 * PAGE_SIZE; i += 8) assert(load<u64>(r + i) == 0, "large kzalloc zeroed");
    kfree(r);
    check_all_returned();
  });

  it("returns 0 on exhaustion and recovers", () => {
    init(4 * MIB);
    let c = kmem_cache_create("fill-1000", 1000, 0);
    store<u32>(CACHES, <u32>c);
    let n: u32 = 0;
    while (n < LIVE_MAX) {
      let o = kmem_cache_alloc(c);
      if (o == 0) break;
      model_alloc(o, 1000, 0);
      n++;
    }
    expect<bool>(n > 3000).toBe(true, "most of 4 MiB was used");
    expect<u32>(nr_free_pages()).toBe(0);
    expect<usize>(kmalloc(100)).toBe(0, "kmalloc-128 cannot get a slab");
    expect<usize>(kmalloc(64 * 1024)).toBe(0);
    // a descriptor may still come from the cache of caches' per-CPU array, but no slab can
    let late = kmem_cache_create("late", 32, 0);
    if (late != 0) {
      expect<usize>(kmem_cache_alloc(late)).toBe(0);
      expect<bool>(kmem_cache_destroy(late)).toBe(true);
    }
    free_everything();
    expect<u32>(kmem_cache_shrink(c)).toBeGreaterThan(0);
    let p = kmalloc(100);
    expect<usize>(p).not.toBe(0, "memory is back");
    kfree(p);
    kmem_cache_destroy(c);
    check_all_returned();
  });
});

/** Random trace: `steps` alloc/free operations over several caches and kmalloc, on random
 *  CPUs, against the shadow model. Region of `bytes` so the trace reaches exhaustion. */
function random_trace(steps: u32, seed: u32, bytes: usize): void {
  init(bytes);
  rng = seed;
  store<u32>(CACHES + 0, <u32>kmem_cache_create("t-8", 8, 0));
  store<u32>(CACHES + 4, <u32>kmem_cache_create("t-24", 24, 0));
  store<u32>(CACHES + 8, <u32>kmem_cache_create("t-64", 64, 64));
  store<u32>(CACHES + 12, <u32>kmem_cache_create("t-100", 100, 16));
  store<u32>(CACHES + 16, <u32>kmem_cache_create("t-256", 256, 0));
  store<u32>(CACHES + 20, <u32>kmem_cache_create("t-1000", 1000, 0));
  store<u32>(CACHES + 24, <u32>kmem_cache_create("t-3000", 3000, 0));
  store<u32>(CACHES + 28, <u32>kmem_cache_create("t-ctor-40", 40, 0, ctor_mark));
  const SIZES: StaticArray<u32> = [8, 24, 64, 100, 256, 1000, 3000, 40];
  let target: u32 = 5000;
  let failures: u32 = 0;
  for (let step: u32 = 0; step < steps; step++) {
    if ((step & 0x7fff) == 0) target = 500 + rnd() % 30000;
    if ((step & 7) == 0) set_current_cpu(rnd() % NR_CPUS);
    let r = rnd();
    let want_alloc = live == 0 || (live < LIVE_MAX - 1 && r % 100 < (live < target ? 62 : 38));
    if (want_alloc) {
      let r2 = rnd();
      let pick = r2 % 1000;
      if (pick < 600) {
        let kind = (r2 >> 10) % CACHES_NR;
        let o = kmem_cache_alloc(<usize>load<u32>(CACHES + (<usize>kind << 2)));
        if (o == 0) failures++;
        else model_alloc(o, unchecked(SIZES[kind]), kind);
      } else {
        let size: u32 = pick < 995 ? 1 + (r2 >> 10) % KMALLOC_MAX_CACHE_SIZE : 2049 + (r2 >> 10) % (64 * 1024);
        let o = kmalloc(size);
        if (o == 0) failures++;
        else model_alloc(o, size, KIND_KMALLOC);
      }
    } else {
      model_free(rnd() % live, (r & 3) == 0);
    }
    if ((step & 0x3fff) == 0) {
      for (let k: u32 = 0; k < CACHES_NR; k++) {
        let c = <usize>load<u32>(CACHES + (<usize>k << 2));
        assert(kmem_cache_objects_in_use(c) == load<u32>(CACHE_LIVE + (<usize>k << 2)), "objects in use");
      }
    }
    if (step % 200000 == 0) slab_verify();
  }
  expect<u32>(failures).toBeGreaterThan(0, "the trace reached exhaustion");
  slab_verify();
  free_everything();
  for (let k: u32 = 0; k < CACHES_NR; k++) {
    let c = <usize>load<u32>(CACHES + (<usize>k << 2));
    expect<u32>(kmem_cache_objects_in_use(c)).toBe(0);
  }
  let held = slab_pages_total();
  let returned = kmem_cache_shrink_all();
  expect<u32>(returned).toBeGreaterThan(0);
  expect<u32>(slab_pages_total()).toBe(held - returned);
  for (let k: u32 = 0; k < CACHES_NR; k++) {
    expect<bool>(kmem_cache_destroy(<usize>load<u32>(CACHES + (<usize>k << 2)))).toBe(true);
  }
  check_all_returned();
}

describe("slab: random traces", () => {
  it("1,000,000 mixed cache/kmalloc operations on 4 CPUs match the model", () => {
    random_trace(1000000, 0x1234567, 16 * MIB);
  });
});
