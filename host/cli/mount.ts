// host/cli/mount.ts -- `helix mount IMAGE MOUNTPOINT` and `helix umount MOUNTPOINT`.
//
// Layer: CLI (Node), above host/fuse/mount.ts. Interface: cmdMount(image, mnt, o) -> exit
// code, cmdUmount(mnt, o) -> exit code.
// Rules (as a FUSE filesystem behaves, sshfs or bindfs):
//  - without --foreground the command returns once the mount is live: it starts itself again
//    detached (a new session, stdio to /dev/null; it moves to / once live) with --foreground
//    and an IPC channel;
//    the child reports "ready" or its one error line and exit code, and the parent prints that
//    line and exits with that code. The parent never touches the mount (no deadlock);
//  - with --foreground the command serves the mount until it is unmounted;
//  - SIGINT, SIGTERM and SIGHUP unmount (lazily when busy), sync and unmount the kernel cleanly
//    (the image is left clean), then exit 0;
//  - every failure is one line `helix: ...` (CliError); usage errors (bad -o) exit 2.

import { spawn } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "../node/node.js";
import { CliError, errorMessage } from "../shell/format.js";
import { FuseMount, parseMountOptions, umountHelix } from "../fuse/mount.js";

/** Options of `helix mount` as commander parses them. */
export interface MountCliOptions {
  options?: string[]; foreground?: boolean; notifyParent?: boolean; memory?: number; debug?: boolean;
}

/** How long the parent waits for the detached child's verdict, in ms (boot + mount + INIT). */
const READY_WAIT_MS = 60_000;

/** Messages of the detached child to its parent. */
type ChildMessage = { ready: true } | { error: string; code: number };

/**
 * `helix mount`: in the foreground, serves until unmounted (exit 0); otherwise starts the
 * server detached and returns when it is live (0) or has failed (its line and code).
 */
export async function cmdMount(image: string, mnt: string, o: MountCliOptions): Promise<number> {
  const flags = parseMountOptions(o.options ?? []); // usage errors before anything starts
  if (o.foreground !== true) return spawnDetached(image, mnt, o);
  const toParent = o.notifyParent === true && typeof process.send === "function" ? (m: ChildMessage) => process.send!(m) : null;
  let m: FuseMount;
  try {
    m = await FuseMount.mount({ image, mountpoint: mnt, ...flags, memoryMiB: o.memory, debug: o.debug });
  } catch (err) {
    toParent?.({ error: errorMessage(err), code: err instanceof CliError ? err.exitCode : 1 });
    throw err;
  }
  let signalled = false;
  const onSignal = () => {
    if (signalled) return;
    signalled = true;
    void m.unmount(true);
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
  if (toParent !== null) {
    toParent({ ready: true });
    process.disconnect?.();
    // a daemon keeps no directory busy (the image and the mount point are open or absolute now)
    process.chdir("/");
  }
  const err = await m.closed;
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.removeListener(s, onSignal);
  if (err !== null) throw new CliError(`${image}: unmount failed: ${errorMessage(err)}`);
  return 0;
}

/** Starts `helix mount ... --foreground` detached and waits for its verdict. */
function spawnDetached(image: string, mnt: string, o: MountCliOptions): Promise<number> {
  // the paths as given (the child starts in this directory): its error lines name them so
  const args = [path.join(ROOT, "bin", "helix.js"), "mount", image, mnt, "--foreground", "--notify-parent"];
  for (const opt of o.options ?? []) args.push("-o", opt);
  if (o.memory !== undefined) args.push("--memory", String(o.memory));
  if (o.debug) args.push("--debug");
  const child = spawn(process.execPath, args, {
    detached: true, cwd: process.cwd(), stdio: ["ignore", "ignore", "ignore", "ipc"], env: { ...process.env, HELIX_NO_BUILD: "1" },
  });
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.removeAllListeners();
      fn();
    };
    const timer = setTimeout(() => settle(() => {
      child.kill("SIGTERM");
      reject(new CliError(`mount of '${mnt}' failed: no answer from the mount's process within ${READY_WAIT_MS / 1000} s`));
    }), READY_WAIT_MS);
    child.on("message", (msg: ChildMessage) => settle(() => {
      if ("ready" in msg) {
        if (child.connected) child.disconnect();
        child.unref();
        resolve(0);
      } else {
        reject(new CliError(msg.error, msg.code));
      }
    }));
    child.on("error", (err) => settle(() => reject(new CliError(`mount of '${mnt}' failed: ${errorMessage(err)}`))));
    child.on("exit", (code, sig) => settle(() =>
      reject(new CliError(`mount of '${mnt}' failed: the mount's process ended (${sig ?? `exit ${code}`}) before the mount was live`))));
  });
}

/** `helix umount`: unmounts and waits until the image is released. */
export async function cmdUmount(mnt: string, o: { lazy?: boolean }): Promise<number> {
  await umountHelix(mnt, { lazy: o.lazy === true });
  return 0;
}
