import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Node 20 can deadlock at exit with concurrent TurboFan jobs (see NODE_FLAGS in bin/helix.js)
    execArgv: ["--no-concurrent-recompilation"],
  },
});
