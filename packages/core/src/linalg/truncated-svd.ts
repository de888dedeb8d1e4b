import { InvalidArgumentError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import { assertInteger } from '../util/assert';
import { createRng, type Rng } from '../util/random';
import { householderQr, orthonormalize } from './qr';
import { type Svd, svdJacobi } from './svd';
import { symmetricEigen } from './symmetric-eigen';

/** A truncated SVD with float32 singular vectors (the backends' precision). */
export type TruncatedSvd = Svd<Float32Array>;

export interface SubspaceIterationOptions {
  /** Subspace (block power) iterations (default 5). */
  readonly iterations?: number;
  /** Extra columns carried along for accuracy (default 4). */
  readonly oversample?: number;
  /** Random start. Give an `Rng` to continue a stream, or a seed (default 0). */
  readonly rng?: Rng;
  readonly seed?: number;
}

/**
 * Top-`rank` SVD of the row-major `rows`×`cols` matrix `a` by block subspace iteration, as the MDBF
 * reference (`_tsvd_block_power`) does: a random `cols`×(rank+oversample) start, `iterations` rounds of
 * `U = orth(A·V)`, `V = orth(Aᵀ·U)`, then `A·V = U·R` and an exact SVD of the small `R`. The products with
 * `A` run on the backend; the thin QRs (Householder) and the small SVD (Jacobi) in float64 JS.
 * When rank + oversample reaches min(rows, cols) the subspace is the whole space and the result is exact.
 */
export async function subspaceIteration(
  backend: KernelBackend,
  a: Float32Array,
  rows: number,
  cols: number,
  rank: number,
  options: SubspaceIterationOptions = {},
): Promise<TruncatedSvd> {
  checkMatrix(a, rows, cols);
  const minDim = Math.min(rows, cols);
  assertInteger('rank', rank, 1, minDim);
  const iterations = assertInteger('iterations', options.iterations ?? 5, 0);
  const oversample = assertInteger('oversample', options.oversample ?? 4, 0);
  const rng = options.rng ?? createRng(options.seed ?? 0);
  const width = Math.min(rank + oversample, minDim);
  let v: Float32Array = randomOrthonormal(rng, cols, width);
  let u: Float32Array = new Float32Array(rows * width);
  const vBuf = new Float32Array(cols * width);
  for (let it = 0; it < iterations; it++) {
    await backend.gemm({ a, b: v, m: rows, n: width, k: cols, c: u });
    u = toFloat32(orthonormalize(u, rows, width), u);
    await backend.gemm({ a, b: u, m: cols, n: width, k: rows, transposeA: true, c: vBuf });
    v = toFloat32(orthonormalize(vBuf, cols, width), v);
  }
  // A·V = Q·R; A ≈ Q·R·Vᵀ = (Q·U_R)·Σ·(V·V_R)ᵀ.
  await backend.gemm({ a, b: v, m: rows, n: width, k: cols, c: u });
  const { q, r } = householderQr(u, rows, width);
  const small = svdJacobi(r, width, width);
  const uOut = new Float32Array(rows * rank);
  const vOut = new Float32Array(cols * rank);
  multiplyInto(q, rows, width, small.u, width, rank, uOut);
  multiplyInto(v, cols, width, small.v, width, rank, vOut);
  return { rank, u: uOut, s: small.s.slice(0, rank), v: vOut };
}

export interface TruncatedSvdOptions {
  /** Extra random directions (default 10). */
  readonly oversample?: number;
  /** Power iterations that sharpen the spectrum (default 2). */
  readonly powerIterations?: number;
  readonly rng?: Rng;
  readonly seed?: number;
}

/**
 * Rank-`rank` truncated SVD by the randomized range finder with oversampling and power iterations
 * (Halko, Martinsson & Tropp 2011, Alg. 4.4 + 5.1). GEMMs with `a` run on the backend. When
 * rank + oversample ≥ min(rows, cols) the sketch spans the whole range and the result is exact up to
 * float32 rounding. Singular vectors come back as float32, singular values as float64.
 */
export async function truncatedSvd(
  backend: KernelBackend,
  a: Float32Array,
  rows: number,
  cols: number,
  rank: number,
  options: TruncatedSvdOptions = {},
): Promise<TruncatedSvd> {
  checkMatrix(a, rows, cols);
  const minDim = Math.min(rows, cols);
  assertInteger('rank', rank, 1, minDim);
  const oversample = assertInteger('oversample', options.oversample ?? 10, 0);
  const powerIterations = assertInteger('powerIterations', options.powerIterations ?? 2, 0);
  const rng = options.rng ?? createRng(options.seed ?? 0);
  const width = Math.min(rank + oversample, minDim);
  // Range finder: Q = orth(A·Ω), refined by power iterations (re-orthonormalised each half step).
  const omega = new Float32Array(cols * width);
  for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  let y: Float32Array = new Float32Array(rows * width);
  await backend.gemm({ a, b: omega, m: rows, n: width, k: cols, c: y });
  let q = toFloat32(orthonormalize(y, rows, width), y);
  const z = omega;
  for (let it = 0; it < powerIterations; it++) {
    await backend.gemm({ a, b: q, m: cols, n: width, k: rows, transposeA: true, c: z });
    const zq = toFloat32(orthonormalize(z, cols, width), z);
    y = q;
    await backend.gemm({ a, b: zq, m: rows, n: width, k: cols, c: y });
    q = toFloat32(orthonormalize(y, rows, width), y);
  }
  // B = Qᵀ·A (width×cols), then the SVD of the small B.
  const b = new Float32Array(width * cols);
  await backend.gemm({ a: q, b: a, m: width, n: cols, k: rows, transposeA: true, c: b });
  let ub: Float64Array; // width×width, columns = left singular vectors of B
  let sb: Float64Array;
  let vb: Float32Array; // cols×width
  if (width <= 48) {
    const svd = svdJacobi(b, width, cols);
    ub = svd.u;
    sb = svd.s;
    vb = Float32Array.from(svd.v);
  } else {
    // Gram route for larger sketches: B·Bᵀ = U·Σ²·Uᵀ in float64, then V = Bᵀ·U·Σ⁻¹ normalised column by column
    // (‖Bᵀu_i‖ = σ_i, which is more accurate than √λ_i for small σ).
    const gram = new Float64Array(width * width);
    for (let i = 0; i < width; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        const bi = i * cols;
        const bj = j * cols;
        for (let c = 0; c < cols; c++) s += b[bi + c]! * b[bj + c]!;
        gram[i * width + j] = s;
        gram[j * width + i] = s;
      }
    }
    const eig = symmetricEigen(gram, width);
    ub = eig.vectors;
    vb = new Float32Array(cols * width);
    await backend.gemm({
      a: b,
      b: Float32Array.from(ub),
      m: cols,
      n: width,
      k: width,
      transposeA: true,
      c: vb,
    });
    sb = new Float64Array(width);
    for (let j = 0; j < width; j++) {
      let s2 = 0;
      for (let c = 0; c < cols; c++) s2 += vb[c * width + j]! * vb[c * width + j]!;
      const s = Math.sqrt(s2);
      sb[j] = s;
      const inv = s > 0 ? 1 / s : 0;
      for (let c = 0; c < cols; c++) vb[c * width + j]! *= inv;
    }
  }
  // U = Q·U_B (first `rank` columns), on the backend.
  const ubRank = new Float32Array(width * rank);
  for (let i = 0; i < width; i++) for (let j = 0; j < rank; j++) ubRank[i * rank + j] = ub[i * width + j]!;
  const uOut = new Float32Array(rows * rank);
  await backend.gemm({ a: q, b: ubRank, m: rows, n: rank, k: width, c: uOut });
  const vOut = new Float32Array(cols * rank);
  for (let c = 0; c < cols; c++) for (let j = 0; j < rank; j++) vOut[c * rank + j] = vb[c * width + j]!;
  return { rank, u: uOut, s: sb.slice(0, rank), v: vOut };
}

function checkMatrix(a: Float32Array, rows: number, cols: number): void {
  assertInteger('rows', rows, 1);
  assertInteger('cols', cols, 1);
  if (!(a instanceof Float32Array)) throw new InvalidArgumentError('a must be a Float32Array.');
  if (a.length !== rows * cols)
    throw new InvalidArgumentError(`a must hold rows·cols = ${rows * cols} values, got ${a.length}.`);
}

function randomOrthonormal(rng: Rng, rows: number, cols: number): Float32Array {
  const g = new Float64Array(rows * cols);
  for (let i = 0; i < g.length; i++) g[i] = rng.normal();
  return Float32Array.from(orthonormalize(g, rows, cols));
}

function toFloat32(src: Float64Array, dst: Float32Array): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = src[i]!;
  return dst;
}

/** out (rows×outCols) = x (rows×inner) · y[:, 0:outCols] (y is inner×yCols), float64 accumulation. */
function multiplyInto(
  x: Float32Array | Float64Array,
  rows: number,
  inner: number,
  y: Float64Array,
  yCols: number,
  outCols: number,
  out: Float32Array,
): void {
  const acc = new Float64Array(outCols);
  for (let i = 0; i < rows; i++) {
    acc.fill(0);
    for (let p = 0; p < inner; p++) {
      const xv = x[i * inner + p]!;
      if (xv === 0) continue;
      const yo = p * yCols;
      for (let j = 0; j < outCols; j++) acc[j]! += xv * y[yo + j]!;
    }
    for (let j = 0; j < outCols; j++) out[i * outCols + j] = acc[j]!;
  }
}
