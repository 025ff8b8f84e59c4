// test/stream-portable.test.ts -- host/fs/stream.ts as the browser build runs it: `stream` is
// the readable-stream package (vite.config.ts's alias), `events` the events package, and
// there is no setImmediate (callbacks come from a MessageChannel). Oracle: the file's bytes.
// Also: host/fs's one macrotask scheduler (async.ts's defer) then takes a MessageChannel, and
// every deferred step (streams, Dir reads, promises.cp, the callback API) goes through it,
// never through setTimeout (clamped to 4 ms when nested in a browser).

import { describe, expect, it, vi } from "vitest";

vi.mock("stream", async () => await import("readable-stream"));
vi.mock("events", async () => await import("events/events.js"));

/** Files in the tree the Dir / cp part of the test walks. */
const TREE_FILES = 12;

/** MessageChannel messages posted by host/fs's scheduler (counted by CountingChannel). */
let posts = 0;
const RealChannel = globalThis.MessageChannel;
/** A MessageChannel that counts the messages posted to port2 (where async.ts posts). */
class CountingChannel extends RealChannel {
  constructor() {
    super();
    const port = this.port2;
    const post = port.postMessage.bind(port);
    port.postMessage = (message: unknown) => { posts++; post(message); };
  }
}

describe("streams on readable-stream without setImmediate (the browser's path)", () => {
  it("range reads, a write stream, readLines and a web stream give the file's bytes", async () => {
    const saved = globalThis.setImmediate;
    vi.stubGlobal("setImmediate", undefined);
    vi.stubGlobal("MessageChannel", CountingChannel);
    vi.resetModules();
    let loaded;
    try {
      loaded = await Promise.all([import("readable-stream"), import("./helpers.js"), import("../host/fs/async.js")]);
    } finally {
      vi.stubGlobal("setImmediate", saved); // async.ts chose its scheduler when it loaded
      vi.stubGlobal("MessageChannel", RealChannel);
    }
    {
      const [rs, { freshDevice, bootDevice, MiB }, as] = loaded;
      expect(as.deferKind).toBe("MessageChannel");
      let viaChannel = 0;
      as.defer(() => { viaChannel++; });
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
      expect(viaChannel).toBe(1);
      expect(posts).toBeGreaterThan(0); // the stream callbacks came through the channel

      // Dir reads, promises.cp and the callback API: one channel message per deferred step,
      // no timer at all.
      const timers = vi.spyOn(globalThis, "setTimeout");
      try {
        for (let i = 0; i < TREE_FILES; i++) fs.writeFileSync(`/t${i}`, `${i}`);
        fs.mkdirSync("/tree");
        for (let i = 0; i < TREE_FILES; i++) fs.renameSync(`/t${i}`, `/tree/f${i}`);
        let before = posts;
        const dir = await fs.promises.opendir("/tree", { bufferSize: 1 }); // a read per entry
        let seen = 0;
        for (let d = await dir.read(); d !== null; d = await dir.read()) seen++;
        await dir.close();
        expect(seen).toBe(TREE_FILES);
        expect(posts - before).toBeGreaterThanOrEqual(TREE_FILES);
        before = posts;
        await fs.promises.cp("/tree", "/copy", { recursive: true });
        expect(fs.readdirSync("/copy").length).toBe(TREE_FILES);
        expect(posts - before).toBeGreaterThanOrEqual(TREE_FILES); // a yield before each entry
        before = posts;
        const text = await new Promise((resolve, reject) => fs.readFile("/copy/f7", "utf8", (e, t) => (e ? reject(e) : resolve(t))));
        expect(text).toBe("7");
        expect(posts - before).toBeGreaterThanOrEqual(1);
        expect(timers).not.toHaveBeenCalled();
      } finally {
        timers.mockRestore();
      }
      k.shutdown();
    }
  });
});
