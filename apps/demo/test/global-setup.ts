import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const demo = fileURLToPath(new URL('..', import.meta.url));

/**
 * Once per test run: make sure the bundled models exist (compressing when missing or stale), then build
 * the page, so the tests always serve what the sources say (the build takes about a second).
 */
export default async function setup(): Promise<void> {
  const prepared = spawnSync(process.execPath, ['scripts/prepare-models.mjs'], {
    cwd: demo,
    stdio: 'inherit',
  });
  if (prepared.status !== 0) throw new Error('scripts/prepare-models.mjs failed (see its output above).');
  await build({ root: demo, logLevel: 'warn' });
}
