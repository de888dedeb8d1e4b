import type { DbfLayer, LinearLayer, MdbfLayer } from './types';
import { validateLayer } from './validate-layer';

/**
 * Materialises the dense n×m weight (row-major) a layer represents. Meant for tests and error
 * measurement, not inference: it costs O(n·m·k). Accumulates in float64.
 */
export function dequantize(layer: LinearLayer): Float32Array {
  return Float32Array.from(dequantizeFloat64(layer));
}

/** As `dequantize`, in float64 (the precision of the conformance reference). */
export function dequantizeFloat64(layer: LinearLayer): Float64Array {
  validateLayer(layer);
  if (layer.kind === 'dense') return Float64Array.from(layer.weight);
  return layer.kind === 'dbf' ? dequantizeDbf(layer) : dequantizeMdbf(layer);
}

function dequantizeDbf(layer: DbfLayer): Float64Array {
  return dequantizeSingleEnvelope(layer, layer.scaleA, layer.scaleMid, layer.scaleB);
}

/** `diag(scaleA) · S_A · diag(scaleMid) · S_B · diag(scaleB)`: DBF, and MDBF with l = 1. */
function dequantizeSingleEnvelope(
  layer: DbfLayer | MdbfLayer,
  scaleA: ArrayLike<number>,
  scaleMid: ArrayLike<number>,
  scaleB: ArrayLike<number>,
): Float64Array {
  const { outFeatures: n, inFeatures: m, rank: k, signA, signB } = layer;
  const w = new Float64Array(n * m);
  const row = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    // row[i] = a_r · S_A[r,i] · μ_i
    for (let i = 0; i < k; i++) {
      const s = (signA.words[r * signA.wordsPerRow + (i >>> 5)]! >>> (i & 31)) & 1 ? 1 : -1;
      row[i] = scaleA[r]! * s * scaleMid[i]!;
    }
    for (let c = 0; c < m; c++) {
      let sum = 0;
      for (let i = 0; i < k; i++) {
        const s = (signB.words[i * signB.wordsPerRow + (c >>> 5)]! >>> (c & 31)) & 1 ? 1 : -1;
        sum += row[i]! * s;
      }
      w[r * m + c] = sum * scaleB[c]!;
    }
  }
  return w;
}

function dequantizeMdbf(layer: MdbfLayer): Float64Array {
  const { outFeatures: n, inFeatures: m, rank: k, envelopeRank: l, signA, signB } = layer;
  if (l === 1) {
    // A rank-1 envelope is DBF with μ = q_u ⊙ q_v: same arithmetic, so l = 1 reduces to DBF exactly.
    const mid = Float64Array.from(layer.envQU, (q, i) => q * layer.envQV[i]!);
    return dequantizeSingleEnvelope(layer, layer.envA, mid, layer.envB);
  }
  // F = S_A ⊙ (envA · envQUᵀ)  (n×k),  G = S_B ⊙ (envQV · envBᵀ)  (k×m),  W = F·G.
  const f = new Float64Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) {
      let e = 0;
      for (let c = 0; c < l; c++) e += layer.envA[r * l + c]! * layer.envQU[i * l + c]!;
      const s = (signA.words[r * signA.wordsPerRow + (i >>> 5)]! >>> (i & 31)) & 1 ? 1 : -1;
      f[r * k + i] = s * e;
    }
  }
  const g = new Float64Array(k * m);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < m; j++) {
      let e = 0;
      for (let c = 0; c < l; c++) e += layer.envQV[i * l + c]! * layer.envB[j * l + c]!;
      const s = (signB.words[i * signB.wordsPerRow + (j >>> 5)]! >>> (j & 31)) & 1 ? 1 : -1;
      g[i * m + j] = s * e;
    }
  }
  const w = new Float64Array(n * m);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) {
      const fv = f[r * k + i]!;
      if (fv === 0) continue;
      const gi = i * m;
      const wr = r * m;
      for (let j = 0; j < m; j++) w[wr + j]! += fv * g[gi + j]!;
    }
  }
  return w;
}

/** The MDBF layer with `l = 1` that represents exactly the same weight as a DBF layer. */
export function dbfToMdbf(layer: DbfLayer): MdbfLayer {
  validateLayer(layer);
  return {
    kind: 'mdbf',
    outFeatures: layer.outFeatures,
    inFeatures: layer.inFeatures,
    rank: layer.rank,
    envelopeRank: 1,
    signA: layer.signA,
    signB: layer.signB,
    envA: Float32Array.from(layer.scaleA),
    envQU: Float32Array.from(layer.scaleMid),
    envQV: new Float32Array(layer.rank).fill(1),
    envB: Float32Array.from(layer.scaleB),
    ...(layer.bias ? { bias: layer.bias } : {}),
  };
}
