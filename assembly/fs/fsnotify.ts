// fs/fsnotify.ts -- inotify(7): watches (marks) on inodes and one bounded queue of events.
//
// Layer: beside the inode and directory layers; the syscall layer calls the fsnotify_* hooks
// after each change succeeds (Linux include/linux/fsnotify.h), index.ts exports the inotify
// calls. Interface: fsnotify_add_watch, fsnotify_rm_watch, fsnotify_read, fsnotify_unmount and
// the hooks fsnotify_create / _delete / _move / _dentry / _file / _inode / _inoderemove.
// Rules:
//  - one inotify instance per kernel (the host multiplexes it among its watchers): a mark per
//    watched inode, identified by a watch descriptor (wd) that is never reused while it lives
//    and is handed out cyclically (Linux idr_alloc_cyclic), so a stale wd names nothing;
//  - every hook first reads fsn_marks and returns when it is 0: with no watch the cost of
//    notification is one load and a branch per change;
//  - events go to a bounded queue (QUEUED_EVENTS_MAX events, QUEUE_BYTES bytes); when it is
//    full the event is dropped and one IN_Q_OVERFLOW (wd -1) is queued instead, once until the
//    reader has read it (Linux fsnotify_insert_event with its overflow_event); events fit in
//    again as soon as reads make room;
//  - an event equal to the last one queued (wd, mask, cookie, name) is merged into it (Linux
//    inotify_merge), so a burst of writes not yet read is one IN_MODIFY;
//  - a mark goes away with IN_IGNORED when its inode is freed (after IN_DELETE_SELF), on
//    inotify_rm_watch, after the first event of an IN_ONESHOT mark, and at unmount (after
//    IN_UNMOUNT); its wd is then free (an inode number can be reused by a new file, a mark
//    must never follow it there);
//  - events about a child go to its parent's mark with the child's name: the name the call
//    used (path calls), or for calls on a descriptor the name under which the parent the file
//    was opened in still lists it, found through the descriptor's name record (the entry's key
//    from open, checked with one tree seek; a directory scan only when that entry went, and
//    a "not listed" answer kept until the next rename or link), and only when the parent's
//    mark wants the event; a file moved to another directory or unlinked since its open
//    reports only to its own mark;
//  - the host learns that the queue became non-empty through the env.fsnotify_wake import
//    (once per empty -> non-empty transition: an interrupt, never a poll), and must not call
//    the kernel from inside it.
//
// struct inotify_event as queued and as fsnotify_read copies it out (Linux's layout):
//
//   0 wd i32 | 4 mask u32 | 8 cookie u32 | 12 len u32 | 16 name[len] (NUL-padded; len is 0, or
//   the name's length + 1 rounded up to a multiple of 16)
//
// A mark (MARK_SIZE bytes, in MARKS; the slot is wd % WATCH_MAX, so wd -> mark is one load):
//
//   0 ino u64 (0 = free) | 8 wd i32 | 12 mask u32 (IN_ALL_EVENTS bits, IN_ONESHOT,
//   IN_EXCL_UNLINK, and IN_ISDIR when the inode is a directory)
//
// ino -> mark: INO_HASH, open addressing with linear probing over HASH_SLOTS u16 entries
// (mark slot + 1, 0 empty), deletion by backward shift (no tombstones).

import { EINVAL, EEXIST, ENOSPC } from "../lib/errno";
import { NAME_MAX } from "../params";
import { dir_next, dir_key, de_ino, de_name, de_namelen, de_key } from "./dir";
import { bt_errno } from "./btree";
import { inode_get, I_MODE, S_ISDIR } from "./inode";

// ---- the user ABI: Linux's values (include/uapi/linux/inotify.h) ------------------------------

export const IN_ACCESS: u32 = 0x00000001;
export const IN_MODIFY: u32 = 0x00000002;
export const IN_ATTRIB: u32 = 0x00000004;
export const IN_CLOSE_WRITE: u32 = 0x00000008;
export const IN_CLOSE_NOWRITE: u32 = 0x00000010;
export const IN_OPEN: u32 = 0x00000020;
export const IN_MOVED_FROM: u32 = 0x00000040;
export const IN_MOVED_TO: u32 = 0x00000080;
export const IN_CREATE: u32 = 0x00000100;
export const IN_DELETE: u32 = 0x00000200;
export const IN_DELETE_SELF: u32 = 0x00000400;
export const IN_MOVE_SELF: u32 = 0x00000800;
export const IN_UNMOUNT: u32 = 0x00002000;
export const IN_Q_OVERFLOW: u32 = 0x00004000;
export const IN_IGNORED: u32 = 0x00008000;
export const IN_ONLYDIR: u32 = 0x01000000;
export const IN_DONT_FOLLOW: u32 = 0x02000000;
export const IN_EXCL_UNLINK: u32 = 0x04000000;
export const IN_MASK_CREATE: u32 = 0x10000000;
export const IN_MASK_ADD: u32 = 0x20000000;
export const IN_ISDIR: u32 = 0x40000000;
export const IN_ONESHOT: u32 = 0x80000000;
export const IN_ALL_EVENTS: u32 = 0x00000fff;
/** Every bit inotify_add_watch knows (Linux ALL_INOTIFY_BITS): a mask with none is EINVAL. */
export const ALL_INOTIFY_BITS: u32 = IN_ALL_EVENTS | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED | IN_ONLYDIR |
  IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_ADD | IN_MASK_CREATE | IN_ISDIR | IN_ONESHOT;
/** Events a parent's mark hears about its children (Linux FS_EVENTS_POSS_ON_CHILD). */
const ON_CHILD: u32 = IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_OPEN;
/** Flags a mark keeps besides its events (Linux INOTIFY_MARK_FLAGS). */
const MARK_FLAGS: u32 = IN_ONESHOT | IN_EXCL_UNLINK;

// ---- limits ----------------------------------------------------------------------------------

/** Watches at once (Linux fs.inotify.max_user_watches is 8192 on small machines); ENOSPC past it. */
export const WATCH_MAX: u32 = 8192;
/** Events queued before IN_Q_OVERFLOW (Linux fs.inotify.max_queued_events default). */
export const QUEUED_EVENTS_MAX: u32 = 16384;
/** Bytes of queued events (QUEUED_EVENTS_MAX events with names up to 15 bytes); a full byte queue overflows as a full count does. */
export const QUEUE_BYTES: u32 = 512 << 10;
/** Bytes of struct inotify_event without its name. */
export const EVENT_SIZE: u32 = 16;
/** The largest wd before the cyclic allocation starts again at 1 (Linux: INT_MAX). */
const WD_MAX: i32 = 0x7fffffff;

const MARK_SIZE: usize = 16;
const M_INO: usize = 0;
const M_WD: usize = 8;
const M_MASK: usize = 12;
const MARKS: usize = memory.data(<i32>(WATCH_MAX * <u32>MARK_SIZE));
/** INO_HASH has 2^HASH_BITS slots: twice WATCH_MAX, so its load factor stays at most 1/2. */
const HASH_BITS: u32 = 14;
const HASH_SLOTS: u32 = 1 << HASH_BITS;
// @ts-ignore: a compile-time check (AssemblyScript evaluates it statically)
if (HASH_SLOTS < 2 * WATCH_MAX) ERROR("fsnotify: INO_HASH must have twice WATCH_MAX slots");
const INO_HASH: usize = memory.data(<i32>(HASH_SLOTS * 2));
/** The queue, with room for the overflow event past QUEUE_BYTES. */
const QUEUE: usize = memory.data(<i32>(QUEUE_BYTES + EVENT_SIZE));

/** Live marks: every hook's first test (0: no watch exists, nothing to do). */
export let fsn_marks: u32 = 0;
let last_wd: i32 = 0;
let q_head: u32 = 0; // first unread byte
let q_tail: u32 = 0; // end of the queued bytes
let q_count: u32 = 0; // events queued (the overflow event not counted)
let q_last: i32 = -1; // offset of the last event queued (for merging), -1 none
let q_overflowed = false; // an IN_Q_OVERFLOW is queued and not yet read
let cookie_next: u32 = 0;

@external("env", "fsnotify_wake")
declare function fsnotify_wake(): void;

// ---- marks -------------------------------------------------------------------------------------

@inline function mark_at(slot: u32): usize { return MARKS + <usize>slot * MARK_SIZE; }
/** Fibonacci hashing: the top HASH_BITS bits of ino times 2^64 / phi. */
@inline function ino_hash(ino: u64): u32 { return <u32>((ino * 0x9e3779b97f4a7c15) >> (64 - HASH_BITS)); }
@inline function hash_get(i: u32): u32 { return <u32>load<u16>(INO_HASH + (<usize>i << 1)); }
@inline function hash_set(i: u32, v: u32): void { store<u16>(INO_HASH + (<usize>i << 1), <u16>v); }

/** The mark on inode `ino`, or 0. */
function mark_of(ino: u64): usize {
  let i = ino_hash(ino);
  for (let n: u32 = 0; n < HASH_SLOTS; n++) {
    const v = hash_get(i);
    if (v == 0) return 0;
    const m = mark_at(v - 1);
    if (load<u64>(m, M_INO) == ino) return m;
    i = (i + 1) & (HASH_SLOTS - 1);
  }
  return 0;
}

/** The mark whose wd is `wd`, or 0. */
function mark_of_wd(wd: i32): usize {
  if (wd <= 0) return 0;
  const m = mark_at(<u32>wd % WATCH_MAX);
  return load<u64>(m, M_INO) != 0 && load<i32>(m, M_WD) == wd ? m : 0;
}

/** Takes `ino`'s entry out of INO_HASH, moving later entries of its run back (Knuth 6.4 R). */
function hash_remove(ino: u64): void {
  let i = ino_hash(ino);
  for (let n: u32 = 0; n < HASH_SLOTS; n++) {
    const v = hash_get(i);
    if (v == 0) return;
    if (load<u64>(mark_at(v - 1), M_INO) == ino) break;
    i = (i + 1) & (HASH_SLOTS - 1);
  }
  hash_set(i, 0);
  let j = i;
  for (let n: u32 = 0; n < HASH_SLOTS; n++) {
    j = (j + 1) & (HASH_SLOTS - 1);
    const v = hash_get(j);
    if (v == 0) return;
    const home = ino_hash(load<u64>(mark_at(v - 1), M_INO));
    // the entry at j may move to the hole at i unless its home lies cyclically in (i, j]
    const stays = i <= j ? home > i && home <= j : home > i || home <= j;
    if (!stays) { hash_set(i, v); hash_set(j, 0); i = j; }
  }
}

/** A new mark on `ino` with `mask`; its wd, or -ENOSPC when WATCH_MAX marks exist. */
function mark_new(ino: u64, mask: u32): i32 {
  if (fsn_marks >= WATCH_MAX) return -ENOSPC;
  let wd = last_wd;
  for (let n: u32 = 0; n <= WATCH_MAX; n++) {
    wd = wd >= WD_MAX ? 1 : wd + 1;
    const m = mark_at(<u32>wd % WATCH_MAX);
    if (load<u64>(m, M_INO) != 0) continue;
    store<u64>(m, ino, M_INO);
    store<i32>(m, wd, M_WD);
    store<u32>(m, mask, M_MASK);
    let i = ino_hash(ino);
    while (hash_get(i) != 0) i = (i + 1) & (HASH_SLOTS - 1);
    hash_set(i, <u32>wd % WATCH_MAX + 1);
    fsn_marks++;
    last_wd = wd;
    return wd;
  }
  return -ENOSPC; // not reached: fewer than WATCH_MAX marks leave a free slot within WATCH_MAX steps
}

/** Removes mark `m` and queues its IN_IGNORED (the wd is then free). */
function mark_destroy(m: usize): void {
  const wd = load<i32>(m, M_WD);
  hash_remove(load<u64>(m, M_INO));
  store<u64>(m, 0, M_INO);
  fsn_marks--;
  queue_event(wd, IN_IGNORED, 0, 0, 0);
}

/**
 * inotify_add_watch(2) on inode `ino` (a directory when `isdir`), after the syscall layer
 * walked the path and checked read permission: `mask`'s events replace the mark's (IN_MASK_ADD:
 * are added to them). The wd (the same one for the same inode), or -errno: EINVAL (IN_MASK_ADD
 * with IN_MASK_CREATE, or no inotify bit; checked by the caller before the walk too), EEXIST
 * (IN_MASK_CREATE and a mark exists), ENOSPC (WATCH_MAX marks).
 */
export function fsnotify_add_watch(ino: u64, isdir: bool, mask: u32): i32 {
  if (!fsnotify_mask_ok(mask)) return -EINVAL;
  const bits = (mask & (IN_ALL_EVENTS | MARK_FLAGS)) | (isdir ? IN_ISDIR : 0);
  const m = mark_of(ino);
  if (m == 0) return mark_new(ino, bits);
  if ((mask & IN_MASK_CREATE) != 0) return -EEXIST;
  store<u32>(m, (mask & IN_MASK_ADD) != 0 ? load<u32>(m, M_MASK) | bits : bits, M_MASK);
  return load<i32>(m, M_WD);
}

/** Whether inotify_add_watch accepts `mask` (Linux's first two checks). */
export function fsnotify_mask_ok(mask: u32): bool {
  if ((mask & IN_MASK_ADD) != 0 && (mask & IN_MASK_CREATE) != 0) return false;
  return (mask & ALL_INOTIFY_BITS) != 0;
}

/** inotify_rm_watch(2): 0 (IN_IGNORED queued), or -EINVAL when `wd` names no mark. */
export function fsnotify_rm_watch(wd: i32): i32 {
  const m = mark_of_wd(wd);
  if (m == 0) return -EINVAL;
  mark_destroy(m);
  return 0;
}

/** The watch descriptor on `ino`, or -1 (tests and the host's bookkeeping). */
export function fsnotify_wd_of(ino: u64): i32 {
  const m = mark_of(ino);
  return m == 0 ? -1 : load<i32>(m, M_WD);
}

/** Unmount: IN_UNMOUNT then IN_IGNORED for every mark, and no mark is left (Linux fsnotify_sb_delete). */
export function fsnotify_unmount(): void {
  ns_changed(); // no descriptor's remembered "not listed" survives a remount
  if (fsn_marks == 0) return;
  for (let s: u32 = 0; s < WATCH_MAX && fsn_marks > 0; s++) {
    const m = mark_at(s);
    if (load<u64>(m, M_INO) == 0) continue;
    queue_event(load<i32>(m, M_WD), IN_UNMOUNT, 0, 0, 0);
    mark_destroy(m);
  }
}

// ---- the queue ---------------------------------------------------------------------------------

/** Bytes an event with a name of `namelen` bytes takes (len rounded as Linux rounds it). */
@inline function name_pad(namelen: u32): u32 { return namelen == 0 ? 0 : (namelen + EVENT_SIZE) & ~(EVENT_SIZE - 1); }

/** Whether the event at queue offset `at` is (wd, mask, cookie, name). */
function same_event(at: u32, wd: i32, mask: u32, cookie: u32, name: usize, namelen: u32): bool {
  const e = QUEUE + <usize>at;
  if (load<i32>(e) != wd || load<u32>(e, 4) != mask || load<u32>(e, 8) != cookie) return false;
  if (load<u32>(e, 12) != name_pad(namelen)) return false;
  if (namelen == 0) return true;
  return memory.compare(e + EVENT_SIZE, name, namelen) == 0 && load<u8>(e + EVENT_SIZE + namelen) == 0;
}

/**
 * Queues one event (a name of `namelen` bytes at `name`, or none) unless it repeats the last
 * one queued; on a full queue queues IN_Q_OVERFLOW once instead. Wakes the host when the queue
 * was empty.
 */
function queue_event(wd: i32, mask: u32, cookie: u32, name: usize, namelen: u32): void {
  if (q_last >= 0 && same_event(<u32>q_last, wd, mask, cookie, name, namelen)) return;
  const pad = name_pad(namelen);
  const size = EVENT_SIZE + pad;
  if (q_tail + size > QUEUE_BYTES && q_head > 0) compact();
  const was_empty = q_head == q_tail;
  if (q_count >= QUEUED_EVENTS_MAX || q_tail + size > QUEUE_BYTES) {
    if (q_overflowed) return; // one overflow event stands for every event lost until it is read
    // the overflow event fits: QUEUE has EVENT_SIZE bytes past QUEUE_BYTES
    write_event(q_tail, -1, IN_Q_OVERFLOW, 0, 0, 0, 0);
    q_last = -1;
    q_tail += EVENT_SIZE;
    q_overflowed = true;
  } else {
    write_event(q_tail, wd, mask, cookie, name, namelen, pad);
    q_last = <i32>q_tail;
    q_tail += size;
    q_count++;
  }
  if (was_empty) fsnotify_wake();
}

function write_event(at: u32, wd: i32, mask: u32, cookie: u32, name: usize, namelen: u32, pad: u32): void {
  const e = QUEUE + <usize>at;
  store<i32>(e, wd);
  store<u32>(e, mask, 4);
  store<u32>(e, cookie, 8);
  store<u32>(e, pad, 12);
  if (pad == 0) return;
  memory.copy(e + EVENT_SIZE, name, namelen);
  memory.fill(e + EVENT_SIZE + namelen, 0, pad - namelen);
}

/** Moves the unread events to the start of QUEUE. */
function compact(): void {
  const live = q_tail - q_head;
  memory.copy(QUEUE, QUEUE + <usize>q_head, live);
  if (q_last >= 0) q_last -= <i32>q_head;
  q_head = 0;
  q_tail = live;
}

/** Events queued and not read (the overflow event counts as one). */
export function fsnotify_pending(): u32 { return q_count + (q_overflowed ? 1 : 0); }

/**
 * read(2) on the inotify instance: copies whole events from the queue's head to `buf` (at most
 * `len` bytes). The bytes copied; 0 when nothing is queued; -EINVAL when the next event does
 * not fit in `len` (Linux: the buffer is too small for it; nothing is consumed).
 */
export function fsnotify_read(buf: usize, len: u32): i32 {
  let at = q_head;
  let n: u32 = 0;
  for (let guard: u32 = 0; guard <= QUEUED_EVENTS_MAX && at < q_tail; guard++) {
    const size = EVENT_SIZE + load<u32>(QUEUE + <usize>at, 12);
    if (n + size > len) break;
    const mask = load<u32>(QUEUE + <usize>at, 4);
    if (mask == IN_Q_OVERFLOW && load<i32>(QUEUE + <usize>at) == -1) q_overflowed = false;
    else q_count--;
    n += size;
    at += size;
  }
  if (n == 0) return q_head == q_tail ? 0 : -EINVAL;
  memory.copy(buf, QUEUE + <usize>q_head, n);
  q_head = at;
  if (q_last >= 0 && <u32>q_last < q_head) q_last = -1;
  if (q_head == q_tail) { q_head = 0; q_tail = 0; q_last = -1; }
  return <i32>n;
}

// ---- the hooks (Linux include/linux/fsnotify.h) -------------------------------------------------

/** Queues `mask` to mark `m` if it listens for it; an IN_ONESHOT mark then goes. */
function send(m: usize, mask: u32, cookie: u32, name: usize, namelen: u32): void {
  const mm = load<u32>(m, M_MASK);
  if ((mm & mask & IN_ALL_EVENTS) == 0) return;
  queue_event(load<i32>(m, M_WD), mask, cookie, name, namelen);
  if ((mm & IN_ONESHOT) != 0) mark_destroy(m);
}

/** Event `mask` (IN_ISDIR added for a directory) on the mark of directory `dir` with a child's name. */
function to_dir(dir: u64, mask: u32, cookie: u32, name: usize, namelen: u32, isdir: bool): void {
  if (dir == 0) return;
  const m = mark_of(dir);
  if (m != 0) send(m, isdir ? mask | IN_ISDIR : mask, cookie, name, namelen);
}

/** Event `mask` on the mark of `ino` itself (no name). Self events of deletion and moves carry no IN_ISDIR (as Linux reports them). */
function to_self(ino: u64, mask: u32, isdir: bool): void {
  const m = mark_of(ino);
  if (m == 0) return;
  const dirbit = isdir && (mask & (IN_DELETE_SELF | IN_MOVE_SELF)) == 0 ? IN_ISDIR : 0;
  send(m, mask | dirbit, 0, 0, 0);
}

/** Whether a name is "." or "..", or empty: not a child's name. */
@inline function not_a_name(name: usize, len: u32): bool {
  return len == 0 || (load<u8>(name) == 46 && (len == 1 || (len == 2 && load<u8>(name, 1) == 46)));
}

/** fsnotify_create / fsnotify_mkdir: `name` was made in `dir` (IN_CREATE, IN_ISDIR for a directory). */
@inline export function fsnotify_create(dir: u64, name: usize, namelen: u32, isdir: bool): void {
  if (fsn_marks != 0) to_dir(dir, IN_CREATE, 0, name, namelen, isdir);
}

/** fsnotify_link: `ino` got the new name `name` in `dir` (IN_ATTRIB on it, IN_CREATE on `dir`). */
@inline export function fsnotify_link(dir: u64, name: usize, namelen: u32, ino: u64): void {
  ns_changed(); // with or without marks: a descriptor's "not listed" may be wrong now
  if (fsn_marks != 0) { to_self(ino, IN_ATTRIB, false); to_dir(dir, IN_CREATE, 0, name, namelen, false); }
}

/**
 * unlink / rmdir of `name` in `dir`, naming `ino`: IN_ATTRIB on a non-directory (its link
 * count changed; Linux fsnotify_link_count), IN_DELETE_SELF and IN_IGNORED when the inode was
 * freed (`freed`), then IN_DELETE on `dir` (Linux vfs_unlink / vfs_rmdir, d_delete_notify).
 */
@inline export function fsnotify_delete(dir: u64, name: usize, namelen: u32, ino: u64, isdir: bool, freed: bool): void {
  if (fsn_marks != 0) delete_slow(dir, name, namelen, ino, isdir, freed);
}
function delete_slow(dir: u64, name: usize, namelen: u32, ino: u64, isdir: bool, freed: bool): void {
  if (!isdir) to_self(ino, IN_ATTRIB, false);
  if (freed) inoderemove(ino, isdir);
  to_dir(dir, IN_DELETE, 0, name, namelen, isdir);
}

/**
 * fsnotify_move: `src` moved from (`odir`, `oname`) to (`ndir`, `nname`), replacing `target`
 * (0 if none; `tfreed` when that freed it). IN_MOVED_FROM and IN_MOVED_TO share one cookie,
 * then IN_ATTRIB on the target, IN_MOVE_SELF on `src`, and the target's IN_DELETE_SELF.
 */
export function fsnotify_move(odir: u64, oname: usize, olen: u32, ndir: u64, nname: usize, nlen: u32,
                              src: u64, isdir: bool, target: u64, tisdir: bool, tfreed: bool): void {
  ns_changed(); // with or without marks: a descriptor's "not listed" may be wrong now
  if (fsn_marks == 0) return;
  cookie_next++;
  if (cookie_next == 0) cookie_next = 1; // 0 means "no cookie"
  const cookie = cookie_next;
  to_dir(odir, IN_MOVED_FROM, cookie, oname, olen, isdir);
  to_dir(ndir, IN_MOVED_TO, cookie, nname, nlen, isdir);
  if (target != 0) to_self(target, IN_ATTRIB, tisdir);
  to_self(src, IN_MOVE_SELF, isdir);
  if (target != 0 && tfreed) inoderemove(target, tisdir);
}

/**
 * An event on `ino` reached by a path: first to the mark of its parent `dir` with its name
 * (when the event is one parents hear), then to its own mark (Linux fsnotify_parent then
 * fsnotify_inode). IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_OPEN, IN_CLOSE_*.
 */
@inline export function fsnotify_dentry(dir: u64, name: usize, namelen: u32, ino: u64, isdir: bool, mask: u32): void {
  if (fsn_marks != 0) dentry_slow(dir, name, namelen, ino, isdir, mask);
}
function dentry_slow(dir: u64, name: usize, namelen: u32, ino: u64, isdir: bool, mask: u32): void {
  if ((mask & ON_CHILD) != 0 && !not_a_name(name, namelen)) to_dir(dir, mask, 0, name, namelen, isdir);
  to_self(ino, mask, isdir);
}

/**
 * An event on `ino` through a descriptor opened in directory `dir`: as fsnotify_dentry, with the
 * name `dir` lists `ino` under now (nothing to the parent when it lists it no more). `name` is
 * the descriptor's name record (fsnotify_remember). The parent's and the inode's masks are
 * tested first: the name is looked for only when the parent's mark wants the event.
 */
@inline export function fsnotify_file(dir: u64, ino: u64, mask: u32, name: usize): void {
  if (fsn_marks != 0) file_slow(dir, ino, mask, name);
}
function file_slow(dir: u64, ino: u64, mask: u32, rec: usize): void {
  const pm = dir != 0 && dir != ino && (mask & ON_CHILD) != 0 ? mark_of(dir) : 0;
  const to_parent = pm != 0 && (load<u32>(pm, M_MASK) & mask & IN_ALL_EVENTS) != 0;
  const sm = mark_of(ino);
  const to_own = sm != 0 && (load<u32>(sm, M_MASK) & mask & IN_ALL_EVENTS) != 0;
  if (!to_parent && !to_own) return;
  const irec = inode_get(ino);
  const isdir = irec != 0 && S_ISDIR(load<u32>(irec, I_MODE));
  if (to_parent && name_of(rec, dir, ino)) to_dir(dir, mask, 0, de_name, de_namelen, isdir);
  to_self(ino, mask, isdir);
}

/** An event on `ino`'s own mark only (Linux fsnotify_inode). */
@inline export function fsnotify_inode(ino: u64, isdir: bool, mask: u32): void {
  if (fsn_marks != 0) to_self(ino, mask, isdir);
}

/** Inode `ino` was freed: IN_DELETE_SELF, then its mark goes (IN_IGNORED). Linux fsnotify_inoderemove. */
@inline export function fsnotify_inoderemove(ino: u64, isdir: bool): void {
  if (fsn_marks != 0) inoderemove(ino, isdir);
}
function inoderemove(ino: u64, isdir: bool): void {
  const m = mark_of(ino);
  if (m == 0) return;
  to_self(ino, IN_DELETE_SELF, isdir);
  const again = mark_of(ino); // an IN_ONESHOT mark may have gone with that event
  if (again != 0) mark_destroy(again);
}

// ---- the name of a descriptor's file in its parent --------------------------------------------
//
// The syscall layer keeps one name record per open file (FNAME_SIZE bytes, in struct file):
//
//   0 what u64: 0 unknown (opened while the parent was not watched); a dirent key (>= 2^32,
//     dir.ts: the entry the file was found under); or a generation g (1 .. 2^32-1): the parent
//     listed the file under no name when ns_gen was g
//
// A key is checked on use (the entry still exists and names the file: one tree seek) and a
// directory scan happens only when it fails, after which the record holds the new key or the
// miss. A miss stays true until a rename or link (the only changes that give an existing inode
// a name) bumps ns_gen; those bump it with or without marks.

/** Bytes of a descriptor's name record. */
export const FNAME_SIZE: usize = 8;
/** Entries one directory scan reads at most (a bound; a larger directory reports no parent event). */
const NAME_SCAN_MAX: u32 = 1 << 20;
/** Directory entries read by name scans since boot (the cost the name records bound; tests). */
export let fsn_scanned: u64 = 0;
/** Bumped by every rename and link (never 0: 0 in a record means unknown). */
let ns_gen: u32 = 1;

@inline function ns_changed(): void { ns_gen = ns_gen == 0xffffffff ? 1 : ns_gen + 1; }

/**
 * open(2) found `ino` under `name` in `dir`: fills the name record `rec` of its descriptor (the
 * entry's key when `dir` is watched for events about children, else unknown). Every open calls
 * it: the record of a reused descriptor must not outlive its file.
 */
@inline export function fsnotify_remember(rec: usize, dir: u64, ino: u64, name: usize, namelen: u32): void {
  store<u64>(rec, 0);
  if (fsn_marks != 0) remember(rec, dir, ino, name, namelen);
}
function remember(rec: usize, dir: u64, ino: u64, name: usize, namelen: u32): void {
  if (not_a_name(name, namelen) || namelen > NAME_MAX) return;
  const m = mark_of(dir);
  if (m == 0 || (load<u32>(m, M_MASK) & ON_CHILD) == 0) return;
  const key = dir_key(dir, name, namelen);
  if (key != 0 && de_ino == ino) store<u64>(rec, key);
}

/**
 * Whether directory `dir` lists `ino`; its name is then at de_name (de_namelen bytes, valid
 * until the dirent tree changes). Uses and updates the name record `rec`.
 */
function name_of(rec: usize, dir: u64, ino: u64): bool {
  const what = load<u64>(rec);
  if (what >= (<u64>1 << 32)) {
    if (dir_next(dir, what) && de_key == what && de_ino == ino) return true;
  } else if (what != 0 && <u32>what == ns_gen) return false;
  let pos: u64 = 3;
  for (let n: u32 = 0; n < NAME_SCAN_MAX; n++) {
    if (!dir_next(dir, pos)) break;
    fsn_scanned++;
    if (de_ino == ino) { store<u64>(rec, de_key); return true; }
    pos = de_key + 1;
  }
  // a read error is not an answer: the next event looks again
  store<u64>(rec, bt_errno == 0 ? <u64>ns_gen : 0);
  return false;
}

/** Test aid: every mark and the queue go (no events), as after a fresh boot. */
export function fsnotify_reset(): void {
  memory.fill(MARKS, 0, <usize>WATCH_MAX * MARK_SIZE);
  memory.fill(INO_HASH, 0, <usize>HASH_SLOTS * 2);
  fsn_marks = 0;
  last_wd = 0;
  q_head = 0; q_tail = 0; q_count = 0; q_last = -1; q_overflowed = false;
  ns_changed();
}
