import { bitsPerWeight, InvalidArgumentError, largestRankForBpw } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import {
  type AllocationLayer,
  allocateRanks,
  type LayerCurve,
  layerBits,
  predictedLoss,
  uniformRanks,
} from '../src/index';

const layer = (name: string, n: number, m: number): AllocationLayer => ({
  name,
  outFeatures: n,
  inFeatures: m,
  kind: 'dbf',
  envelopeRank: 1,
});

/** error(k) = 2^(−k/16): log-linear, so interpolation between any measured points is exact. */
function curve(l: AllocationLayer, sensitivity: number, ranks = [8, 32, 64, 128]): LayerCurve {
  return {
    layer: l,
    points: ranks.map((rank) => ({ rank, error: 2 ** (-rank / 16) })),
    referenceRank: 32,
    sensitivity,
  };
}

describe('uniformRanks', () => {
  it('gives every layer the largest rank whose own stored bpw fits', () => {
    const layers = [layer('a', 192, 192), layer('b', 96, 192), layer('c', 512, 192)];
    const ranks = uniformRanks(layers, 1.5);
    for (const l of layers) {
      const k = ranks.get(l.name)!;
      expect(k).toBe(largestRankForBpw(l, 1.5));
      expect(bitsPerWeight({ ...l, rank: k })).toBeLessThanOrEqual(1.5);
      expect(bitsPerWeight({ ...l, rank: k + 1 })).toBeGreaterThan(1.5);
    }
  });
});

describe('predictedLoss', () => {
  it('is the sensitivity at the reference rank and follows the interpolated error elsewhere', () => {
    const c = curve(layer('a', 64, 64), 0.3);
    expect(predictedLoss(c, 32)).toBeCloseTo(0.3, 12);
    // Log-linear curve: 16 ranks more halve the error.
    expect(predictedLoss(c, 48)).toBeCloseTo(0.15, 12);
    expect(predictedLoss(c, 16)).toBeCloseTo(0.6, 12);
  });
});

describe('allocateRanks', () => {
  const a = layer('a', 128, 128);
  const b = layer('b', 128, 128);

  /** The smallest predicted loss over every rank combination that fits the budget. */
  function bruteForce(curves: LayerCurve[], budgetBpw: number): number {
    const budget = budgetBpw * curves.reduce((s, c) => s + c.layer.outFeatures * c.layer.inFeatures, 0);
    let best = Number.POSITIVE_INFINITY;
    const visit = (i: number, bits: number, loss: number) => {
      if (bits > budget) return;
      if (i === curves.length) {
        best = Math.min(best, loss);
        return;
      }
      const cv = curves[i]!;
      for (let k = cv.points[0]!.rank; k <= cv.points[cv.points.length - 1]!.rank; k++)
        visit(i + 1, bits + layerBits(cv.layer, k), loss + predictedLoss(cv, k));
    };
    visit(0, 0, 0);
    return best;
  }

  function check(curves: LayerCurve[], budgetBpw: number): Map<string, number> {
    const ranks = allocateRanks(curves, budgetBpw);
    const got = curves.map((cv) => ranks.get(cv.layer.name)!);
    const used = got.reduce((s, k, i) => s + layerBits(curves[i]!.layer, k), 0);
    const weights = curves.reduce((s, c) => s + c.layer.outFeatures * c.layer.inFeatures, 0);
    expect(used).toBeLessThanOrEqual(budgetBpw * weights);
    const loss = got.reduce((s, k, i) => s + predictedLoss(curves[i]!, k), 0);
    // Candidates are a grid, not every rank: within 2% of the exact optimum.
    expect(loss).toBeLessThanOrEqual(bruteForce(curves, budgetBpw) * 1.02);
    return ranks;
  }

  it('gives the more sensitive of two equal layers more rank, near the brute-force optimum', () => {
    const ranks = check([curve(a, 1), curve(b, 8)], 1.0);
    expect(ranks.get('b')!).toBeGreaterThan(ranks.get('a')! + 16);
  });

  it('matches a brute-force search over three layers of different shapes', () => {
    const c = layer('c', 64, 256);
    check([curve(a, 1, [8, 20, 40, 90]), curve(b, 3, [4, 30, 60]), curve(c, 0.5, [10, 25, 51])], 0.9);
    check([curve(a, 2, [8, 20, 40, 90]), curve(b, 2, [8, 20, 40, 90]), curve(c, 2, [10, 25, 51])], 1.2);
  });

  it('rejects an impossible budget and malformed curves with clear errors', () => {
    expect(() => allocateRanks([curve(a, 1)], 0.01)).toThrow(/above the budget/);
    expect(() => allocateRanks([], 1)).toThrow(InvalidArgumentError);
    const bad = {
      ...curve(a, 1),
      points: [
        { rank: 8, error: 0.5 },
        { rank: 8, error: 0.4 },
      ],
    };
    expect(() => allocateRanks([bad], 1)).toThrow(/increasing ranks/);
    expect(() => allocateRanks([{ ...curve(a, 1), sensitivity: Number.NaN }], 1)).toThrow(/sensitivity/);
  });
});

describe('maxRank', () => {
  it('caps MDBF at min(n, m) (its SVD initialisation) and leaves DBF free', () => {
    const mdbf = { ...layer('m', 512, 192), kind: 'mdbf' as const, envelopeRank: 2 };
    expect(largestRankForBpw(mdbf, 2)).toBeGreaterThan(192);
    expect(uniformRanks([mdbf], 2).get('m')).toBe(192);
    expect(uniformRanks([layer('d', 192, 192)], 2).get('d')).toBe(largestRankForBpw(layer('d', 192, 192), 2));
  });
});
