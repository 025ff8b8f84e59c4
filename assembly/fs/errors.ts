// fs/errors.ts -- where layers report a metadata block that failed its checks or could not
// be read (ext4_error): the filesystem layer installs the handler at mount, which aborts
// the journal, turns the filesystem read-only and records the error in the superblock.
// A separate module so the buffer cache and the B+ tree need not import the superblock code.

let handler: ((err: i32) => void) | null = null;

/** Installs the handler (fs/super.ts at mount). */
export function set_metadata_error_handler(fn: ((err: i32) => void) | null): void { handler = fn; }

/** The installed handler (fsck swaps in its own while it reads damaged blocks on purpose). */
export function get_metadata_error_handler(): ((err: i32) => void) | null { return handler; }

/** Reports a metadata error (-EUCLEAN: checksum, location or structure; -EIO: unreadable). */
export function metadata_error(err: i32): void {
  if (handler != null) {
    const h = handler!;
    h(err);
  }
}
