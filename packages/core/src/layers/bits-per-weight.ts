import { InvalidArgumentError } from '../errors';
import { assertInteger } from '../util/assert';
import { wordsPerRow } from './packed-signs';
import type { CompressedLayer } from './types';

/** Scale storage dtype in files: F16 (default) or F32. */
export type ScaleDtype = 'F16' | 'F32';

/**
 * How bits are counted:
 * - `'stored'` (default): every byte the layer occupies on disk — signs with their 32-bit row padding,
 *   plus all scale / envelope vectors. This is what `bitsPerWeight` of a written file reports exactly.
 * - `'binary'`: only the `k·(n+m)` sign bits, unpadded, as the DBF reference implementation counts.
 */
export type BitAccounting = 'stored' | 'binary';

/** The shape facts that fix a compressed layer's size. */
export interface LayerShape {
  readonly kind: 'dbf' | 'mdbf';
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly rank: number;
  /** MDBF envelope rank `l`; 1 for DBF. */
  readonly envelopeRank?: number;
  /** Default 'F16'. */
  readonly scaleDtype?: ScaleDtype;
}

export interface LayerBytes {
  readonly signBytes: number;
  readonly scaleBytes: number;
  readonly totalBytes: number;
}

/** Bytes of the sign and scale tensors of a layer as written by format v1 (bias excluded). */
export function layerBytes(shape: LayerShape): LayerBytes {
  const { n, m, k, l, scaleBytesEach } = checkShape(shape);
  const signBytes = 4 * (n * wordsPerRow(k) + k * wordsPerRow(m));
  // DBF: a (n), μ (k), b (m). MDBF: envA (n×l), envQU and envQV (k×l each), envB (m×l).
  const scaleCount = shape.kind === 'dbf' ? n + k + m : l * (n + 2 * k + m);
  const scaleBytes = scaleCount * scaleBytesEach;
  return { signBytes, scaleBytes, totalBytes: signBytes + scaleBytes };
}

/** Bits per weight of one layer (`n·m` weights). Bias storage is not counted. */
export function bitsPerWeight(shape: LayerShape, accounting: BitAccounting = 'stored'): number {
  const { n, m, k } = checkShape(shape);
  if (accounting === 'binary') return (k * (n + m)) / (n * m);
  return (8 * layerBytes(shape).totalBytes) / (n * m);
}

/**
 * The largest rank `k` whose bits per weight do not exceed `targetBpw`. Throws if even `k = 1` does
 * not fit: the target is impossible for this shape.
 */
export function largestRankForBpw(
  shape: Omit<LayerShape, 'rank'>,
  targetBpw: number,
  accounting: BitAccounting = 'stored',
): number {
  if (typeof targetBpw !== 'number' || !Number.isFinite(targetBpw) || targetBpw <= 0) {
    throw new InvalidArgumentError(`targetBpw must be a positive number, got ${targetBpw}.`);
  }
  const fits = (k: number) => bitsPerWeight({ ...shape, rank: k }, accounting) <= targetBpw * (1 + 1e-12);
  if (!fits(1)) {
    const minimum = bitsPerWeight({ ...shape, rank: 1 }, accounting);
    throw new InvalidArgumentError(
      `A ${shape.outFeatures}×${shape.inFeatures} ${shape.kind.toUpperCase()} layer needs at least ${minimum.toFixed(4)} bits per weight (rank 1); the target ${targetBpw} is impossible.`,
    );
  }
  // Bits grow monotonically with k; the upper bound comes from the sign bits alone.
  let lo = 1;
  let hi = Math.max(
    1,
    Math.ceil((targetBpw * shape.outFeatures * shape.inFeatures) / (shape.outFeatures + shape.inFeatures)) +
      1,
  );
  while (fits(hi)) hi *= 2;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The shape facts of an in-memory layer (scales are F16 on disk unless told otherwise). */
export function shapeOfLayer(layer: CompressedLayer, scaleDtype: ScaleDtype = 'F16'): LayerShape {
  return {
    kind: layer.kind,
    outFeatures: layer.outFeatures,
    inFeatures: layer.inFeatures,
    rank: layer.rank,
    envelopeRank: layer.kind === 'mdbf' ? layer.envelopeRank : 1,
    scaleDtype,
  };
}

/** Totals over several layers: bits per weight of the group, weighting each layer by its `n·m`. */
export function totalBitsPerWeight(
  shapes: readonly LayerShape[],
  accounting: BitAccounting = 'stored',
): { weights: number; bits: number; bitsPerWeight: number } {
  let weights = 0;
  let bits = 0;
  for (const s of shapes) {
    const count = s.outFeatures * s.inFeatures;
    weights += count;
    bits += bitsPerWeight(s, accounting) * count;
  }
  return { weights, bits, bitsPerWeight: weights ? bits / weights : 0 };
}

function checkShape(shape: LayerShape) {
  if (shape.kind !== 'dbf' && shape.kind !== 'mdbf') {
    throw new InvalidArgumentError(`kind must be 'dbf' or 'mdbf', got ${JSON.stringify(shape.kind)}.`);
  }
  const n = assertInteger('outFeatures', shape.outFeatures, 1);
  const m = assertInteger('inFeatures', shape.inFeatures, 1);
  const k = assertInteger('rank', shape.rank, 1);
  const l = assertInteger('envelopeRank', shape.envelopeRank ?? 1, 1);
  if (shape.kind === 'dbf' && l !== 1)
    throw new InvalidArgumentError(`A DBF layer has envelopeRank 1, got ${l}.`);
  const dtype = shape.scaleDtype ?? 'F16';
  if (dtype !== 'F16' && dtype !== 'F32') {
    throw new InvalidArgumentError(`scaleDtype must be 'F16' or 'F32', got ${JSON.stringify(dtype)}.`);
  }
  return { n, m, k, l, scaleBytesEach: dtype === 'F16' ? 2 : 4 };
}
