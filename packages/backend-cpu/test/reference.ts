/**
 * Independent float64 references and random layer builders for the tests. Nothing here uses the backend
 * or core's dequantize: signs are read bit by bit from the documented layout and multiplied out naively.
 */
import type { DbfLayer, DenseLayer, MdbfLayer, PackedSigns, Rng } from '@dbf/core';

/** Entry (r, c) of a packed sign matrix: bit c%32 of word r·wordsPerRow + ⌊c/32⌋, set ⇒ +1. */
export function sign(s: PackedSigns, r: number, c: number): number {
  return (s.words[r * s.wordsPerRow + Math.floor(c / 32)]! >>> (c % 32)) & 1 ? 1 : -1;
}

/** Random signs with zero padding bits. */
export function randomSigns(rng: Rng, rows: number, cols: number): PackedSigns {
  const wordsPerRow = Math.ceil(cols / 32);
  const words = new Uint32Array(rows * wordsPerRow);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (rng.uniform() < 0.5) words[r * wordsPerRow + Math.floor(c / 32)]! |= 1 << (c % 32);
    }
  }
  return { rows, cols, wordsPerRow, words };
}

export type Values = 'normal' | 'integer';

export function randomValues(rng: Rng, length: number, kind: Values): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = kind === 'normal' ? rng.normal() : rng.int(7) - 3;
  return out;
}

export function randomDbf(rng: Rng, n: number, m: number, k: number, kind: Values, bias = false): DbfLayer {
  return {
    kind: 'dbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    signA: randomSigns(rng, n, k),
    signB: randomSigns(rng, k, m),
    scaleA: randomValues(rng, n, kind),
    scaleMid: randomValues(rng, k, kind),
    scaleB: randomValues(rng, m, kind),
    ...(bias ? { bias: randomValues(rng, n, kind) } : {}),
  };
}

export function randomMdbf(
  rng: Rng,
  n: number,
  m: number,
  k: number,
  l: number,
  kind: Values,
  bias = false,
): MdbfLayer {
  return {
    kind: 'mdbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    envelopeRank: l,
    signA: randomSigns(rng, n, k),
    signB: randomSigns(rng, k, m),
    envA: randomValues(rng, n * l, kind),
    envQU: randomValues(rng, k * l, kind),
    envQV: randomValues(rng, k * l, kind),
    envB: randomValues(rng, m * l, kind),
    ...(bias ? { bias: randomValues(rng, n, kind) } : {}),
  };
}

export function randomDense(rng: Rng, n: number, m: number, kind: Values, bias = false): DenseLayer {
  return {
    kind: 'dense',
    outFeatures: n,
    inFeatures: m,
    weight: randomValues(rng, n * m, kind),
    ...(bias ? { bias: randomValues(rng, n, kind) } : {}),
  };
}

/** The dense n×m weight in float64, multiplied out from the factors. */
export function denseWeight(layer: DbfLayer | MdbfLayer | DenseLayer): Float64Array {
  const { outFeatures: n, inFeatures: m } = layer;
  if (layer.kind === 'dense') return Float64Array.from(layer.weight);
  const k = layer.rank;
  // W = F·G with F (n×k) and G (k×m) holding the signs times their scale envelopes.
  const f = new Float64Array(n * k);
  const g = new Float64Array(k * m);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) {
      let e: number;
      if (layer.kind === 'dbf') e = layer.scaleA[r]! * layer.scaleMid[i]!;
      else {
        e = 0;
        for (let c = 0; c < layer.envelopeRank; c++)
          e += layer.envA[r * layer.envelopeRank + c]! * layer.envQU[i * layer.envelopeRank + c]!;
      }
      f[r * k + i] = sign(layer.signA, r, i) * e;
    }
  }
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < m; j++) {
      let e: number;
      if (layer.kind === 'dbf') e = layer.scaleB[j]!;
      else {
        e = 0;
        for (let c = 0; c < layer.envelopeRank; c++)
          e += layer.envQV[i * layer.envelopeRank + c]! * layer.envB[j * layer.envelopeRank + c]!;
      }
      g[i * m + j] = sign(layer.signB, i, j) * e;
    }
  }
  const w = new Float64Array(n * m);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) {
      const fv = f[r * k + i]!;
      for (let j = 0; j < m; j++) w[r * m + j]! += fv * g[i * m + j]!;
    }
  }
  return w;
}

/** y = W·x + bias for each of `batch` vectors, float64. */
export function referenceLinear(
  layer: DbfLayer | MdbfLayer | DenseLayer,
  input: Float32Array,
  batch: number,
): Float64Array {
  const { outFeatures: n, inFeatures: m } = layer;
  const w = denseWeight(layer);
  const y = new Float64Array(batch * n);
  for (let v = 0; v < batch; v++) {
    for (let r = 0; r < n; r++) {
      let s = layer.bias ? layer.bias[r]! : 0;
      for (let j = 0; j < m; j++) s += w[r * m + j]! * input[v * m + j]!;
      y[v * n + r] = s;
    }
  }
  return y;
}

/** y = S·x for each of `batch` vectors, float64. */
export function referenceSignMatMul(s: PackedSigns, input: Float32Array, batch: number): Float64Array {
  const y = new Float64Array(batch * s.rows);
  for (let v = 0; v < batch; v++) {
    for (let r = 0; r < s.rows; r++) {
      let acc = 0;
      for (let c = 0; c < s.cols; c++) acc += sign(s, r, c) * input[v * s.cols + c]!;
      y[v * s.rows + r] = acc;
    }
  }
  return y;
}

/** C = alpha·op(A)·op(B) + beta·C, float64 (C read only when beta ≠ 0). */
export function referenceGemm(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array | undefined,
  m: number,
  n: number,
  k: number,
  transposeA: boolean,
  transposeB: boolean,
  alpha: number,
  beta: number,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transposeA ? a[p * m + i]! : a[i * k + p]!;
        const bv = transposeB ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      out[i * n + j] = alpha * s + (beta !== 0 ? beta * c![i * n + j]! : 0);
    }
  }
  return out;
}

/** Normalized mean squared error Σ(y−ŷ)²/Σŷ² (0 when both are zero). */
export function nmse(y: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (y[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? num : num / den;
}

/**
 * Largest error measured in float32 ulps of the reference: float64 accumulation followed by one rounding
 * to float32 must land within 1 ulp (values near zero are compared against `floor`, a fraction of the
 * largest magnitude, because cancellation leaves them no float32 precision of their own).
 */
export function maxUlpError(y: Float32Array, ref: Float64Array): number {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  const floor = scale * 1e-6;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const ulp = Math.max(Math.abs(ref[i]!), floor) * 2 ** -23;
    worst = Math.max(worst, Math.abs(y[i]! - ref[i]!) / (ulp || 1));
  }
  return worst;
}
