// fs/xattr.ts -- extended attributes (user., trusted., security.) as items of the inode tree.
//
// Layer: above the B+ tree, beside inode.ts; the syscall layer (do_*xattr) resolves the path,
// checks EROFS and calls these. Interface: xattr_name (parse a full name), xattr_permission,
// xattr_get, xattr_set, xattr_remove, xattr_list, xattr_remove_all (inode destruction),
// xattr_verify (fsck), sb_feature_enable (lazily sets a feature flag).
// Rules:
//  - the superblock has room for five tree roots only, so an attribute is an item of
//    TREE_INODE keyed (ino, k2 != 0) beside its inode's record (ino, 0), like btrfs's
//    XATTR_ITEM beside its INODE_ITEM: k2 = (hash31(ns, name) + 1) << 32 | seq, names that
//    share a hash take the next free seq and every lookup compares the stored name, so
//    collisions are exact (the scheme of fs/dir.ts). An inode's attributes follow its record
//    in key order, so one cursor walk lists them and inode destruction removes them;
//  - one attribute is one item: its value is at most XATTR_VALUE_MAX(namelen) bytes (the
//    B+ tree's VALUE_MAX); larger values are ENOSPC as on ext4 without ea_inode, values
//    above Linux's XATTR_SIZE_MAX are E2BIG; the names of one inode's attributes fit
//    XATTR_LIST_MAX bytes as a list (ENOSPC beyond, so listxattr never needs E2BIG);
//  - every change is journaled through the tree like any other metadata, and the first
//    attribute sets RO_COMPAT_XATTR in the superblock (a kernel that does not know these
//    items would read the filesystem correctly but leak them on unlink);
//  - permissions are Linux's xattr_permission + commoncap: user.* only on regular files and
//    directories (EPERM to write, ENODATA to read otherwise), sticky directories writable by
//    their owner or root, then generic_permission; trusted.* needs capable() (EPERM to
//    write, ENODATA to read, hidden from listxattr); security.* reads freely and needs
//    capable() to write or remove (cap_inode_setxattr, EPERM).
//
// Attribute item, the value of key (ino, k2) in TREE_INODE (XA_NAME + namelen + vlen bytes):
//
//   0 ns u8 (XATTR_INDEX_*) | 1 namelen u8 | 2 vlen u16 | 4 name[namelen] (no prefix, no NUL)
//   4 + namelen value[vlen]

import { TREE_INODE, MAGIC_SUPER, SB_RO_COMPAT, RO_COMPAT_XATTR } from "./format";
import { bt_seek, bt_next, bt_insert, bt_delete, bt_update, bt_errno, cur_k1, cur_k2, cur_val, cur_vlen, CURSOR_SIZE, VALUE_MAX } from "./btree";
import { bread, buf_errno } from "./pagecache";
import { journal_dirty } from "./journal";
import { I_MODE, I_UID, S_ISDIR, S_ISREG } from "./inode";
import { capable, cur_uid, generic_permission, MAY_READ, MAY_WRITE } from "./cred";
import { EPERM, EEXIST, ENODATA, ERANGE, ENOSPC, E2BIG, EOPNOTSUPP, EINVAL, EUCLEAN } from "../lib/errno";

/** Namespace indices stored in an item (ext4's e_name_index numbers). */
export const XATTR_INDEX_USER: u8 = 1;
export const XATTR_INDEX_TRUSTED: u8 = 4;
export const XATTR_INDEX_SECURITY: u8 = 6;
/** Longest full name ("user." included), Linux XATTR_NAME_MAX. */
export const XATTR_NAME_MAX: u32 = 255;
/** Largest value Linux passes to a filesystem (XATTR_SIZE_MAX); above it setxattr is E2BIG. */
export const XATTR_SIZE_MAX: u32 = 65536;
/** Largest listxattr result (Linux XATTR_LIST_MAX). */
export const XATTR_LIST_MAX: u32 = 65536;
/** setxattr flags (Linux). */
export const XATTR_CREATE: u32 = 1;
export const XATTR_REPLACE: u32 = 2;
/** Attributes of one inode that may share a 31-bit hash (a bound on probing). */
const XA_SEQ_MAX: u64 = 1 << 16;
/** Attributes one walk over an inode visits at most (XATTR_LIST_MAX / the shortest entry). */
const XA_WALK_MAX: u32 = XATTR_LIST_MAX / 7 + 1;
export const XA_NS: usize = 0;
export const XA_NAMELEN: usize = 1;
export const XA_VLEN: usize = 2;
export const XA_NAME: usize = 4;
const HASH_MASK: u64 = 0xffff_ffff_0000_0000;

/** Largest value an attribute with a `namelen`-byte name (without prefix) holds: one item. */
export function xattr_value_max(namelen: u32): u32 { return VALUE_MAX - <u32>XA_NAME - namelen; }

const CUR: usize = memory.data(CURSOR_SIZE);
const REC: usize = memory.data(<i32>VALUE_MAX);

// ---- names -------------------------------------------------------------------------------------

const P_USER: usize = memory.data<u8>([117, 115, 101, 114, 46]); // "user."
const P_TRUSTED: usize = memory.data<u8>([116, 114, 117, 115, 116, 101, 100, 46]); // "trusted."
const P_SECURITY: usize = memory.data<u8>([115, 101, 99, 117, 114, 105, 116, 121, 46]); // "security."

/** Set when xattr_set's tree change failed halfway (the caller must abort the journal). */
export let xattr_tx_broken: bool = false;

/** Results of xattr_name: the namespace index, and where the name after the prefix starts. */
export let xn_ns: u8 = 0;
export let xn_name: usize = 0;
export let xn_len: u32 = 0;

function has_prefix(name: usize, len: u32, p: usize, plen: u32): bool {
  return len >= plen && memory.compare(name, p, plen) == 0;
}

/** The prefix of namespace `ns` (for listxattr) and its length. */
function prefix_of(ns: u8): usize { return ns == XATTR_INDEX_USER ? P_USER : ns == XATTR_INDEX_TRUSTED ? P_TRUSTED : P_SECURITY; }
function prefix_len(ns: u8): u32 { return ns == XATTR_INDEX_USER ? 5 : ns == XATTR_INDEX_TRUSTED ? 8 : 9; }

/**
 * Splits the full name `name` (`len` bytes, 1..XATTR_NAME_MAX, checked by the caller) into
 * xn_ns / xn_name / xn_len. 0, -EOPNOTSUPP (no namespace HelixFS stores: "system.", "os2."
 * or none), -EINVAL (a prefix with nothing after it, as Linux xattr_resolve_name).
 */
export function xattr_name(name: usize, len: u32): i32 {
  let plen: u32 = 0;
  if (has_prefix(name, len, P_USER, 5)) { xn_ns = XATTR_INDEX_USER; plen = 5; }
  else if (has_prefix(name, len, P_TRUSTED, 8)) { xn_ns = XATTR_INDEX_TRUSTED; plen = 8; }
  else if (has_prefix(name, len, P_SECURITY, 9)) { xn_ns = XATTR_INDEX_SECURITY; plen = 9; }
  else return -EOPNOTSUPP;
  if (len == plen) return -EINVAL;
  xn_name = name + plen;
  xn_len = len - plen;
  return 0;
}

/** The namespace of a full name as xattr_permission needs it (0: unknown, left to the fs). */
export function xattr_name_ns(name: usize, len: u32): u8 {
  if (has_prefix(name, len, P_USER, 5)) return XATTR_INDEX_USER;
  if (has_prefix(name, len, P_TRUSTED, 8)) return XATTR_INDEX_TRUSTED;
  if (has_prefix(name, len, P_SECURITY, 9)) return XATTR_INDEX_SECURITY;
  return 0;
}

/** 31-bit FNV-1a over the namespace byte and the name, + 1, as the high half of k2. */
export function xattr_hash(ns: u8, name: usize, len: u32): u64 {
  let h: u32 = (0x811c9dc5 ^ <u32>ns) * 0x01000193;
  for (let i: u32 = 0; i < len; i++) h = (h ^ <u32>load<u8>(name + i)) * 0x01000193;
  h ^= h >>> 16;
  return (<u64>(h & 0x7fffffff) + 1) << 32;
}

// ---- permissions -------------------------------------------------------------------------------

/**
 * Linux xattr_permission and cap_inode_setxattr for inode record `rec`, an attribute of
 * namespace `ns` (0: a namespace HelixFS does not store) and `mask` MAY_READ or MAY_WRITE.
 * 0 or -errno: EPERM (user.* on other than files and directories, a sticky directory not
 * ours, trusted.* or security.* changed without capable()), ENODATA (reading user.* of a
 * special file or trusted.* without capable()), EACCES (generic_permission).
 */
export function xattr_permission(rec: usize, ns: u8, mask: u32): i32 {
  const mode = load<u32>(rec, I_MODE);
  const write = (mask & MAY_WRITE) != 0;
  if (ns == XATTR_INDEX_SECURITY) return write && !capable() ? -EPERM : 0;
  if (ns == XATTR_INDEX_TRUSTED) return capable() ? 0 : write ? -EPERM : -ENODATA;
  if (ns == XATTR_INDEX_USER) {
    if (!S_ISREG(mode) && !S_ISDIR(mode)) return write ? -EPERM : -ENODATA;
    if (S_ISDIR(mode) && (mode & 0o1000) != 0 && write && load<u32>(rec, I_UID) != cur_uid && !capable()) return -EPERM;
  }
  return generic_permission(rec, mask);
}

// ---- lookup ------------------------------------------------------------------------------------

/** Result of xattr_find: the attribute's key and its value (valid until the tree changes). */
let xa_k2: u64 = 0;
let xa_val: usize = 0;
let xa_vlen: u32 = 0;
/** xattr_find on a miss: the first seq free under the name's hash. */
let xa_free_seq: u64 = 0;

/**
 * Finds attribute (`ns`, `name`) of `ino`. True with xa_k2/xa_val/xa_vlen; false when absent
 * (bt_errno 0) or on error (bt_errno: EIO, EUCLEAN for a malformed item met on the way).
 */
function xattr_find(ino: u64, ns: u8, name: usize, len: u32): bool {
  const h = xattr_hash(ns, name, len);
  xa_free_seq = 0;
  if (!bt_seek(CUR, TREE_INODE, ino, h, true)) return false;
  for (let i: u64 = 0; i < XA_SEQ_MAX; i++) {
    const k2 = cur_k2(CUR);
    if (cur_k1(CUR) != ino || (k2 & HASH_MASK) != h) return false;
    const v = cur_val(CUR);
    if (xattr_verify(ino, k2, v, cur_vlen(CUR)) != XV_OK) { corrupt(); return false; }
    if (load<u8>(v, XA_NS) == ns && <u32>load<u8>(v, XA_NAMELEN) == len && memory.compare(v + XA_NAME, name, len) == 0) {
      xa_k2 = k2;
      xa_val = v + XA_NAME + len;
      xa_vlen = <u32>load<u16>(v, XA_VLEN);
      return true;
    }
    if ((k2 & 0xffff_ffff) == xa_free_seq) xa_free_seq++;
    if (!bt_next(CUR)) return false;
  }
  return false;
}

let corrupt_errno: i32 = 0;
function corrupt(): void { corrupt_errno = -EUCLEAN; }
/** The error of a failed walk: the tree's, or EUCLEAN for a malformed attribute item. */
function walk_errno(): i32 {
  const e = corrupt_errno != 0 ? corrupt_errno : bt_errno;
  corrupt_errno = 0;
  return e;
}

/**
 * getxattr: copies the value of (`ns`, `name`) of `ino` to `buf` when `size` > 0. Returns
 * the value's length, or -errno: ENODATA (no such attribute), ERANGE (`size` > 0 and below
 * the value's length), EIO/EUCLEAN. `size` 0 asks for the length only (Linux).
 */
export function xattr_get(ino: u64, ns: u8, name: usize, len: u32, buf: usize, size: u32): i32 {
  corrupt_errno = 0;
  if (!xattr_find(ino, ns, name, len)) { const e = walk_errno(); return e != 0 ? e : -ENODATA; }
  if (size == 0) return <i32>xa_vlen;
  if (size < xa_vlen) return -ERANGE;
  memory.copy(buf, xa_val, xa_vlen);
  return <i32>xa_vlen;
}

/**
 * listxattr: writes the full names of `ino`'s attributes, each NUL-terminated, to `buf`
 * (trusted.* only when `trusted`). `size` 0 asks for the length. Returns the bytes, or
 * -ERANGE (`size` too small), -EIO/-EUCLEAN.
 */
export function xattr_list(ino: u64, buf: usize, size: u32, trusted: bool): i32 {
  corrupt_errno = 0;
  let n: u32 = 0;
  if (!bt_seek(CUR, TREE_INODE, ino, 1, true)) { const e = walk_errno(); return e != 0 ? e : 0; }
  for (let i: u32 = 0; i < XA_WALK_MAX; i++) {
    if (cur_k1(CUR) != ino) break;
    const v = cur_val(CUR);
    if (xattr_verify(ino, cur_k2(CUR), v, cur_vlen(CUR)) != XV_OK) return -EUCLEAN;
    const ns = load<u8>(v, XA_NS);
    if (ns != XATTR_INDEX_TRUSTED || trusted) {
      const nl = <u32>load<u8>(v, XA_NAMELEN);
      const pl = prefix_len(ns);
      if (size != 0) {
        if (n + pl + nl + 1 > size) return -ERANGE;
        memory.copy(buf + n, prefix_of(ns), pl);
        memory.copy(buf + n + pl, v + XA_NAME, nl);
        store<u8>(buf + n + pl + nl, 0);
      }
      n += pl + nl + 1;
    }
    if (!bt_next(CUR)) { const e = walk_errno(); if (e != 0) return e; break; }
  }
  return <i32>n;
}

/** Bytes of `ino`'s full listxattr (every namespace), or -errno. */
function list_bytes(ino: u64): i32 { return xattr_list(ino, 0, 0, true); }

/**
 * setxattr of (`ns`, `name`) on `ino` to `vlen` bytes at `value` with `flags` (XATTR_CREATE,
 * XATTR_REPLACE). The caller checked the flags, the name's length, permissions and room for
 * tree growth. 0 or -errno: EEXIST (XATTR_CREATE, present), ENODATA (XATTR_REPLACE, absent),
 * E2BIG (`vlen` > XATTR_SIZE_MAX), ENOSPC (the value does not fit one item, or the inode's
 * names would exceed XATTR_LIST_MAX), EIO/EUCLEAN, and tree errors after which the caller
 * aborts the journal (fail_ns).
 */
export function xattr_set(ino: u64, ns: u8, name: usize, len: u32, value: usize, vlen: u32, flags: u32): i32 {
  xattr_tx_broken = false;
  if (vlen > XATTR_SIZE_MAX) return -E2BIG;
  corrupt_errno = 0;
  const found = xattr_find(ino, ns, name, len);
  if (!found) { const e = walk_errno(); if (e != 0) return e; }
  if (found && (flags & XATTR_CREATE) != 0) return -EEXIST;
  if (!found && (flags & XATTR_REPLACE) != 0) return -ENODATA;
  if (vlen > xattr_value_max(len)) return -ENOSPC;
  const k2 = found ? xa_k2 : xattr_hash(ns, name, len) | xa_free_seq;
  if (!found) {
    if (xa_free_seq >= XA_SEQ_MAX) return -ENOSPC;
    const lb = list_bytes(ino);
    if (lb < 0) return lb;
    if (<u32>lb + prefix_len(ns) + len + 1 > XATTR_LIST_MAX) return -ENOSPC;
  }
  store<u8>(REC, ns, XA_NS);
  store<u8>(REC, <u8>len, XA_NAMELEN);
  store<u16>(REC, <u16>vlen, XA_VLEN);
  memory.copy(REC + XA_NAME, name, len);
  memory.copy(REC + XA_NAME + len, value, vlen);
  const total = <u32>XA_NAME + len + vlen;
  const r = found ? bt_update(TREE_INODE, ino, k2, REC, total) : bt_insert(TREE_INODE, ino, k2, REC, total);
  if (r != 0) { xattr_tx_broken = true; return r; }
  return sb_feature_enable(SB_RO_COMPAT, RO_COMPAT_XATTR);
}

/** removexattr of (`ns`, `name`) on `ino`. 0 or -errno: ENODATA (absent), EIO/EUCLEAN. */
export function xattr_remove(ino: u64, ns: u8, name: usize, len: u32): i32 {
  corrupt_errno = 0;
  if (!xattr_find(ino, ns, name, len)) { const e = walk_errno(); return e != 0 ? e : -ENODATA; }
  return bt_delete(TREE_INODE, ino, xa_k2);
}

/**
 * Removes every attribute of `ino` (the inode is being destroyed). 0 or -errno (tree errors:
 * the caller aborts the journal).
 */
export function xattr_remove_all(ino: u64): i32 {
  // no attribute was ever set on this filesystem (the first one sets the feature): no tree
  // walk on every unlink (an item without the feature is damage, fsck's inode-key)
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  if ((load<u32>(sb + SB_RO_COMPAT) & RO_COMPAT_XATTR) == 0) return 0;
  for (let i: u32 = 0; i < XA_WALK_MAX; i++) {
    if (!bt_seek(CUR, TREE_INODE, ino, 1, true)) return bt_errno;
    if (cur_k1(CUR) != ino) return 0;
    const r = bt_delete(TREE_INODE, ino, cur_k2(CUR));
    if (r != 0) return r;
  }
  return -EUCLEAN; // more items than any inode can hold
}

// ---- verification (the kernel's walks and fsck) -----------------------------------------------

/** Results of xattr_verify (0 = sound). */
export const XV_OK: i32 = 0;
export const XV_LENGTH: i32 = 1;
export const XV_NAMESPACE: i32 = 2;
export const XV_NAME: i32 = 3;
export const XV_HASH: i32 = 4;

/** What an xattr_verify result means, for log lines and fsck. */
export function xattr_why(r: i32): string {
  switch (r) {
    case XV_LENGTH: return "attribute record length does not match its fields";
    case XV_NAMESPACE: return "attribute in an unknown namespace";
    case XV_NAME: return "attribute name empty or too long";
    case XV_HASH: return "attribute name does not match its hash key";
  }
  return "sound";
}

/**
 * Checks the attribute item at `v` (`vlen` bytes) keyed (`ino`, `k2`): record length =
 * XA_NAME + namelen + vlen, a known namespace, a name of 1..XATTR_NAME_MAX - prefix bytes,
 * the key's hash half matching the name. XV_OK or the first failed check; only reads.
 */
export function xattr_verify(ino: u64, k2: u64, v: usize, vlen: u32): i32 {
  if (vlen < <u32>XA_NAME) return XV_LENGTH;
  const nl = <u32>load<u8>(v, XA_NAMELEN);
  if (vlen != <u32>XA_NAME + nl + <u32>load<u16>(v, XA_VLEN)) return XV_LENGTH;
  const ns = load<u8>(v, XA_NS);
  if (ns != XATTR_INDEX_USER && ns != XATTR_INDEX_TRUSTED && ns != XATTR_INDEX_SECURITY) return XV_NAMESPACE;
  if (nl == 0 || nl + prefix_len(ns) > XATTR_NAME_MAX) return XV_NAME;
  if (xattr_hash(ns, v + XA_NAME, nl) != (k2 & HASH_MASK)) return XV_HASH;
  return XV_OK;
}

// ---- feature flags ------------------------------------------------------------------------------

/**
 * Sets feature `bit` in the superblock field at `field` (SB_INCOMPAT / SB_RO_COMPAT) inside
 * the running transaction, the first time an item that needs it is written (as ext4 sets
 * large_file when the first large file appears): images that never use it stay readable by
 * kernels that predate it. 0 or -errno (EIO reading the superblock).
 */
export function sb_feature_enable(field: usize, bit: u32): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  const cur = load<u32>(sb + field);
  if ((cur & bit) != 0) return 0;
  store<u32>(sb + field, cur | bit);
  journal_dirty(0);
  return 0;
}
