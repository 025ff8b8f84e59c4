// alloc.spec.ts -- the extent allocator (fs/alloc.ts) against a bitmap model.
//
// The filesystem is a small mounted one on the in-memory device (fsfixture.ts): 4096 blocks,
// a 256-block journal, one free extent after mkfs. The model is one byte per block: 1 = handed
// to the test by balloc, 2 = freed by the test with bfree_deferred and not yet applied. The
// blocks the filesystem uses for itself (superblocks, journal, every tree node, the AGFL, the
// deferred list) are re-derived from the kernel's own structures (mark_fs_metadata), so the
// expected free space is "neither the test's nor the filesystem's", and it is compared with
// the free-space trees extent by extent: TREE_BNO must hold exactly the maximal runs of
// expected-free blocks (so frees coalesce with both neighbours and nothing leaks or is handed
// out twice), TREE_CNT the same extents, and free_blocks their sum.
//
// Checked:
//  - directed: goal allocation returns the goal when its free extent allows (and clips to the
//    extent's end); without a usable goal, best fit takes the smallest extent that holds
//    `want` (lowest start on ties), else the largest extent if it has `minLen`, else fails;
//    freed blocks are not reused before alloc_apply_deferred; freeing everything coalesces
//    back to the single free extent mkfs made (one TREE_BNO entry, one TREE_CNT entry);
//  - random: 20,000 balloc(goal, want, min) / bfree_deferred (whole, prefix, suffix, middle
//    of live extents) / alloc_apply_deferred / fs_commit steps; every balloc result is
//    predicted exactly from the model (goal, best fit, largest, failure) whenever the AGFL
//    needs no refill first; allocated extents never overlap each other, deferred frees or the
//    filesystem's blocks; the free-space trees equal the model after every step; the test's
//    extents are recorded as extent records of a real file, so fsck_run(false) == 0 after
//    every commit; at the end everything is freed and the trees hold exactly the maximal
//    free runs around the filesystem's own blocks;
//  - fragmentation: all free space taken, every other block given back (~1,900 one-block
//    extents): the free-space trees outgrow the AGFL, so applying frees refills it from free
//    space, and the trees still equal the model; giving everything back coalesces again;
//  - a double free is refused with EUCLEAN when the deferred list is applied.

import {
  balloc, balloc_len, bfree_deferred, alloc_apply_deferred, alloc_deferred_count, free_blocks,
  total_blocks,
} from "../fs/alloc";
import {
  bt_seek, bt_next, bt_lookup, bt_insert, bt_delete, bt_update, cur_k1, cur_k2, cur_val,
  CURSOR_SIZE,
} from "../fs/btree";
import {
  TREE_BNO, TREE_CNT, TREE_EXTENT, MAGIC_SUPER, SB_AGFL_COUNT, AGFL_LOW, EXTENT_MAX, ext_vlen, EXT_BIRTH,
} from "../fs/format";
import { bread } from "../fs/pagecache";
import { fs_commit } from "../fs/super";
import { journal_should_commit } from "../fs/journal";
import { fsck_run } from "../fs/fsck";
import { inode_get_mut, I_BLOCKS } from "../fs/inode";
import { EUCLEAN } from "../lib/errno";
import { fs_fresh, rng_seed, rnd, mark_fs_metadata, mark_tree, make_extent_file } from "./fsfixture";

const TOTAL: u32 = 4096; // 16 MiB
const USED: usize = heap.alloc(TOTAL); // model: 0 free, 1 the test's, 2 freed, not yet applied
const META: usize = heap.alloc(TOTAL); // the filesystem's own blocks (recomputed)
const RUNS_MAX: u32 = TOTAL / 2 + 1;
const RUN_S: usize = heap.alloc(RUNS_MAX * 8);
const RUN_L: usize = heap.alloc(RUNS_MAX * 8);
let nruns: u32 = 0;
let expected_free: u64 = 0;
const CUR: usize = memory.data(CURSOR_SIZE);
const VAL: usize = memory.data(16 + 4 * 256); // an extent record with zero checksums

function fail(what: string, a: u64, b: u64): void {
  log<string>("alloc.spec: " + what + " (" + a.toString() + ", " + b.toString() + ")");
  assert(false, what);
}

@inline function run_s(i: u32): u64 { return load<u64>(RUN_S + (<usize>i << 3)); }
@inline function run_l(i: u32): u64 { return load<u64>(RUN_L + (<usize>i << 3)); }

/**
 * Recomputes the filesystem's blocks and the expected free runs, checks the model against
 * them, and compares the free-space trees with the runs. Returns the number of free extents.
 */
function check_free_space(): u32 {
  mark_fs_metadata(META, <u64>TOTAL);
  nruns = 0;
  expected_free = 0;
  let b: u32 = 0;
  while (b < TOTAL) {
    const m = load<u8>(USED + b);
    if (m == 1 && load<u8>(META + b) != 0) fail("a block of the test is also the filesystem's", b, 0);
    if (m == 2 && load<u8>(META + b) == 0) fail("a deferred free is not on the deferred list", b, 0);
    if (m != 0 || load<u8>(META + b) != 0) { b++; continue; }
    const s = b;
    while (b < TOTAL && load<u8>(USED + b) == 0 && load<u8>(META + b) == 0) b++;
    store<u64>(RUN_S + (<usize>nruns << 3), s);
    store<u64>(RUN_L + (<usize>nruns << 3), b - s);
    expected_free += b - s;
    nruns++;
  }
  // TREE_BNO: exactly the runs, in order
  let i: u32 = 0;
  if (bt_seek(CUR, TREE_BNO, 0, 0, true)) {
    do {
      const s = cur_k1(CUR);
      const l = load<u64>(cur_val(CUR));
      if (i >= nruns) fail("free extent the model does not have", s, l);
      if (s != run_s(i) || l != run_l(i)) {
        log<string>("expected run " + run_s(i).toString() + "+" + run_l(i).toString());
        fail("free extent differs from the model's run", s, l);
      }
      i++;
    } while (bt_next(CUR));
  }
  if (i != nruns) fail("free extents missing from TREE_BNO", i, nruns);
  // TREE_CNT: the same extents keyed by (len, start)
  let c: u32 = 0;
  if (bt_seek(CUR, TREE_CNT, 0, 0, true)) { do { c++; } while (bt_next(CUR)); }
  if (c != nruns) fail("TREE_CNT entries", c, nruns);
  for (let j: u32 = 0; j < nruns; j++) {
    if (bt_lookup(TREE_CNT, run_l(j), run_s(j)) == 0) fail("run missing from TREE_CNT", run_s(j), run_l(j));
  }
  if (free_blocks != expected_free) fail("free_blocks", free_blocks, expected_free);
  return nruns;
}

/** Expected balloc result from the runs; returns the start (0 = failure), length in pred_len. */
let pred_len: u64 = 0;
function predict(goal: u64, want: u64, minLen: u64): u64 {
  pred_len = 0;
  if (goal != 0) {
    for (let i: u32 = 0; i < nruns; i++) {
      const s = run_s(i), l = run_l(i);
      if (s <= goal && goal < s + l) {
        if (s + l - goal >= minLen) { pred_len = min<u64>(want, s + l - goal); return goal; }
        break;
      }
    }
  }
  // best fit: smallest run >= want, lowest start on ties
  let best: i32 = -1;
  for (let i: u32 = 0; i < nruns; i++) {
    if (run_l(i) >= want && (best < 0 || run_l(i) < run_l(<u32>best))) best = <i32>i;
  }
  if (best >= 0) { pred_len = want; return run_s(<u32>best); }
  // else the largest run (highest start on ties) if it has minLen
  let big: i32 = -1;
  for (let i: u32 = 0; i < nruns; i++) {
    if (big < 0 || run_l(i) >= run_l(<u32>big)) big = <i32>i;
  }
  if (big >= 0 && run_l(<u32>big) >= minLen) { pred_len = run_l(<u32>big); return run_s(<u32>big); }
  return 0;
}

function agfl_count(): u32 { return load<u32>(bread(0, MAGIC_SUPER), SB_AGFL_COUNT); }

/** Allocates through the model: checks the result against the prediction and marks it. */
let exact_checks: u32 = 0;
let refill_skips: u32 = 0;
let failures_predicted: u32 = 0;
let goal_hits: u32 = 0;
function do_balloc(goal: u64, want: u64, minLen: u64): u64 {
  check_free_space();
  const exact = agfl_count() >= AGFL_LOW; // else the AGFL refill takes free space first
  const p = predict(goal, want, minLen);
  const plen = pred_len;
  const a = balloc(goal, want, minLen);
  const n = a == 0 ? 0 : balloc_len;
  if (exact) {
    exact_checks++;
    if (a != p || n != plen) {
      log<string>("balloc(" + goal.toString() + ", " + want.toString() + ", " + minLen.toString() + ") predicted " + p.toString() + "+" + plen.toString());
      fail("balloc result differs from the model", a, n);
    }
    if (p == 0) failures_predicted++;
    if (p == goal && goal != 0) goal_hits++;
  } else refill_skips++;
  if (a != 0) {
    if (n < minLen || n > want) fail("balloc length outside [minLen, want]", n, want);
    for (let b = a; b < a + n; b++) {
      if (load<u8>(USED + <usize>b) != 0) fail("balloc handed out a block the test holds", b, load<u8>(USED + <usize>b));
      if (load<u8>(META + <usize>b) != 0 && exact) fail("balloc handed out a filesystem block", b, 0);
      store<u8>(USED + <usize>b, 1);
    }
  }
  return a;
}

/** Frees through the model (deferred). */
function do_free(start: u64, len: u64): void {
  for (let b = start; b < start + len; b++) {
    if (load<u8>(USED + <usize>b) != 1) fail("test frees a block it does not hold", b, 0);
    store<u8>(USED + <usize>b, 2);
  }
  if (bfree_deferred(start, len) != 0) fail("bfree_deferred", start, len);
}

/** Deferred frees became free (after alloc_apply_deferred or a commit). */
function model_applied(): void {
  for (let b: u32 = 0; b < TOTAL; b++) if (load<u8>(USED + b) == 2) store<u8>(USED + b, 0);
  if (alloc_deferred_count() != 0) fail("deferred list not empty after apply", alloc_deferred_count(), 0);
}

const NODEMAP: usize = heap.alloc(TOTAL);
let fst_nodes: u32 = 0;
/** Blocks in the AGFL plus nodes of the two free-space trees. */
function fst_blocks(): u32 {
  memory.fill(NODEMAP, 0, TOTAL);
  fst_nodes = mark_tree(TREE_BNO, NODEMAP) + mark_tree(TREE_CNT, NODEMAP);
  return fst_nodes + agfl_count();
}

function count_bno(): u32 {
  let c: u32 = 0;
  if (bt_seek(CUR, TREE_BNO, 0, 0, true)) { do { c++; } while (bt_next(CUR)); }
  return c;
}

let FREE_START: u64 = 0;

describe("alloc: directed", () => {
  it("starts with one free extent [first free, backup)", () => {
    fs_fresh(TOTAL);
    memory.fill(USED, 0, TOTAL);
    expect<u64>(total_blocks).toBe(TOTAL);
    expect<u32>(check_free_space()).toBe(1);
    FREE_START = run_s(0);
    expect<u64>(run_s(0) + run_l(0)).toBe(TOTAL - 1, "free space ends before the backup superblock");
    expect<i32>(fsck_run(false)).toBe(0);
  });

  it("goal allocation returns the goal when free, clipped to its extent", () => {
    const g = FREE_START + 100;
    expect<u64>(do_balloc(g, 10, 10)).toBe(g);
    expect<u64>(balloc_len).toBe(10);
    // the goal is taken now: best fit picks the smallest extent that holds 5 = [FREE_START, g)
    expect<u64>(do_balloc(g, 5, 1)).toBe(FREE_START);
    // a goal 3 blocks before the end of its extent: want 8, min 2 -> the 3 blocks at the goal
    const g2 = g - 3;
    expect<u64>(do_balloc(g2, 8, 2)).toBe(g2);
    expect<u64>(balloc_len).toBe(3);
    // free now: [FREE_START + 5, g - 3) and [g + 10, ...). A goal 4 blocks before the end of
    // the first with min 5: the goal's extent is too short, so best fit (that same extent,
    // the smallest holding 8) from its start
    const g3 = g - 7;
    expect<u64>(do_balloc(g3, 8, 5)).toBe(FREE_START + 5, "goal refused when its extent is short of minLen");
    expect<u64>(balloc_len).toBe(8);
  });

  it("freed blocks are not reused before the deferred frees are applied", () => {
    const a = do_balloc(0, 16, 16);
    expect<u64>(a).toBeGreaterThan(0);
    do_free(a, 16);
    // ask for exactly that spot: it is still allocated, so the goal cannot be honoured
    const b = do_balloc(a, 16, 16);
    expect<bool>(b != a).toBe(true, "deferred blocks are not handed out");
    expect<i32>(alloc_apply_deferred()).toBe(0);
    model_applied();
    check_free_space();
    expect<u64>(do_balloc(a, 16, 16)).toBe(a, "after apply the goal is free again");
  });

  it("best fit takes the smallest sufficient extent, else the largest, else fails", () => {
    // take all free space, then free holes of 7, 3, 5, 12 and 3 blocks, apart from each other
    let got: u32 = 0;
    for (;;) {
      const a = do_balloc(0, TOTAL, 1);
      if (a == 0) break;
      got++;
    }
    expect<u32>(got).toBeGreaterThan(0);
    expect<u32>(check_free_space()).toBe(0, "no free space left");
    const base = FREE_START + 400;
    const sizes: u32[] = [7, 3, 5, 12, 3];
    let at = base;
    const starts: u64[] = [];
    for (let i = 0; i < sizes.length; i++) {
      starts.push(at);
      do_free(at, sizes[i]);
      at += sizes[i] + 4;
    }
    expect<i32>(alloc_apply_deferred()).toBe(0);
    model_applied();
    expect<u32>(check_free_space()).toBe(5);
    expect<u64>(do_balloc(0, 4, 4)).toBe(starts[2], "4 -> the 5-block hole");
    expect<u64>(do_balloc(0, 3, 3)).toBe(starts[1], "3 -> the first 3-block hole (lowest start on ties)");
    expect<u64>(do_balloc(0, 6, 6)).toBe(starts[0], "6 -> the 7-block hole");
    expect<u64>(balloc_len).toBe(6);
    expect<u64>(do_balloc(0, 20, 2)).toBe(starts[3], "20 fits nowhere -> the largest (12) whole");
    expect<u64>(balloc_len).toBe(12);
    expect<u64>(do_balloc(0, 20, 4)).toBe(0, "nothing has 4 blocks any more");
    expect<u64>(do_balloc(0, 1, 1)).toBe(starts[0] + 6, "1 -> a 1-block remainder (smallest)");
  });

  it("freeing everything coalesces back to the one extent mkfs made", () => {
    // free in a scattered order: every block the test holds, in runs
    let b: u32 = TOTAL - 1;
    while (b > 0) {
      if (load<u8>(USED + b) != 1) { b--; continue; }
      let s = b;
      while (s > 0 && load<u8>(USED + s - 1) == 1 && b - s < 37) s--;
      do_free(s, b - s + 1);
      b = s > 0 ? s - 1 : 0;
    }
    expect<i32>(alloc_apply_deferred()).toBe(0);
    model_applied();
    expect<u32>(check_free_space()).toBe(1);
    expect<u64>(run_s(0)).toBe(FREE_START);
    expect<u64>(run_l(0)).toBe(<u64>(TOTAL - 1) - FREE_START);
    expect<u32>(count_bno()).toBe(1);
    expect<i32>(fs_commit()).toBe(0);
    expect<i32>(fsck_run(false)).toBe(0);
  });
});

// ---- random trace ------------------------------------------------------------------------------

// live extents of the test file: | fblock u64 | disk u64 | len u64 |
const LIVE_MAX: u32 = 4096;
const LIVE: usize = heap.alloc(<usize>LIVE_MAX * 24);
let nlive: u32 = 0;
let next_fb: u64 = 0;
let ino: u64 = 0;
let held: u64 = 0;
@inline function l_fb(i: u32): u64 { return load<u64>(LIVE + <usize>i * 24); }
@inline function l_disk(i: u32): u64 { return load<u64>(LIVE + <usize>i * 24, 8); }
@inline function l_len(i: u32): u64 { return load<u64>(LIVE + <usize>i * 24, 16); }
function l_set(i: u32, fb: u64, disk: u64, len: u64): void {
  store<u64>(LIVE + <usize>i * 24, fb);
  store<u64>(LIVE + <usize>i * 24, disk, 8);
  store<u64>(LIVE + <usize>i * 24, len, 16);
}
function rec_put(fb: u64, disk: u64, len: u64, insert: bool): void {
  store<u64>(VAL, disk);
  store<u32>(VAL, <u32>len, 8);
  store<u32>(VAL, 0, 12);
  store<u64>(VAL, 1, EXT_BIRTH); // born before any leaf holding it (fsck's [extent-birth])
  const vlen = ext_vlen(<u32>len);
  const r = insert ? bt_insert(TREE_EXTENT, ino, fb, VAL, vlen) : bt_update(TREE_EXTENT, ino, fb, VAL, vlen);
  if (r != 0) fail("extent record", fb, <u64>r);
}
function set_blocks(): void {
  const rec = inode_get_mut(ino);
  store<u64>(rec, held, I_BLOCKS);
}

function random_alloc(): void {
  if (nlive >= LIVE_MAX - 2 || expected_free < 200) return;
  const r = rnd(10);
  // file extents are at most EXTENT_MAX blocks (one record each)
  let want: u64 = r < 6 ? 1 + rnd(8) : r < 9 ? 1 + rnd(64) : 1 + rnd(EXTENT_MAX);
  want = min<u64>(want, expected_free - 150);
  const minLen: u64 = rnd(3) == 0 ? want : 1 + rnd(<u32>want);
  let goal: u64 = 0;
  const g = rnd(10);
  if (g < 4 && nlive > 0) { const i = rnd(nlive); goal = l_disk(i) + l_len(i); } // after an extent
  else if (g < 7) goal = 1 + rnd(TOTAL - 2);
  if (goal >= TOTAL - 1) goal = 0;
  const a = do_balloc(goal, want, minLen);
  if (a == 0) return;
  const n = balloc_len;
  rec_put(next_fb, a, n, true);
  l_set(nlive++, next_fb, a, n);
  next_fb += n;
  held += n;
  set_blocks();
}

function random_free(): void {
  if (nlive == 0) return;
  const i = rnd(nlive);
  const fb = l_fb(i), disk = l_disk(i), len = l_len(i);
  const how = len == 1 ? 0 : rnd(4);
  if (how == 0) {
    // the whole extent
    do_free(disk, len);
    if (bt_delete(TREE_EXTENT, ino, fb) != 0) fail("delete extent record", fb, 0);
    nlive--;
    if (i != nlive) l_set(i, l_fb(nlive), l_disk(nlive), l_len(nlive));
    held -= len;
  } else if (how == 1) {
    // a prefix: the record moves to the new first file block
    const k = 1 + <u64>rnd(<u32>len - 1);
    do_free(disk, k);
    if (bt_delete(TREE_EXTENT, ino, fb) != 0) fail("delete extent record", fb, 0);
    rec_put(fb + k, disk + k, len - k, true);
    l_set(i, fb + k, disk + k, len - k);
    held -= k;
  } else if (how == 2) {
    // a suffix
    const k = 1 + <u64>rnd(<u32>len - 1);
    do_free(disk + len - k, k);
    rec_put(fb, disk, len - k, false);
    l_set(i, fb, disk, len - k);
    held -= k;
  } else {
    // the middle: the extent splits in two
    if (len < 3 || nlive >= LIVE_MAX - 1) return;
    const off = 1 + <u64>rnd(<u32>len - 2);
    const k = 1 + <u64>rnd(<u32>(len - off - 1));
    do_free(disk + off, k);
    rec_put(fb, disk, off, false);
    rec_put(fb + off + k, disk + off + k, len - off - k, true);
    l_set(i, fb, disk, off);
    l_set(nlive++, fb + off + k, disk + off + k, len - off - k);
    held -= k;
  }
  set_blocks();
}

describe("alloc: random trace against the bitmap model", () => {
  it("20,000 balloc / bfree_deferred / apply / commit steps match the model; fsck clean after commits", () => {
    rng_seed(0xa110c);
    ino = make_extent_file(1);
    expect<i32>(fs_commit()).toBe(0);
    const STEPS: u32 = 20000;
    let applies: u32 = 0, commits: u32 = 0, maxRuns: u32 = 0, maxHeld: u64 = 0;
    for (let step: u32 = 1; step <= STEPS; step++) {
      // phases: fill up to ~90 %, then drain to ~20 %, and again
      const filling = (step / 2500) % 2 == 0;
      const r = rnd(100);
      const allocP: u32 = filling ? 60 : 30;
      if (r < allocP) random_alloc();
      else if (r < 94) random_free();
      else if (r < 98) {
        expect<i32>(alloc_apply_deferred()).toBe(0);
        model_applied();
        applies++;
      } else {
        expect<i32>(fs_commit()).toBe(0);
        model_applied();
        commits++;
        const p = fsck_run(false);
        if (p != 0) { fsck_run(true); fail("fsck after commit", <u64>p, step); }
      }
      if (journal_should_commit()) {
        expect<i32>(fs_commit()).toBe(0);
        model_applied();
      }
      const runs = check_free_space();
      if (runs > maxRuns) maxRuns = runs;
      if (held > maxHeld) maxHeld = held;
    }
    // free everything the test holds; the trees must hold the maximal runs around the
    // filesystem's own blocks
    while (nlive > 0) {
      const i = nlive - 1;
      do_free(l_disk(i), l_len(i));
      if (bt_delete(TREE_EXTENT, ino, l_fb(i)) != 0) fail("delete extent record", l_fb(i), 0);
      held -= l_len(i);
      nlive--;
    }
    set_blocks();
    expect<i32>(fs_commit()).toBe(0);
    model_applied();
    const finalRuns = check_free_space();
    let held_blocks: u32 = 0;
    for (let b: u32 = 0; b < TOTAL; b++) held_blocks += load<u8>(USED + b);
    expect<u32>(held_blocks).toBe(0);
    expect<i32>(fsck_run(false)).toBe(0);
    // every gap between free extents is a block the filesystem uses for itself
    for (let j: u32 = 1; j < nruns; j++) {
      for (let b = run_s(j - 1) + run_l(j - 1); b < run_s(j); b++) {
        if (load<u8>(META + <usize>b) == 0) fail("gap between free extents not used by the filesystem", b, 0);
      }
    }
    log<string>("alloc trace: " + STEPS.toString() + " steps, " + exact_checks.toString() + " balloc results predicted exactly (" +
      goal_hits.toString() + " at the goal, " + failures_predicted.toString() + " failures), " + refill_skips.toString() +
      " after an AGFL refill (checked against the model only), " + applies.toString() + " applies, " + commits.toString() +
      " commits with fsck, max " + maxRuns.toString() + " free extents, max " + maxHeld.toString() + " blocks held; at the end " +
      finalRuns.toString() + " free extents around the filesystem's blocks");
    expect<u32>(exact_checks).toBeGreaterThan(5000);
  });

  it("~1,900 one-block free extents grow the free-space trees beyond the AGFL: refills keep the model exact", () => {
    // blocks enter the set {AGFL} + {free-space tree nodes} only through AGFL refills (nodes
    // freed from those trees go back to the AGFL, other trees' nodes never do)
    const set0 = fst_blocks();
    // take all free space, then give back every other block, applying in batches
    while (do_balloc(0, TOTAL, 1) != 0) {}
    expect<u32>(check_free_space()).toBe(0);
    const agfl0 = agfl_count();
    let frees: u32 = 0;
    let minAgfl: u32 = agfl0;
    for (let b: u32 = 0; b < TOTAL; b += 2) {
      if (load<u8>(USED + b) != 1) continue;
      do_free(b, 1);
      if (++frees % 50 == 0) {
        expect<i32>(alloc_apply_deferred()).toBe(0);
        model_applied();
        check_free_space();
        const a = agfl_count();
        if (a < minAgfl) minAgfl = a;
        // allocate and give back one block now and then: balloc refills the AGFL first
        if (frees % 200 == 0) {
          const x = do_balloc(0, 1, 1);
          if (x != 0) { do_free(x, 1); }
        }
      }
    }
    expect<i32>(alloc_apply_deferred()).toBe(0);
    model_applied();
    const runs = check_free_space();
    // the free-space trees now need more nodes than the AGFL ever held: refills happened
    const set1 = fst_blocks();
    log<string>("fragmentation: " + runs.toString() + " free extents, " + fst_nodes.toString() +
      " free-space tree nodes, AGFL " + agfl0.toString() + " at the start, " + agfl_count().toString() +
      " now, least seen after an apply " + minAgfl.toString() + "; AGFL + tree nodes " + set0.toString() +
      " -> " + set1.toString() + " blocks; " + refill_skips.toString() + " balloc calls began with a refill");
    expect<u32>(runs).toBeGreaterThan(1500);
    expect<u32>(set1).toBeGreaterThan(set0, "the AGFL was refilled from free space");
    // give everything back: the extents coalesce around the filesystem's own blocks
    for (let b: u32 = 0; b < TOTAL; b++) if (load<u8>(USED + b) == 1) do_free(b, 1);
    expect<i32>(alloc_apply_deferred()).toBe(0);
    model_applied();
    const after = check_free_space();
    for (let j: u32 = 1; j < nruns; j++) {
      for (let b = run_s(j - 1) + run_l(j - 1); b < run_s(j); b++) {
        if (load<u8>(META + <usize>b) == 0) fail("gap between free extents not used by the filesystem", b, 0);
      }
    }
    expect<i32>(fs_commit()).toBe(0);
    expect<i32>(fsck_run(false)).toBe(0);
    log<string>("after freeing everything: " + after.toString() + " free extents (the AGFL and tree nodes now sit inside the old free space)");
  });

  it("a double free is refused with EUCLEAN when the deferred list is applied", () => {
    check_free_space();
    expect<u32>(nruns).toBeGreaterThan(0);
    const s = run_s(0);
    expect<i32>(bfree_deferred(s, 1)).toBe(0);
    expect<i32>(alloc_apply_deferred()).toBe(-EUCLEAN);
  });
});
