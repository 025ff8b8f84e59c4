// tools/bench-fuse-null.ts -- the bound of the FUSE binding for the FUSE bench: a minimal
// in-memory filesystem served by the SAME patched fuse-native addon, with the SAME mount
// options (host/fuse/mount.ts fuseOptionString: timeouts 0, use_ino, hard_remove, big_writes,
// max_write/max_read) and the same reply encoding (host/fuse/ops.ts statWords) as `helix mount`,
// but no kernel behind it: every request is answered from a JS Map. It does the least work per
// request any filesystem on this binding can do, so HelixFS / null fs is the share of the
// binding's bound that HelixFS reaches.
//
// Layer: tools (Node-only, bench support; never shipped, never a test oracle). Interface:
//   node dist/tools/bench-fuse-null.js MOUNTPOINT
//     serves the mount until SIGTERM (the bench runs `fusermount -u` first);
//     stdin line "counts" -> one JSON line on stdout: {op name: calls so far} (the bench's
//     requests-per-operation figures; libfuse's high-level API turns each LOOKUP into a getattr)
// Rules:
//  - the same ops are implemented as `helix mount` implements (flush left to ENOSYS, xattrs
//    answered), so the Linux FUSE module sends the same requests to both;
//  - no permission checks, no times kept beyond what stat shows, no persistence: a bound, not
//    a filesystem anyone should use;
//  - errors: one line `bench-fuse-null: ...` on stderr and exit 1.
//
//   Node: { ino, mode, uid, gid, nlink, size, chunks[] (CHUNK bytes each, null = hole), ns }
//   nodes: Map<path, Node>      kids: Map<dir path, Set<name>>      fds: Map<fd, Node>

import * as readline from "node:readline";
import { loadFuseBinding, FUSE_OPS, FUSE_OP_SLOTS, type FuseHandle } from "../host/fuse/binding.js";
import { fuseOptionString, parseMountOptions } from "../host/fuse/mount.js";
import { direntWords, statWords } from "../host/fuse/ops.js";
import { DT_DIR, DT_REG, type StatRecord } from "../host/fs/fs.js";

const ENOENT = 2, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, ENOTEMPTY = 39, ENODATA = 61;
const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFMT = 0o170000;
/** Bytes of one data chunk of a file (FUSE_IO_MAX: one big write fills one chunk). */
const CHUNK = 128 * 1024;
/** Ops `helix mount` leaves unimplemented (ops.ts implemented()); the rest below answer. */
const SKIP = new Set(["error", "flush", "mknod", "link", "symlink", "readlink", "fallocate"]);

interface Node {
  ino: number; mode: number; uid: number; gid: number; nlink: number; size: number;
  chunks: (Buffer | null)[]; ns: bigint;
}
type Reply = (h: FuseHandle, res: number, ...out: unknown[]) => void;

function main(mnt: string): void {
  const b = loadFuseBinding();
  const nodes = new Map<string, Node>(), kids = new Map<string, Set<string>>(), fds = new Map<number, Node>();
  let nextIno = 2, nextFd = 1;
  const now = () => BigInt(Date.now()) * 1_000_000n;
  const mk = (mode: number, h: FuseHandle): Node => {
    const o = b.offsetof_caller;
    return { ino: nextIno++, mode, uid: h.readUInt32LE(o), gid: h.readUInt32LE(o + 4), nlink: 1, size: 0, chunks: [], ns: now() };
  };
  nodes.set("/", { ino: 1, mode: S_IFDIR | 0o777, uid: 0, gid: 0, nlink: 2, size: 0, chunks: [], ns: now() });
  kids.set("/", new Set());
  const split = (p: string): [string, string] => { const i = p.lastIndexOf("/"); return [i === 0 ? "/" : p.slice(0, i), p.slice(i + 1)]; };
  const stat = (n: Node): StatRecord => ({
    dev: 0, ino: n.ino, mode: n.mode, nlink: n.nlink, uid: n.uid, gid: n.gid, rdev: 0, size: n.size, blksize: 4096,
    blocks: Math.ceil(n.size / 512), atimeNs: n.ns, mtimeNs: n.ns, ctimeNs: n.ns, birthtimeNs: n.ns,
  });
  /** Adds a new node at `p`: its errno, or the node. */
  const add = (p: string, n: Node): Node | number => {
    if (nodes.has(p)) return -EEXIST;
    const [dir, name] = split(p);
    const set = kids.get(dir);
    if (set === undefined) return nodes.has(dir) ? -ENOTDIR : -ENOENT;
    set.add(name); nodes.set(p, n);
    if ((n.mode & S_IFMT) === S_IFDIR) kids.set(p, new Set());
    return n;
  };
  const drop = (p: string) => { const [dir, name] = split(p); kids.get(dir)?.delete(name); nodes.delete(p); kids.delete(p); };
  const open = (n: Node): number => { const fd = nextFd++; fds.set(fd, n); return fd; };
  /** truncate: chunks past `size` dropped, the tail of the last one zeroed (a later extension reads zeros). */
  const setSize = (n: Node, size: number) => {
    if (size < n.size) n.chunks[Math.floor(size / CHUNK)]?.fill(0, size % CHUNK);
    n.size = size;
    n.chunks.length = Math.ceil(size / CHUNK);
  };
  /**
   * Copies between a file's chunks and `buf` (write = into the file); bytes moved. A chunk is
   * only as long as the file needs (a 100-byte file holds 100 bytes, not CHUNK), grown by
   * doubling up to CHUNK; bytes past a chunk's end read as zeros.
   */
  const io = (n: Node, buf: Buffer, len: number, off: number, write: boolean): number => {
    if (!write) len = Math.max(0, Math.min(len, n.size - off));
    for (let done = 0; done < len;) {
      const c = Math.floor((off + done) / CHUNK), at = (off + done) % CHUNK, k = Math.min(len - done, CHUNK - at);
      let chunk = n.chunks[c] ?? null;
      if (write) {
        if (chunk === null || chunk.length < at + k) {
          const grown = Buffer.alloc(Math.min(CHUNK, Math.max(at + k, 2 * (chunk?.length ?? 0))));
          chunk?.copy(grown);
          chunk = n.chunks[c] = grown;
        }
        buf.copy(chunk, at, done, done + k);
      } else {
        const have = chunk === null ? 0 : Math.max(0, Math.min(k, chunk.length - at));
        if (have > 0) chunk!.copy(buf, done, at, at + have);
        if (have < k) buf.fill(0, done + have, done + k);
      }
      done += k;
    }
    if (write && off + len > n.size) n.size = off + len;
    return len;
  };
  const rc0 = (r: number | Node) => (typeof r === "number" ? r : 0);
  const ops: Record<string, (reply: Reply, h: FuseHandle, ...a: any[]) => void> = {
    init: (r, h) => r(h, 0),
    getattr: (r, h, p: string) => { const n = nodes.get(p); r(h, n ? 0 : -ENOENT, statWords(n ? stat(n) : null)); },
    fgetattr: (r, h, _p, fd: number) => { const n = fds.get(fd); r(h, n ? 0 : -ENOENT, statWords(n ? stat(n) : null)); },
    access: (r, h, p: string) => r(h, nodes.has(p) ? 0 : -ENOENT),
    statfs: (r, h) => r(h, 0, new Uint32Array([4096, 4096, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 0, 0, 255])),
    opendir: (r, h, p: string) => { const n = nodes.get(p); r(h, n ? 0 : -ENOENT, n ? open(n) : 0); },
    readdir: (r, h, p: string) => {
      const set = kids.get(p);
      if (set === undefined) { r(h, -ENOTDIR, [], []); return; }
      const names = [".", ".."], stats = [direntWords(nodes.get(p)!.ino, DT_DIR), direntWords(1, DT_DIR)];
      const base = p === "/" ? "/" : p + "/";
      for (const name of set) {
        const n = nodes.get(base + name)!;
        names.push(name); stats.push(direntWords(n.ino, (n.mode & S_IFMT) === S_IFDIR ? DT_DIR : DT_REG));
      }
      r(h, 0, names, stats);
    },
    releasedir: (r, h, _p, fd: number) => { fds.delete(fd); r(h, 0); },
    fsyncdir: (r, h) => r(h, 0),
    open: (r, h, p: string, flags: number) => {
      const n = nodes.get(p);
      if (n === undefined) { r(h, -ENOENT, 0); return; }
      if (flags & 0o1000) setSize(n, 0); // O_TRUNC
      r(h, 0, open(n));
    },
    create: (r, h, p: string, mode: number) => {
      const n = nodes.get(p) ?? add(p, mk(S_IFREG | (mode & 0o7777), h));
      if (typeof n === "number") r(h, n, 0); else r(h, 0, open(n));
    },
    read: (r, h, _p, fd: number, buf: Buffer, len: number, lo: number, hi: number) => {
      const n = fds.get(fd);
      r(h, n ? io(n, buf, len, lo + hi * 2 ** 32, false) : -ENOENT, 0, buf.buffer);
    },
    write: (r, h, _p, fd: number, buf: Buffer, len: number, lo: number, hi: number) => {
      const n = fds.get(fd);
      r(h, n ? io(n, buf, len, lo + hi * 2 ** 32, true) : -ENOENT, 0, buf.buffer);
    },
    release: (r, h, _p, fd: number) => { fds.delete(fd); r(h, 0); },
    fsync: (r, h) => r(h, 0),
    truncate: (r, h, p: string, lo: number, hi: number) => {
      const n = nodes.get(p);
      if (n) setSize(n, lo + hi * 2 ** 32);
      r(h, n ? 0 : -ENOENT);
    },
    ftruncate: (r, h, _p, fd: number, lo: number, hi: number) => {
      const n = fds.get(fd);
      if (n) setSize(n, lo + hi * 2 ** 32);
      r(h, n ? 0 : -ENOENT);
    },
    utimens: (r, h, p: string) => { const n = nodes.get(p); if (n) n.ns = now(); r(h, n ? 0 : -ENOENT); },
    chmod: (r, h, p: string, mode: number) => { const n = nodes.get(p); if (n) n.mode = (n.mode & S_IFMT) | (mode & 0o7777); r(h, n ? 0 : -ENOENT); },
    chown: (r, h, p: string, uid: number, gid: number) => {
      const n = nodes.get(p);
      if (n) { if (uid !== 0xffffffff) n.uid = uid; if (gid !== 0xffffffff) n.gid = gid; }
      r(h, n ? 0 : -ENOENT);
    },
    setxattr: (r, h, _p, _n, value: Buffer) => r(h, 0, value.buffer),
    getxattr: (r, h, _p, _n, buf: Buffer) => r(h, -ENODATA, buf.buffer),
    listxattr: (r, h, _p, buf: Buffer) => r(h, 0, buf.buffer),
    removexattr: (r, h) => r(h, -ENODATA),
    mkdir: (r, h, p: string, mode: number) => r(h, rc0(add(p, { ...mk(S_IFDIR | (mode & 0o7777), h), nlink: 2 }))),
    unlink: (r, h, p: string) => {
      const n = nodes.get(p);
      if (n === undefined) { r(h, -ENOENT); return; }
      if ((n.mode & S_IFMT) === S_IFDIR) { r(h, -EISDIR); return; }
      drop(p); r(h, 0);
    },
    rmdir: (r, h, p: string) => {
      const set = kids.get(p);
      if (set === undefined) { r(h, nodes.has(p) ? -ENOTDIR : -ENOENT); return; }
      if (set.size > 0) { r(h, -ENOTEMPTY); return; }
      drop(p); r(h, 0);
    },
    rename: (r, h, a: string, to: string) => {
      const n = nodes.get(a);
      if (n === undefined) { r(h, -ENOENT); return; }
      if (kids.get(to)?.size) { r(h, -ENOTEMPTY); return; }
      const moved = [...nodes].filter(([q]) => q === a || q.startsWith(a + "/"));
      const sets = [...kids].filter(([q]) => q === a || q.startsWith(a + "/"));
      drop(to); drop(a);
      for (const [q, x] of moved) nodes.set(to + q.slice(a.length), x);
      for (const [q, x] of sets) kids.set(to + q.slice(a.length), x);
      const [dir, name] = split(to);
      kids.get(dir)?.add(name);
      r(h, 0);
    },
  };
  // the failed reply of an op that threw carries the output arguments the addon reads
  const failOut = (name: string): unknown[] =>
    name === "getattr" || name === "fgetattr" ? [statWords(null)] : name === "readdir" ? [[], []]
      : name === "open" || name === "opendir" || name === "create" ? [0] : name === "statfs" ? [new Uint32Array(11)] : [];
  const counts = new Float64Array(FUSE_OP_SLOTS);
  const table: unknown[] = new Array(FUSE_OP_SLOTS).fill(undefined);
  const implemented = new Uint32Array(FUSE_OP_SLOTS);
  for (const name of FUSE_OPS) {
    const code = b[`op_${name}`] as number, body = ops[name], signal = b[`fuse_native_signal_${name}`] as Reply | undefined;
    if (body === undefined || signal === undefined || SKIP.has(name)) continue;
    implemented[code] = 1;
    const out = failOut(name);
    table[code] = (h: FuseHandle, _op: number, ...args: unknown[]) => {
      counts[code]++;
      try { body(signal, h, ...args); } catch { signal(h, -5, ...out); }
    };
  }
  const thread = Buffer.alloc(b.sizeof_fuse_thread_t);
  const locals: Buffer[] = [];
  const opt = fuseOptionString(parseMountOptions([]), "nullfs").replace("subtype=helix", "subtype=helix-null");
  b.fuse_native_mount(mnt, opt, thread, {}, (size: number) => { const x = Buffer.alloc(size); locals.push(x); return x; }, table, implemented);
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    if (line.trim() !== "counts") return;
    const o: Record<string, number> = {};
    for (const name of FUSE_OPS) if (counts[b[`op_${name}`] as number] > 0) o[name] = counts[b[`op_${name}`] as number];
    process.stdout.write(JSON.stringify(o) + "\n");
  });
  process.on("SIGTERM", () => {
    try { b.fuse_native_unmount(mnt, thread); } catch { /* the FUSE thread is gone already */ }
    process.exit(0);
  });
}

try {
  if (process.argv.length !== 3) throw new Error("usage: bench-fuse-null MOUNTPOINT");
  main(process.argv[2]);
} catch (e) {
  process.stderr.write(`bench-fuse-null: ${String((e as Error).message).split("\n")[0]}\n`);
  process.exit(1);
}
