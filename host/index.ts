// host/index.ts -- the package entry: `import { boot } from 'helixfs'`.
export { boot, bootSync, createImage, parseSize, kernelModule, memoryDevice, setProgramName, ROOT } from "./node/node.js";
export type { NodeBootOptions } from "./node/node.js";
export { Kernel, KernelPanic, KernelError, bootWith, describeHolder, INFO_FIELDS, TREE_NAMES, DEFAULT_MEMORY_MIB } from "./vmm/kernel.js";
export type { KernelInfo, BootOptions, MmpHolder, MmpIdentity } from "./vmm/kernel.js";
export { MemoryBackend } from "./vmm/blockdev.js";
export type { BlockBackend } from "./vmm/blockdev.js";
export { FileBackend, hostLockAvailable } from "./node/blockdev-node.js";
export { importHostDir, exportHostDir, HOSTDIR_DEPTH_MAX } from "./node/hostdir.js";
export type { CopyCounts } from "./node/hostdir.js";
export { createFs } from "./fs/fs.js";
export type { Sys, HelixFs, StatRecord, DirectoryJSON, NestedDirectoryJSON } from "./fs/fs.js";
export { RecordingBackend, WriteLog } from "./crash/recorder.js";
export type { LogEntry, ReplayBound } from "./crash/recorder.js";
export { saveLog, loadLog } from "./node/recorder-node.js";
export { CrashPlan, CrashState, OverlayBackend, LogImageBackend, generateCrashStates } from "./crash/crashstates.js";
export type { CrashStateKind, CrashStateOptions } from "./crash/crashstates.js";
export { FaultBackend } from "./crash/faulty.js";
export type { FaultSchedule, FaultEvent, FaultKind } from "./crash/faulty.js";
