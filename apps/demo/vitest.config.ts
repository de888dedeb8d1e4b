import { defineConfig } from 'vitest/config';

// The browser tests build the page, serve it with `vite preview` and drive Debian's chromium. One file,
// one browser: no parallelism to gain on a 2-core CI machine, and generous timeouts for SwiftShader.
// The Node-side reference (@dbf/llm on the CPU backend) runs from the workspace sources, like the page.
export default defineConfig({
  resolve: { conditions: ['@dbf/source'] },
  ssr: { resolve: { conditions: ['@dbf/source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
