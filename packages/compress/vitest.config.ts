import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@dbf/source'] },
  ssr: { resolve: { conditions: ['@dbf/source'] } },
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000 },
});
