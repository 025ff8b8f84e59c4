// mm/list.ts -- doubly linked lists of frames threaded through struct page lru links.
//
// Layer: helper under buddy.ts and slab.ts (the role of Linux's include/linux/list.h for
// page->lru). Interface: pfn_list_add / pfn_list_del / pfn_list_pop on a list head, which is
// one u32 in memory holding the first pfn (NO_PFN = empty).
// Rules: a frame is on at most one lru list at a time; the owner named by the frame's PG_*
// flags decides which (buddy free list, slab list, page cache LRU). Lists are NO_PFN
// terminated, not circular, so an empty list costs one word and needs no initialisation
// beyond storing NO_PFN.
//
//   head ──> [pfn a] <──> [pfn b] <──> [pfn c] ──> NO_PFN
//            prev=NO_PFN                next=NO_PFN

import { NO_PFN, PG_LRU_NEXT, PG_LRU_PREV, pfn_to_page } from "./page";

/** Pushes frame `pfn` at the front of the list whose head word is at `head`. */
@inline export function pfn_list_add(head: usize, pfn: u32): void {
  let first = load<u32>(head);
  let page = pfn_to_page(pfn);
  store<u32>(page, NO_PFN, PG_LRU_PREV);
  store<u32>(page, first, PG_LRU_NEXT);
  if (first != NO_PFN) store<u32>(pfn_to_page(first), pfn, PG_LRU_PREV);
  store<u32>(head, pfn);
}

/** Unlinks frame `pfn` from the list whose head word is at `head` (pfn must be on it). */
@inline export function pfn_list_del(head: usize, pfn: u32): void {
  let page = pfn_to_page(pfn);
  let prev = load<u32>(page, PG_LRU_PREV);
  let next = load<u32>(page, PG_LRU_NEXT);
  if (prev == NO_PFN) {
    assert(load<u32>(head) == pfn);
    store<u32>(head, next);
  } else {
    store<u32>(pfn_to_page(prev), next, PG_LRU_NEXT);
  }
  if (next != NO_PFN) store<u32>(pfn_to_page(next), prev, PG_LRU_PREV);
}

/** Removes and returns the first frame of the list at `head`, or NO_PFN when it is empty. */
@inline export function pfn_list_pop(head: usize): u32 {
  let pfn = load<u32>(head);
  if (pfn != NO_PFN) {
    let next = load<u32>(pfn_to_page(pfn), PG_LRU_NEXT);
    store<u32>(head, next);
    if (next != NO_PFN) store<u32>(pfn_to_page(next), NO_PFN, PG_LRU_PREV);
  }
  return pfn;
}
