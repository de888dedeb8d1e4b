/**
 * `pnpm bench:kernels [--backend ID] [--json] [--quick]`: times each backend's DBF linear against dense
 * baselines of the same weight (see ../README.md). With --json, stdout carries exactly one JSON array.
 */
import { formatTable, parseArgs, runKernelBench, usage } from './kernel-bench';
import { UsageError } from './registry';

async function main(): Promise<number> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const started = performance.now();
  const rows = await runKernelBench(options, { log: (line) => process.stderr.write(`${line}\n`) });
  if (options.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  else process.stdout.write(`${formatTable(rows)}\n`);
  process.stderr.write(
    `done in ${((performance.now() - started) / 1000).toFixed(1)} s (node ${process.version})\n`,
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
