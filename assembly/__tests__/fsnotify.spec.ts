// fsnotify.spec.ts -- inotify (fs/fsnotify.ts) through the syscall layer: the event records,
// IN_MOVED_FROM/IN_MOVED_TO cookies, watch descriptors (same inode, same wd; never reused at
// once), add_watch's mask rules, merging, the bounded queue and IN_Q_OVERFLOW, IN_DELETE_SELF
// and IN_IGNORED, unmount. The model is Linux's behaviour as inotify(7) and a Linux 6.18 run
// on tmpfs showed it (docs/notify.md).

import { fs_fresh } from "./fsfixture";
import {
  do_open, do_close, do_mkdir, do_rename, do_unlink, do_chmod, do_write, do_read, do_inotify_add_watch, O_CREAT, O_WRONLY, O_RDWR,
} from "../sys/syscalls";
import {
  fsnotify_read, fsnotify_rm_watch, fsnotify_pending, fsnotify_unmount, fsnotify_reset, fsn_marks, fsn_scanned,
  IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO, IN_ATTRIB, IN_MODIFY, IN_ISDIR, IN_IGNORED, IN_DELETE_SELF,
  IN_Q_OVERFLOW, IN_CLOSE_WRITE, IN_MASK_ADD, IN_MASK_CREATE, IN_ONLYDIR, IN_ALL_EVENTS, IN_UNMOUNT, IN_ONESHOT,
  QUEUED_EVENTS_MAX, EVENT_SIZE, WATCH_MAX,
} from "../fs/fsnotify";
import { EINVAL, EEXIST, ENOTDIR, ENOENT, ENOSPC } from "../lib/errno";

const PA: usize = memory.data(256);
const PB: usize = memory.data(256);
const BUF: usize = memory.data(64 << 10);

/** Writes ASCII `s` at `at`; its length. */
function put(at: usize, s: string): u32 {
  for (let i = 0; i < s.length; i++) store<u8>(at + <usize>i, <u8>s.charCodeAt(i));
  return <u32>s.length;
}
function watch(p: string, mask: u32): i32 { return do_inotify_add_watch(PA, put(PA, p), mask); }
function create(p: string): void { const fd = do_open(PA, put(PA, p), O_CREAT | O_WRONLY, 0o644); expect(fd).toBeGreaterThanOrEqual(0); do_close(fd); }
function mkdir(p: string): void { expect(do_mkdir(PA, put(PA, p), 0o755)).toBe(0); }
function rename(a: string, b: string): void { expect(do_rename(PA, put(PA, a), PB, put(PB, b))).toBe(0); }
function chmod(p: string, m: u32): void { expect(do_chmod(PA, put(PA, p), m)).toBe(0); }

/** The events read, one at a time, as (wd, mask, cookie, len, name) in EV_* arrays. */
let evs: i32 = 0;
const EV_WD = new Array<i32>(0);
const EV_MASK = new Array<u32>(0);
const EV_COOKIE = new Array<u32>(0);
const EV_LEN = new Array<u32>(0);
const EV_NAME = new Array<string>(0);
function drain(): void {
  evs = 0;
  EV_WD.length = 0; EV_MASK.length = 0; EV_COOKIE.length = 0; EV_LEN.length = 0; EV_NAME.length = 0;
  for (;;) {
    const n = fsnotify_read(BUF, 64 << 10);
    expect(n).toBeGreaterThanOrEqual(0);
    if (n == 0) return;
    for (let o: u32 = 0; o < <u32>n;) {
      const e = BUF + <usize>o;
      const len = load<u32>(e, 12);
      let name = "";
      for (let i: u32 = 0; i < len && load<u8>(e + 16 + i) != 0; i++) name += String.fromCharCode(load<u8>(e + 16 + i));
      EV_WD.push(load<i32>(e)); EV_MASK.push(load<u32>(e, 4)); EV_COOKIE.push(load<u32>(e, 8)); EV_LEN.push(len); EV_NAME.push(name);
      evs++;
      o += EVENT_SIZE + len;
    }
  }
}

describe("fsnotify", () => {
  beforeEach(() => { fsnotify_reset(); fs_fresh(4096); });

  test("struct inotify_event: wd, mask, cookie, NUL-padded name of len rounded to 16", () => {
    mkdir("/d");
    const wd = watch("/d", IN_CREATE | IN_DELETE);
    expect(wd).toBe(1);
    create("/d/x");
    mkdir("/d/a_name_of_17_byte");
    drain();
    expect(evs).toBe(2);
    expect(EV_WD[0]).toBe(wd);
    expect(EV_MASK[0]).toBe(IN_CREATE);
    expect(EV_COOKIE[0]).toBe(0);
    expect(EV_LEN[0]).toBe(16);
    expect(EV_NAME[0]).toBe("x");
    expect(EV_MASK[1]).toBe(IN_CREATE | IN_ISDIR);
    expect(EV_LEN[1]).toBe(32); // 18 bytes with the NUL, rounded up to 32
    expect(EV_NAME[1]).toBe("a_name_of_17_byte");
    expect(fsnotify_read(BUF, 64)).toBe(0); // empty
  });

  test("a rename's IN_MOVED_FROM and IN_MOVED_TO share a cookie, a new one per rename", () => {
    mkdir("/d"); mkdir("/e");
    const wd = watch("/d", IN_MOVED_FROM | IN_MOVED_TO);
    const we = watch("/e", IN_MOVED_FROM | IN_MOVED_TO);
    create("/d/x");
    rename("/d/x", "/d/y");
    rename("/d/y", "/e/z");
    drain();
    expect(evs).toBe(4);
    expect(EV_MASK[0]).toBe(IN_MOVED_FROM); expect(EV_NAME[0]).toBe("x");
    expect(EV_MASK[1]).toBe(IN_MOVED_TO); expect(EV_NAME[1]).toBe("y");
    expect(EV_COOKIE[0]).not.toBe(0);
    expect(EV_COOKIE[1]).toBe(EV_COOKIE[0]);
    expect(EV_WD[2]).toBe(wd); expect(EV_WD[3]).toBe(we);
    expect(EV_COOKIE[2]).toBe(EV_COOKIE[3]);
    expect(EV_COOKIE[2]).not.toBe(EV_COOKIE[0]);
  });

  test("watch descriptors: the same inode gives the same wd; a removed wd is not handed out again at once", () => {
    mkdir("/d");
    create("/d/f");
    const a = watch("/d/f", IN_ATTRIB);
    expect(watch("/d/../d/./f", IN_MODIFY)).toBe(a);
    expect(fsn_marks).toBe(1);
    expect(fsnotify_rm_watch(a)).toBe(0);
    expect(fsnotify_rm_watch(a)).toBe(-EINVAL);
    expect(fsnotify_rm_watch(0)).toBe(-EINVAL);
    drain();
    expect(evs).toBe(1);
    expect(EV_WD[0]).toBe(a);
    expect(EV_MASK[0]).toBe(IN_IGNORED);
    const b = watch("/d/f", IN_ATTRIB);
    expect(b).toBe(a + 1);
  });

  test("add_watch's mask rules: EINVAL, EEXIST, ENOTDIR, ENOENT, IN_MASK_ADD adds, no flag replaces", () => {
    mkdir("/d");
    create("/d/f");
    expect(watch("/d/f", 0)).toBe(-EINVAL);
    expect(watch("/d/f", IN_MASK_ADD | IN_MASK_CREATE | IN_ATTRIB)).toBe(-EINVAL);
    expect(watch("/d/f", IN_ONLYDIR | IN_ATTRIB)).toBe(-ENOTDIR);
    expect(watch("/d/none", IN_ATTRIB)).toBe(-ENOENT);
    const wd = watch("/d/f", IN_ATTRIB);
    expect(watch("/d/f", IN_MASK_CREATE | IN_ATTRIB)).toBe(-EEXIST);
    expect(watch("/d/f", IN_MASK_ADD | IN_MODIFY)).toBe(wd);
    chmod("/d/f", 0o600);
    drain();
    expect(evs).toBe(1);
    expect(EV_MASK[0]).toBe(IN_ATTRIB);
    expect(watch("/d/f", IN_MODIFY)).toBe(wd); // replaces: IN_ATTRIB is off now
    chmod("/d/f", 0o644);
    drain();
    expect(evs).toBe(0);
    expect(watch("/d", IN_ONLYDIR | IN_ALL_EVENTS)).toBeGreaterThan(wd);
  });

  test("an event equal to the last one queued merges into it; IN_ONESHOT goes after one event", () => {
    mkdir("/d");
    create("/d/f");
    const wd = watch("/d/f", IN_ATTRIB | IN_ONESHOT);
    const wdir = watch("/d", IN_ATTRIB);
    chmod("/d/f", 0o600);
    chmod("/d/f", 0o644);
    drain();
    // parent first, then the file's own (then its mark goes), then the second chmod's parent event
    expect(evs).toBe(4);
    expect(EV_WD[0]).toBe(wdir); expect(EV_NAME[0]).toBe("f");
    expect(EV_WD[1]).toBe(wd); expect(EV_MASK[1]).toBe(IN_ATTRIB);
    expect(EV_WD[2]).toBe(wd); expect(EV_MASK[2]).toBe(IN_IGNORED);
    expect(EV_WD[3]).toBe(wdir);
    chmod("/d/f", 0o600);
    chmod("/d/f", 0o644);
    chmod("/d/f", 0o600);
    drain();
    expect(evs).toBe(1); // three equal events in a row: one
  });

  test("the queue is bounded: one IN_Q_OVERFLOW (wd -1) stands for what was lost, then events fit again", () => {
    mkdir("/d");
    create("/d/a"); create("/d/b");
    const wa = watch("/d/a", IN_ATTRIB);
    const wb = watch("/d/b", IN_ATTRIB);
    for (let i: u32 = 0; i < QUEUED_EVENTS_MAX / 2 + 100; i++) { chmod("/d/a", 0o600); chmod("/d/b", 0o600); }
    expect(fsnotify_pending()).toBe(QUEUED_EVENTS_MAX + 1);
    expect(fsnotify_read(BUF, EVENT_SIZE - 1)).toBe(-EINVAL); // too small for the next event
    drain();
    expect(evs).toBe(<i32>QUEUED_EVENTS_MAX + 1);
    expect(EV_WD[0]).toBe(wa); expect(EV_WD[1]).toBe(wb);
    expect(EV_WD[evs - 1]).toBe(-1);
    expect(EV_MASK[evs - 1]).toBe(IN_Q_OVERFLOW);
    chmod("/d/a", 0o644);
    drain();
    expect(evs).toBe(1);
    expect(EV_WD[0]).toBe(wa);
  });

  test("unlink: IN_ATTRIB, IN_DELETE_SELF, IN_IGNORED, then the parent's IN_DELETE; the mark is gone", () => {
    mkdir("/d");
    create("/d/f");
    const wd = watch("/d", IN_DELETE);
    const wf = watch("/d/f", IN_ALL_EVENTS);
    expect(do_unlink(PA, put(PA, "/d/f"))).toBe(0);
    drain();
    expect(evs).toBe(4);
    expect(EV_WD[0]).toBe(wf); expect(EV_MASK[0]).toBe(IN_ATTRIB);
    expect(EV_WD[1]).toBe(wf); expect(EV_MASK[1]).toBe(IN_DELETE_SELF);
    expect(EV_WD[2]).toBe(wf); expect(EV_MASK[2]).toBe(IN_IGNORED);
    expect(EV_WD[3]).toBe(wd); expect(EV_MASK[3]).toBe(IN_DELETE); expect(EV_NAME[3]).toBe("f");
    expect(fsn_marks).toBe(1);
    // the freed inode's wd names nothing now, and is not handed out again at once
    expect(fsnotify_rm_watch(wf)).toBe(-EINVAL);
    create("/d/g");
    const wg = watch("/d/g", IN_ALL_EVENTS);
    expect(wg).toBeGreaterThan(wf);
    expect(fsnotify_rm_watch(wf)).toBe(-EINVAL);
    const fd = do_open(PA, put(PA, "/d/g"), O_WRONLY, 0);
    expect(do_write(fd, PB, 4, -1)).toBe(4);
    do_close(fd);
    drain();
    expect(evs).toBe(3); // IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE: all to the new file's wd
    for (let i = 0; i < evs; i++) expect(EV_WD[i]).toBe(wg);
  });

  test("WATCH_MAX watches, then ENOSPC; lookups stay right as watches come and go (the ino hash)", () => {
    mkdir("/m");
    const WDS = new Array<i32>(<i32>WATCH_MAX + 1);
    for (let i: u32 = 0; i <= WATCH_MAX; i++) {
      const n = "/m/" + i.toString();
      create(n);
      WDS[i] = watch(n, IN_ATTRIB);
    }
    for (let i: u32 = 0; i < WATCH_MAX; i++) expect(WDS[i]).toBe(<i32>i + 1);
    expect(WDS[WATCH_MAX]).toBe(-ENOSPC);
    expect(fsn_marks).toBe(WATCH_MAX);
    // every third goes; the rest must still be found (IN_MASK_CREATE: EEXIST), the gone ones not
    for (let i: u32 = 0; i < WATCH_MAX; i += 3) expect(fsnotify_rm_watch(WDS[i])).toBe(0);
    for (let i: u32 = 0; i < WATCH_MAX; i++) {
      const r = watch("/m/" + i.toString(), IN_ATTRIB | IN_MASK_CREATE);
      if (i % 3 == 0) expect(r).toBeGreaterThan(<i32>WATCH_MAX); // a new wd, not the old one
      else expect(r).toBe(-EEXIST);
    }
    expect(fsn_marks).toBe(WATCH_MAX);
    drain();
    expect(evs).toBe(<i32>(WATCH_MAX + 2) / 3); // the IN_IGNORED of each removal
  });

  test("descriptor events name the file as its directory lists it now, after unwatched renames and unlinks", () => {
    mkdir("/d");
    let wd = watch("/d", IN_ALL_EVENTS);
    const fd = do_open(PA, put(PA, "/d/a"), O_CREAT | O_WRONLY, 0o644);
    expect(fsnotify_rm_watch(wd)).toBe(0);
    rename("/d/a", "/d/b"); // no mark: the hooks return early
    wd = watch("/d", IN_MODIFY | IN_CLOSE_WRITE);
    drain();
    expect(do_write(fd, PB, 1, -1)).toBe(1);
    drain();
    expect(evs).toBe(1);
    expect(EV_WD[0]).toBe(wd); expect(EV_MASK[0]).toBe(IN_MODIFY); expect(EV_NAME[0]).toBe("b");
    expect(fsnotify_rm_watch(wd)).toBe(0);
    expect(do_unlink(PA, put(PA, "/d/b"))).toBe(0);
    wd = watch("/d", IN_MODIFY | IN_CLOSE_WRITE);
    drain();
    expect(do_write(fd, PB, 1, -1)).toBe(1);
    expect(do_close(fd)).toBe(0);
    drain();
    expect(evs).toBe(0); // an unlinked file reports only to its own mark
  });

  test("descriptor events look names up only when the parent's mark wants them, once per descriptor", () => {
    mkdir("/d");
    for (let i = 0; i < 200; i++) create("/d/n" + i.toString());
    const wd = watch("/d", IN_MODIFY | IN_ATTRIB | IN_MOVED_TO); // libuv's kind of mask: no IN_ACCESS, no IN_CLOSE
    const a = do_open(PA, put(PA, "/d/a"), O_CREAT | O_RDWR, 0o644);
    const b = do_open(PA, put(PA, "/d/b"), O_CREAT | O_RDWR, 0o644);
    drain();
    const s0 = fsn_scanned;
    for (let i = 0; i < 50; i++) { expect(do_write(a, PB, 1, -1)).toBe(1); expect(do_write(b, PB, 1, -1)).toBe(1); }
    expect(do_read(a, PB, 1, 0)).toBe(1); // IN_ACCESS: the parent does not want it
    drain();
    expect(fsn_scanned).toBe(s0); // both names known from open
    expect(evs).toBeGreaterThanOrEqual(2);
    expect(EV_NAME[0]).toBe("a");
    rename("/d/a", "/d/a2"); // the remembered entry is gone: one scan finds the new name
    drain();
    expect(do_write(a, PB, 1, -1)).toBe(1);
    expect(do_write(a, PB, 1, -1)).toBe(1);
    drain();
    expect(evs).toBe(1); expect(EV_NAME[0]).toBe("a2");
    const s1 = fsn_scanned;
    expect(s1 - s0).toBeLessThanOrEqual(203);
    mkdir("/o");
    rename("/d/a2", "/o/a"); // moved out: one scan learns that, later writes do not scan
    drain();
    expect(do_write(a, PB, 1, -1)).toBe(1);
    const s2 = fsn_scanned;
    for (let i = 0; i < 20; i++) expect(do_write(a, PB, 1, -1)).toBe(1);
    drain();
    expect(evs).toBe(0);
    expect(fsn_scanned).toBe(s2);
    rename("/o/a", "/d/back"); // a rename may list it again: the miss is forgotten
    drain();
    expect(do_write(a, PB, 1, -1)).toBe(1);
    drain();
    expect(evs).toBe(1); expect(EV_WD[0]).toBe(wd); expect(EV_NAME[0]).toBe("back");
    do_close(a); do_close(b);
  });

  test("unmount ends every watch with IN_UNMOUNT and IN_IGNORED", () => {
    mkdir("/d");
    const wd = watch("/d", IN_CREATE);
    fsnotify_unmount();
    drain();
    expect(evs).toBe(2);
    expect(EV_WD[0]).toBe(wd); expect(EV_MASK[0]).toBe(IN_UNMOUNT);
    expect(EV_MASK[1]).toBe(IN_IGNORED);
    expect(fsn_marks).toBe(0);
  });
});
