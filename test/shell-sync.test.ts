// test/shell-sync.test.ts -- the shell's `sync FILE...` (coreutils' per-file fsync, what the
// page's power cut shows surviving): it fsyncs each operand, reports the ones it cannot open
// with coreutils' wording, tells the host which paths it made durable, and a crash copy of the
// device taken right after it holds the file while an unsynced one is gone.

import { describe, expect, it } from "vitest";
import { Shell } from "../host/shell/shell.js";
import { bootDevice, crashCopy, freshDevice } from "./helpers.js";

function shellOn() {
  const dev = freshDevice();
  const k = bootDevice(dev);
  const out: string[] = [], err: string[] = [], syncs: (string[] | null)[] = [];
  const sh = new Shell(k.fs, { out: (d) => out.push(String(d)), err: (l) => err.push(l), onSync: (p) => syncs.push(p) });
  return { dev, k, sh, out, err, syncs };
}

describe("shell sync FILE", () => {
  it("fsyncs the named files, reports them to the host; a whole sync reports null", () => {
    const { k, sh, err, syncs } = shellOn();
    sh.run("mkdir /d; echo kept > /d/a; cd /d; sync a; sync -d /d/a; sync");
    expect(err).toEqual([]);
    expect(syncs).toEqual([["/d/a"], ["/d/a"], null]);
    k.shutdown();
  });

  it("a missing operand is one coreutils-worded line; the others are still synced", () => {
    const { k, sh, err, syncs } = shellOn();
    sh.run("echo x > /a; sync /nope /a");
    expect(err).toEqual(["helix: sync: error opening '/nope': No such file or directory"]);
    expect(syncs).toEqual([["/a"]]);
    expect(sh.failures).toBe(1);
    sh.run("sync -q");
    expect(err[1]).toBe("helix: sync: invalid option -- 'q'");
    k.shutdown();
  });

  it("after `sync FILE` a power cut keeps the file; an unsynced file is lost", () => {
    const { dev, k, sh } = shellOn();
    sh.run("echo kept > /kept; sync /kept; echo lost > /lost");
    const copy = crashCopy(dev);
    k.shutdown();
    const k2 = bootDevice(copy);
    expect(String(k2.fs.readFileSync("/kept"))).toBe("kept\n");
    expect(k2.fs.existsSync("/lost")).toBe(false);
    expect(k2.fsck(true)).toBe(0);
    k2.shutdown();
  });
});
