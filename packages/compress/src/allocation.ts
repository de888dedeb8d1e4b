import { assertInteger, bitsPerWeight, InvalidArgumentError, largestRankForBpw } from '@dbf/core';

/**
 * Bit allocation: which rank k each compressed linear gets under a total bits-per-weight budget.
 * Bits are counted as stored (padded sign rows + F16 scales), over the compressed linears only.
 */
export interface AllocationLayer {
  readonly name: string;
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly kind: 'dbf' | 'mdbf';
  /** MDBF envelope rank l (1 for DBF). */
  readonly envelopeRank: number;
}

/**
 * The largest rank a layer can take: MDBF's closed-form initialisation is a rank-k SVD, so k ≤ min(n, m)
 * (as in the reference); DBF has no such limit.
 */
export function maxRank(layer: AllocationLayer): number {
  return layer.kind === 'mdbf' ? Math.min(layer.outFeatures, layer.inFeatures) : Number.MAX_SAFE_INTEGER;
}

/** Stored bits of `layer` at rank `k`. */
export function layerBits(layer: AllocationLayer, rank: number): number {
  return bitsPerWeight({ ...layer, rank }) * layer.outFeatures * layer.inFeatures;
}

/** Every layer at the largest rank whose own bpw fits `bpw` (so the total fits too), within `maxRank`. */
export function uniformRanks(layers: readonly AllocationLayer[], bpw: number): Map<string, number> {
  return new Map(layers.map((l) => [l.name, Math.min(largestRankForBpw(l, bpw), maxRank(l))]));
}

/** One measured point of a layer's error curve. */
export interface CurvePoint {
  readonly rank: number;
  /** Squared relative error of the layer's objective at this rank (`‖D(W−Ŵ)‖²/‖DW‖²`). */
  readonly error: number;
}

/**
 * What the non-uniform allocation knows about a layer: its error at a few ranks, and its sensitivity —
 * the increase of the model's loss (KL to the original, nats/token) measured with this layer alone
 * compressed at `referenceRank`. The model: loss(k) = sensitivity · error(k) / error(referenceRank),
 * with log error interpolated linearly in k between the measured points.
 */
export interface LayerCurve {
  readonly layer: AllocationLayer;
  readonly points: readonly CurvePoint[];
  readonly referenceRank: number;
  readonly sensitivity: number;
}

/** The predicted loss increase of `curve`'s layer at `rank` (within the measured range). */
export function predictedLoss(curve: LayerCurve, rank: number): number {
  const pts = curve.points;
  const logErr = (k: number) => {
    let i = 0;
    while (i < pts.length - 2 && k > pts[i + 1]!.rank) i++;
    const a = pts[i]!;
    const b = pts[i + 1] ?? a;
    if (b.rank === a.rank) return Math.log(a.error);
    const t = (k - a.rank) / (b.rank - a.rank);
    return Math.log(a.error) + t * (Math.log(b.error) - Math.log(a.error));
  };
  return Math.max(0, curve.sensitivity) * Math.exp(logErr(rank) - logErr(curve.referenceRank));
}

/**
 * Non-uniform allocation: minimise the sum of predicted loss increases subject to the total stored bits
 * staying within `bpw` times the total weight count. A Lagrangian search over the price of a bit picks
 * each layer's rank among candidates spanning its measured range; the bits left under the budget then go,
 * one step at a time, to the layer with the best loss decrease per bit.
 */
export function allocateRanks(curves: readonly LayerCurve[], bpw: number): Map<string, number> {
  if (!Array.isArray(curves) || curves.length === 0)
    throw new InvalidArgumentError('allocateRanks needs at least one layer curve.');
  if (typeof bpw !== 'number' || !Number.isFinite(bpw) || bpw <= 0)
    throw new InvalidArgumentError(`bpw must be a positive number, got ${bpw}.`);
  let budget = 0;
  const options = curves.map((curve) => {
    checkCurve(curve);
    const { layer } = curve;
    budget += bpw * layer.outFeatures * layer.inFeatures;
    const lo = curve.points[0]!.rank;
    const hi = curve.points[curve.points.length - 1]!.rank;
    const step = Math.max(1, Math.round((hi - lo) / 96));
    const ranks: number[] = [];
    for (let k = lo; k < hi; k += step) ranks.push(k);
    ranks.push(hi);
    return ranks.map((rank) => ({ rank, bits: layerBits(layer, rank), loss: predictedLoss(curve, rank) }));
  });
  const minimum = options.reduce((sum, o) => sum + o[0]!.bits, 0);
  if (minimum > budget) {
    throw new InvalidArgumentError(
      `The smallest measured ranks already need ${(minimum / (budget / bpw)).toFixed(3)} bpw, above the budget of ${bpw}.`,
    );
  }
  const pick = (lambda: number) =>
    options.map((o) => {
      let best = 0;
      for (let i = 1; i < o.length; i++) {
        if (o[i]!.loss + lambda * o[i]!.bits < o[best]!.loss + lambda * o[best]!.bits) best = i;
      }
      return best;
    });
  const totalBits = (choice: number[]) => choice.reduce((s, c, i) => s + options[i]![c]!.bits, 0);
  // Price of a bit: large enough and every layer takes its smallest rank; search in log space.
  let lo = 1e-30;
  let hi = 1;
  while (totalBits(pick(hi)) > budget) hi *= 10;
  for (let it = 0; it < 100; it++) {
    const mid = Math.sqrt(lo * hi);
    if (totalBits(pick(mid)) > budget) lo = mid;
    else hi = mid;
  }
  const choice = pick(hi);
  let used = totalBits(choice);
  // Spend what is left, best loss decrease per extra bit first.
  for (;;) {
    let bestLayer = -1;
    let bestGain = 0;
    for (let i = 0; i < options.length; i++) {
      const o = options[i]!;
      const c = choice[i]!;
      if (c + 1 >= o.length) continue;
      const extra = o[c + 1]!.bits - o[c]!.bits;
      if (used + extra > budget) continue;
      const gain = (o[c]!.loss - o[c + 1]!.loss) / extra;
      if (gain > bestGain) {
        bestGain = gain;
        bestLayer = i;
      }
    }
    if (bestLayer < 0) break;
    const o = options[bestLayer]!;
    used += o[choice[bestLayer]! + 1]!.bits - o[choice[bestLayer]!]!.bits;
    choice[bestLayer]!++;
  }
  return new Map(curves.map((c, i) => [c.layer.name, options[i]![choice[i]!]!.rank]));
}

function checkCurve(curve: LayerCurve): void {
  const name = curve?.layer?.name ?? '?';
  if (!Array.isArray(curve.points) || curve.points.length < 1)
    throw new InvalidArgumentError(`The curve of ${name} has no points.`);
  let previous = 0;
  for (const p of curve.points) {
    assertInteger(`${name}: rank`, p.rank, 1);
    if (p.rank <= previous)
      throw new InvalidArgumentError(`The curve of ${name} must have increasing ranks.`);
    if (!(p.error > 0) || !Number.isFinite(p.error))
      throw new InvalidArgumentError(`The curve of ${name} has a non-positive error at rank ${p.rank}.`);
    previous = p.rank;
  }
  if (!(curve.sensitivity >= 0) || !Number.isFinite(curve.sensitivity))
    throw new InvalidArgumentError(`The sensitivity of ${name} must be a finite non-negative number.`);
}
