/**
 * The WebAssembly backend's benchmark (issue 4): its DBF linear at 1, 1.5 and 2 bpw, batch 1 and 8, on
 * 1 and 2 threads, against
 * - backend-cpu's DBF linear of the same layer,
 * - onnxruntime-web (wasm EP) running a dense f32 `MatMul` of a weight of the same shape,
 * - onnxruntime-web `com.microsoft.MatMulNBits` at 4 bits (block 32, f32 scales: 5 bits per weight),
 * - a WASM streaming-read probe over the same number of bytes as the layer's packed signs and f32
 *   scales, rotating through 128 MiB of copies so every read comes from DRAM: the memory roofline;
 * plus dense GEMM GFLOP/s for 512–2048 square on 1 and 2 threads.
 *
 * Rows use the kernel benchmark's format (`ratio = baseline median / this median`, > 1 = faster). All
 * variants of one shape and batch run round-robin in the same rounds of this process, except
 * onnxruntime-web at 2 threads: ORT fixes its thread count once per process, so those baselines are
 * timed by a child process (ort-child.ts) and their ratios compare medians across processes.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cpu } from '@dbf/backend-cpu';
import { createStreamingReadProbe, wasm } from '@dbf/backend-wasm/node';
import { bitsPerWeight, createRng, factorizeDbf, type KernelBackend, largestRankForBpw } from '@dbf/core';
import { denseF32 } from '../dense-baseline';
import type { BenchHooks, BenchRow } from '../kernel-bench';
import { type Measurement, type MeasureOptions, measure, type Variant } from '../measure';
import { dbfSignBytes, randomDbf, randomUniform } from '../random-layers';
import { matMulModel, matMulNBitsModel } from './onnx-model';
import { type OrtLinear, ortLinear, useOrtThreads } from './ort-baseline';

export const WASM_SHAPES: readonly (readonly [number, number])[] = [
  [1024, 1024],
  [4096, 4096],
  [4096, 11008],
];
export const WASM_QUICK_SHAPES: readonly (readonly [number, number])[] = [
  [256, 256],
  [256, 640],
];
export const WASM_BPWS = [1, 1.5, 2] as const;
export const WASM_BATCHES = [1, 8] as const;
export const WASM_THREADS = [1, 2] as const;
export const GEMM_SIZES = [512, 1024, 2048] as const;
export const GEMM_QUICK_SIZES = [64, 128] as const;
/** backend-cpu's GEMM is only timed up to this size (a 2048³ JS GEMM takes seconds per call). */
const CPU_GEMM_MAX = 1024;
const PROBE_TOTAL_BYTES = 128 * 2 ** 20;
/** The factorization timing: a 512×512 layer, 10 outer iterations (one run per backend). */
export const FACTORIZE_SIZE = 512;
export const FACTORIZE_ITERATIONS = 10;

export interface WasmBenchOptions {
  readonly quick: boolean;
  /** Time onnxruntime-web at 2 threads in a child process (default true). */
  readonly ortTwoThreads?: boolean;
  /**
   * Only these `n×m` shapes of the DBF rows (default: all; also read from the environment variable
   * `DBF_WASM_BENCH_SHAPES`, e.g. `4096x4096`, so that `pnpm bench:kernels --backend wasm` can be
   * narrowed too).
   */
  readonly shapes?: readonly (readonly [number, number])[];
  /** Skip the dense GEMM and factorization rows (default false; env `DBF_WASM_BENCH_LINEAR_ONLY=1`). */
  readonly linearOnly?: boolean;
}

/** Parses a comma list of `NxM` shapes (`4096x4096,4096x11008`). */
export function parseShapes(text: string): (readonly [number, number])[] {
  return text
    .split(',')
    .filter((part) => part.trim().length > 0)
    .map((part) => {
      const match = /^\s*(\d+)x(\d+)\s*$/.exec(part);
      if (!match) throw new Error(`Bad shape '${part}': expected NxM, e.g. 4096x4096.`);
      return [Number(match[1]), Number(match[2])] as const;
    });
}

/** The shapes a run covers: the option, else DBF_WASM_BENCH_SHAPES, else the full or quick list. */
export function selectedShapes(
  quick: boolean,
  shapes?: readonly (readonly [number, number])[],
): readonly (readonly [number, number])[] {
  if (shapes) return shapes;
  const env = process.env.DBF_WASM_BENCH_SHAPES;
  if (env) return parseShapes(env);
  return quick ? WASM_QUICK_SHAPES : WASM_SHAPES;
}

/**
 * Bytes one DBF linear call streams from its resident layer: both packed sign matrices (rows padded
 * to 32 bits) and the three f32 scale vectors a, μ, b. The probe reads this many bytes per call.
 */
export function dbfLayerBytes(n: number, m: number, k: number): number {
  return dbfSignBytes(n, m, k) + 4 * (n + k + m);
}

const FULL_TIMING: MeasureOptions = {
  budgetMs: 4000,
  minRounds: 5,
  maxRounds: 60,
  warmupMs: 300,
  minSampleMs: 2,
};
const QUICK_TIMING: MeasureOptions = {
  budgetMs: 150,
  minRounds: 3,
  maxRounds: 10,
  warmupMs: 20,
  minSampleMs: 1,
};

export function ortKey(kind: 'f32' | 'nbits', shape: string, batch: number, threads: number): string {
  return `ort-web-${kind === 'f32' ? 'f32-matmul' : 'matmulnbits4'}-${threads}t/${shape}/b${batch}`;
}

/** Everything the issue asks for, in the kernel benchmark's row format. */
export async function runWasmKernelBench(options: WasmBenchOptions, hooks: BenchHooks): Promise<BenchRow[]> {
  const timing: MeasureOptions = { ...(options.quick ? QUICK_TIMING : FULL_TIMING), ...hooks.timing };
  const shapes = selectedShapes(options.quick, options.shapes);
  const linearOnly = options.linearOnly ?? process.env.DBF_WASM_BENCH_LINEAR_ONLY === '1';
  useOrtThreads(1);
  const backends = new Map<number, KernelBackend>();
  for (const threads of WASM_THREADS) backends.set(threads, await wasm({ threads }).create());
  const cpuBackend = await cpu().create();
  const rows: BenchRow[] = [];
  try {
    for (const threads of WASM_THREADS) {
      hooks.log(`[wasm] ${threads} thread(s): ${backends.get(threads)!.capabilities.description}`);
    }
    let ortTwo = new Map<string, number>();
    if (options.ortTwoThreads ?? true) {
      hooks.log('[wasm] timing onnxruntime-web at 2 threads in a child process');
      ortTwo = await ortInChild(2, options.quick, shapes, hooks);
    }
    for (const [n, m] of shapes)
      rows.push(...(await benchShape(n, m, backends, cpuBackend, ortTwo, timing, hooks)));
    if (!linearOnly) {
      rows.push(
        ...(await benchGemm(
          options.quick ? GEMM_QUICK_SIZES : GEMM_SIZES,
          backends,
          cpuBackend,
          timing,
          hooks,
        )),
      );
      rows.push(...(await benchFactorization(options.quick, backends, cpuBackend, hooks)));
    }
  } finally {
    for (const b of backends.values()) await b.dispose();
    await cpuBackend.dispose();
  }
  return rows;
}

async function benchShape(
  n: number,
  m: number,
  backends: Map<number, KernelBackend>,
  cpuBackend: KernelBackend,
  ortTwo: Map<string, number>,
  timing: MeasureOptions,
  hooks: BenchHooks,
): Promise<BenchRow[]> {
  const rng = createRng(n * 65_537 + m);
  const shape = `${n}x${m}`;
  const weight = randomUniform(rng, n * m);
  const layers = WASM_BPWS.map((bpw) => {
    const rank = largestRankForBpw(
      { kind: 'dbf', outFeatures: n, inFeatures: m, scaleDtype: 'F16' },
      bpw,
      'stored',
    );
    return { bpw, rank, layer: randomDbf(rng, n, m, rank) };
  });
  const rows: BenchRow[] = [];
  const disposers: (() => unknown)[] = [];
  try {
    const resident = new Map<string, Awaited<ReturnType<KernelBackend['uploadLinear']>>>();
    for (const { bpw, layer } of layers) {
      for (const [threads, backend] of backends) {
        const handle = await backend.uploadLinear(layer);
        disposers.push(() => handle.dispose());
        resident.set(`wasm-${threads}t-${bpw}`, handle);
      }
      const handle = await cpuBackend.uploadLinear(layer);
      disposers.push(() => handle.dispose());
      resident.set(`cpu-${bpw}`, handle);
    }
    const probes = [];
    for (const { bpw, rank } of layers) {
      const bytes = dbfLayerBytes(n, m, rank);
      const probe = await createStreamingReadProbe({ bytes, minTotalBytes: PROBE_TOTAL_BYTES });
      disposers.push(() => probe.dispose());
      probes.push({ bpw, bytes, probe });
    }
    for (const batch of WASM_BATCHES) {
      const input = randomUniform(rng, batch * m);
      const ortF32 = await ortLinear(matMulModel(weight, n, m, batch), input, batch, m);
      const nbits = matMulNBitsModel(weight, n, m, batch);
      const ortNBits = await ortLinear(nbits.model, input, batch, m);
      await checkBaselines(shape, weight, n, m, input, batch, ortF32, ortNBits, hooks);
      const variants: Variant[] = [];
      const linear = (backend: KernelBackend, key: string): Variant => {
        const output = new Float32Array(batch * n);
        const weights = resident.get(key)!;
        return { name: key, run: () => backend.linear({ weights, input, batch, output }) };
      };
      for (const { bpw } of layers) {
        for (const [threads, backend] of backends) variants.push(linear(backend, `wasm-${threads}t-${bpw}`));
        variants.push(linear(cpuBackend, `cpu-${bpw}`));
      }
      const ort = (name: string, session: OrtLinear): Variant => ({ name, run: () => session.run() });
      variants.push(ort('ort-f32', ortF32), ort('ort-nbits', ortNBits));
      for (const { bpw, probe } of probes) variants.push({ name: `probe-${bpw}`, run: () => probe.run() });
      hooks.log(
        `[wasm] ${shape} batch ${batch}: timing ${variants.length} variants (ranks ${layers.map((l) => l.rank).join(', ')})`,
      );
      const results = new Map((await measure(variants, timing)).map((r) => [r.name, r]));
      await ortF32.release();
      await ortNBits.release();

      const get = (name: string): Measurement => results.get(name)!;
      const row = (
        backend: string,
        op: string,
        bpw: number,
        threads: number,
        ms: number,
        baseline: string | null,
        baseMs?: number,
      ): BenchRow => ({
        backend,
        op,
        shape,
        bpw,
        batch,
        threads,
        median_ms: ms,
        baseline,
        ratio: baseline === null || baseMs === undefined ? null : baseMs / ms,
      });
      const ortNames = {
        f32: (t: number) => `ort-web-f32-matmul-${t}t`,
        nbits: (t: number) => `ort-web-matmulnbits4-${t}t`,
      };
      // Baseline rows.
      rows.push(row('onnxruntime-web', 'dense-linear', 32, 1, get('ort-f32').medianMs, null));
      rows.push(
        row('onnxruntime-web', 'matmulnbits-linear', nbits.bitsPerWeight, 1, get('ort-nbits').medianMs, null),
      );
      const f32Two = ortTwo.get(ortKey('f32', shape, batch, 2));
      const nbitsTwo = ortTwo.get(ortKey('nbits', shape, batch, 2));
      if (f32Two !== undefined) rows.push(row('onnxruntime-web', 'dense-linear', 32, 2, f32Two, null));
      if (nbitsTwo !== undefined)
        rows.push(row('onnxruntime-web', 'matmulnbits-linear', nbits.bitsPerWeight, 2, nbitsTwo, null));
      for (const { bpw, rank } of layers) {
        const probe = get(`probe-${bpw}`);
        const cpuRow = get(`cpu-${bpw}`);
        rows.push(
          row('wasm-probe', `stream-read-${dbfLayerBytes(n, m, rank)}B`, bpw, 1, probe.medianMs, null),
        );
        rows.push(row('cpu', 'dbf-linear', bpw, 1, cpuRow.medianMs, null));
        for (const threads of WASM_THREADS) {
          const own = get(`wasm-${threads}t-${bpw}`).medianMs;
          const ortF32Ms = threads === 1 ? get('ort-f32').medianMs : f32Two;
          const ortNBitsMs = threads === 1 ? get('ort-nbits').medianMs : nbitsTwo;
          rows.push(row('wasm', 'dbf-linear', bpw, threads, own, 'cpu-dbf-linear', cpuRow.medianMs));
          rows.push(row('wasm', 'dbf-linear', bpw, threads, own, ortNames.f32(threads), ortF32Ms));
          rows.push(row('wasm', 'dbf-linear', bpw, threads, own, ortNames.nbits(threads), ortNBitsMs));
          rows.push(row('wasm', 'dbf-linear', bpw, threads, own, 'wasm-stream-read', probe.medianMs));
        }
        const actual = bitsPerWeight(
          { kind: 'dbf', outFeatures: n, inFeatures: m, rank, scaleDtype: 'F16' },
          'stored',
        );
        hooks.log(
          `  ${bpw} bpw (k ${rank}, ${actual.toFixed(3)} stored): wasm 1t ${get(`wasm-1t-${bpw}`).medianMs.toFixed(3)} ms, ` +
            `2t ${get(`wasm-2t-${bpw}`).medianMs.toFixed(3)} ms, cpu ${cpuRow.medianMs.toFixed(3)} ms, probe ${probe.medianMs.toFixed(3)} ms, ` +
            `ort f32 1t ${get('ort-f32').medianMs.toFixed(2)} ms, nbits4 1t ${get('ort-nbits').medianMs.toFixed(2)} ms`,
        );
      }
    }
  } finally {
    for (const dispose of disposers) dispose();
  }
  return rows;
}

/** NMSE of `actual` against `expected`. */
function nmse(actual: Float32Array, expected: Float32Array): number {
  let error = 0;
  let energy = 0;
  for (let i = 0; i < expected.length; i++) {
    error += (actual[i]! - expected[i]!) ** 2;
    energy += expected[i]! ** 2;
  }
  return error / energy;
}

/**
 * Guards the baselines' validity before timing them: onnxruntime-web's f32 MatMul must reproduce
 * `W·x` (JS reference) to f32 rounding, and the 4-bit MatMulNBits to its quantization error.
 */
async function checkBaselines(
  shape: string,
  weight: Float32Array,
  n: number,
  m: number,
  input: Float32Array,
  batch: number,
  f32: OrtLinear,
  nbits: OrtLinear,
  hooks: BenchHooks,
): Promise<void> {
  const expected = new Float32Array(batch * n);
  denseF32(weight, n, m, input, batch, expected);
  const f32Error = nmse(await f32.run(), expected);
  const nbitsError = nmse(await nbits.run(), expected);
  if (!(f32Error < 1e-9) || !(nbitsError < 2e-2)) {
    throw new Error(
      `${shape} batch ${batch}: onnxruntime-web baselines disagree with W·x (NMSE f32 ${f32Error}, 4-bit ${nbitsError}); the ONNX models are wrong.`,
    );
  }
  hooks.log(
    `  baselines check: ORT f32 NMSE ${f32Error.toExponential(1)}, MatMulNBits NMSE ${nbitsError.toExponential(1)}`,
  );
}

async function benchGemm(
  sizes: readonly number[],
  backends: Map<number, KernelBackend>,
  cpuBackend: KernelBackend,
  timing: MeasureOptions,
  hooks: BenchHooks,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const size of sizes) {
    const rng = createRng(size);
    const a = randomUniform(rng, size * size);
    const b = randomUniform(rng, size * size);
    const variants: Variant[] = [];
    for (const [threads, backend] of backends) {
      const c = new Float32Array(size * size);
      variants.push({
        name: `wasm-${threads}t`,
        run: () => backend.gemm({ a, b, m: size, n: size, k: size, c }),
      });
    }
    if (size <= CPU_GEMM_MAX) {
      const c = new Float32Array(size * size);
      variants.push({ name: 'cpu', run: () => cpuBackend.gemm({ a, b, m: size, n: size, k: size, c }) });
    }
    // Big GEMMs take long per call: fewer rounds, but never fewer than 3 samples.
    const gemmTiming = {
      ...timing,
      minRounds: Math.min(timing.minRounds, 3),
      warmupMs: Math.min(timing.warmupMs, 100),
    };
    const results = new Map((await measure(variants, gemmTiming)).map((r) => [r.name, r]));
    const flops = 2 * size ** 3;
    const cpuMs = results.get('cpu')?.medianMs;
    const shape = `${size}x${size}x${size}`;
    const line: string[] = [];
    if (cpuMs !== undefined) {
      rows.push({
        backend: 'cpu',
        op: 'gemm',
        shape,
        bpw: 32,
        batch: size,
        threads: 1,
        median_ms: cpuMs,
        baseline: null,
        ratio: null,
      });
      line.push(`cpu ${(flops / cpuMs / 1e6).toFixed(1)}`);
    }
    for (const threads of WASM_THREADS) {
      const ms = results.get(`wasm-${threads}t`)!.medianMs;
      rows.push({
        backend: 'wasm',
        op: 'gemm',
        shape,
        bpw: 32,
        batch: size,
        threads,
        median_ms: ms,
        baseline: cpuMs === undefined ? null : 'cpu-gemm',
        ratio: cpuMs === undefined ? null : cpuMs / ms,
      });
      line.push(`wasm ${threads}t ${(flops / ms / 1e6).toFixed(1)}`);
    }
    hooks.log(`[wasm] gemm ${shape}: GFLOP/s ${line.join(', ')}`);
  }
  return rows;
}

/**
 * `factorizeDbf` (core) of one random Gaussian layer at 1.5 bpw, on each backend: one timed run per
 * backend after a small warm-up (a run takes seconds; the GEMMs are the backend's share, the rest is
 * core's JavaScript).
 */
async function benchFactorization(
  quick: boolean,
  backends: Map<number, KernelBackend>,
  cpuBackend: KernelBackend,
  hooks: BenchHooks,
): Promise<BenchRow[]> {
  const size = quick ? 64 : FACTORIZE_SIZE;
  const iterations = quick ? 2 : FACTORIZE_ITERATIONS;
  const rng = createRng(4242);
  const weight = {
    data: Float32Array.from({ length: size * size }, () => rng.normal()),
    rows: size,
    cols: size,
  };
  const warm = { data: weight.data.subarray(0, 64 * 64), rows: 64, cols: 64 };
  const time = async (backend: KernelBackend): Promise<number> => {
    await factorizeDbf(warm, { backend, bpw: 1.5, iterations: 2 });
    const started = performance.now();
    await factorizeDbf(weight, { backend, bpw: 1.5, iterations });
    return performance.now() - started;
  };
  const shape = `${size}x${size}`;
  const cpuMs = await time(cpuBackend);
  const rows: BenchRow[] = [
    {
      backend: 'cpu',
      op: 'factorize-dbf',
      shape,
      bpw: 1.5,
      batch: 1,
      threads: 1,
      median_ms: cpuMs,
      baseline: null,
      ratio: null,
    },
  ];
  const line = [`cpu ${(cpuMs / 1000).toFixed(2)} s`];
  for (const [threads, backend] of backends) {
    const ms = await time(backend);
    rows.push({
      backend: 'wasm',
      op: 'factorize-dbf',
      shape,
      bpw: 1.5,
      batch: 1,
      threads,
      median_ms: ms,
      baseline: 'cpu-factorize-dbf',
      ratio: cpuMs / ms,
    });
    line.push(`wasm ${threads}t ${(ms / 1000).toFixed(2)} s (${(cpuMs / ms).toFixed(2)}×)`);
  }
  hooks.log(`[wasm] factorizeDbf ${shape} at 1.5 bpw, ${iterations} iterations: ${line.join(', ')}`);
  return rows;
}

const run = promisify(execFile);

/** Times the onnxruntime-web baselines at `threads` in a child process; medians keyed by ortKey(). */
async function ortInChild(
  threads: number,
  quick: boolean,
  shapes: readonly (readonly [number, number])[],
  hooks: BenchHooks,
): Promise<Map<string, number>> {
  const script = fileURLToPath(new URL('./ort-child.ts', import.meta.url));
  const { stdout, stderr } = await run(
    process.execPath,
    [
      ...process.execArgv,
      script,
      String(threads),
      quick ? 'quick' : 'full',
      shapes.map(([n, m]) => `${n}x${m}`).join(','),
    ],
    {
      maxBuffer: 1 << 24,
      timeout: 30 * 60_000,
    },
  );
  for (const line of stderr.split('\n')) if (line.trim()) hooks.log(`  (child) ${line}`);
  return new Map(Object.entries(JSON.parse(stdout) as Record<string, number>));
}
