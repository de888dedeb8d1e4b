import { InvalidArgumentError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import { largestRankForBpw } from '../layers/bits-per-weight';
import { type PackedSigns, packSigns } from '../layers/packed-signs';
import { truncatedSvd } from '../linalg/truncated-svd';
import { assertInteger, describe } from '../util/assert';
import type { Rng } from '../util/random';
import type { AdmmResult } from './admm';
import type { DenseMatrix, FactorizeOptions } from './types';

/** Validated, defaulted settings of one factorization. */
export interface Settings {
  readonly backend: KernelBackend;
  readonly n: number;
  readonly m: number;
  readonly k: number;
  readonly l: number;
  readonly iterations: number;
  readonly seed: number;
  readonly init: 'random' | 'svd';
  readonly rhoFloor: number;
  readonly innerIterations: number;
  readonly ridge: number;
  readonly powerIterations: number;
  readonly progressInterval: number;
  readonly dOut: Float64Array | undefined;
  readonly dIn: Float64Array | undefined;
}

const MAX_BPW = 32;

/** Checks the weight matrix: a finite Float32Array of rows·cols values, both dimensions ≥ 2. */
export function checkWeight(weight: DenseMatrix): void {
  if (typeof weight !== 'object' || weight === null) {
    throw new InvalidArgumentError(
      'weight must be { data: Float32Array, rows, cols } (rows = out_features).',
    );
  }
  const rows = assertInteger('weight.rows', weight.rows, 0);
  const cols = assertInteger('weight.cols', weight.cols, 0);
  if (rows < 2 || cols < 2) {
    throw new InvalidArgumentError(
      `Cannot factorize a ${rows}×${cols} matrix: both dimensions must be at least 2 (a 1-wide layer has nothing to compress).`,
    );
  }
  if (!(weight.data instanceof Float32Array)) {
    throw new InvalidArgumentError(`weight.data must be a Float32Array, got ${describe(weight.data)}.`);
  }
  if (weight.data.length !== rows * cols) {
    throw new InvalidArgumentError(
      `weight.data must hold rows·cols = ${rows * cols} values, got ${weight.data.length}.`,
    );
  }
  const data = weight.data;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new InvalidArgumentError(
        `weight.data[${i}] (row ${Math.floor(i / cols)}, column ${i % cols}) is ${data[i]}; weights must be finite.`,
      );
    }
  }
}

/** Validates the options shared by DBF and MDBF and derives k. */
export function resolveSettings(
  weight: DenseMatrix,
  options: FactorizeOptions,
  kind: 'dbf' | 'mdbf',
  l: number,
  defaults: { init: 'random' | 'svd'; rhoFloor: number },
): Settings {
  checkWeight(weight);
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('options must be an object.');
  const { backend } = options;
  if (typeof backend !== 'object' || backend === null || typeof backend.gemm !== 'function') {
    throw new InvalidArgumentError('options.backend must be a KernelBackend (e.g. `await cpu().create()`).');
  }
  const n = weight.rows;
  const m = weight.cols;
  const minDim = Math.min(n, m);
  let k: number;
  if (options.bpw !== undefined && options.rank !== undefined) {
    throw new InvalidArgumentError('Give either bpw or rank, not both.');
  }
  if (options.rank !== undefined) {
    const maxRank = kind === 'mdbf' ? minDim : Math.floor((MAX_BPW * n * m) / (n + m));
    k = assertInteger('rank', options.rank, 1, maxRank);
  } else if (options.bpw !== undefined) {
    const bpw = options.bpw;
    if (typeof bpw !== 'number' || !Number.isFinite(bpw) || bpw <= 0 || bpw > MAX_BPW) {
      throw new InvalidArgumentError(`bpw must be a number in (0, ${MAX_BPW}], got ${describe(bpw)}.`);
    }
    const accounting = options.bpwAccounting ?? 'stored';
    if (accounting !== 'stored' && accounting !== 'binary') {
      throw new InvalidArgumentError(
        `bpwAccounting must be 'stored' or 'binary', got ${describe(accounting)}.`,
      );
    }
    k = largestRankForBpw({ kind, outFeatures: n, inFeatures: m, envelopeRank: l }, bpw, accounting);
    // MDBF's closed-form initialisation is a rank-r SVD, so r is clamped to min(n, m) (as the reference does).
    if (kind === 'mdbf') k = Math.min(k, minDim);
  } else {
    throw new InvalidArgumentError('Give a target bpw (bits per weight) or an explicit rank.');
  }
  const iterations = assertInteger('iterations', options.iterations ?? 260, 1, 1_000_000);
  const seed = assertInteger('seed', options.seed ?? 0, 0, 0xffffffff);
  const init = options.init ?? defaults.init;
  if (init !== 'random' && init !== 'svd') {
    throw new InvalidArgumentError(`init must be 'random' or 'svd', got ${describe(init)}.`);
  }
  const rhoFloor = options.rhoFloor ?? defaults.rhoFloor;
  if (typeof rhoFloor !== 'number' || !(rhoFloor >= 0 && rhoFloor <= 1)) {
    throw new InvalidArgumentError(`rhoFloor must be a number in [0, 1], got ${describe(rhoFloor)}.`);
  }
  const ridge = options.ridge ?? 0.03;
  if (typeof ridge !== 'number' || !(ridge > 0 && ridge < 1e6)) {
    throw new InvalidArgumentError(`ridge must be a positive number, got ${describe(ridge)}.`);
  }
  const innerIterations = assertInteger('innerIterations', options.innerIterations ?? 3, 1, 1000);
  const powerIterations = assertInteger('powerIterations', options.powerIterations ?? 5, 1, 1000);
  const progressInterval = assertInteger('progressInterval', options.progressInterval ?? 10, 1);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new InvalidArgumentError('onProgress must be a function.');
  }
  const signal = options.signal;
  if (
    signal !== undefined &&
    (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')
  ) {
    throw new InvalidArgumentError('signal must be an AbortSignal.');
  }
  return {
    backend,
    n,
    m,
    k,
    l,
    iterations,
    seed,
    init,
    rhoFloor,
    innerIterations,
    ridge,
    powerIterations,
    progressInterval,
    dOut: importanceScale('outputImportance', options.outputImportance, n),
    dIn: importanceScale('inputImportance', options.inputImportance, m),
  };
}

/** D = √v + 1e-8 (the reference's scaling), or undefined for identity. */
function importanceScale(
  name: string,
  v: Float32Array | undefined,
  length: number,
): Float64Array | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof Float32Array))
    throw new InvalidArgumentError(`${name} must be a Float32Array, got ${describe(v)}.`);
  if (v.length !== length)
    throw new InvalidArgumentError(`${name} must have ${length} elements, got ${v.length}.`);
  const d = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x) || x < 0) {
      throw new InvalidArgumentError(
        `${name}[${i}] is ${x}; importances are second moments, finite and ≥ 0.`,
      );
    }
    d[i] = Math.sqrt(x) + 1e-8;
  }
  return d;
}

/**
 * The inner problem: `Wn = D_o·W·D_i`, transposed when n ≥ m (the reference's `factorizeT`, square
 * matrices included), so that the inner matrix is p×q with p ≤ q.
 */
export interface InnerProblem {
  readonly transposed: boolean;
  readonly p: number;
  readonly q: number;
  readonly wn: Float32Array;
  readonly wnT: Float32Array;
  /** Row/column scalings of the inner matrix (undefined = identity). */
  readonly dRow: Float64Array | undefined;
  readonly dCol: Float64Array | undefined;
}

export function innerProblem(weight: DenseMatrix, s: Settings): InnerProblem {
  const { n, m } = s;
  const transposed = n >= m;
  const p = transposed ? m : n;
  const q = transposed ? n : m;
  const dRow = transposed ? s.dIn : s.dOut;
  const dCol = transposed ? s.dOut : s.dIn;
  const wn = new Float32Array(p * q);
  const wnT = new Float32Array(p * q);
  const w = weight.data;
  for (let i = 0; i < p; i++) {
    const ri = dRow ? dRow[i]! : 1;
    for (let j = 0; j < q; j++) {
      const x = (transposed ? w[j * m + i]! : w[i * m + j]!) * ri * (dCol ? dCol[j]! : 1);
      wn[i * q + j] = x;
      wnT[j * p + i] = x;
    }
  }
  return { transposed, p, q, wn, wnT, dRow, dCol };
}

/** N(0,1) factors, as the reference's `torch.randn` initialisation (Aᵀ first, then B). */
export function randomInit(
  rng: Rng,
  k: number,
  p: number,
  q: number,
): { zA: Float32Array; zB: Float32Array } {
  const zA = new Float32Array(k * p);
  const zB = new Float32Array(k * q);
  for (let i = 0; i < zA.length; i++) zA[i] = rng.normal();
  for (let i = 0; i < zB.length; i++) zB[i] = rng.normal();
  return { zA, zB };
}

/**
 * MDBF's closed-form initialisation (§2.4), used for both MDBF and DBF's 'svd' init (l = 1):
 * 1. rank-r truncated SVD of Wn (plus noise of 1e-6·max|Wn| to break ties): U' = U√Σ, V' = V√Σ;
 * 2. each factor is replaced by sign(factor) ⊙ (its best rank-l envelope, from the SVD of its magnitudes).
 * When k > min(p, q) (DBF allows it), the extra components start as Gaussian noise at the factors' scale.
 */
export async function closedFormInit(
  backend: KernelBackend,
  inner: InnerProblem,
  k: number,
  l: number,
  rng: Rng,
): Promise<{ zA: Float32Array; zB: Float32Array }> {
  const { p, q, wn } = inner;
  let maxAbs = 0;
  for (let i = 0; i < wn.length; i++) maxAbs = Math.max(maxAbs, Math.abs(wn[i]!));
  const noisy = new Float32Array(wn.length);
  const eps = 1e-6 * Math.max(maxAbs, 1e-12);
  for (let i = 0; i < wn.length; i++) noisy[i] = wn[i]! + eps * rng.normal();
  const r = Math.min(k, p, q);
  const svd = await truncatedSvd(backend, noisy, p, q, r, { rng });
  const zA = new Float32Array(k * p);
  const zB = new Float32Array(k * q);
  for (let i = 0; i < r; i++) {
    const root = Math.sqrt(Math.max(svd.s[i]!, 0));
    for (let j = 0; j < p; j++) zA[i * p + j] = svd.u[j * r + i]! * root;
    for (let j = 0; j < q; j++) zB[i * q + j] = svd.v[j * r + i]! * root;
  }
  if (k > r) {
    fillNoise(zA, r * p, k * p, rms(zA, r * p), rng);
    fillNoise(zB, r * q, k * q, rms(zB, r * q), rng);
  }
  await envelopeInPlace(backend, zA, k, p, l, rng);
  await envelopeInPlace(backend, zB, k, q, l, rng);
  return { zA, zB };
}

function rms(x: Float32Array, count: number): number {
  let s = 0;
  for (let i = 0; i < count; i++) s += x[i]! * x[i]!;
  return count > 0 ? Math.sqrt(s / count) : 1;
}

function fillNoise(x: Float32Array, from: number, to: number, scale: number, rng: Rng): void {
  const sc = scale > 0 ? scale : 1;
  for (let i = from; i < to; i++) x[i] = sc * rng.normal();
}

/** z ← sign(z) ⊙ TSVD_l(|z| + 1e-6·max|z|), the closed-form envelope (exact SVD up to float32). */
async function envelopeInPlace(
  backend: KernelBackend,
  z: Float32Array,
  rows: number,
  cols: number,
  l: number,
  rng: Rng,
): Promise<void> {
  const abs = new Float32Array(z.length);
  let max = 0;
  for (let i = 0; i < z.length; i++) {
    abs[i] = Math.abs(z[i]!);
    max = Math.max(max, abs[i]!);
  }
  const eps = 1e-6 * Math.max(max, 1e-12);
  for (let i = 0; i < abs.length; i++) abs[i]! += eps;
  const lEff = Math.min(l, rows, cols);
  const svd = await truncatedSvd(backend, abs, rows, cols, lEff, { rng });
  const left = new Float32Array(rows * lEff);
  for (let i = 0; i < rows; i++)
    for (let c = 0; c < lEff; c++) left[i * lEff + c] = svd.u[i * lEff + c]! * svd.s[c]!;
  await backend.gemm({ a: left, b: svd.v, m: rows, n: cols, k: lEff, transposeB: true, c: abs });
  for (let i = 0; i < z.length; i++) z[i] = z[i]! >= 0 ? abs[i]! : -abs[i]!;
}

/** The factorized form in the original orientation: W ≈ (S_A ⊙ envA·envQUᵀ)·(S_B ⊙ envQV·envBᵀ). */
export interface ExtractedFactors {
  readonly signA: PackedSigns;
  readonly signB: PackedSigns;
  /** n×l */
  readonly envA: Float32Array;
  /** k×l */
  readonly envQU: Float32Array;
  /** k×l */
  readonly envQV: Float32Array;
  /** m×l */
  readonly envB: Float32Array;
}

/**
 * Turns the engine's final projections into signs and envelopes, exactly: the projections are
 * sign ⊙ (left·rightᵀ) by construction, so no re-fitting is needed. Undoes the importance scaling and
 * the transposition. With Wn ≈ (Aᵀ...)ᵀ·diag(1/c)·B (inner coordinates):
 * envA' = rightA / dRow, envQU' = leftA / c, envQV' = leftB, envB' = rightB / dCol.
 */
export function extractFactors(
  result: AdmmResult,
  inner: InnerProblem,
  k: number,
  l: number,
): ExtractedFactors {
  const { p, q, dRow, dCol, transposed } = inner;
  const { leftA, rightA, leftB, rightB } = {
    leftA: result.factorsA.left,
    rightA: result.factorsA.right,
    leftB: result.factorsB.left,
    rightB: result.factorsB.right,
  };
  const envAInner = new Float32Array(p * l);
  for (let j = 0; j < p; j++) {
    const inv = dRow ? 1 / dRow[j]! : 1;
    for (let c = 0; c < l; c++) envAInner[j * l + c] = rightA[j * l + c]! * inv;
  }
  const envQUInner = new Float32Array(k * l);
  for (let i = 0; i < k; i++) {
    const inv = 1 / result.colNorms[i]!;
    for (let c = 0; c < l; c++) envQUInner[i * l + c] = leftA[i * l + c]! * inv;
  }
  const envQVInner = Float32Array.from(leftB);
  const envBInner = new Float32Array(q * l);
  for (let j = 0; j < q; j++) {
    const inv = dCol ? 1 / dCol[j]! : 1;
    for (let c = 0; c < l; c++) envBInner[j * l + c] = rightB[j * l + c]! * inv;
  }
  const aSignsT = packSigns(transpose(result.zA, k, p), p, k); // p×k
  const bSigns = packSigns(result.zB, k, q); // k×q
  if (!transposed) {
    return {
      signA: aSignsT,
      signB: bSigns,
      envA: envAInner,
      envQU: envQUInner,
      envQV: envQVInner,
      envB: envBInner,
    };
  }
  // W = Ŵ_innerᵀ = Gᵀ·Fᵀ: the B side becomes the output side and vice versa.
  return {
    signA: packSigns(transpose(result.zB, k, q), q, k),
    signB: packSigns(result.zA, k, p),
    envA: envBInner,
    envQU: envQVInner,
    envQV: envQUInner,
    envB: envAInner,
  };
}

export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j]!;
  return t;
}

/** Root mean square of a vector (0 for an empty or zero one). */
export function rootMeanSquare(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return x.length > 0 ? Math.sqrt(s / x.length) : 0;
}

/**
 * Rescales vectors whose product is invariant (∏ factors = 1) so that all have the same RMS (their
 * geometric mean). This keeps every stored scale far from the F16 overflow and underflow limits.
 */
export function balance(vectors: readonly Float32Array[]): void {
  const r = vectors.map(rootMeanSquare);
  if (r.some((x) => !(x > 0) || !Number.isFinite(x))) return;
  const g = Math.exp(r.reduce((s, x) => s + Math.log(x), 0) / r.length);
  vectors.forEach((v, i) => {
    const f = g / r[i]!;
    for (let j = 0; j < v.length; j++) v[j]! *= f;
  });
}

/**
 * The reference's sign convention: flip envelope component c on both sides (outer rows×l, mid k×l)
 * when its outer column sums to a negative number. The product is unchanged.
 */
export function fixEnvelopeSigns(
  outer: Float32Array,
  mid: Float32Array,
  rows: number,
  k: number,
  l: number,
): void {
  for (let c = 0; c < l; c++) {
    let sum = 0;
    for (let i = 0; i < rows; i++) sum += outer[i * l + c]!;
    if (sum >= 0) continue;
    for (let i = 0; i < rows; i++) outer[i * l + c] = -outer[i * l + c]!;
    for (let i = 0; i < k; i++) mid[i * l + c] = -mid[i * l + c]!;
  }
}
