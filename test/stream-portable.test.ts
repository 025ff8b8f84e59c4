// test/stream-portable.test.ts -- host/fs/stream.ts as the browser build runs it: `stream` is
// the readable-stream package (vite.config.ts's alias), `events` the events package, and
// there is no setImmediate (callbacks come from a MessageChannel). Oracle: the file's bytes.

import { describe, expect, it, vi } from "vitest";

vi.mock("stream", async () => await import("readable-stream"));
vi.mock("events", async () => await import("events/events.js"));

describe("streams on readable-stream without setImmediate (the browser's path)", () => {
  it("range reads, a write stream, readLines and a web stream give the file's bytes", async () => {
    const saved = globalThis.setImmediate;
    vi.stubGlobal("setImmediate", undefined);
    vi.resetModules();
    let loaded;
    try {
      loaded = await Promise.all([import("readable-stream"), import("./helpers.js"), import("../host/fs/stream.js")]);
    } finally {
      vi.stubGlobal("setImmediate", saved); // stream.ts chose its scheduler when it loaded
    }
    {
      const [rs, { freshDevice, bootDevice, MiB }, st] = loaded;
      let viaChannel = 0;
      st.defer(() => { viaChannel++; });
      expect(viaChannel).toBe(0);
      const k = bootDevice(freshDevice(32 * MiB));
      const fs = k.fs;
      const data = Buffer.alloc(300_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
      fs.writeFileSync("/a", data);
      const r = fs.createReadStream("/a", { start: 5, end: 200_004, highWaterMark: 10_000 });
      expect(r).toBeInstanceOf(rs.Readable); // the stream class really is readable-stream's
      const chunks: Buffer[] = [];
      for await (const c of r) chunks.push(c);
      expect(chunks.every((c) => c.length <= 10_000)).toBe(true);
      expect(Buffer.concat(chunks).equals(data.subarray(5, 200_005))).toBe(true);
      await rs.promises.pipeline(fs.createReadStream("/a"), fs.createWriteStream("/b", { flags: "w" }));
      expect(fs.readFileSync("/b").equals(data)).toBe(true);
      fs.writeFileSync("/t", "x\r\ny\nz");
      const lines: string[] = [];
      for await (const l of (await fs.promises.open("/t")).readLines()) lines.push(l);
      expect(lines).toEqual(["x", "y", "z"]);
      const h = await fs.promises.open("/a");
      const parts: Uint8Array[] = [];
      for await (const c of h.readableWebStream() as unknown as AsyncIterable<Uint8Array>) parts.push(c);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      await h.close();
      k.shutdown();
      expect(viaChannel).toBe(1);
      expect(st.deferKind).toBe("MessageChannel");
    }
  });
});
