// pagecache.spec.ts -- the page cache's reclaim against the CLOCK rules (fs/pagecache.ts):
// an unreferenced clean page goes, a referenced one gets a second chance, and a second chance
// costs no scan budget, so a cache of pages that were all used once still frees what is asked.

import { fs_fresh } from "./fsfixture";
import { add_page, find_page, reclaim, nr_cached, drop_caches } from "../fs/pagecache";
import { NO_PFN } from "../mm/page";

/** A pseudo-inode whose address_space holds the test's pages (no inode record behind it). */
const MAPPING: u32 = 1 << 20;

function fill(n: u32, used: bool): void {
  for (let i: u32 = 0; i < n; i++) expect(add_page(MAPPING, i)).not.toBe(NO_PFN);
  if (used) for (let i: u32 = 0; i < n; i++) expect(find_page(MAPPING, i)).not.toBe(NO_PFN);
}

describe("pagecache: reclaim (CLOCK)", () => {
  test("unreferenced clean pages go first, oldest first", () => {
    fs_fresh(4096);
    drop_caches();
    fill(1000, false);
    const before = nr_cached;
    expect(reclaim(32, false)).toBe(32);
    expect(nr_cached).toBe(before - 32);
    for (let i: u32 = 0; i < 32; i++) expect(find_page(MAPPING, i)).toBe(NO_PFN);
    expect(find_page(MAPPING, 32)).not.toBe(NO_PFN);
    drop_caches();
  });

  test("a cache of pages that were all used once still frees what is asked, in one call", () => {
    fs_fresh(4096);
    drop_caches();
    // far more than the default scan budget (32 x 4 + 64): every one referenced
    fill(2000, true);
    const before = nr_cached;
    expect(reclaim(32, false)).toBe(32);
    expect(nr_cached).toBe(before - 32);
    drop_caches();
  });

  test("a page used since the hand passed gets its second chance", () => {
    fs_fresh(4096);
    drop_caches();
    fill(100, false);
    expect(find_page(MAPPING, 0)).not.toBe(NO_PFN); // the oldest, used again
    expect(reclaim(1, false)).toBe(1);
    expect(find_page(MAPPING, 0)).not.toBe(NO_PFN); // kept
    expect(find_page(MAPPING, 1)).toBe(NO_PFN); // the next oldest went
    drop_caches();
  });
});
