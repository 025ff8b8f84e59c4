// fs/cred.ts -- the credentials of the running syscall (Linux struct cred) and the permission
// checks made with them (generic_permission, in_group_p, capable).
//
// Layer: beside the inode layer; namei and the syscall layer ask it. Interface: cred_enter
// (each file syscall's first argument), cred_root, cur_uid/cur_gid, in_group_p, capable,
// generic_permission.
// Rules:
//  - the host passes a pointer to a struct cred as the first argument of every syscall that
//    takes a path or a descriptor (FUSE hands over the caller's ids with each request, the
//    Node API its process's ids); cred_enter checks it and copies it into the kernel, so the
//    host cannot change it under a running call and a bad one is refused before any work;
//  - uid 0 holds every capability the filesystem asks about (CAP_DAC_OVERRIDE,
//    CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_CHOWN, CAP_MKNOD), as root does in an
//    initial user namespace; there is no separate fsuid (it equals the uid FUSE reports);
//  - callers inside the kernel (mkfs, the as-pect tests) run as root until a syscall says
//    otherwise.
//
// struct cred as the host writes it (CRED_SIZE bytes at most; `ngroups` decides the length):
//
//   0 uid u32 | 4 gid u32 | 8 ngroups u32 (<= NGROUPS_MAX) | 12 reserved u32 (0)
//  16 groups[ngroups] u32 (supplementary groups, any order)

import { EFAULT, EINVAL, EACCES } from "../lib/errno";
import { I_MODE, I_UID, I_GID, S_ISDIR } from "./inode";

/** Most supplementary groups one cred carries (a FUSE caller's groups come from /proc). */
export const NGROUPS_MAX: u32 = 256;
/** Bytes of the largest struct cred. */
export const CRED_SIZE: u32 = 16 + 4 * NGROUPS_MAX;
const CR_UID: usize = 0;
const CR_GID: usize = 4;
const CR_NGROUPS: usize = 8;
const CR_RESERVED: usize = 12;
const CR_GROUPS: usize = 16;

/** Permission masks for generic_permission (Linux MAY_*). */
export const MAY_EXEC: u32 = 1;
export const MAY_WRITE: u32 = 2;
export const MAY_READ: u32 = 4;

/** The running syscall's user and group ids. */
export let cur_uid: u32 = 0;
export let cur_gid: u32 = 0;
let cur_ngroups: u32 = 0;
const GROUPS: usize = memory.data(<i32>(4 * NGROUPS_MAX));

/** An area the host may write its struct cred into (kernel_cred): CRED_SIZE bytes. */
export const CRED_AREA: usize = memory.data(<i32>CRED_SIZE);

/**
 * Takes the struct cred at `p` as the running syscall's credentials. 0, or -EFAULT (the
 * struct is not inside linear memory), -EINVAL (more than NGROUPS_MAX groups, a reserved
 * field not 0). On an error the previous credentials stay.
 */
export function cred_enter(p: usize): i32 {
  const end = (<u64>memory.size()) << 16;
  if (p == 0 || <u64>p + 16 > end) return -EFAULT;
  const n = load<u32>(p, CR_NGROUPS);
  if (n > NGROUPS_MAX || load<u32>(p, CR_RESERVED) != 0) return -EINVAL;
  if (<u64>p + 16 + 4 * <u64>n > end) return -EFAULT;
  cur_uid = load<u32>(p, CR_UID);
  cur_gid = load<u32>(p, CR_GID);
  cur_ngroups = n;
  memory.copy(GROUPS, p + CR_GROUPS, 4 * <usize>n);
  return 0;
}

/** Runs what follows as root (uid 0, gid 0, no supplementary groups): kernel-internal callers. */
export function cred_root(): void {
  cur_uid = 0;
  cur_gid = 0;
  cur_ngroups = 0;
}

/** Whether the running syscall holds the capabilities of root (CAP_* above). */
@inline export function capable(): bool { return cur_uid == 0; }

/** Whether `gid` is the caller's group or one of its supplementary groups (Linux in_group_p). */
export function in_group_p(gid: u32): bool {
  if (gid == cur_gid) return true;
  for (let i: u32 = 0; i < cur_ngroups; i++) if (load<u32>(GROUPS + 4 * <usize>i) == gid) return true;
  return false;
}

/**
 * Linux generic_permission for the inode record at `rec` and `mask` (MAY_* bits): the owner's,
 * the group's or the others' permission bits decide, in that order (the first class that
 * matches, even if it grants less than a later one). Root may read and write anything and
 * search any directory, and execute a file when any of its execute bits is set
 * (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). 0 or -EACCES.
 */
export function generic_permission(rec: usize, mask: u32): i32 {
  const mode = load<u32>(rec, I_MODE);
  let bits: u32;
  if (load<u32>(rec, I_UID) == cur_uid) bits = (mode >> 6) & 7;
  else if (in_group_p(load<u32>(rec, I_GID))) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  if ((mask & ~bits & 7) == 0) return 0;
  if (capable()) {
    if ((mask & MAY_EXEC) == 0 || S_ISDIR(mode) || (mode & 0o111) != 0) return 0;
  }
  return -EACCES;
}
