// test/oracle.ts -- Linux as another user: a DiffFs whose calls run in a child process that
// has dropped to a given uid, gid and supplementary groups (test/fixtures/oracle-child.mjs).
//
// Layer: test harness (not a test file). Interface: openUserOracle(cred, dir) -> UserOracle
// { fs (a DiffFs for test/differential.ts), close() }.
// Rules:
//  - only root can drop to another user: userOraclesAvailable() says whether this process can;
//  - calls are synchronous (blocking reads and writes on two FIFOs in `dir`), one at a time;
//  - results come back as plain data and are rebuilt into what the harness reads: Stats with
//    isFile/isDirectory/isSymbolicLink, Dirents, Buffers, Errors with code/errno/syscall/path.

import * as nodeFs from "node:fs";
import * as path from "node:path";
import * as v8 from "node:v8";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DiffFs } from "./differential.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "oracle-child.mjs");

/** The ids a user oracle runs with. */
export interface OracleCred { uid: number; gid: number; groups: readonly number[] }

export interface UserOracle { fs: DiffFs; close(): void }

/** Whether this process may start user oracles (it is root on Linux). */
export function userOraclesAvailable(): boolean {
  return process.platform === "linux" && typeof process.getuid === "function" && process.getuid() === 0;
}

const S_IFMT = 0o170000;

function rebuildStats(s: Record<string, number>): object {
  const t = s.mode & S_IFMT;
  return { ...s, isFile: () => t === 0o100000, isDirectory: () => t === 0o040000, isSymbolicLink: () => t === 0o120000 };
}

/**
 * A Dir as the child read it (whole, then closed): readSync hands out its entries, then
 * null; after closeSync, readSync and closeSync throw the error the child's real Dir threw.
 */
function rebuildDir(entries: { __dirent: string; kind: string; parentPath: string }[], dirPath: string, afterClose: Record<string, unknown> | null): object {
  let closed = false;
  const fail = (): never => {
    const e = new Error(String(afterClose?.message)) as Error & Record<string, unknown>;
    e.name = String(afterClose?.name);
    e.code = afterClose?.code;
    throw e;
  };
  const list = entries.map((e) => ({
    name: e.__dirent, parentPath: e.parentPath, path: e.parentPath,
    isFile: () => e.kind === "f", isDirectory: () => e.kind === "d", isSymbolicLink: () => e.kind === "l",
  }));
  return {
    path: dirPath,
    readSync: () => (closed ? fail() : list.shift() ?? null),
    closeSync: () => { if (closed) fail(); closed = true; },
  };
}

function rebuild(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) {
    return v.map((d: unknown) => {
      const e = d as { __dirent?: string; kind?: string };
      if (typeof e?.__dirent !== "string") return d;
      return { name: e.__dirent, isFile: () => e.kind === "f", isDirectory: () => e.kind === "d", isSymbolicLink: () => e.kind === "l" };
    });
  }
  const o = v as { __stats?: Record<string, number> } | null;
  if (o && typeof o === "object" && o.__stats) return rebuildStats(o.__stats);
  const dir = v as { __dir?: { __dirent: string; kind: string; parentPath: string }[]; path: string; afterClose: Record<string, unknown> | null } | null;
  if (dir && typeof dir === "object" && Array.isArray(dir.__dir)) return rebuildDir(dir.__dir, dir.path, dir.afterClose);
  return v;
}

/**
 * Starts a child running node:fs calls as `cred`; its FIFOs live in `dir` (an existing
 * directory only root can write, removed by the caller). Throws if the child cannot start.
 */
export function openUserOracle(cred: OracleCred, dir: string): UserOracle {
  const req = path.join(dir, "oracle.req");
  const resp = path.join(dir, "oracle.resp");
  execFileSync("mkfifo", ["-m", "600", req, resp]);
  const child: ChildProcess = spawn(process.execPath, [CHILD, req, resp, String(cred.uid), String(cred.gid), JSON.stringify(cred.groups)], { stdio: ["ignore", "inherit", "inherit"] });
  // opened in the child's order: each open blocks until the other end is open
  const wfd = nodeFs.openSync(req, "w");
  const rfd = nodeFs.openSync(resp, "r");

  const readExact = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let o = 0; o < n;) {
      const r = nodeFs.readSync(rfd, b, o, n - o, null);
      if (r === 0) throw new Error("user oracle: the child ended");
      o += r;
    }
    return b;
  };

  const call = (method: string, args: unknown[]): unknown => {
    const body = v8.serialize({ method, args });
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32LE(body.length, 0);
    const msg = Buffer.concat([hdr, body]);
    for (let o = 0; o < msg.length;) o += nodeFs.writeSync(wfd, msg, o, msg.length - o);
    const len = readExact(4).readUInt32LE(0);
    const out = v8.deserialize(readExact(len)) as { ok?: unknown; err?: Record<string, unknown> };
    if (out.err) {
      const e = new Error(String(out.err.message)) as Error & Record<string, unknown>;
      e.name = String(out.err.name);
      for (const k of ["code", "errno", "syscall", "path", "dest"]) if (out.err[k] !== undefined) e[k] = out.err[k];
      throw e;
    }
    if (method === "readSync") {
      const r = out.ok as { __read: number; buf: Uint8Array };
      (args[1] as Uint8Array).set(r.buf);
      return r.__read;
    }
    if (method === "readvSync") { // the child filled copies: fill the caller's buffers from them
      const r = out.ok as { __read: number; bufs: Uint8Array[] };
      (args[1] as Uint8Array[]).forEach((b, i) => b.set(r.bufs[i]));
      return r.__read;
    }
    return rebuild(out.ok);
  };

  const fs = new Proxy({}, {
    get: (_t, name) => (typeof name === "string" ? (...args: unknown[]) => call(name, args) : undefined),
  }) as DiffFs;
  return {
    fs,
    close() {
      nodeFs.closeSync(wfd); // EOF: the child exits
      nodeFs.closeSync(rfd);
      child.kill();
      nodeFs.rmSync(req, { force: true });
      nodeFs.rmSync(resp, { force: true });
    },
  };
}
