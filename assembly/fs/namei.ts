// fs/namei.ts -- path walk: components, ".", "..", symlinks (at most MAXSYMLINKS), trailing
// slashes, NAME_MAX and PATH_MAX, with Linux's errors.
//
// Layer: above directories and inodes; the syscall layer resolves every path here.
// Interface: namei(path, len, flags) -> 0 or -errno, results in nd_*.
// Rules: the kernel has one namespace with cwd "/", so relative paths start at the root; every
// directory a walk looks a name up in needs search (execute) permission for the syscall's
// credentials (fs/cred.ts; root searches anything, so its walks skip the check and keep the
// dirent-type shortcut); a directory's ".." is the parent ino kept in its inode record (directories have exactly one name); a symlink met mid-path is replaced by its
// target followed by the rest of the path, in a second buffer (no recursion).

import { NAME_MAX, PATH_MAX, MAXSYMLINKS } from "../params";
import { ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EIO, EUCLEAN, EINVAL } from "../lib/errno";
import { capable, generic_permission, MAY_EXEC } from "./cred";
import { metadata_error } from "./errors";
import { ROOT_INO } from "./format";
import { dir_lookup, de_ino, de_type, DT_DIR, DT_UNKNOWN } from "./dir";
import { inode_get, inode_errno, I_MODE, I_PARENT, I_SIZE, S_ISDIR, S_ISLNK } from "./inode";
import { file_read } from "./file";
import { bt_errno } from "./btree";

/** Follow a final symlink. */
export const LOOKUP_FOLLOW: u32 = 1;
/** The final component may be missing: resolve its parent, nd_ino = 0 when absent. */
export const LOOKUP_PARENT: u32 = 2;

const BUF_SIZE: u32 = 2 * PATH_MAX + 2;
const BUF_A: usize = memory.data(BUF_SIZE);
const BUF_B: usize = memory.data(BUF_SIZE);
const LINK: usize = memory.data(PATH_MAX);

/** Results of the last namei. */
export let nd_ino: u64 = 0; // the final inode, 0 when absent (LOOKUP_PARENT)
export let nd_mode: u32 = 0;
/** The final inode's record when namei returns with nd_ino != 0 (valid until a tree change). */
export let nd_rec: usize = 0;
export let nd_parent: u64 = 0; // directory holding the final component
export let nd_name: usize = 0; // the final component (in a namei buffer, valid until next namei)
export let nd_namelen: u32 = 0; // 0 for "/"
export let nd_trailing: bool = false; // the path ended with '/'
export let nd_toolong: bool = false; // LOOKUP_PARENT: the last name exceeds NAME_MAX (not looked up)

/** Mode of `ino`, or 0 with inode_errno; its record stays in nd_rec. */
function mode_of(ino: u64): u32 {
  const rec = inode_get(ino);
  nd_rec = rec;
  return rec == 0 ? 0 : load<u32>(rec, I_MODE);
}

function parent_of(dir: u64): u64 {
  if (dir == ROOT_INO) return ROOT_INO;
  const rec = inode_get(dir);
  return rec == 0 ? 0 : load<u64>(rec, I_PARENT);
}

@inline function is_dot(p: usize, n: u32): bool { return n == 1 && load<u8>(p) == 46; }
@inline function is_dotdot(p: usize, n: u32): bool { return n == 2 && load<u8>(p) == 46 && load<u8>(p, 1) == 46; }

/**
 * Resolves `len` bytes of path at `path`. Returns 0 with nd_* set, or -errno:
 * ENOENT (empty path or a missing component), EACCES (no search permission on a directory
 * of the path), ENOTDIR (a non-directory used as one, or a
 * trailing slash on a non-directory), ELOOP (more than MAXSYMLINKS symlinks), ENAMETOOLONG
 * (a component over NAME_MAX or a path of PATH_MAX bytes or more), EINVAL (a NUL byte in
 * the path), EIO/EUCLEAN.
 */
export function namei(path: usize, len: u32, flags: u32): i32 {
  if (len == 0) return -ENOENT;
  if (len >= PATH_MAX) return -ENAMETOOLONG;
  // a C path ends at its first NUL; one inside the bytes given is a bad argument (as Node
  // refuses it), checked before anything is looked up or created
  for (let k: u32 = 0; k < len; k++) if (load<u8>(path + k) == 0) return -EINVAL;
  let buf = BUF_A;
  let other = BUF_B;
  memory.copy(buf, path, len);
  let n = len;
  let cur: u64 = ROOT_INO;
  let i: u32 = 0;
  let links: u32 = 0;
  let curIsDir = true; // the root is a directory
  nd_trailing = false;
  nd_toolong = false;
  for (let guard: u32 = 0; guard < PATH_MAX * (MAXSYMLINKS + 1); guard++) {
    while (i < n && load<u8>(buf + i) == 47) i++;
    if (i >= n) {
      // nothing left: the path named `cur` itself ("/", or "a/.." after a symlink, ...)
      nd_ino = cur;
      nd_parent = parent_of(cur);
      nd_name = buf + i;
      nd_namelen = 0;
      nd_mode = mode_of(cur);
      return nd_mode == 0 ? inode_errno : 0;
    }
    const start = i;
    while (i < n && load<u8>(buf + i) != 47) i++;
    const clen = i - start;
    let j = i;
    while (j < n && load<u8>(buf + j) == 47) j++;
    const last = j >= n;
    const trailing = last && i < n;
    // `cur` is known to be a directory unless it is where the walk started from a symlink
    if (!curIsDir) {
      const cmode = mode_of(cur);
      if (cmode == 0) return inode_errno;
      if (!S_ISDIR(cmode)) return -ENOTDIR;
    }
    // search permission on the directory the name is looked up in (Linux may_lookup), before
    // the name itself is looked at (a name over NAME_MAX there is EACCES, as in link_path_walk)
    if (!capable()) {
      const drec = inode_get(cur);
      if (drec == 0) return inode_errno;
      const pr = generic_permission(drec, MAY_EXEC);
      if (pr != 0) return pr;
    }
    if (clen > NAME_MAX) {
      // a create checks its last name's length only when it gets to it (Linux lookup order)
      if (!last || (flags & LOOKUP_PARENT) == 0) return -ENAMETOOLONG;
      const m = mode_of(cur);
      if (m == 0) return inode_errno;
      if (!S_ISDIR(m)) return -ENOTDIR;
      nd_ino = 0;
      nd_mode = 0;
      nd_parent = cur;
      nd_name = buf + start;
      nd_namelen = clen;
      nd_trailing = trailing;
      nd_toolong = true;
      return 0;
    }
    const comp = buf + start;
    let found: u64 = 0;
    let ftype: u8 = DT_UNKNOWN;
    if (is_dot(comp, clen)) { found = cur; ftype = DT_DIR; }
    else if (is_dotdot(comp, clen)) { found = parent_of(cur); ftype = DT_DIR; }
    else if (dir_lookup(cur, comp, clen)) { found = de_ino; ftype = de_type; }
    else if (bt_errno != 0) return bt_errno;
    if (found == 0) {
      if (last && (flags & LOOKUP_PARENT)) {
        nd_ino = 0;
        nd_mode = 0;
        nd_parent = cur;
        nd_name = comp;
        nd_namelen = clen;
        nd_trailing = trailing;
        return 0;
      }
      return -ENOENT;
    }
    // the entry's type saves an inode lookup for directories in the middle of a path
    if (!last && ftype == DT_DIR) {
      cur = found;
      curIsDir = true;
      i = j;
      continue;
    }
    const fmode = mode_of(found);
    if (fmode == 0) return inode_errno;
    // a create with a trailing slash never follows its last name (open O_CREAT: EISDIR)
    const createSlash = trailing && (flags & LOOKUP_PARENT) != 0;
    if (S_ISLNK(fmode) && (!last || (!createSlash && (trailing || (flags & LOOKUP_FOLLOW) != 0)))) {
      if (++links > MAXSYMLINKS) return -ELOOP;
      const rec = inode_get(found);
      if (rec == 0) return inode_errno;
      const tlen = <u32>min<u64>(load<u64>(rec, I_SIZE), <u64>(PATH_MAX - 1));
      const got = file_read(found, 0, LINK, tlen);
      if (got < 0) return got;
      if (got == 0) return -ENOENT;
      // new path = target + "/" + rest
      const rest = n - i;
      if (<u32>got + 1 + rest >= PATH_MAX) return -ENAMETOOLONG;
      memory.copy(other, LINK, <usize>got);
      store<u8>(other + <usize>got, 47);
      memory.copy(other + <usize>got + 1, buf + i, rest);
      const t = buf; buf = other; other = t;
      n = <u32>got + 1 + rest;
      // a trailing slash was part of the rest; a bare final symlink gains one "/" that
      // must not count as the user's trailing slash
      if (!trailing && last) n = <u32>got;
      if (load<u8>(buf) == 47) cur = ROOT_INO;
      curIsDir = true; // the symlink's directory, or the root
      i = 0;
      continue;
    }
    if (!last) {
      if (!S_ISDIR(fmode)) return -ENOTDIR;
      cur = found;
      curIsDir = true;
      i = j;
      continue;
    }
    // a create (LOOKUP_PARENT) reports an existing name as EEXIST whatever its type
    if (trailing && !S_ISDIR(fmode) && (flags & LOOKUP_PARENT) == 0) return -ENOTDIR;
    nd_ino = found;
    nd_mode = fmode;
    nd_parent = cur;
    nd_name = comp;
    nd_namelen = clen;
    nd_trailing = trailing;
    return 0;
  }
  return -ELOOP;
}

/**
 * Whether directory `a` is `b` or one of its ancestors (rename into its own subtree): 1 yes,
 * 0 no, or -errno. Exact at any depth: the walk follows parent pointers up to the root with
 * no depth cap. A chain that never reaches the root (a cycle of parent pointers on a
 * corrupted image) is found by Brent's cycle detection (the walk compares each step with a
 * mark moved to powers of two, so an acyclic chain of depth d costs d inode lookups and a
 * cycle is caught within twice its length plus its tail) and fails closed with -EUCLEAN,
 * as does an inode that cannot be read (its errno).
 */
export function is_ancestor(a: u64, b: u64): i32 {
  let d = b;
  let mark: u64 = 0;
  let steps: u64 = 0;
  let power: u64 = 1;
  for (;;) {
    if (d == a) return 1;
    if (d == ROOT_INO) return 0;
    if (d == mark) { metadata_error(-EUCLEAN); return -EUCLEAN; } // parent pointers loop
    if (++steps == power) { mark = d; power <<= 1; steps = 0; }
    const rec = inode_get(d);
    // a missing parent is a dangling pointer (damage); a read error keeps its errno
    if (rec == 0) {
      if (inode_errno != -ENOENT) return inode_errno;
      metadata_error(-EUCLEAN);
      return -EUCLEAN;
    }
    d = load<u64>(rec, I_PARENT);
    if (d == 0) { metadata_error(-EUCLEAN); return -EUCLEAN; }
  }
  return -EUCLEAN; // not reached: the loop ends at the root, at `a`, on an error or a cycle
}
