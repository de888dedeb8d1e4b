import { AbortedError, InvalidArgumentError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import { bitsPerWeight, shapeOfLayer } from '../layers/bits-per-weight';
import { packSigns } from '../layers/packed-signs';
import type { MdbfLayer } from '../layers/types';
import { CholeskySolver } from '../linalg/cholesky';
import { symmetricEigen } from '../linalg/symmetric-eigen';
import { truncatedSvd } from '../linalg/truncated-svd';
import { describe } from '../util/assert';
import { createRng, type Rng } from '../util/random';
import { yieldToEventLoop } from './admm';
import { balance, fixEnvelopeSigns, resolveSettings, transpose } from './common';
import { EnvelopeProjector } from './projection';
import { reconstructWeight, relativeError } from './reconstruct';
import type { DenseMatrix, MdbfOptions, MdbfResult } from './types';

/**
 * Activation-aware MDBF (algorithms.md §2.4 step 2 and §2.5), for `options.gram = XᵀX` (m×m).
 *
 * - Initialisation (SVD-LLM, Cholesky whitening): `H + 1e-4·mean(diag H)·I = L·Lᵀ`; rank-r SVD of `W·L`
 *   gives U√Σ and `V' = L⁻ᵀ·V√Σ` (computed as (LLᵀ)⁻¹·L·V√Σ with the same Cholesky factor); then signs and
 *   rank-l envelopes as in the plain closed form. With `init: 'random'` the factors start N(0,1).
 * - ADMM on `tr((W − F·G)·Ĥ·(W − F·G)ᵀ)` with `Ĥ = (H + 1e-3·mean(diag H)·I)/mean(diag H)`. This is the
 *   plain DBF/MDBF engine carried over to the Ĥ-metric, so that with H ∝ I it is the plain algorithm:
 *   each half-step normalises the fixed factor (G's rows to unit Ĥ-norm, F's columns to unit norm), adds
 *   the ridge 0.03·mean(diag), and runs 3 ADMM steps with Π_l (ρ0 = floor + (1 − floor)·ramp³ for the
 *   first solve, then ρ = 1; duals kept across iterations).
 *   F-update: a Cholesky solve with `G̃·Ĥ·G̃ᵀ + (λ + ρ)·I`.
 *   G-update: the Sylvester equation `(F̃ᵀF̃ + λI)·G·Ĥ + ρ·G = F̃ᵀ·W·Ĥ + ρ·(Z − U)`, diagonalised with the
 *   eigenvectors of Ĥ (once) and of F̃ᵀF̃ (each iteration), as the MDBF reference's Hessian ADMM does.
 *   The best iterate by the Ĥ-weighted error (checked every min(progressInterval, T/10) iterations and at
 *   the end) is kept.
 *   Deviation from the reference's Hessian ADMM: it uses an absolute ρ (scaled by N·mean(diag H)) and a
 *   per-component gauge balance instead of normalising the fixed factor; that makes it depend on the
 *   scale of W (it diverged in our tests on unit-scale matrices), so the normalised form is used here.
 * - Re-extraction of signs and envelopes by an SVD of the magnitudes (exact: they have rank ≤ l).
 *
 * No transposition (the Gram matrix belongs to the input side). Cost per iteration: GEMMs with m×m
 * matrices and one r×r symmetric eigendecomposition in JS.
 */
export async function factorizeMdbfActivationAware(
  weight: DenseMatrix,
  options: MdbfOptions,
  l: number,
  started: number,
): Promise<MdbfResult> {
  const s = resolveSettings(weight, options, 'mdbf', l, { init: 'svd', rhoFloor: 0.03 });
  const { backend, n, m, k: r } = s;
  const gram = options.gram!;
  if (!(gram instanceof Float32Array) || gram.length !== m * m) {
    throw new InvalidArgumentError(
      `gram must be a Float32Array of in_features² = ${m * m} values, got ${describe(gram)}.`,
    );
  }
  const h = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const x = gram[i * m + j]!;
      if (!Number.isFinite(x))
        throw new InvalidArgumentError(`gram[${i * m + j}] is ${x}; it must be finite.`);
      h[i * m + j] = 0.5 * (x + gram[j * m + i]!);
    }
  }
  let trace = 0;
  for (let i = 0; i < m; i++) trace += h[i * m + i]!;
  const hMean = trace / m;
  if (!(hMean > 0))
    throw new InvalidArgumentError('gram must be positive semi-definite with a positive diagonal.');
  const rng = createRng(s.seed);
  const w = weight.data;

  // Initialisation.
  let zF: Float32Array; // Fᵀ, r×n
  let zG: Float32Array; // G, r×m
  if (s.init === 'random') {
    zF = new Float32Array(r * n).map(() => rng.normal());
    zG = new Float32Array(r * m).map(() => rng.normal());
  } else {
    ({ zF, zG } = await svdLlmInit(backend, w, n, m, h, hMean, r, l, rng));
  }

  // Ĥ and its eigendecomposition.
  const hHat = new Float32Array(m * m);
  for (let i = 0; i < m * m; i++) hHat[i] = h[i]! / hMean;
  for (let i = 0; i < m; i++) hHat[i * m + i]! += 1e-3;
  const eigH = symmetricEigen(hHat, m);
  const theta = Float64Array.from(eigH.values, (x) => Math.max(x, 1e-12));
  const qH = Float32Array.from(eigH.vectors); // m×m, columns = eigenvectors
  const wh = new Float32Array(n * m);
  await backend.gemm({ a: w, b: hHat, m: n, n: m, k: m, c: wh });
  let whw = 0; // tr(W·Ĥ·Wᵀ)
  for (let i = 0; i < n * m; i++) whw += wh[i]! * w[i]!;

  const uF = new Float32Array(r * n);
  const uG = new Float32Array(r * m);
  const t = new Float32Array(r * Math.max(n, m));
  const bh = new Float32Array(r * Math.max(n, m));
  const cF = new Float32Array(r * n);
  const cG = new Float32Array(r * m);
  const gs = new Float32Array(r * m); // G with unit Ĥ-norm rows
  const tg = new Float32Array(r * m);
  const fs = new Float32Array(r * n); // Fᵀ with unit rows (F with unit columns)
  const gramR = new Float32Array(r * r);
  const tmp1 = new Float32Array(r * m);
  const tmp2 = new Float32Array(r * m);
  const recon = new Float32Array(n * m);
  const eh = new Float32Array(n * m);
  const norms = new Float64Array(r);
  const solverStart = new CholeskySolver(backend, r);
  const solverOne = new CholeskySolver(backend, r);
  const projF = new EnvelopeProjector(backend, l, s.powerIterations, rng, r, n);
  const projG = new EnvelopeProjector(backend, l, s.powerIterations, rng, r, m);
  const T = s.iterations;
  const checkEvery = Math.min(s.progressInterval, Math.max(1, Math.floor(T / 10)));
  let best = { err: Number.POSITIVE_INFINITY, fT: Float32Array.from(zF), g: Float32Array.from(zG) };
  let lastYield = now();

  /** tr(E·Ĥ·Eᵀ) for Ŵ = fTᵀ·g. */
  const hError = async (fT: Float32Array, g: Float32Array): Promise<number> => {
    await backend.gemm({ a: fT, b: g, m: n, n: m, k: r, transposeA: true, c: recon });
    for (let i = 0; i < n * m; i++) recon[i] = w[i]! - recon[i]!;
    await backend.gemm({ a: recon, b: hHat, m: n, n: m, k: m, c: eh });
    let e = 0;
    for (let i = 0; i < n * m; i++) e += eh[i]! * recon[i]!;
    return e;
  };

  for (let it = 0; it < T; it++) {
    if (options.signal?.aborted) throw abortError(options.signal);
    if (now() - lastYield > 25) {
      await yieldToEventLoop();
      lastYield = now();
      if (options.signal?.aborted) throw abortError(options.signal);
    }
    const ramp = Math.min(1, it / Math.max(1, T - 3));
    const rho0 = s.rhoFloor + (1 - s.rhoFloor) * ramp ** 3;

    // F-update. G̃ = G with unit Ĥ-norm rows; Fᵀ solves (G̃ĤG̃ᵀ + λ·I + ρ·I)·Fᵀ = G̃·Ĥ·Wᵀ + ρ·(Z − U).
    await backend.gemm({ a: zG, b: hHat, m: r, n: m, k: m, c: tg });
    for (let i = 0; i < r; i++) {
      let d = 0;
      for (let j = 0; j < m; j++) d += tg[i * m + j]! * zG[i * m + j]!;
      const inv = 1 / (Math.sqrt(Math.max(d, 0)) + 1e-12);
      for (let j = 0; j < m; j++) {
        gs[i * m + j] = zG[i * m + j]! * inv;
        tg[i * m + j]! *= inv;
      }
    }
    await backend.gemm({ a: tg, b: gs, m: r, n: r, k: m, transposeB: true, c: gramR });
    await backend.gemm({ a: tg, b: w, m: r, n, k: m, transposeB: true, c: cF });
    const ridgeF = s.ridge * positiveMean(gramR, r);
    await solverStart.factor(gramR, ridgeF + rho0, 'the activation-aware normal matrix');
    if (rho0 !== 1) await solverOne.factor(gramR, ridgeF + 1, 'the activation-aware normal matrix');
    for (let inner = 0; inner < s.innerIterations; inner++) {
      const rho = inner === 0 ? rho0 : 1;
      const b = bh.subarray(0, r * n);
      for (let i = 0; i < r * n; i++) b[i] = cF[i]! + rho * (zF[i]! - uF[i]!);
      await (inner === 0 || rho0 === 1 ? solverStart : solverOne).solve(b, n);
      const tw = t.subarray(0, r * n);
      for (let i = 0; i < r * n; i++) tw[i] = b[i]! + uF[i]!;
      await projF.project(tw, r, n, zF);
      for (let i = 0; i < r * n; i++) uF[i] = tw[i]! - zF[i]!;
    }

    // G-update. F̃ = F with unit columns; (F̃ᵀF̃ + λ·I)·G·Ĥ + ρ·G = F̃ᵀ·W·Ĥ + ρ·(Z − U), diagonalised in the
    // eigenbases of F̃ᵀF̃ and Ĥ: G = P·[(Pᵀ·RHS·Q_H) / ((σ_i + λ)·θ_j + ρ)]·Q_Hᵀ.
    for (let i = 0; i < r; i++) {
      let d = 0;
      for (let j = 0; j < n; j++) d += zF[i * n + j]! * zF[i * n + j]!;
      const norm = Math.sqrt(d) + 1e-12;
      norms[i] = norm;
      for (let j = 0; j < n; j++) fs[i * n + j] = zF[i * n + j]! / norm;
    }
    await backend.gemm({ a: fs, b: fs, m: r, n: r, k: n, transposeB: true, c: gramR });
    const ridgeG = s.ridge * positiveMean(gramR, r);
    const eigF = symmetricEigen(gramR, r);
    const pF = Float32Array.from(eigF.vectors);
    const sigmaF = Float64Array.from(eigF.values, (x) => Math.max(x, 0) + ridgeG);
    await backend.gemm({ a: fs, b: wh, m: r, n: m, k: n, c: cG });
    for (let inner = 0; inner < s.innerIterations; inner++) {
      const rho = inner === 0 ? rho0 : 1;
      const b = bh.subarray(0, r * m);
      for (let i = 0; i < r * m; i++) b[i] = cG[i]! + rho * (zG[i]! - uG[i]!);
      await backend.gemm({ a: pF, b, m: r, n: m, k: r, transposeA: true, c: tmp1 });
      await backend.gemm({ a: tmp1, b: qH, m: r, n: m, k: m, c: tmp2 });
      for (let i = 0; i < r; i++) {
        const si = sigmaF[i]!;
        for (let j = 0; j < m; j++) tmp2[i * m + j]! /= si * theta[j]! + rho;
      }
      await backend.gemm({ a: pF, b: tmp2, m: r, n: m, k: r, c: tmp1 });
      await backend.gemm({ a: tmp1, b: qH, m: r, n: m, k: m, transposeB: true, c: b });
      const tw = t.subarray(0, r * m);
      for (let i = 0; i < r * m; i++) tw[i] = b[i]! + uG[i]!;
      await projG.project(tw, r, m, zG);
      for (let i = 0; i < r * m; i++) uG[i] = tw[i]! - zG[i]!;
    }

    // Ŵ = F̃·G; keep the best iterate by the Ĥ-weighted error.
    if ((it + 1) % checkEvery === 0 || it === T - 1) {
      const err = await hError(fs, zG);
      if (err < best.err) best = { err, fT: Float32Array.from(fs), g: Float32Array.from(zG) };
      if (options.onProgress && ((it + 1) % s.progressInterval === 0 || it === T - 1)) {
        options.onProgress({
          iteration: it + 1,
          iterations: T,
          relativeError: Math.sqrt(Math.max(err, 0) / whw),
        });
      }
    }
  }

  // Exact re-extraction from the best iterate.
  const fSide = await envelopeFactors(backend, best.fT, r, n, l, rng); // |Fᵀ| = left (r×l) · right (n×l)ᵀ
  const gSide = await envelopeFactors(backend, best.g, r, m, l, rng); // |G| = left (r×l) · right (m×l)ᵀ
  const envA = fSide.right;
  const envQU = fSide.left;
  const envQV = gSide.left;
  const envB = gSide.right;
  fixEnvelopeSigns(envA, envQU, n, r, l);
  fixEnvelopeSigns(envB, envQV, m, r, l);
  balance([envA, envQU, envQV, envB]);
  const layer: MdbfLayer = {
    kind: 'mdbf',
    outFeatures: n,
    inFeatures: m,
    rank: r,
    envelopeRank: l,
    signA: packSigns(transpose(best.fT, r, n), n, r),
    signB: packSigns(best.g, r, m),
    envA,
    envQU,
    envQV,
    envB,
  };
  const approx = await reconstructWeight(backend, layer);
  // Objective error with the caller's H: tr(E·H·Eᵀ)/tr(W·H·Wᵀ).
  const hf = Float32Array.from(h);
  const e = Float32Array.from(approx, (x, i) => w[i]! - x);
  const ehFull = new Float32Array(n * m);
  const whFull = new Float32Array(n * m);
  await backend.gemm({ a: e, b: hf, m: n, n: m, k: m, c: ehFull });
  await backend.gemm({ a: w, b: hf, m: n, n: m, k: m, c: whFull });
  let num = 0;
  let den = 0;
  for (let i = 0; i < n * m; i++) {
    num += ehFull[i]! * e[i]!;
    den += whFull[i]! * w[i]!;
  }
  return {
    layer,
    envelopeRank: l,
    rank: r,
    iterations: T,
    bitsPerWeight: bitsPerWeight(shapeOfLayer(layer)),
    bitsPerWeightBinary: bitsPerWeight(shapeOfLayer(layer), 'binary'),
    relativeError: relativeError(w, approx, n, m),
    objectiveRelativeError: den > 0 ? Math.sqrt(Math.max(num, 0) / den) : 0,
    seconds: (now() - started) / 1000,
  };
}

/** SVD-LLM closed-form initialisation (Cholesky whitening), then signs and rank-l envelopes. */
async function svdLlmInit(
  backend: KernelBackend,
  w: Float32Array,
  n: number,
  m: number,
  h: Float64Array,
  hMean: number,
  r: number,
  l: number,
  rng: Rng,
): Promise<{ zF: Float32Array; zG: Float32Array }> {
  const chol = new CholeskySolver(backend, m);
  await chol.factor(h, 1e-4 * hMean, 'the regularised Gram matrix');
  const lower = chol.factorL;
  const wl = new Float32Array(n * m);
  await backend.gemm({ a: w, b: lower, m: n, n: m, k: m, c: wl });
  let maxAbs = 0;
  for (let i = 0; i < wl.length; i++) maxAbs = Math.max(maxAbs, Math.abs(wl[i]!));
  const eps = 1e-6 * Math.max(maxAbs, 1e-12);
  for (let i = 0; i < wl.length; i++) wl[i]! += eps * rng.normal();
  const svd = await truncatedSvd(backend, wl, n, m, r, { rng });
  const zF = new Float32Array(r * n);
  const vs = new Float32Array(m * r); // V·√Σ
  for (let c = 0; c < r; c++) {
    const root = Math.sqrt(Math.max(svd.s[c]!, 0));
    for (let i = 0; i < n; i++) zF[c * n + i] = svd.u[i * r + c]! * root;
    for (let j = 0; j < m; j++) vs[j * r + c] = svd.v[j * r + c]! * root;
  }
  // V' = L⁻ᵀ·V√Σ = (L·Lᵀ)⁻¹·L·V√Σ.
  const lv = new Float32Array(m * r);
  await backend.gemm({ a: lower, b: vs, m, n: r, k: m, c: lv });
  await chol.solve(lv, r);
  const zG = transpose(lv, m, r); // r×m
  await envelopeSigned(backend, zF, r, n, l, rng);
  await envelopeSigned(backend, zG, r, m, l, rng);
  return { zF, zG };
}

/** z ← sign(z) ⊙ TSVD_l(|z| + 1e-6·max|z|). */
async function envelopeSigned(
  backend: KernelBackend,
  z: Float32Array,
  rows: number,
  cols: number,
  l: number,
  rng: Rng,
): Promise<void> {
  const f = await envelopeFactors(backend, z, rows, cols, l, rng, 1e-6);
  const amp = new Float32Array(rows * cols);
  await backend.gemm({ a: f.left, b: f.right, m: rows, n: cols, k: l, transposeB: true, c: amp });
  for (let i = 0; i < z.length; i++) z[i] = z[i]! >= 0 ? amp[i]! : -amp[i]!;
}

/** |z| ≈ left (rows×l) · right (cols×l)ᵀ from a truncated SVD (left carries Σ^½, right Σ^½), padded to l. */
async function envelopeFactors(
  backend: KernelBackend,
  z: Float32Array,
  rows: number,
  cols: number,
  l: number,
  rng: Rng,
  relativeEps = 0,
): Promise<{ left: Float32Array; right: Float32Array }> {
  const abs = Float32Array.from(z, Math.abs);
  if (relativeEps > 0) {
    let max = 0;
    for (let i = 0; i < abs.length; i++) max = Math.max(max, abs[i]!);
    const eps = relativeEps * Math.max(max, 1e-12);
    for (let i = 0; i < abs.length; i++) abs[i]! += eps;
  }
  const lEff = Math.min(l, rows, cols);
  const svd = await truncatedSvd(backend, abs, rows, cols, lEff, { rng });
  const left = new Float32Array(rows * l);
  const right = new Float32Array(cols * l);
  for (let c = 0; c < lEff; c++) {
    const root = Math.sqrt(Math.max(svd.s[c]!, 0));
    for (let i = 0; i < rows; i++) left[i * l + c] = svd.u[i * lEff + c]! * root;
    for (let j = 0; j < cols; j++) right[j * l + c] = svd.v[j * lEff + c]! * root;
  }
  return { left, right };
}

/** mean(diag(a)), or 1 when that is not positive (an all-zero factor). */
function positiveMean(a: Float32Array, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) s += a[i * k + i]!;
  return s > 0 ? s / k : 1;
}

function abortError(signal: AbortSignal): AbortedError {
  const reason = signal.reason;
  return new AbortedError(`Factorization aborted${reason instanceof Error ? `: ${reason.message}` : '.'}`, {
    cause: reason,
  });
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
