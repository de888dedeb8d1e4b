import { createRng, dbfToMdbf, dequantizeFloat64, type MdbfLayer } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import {
  asArrayViews,
  nmse,
  randomDbfLayer,
  randomDenseLayer,
  randomMdbfLayer,
  randomSigns,
  randomVector,
  referenceGemm,
  referenceLinear,
  referenceSignMatMul,
} from '../src/index';
import { HAND_DBF } from './golden-fixture';

/** W·x with core's dequantizeFloat64: an implementation independent of the factored reference. */
function viaDequantize(
  layer: Parameters<typeof dequantizeFloat64>[0],
  x: Float32Array,
  batch: number,
): Float64Array {
  const w = dequantizeFloat64(layer);
  const { outFeatures: n, inFeatures: m } = layer;
  const y = new Float64Array(batch * n);
  for (let s = 0; s < batch; s++) {
    for (let r = 0; r < n; r++) {
      let sum = layer.bias ? layer.bias[r]! : 0;
      for (let j = 0; j < m; j++) sum += w[r * m + j]! * x[s * m + j]!;
      y[s * n + r] = sum;
    }
  }
  return y;
}

describe('referenceLinear', () => {
  it('reproduces the hand-computed DBF example', () => {
    const y = referenceLinear(HAND_DBF, Float32Array.of(1, 2, 3, -1, 0, 2), 2);
    expect(Array.from(y)).toEqual([-31, 19, -23, 5]);
    expect(Array.from(referenceLinear(dbfToMdbf(HAND_DBF), Float32Array.of(1, 2, 3, -1, 0, 2), 2))).toEqual([
      -31, 19, -23, 5,
    ]);
  });

  it('reproduces a hand-computed MDBF example with l = 2', () => {
    // 1×1 layer, S_A = −1, S_B = +1: W = −(1·3 + 2·4)·(5·7 + 6·8) = −11·83 = −913, so x = 2 gives −1826 (+ bias 0.5).
    const layer: MdbfLayer = {
      kind: 'mdbf',
      outFeatures: 1,
      inFeatures: 1,
      rank: 1,
      envelopeRank: 2,
      signA: { rows: 1, cols: 1, wordsPerRow: 1, words: Uint32Array.of(0) },
      signB: { rows: 1, cols: 1, wordsPerRow: 1, words: Uint32Array.of(1) },
      envA: Float32Array.of(1, 2),
      envQU: Float32Array.of(3, 4),
      envQV: Float32Array.of(5, 6),
      envB: Float32Array.of(7, 8),
      bias: Float32Array.of(0.5),
    };
    expect(Array.from(referenceLinear(layer, Float32Array.of(2), 1))).toEqual([-1825.5]);
  });

  it('agrees with the dequantized weight for random DBF, MDBF and dense layers', () => {
    const rng = createRng(11);
    const layers = [
      randomDbfLayer(rng, { outFeatures: 37, inFeatures: 65, rank: 33, bias: true }),
      randomDbfLayer(rng, { outFeatures: 1, inFeatures: 1, rank: 1 }),
      randomMdbfLayer(rng, { outFeatures: 40, inFeatures: 33, rank: 17, envelopeRank: 5, bias: true }),
      randomMdbfLayer(rng, { outFeatures: 9, inFeatures: 70, rank: 1, envelopeRank: 8 }),
      randomDenseLayer(rng, { outFeatures: 13, inFeatures: 29, bias: true }),
    ];
    for (const layer of layers) {
      const x = randomVector(rng, 3 * layer.inFeatures);
      const reference = referenceLinear(layer, x, 3);
      expect(nmse(reference, viaDequantize(layer, x, 3))).toBeLessThan(1e-24);
      expect(nmse(referenceLinear(asArrayViews(layer), x, 3), reference)).toBe(0);
    }
  });

  it('rejects inputs of the wrong length', () => {
    expect(() => referenceLinear(HAND_DBF, new Float32Array(5), 2)).toThrow(/6 elements/);
  });
});

describe('referenceSignMatMul', () => {
  it('multiplies by the unpacked ±1 matrix, per batch row', () => {
    // Row 0: + − +, row 1: − − +  (bit set ⇒ +1).
    const signs = { rows: 2, cols: 3, wordsPerRow: 1, words: Uint32Array.of(0b101, 0b100) };
    expect(Array.from(referenceSignMatMul(signs, Float32Array.of(1, 2, 4, 0, 1, 0), 2))).toEqual([
      3, 1, -1, -1,
    ]);
  });

  it('matches random matrices summed by hand', () => {
    const rng = createRng(5);
    const signs = randomSigns(rng, 5, 70);
    const x = randomVector(rng, 70);
    const y = referenceSignMatMul(signs, x, 1);
    for (let r = 0; r < 5; r++) {
      let sum = 0;
      for (let c = 0; c < 70; c++)
        sum += ((signs.words[r * 3 + (c >>> 5)]! >>> (c & 31)) & 1 ? 1 : -1) * x[c]!;
      expect(y[r]).toBeCloseTo(sum, 12);
    }
  });
});

describe('referenceGemm', () => {
  const a = Float32Array.of(1, 2, 3, 4);
  const b = Float32Array.of(5, 6, 7, 8);
  const base = { a, b, m: 2, n: 2, k: 2 };

  it('handles the four transpose combinations', () => {
    expect(Array.from(referenceGemm(base))).toEqual([19, 22, 43, 50]);
    expect(Array.from(referenceGemm({ ...base, transposeA: true }))).toEqual([26, 30, 38, 44]);
    expect(Array.from(referenceGemm({ ...base, transposeB: true }))).toEqual([17, 23, 39, 53]);
    expect(Array.from(referenceGemm({ ...base, transposeA: true, transposeB: true }))).toEqual([
      23, 31, 34, 46,
    ]);
  });

  it('applies alpha and beta, and ignores c when beta = 0', () => {
    expect(
      Array.from(referenceGemm({ ...base, alpha: 2, beta: -1, c: Float32Array.of(1, 2, 3, 4) })),
    ).toEqual([37, 42, 83, 96]);
    expect(
      Array.from(referenceGemm({ ...base, alpha: 0.5, c: new Float32Array(4).fill(Number.NaN) })),
    ).toEqual([9.5, 11, 21.5, 25]);
  });

  it('handles non-square transposed shapes', () => {
    // op(A) = Aᵀ is 1×2 from A stored 2×1; op(B) = Bᵀ is 2×3 from B stored 3×2.
    const y = referenceGemm({
      a: Float32Array.of(1, 2),
      b: Float32Array.of(1, 0, 0, 1, 1, 1),
      m: 1,
      n: 3,
      k: 2,
      transposeA: true,
      transposeB: true,
    });
    expect(Array.from(y)).toEqual([1, 2, 3]);
  });

  it('requires c when beta is non-zero', () => {
    expect(() => referenceGemm({ ...base, beta: 1 })).toThrow(/c must be given/);
  });
});

describe('nmse', () => {
  it('is Σ(a−b)²/Σb² with the documented edge cases', () => {
    expect(nmse([1, 2], [1, 2])).toBe(0);
    expect(nmse([1, 3], [1, 2])).toBeCloseTo(1 / 5, 15);
    expect(nmse([Number.NaN, 1], [1, 1])).toBeNaN();
    expect(nmse([0, 0], [0, 0])).toBe(0);
    expect(nmse([0, 1e-30], [0, 0])).toBe(Number.POSITIVE_INFINITY);
    expect(() => nmse([1], [1, 2])).toThrow(/equal length/);
  });
});
