import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  bitsPerWeight,
  createRng,
  DbfError,
  type DenseMatrix,
  dequantize,
  encodeDbfToBytes,
  type FactorizeProgress,
  factorizeDbf,
  factorizeMdbf,
  largestRankForBpw,
  memorySource,
  openDbf,
  packSigns,
  relativeError,
  shapeOfLayer,
  unpackSigns,
} from '../src/index';
import { createTestBackend } from './helpers/test-backend';

const backend = createTestBackend();

function gaussian(seed: number, rows: number, cols: number): DenseMatrix {
  const rng = createRng(seed);
  return { data: Float32Array.from({ length: rows * cols }, () => rng.normal()), rows, cols };
}

/** diag(a)·S_A·diag(μ)·S_B·diag(b) with random signs and positive scales in [0.5, 1.5]. */
function exactDbf(seed: number, rows: number, cols: number, k: number): DenseMatrix {
  const rng = createRng(seed);
  const signs = (len: number) => Float32Array.from({ length: len }, () => (rng.uniform() < 0.5 ? -1 : 1));
  const positive = (len: number) => Float32Array.from({ length: len }, () => 0.5 + rng.uniform());
  const data = dequantize({
    kind: 'dbf',
    outFeatures: rows,
    inFeatures: cols,
    rank: k,
    signA: packSigns(signs(rows * k), rows, k),
    signB: packSigns(signs(k * cols), k, cols),
    scaleA: positive(rows),
    scaleMid: positive(k),
    scaleB: positive(cols),
  });
  return { data, rows, cols };
}

/** Rank-r Gaussian product (unit-variance entries) plus i.i.d. noise. */
function lowRankPlusNoise(seed: number, rows: number, cols: number, r: number, noise: number): DenseMatrix {
  const rng = createRng(seed);
  const u = Array.from({ length: rows * r }, () => rng.normal());
  const v = Array.from({ length: cols * r }, () => rng.normal());
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let p = 0; p < r; p++) s += u[i * r + p]! * v[j * r + p]!;
      data[i * cols + j] = s / Math.sqrt(r) + noise * rng.normal();
    }
  return { data, rows, cols };
}

describe('DBF factorization', () => {
  it('recovers an exactly DBF-representable matrix far better than a random one (both orientations)', async () => {
    for (const [rows, cols] of [
      [40, 56],
      [56, 40],
    ] as const) {
      const k = 12;
      const exact = await factorizeDbf(exactDbf(1, rows, cols, k), { backend, rank: k, iterations: 40 });
      const random = await factorizeDbf(gaussian(2, rows, cols), { backend, rank: k, iterations: 40 });
      // The ridge (0.03·mean diag) biases the fixed point by about 3 %; a Gaussian matrix stays near 0.74.
      expect(exact.relativeError).toBeLessThan(0.05);
      expect(random.relativeError).toBeGreaterThan(0.6);
      expect(exact.relativeError).toBeLessThan(random.relativeError / 10);
      // The returned layer reproduces the reported error through the float64 reference dequantizer.
      const w = exactDbf(1, rows, cols, k);
      expect(relativeError(w.data, dequantize(exact.layer), rows, cols)).toBeCloseTo(exact.relativeError, 5);
    }
  });

  it('the error decreases with the bits per weight (reference accounting: k = floor(b·n·m/(n+m)))', async () => {
    const w = gaussian(3, 48, 64);
    const errors: number[] = [];
    for (const bpw of [1, 1.5, 2, 3]) {
      const r = await factorizeDbf(w, { backend, bpw, bpwAccounting: 'binary', iterations: 30 });
      expect(r.rank).toBe(Math.floor((bpw * 48 * 64) / (48 + 64)));
      expect(r.bitsPerWeightBinary).toBeLessThanOrEqual(bpw);
      errors.push(r.relativeError);
    }
    for (let i = 1; i < errors.length; i++) expect(errors[i]!).toBeLessThan(errors[i - 1]! - 0.02);
  });

  it('stored-bpw accounting: the layer fits the target and agrees with the size of the written file', async () => {
    const w = gaussian(4, 64, 96);
    const target = 2.5;
    const r = await factorizeDbf(w, { backend, bpw: target, iterations: 5 });
    const shape = { kind: 'dbf', outFeatures: 64, inFeatures: 96 } as const;
    expect(r.rank).toBe(largestRankForBpw(shape, target));
    expect(r.bitsPerWeight).toBe(bitsPerWeight(shapeOfLayer(r.layer)));
    expect(r.bitsPerWeight).toBeLessThanOrEqual(target);
    expect(bitsPerWeight({ ...shape, rank: r.rank + 1 })).toBeGreaterThan(target);
    const bytes = encodeDbfToBytes([{ name: 'w', layer: r.layer }]);
    const file = await openDbf(memorySource(bytes));
    expect(file.layer('w').bitsPerWeight).toBe(r.bitsPerWeight);
    // F16 storage of the balanced scales changes the error only in the 4th digit.
    const stored = await file.loadLayer('w');
    expect(Math.abs(relativeError(w.data, dequantize(stored), 64, 96) - r.relativeError)).toBeLessThan(2e-3);
  });

  it('is deterministic under a seed, and the seed matters', async () => {
    const w = gaussian(5, 24, 40);
    const a = await factorizeDbf(w, { backend, rank: 10, iterations: 15, seed: 7 });
    const b = await factorizeDbf(w, { backend, rank: 10, iterations: 15, seed: 7 });
    const c = await factorizeDbf(w, { backend, rank: 10, iterations: 15, seed: 8 });
    expect(b.layer.signA.words).toEqual(a.layer.signA.words);
    expect(b.layer.signB.words).toEqual(a.layer.signB.words);
    expect(b.layer.scaleA).toEqual(a.layer.scaleA);
    expect(b.layer.scaleMid).toEqual(a.layer.scaleMid);
    expect(b.layer.scaleB).toEqual(a.layer.scaleB);
    expect(dequantize(c.layer)).not.toEqual(dequantize(a.layer));
  });

  it('reports progress with the current error, and the last report matches the result', async () => {
    const w = gaussian(6, 32, 48);
    const reports: FactorizeProgress[] = [];
    const r = await factorizeDbf(w, {
      backend,
      rank: 16,
      iterations: 23,
      progressInterval: 5,
      onProgress: (p) => reports.push(p),
    });
    expect(reports.map((p) => p.iteration)).toEqual([5, 10, 15, 20, 23]);
    expect(reports.every((p) => p.iterations === 23)).toBe(true);
    expect(reports[0]!.relativeError).toBeGreaterThan(reports.at(-1)!.relativeError - 1e-9);
    expect(reports.at(-1)!.relativeError).toBeCloseTo(r.relativeError, 4);
  });

  it('aborts promptly with AbortedError', async () => {
    const w = gaussian(7, 32, 48);
    const before = new AbortController();
    before.abort();
    await expect(factorizeDbf(w, { backend, rank: 8, signal: before.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    const during = new AbortController();
    let reports = 0;
    const run = factorizeDbf(w, {
      backend,
      rank: 8,
      iterations: 10_000,
      progressInterval: 3,
      signal: during.signal,
      onProgress: () => {
        reports++;
        during.abort(new Error('user cancelled'));
      },
    });
    await expect(run).rejects.toThrow(/aborted: user cancelled/);
    expect(reports).toBe(1);
    // A timer can abort too: the loop yields to the event loop.
    const timed = new AbortController();
    const started = performance.now();
    setTimeout(() => timed.abort(), 30);
    const error = await factorizeDbf(w, {
      backend,
      rank: 8,
      iterations: 1_000_000,
      signal: timed.signal,
    }).catch((e) => e);
    expect(DbfError.isInstance(error) && error.code).toBe('ABORTED');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('importance vectors steer the error to the important rows and columns', async () => {
    const w = gaussian(8, 32, 40);
    const outImp = new Float32Array(32).fill(1);
    for (let i = 0; i < 8; i++) outImp[i] = 400; // first 8 outputs 400× as important (D = 20)
    const plain = await factorizeDbf(w, { backend, rank: 12, iterations: 30 });
    const weighted = await factorizeDbf(w, { backend, rank: 12, iterations: 30, outputImportance: outImp });
    const rowsError = (layer: typeof plain.layer) => {
      const approx = dequantize(layer);
      return relativeError(w.data.subarray(0, 8 * 40), approx.subarray(0, 8 * 40), 8, 40);
    };
    expect(rowsError(weighted.layer)).toBeLessThan(0.8 * rowsError(plain.layer));
    // The objective error is the weighted one, and it beats the unweighted factorization on it.
    const dOut = Float64Array.from(outImp, (v) => Math.sqrt(v) + 1e-8);
    expect(weighted.objectiveRelativeError).toBeCloseTo(
      relativeError(w.data, dequantize(weighted.layer), 32, 40, dOut),
      6,
    );
    expect(weighted.objectiveRelativeError).toBeLessThan(
      relativeError(w.data, dequantize(plain.layer), 32, 40, dOut),
    );
  });

  it('rejects bad input with actionable errors', async () => {
    const ok = gaussian(9, 8, 8);
    const bad = Float32Array.from(ok.data);
    bad[13] = Number.NaN;
    await expect(factorizeDbf({ ...ok, data: bad }, { backend, rank: 2 })).rejects.toThrow(
      /row 1, column 5\) is NaN/,
    );
    bad[13] = Number.POSITIVE_INFINITY;
    await expect(factorizeDbf({ ...ok, data: bad }, { backend, rank: 2 })).rejects.toThrow(
      /Infinity; weights must be finite/,
    );
    await expect(
      factorizeDbf({ data: new Float32Array(8), rows: 1, cols: 8 }, { backend, rank: 1 }),
    ).rejects.toThrow(/1×8 matrix: both dimensions must be at least 2/);
    await expect(
      factorizeDbf({ data: new Float32Array(0), rows: 0, cols: 4 }, { backend, rank: 1 }),
    ).rejects.toThrow(/at least 2/);
    await expect(
      factorizeDbf({ data: new Float32Array(7), rows: 2, cols: 4 }, { backend, rank: 1 }),
    ).rejects.toThrow(/8 values/);
    await expect(factorizeDbf(ok, { backend, bpw: 0.5 })).rejects.toThrow(/needs at least .* impossible/);
    await expect(factorizeDbf(ok, { backend, bpw: 1, rank: 2 })).rejects.toThrow(/either bpw or rank/);
    await expect(factorizeDbf(ok, { backend })).rejects.toThrow(/target bpw .* or an explicit rank/);
    await expect(factorizeDbf(ok, { backend, bpw: Number.NaN })).rejects.toThrow(/bpw must be a number/);
    await expect(factorizeDbf(ok, { backend, rank: 0 })).rejects.toThrow(/rank must be an integer/);
    await expect(factorizeDbf(ok, { backend, rank: 2, iterations: 0 })).rejects.toThrow(/iterations/);
    await expect(factorizeDbf(ok, { backend, rank: 2, seed: -1 })).rejects.toThrow(/seed/);
    await expect(factorizeDbf(ok, { backend, rank: 2, init: 'zeros' as 'svd' })).rejects.toThrow(
      /init must be/,
    );
    await expect(factorizeDbf(ok, { backend, rank: 2, rhoFloor: 2 })).rejects.toThrow(/rhoFloor/);
    await expect(
      factorizeDbf(ok, { backend, rank: 2, inputImportance: new Float32Array(7) }),
    ).rejects.toThrow(/inputImportance must have 8 elements/);
    await expect(
      factorizeDbf(ok, { backend, rank: 2, outputImportance: new Float32Array(8).fill(-1) }),
    ).rejects.toThrow(/outputImportance\[0\] is -1/);
    await expect(factorizeDbf(ok, { backend: {} as typeof backend, rank: 2 })).rejects.toThrow(
      /KernelBackend/,
    );
    await expect(factorizeDbf(ok, { backend, bpw: 2, bpwAccounting: 'bytes' as 'binary' })).rejects.toThrow(
      /bpwAccounting/,
    );
    const error = await factorizeDbf(ok, { backend, rank: 0 }).catch((e) => e);
    expect(DbfError.isInstance(error) && error.code).toBe('INVALID_ARGUMENT');
  });

  it('allows k above min(n, m) as the reference does, with either initialisation', async () => {
    const w = gaussian(19, 12, 20);
    for (const init of ['random', 'svd'] as const) {
      const r = await factorizeDbf(w, { backend, rank: 16, iterations: 20, init });
      expect(r.layer.rank).toBe(16);
      expect(relativeError(w.data, dequantize(r.layer), 12, 20)).toBeCloseTo(r.relativeError, 5);
      expect(r.relativeError).toBeLessThan(0.35);
    }
  });

  it('a zero matrix factorizes to a zero layer', async () => {
    const r = await factorizeDbf(
      { data: new Float32Array(6 * 10), rows: 6, cols: 10 },
      { backend, rank: 3, iterations: 4 },
    );
    expect(r.relativeError).toBe(0);
    expect(dequantize(r.layer).every((x) => x === 0)).toBe(true);
  });
});

describe('MDBF factorization', () => {
  it('with l = 1 and DBF settings it is exactly DBF (random and SVD init, both orientations)', async () => {
    for (const [rows, cols] of [
      [24, 36],
      [36, 24],
    ] as const) {
      const w = gaussian(10, rows, cols);
      for (const init of ['random', 'svd'] as const) {
        const common = { backend, rank: 9, iterations: 12, seed: 3, init };
        const dbf = await factorizeDbf(w, { ...common, rhoFloor: 0.03 });
        const mdbf = await factorizeMdbf(w, { ...common, rhoFloor: 0.03, envelopeRank: 1 });
        expect(mdbf.layer.kind).toBe('mdbf');
        expect(mdbf.layer.envelopeRank).toBe(1);
        expect(dequantize(mdbf.layer)).toEqual(dequantize(dbf.layer));
        expect(mdbf.relativeError).toBe(dbf.relativeError);
      }
    }
    // DBF's defaults (random init, ρ0 from 0) given to MDBF reproduce factorizeDbf's default run.
    const w = gaussian(11, 20, 30);
    const dbf = await factorizeDbf(w, { backend, rank: 8, iterations: 10 });
    const mdbf = await factorizeMdbf(w, {
      backend,
      rank: 8,
      iterations: 10,
      envelopeRank: 1,
      init: 'random',
      rhoFloor: 0,
    });
    expect(dequantize(mdbf.layer)).toEqual(dequantize(dbf.layer));
  });

  it('l = 2 and l = 4 beat DBF at the same stored bits per weight on a low-rank-plus-noise matrix', async () => {
    const w = lowRankPlusNoise(12, 96, 128, 3, 0.03);
    const bpw = 1.5;
    const dbf = await factorizeDbf(w, { backend, bpw, iterations: 25 });
    for (const l of [2, 4]) {
      const mdbf = await factorizeMdbf(w, { backend, bpw, iterations: 25, envelopeRank: l });
      expect(mdbf.bitsPerWeight).toBeLessThanOrEqual(bpw);
      expect(mdbf.rank).toBeLessThan(dbf.rank); // the envelopes cost sign bits...
      expect(mdbf.relativeError).toBeLessThan(0.85 * dbf.relativeError); // ...and still win
    }
  });

  it('the returned layer has l-rank envelopes that reproduce the reported error, and deterministic', async () => {
    const w = gaussian(13, 40, 32);
    const a = await factorizeMdbf(w, { backend, rank: 12, envelopeRank: 3, iterations: 15, seed: 4 });
    const b = await factorizeMdbf(w, { backend, rank: 12, envelopeRank: 3, iterations: 15, seed: 4 });
    expect(a.layer.envA.length).toBe(40 * 3);
    expect(a.layer.envQU.length).toBe(12 * 3);
    expect(a.layer.envB.length).toBe(32 * 3);
    expect(relativeError(w.data, dequantize(a.layer), 40, 32)).toBeCloseTo(a.relativeError, 5);
    expect(dequantize(b.layer)).toEqual(dequantize(a.layer));
    // More envelope rank at the same k can only help here (same init family, same iterations).
    const l1 = await factorizeMdbf(w, { backend, rank: 12, envelopeRank: 1, iterations: 15, seed: 4 });
    expect(a.relativeError).toBeLessThan(l1.relativeError);
  });

  it('keeps |M| whole when l reaches the smaller dimension of a factor', async () => {
    const w = gaussian(14, 12, 10);
    const r = await factorizeMdbf(w, { backend, rank: 3, envelopeRank: 3, iterations: 8 });
    expect(relativeError(w.data, dequantize(r.layer), 12, 10)).toBeCloseTo(r.relativeError, 5);
    // With l = k the factors are unconstrained apart from their sign patterns: a rank-3 least-squares fit.
    expect(r.relativeError).toBeLessThan(0.85);
  });

  it('activation-aware variant: lower H-weighted error than the plain objective', async () => {
    const rows = 24;
    const cols = 32;
    const w = gaussian(15, rows, cols);
    // Inputs with very unequal scales: X = Z·diag(s), s_j = 0.05 + 3·(j/m)².
    const rng = createRng(16);
    const samples = 200;
    const x = new Float64Array(samples * cols);
    for (let t = 0; t < samples; t++)
      for (let j = 0; j < cols; j++) x[t * cols + j] = rng.normal() * (0.05 + 3 * (j / cols) ** 2);
    const gram = new Float32Array(cols * cols);
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let t = 0; t < samples; t++) s += x[t * cols + i]! * x[t * cols + j]!;
        gram[i * cols + j] = s;
      }
    const hError = (approx: Float32Array) => {
      // ‖X·(W − Ŵ)ᵀ‖_F / ‖X·Wᵀ‖_F
      let num = 0;
      let den = 0;
      for (let t = 0; t < samples; t++)
        for (let i = 0; i < rows; i++) {
          let e = 0;
          let y = 0;
          for (let j = 0; j < cols; j++) {
            y += x[t * cols + j]! * w.data[i * cols + j]!;
            e += x[t * cols + j]! * (w.data[i * cols + j]! - approx[i * cols + j]!);
          }
          num += e * e;
          den += y * y;
        }
      return Math.sqrt(num / den);
    };
    const plain = await factorizeMdbf(w, { backend, rank: 10, envelopeRank: 2, iterations: 30 });
    const aware = await factorizeMdbf(w, { backend, rank: 10, envelopeRank: 2, iterations: 30, gram });
    expect(aware.objectiveRelativeError).toBeCloseTo(hError(dequantize(aware.layer)), 4);
    expect(hError(dequantize(aware.layer))).toBeLessThan(0.8 * hError(dequantize(plain.layer)));
    await expect(factorizeMdbf(w, { backend, rank: 4, gram: new Float32Array(5) })).rejects.toThrow(
      /gram must be/,
    );
    await expect(
      factorizeMdbf(w, { backend, rank: 4, gram, inputImportance: new Float32Array(cols).fill(1) }),
    ).rejects.toThrow(/one or the other/);
  });

  it('validates the envelope rank and the MDBF rank range', async () => {
    const w = gaussian(17, 8, 12);
    await expect(factorizeMdbf(w, { backend, rank: 2, envelopeRank: 0 })).rejects.toThrow(/envelopeRank/);
    await expect(factorizeMdbf(w, { backend, rank: 9 })).rejects.toThrow(
      /rank must be an integer in \[1, 8\]/,
    );
    // From a bpw, r is clamped to min(n, m) as the reference does.
    const r = await factorizeMdbf(w, { backend, bpw: 30, iterations: 2 });
    expect(r.rank).toBe(8);
  });

  it('signs are ±1 and envelopes finite in the packed result', async () => {
    const w = gaussian(18, 16, 20);
    const r = await factorizeMdbf(w, { backend, rank: 6, envelopeRank: 2, iterations: 5 });
    expect(unpackSigns(r.layer.signA).every((s) => s === 1 || s === -1)).toBe(true);
    expect(
      [...r.layer.envA, ...r.layer.envQU, ...r.layer.envQV, ...r.layer.envB].every(Number.isFinite),
    ).toBe(true);
  });
});
