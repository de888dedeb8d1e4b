import { describe, expect, it } from 'vitest';
import {
  createRng,
  type DenseMatrix,
  float16ToFloat32,
  float32ToFloat16,
  rtnBaseline,
  svdBaseline,
  svidBaseline,
} from '../src/index';
import { createTestBackend } from './helpers/test-backend';

const backend = createTestBackend();
const f16 = (x: number) => float16ToFloat32(float32ToFloat16(x));

function gaussian(seed: number, rows: number, cols: number): DenseMatrix {
  const rng = createRng(seed);
  return { data: Float32Array.from({ length: rows * cols }, () => rng.normal()), rows, cols };
}

describe('RTN baseline', () => {
  it('matches hand-computed asymmetric min–max rounding and counts bits exactly', () => {
    // Row 0: [-1, 0, 0.5, 2]: lo = −1, hi = 2, scale = 3/3 = 1, zero = 1, q = [0, 1, 2, 3] (0.5 rounds up).
    // Row 1: [1, 2, 3, 4]: the grid keeps 0 (lo = 0), scale = f16(4/3), zero = 0, q = round(w/scale) = [1, 2, 2, 3].
    const w = { data: Float32Array.from([-1, 0, 0.5, 2, 1, 2, 3, 4]), rows: 2, cols: 4 };
    const r = rtnBaseline(w, 2, 4);
    const s = f16(4 / 3);
    expect(Array.from(r.weight.subarray(0, 4))).toEqual([-1, 0, 1, 2]);
    expect(Array.from(r.weight.subarray(4))).toEqual([s, 2 * s, 2 * s, 3 * s].map(Math.fround));
    // 8 codes of 2 bits + 2 groups × (16-bit scale + 2-bit zero point).
    expect(r.bits).toBe(8 * 2 + 2 * (16 + 2));
    expect(r.bitsPerWeight).toBe(r.bits / 8);
  });

  it('handles a partial last group and an all-zero group; error falls with bits', () => {
    const w = gaussian(1, 6, 70); // groups of 64 and 6 per row
    for (let j = 64; j < 70; j++) w.data[j] = 0; // row 0's last group is all zero
    const errors = [2, 3, 4].map((bits) => {
      const r = rtnBaseline(w, bits, 64);
      expect(r.bits).toBe(6 * 70 * bits + 12 * (16 + bits));
      expect(Array.from(r.weight.subarray(64, 70))).toEqual([0, 0, 0, 0, 0, 0]);
      return r.relativeError;
    });
    expect(errors[1]!).toBeLessThan(errors[0]! * 0.6);
    expect(errors[2]!).toBeLessThan(errors[1]! * 0.6);
    expect(() => rtnBaseline(w, 0)).toThrow(/bits/);
  });
});

describe('SVID (OneBit) baseline', () => {
  it('is exact (up to F16 vectors) on sign(W) ⊙ a·bᵀ and costs n·m + 16·(n+m) bits', async () => {
    const rng = createRng(2);
    const rows = 20;
    const cols = 30;
    const a = Array.from({ length: rows }, () => 0.2 + rng.uniform());
    const b = Array.from({ length: cols }, () => 0.2 + rng.uniform());
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) data[i * cols + j] = (rng.uniform() < 0.5 ? -1 : 1) * a[i]! * b[j]!;
    const r = await svidBaseline(backend, { data, rows, cols });
    expect(r.relativeError).toBeLessThan(2e-3);
    expect(r.bits).toBe(rows * cols + 16 * (rows + cols));
    for (let i = 0; i < data.length; i++) expect(Math.sign(r.weight[i]!)).toBe(Math.sign(data[i]!));
  });
});

describe('truncated SVD baseline', () => {
  it('picks the largest rank that fits and meets the Eckart–Young error', async () => {
    const rows = 40;
    const cols = 60;
    // Orthonormal factors from the SVD of a Gaussian matrix are unnecessary: use a diagonal-like
    // construction W = Σ σ_i e_{π(i)} f_iᵀ with permuted unit vectors (exact singular values σ_i).
    const sigma = Array.from({ length: 40 }, (_, i) => 2 * 0.85 ** i);
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < 40; i++) data[((i * 7) % rows) * cols + ((i * 11) % cols)] = sigma[i]!;
    const bpw = 2;
    const r = await svdBaseline(backend, { data, rows, cols }, bpw);
    expect(r.rank).toBe(Math.floor((bpw * rows * cols) / (16 * (rows + cols))));
    expect(r.bits).toBe(16 * r.rank * (rows + cols));
    const best = Math.sqrt(
      sigma.slice(r.rank).reduce((s, x) => s + x * x, 0) / sigma.reduce((s, x) => s + x * x, 0),
    );
    expect(r.relativeError).toBeGreaterThan(best * 0.999);
    expect(r.relativeError).toBeLessThan(best * 1.01);
    await expect(svdBaseline(backend, { data, rows, cols }, 0.1)).rejects.toThrow(/too few/);
  });
});
