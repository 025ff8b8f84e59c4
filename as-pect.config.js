// as-pect configuration for the kernel's AssemblyScript unit tests (`npm run test:kernel`).
//
// Test files: assembly/__tests__/**/*.spec.ts, one wasm module per file. The compiler options
// come from as-pect.asconfig.json, which extends the kernel's asconfig.json but switches the
// runtime to "incremental": as-pect itself needs a managed heap, while the kernel proper is
// built with --runtime stub. Kernel tests take their physical memory from `heap.alloc()`.
//
// The fs-layer specs (btree, alloc, journal) run the kernel on a block device implemented
// here: a tiny virtio-blk device over a Uint8Array that serves the split virtqueue the driver
// (assembly/dev/virtio_blk.ts) lays out in linear memory. `env.virtio_notify` completes every
// available request before returning (docs/abi.md). The specs talk to the device through the
// `helix_test` imports below (see assembly/__tests__/fsfixture.ts):
//
//   dev_attach(desc, avail, used, sectors)   rings of the driver, new zeroed device
//   dev_snapshot(slot) / dev_restore(slot)   copy the device bytes to / from a numbered slot
//                                            (a restore copies only blocks written since)
//   dev_equal(a, b)                          -1 when two slots are identical, else 1st block differing
//   dev_trace_start() / dev_trace_stop()     record every block written (and every FLUSH)
//   dev_trace_len() / dev_trace_blk(i)       recorded entries; blk -1 marks a FLUSH
//   dev_trace_apply(i)                       writes recorded entry i to the device bytes
//   dev_writes() / dev_flushes()             blocks written / flushes since attach
//
// A crash is simulated by restoring a snapshot taken before some work and applying a chosen
// subset of the writes traced during that work (a prefix = "the device accepted k writes").
// Every spec file gets its own device (instantiate runs once per file). `env.console_write`
// prints kernel log lines prefixed "[kernel]" (quiet mounts and fsck_run(false) print nothing;
// a failing test may call fsck_run(true) to show its findings); `env.clock_ns` is Date.now();
// `env.sleep_ms` blocks the thread (Atomics.wait).

const SECTOR = 512;
const BLOCK = 4096;
const Q = 256;
const T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11;
const F_NEXT = 1;

function makeDevice(getBuffer) {
  let bytes = new Uint8Array(0);
  let desc = 0, avail = 0, used = 0;
  let lastAvail = 0, usedIdx = 0;
  const slots = new Map();
  let tracing = false;
  let trace = []; // { blk, data } ; blk -1 = FLUSH
  let writes = 0, flushes = 0;
  // restore copies only the blocks written since the device last equalled a slot
  let base = -1;
  const dirty = new Set();

  function dv() { return new DataView(getBuffer()); }

  function notify() {
    const mem = new Uint8Array(getBuffer());
    const v = dv();
    const availIdx = v.getUint16(avail + 2, true);
    while (lastAvail !== availIdx) {
      const head = v.getUint16(avail + 4 + 2 * (lastAvail % Q), true);
      lastAvail = (lastAvail + 1) & 0xffff;
      // gather the chain
      const segs = [];
      let i = head, guard = 0;
      for (;;) {
        const d = desc + 16 * i;
        const addr = Number(v.getBigUint64(d, true));
        const len = v.getUint32(d + 8, true);
        const flags = v.getUint16(d + 12, true);
        segs.push({ addr, len, flags });
        if (!(flags & F_NEXT) || ++guard > Q) break;
        i = v.getUint16(d + 14, true);
      }
      const hdr = segs[0].addr;
      const type = v.getUint32(hdr, true);
      const sector = Number(v.getBigUint64(hdr + 8, true));
      const statusSeg = segs[segs.length - 1];
      const data = segs.slice(1, segs.length - 1);
      let status = 0;
      let written = 0;
      let off = sector * SECTOR;
      if (type === T_IN || type === T_OUT) {
        for (const s of data) {
          if (off + s.len > bytes.length) { status = 1; break; }
          if (type === T_IN) {
            mem.set(bytes.subarray(off, off + s.len), s.addr);
            written += s.len;
          } else {
            for (let b = 0; b < s.len; b += BLOCK) {
              const n = Math.min(BLOCK, s.len - b);
              bytes.set(mem.subarray(s.addr + b, s.addr + b + n), off + b);
              dirty.add(Math.floor((off + b) / BLOCK));
              writes++;
              if (tracing) trace.push({ blk: Math.floor((off + b) / BLOCK), data: mem.slice(s.addr + b, s.addr + b + n) });
            }
          }
          off += s.len;
        }
      } else if (type === T_FLUSH) {
        flushes++;
        if (tracing) trace.push({ blk: -1, data: null });
      } else if (type === T_GET_ID) {
        const id = "helix-aspect";
        for (let k = 0; k < 20 && k < data[0].len; k++) mem[data[0].addr + k] = k < id.length ? id.charCodeAt(k) : 0;
        written += 20;
      } else if (type === T_DISCARD) {
        // accepted, contents kept (a device may keep discarded data)
      } else {
        status = 2;
      }
      mem[statusSeg.addr] = status;
      const u = used + 4 + 8 * (usedIdx % Q);
      v.setUint32(u, head, true);
      v.setUint32(u + 4, written + 1, true);
      usedIdx = (usedIdx + 1) & 0xffff;
      v.setUint16(used + 2, usedIdx, true);
    }
  }

  const api = {
    dev_attach(d, a, u, sectors) {
      desc = d >>> 0; avail = a >>> 0; used = u >>> 0;
      lastAvail = 0; usedIdx = 0;
      bytes = new Uint8Array((sectors >>> 0) * SECTOR);
      slots.clear();
      trace = []; tracing = false; writes = 0; flushes = 0;
      base = -1; dirty.clear();
    },
    dev_snapshot(slot) { slots.set(slot, bytes.slice()); base = slot; dirty.clear(); },
    dev_restore(slot) {
      const s = slots.get(slot);
      if (!s) throw new Error(`dev_restore: no snapshot in slot ${slot}`);
      if (base === slot) {
        for (const blk of dirty) bytes.set(s.subarray(blk * BLOCK, (blk + 1) * BLOCK), blk * BLOCK);
      } else {
        bytes.set(s);
      }
      base = slot;
      dirty.clear();
    },
    dev_drop(slot) { slots.delete(slot); if (base === slot) base = -1; },
    dev_equal(a, b) {
      const x = slots.get(a), y = slots.get(b);
      if (!x || !y) throw new Error(`dev_equal: missing slot ${a} or ${b}`);
      for (let blk = 0; blk * BLOCK < x.length; blk++) {
        const o = blk * BLOCK;
        for (let k = 0; k < BLOCK; k++) if (x[o + k] !== y[o + k]) return blk;
      }
      return -1;
    },
    dev_trace_start() { trace = []; tracing = true; },
    dev_trace_stop() { tracing = false; },
    dev_trace_len() { return trace.length; },
    dev_trace_blk(i) { return trace[i].blk; },
    dev_trace_apply(i) {
      const e = trace[i];
      if (e.blk >= 0) { bytes.set(e.data, e.blk * BLOCK); dirty.add(e.blk); }
    },
    dev_writes() { return writes; },
    dev_flushes() { return flushes; },
  };
  return { notify, api };
}

export default {
  entries: ["assembly/__tests__/**/*.spec.ts"],
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    let exports = null;
    const dev = makeDevice(() => exports.memory.buffer);
    let line = "";
    const imports = {
      env: {
        memory,
        virtio_notify(_dev, _queue) { dev.notify(); },
        // inotify's doorbell (fs/fsnotify.ts): the specs read the queue themselves
        fsnotify_wake() {},
        console_write(ptr, len) {
          const mem = new Uint8Array(exports.memory.buffer, ptr >>> 0, len >>> 0);
          line += String.fromCharCode(...mem);
          let nl;
          while ((nl = line.indexOf("\n")) >= 0) {
            process.stdout.write("[kernel] " + line.slice(0, nl) + "\n");
            line = line.slice(nl + 1);
          }
        },
        clock_ns() { return BigInt(Date.now()) * 1000000n; },
        // multiple-mount protection's wait (fs/mmp.ts); a spec device is private, so a mount
        // sleeps only when a spec plants another machine's MMP block
        sleep_ms(ms) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); },
      },
      helix_test: dev.api,
    };
    const result = await instantiate(binary, createImports(imports));
    exports = result.exports;
    return result;
  },
  outputBinary: false,
};
