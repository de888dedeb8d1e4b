import {
  type BackendFactory,
  bitsPerWeight,
  createRng,
  type KernelBackend,
  largestRankForBpw,
  type ResidentLinear,
} from '@dbf/core';
import { DENSE_BASELINE_NAME, denseF32 } from './dense-baseline';
import { type Measurement, type MeasureOptions, measure, type Variant } from './measure';
import { randomDbf, randomUniform } from './random-layers';
import { BACKENDS, DEFAULT_BACKENDS, resolveBackends, UsageError } from './registry';

/** One result row; `--json` prints an array of these. */
export interface BenchRow {
  readonly backend: string;
  /** 'dbf-linear' or 'dense-linear'. */
  readonly op: string;
  /** `out×in` (n×m) of the weight. */
  readonly shape: string;
  /** Target bits per weight ('stored' accounting, F16 scales) for DBF rows; 32 for dense rows. */
  readonly bpw: number;
  readonly batch: number;
  readonly threads: number;
  readonly median_ms: number;
  /** What `ratio` compares against: a baseline op measured in the same rounds; null for the baseline itself. */
  readonly baseline: string | null;
  /** baseline median / this median: the speed-up over the baseline (> 1 means faster). */
  readonly ratio: number | null;
}

export interface BenchOptions {
  readonly backends: readonly string[];
  readonly json: boolean;
  /** Small shapes and short timing, for smoke tests. */
  readonly quick: boolean;
}

export const SHAPES: readonly (readonly [number, number])[] = [
  [1024, 1024],
  [4096, 4096],
  [4096, 11008],
  [11008, 4096],
];
export const QUICK_SHAPES: readonly (readonly [number, number])[] = [
  [256, 256],
  [256, 640],
];
export const BPWS = [1, 1.5, 2] as const;
export const BATCHES = [1, 8] as const;

const USAGE = `Usage: pnpm bench:kernels [--backend ID[,ID...]] [--json] [--quick]
  --backend ID  backends to time (repeatable; known: ${Object.keys(BACKENDS).join(', ')}; default: ${DEFAULT_BACKENDS.join(', ')})
  --json        print one JSON array of result rows on stdout, nothing else (progress goes to stderr)
  --quick       small shapes and short timing (a smoke test, not a measurement)`;

export function parseArgs(argv: readonly string[]): BenchOptions | 'help' {
  const backends: string[] = [];
  let json = false;
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue; // pnpm forwards its argument separator
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--json') json = true;
    else if (arg === '--quick') quick = true;
    else if (arg === '--backend' || arg.startsWith('--backend=')) {
      const value = arg === '--backend' ? argv[++i] : arg.slice('--backend='.length);
      if (!value || value.startsWith('--')) throw new UsageError(`--backend needs an id.\n${USAGE}`);
      backends.push(...value.split(',').filter((id) => id.length > 0));
    } else throw new UsageError(`Unknown argument '${arg}'.\n${USAGE}`);
  }
  const ids = backends.length > 0 ? [...new Set(backends)] : [...DEFAULT_BACKENDS];
  resolveBackends(ids); // fail early on unknown ids
  return { backends: ids, json, quick };
}

export function usage(): string {
  return USAGE;
}

export interface BenchHooks {
  /** Progress lines (stderr in the CLI). */
  readonly log: (line: string) => void;
  /** Overrides the timing budget (tests). */
  readonly timing?: Partial<MeasureOptions>;
}

/** Runs every requested backend over all shapes, rates and batches; returns the rows. */
export async function runKernelBench(options: BenchOptions, hooks: BenchHooks): Promise<BenchRow[]> {
  const targets = resolveBackends(options.backends);
  const timing: MeasureOptions = {
    ...(options.quick
      ? { budgetMs: 150, minRounds: 3, maxRounds: 10, warmupMs: 20, minSampleMs: 1 }
      : { budgetMs: 4000, minRounds: 5, maxRounds: 60, warmupMs: 300, minSampleMs: 2 }),
    ...hooks.timing,
  };
  const rows: BenchRow[] = [];
  for (const { target } of targets) {
    rows.push(
      ...(target.kind === 'generic'
        ? await benchBackend(target.factory(), options, timing, hooks)
        : await target.run(options, hooks)),
    );
  }
  return rows;
}

async function benchBackend(
  factory: BackendFactory,
  options: BenchOptions,
  timing: MeasureOptions,
  hooks: BenchHooks,
): Promise<BenchRow[]> {
  const availability = await factory.isAvailable();
  if (!availability.available)
    throw new UsageError(`Backend '${factory.id}' is not available here: ${availability.reason}`);
  const backend = await factory.create();
  const rows: BenchRow[] = [];
  try {
    const shapes = options.quick ? QUICK_SHAPES : SHAPES;
    for (const [n, m] of shapes) rows.push(...(await benchShape(backend, n, m, timing, hooks)));
  } finally {
    await backend.dispose();
  }
  return rows;
}

async function benchShape(
  backend: KernelBackend,
  n: number,
  m: number,
  timing: MeasureOptions,
  hooks: BenchHooks,
): Promise<BenchRow[]> {
  const rng = createRng(n * 65_537 + m);
  const shape = `${n}x${m}`;
  const id = backend.id;
  const threads = backend.capabilities.threads;
  const weight = randomUniform(rng, n * m);
  const resident: ResidentLinear[] = [];
  const rows: BenchRow[] = [];
  try {
    const dense = await backend.uploadLinear({ kind: 'dense', outFeatures: n, inFeatures: m, weight });
    resident.push(dense);
    const dbf: { bpw: number; rank: number; layer: ResidentLinear }[] = [];
    for (const bpw of BPWS) {
      const rank = largestRankForBpw(
        { kind: 'dbf', outFeatures: n, inFeatures: m, scaleDtype: 'F16' },
        bpw,
        'stored',
      );
      const layer = await backend.uploadLinear(randomDbf(rng, n, m, rank));
      resident.push(layer);
      dbf.push({ bpw, rank, layer });
    }
    for (const batch of BATCHES) {
      const input = randomUniform(rng, batch * m);
      const out = () => new Float32Array(batch * n);
      const jsOut = out();
      const variants: Variant[] = [
        { name: DENSE_BASELINE_NAME, run: () => denseF32(weight, n, m, input, batch, jsOut) },
        {
          name: `${id}-dense-linear`,
          run: (
            (o) => () =>
              backend.linear({ weights: dense, input, batch, output: o })
          )(out()),
        },
        ...dbf.map(({ bpw, layer }) => ({
          name: `${id}-dbf-${bpw}`,
          run: (
            (o: Float32Array) => () =>
              backend.linear({ weights: layer, input, batch, output: o })
          )(out()),
        })),
      ];
      hooks.log(
        `[${id}] ${shape} batch ${batch}: timing ${variants.length} variants (ranks ${dbf.map((d) => d.rank).join(', ')})`,
      );
      const [js, denseM, ...dbfM] = (await measure(variants, timing)) as [
        Measurement,
        Measurement,
        ...Measurement[],
      ];
      const row = (
        backendId: string,
        op: string,
        bpw: number,
        thr: number,
        ms: number,
        baseline: Measurement | null,
      ) => ({
        backend: backendId,
        op,
        shape,
        bpw,
        batch,
        threads: thr,
        median_ms: ms,
        baseline: baseline?.name ?? null,
        ratio: baseline ? baseline.medianMs / ms : null,
      });
      rows.push(row('js', 'dense-linear', 32, 1, js.medianMs, null));
      rows.push(row(id, 'dense-linear', 32, threads, denseM.medianMs, js));
      dbfM.forEach((mm, i) => {
        const { bpw, rank } = dbf[i]!;
        const actual = bitsPerWeight(
          { kind: 'dbf', outFeatures: n, inFeatures: m, rank, scaleDtype: 'F16' },
          'stored',
        );
        hooks.log(
          `  dbf ${bpw} bpw: rank ${rank} (${actual.toFixed(3)} bpw stored), median ${mm.medianMs.toFixed(3)} ms`,
        );
        rows.push(row(id, 'dbf-linear', bpw, threads, mm.medianMs, js));
        rows.push(row(id, 'dbf-linear', bpw, threads, mm.medianMs, denseM));
      });
    }
  } finally {
    for (const r of resident) r.dispose();
  }
  return rows;
}

/** A plain-text table of the rows: one line per timed op, both ratios side by side. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = [
    'backend',
    'op',
    'shape (out×in)',
    'bpw',
    'batch',
    'thr',
    'median ms',
    'vs js-f32-dense',
    'vs own dense',
  ];
  const lines: string[][] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const key = `${row.backend}|${row.op}|${row.shape}|${row.bpw}|${row.batch}|${row.median_ms}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const same = rows.filter(
      (r) => `${r.backend}|${r.op}|${r.shape}|${r.bpw}|${r.batch}|${r.median_ms}` === key,
    );
    const vsJs = same.find((r) => r.baseline === DENSE_BASELINE_NAME)?.ratio;
    const vsOwn = same.find((r) => r.baseline !== null && r.baseline !== DENSE_BASELINE_NAME)?.ratio;
    lines.push([
      row.backend,
      row.op,
      row.shape,
      String(row.bpw),
      String(row.batch),
      String(row.threads),
      row.median_ms.toFixed(3),
      vsJs == null ? '—' : `${vsJs.toFixed(2)}×`,
      vsOwn == null ? '—' : `${vsOwn.toFixed(2)}×`,
    ]);
  }
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c]!.length)));
  const fmt = (cells: readonly string[]) =>
    cells.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}
