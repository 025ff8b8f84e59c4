// lib/errno.ts -- Linux errno numbers. Syscalls return -errno, so FUSE and the Node API map
// them directly (asm-generic/errno-base.h, errno.h).
export const EPERM: i32 = 1;
export const ENOENT: i32 = 2;
export const EIO: i32 = 5;
/** No such device or address: a FIFO opened O_WRONLY|O_NONBLOCK with no reader. */
export const ENXIO: i32 = 6;
/** Argument list too long; scandir: the names do not fit the caller's buffer. */
export const E2BIG: i32 = 7;
export const EBADF: i32 = 9;
/** Try again: a FIFO read or write that would wait (this kernel keeps no pipe buffer). */
export const EAGAIN: i32 = 11;
export const ENOMEM: i32 = 12;
export const EACCES: i32 = 13;
/** Bad address: a struct the host passed lies outside linear memory. */
export const EFAULT: i32 = 14;
export const EBUSY: i32 = 16;
export const EEXIST: i32 = 17;
export const EXDEV: i32 = 18;
export const ENODEV: i32 = 19;
export const ENOTDIR: i32 = 20;
export const EISDIR: i32 = 21;
export const EINVAL: i32 = 22;
export const EMFILE: i32 = 24;
export const EFBIG: i32 = 27;
export const ENOSPC: i32 = 28;
export const ESPIPE: i32 = 29;
export const EROFS: i32 = 30;
export const EMLINK: i32 = 31;
/** Broken pipe: a write to a FIFO nobody has open for reading. */
export const EPIPE: i32 = 32;
export const ERANGE: i32 = 34;
export const ENAMETOOLONG: i32 = 36;
export const ENOTEMPTY: i32 = 39;
export const ELOOP: i32 = 40;
/** No such extended attribute (Linux ENODATA = ENOATTR). */
export const ENODATA: i32 = 61;
export const EOVERFLOW: i32 = 75;
/** Operation not supported (an xattr namespace, a fallocate mode). */
export const EOPNOTSUPP: i32 = 95;
/** Structure needs cleaning: a checksum or self-location check failed (Linux EUCLEAN = EFSCORRUPTED). */
export const EUCLEAN: i32 = 117;
