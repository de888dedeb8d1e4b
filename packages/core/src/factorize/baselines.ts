import { InvalidArgumentError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import { truncatedSvd } from '../linalg/truncated-svd';
import { assertInteger, describe } from '../util/assert';
import { float16ToFloat32, float32ToFloat16 } from '../util/float16';
import { checkWeight } from './common';
import { relativeError } from './reconstruct';
import type { DenseMatrix } from './types';

/**
 * Baselines for the quality benchmarks. None of them is a DBF/MDBF layer, so each returns the dense
 * reconstruction it stands for and its exact storage cost.
 */
export interface BaselineResult {
  readonly method: 'svid' | 'rtn' | 'svd';
  /** The reconstructed n×m weight (row-major), with every stored value rounded as it would be stored. */
  readonly weight: Float32Array;
  /** Storage in bits, everything counted (see each function for the breakdown). */
  readonly bits: number;
  readonly bitsPerWeight: number;
  /** `‖W − Ŵ‖_F / ‖W‖_F`. */
  readonly relativeError: number;
}

const f16 = (x: number) => float16ToFloat32(float32ToFloat16(x));

/**
 * OneBit-style SVID: `W ≈ sign(W) ⊙ (a·bᵀ)`, with `σ·a·bᵀ` the best rank-1 approximation of `|W|` (a
 * truncated SVD, non-negative by Perron–Frobenius) and a, b stored as F16 (√σ folded into each).
 * Bits: n·m sign bits + 16·(n + m). Not expressible as DBF (that would need sign(W) = S_A·diag·S_B).
 */
export async function svidBaseline(backend: KernelBackend, weight: DenseMatrix): Promise<BaselineResult> {
  checkWeight(weight);
  const { data: w, rows: n, cols: m } = weight;
  const abs = Float32Array.from(w, Math.abs);
  const svd = await truncatedSvd(backend, abs, n, m, 1, { oversample: 6, powerIterations: 4 });
  const root = Math.sqrt(svd.s[0]!);
  // The leading singular vectors of a non-negative matrix can be chosen non-negative; fix the sign.
  let sum = 0;
  for (let i = 0; i < n; i++) sum += svd.u[i]!;
  const sign = sum < 0 ? -1 : 1;
  const a = Float32Array.from(svd.u, (x) => f16(sign * x * root));
  const b = Float32Array.from(svd.v, (x) => f16(sign * x * root));
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const mag = a[i]! * b[j]!;
      out[i * m + j] = w[i * m + j]! >= 0 ? mag : -mag;
    }
  }
  const bits = n * m + 16 * (n + m);
  return {
    method: 'svid',
    weight: out,
    bits,
    bitsPerWeight: bits / (n * m),
    relativeError: relativeError(w, out, n, m),
  };
}

/**
 * Round-to-nearest with an asymmetric min–max grid per group of `groupSize` consecutive inputs of each
 * row (GPTQ's convention: the grid always contains 0; an all-zero group uses [−1, 1]). Per group: an F16
 * scale and a `bits`-bit integer zero point. Bits: n·m·bits + groups·(16 + bits).
 */
export function rtnBaseline(weight: DenseMatrix, bits: number, groupSize = 64): BaselineResult {
  checkWeight(weight);
  assertInteger('bits', bits, 1, 8);
  assertInteger('groupSize', groupSize, 1);
  const { data: w, rows: n, cols: m } = weight;
  const levels = 2 ** bits - 1;
  const out = new Float32Array(n * m);
  let groups = 0;
  for (let i = 0; i < n; i++) {
    for (let g0 = 0; g0 < m; g0 += groupSize) {
      const g1 = Math.min(m, g0 + groupSize);
      groups++;
      let lo = 0;
      let hi = 0;
      for (let j = g0; j < g1; j++) {
        lo = Math.min(lo, w[i * m + j]!);
        hi = Math.max(hi, w[i * m + j]!);
      }
      if (lo === 0 && hi === 0) {
        lo = -1;
        hi = 1;
      }
      const scale = f16((hi - lo) / levels) || Number.MIN_VALUE;
      const zero = Math.min(levels, Math.max(0, Math.round(-lo / scale)));
      for (let j = g0; j < g1; j++) {
        const q = Math.min(levels, Math.max(0, Math.round(w[i * m + j]! / scale) + zero));
        out[i * m + j] = (q - zero) * scale;
      }
    }
  }
  const total = n * m * bits + groups * (16 + bits);
  return {
    method: 'rtn',
    weight: out,
    bits: total,
    bitsPerWeight: total / (n * m),
    relativeError: relativeError(w, out, n, m),
  };
}

/**
 * Plain truncated SVD at a bit budget: the largest rank r with `16·r·(n + m) ≤ bpw·n·m` (U√Σ and V√Σ
 * stored as F16). Throws when not even rank 1 fits.
 */
export async function svdBaseline(
  backend: KernelBackend,
  weight: DenseMatrix,
  bpw: number,
  seed = 0,
): Promise<BaselineResult & { readonly rank: number }> {
  checkWeight(weight);
  if (typeof bpw !== 'number' || !Number.isFinite(bpw) || bpw <= 0) {
    throw new InvalidArgumentError(`bpw must be a positive number, got ${describe(bpw)}.`);
  }
  const { data: w, rows: n, cols: m } = weight;
  const rank = Math.min(Math.floor((bpw * n * m) / (16 * (n + m))), Math.min(n, m));
  if (rank < 1) {
    throw new InvalidArgumentError(
      `A rank-1 F16 SVD of a ${n}×${m} matrix needs ${((16 * (n + m)) / (n * m)).toFixed(3)} bits per weight; ${bpw} is too few.`,
    );
  }
  const svd = await truncatedSvd(backend, w, n, m, rank, { seed });
  const u = new Float32Array(n * rank);
  const v = new Float32Array(m * rank);
  for (let c = 0; c < rank; c++) {
    const root = Math.sqrt(svd.s[c]!);
    for (let i = 0; i < n; i++) u[i * rank + c] = f16(svd.u[i * rank + c]! * root);
    for (let j = 0; j < m; j++) v[j * rank + c] = f16(svd.v[j * rank + c]! * root);
  }
  const out = new Float32Array(n * m);
  await backend.gemm({ a: u, b: v, m: n, n: m, k: rank, transposeB: true, c: out });
  const bits = 16 * rank * (n + m);
  return {
    method: 'svd',
    rank,
    weight: out,
    bits,
    bitsPerWeight: bits / (n * m),
    relativeError: relativeError(w, out, n, m),
  };
}
