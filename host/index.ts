// host/index.ts -- the package entry: `import { boot } from 'helixfs'`.
export { boot, bootSync, createImage, parseSize, kernelModule, memoryDevice, setProgramName, ROOT } from "./node.js";
export type { NodeBootOptions } from "./node.js";
export { Kernel, KernelPanic, KernelError, bootWith, describeHolder, INFO_FIELDS, TREE_NAMES, DEFAULT_MEMORY_MIB } from "./kernel.js";
export type { KernelInfo, BootOptions, MmpHolder, MmpIdentity } from "./kernel.js";
export { MemoryBackend } from "./blockdev.js";
export type { BlockBackend } from "./blockdev.js";
export { FileBackend, hostLockAvailable } from "./blockdev-node.js";
export { createFs } from "./fs.js";
export type { Sys, HelixFs, StatRecord } from "./fs.js";
export { RecordingBackend, WriteLog } from "./recorder.js";
export type { LogEntry, ReplayBound } from "./recorder.js";
export { saveLog, loadLog } from "./recorder-node.js";
export { CrashPlan, CrashState, OverlayBackend, LogImageBackend, generateCrashStates } from "./crashstates.js";
export type { CrashStateKind, CrashStateOptions } from "./crashstates.js";
export { FaultBackend } from "./faulty.js";
export type { FaultSchedule, FaultEvent, FaultKind } from "./faulty.js";
