/**
 * `pnpm exec tsx benchmarks/quality/run.ts [--quick] [--jobs N] [...]` (see ./quality.ts for the options).
 *
 * The workspace packages resolve to their TypeScript sources only under the `@dbf/source` export
 * condition. When this script was started without it (plain `tsx run.ts`), it re-runs itself under
 * `node --conditions=@dbf/source --import tsx`, so that no build is needed.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const hasCondition = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) =>
  a.includes('@dbf/source'),
);

if (hasCondition) {
  const { main } = await import('./quality');
  process.exitCode = await main(process.argv.slice(2));
} else {
  const child = spawnSync(
    process.execPath,
    [
      '--conditions=@dbf/source',
      '--import',
      import.meta.resolve('tsx'),
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  );
  process.exitCode = child.status ?? 1;
}
