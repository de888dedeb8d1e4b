// Shared tsup settings: every published @dbf/* package builds the same way (ESM + CJS + .d.ts),
// so a later move to another bundler touches this one file.
import type { Options } from 'tsup';

export function libraryConfig(overrides: Partial<Options> = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    platform: 'neutral',
    treeshake: true,
    ...overrides,
  };
}
