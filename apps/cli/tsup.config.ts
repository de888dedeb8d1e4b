import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tooling/tsup-preset';

// The CLI is Node-only and ESM-only: one entry, no CJS build.
export default defineConfig(libraryConfig({ entry: ['src/cli.ts'], format: ['esm'], platform: 'node' }));
