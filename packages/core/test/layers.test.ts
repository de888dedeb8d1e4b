import { describe, expect, it } from 'vitest';
import {
  createRng,
  type DbfLayer,
  dbfToMdbf,
  dequantize,
  dequantizeFloat64,
  type MdbfLayer,
  packSigns,
  validateLayer,
} from '../src/index';

function dbf(
  n: number,
  m: number,
  signsA: number[],
  signsB: number[],
  a: number[],
  mu: number[],
  b: number[],
): DbfLayer {
  const k = mu.length;
  return {
    kind: 'dbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    signA: packSigns(signsA, n, k),
    signB: packSigns(signsB, k, m),
    scaleA: Float32Array.from(a),
    scaleMid: Float32Array.from(mu),
    scaleB: Float32Array.from(b),
  };
}

function randomMdbf(seed: number, n: number, m: number, k: number, l: number): MdbfLayer {
  const rng = createRng(seed);
  const vec = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
  return {
    kind: 'mdbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    envelopeRank: l,
    signA: packSigns(vec(n * k), n, k),
    signB: packSigns(vec(k * m), k, m),
    envA: vec(n * l),
    envQU: vec(k * l),
    envQV: vec(k * l),
    envB: vec(m * l),
  };
}

describe('dequantize', () => {
  it('matches a hand-computed 2×3 DBF weight', () => {
    // W[r][c] = a_r · b_c · Σ_i S_A[r,i] μ_i S_B[i,c]; worked out by hand.
    const layer = dbf(2, 3, [1, -1, 1, 1], [1, 1, -1, -1, 1, 1], [1, 2], [3, 0.5], [1, -1, 2]);
    expect(Array.from(dequantize(layer))).toEqual([3.5, -2.5, -7, 5, -7, -10]);
  });

  it('MDBF with l = 1 equals DBF exactly', () => {
    const rng = createRng(3);
    const vec = (len: number) => Array.from({ length: len }, () => rng.normal());
    const layer = dbf(5, 37, vec(5 * 33).map(Math.sign), vec(33 * 37), vec(5), vec(33), vec(37));
    const asMdbf = dbfToMdbf(layer);
    expect(asMdbf.envelopeRank).toBe(1);
    expect(dequantizeFloat64(asMdbf)).toEqual(dequantizeFloat64(layer));
  });

  it('MDBF with l = 2 is the sum of the four DBF cross terms', () => {
    // (S_A ⊙ Σ_c A_c QU_cᵀ)(S_B ⊙ Σ_d QV_d B_dᵀ) = Σ_{c,d} diag(A_c) S_A diag(QU_c ⊙ QV_d) S_B diag(B_d)
    const [n, m, k, l] = [6, 9, 4, 2];
    const layer = randomMdbf(11, n, m, k, l);
    const col = (x: Float32Array, rows: number, c: number) =>
      Float32Array.from({ length: rows }, (_, i) => x[i * l + c]!);
    const expected = new Float64Array(n * m);
    for (let c = 0; c < l; c++) {
      for (let d = 0; d < l; d++) {
        const qu = col(layer.envQU, k, c);
        const qv = col(layer.envQV, k, d);
        const term: DbfLayer = {
          kind: 'dbf',
          outFeatures: n,
          inFeatures: m,
          rank: k,
          signA: layer.signA,
          signB: layer.signB,
          scaleA: col(layer.envA, n, c),
          scaleMid: Float32Array.from(qu, (v, i) => v * qv[i]!),
          scaleB: col(layer.envB, m, d),
        };
        const w = dequantizeFloat64(term);
        for (let i = 0; i < w.length; i++) expected[i]! += w[i]!;
      }
    }
    const actual = dequantizeFloat64(layer);
    for (let i = 0; i < actual.length; i++) expect(actual[i]).toBeCloseTo(expected[i]!, 4);
  });
});

describe('validateLayer', () => {
  it('names the offending field', () => {
    const layer = dbf(2, 3, [1, -1, 1, 1], [1, 1, -1, -1, 1, 1], [1, 2], [3, 0.5], [1, -1, 2]);
    expect(() => validateLayer({ ...layer, scaleMid: new Float32Array(3) })).toThrow(
      /layer.scaleMid must have 2 elements/,
    );
    expect(() => validateLayer({ ...layer, scaleA: Float32Array.of(1, Number.NaN) })).toThrow(
      /scaleA\[1\] is NaN/,
    );
    expect(() => validateLayer({ ...layer, rank: 0 })).toThrow(/rank must be an integer >= 1/);
    expect(() => validateLayer({ ...layer, kind: 'dense' } as never)).toThrow(
      /weight must be a Float32Array/,
    );
    expect(() => validateLayer({ ...layer, bias: new Float32Array(3) })).toThrow(/bias must have 2 elements/);
    expect(() => validateLayer({ ...layer, kind: 'x' } as never)).toThrow(/kind must be/);
  });
});
