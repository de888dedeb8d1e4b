/**
 * The non-linear parts of a llama decoder in plain TypeScript, on row-major Float32Arrays, writing into
 * caller-provided buffers (no allocation). Sums are taken in float64.
 */

import { InvalidArgumentError } from '@dbf/core';

/** `out[r] = x[r] / rms(x[r]) ⊙ weight` for each of `rows` rows of length `dim`. `out` may be `x`. */
export function rmsNorm(
  x: Float32Array,
  weight: Float32Array,
  rows: number,
  dim: number,
  eps: number,
  out: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) {
      const v = x[o + i]!;
      ss += v * v;
    }
    // Math.fround: the reference implementations scale in float32.
    const scale = Math.fround(1 / Math.sqrt(ss / dim + eps));
    for (let i = 0; i < dim; i++) out[o + i] = weight[i]! * Math.fround(x[o + i]! * scale);
  }
}

/** RoPE angle tables: `cos[p·half + i]`, `sin[...]` for positions `[0, positions)`, computed in float64. */
export interface RopeTables {
  readonly positions: number;
  readonly half: number;
  readonly cos: Float32Array;
  readonly sin: Float32Array;
}

export function ropeTables(headDim: number, theta: number, positions: number): RopeTables {
  const half = headDim / 2;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let i = 0; i < half; i++) {
    const frequency = theta ** (-(2 * i) / headDim);
    for (let p = 0; p < positions; p++) {
      const angle = p * frequency;
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { positions, half, cos, sin };
}

/**
 * Rotates `rows` rows of `heads × headDim` values in place; row t is at position `startPos + t`.
 * `interleaved` pairs `(2i, 2i+1)` (Meta / llama2.c), otherwise `(i, i + headDim/2)` (Hugging Face).
 */
export function applyRope(
  x: Float32Array,
  rows: number,
  heads: number,
  headDim: number,
  startPos: number,
  tables: RopeTables,
  interleaved: boolean,
): void {
  const { half, cos, sin } = tables;
  const width = heads * headDim;
  for (let t = 0; t < rows; t++) {
    const table = (startPos + t) * half;
    for (let h = 0; h < heads; h++) {
      const base = t * width + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[table + i]!;
        const s = sin[table + i]!;
        const a = interleaved ? base + 2 * i : base + i;
        const b = interleaved ? a + 1 : a + half;
        const x0 = x[a]!;
        const x1 = x[b]!;
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
      }
    }
  }
}

/** Scratch for `attention`: scores for up to `positions` keys, one float64 output accumulator. */
export interface AttentionScratch {
  scores: Float64Array;
  acc: Float64Array;
}

/**
 * Causal grouped-query attention. `q` is `rows × heads·headDim` (row t at position `startPos + t`);
 * `keys`/`values` hold `kvHeads·headDim` floats per position, position p at row p, filled up to
 * `startPos + rows`. Query head h reads key/value head `h / (heads / kvHeads)`. Writes `out` like `q`.
 */
export function attention(
  q: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  rows: number,
  startPos: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  scratch: AttentionScratch,
  out: Float32Array,
): void {
  const { scores, acc } = scratch;
  const group = heads / kvHeads;
  const qWidth = heads * headDim;
  const kvWidth = kvHeads * headDim;
  const scale = 1 / Math.sqrt(headDim);
  for (let t = 0; t < rows; t++) {
    const n = startPos + t + 1;
    for (let h = 0; h < heads; h++) {
      const qo = t * qWidth + h * headDim;
      const kvo = Math.floor(h / group) * headDim;
      // Scores, four keys per pass: independent accumulators share each q load.
      let max = Number.NEGATIVE_INFINITY;
      let p = 0;
      for (; p + 4 <= n; p += 4) {
        const k0 = p * kvWidth + kvo;
        const k1 = k0 + kvWidth;
        const k2 = k1 + kvWidth;
        const k3 = k2 + kvWidth;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let i = 0; i < headDim; i++) {
          const x = q[qo + i]!;
          s0 += x * keys[k0 + i]!;
          s1 += x * keys[k1 + i]!;
          s2 += x * keys[k2 + i]!;
          s3 += x * keys[k3 + i]!;
        }
        scores[p] = s0 * scale;
        scores[p + 1] = s1 * scale;
        scores[p + 2] = s2 * scale;
        scores[p + 3] = s3 * scale;
        const m = Math.max(s0, s1, s2, s3) * scale;
        if (m > max) max = m;
      }
      for (; p < n; p++) {
        const k0 = p * kvWidth + kvo;
        let s = 0;
        for (let i = 0; i < headDim; i++) s += q[qo + i]! * keys[k0 + i]!;
        s *= scale;
        scores[p] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const e = Math.exp(scores[j]! - max);
        scores[j] = e;
        sum += e;
      }
      // Weighted sum of values, four positions per pass over the accumulator.
      for (let i = 0; i < headDim; i++) acc[i] = 0;
      p = 0;
      for (; p + 4 <= n; p += 4) {
        const w0 = scores[p]!;
        const w1 = scores[p + 1]!;
        const w2 = scores[p + 2]!;
        const w3 = scores[p + 3]!;
        const v0 = p * kvWidth + kvo;
        const v1 = v0 + kvWidth;
        const v2 = v1 + kvWidth;
        const v3 = v2 + kvWidth;
        for (let i = 0; i < headDim; i++) {
          acc[i]! +=
            w0 * values[v0 + i]! + w1 * values[v1 + i]! + w2 * values[v2 + i]! + w3 * values[v3 + i]!;
        }
      }
      for (; p < n; p++) {
        const w = scores[p]!;
        const v0 = p * kvWidth + kvo;
        for (let i = 0; i < headDim; i++) acc[i]! += w * values[v0 + i]!;
      }
      const inv = 1 / sum;
      for (let i = 0; i < headDim; i++) out[qo + i] = acc[i]! * inv;
    }
  }
}

/** `gate[i] = silu(gate[i]) · up[i]` over `length` values (SwiGLU). */
export function swiglu(gate: Float32Array, up: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) {
    const g = gate[i]!;
    gate[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** `x[i] += y[i]` over `length` values. */
export function addInPlace(x: Float32Array, y: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) x[i]! += y[i]!;
}

/** `log Σ exp(row)` of `logits[offset .. offset+length)`, in float64. */
export function logSumExp(logits: Float32Array, offset: number, length: number): number {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 1 ||
    offset + length > logits.length
  )
    throw new InvalidArgumentError(
      `logSumExp: [${offset}, ${offset + length}) is not a non-empty range of the ${logits.length} logits.`,
    );
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < length; i++) {
    const v = logits[offset + i]!;
    if (v > max) max = v;
  }
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp(logits[offset + i]! - max);
  return max + Math.log(sum);
}
