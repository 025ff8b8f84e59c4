// as-pect configuration for the kernel's AssemblyScript unit tests (`npm run test:kernel`).
//
// Test files: assembly/__tests__/**/*.spec.ts, one wasm module per file. The compiler options
// come from as-pect.asconfig.json, which extends the kernel's asconfig.json but switches the
// runtime to "incremental": as-pect itself needs a managed heap, while the kernel proper is
// built with --runtime stub. Kernel tests take their physical memory from `heap.alloc()`.
export default {
  entries: ["assembly/__tests__/**/*.spec.ts"],
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    const imports = { env: { memory } };
    return instantiate(binary, createImports(imports));
  },
  outputBinary: false,
};
