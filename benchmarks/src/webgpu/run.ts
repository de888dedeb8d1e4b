/**
 * Stand-alone runner of the WebGPU benchmark (until it is wired into `pnpm bench:kernels --backend webgpu`):
 *   tsx --conditions=@dbf/source src/webgpu/run.ts [--quick] [--json]
 * Without a GPU, export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader: the
 * figures then only show that everything runs).
 */
import { formatTable } from '../kernel-bench';
import { runWebGpuKernelBench } from './webgpu-bench';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const started = performance.now();
  const rows = await runWebGpuKernelBench(
    { quick: args.includes('--quick') },
    { log: (line) => process.stderr.write(`${line}\n`) },
  );
  process.stdout.write(args.includes('--json') ? `${JSON.stringify(rows)}\n` : `${formatTable(rows)}\n`);
  process.stderr.write(
    `done in ${((performance.now() - started) / 1000).toFixed(1)} s (node ${process.version})\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
