import { InvalidArgumentError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import type { LinearLayer } from '../layers/types';
import { validateLayer } from '../layers/validate-layer';

/**
 * The dense n×m weight a layer represents, computed with one backend GEMM (`dequantize` does the same in
 * float64 JS loops, O(n·m·k), and is the slow reference): F = S_A ⊙ (envA·envQUᵀ) (n×k),
 * G = S_B ⊙ (envQV·envBᵀ) (k×m), Ŵ = F·G. The bias is not included.
 */
export async function reconstructWeight(backend: KernelBackend, layer: LinearLayer): Promise<Float32Array> {
  validateLayer(layer);
  if (layer.kind === 'dense') return Float32Array.from(layer.weight);
  const { outFeatures: n, inFeatures: m, rank: k, signA, signB } = layer;
  const f = new Float32Array(n * k);
  const g = new Float32Array(k * m);
  if (layer.kind === 'dbf') {
    for (let r = 0; r < n; r++) {
      const a = layer.scaleA[r]!;
      for (let i = 0; i < k; i++) {
        const s = (signA.words[r * signA.wordsPerRow + (i >>> 5)]! >>> (i & 31)) & 1 ? 1 : -1;
        f[r * k + i] = s * a * layer.scaleMid[i]!;
      }
    }
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < m; j++) {
        const s = (signB.words[i * signB.wordsPerRow + (j >>> 5)]! >>> (j & 31)) & 1 ? 1 : -1;
        g[i * m + j] = s * layer.scaleB[j]!;
      }
    }
  } else {
    const l = layer.envelopeRank;
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < k; i++) {
        let e = 0;
        for (let c = 0; c < l; c++) e += layer.envA[r * l + c]! * layer.envQU[i * l + c]!;
        const s = (signA.words[r * signA.wordsPerRow + (i >>> 5)]! >>> (i & 31)) & 1 ? 1 : -1;
        f[r * k + i] = s * e;
      }
    }
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < m; j++) {
        let e = 0;
        for (let c = 0; c < l; c++) e += layer.envQV[i * l + c]! * layer.envB[j * l + c]!;
        const s = (signB.words[i * signB.wordsPerRow + (j >>> 5)]! >>> (j & 31)) & 1 ? 1 : -1;
        g[i * m + j] = s * e;
      }
    }
  }
  return backend.gemm({ a: f, b: g, m: n, n: m, k });
}

/**
 * `‖D_o(W − Ŵ)D_i‖_F / ‖D_o·W·D_i‖_F` in float64 (the plain relative Frobenius error when no scales are
 * given). `rowScale` has `rows` entries, `colScale` `cols`. A zero W gives 0 if Ŵ is zero too, else ∞.
 */
export function relativeError(
  w: ArrayLike<number>,
  approx: ArrayLike<number>,
  rows: number,
  cols: number,
  rowScale?: ArrayLike<number>,
  colScale?: ArrayLike<number>,
): number {
  if (w.length !== rows * cols || approx.length !== rows * cols) {
    throw new InvalidArgumentError(`Both matrices must hold rows·cols = ${rows * cols} values.`);
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < rows; i++) {
    const ri = rowScale ? rowScale[i]! : 1;
    for (let j = 0; j < cols; j++) {
      const s = ri * (colScale ? colScale[j]! : 1);
      const x = w[i * cols + j]! * s;
      const d = x - approx[i * cols + j]! * s;
      num += d * d;
      den += x * x;
    }
  }
  if (den === 0) return num === 0 ? 0 : Number.POSITIVE_INFINITY;
  return Math.sqrt(num / den);
}
