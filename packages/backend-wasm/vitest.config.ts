import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@dbf/source'] },
  ssr: { resolve: { conditions: ['@dbf/source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Builds src/kernel-module.generated.ts when it is missing or stale (tests run on sources).
    globalSetup: ['./test/global-setup.ts'],
  },
});
