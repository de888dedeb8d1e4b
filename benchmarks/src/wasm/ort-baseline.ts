/**
 * onnxruntime-web baselines (wasm execution provider): sessions for the models of onnx-model.ts. ORT
 * reads its thread count once per process (`env.wasm.numThreads` before the first session), so one
 * process measures one thread count; see wasm-bench.ts for how 2 threads are measured.
 */
import * as ort from 'onnxruntime-web';

let initialized: number | undefined;

/** Fixes ORT's thread count for this process (first call wins; a different later value throws). */
export function useOrtThreads(threads: number): void {
  if (initialized !== undefined && initialized !== threads) {
    throw new Error(
      `onnxruntime-web already runs with ${initialized} threads in this process; it cannot switch to ${threads}.`,
    );
  }
  initialized = threads;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
}

export interface OrtLinear {
  /** Runs `Y = X·Wᵀ` once on the fixed input; resolves to the output. */
  run(): Promise<Float32Array>;
  release(): Promise<void>;
}

/** A session for `model` (input X: batch × m, output Y: batch × n) with a fixed input. */
export async function ortLinear(
  model: Uint8Array,
  input: Float32Array,
  batch: number,
  m: number,
): Promise<OrtLinear> {
  if (initialized === undefined) throw new Error('call useOrtThreads() before creating sessions');
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const feeds = { X: new ort.Tensor('float32', input, [batch, m]) };
  return {
    async run() {
      const out = await session.run(feeds);
      return out.Y!.data as Float32Array;
    },
    release: () => session.release(),
  };
}
