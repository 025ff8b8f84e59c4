import { it, expect } from "vitest";
import { FaultBackend } from "../host/faulty.js";
import { bootWith } from "../host/kernel.js";
import { kernelModule } from "../host/node.js";
import { freshDevice, MiB } from "./helpers.js";
it("sb0", () => {
  const dev = freshDevice(16 * MiB);
  const faulty = new FaultBackend(dev, { readErrorSectors: [0, 1, 2, 3, 4, 5, 6, 7] });
  try {
    const k = bootWith({ device: faulty, module: kernelModule(true), memoryMiB: 32 });
    console.log("mounted", k.info().mountUsedBackup, k.info().readonly);
    k.fs.writeFileSync("/a", "x");
    k.shutdown();
  } catch (e) { console.log("ERR", (e as Error).message, (e as Error).stack); }
});
