import { bitsPerWeight, shapeOfLayer } from '../layers/bits-per-weight';
import type { DbfLayer } from '../layers/types';
import { createRng } from '../util/random';
import { type AdmmResult, runAdmm } from './admm';
import {
  balance,
  closedFormInit,
  extractFactors,
  type InnerProblem,
  innerProblem,
  randomInit,
  resolveSettings,
  type Settings,
} from './common';
import { reconstructWeight, relativeError } from './reconstruct';
import type { DbfResult, DenseMatrix, FactorizeOptions } from './types';

/**
 * Double binary factorization (algorithms.md §1.5): `W ≈ diag(a)·S_A·diag(μ)·S_B·diag(b)`, minimising
 * `‖D_o(W − Ŵ)D_i‖_F²` by the reference's alternating ADMM: random-normal initialisation (or 'svd'),
 * 260 outer iterations, each half-step normalising the fixed factor and running 3 ADMM steps (ridge
 * 0.03·mean(diag), Cholesky solves, SVID projection by 5 power iterations, duals kept across iterations,
 * cubic ρ0 ramp), transposed when n ≥ m, and finally the exact five-stage extraction, balanced.
 *
 * k comes from `bpw` (largest rank that fits, 'stored' accounting by default) or `rank`.
 */
export async function factorizeDbf(weight: DenseMatrix, options: FactorizeOptions): Promise<DbfResult> {
  const started = now();
  const settings = resolveSettings(weight, options, 'dbf', 1, { init: 'random', rhoFloor: 0 });
  const { inner, result } = await runEngine(weight, settings, options);
  const layer = dbfLayerFrom(result, inner, settings);
  return finishDbf(weight, settings, layer, started);
}

/** Runs initialisation and the ADMM engine for validated settings (shared with MDBF). */
export async function runEngine(
  weight: DenseMatrix,
  s: Settings,
  options: Pick<FactorizeOptions, 'onProgress' | 'signal'>,
): Promise<{ inner: InnerProblem; result: AdmmResult }> {
  const inner = innerProblem(weight, s);
  const rng = createRng(s.seed);
  const { zA, zB } =
    s.init === 'random'
      ? randomInit(rng, s.k, inner.p, inner.q)
      : await closedFormInit(s.backend, inner, s.k, s.l, rng);
  const onProgress = options.onProgress;
  const result = await runAdmm({
    backend: s.backend,
    p: inner.p,
    q: inner.q,
    k: s.k,
    l: s.l,
    wn: inner.wn,
    wnT: inner.wnT,
    zA,
    zB,
    iterations: s.iterations,
    innerIterations: s.innerIterations,
    ridge: s.ridge,
    powerIterations: s.powerIterations,
    rhoFloor: s.rhoFloor,
    rng,
    progressInterval: s.progressInterval,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(onProgress
      ? {
          onProgress: (iteration: number, relativeError: number) =>
            onProgress({ iteration: iteration + 1, iterations: s.iterations, relativeError }),
        }
      : {}),
  });
  return { inner, result };
}

/** The five-stage DBF form of an l = 1 engine result: a = envA, μ = q_u ⊙ q_v, b = envB, balanced. */
export function dbfLayerFrom(result: AdmmResult, inner: InnerProblem, s: Settings): DbfLayer {
  const f = extractFactors(result, inner, s.k, 1);
  const scaleMid = new Float32Array(s.k);
  for (let i = 0; i < s.k; i++) scaleMid[i] = f.envQU[i]! * f.envQV[i]!;
  const scaleA = Float32Array.from(f.envA);
  const scaleB = Float32Array.from(f.envB);
  balance([scaleA, scaleMid, scaleB]);
  return {
    kind: 'dbf',
    outFeatures: s.n,
    inFeatures: s.m,
    rank: s.k,
    signA: f.signA,
    signB: f.signB,
    scaleA,
    scaleMid,
    scaleB,
  };
}

async function finishDbf(
  weight: DenseMatrix,
  s: Settings,
  layer: DbfLayer,
  started: number,
): Promise<DbfResult> {
  const approx = await reconstructWeight(s.backend, layer);
  const rel = relativeError(weight.data, approx, s.n, s.m);
  const objective = s.dOut || s.dIn ? relativeError(weight.data, approx, s.n, s.m, s.dOut, s.dIn) : rel;
  return {
    layer,
    rank: s.k,
    iterations: s.iterations,
    bitsPerWeight: bitsPerWeight(shapeOfLayer(layer)),
    bitsPerWeightBinary: bitsPerWeight(shapeOfLayer(layer), 'binary'),
    relativeError: rel,
    objectiveRelativeError: objective,
    seconds: (now() - started) / 1000,
  };
}

export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
