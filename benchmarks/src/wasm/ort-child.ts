/**
 * Child process of wasm-bench.ts: times onnxruntime-web's f32 MatMul and 4-bit MatMulNBits baselines
 * with `argv[2]` threads (ORT fixes its thread count per process), over the shapes `argv[4]` (a comma
 * list of NxM; default: all of `argv[3]`'s list), and prints
 * `{ [ortKey]: median ms }` as JSON on stdout; progress goes to stderr.
 */
import { createRng, type Rng } from '@dbf/core';
import { type MeasureOptions, measure } from '../measure';
import { matMulModel, matMulNBitsModel } from './onnx-model';
import { ortLinear, useOrtThreads } from './ort-baseline';
import { ortKey, parseShapes, WASM_BATCHES, WASM_QUICK_SHAPES, WASM_SHAPES } from './wasm-bench';

function randomUniform(rng: Rng, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.uniform() - 0.5;
  return out;
}

async function main(): Promise<void> {
  const threads = Number(process.argv[2]);
  const quick = process.argv[3] === 'quick';
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`usage: ort-child.ts THREADS [quick|full], got ${process.argv[2]}`);
  useOrtThreads(threads);
  const timing: MeasureOptions = quick
    ? { budgetMs: 150, minRounds: 3, maxRounds: 10, warmupMs: 20, minSampleMs: 1 }
    : { budgetMs: 3000, minRounds: 5, maxRounds: 40, warmupMs: 300, minSampleMs: 2 };
  const medians: Record<string, number> = {};
  const shapes = process.argv[4] ? parseShapes(process.argv[4]) : quick ? WASM_QUICK_SHAPES : WASM_SHAPES;
  for (const [n, m] of shapes) {
    const rng = createRng(n * 65_537 + m);
    const weight = randomUniform(rng, n * m);
    const shape = `${n}x${m}`;
    for (const batch of WASM_BATCHES) {
      const input = randomUniform(rng, batch * m);
      const f32 = await ortLinear(matMulModel(weight, n, m, batch), input, batch, m);
      const nbits = await ortLinear(matMulNBitsModel(weight, n, m, batch).model, input, batch, m);
      const [a, b] = await measure(
        [
          { name: 'f32', run: () => f32.run() },
          { name: 'nbits', run: () => nbits.run() },
        ],
        timing,
      );
      medians[ortKey('f32', shape, batch, threads)] = a!.medianMs;
      medians[ortKey('nbits', shape, batch, threads)] = b!.medianMs;
      process.stderr.write(
        `ort ${threads}t ${shape} batch ${batch}: f32 ${a!.medianMs.toFixed(2)} ms, nbits4 ${b!.medianMs.toFixed(2)} ms\n`,
      );
      await f32.release();
      await nbits.release();
    }
  }
  process.stdout.write(`${JSON.stringify(medians)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
