// pagecache.spec.ts -- the page cache's reclaim against the CLOCK rules (fs/pagecache.ts):
// an unreferenced clean page goes, a referenced one gets a second chance, and a second chance
// costs no scan budget, so a cache of pages that were all used once still frees what is asked;
// an allocation inside a syscall gets a frame even when the LRU tail is all metadata buffers.
// Oracles: find_page, the cache's nr_cached, and the page allocator's free frames (a page
// that left the cache must be a frame the buddy allocator has back, not only a counter).

import { fs_fresh } from "./fsfixture";
import { add_page, find_page, reclaim, nr_cached, drop_caches, bget } from "../fs/pagecache";
import { alloc_pages, free_pages, nr_free_pages } from "../mm/buddy";
import { NO_PFN } from "../mm/page";

/** A pseudo-inode whose address_space holds the test's pages (no inode record behind it). */
const MAPPING: u32 = 1 << 20;

/** A fresh filesystem with an empty cache, then `n` pages of MAPPING, each used once if `used`. */
function fresh_with_pages(n: u32, used: bool): void {
  fs_fresh(4096);
  drop_caches();
  for (let i: u32 = 0; i < n; i++) expect(add_page(MAPPING, i)).not.toBe(NO_PFN);
  if (used) for (let i: u32 = 0; i < n; i++) expect(find_page(MAPPING, i)).not.toBe(NO_PFN);
}

describe("pagecache: reclaim (CLOCK)", () => {
  test("unreferenced clean pages go first, oldest first", () => {
    fresh_with_pages(1000, false);
    const before = nr_cached;
    const free_before = nr_free_pages();
    expect(reclaim(32, false)).toBe(32);
    expect(nr_cached).toBe(before - 32);
    expect(nr_free_pages()).toBe(free_before + 32, "frames back in the page allocator");
    for (let i: u32 = 0; i < 32; i++) expect(find_page(MAPPING, i)).toBe(NO_PFN);
    expect(find_page(MAPPING, 32)).not.toBe(NO_PFN);
    drop_caches();
  });

  test("a cache of pages that were all used once still frees what is asked, in one call", () => {
    // far more than the default scan budget (32 x 4 + 64): every one referenced
    fresh_with_pages(2000, true);
    const before = nr_cached;
    const free_before = nr_free_pages();
    expect(reclaim(32, false)).toBe(32);
    expect(nr_cached).toBe(before - 32);
    expect(nr_free_pages()).toBe(free_before + 32, "frames back in the page allocator");
    drop_caches();
  });

  test("a page used since the hand passed gets its second chance", () => {
    fresh_with_pages(100, false);
    expect(find_page(MAPPING, 0)).not.toBe(NO_PFN); // the oldest, used again
    expect(reclaim(1, false)).toBe(1);
    expect(find_page(MAPPING, 0)).not.toBe(NO_PFN); // kept
    expect(find_page(MAPPING, 1)).toBe(NO_PFN); // the next oldest went
    drop_caches();
  });

  test("with no free frame and a tail of metadata buffers, a new page still gets a frame", () => {
    fs_fresh(4096);
    drop_caches();
    // 400 clean buffers (not evictable inside a syscall) at the tail, file pages after them
    for (let b: u64 = 3000; b < 3400; b++) expect(bget(b)).not.toBe(0);
    expect(reclaim(1, false)).toBe(0); // clears their lookaside marks: a use since the hand passed
    for (let i: u32 = 0; i < 64; i++) expect(add_page(MAPPING, i)).not.toBe(NO_PFN);
    const held = new Array<u32>();
    for (;;) {
      const pfn = alloc_pages(0);
      if (pfn == NO_PFN) break;
      held.push(pfn);
    }
    expect(add_page(MAPPING, 1000)).not.toBe(NO_PFN);
    for (let i = 0; i < held.length; i++) free_pages(held[i], 0);
    drop_caches();
  });
});
