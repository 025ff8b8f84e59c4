import { describe, it, expect } from "vitest";
import { freshDevice, bootDevice, fsckClean, MiB } from "./helpers.js";

describe("smoke", () => {
  it("works", () => {
    const k = bootDevice(freshDevice(16 * MiB));
    const fs = k.fs as any;
    const fd = fs.openSync("/f", "w+");
    fs.writeSync(fd, Buffer.alloc(10000, 7), 0, 10000, 0);
    fs.fallocateSync(fd, 1, 20000, 40000);
    console.log(fs.fstatSync(fd));
    fs.fallocateSync(fd, 0, 0, 100000);
    console.log(fs.fstatSync(fd).size, fs.fstatSync(fd).blocks);
    console.log(fs.lseekSync(fd, 0, 3), fs.lseekSync(fd, 0, 4));
    k.sys.sync(); fsckClean(k);
    fs.fallocateSync(fd, 3, 100, 5000);
    const b = Buffer.alloc(10000); fs.readSync(fd, b, 0, 10000, 0);
    console.log(b.subarray(90, 110), b.subarray(5090, 5110), fs.lseekSync(fd, 0, 3), fs.lseekSync(fd, 0, 4));
    fs.fallocateSync(fd, 0x10, 0, 9000);
    fs.readSync(fd, b, 0, 10000, 0);
    console.log(b.subarray(8990, 9010), fs.lseekSync(fd, 0, 3), fs.lseekSync(fd, 0, 4), fs.fstatSync(fd).blocks);
    k.sys.sync(); fsckClean(k);
    k.shutdown();
  });
});
