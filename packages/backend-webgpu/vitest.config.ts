import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@dbf/source'] },
  ssr: { resolve: { conditions: ['@dbf/source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // One worker, files not isolated: every file shares one GPU device and its compiled pipelines
    // (test/node-gpu.ts). SwiftShader spends seconds compiling each kernel, and a second worker would
    // compile them all again on a machine with few cores.
    isolate: false,
    fileParallelism: false,
  },
});
