/**
 * Stand-alone runner of the wasm benchmark (until it is wired into `pnpm bench:kernels --backend wasm`):
 *   tsx --conditions=@dbf/source src/wasm/run.ts [--quick] [--json] [--shapes 4096x4096,...] [--linear-only]
 * Without --json, prints a summary table (one line per wasm DBF timing, every baseline's ratio).
 */
import type { BenchRow } from '../kernel-bench';
import { parseShapes, runWasmKernelBench } from './wasm-bench';

export function formatWasmSummary(rows: readonly BenchRow[]): string {
  const lines = [
    'shape        bpw  batch thr  wasm ms   vs cpu  vs ORT f32  vs ORT q4  probe ms  (wasm/probe)',
  ];
  const dbf = rows.filter(
    (r) => r.backend === 'wasm' && r.op === 'dbf-linear' && r.baseline === 'cpu-dbf-linear',
  );
  for (const r of dbf) {
    const same = rows.filter(
      (o) =>
        o.backend === 'wasm' &&
        o.op === 'dbf-linear' &&
        o.shape === r.shape &&
        o.bpw === r.bpw &&
        o.batch === r.batch &&
        o.threads === r.threads,
    );
    const ratio = (prefix: string) => {
      const found = same.find((o) => o.baseline?.startsWith(prefix));
      return found?.ratio == null ? '—' : `${found.ratio.toFixed(1)}×`;
    };
    const probe = rows.find(
      (o) => o.backend === 'wasm-probe' && o.shape === r.shape && o.bpw === r.bpw && o.batch === r.batch,
    );
    lines.push(
      [
        r.shape.padEnd(12),
        String(r.bpw).padStart(4),
        String(r.batch).padStart(6),
        String(r.threads).padStart(3),
        r.median_ms.toFixed(3).padStart(8),
        ratio('cpu').padStart(8),
        ratio('ort-web-f32').padStart(11),
        ratio('ort-web-matmulnbits').padStart(10),
        (probe?.median_ms.toFixed(3) ?? '—').padStart(9),
        probe ? `(${(r.median_ms / probe.median_ms).toFixed(2)}×)`.padStart(13) : '',
      ].join(' '),
    );
  }
  lines.push('', 'gemm              thr  median ms  GFLOP/s');
  for (const r of rows.filter((o) => o.op === 'gemm')) {
    const [m, n, k] = r.shape.split('x').map(Number) as [number, number, number];
    lines.push(
      `${`${r.backend} ${r.shape}`.padEnd(20)} ${String(r.threads).padStart(2)} ${r.median_ms.toFixed(2).padStart(10)} ${((2 * m * n * k) / r.median_ms / 1e6).toFixed(1).padStart(8)}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const started = performance.now();
  const shapesAt = args.indexOf('--shapes');
  const rows = await runWasmKernelBench(
    {
      quick: args.includes('--quick'),
      linearOnly: args.includes('--linear-only'),
      ...(shapesAt >= 0 ? { shapes: parseShapes(args[shapesAt + 1] ?? '') } : {}),
    },
    { log: (line) => process.stderr.write(`${line}\n`) },
  );
  process.stdout.write(
    args.includes('--json') ? `${JSON.stringify(rows)}\n` : `${formatWasmSummary(rows)}\n`,
  );
  process.stderr.write(
    `done in ${((performance.now() - started) / 1000).toFixed(1)} s (node ${process.version})\n`,
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
