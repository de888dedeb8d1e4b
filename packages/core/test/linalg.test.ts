import { describe, expect, it } from 'vitest';
import {
  CholeskySolver,
  choleskyInPlace,
  choleskySolveInPlace,
  createRng,
  DbfError,
  householderQr,
  powerIteration,
  subspaceIteration,
  svdJacobi,
  symmetricEigen,
  truncatedSvd,
} from '../src/index';
import { createTestBackend } from './helpers/test-backend';

const backend = createTestBackend();

/** Random matrix with orthonormal columns (rows×cols), built by Gram–Schmidt in float64. */
function randomOrthonormal(seed: number, rows: number, cols: number): Float64Array {
  const rng = createRng(seed);
  const q = new Float64Array(rows * cols);
  for (let j = 0; j < cols; j++) {
    const v = Array.from({ length: rows }, () => rng.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += q[i * cols + p]! * v[i]!;
        for (let i = 0; i < rows; i++) v[i]! -= d * q[i * cols + p]!;
      }
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < rows; i++) q[i * cols + j] = v[i]! / norm;
  }
  return q;
}

/** U·diag(s)·Vᵀ in float64 (U rows×r, V cols×r). */
function compose(
  u: Float64Array,
  s: readonly number[],
  v: Float64Array,
  rows: number,
  cols: number,
): Float64Array {
  const r = s.length;
  const a = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let x = 0;
      for (let p = 0; p < r; p++) x += u[i * r + p]! * s[p]! * v[j * r + p]!;
      a[i * cols + j] = x;
    }
  return a;
}

function randomSpd(seed: number, k: number): Float64Array {
  // A = GᵀG/k + 0.1·I is SPD with a moderate condition number.
  const rng = createRng(seed);
  const g = Array.from({ length: k * k }, () => rng.normal());
  const a = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += g[p * k + i]! * g[p * k + j]!;
      a[i * k + j] = s / k + (i === j ? 0.1 : 0);
    }
  return a;
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

describe('Cholesky', () => {
  it('factors exactly a hand-computed 3×3 SPD matrix', () => {
    // A = L·Lᵀ with L = [[2,0,0],[1,3,0],[-1,2,1]].
    const a = Float64Array.from([4, 2, -2, 2, 10, 5, -2, 5, 6]);
    choleskyInPlace(a, 3);
    expect(Array.from(a)).toEqual([2, 0, 0, 1, 3, 0, -1, 2, 1]);
    // Solve A·x = b for b = A·[1, −2, 3] = [-6, -3, 6].
    const b = Float64Array.from([-6, -3, 6]);
    choleskySolveInPlace(a, 3, b, 1);
    expect(Array.from(b).map((x) => Math.round(x * 1e12) / 1e12)).toEqual([1, -2, 3]);
  });

  it('blocked backend solver: tiny residuals for many right-hand sides, with a shift', async () => {
    for (const k of [5, 70, 150]) {
      const a = randomSpd(k, k);
      const shift = 0.5;
      const solver = new CholeskySolver(backend, k, { blockSize: 16 });
      await solver.factor(Float32Array.from(a), shift);
      const nrhs = 7;
      const rng = createRng(99);
      const x = Array.from({ length: k * nrhs }, () => rng.normal());
      // b = (A + shift·I)·x in float64
      const b = new Float32Array(k * nrhs);
      for (let i = 0; i < k; i++)
        for (let c = 0; c < nrhs; c++) {
          let s = shift * x[i * nrhs + c]!;
          for (let p = 0; p < k; p++) s += a[i * k + p]! * x[p * nrhs + c]!;
          b[i * nrhs + c] = s;
        }
      await solver.solve(b, nrhs);
      const err = maxAbs(Array.from(b, (v, i) => v - x[i]!));
      expect(err).toBeLessThan(2e-4);
      // The factor reproduces A + shift·I.
      const l = solver.factorL;
      let worst = 0;
      for (let i = 0; i < k; i++)
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let p = 0; p <= j; p++) s += l[i * k + p]! * l[j * k + p]!;
          worst = Math.max(worst, Math.abs(s - a[i * k + j]! - (i === j ? shift : 0)));
        }
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('default blocking (single block and blocks with a remainder) solves to float32 accuracy, repeatedly', async () => {
    for (const k of [20, 100]) {
      const a = randomSpd(k + 1, k);
      const solver = new CholeskySolver(backend, k);
      for (const [shift, nrhs] of [
        [0.03, 9],
        [1.03, 33],
      ] as const) {
        await solver.factor(Float32Array.from(a), shift);
        const rng = createRng(k);
        const x = Array.from({ length: k * nrhs }, () => rng.normal());
        const b = new Float32Array(k * nrhs);
        for (let i = 0; i < k; i++)
          for (let c = 0; c < nrhs; c++) {
            let s = shift * x[i * nrhs + c]!;
            for (let p = 0; p < k; p++) s += a[i * k + p]! * x[p * nrhs + c]!;
            b[i * nrhs + c] = s;
          }
        await solver.solve(b, nrhs);
        expect(maxAbs(Array.from(b, (v, i) => v - x[i]!))).toBeLessThan(2e-4);
      }
    }
  });

  it('names the failing pivot when the matrix is not positive definite', async () => {
    const a = Float64Array.from([1, 2, 2, 1]); // eigenvalues 3 and −1
    expect(() => choleskyInPlace(a, 2)).toThrow(/not symmetric positive definite.*row 1/);
    const k = 80;
    const bad = new Float32Array(k * k);
    for (let i = 0; i < k; i++) bad[i * k + i] = i === 50 ? -1 : 1;
    const solver = new CholeskySolver(backend, k, { blockSize: 16 });
    await expect(solver.factor(bad, 0, 'G')).rejects.toThrow(/G is not symmetric positive definite.*row 50/);
    await expect(solver.solve(new Float32Array(k), 1)).rejects.toThrow(/before a successful factor/);
    try {
      choleskyInPlace(a, 2);
    } catch (error) {
      expect(DbfError.isInstance(error) && error.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('power iteration', () => {
  it('recovers an exact rank-1 matrix σ·u·vᵀ', () => {
    const rows = 30;
    const cols = 17;
    const u = randomOrthonormal(1, rows, 1);
    const v = randomOrthonormal(2, cols, 1);
    const a = Float32Array.from(compose(u, [3.5], v, rows, cols));
    const t = powerIteration(a, rows, cols, { iterations: 3, seed: 5 });
    expect(t.sigma).toBeCloseTo(3.5, 5);
    // Singular vectors are defined up to a common sign.
    const sign = Math.sign(t.u[0]! * u[0]!);
    for (let i = 0; i < rows; i++) expect(t.u[i]! * sign).toBeCloseTo(u[i]!, 5);
    for (let j = 0; j < cols; j++) expect(t.v[j]! * sign).toBeCloseTo(v[j]!, 5);
  });

  it('on |A| gives the non-negative Perron vectors of a positive rank-1 magnitude', () => {
    // A = S ⊙ (p·qᵀ) with random signs: |A| = p·qᵀ, so the triplet is (‖p‖‖q‖, p/‖p‖, q/‖q‖).
    const rng = createRng(3);
    const p = Array.from({ length: 12 }, () => 0.1 + rng.uniform());
    const q = Array.from({ length: 9 }, () => 0.1 + rng.uniform());
    const a = new Float32Array(12 * 9);
    for (let i = 0; i < 12; i++)
      for (let j = 0; j < 9; j++) a[i * 9 + j] = (rng.uniform() < 0.5 ? -1 : 1) * p[i]! * q[j]!;
    const t = powerIteration(a, 12, 9, { absolute: true, iterations: 5 });
    const np = Math.hypot(...p);
    const nq = Math.hypot(...q);
    expect(t.sigma).toBeCloseTo(np * nq, 5);
    for (let i = 0; i < 12; i++) expect(t.u[i]).toBeCloseTo(p[i]! / np, 6);
    for (let j = 0; j < 9; j++) expect(t.v[j]).toBeCloseTo(q[j]! / nq, 6);
  });

  it('returns σ = 0 for a zero matrix', () => {
    const t = powerIteration(new Float32Array(6), 2, 3, { absolute: true });
    expect(t.sigma).toBe(0);
    expect(Array.from(t.u)).toEqual([0, 0]);
  });
});

describe('QR, Jacobi SVD and symmetric eigendecomposition', () => {
  it('Householder QR: Q orthonormal, R upper triangular, Q·R = A (also rank deficient)', () => {
    const rng = createRng(4);
    const rows = 20;
    const cols = 6;
    const a = Array.from({ length: rows * cols }, () => rng.normal());
    for (let i = 0; i < rows; i++) a[i * cols + 3] = 2 * a[i * cols + 1]!; // column 3 = 2·column 1
    const { q, r } = householderQr(a, rows, cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) expect(Math.abs(r[i * cols + j]!)).toBe(0);
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++) {
        let d = 0;
        for (let p = 0; p < rows; p++) d += q[p * cols + i]! * q[p * cols + j]!;
        expect(d).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let p = 0; p < cols; p++) s += q[i * cols + p]! * r[p * cols + j]!;
        expect(s).toBeCloseTo(a[i * cols + j]!, 12);
      }
  });

  it('Jacobi SVD recovers constructed singular values and subspaces (wide and tall)', () => {
    const sigma = [10, 4, 1, 0.25, 1e-3];
    for (const [rows, cols] of [
      [9, 5],
      [5, 12],
    ] as const) {
      const r = 5;
      const u0 = randomOrthonormal(10 + rows, rows, r);
      const v0 = randomOrthonormal(20 + cols, cols, r);
      const a = compose(u0, sigma, v0, rows, cols);
      const svd = svdJacobi(a, rows, cols);
      for (let i = 0; i < r; i++) expect(svd.s[i]).toBeCloseTo(sigma[i]!, 12);
      const back = compose(svd.u, Array.from(svd.s), svd.v, rows, cols);
      expect(maxAbs(back.map((x, i) => x - a[i]!))).toBeLessThan(1e-12);
    }
  });

  it('symmetric eigendecomposition of Q·diag(λ)·Qᵀ', () => {
    const n = 40;
    const q = randomOrthonormal(7, n, n);
    const lambda = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -1 : 1) * (i + 1) * 0.5);
    const a = compose(q, lambda, q, n, n);
    const eig = symmetricEigen(a, n);
    const sorted = [...lambda].sort((x, y) => y - x);
    for (let i = 0; i < n; i++) expect(eig.values[i]).toBeCloseTo(sorted[i]!, 10);
    // A·x_i = λ_i·x_i and the vectors are orthonormal.
    for (let i = 0; i < n; i++) {
      let resid = 0;
      let norm = 0;
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let c = 0; c < n; c++) s += a[r * n + c]! * eig.vectors[c * n + i]!;
        resid = Math.max(resid, Math.abs(s - eig.values[i]! * eig.vectors[r * n + i]!));
        norm += eig.vectors[r * n + i]! ** 2;
      }
      expect(resid).toBeLessThan(1e-10);
      expect(norm).toBeCloseTo(1, 12);
    }
    expect(() => symmetricEigen([1, Number.NaN, Number.NaN, 1], 2)).toThrow(/finite/);
  });
});

describe('truncated SVD on the backend', () => {
  const rows = 120;
  const cols = 80;
  const sigma = Array.from({ length: 80 }, (_, i) => 10 * 0.9 ** i);
  const u0 = randomOrthonormal(31, rows, 80);
  const v0 = randomOrthonormal(32, cols, 80);
  const a64 = compose(u0, sigma, v0, rows, cols);
  const a = Float32Array.from(a64);

  it('randomized SVD matches the constructed spectrum and the Eckart–Young error', async () => {
    for (const rank of [5, 20, 60]) {
      const svd = await truncatedSvd(backend, a, rows, cols, rank, { seed: 1 });
      for (let i = 0; i < rank; i++) expect(Math.abs(svd.s[i]! - sigma[i]!) / sigma[i]!).toBeLessThan(2e-3);
      // Eckart–Young: ‖A − A_r‖_F² = Σ_{i>r} σ_i² for the best rank-r approximation.
      const approx = compose(
        Float64Array.from(svd.u),
        Array.from(svd.s),
        Float64Array.from(svd.v),
        rows,
        cols,
      );
      let err2 = 0;
      for (let i = 0; i < a64.length; i++) err2 += (a64[i]! - approx[i]!) ** 2;
      const best = sigma.slice(rank).reduce((s, x) => s + x * x, 0);
      expect(Math.sqrt(err2) / Math.sqrt(best)).toBeLessThan(1.01);
      expect(Math.sqrt(err2) / Math.sqrt(best)).toBeGreaterThan(0.999);
      // Orthonormal singular vectors.
      for (let i = 0; i < rank; i += 7)
        for (let j = 0; j < rank; j += 5) {
          let d = 0;
          for (let r = 0; r < rows; r++) d += svd.u[r * rank + i]! * svd.u[r * rank + j]!;
          expect(d).toBeCloseTo(i === j ? 1 : 0, 4);
        }
    }
  });

  it('is exact when the sketch spans the whole space, and deterministic under a seed', async () => {
    const full = await truncatedSvd(backend, a, rows, cols, 80, { seed: 9 });
    for (let i = 0; i < 80; i++) expect(Math.abs(full.s[i]! - sigma[i]!)).toBeLessThan(1e-4 * sigma[0]!);
    const again = await truncatedSvd(backend, a, rows, cols, 80, { seed: 9 });
    expect(again.u).toEqual(full.u);
    expect(again.s).toEqual(full.s);
  });

  it('block subspace iteration finds the top singular triplets', async () => {
    const svd = await subspaceIteration(backend, a, rows, cols, 3, { seed: 2, iterations: 30 });
    for (let i = 0; i < 3; i++) expect(svd.s[i]! / sigma[i]!).toBeCloseTo(1, 3);
    // The top-3 left subspace matches: |⟨u_i, u0_i⟩| ≈ 1.
    for (let i = 0; i < 3; i++) {
      let d = 0;
      for (let r = 0; r < rows; r++) d += svd.u[r * 3 + i]! * u0[r * 80 + i]!;
      expect(Math.abs(d)).toBeGreaterThan(0.99);
    }
  });

  it('rejects bad ranks', async () => {
    await expect(truncatedSvd(backend, a, rows, cols, 81)).rejects.toThrow(
      /rank must be an integer in \[1, 80\]/,
    );
    await expect(truncatedSvd(backend, a, rows, cols + 1, 3)).rejects.toThrow(/rows·cols/);
  });
});
