// host/node/recorder-node.ts -- saving and loading write logs as files (Node only).
//
// Layer: beside host/crash/recorder.ts, which stays free of Node imports for the browser.
// Interface: saveLog(log, path), loadLog(path). Rules: a save writes a temporary file, fsyncs
// it and renames it over `path`, so a crash during a save never leaves a half-written log
// under the final name; errors are thrown as BlockError with the host's errno name (loading
// a corrupt file throws BlockError('EBADMSG') from WriteLog.deserialize).

import * as fs from "node:fs";
import { BlockError } from "../vmm/blockdev.js";
import { WriteLog } from "../crash/recorder.js";

function hostError(err: unknown, what: string): BlockError {
  const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "EIO";
  return new BlockError(code, `${what}: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * Writes `log` to `path` in the saved format (docs/crash.md), atomically: a temporary file
 * beside it, fsync, rename. Returns the bytes written. Throws BlockError with the host's code.
 */
export function saveLog(log: WriteLog, path: string): number {
  const bytes = log.serialize();
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (err) {
    try { fs.rmSync(tmp, { force: true }); } catch { /* the original error matters */ }
    throw hostError(err, `save write log ${path}`);
  }
  return bytes.length;
}

/**
 * Reads a log saved by saveLog. Throws BlockError with the host's code ('ENOENT', ...) when
 * the file cannot be read, and BlockError('EBADMSG') when its contents are not a valid log.
 */
export function loadLog(path: string): WriteLog {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (err) {
    throw hostError(err, `load write log ${path}`);
  }
  return WriteLog.deserialize(bytes);
}
