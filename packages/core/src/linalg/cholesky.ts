import { InvalidArgumentError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import { assertInteger } from '../util/assert';

/**
 * Cholesky factorization `A = L·Lᵀ` of a symmetric positive definite (SPD) matrix, and solves with it.
 *
 * Two flavours:
 * - `choleskyInPlace` / `choleskySolveInPlace`: small matrices, plain float64 loops.
 * - `CholeskySolver`: k×k matrices with many right-hand sides (the ADMM ridge solves). It is blocked so
 *   that almost all of its flops are GEMMs run by the kernel backend; only the diagonal blocks (and the
 *   panel solves) run in float64 JS. Its buffers are reused across `factor` calls.
 */

/** Thrown (as an InvalidArgumentError) when a matrix is not symmetric positive definite. */
function notSpd(what: string, index: number, pivot: number): InvalidArgumentError {
  return new InvalidArgumentError(
    `${what} is not symmetric positive definite: the Cholesky pivot at row ${index} is ${pivot}. ` +
      'Add a ridge (a multiple of the identity) or check the matrix for NaN values.',
  );
}

/**
 * Overwrites the lower triangle of the row-major k×k matrix `a` (float64) with its Cholesky factor `L`
 * and zeroes the strict upper triangle. Only the lower triangle of `a` is read.
 */
export function choleskyInPlace(a: Float64Array, k: number, what = 'matrix'): Float64Array {
  assertInteger('k', k, 1);
  if (a.length < k * k) throw new InvalidArgumentError(`a must hold k·k = ${k * k} values, got ${a.length}.`);
  factorBlock(a, k, k, 0, what);
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) a[i * k + j] = 0;
  return a;
}

/**
 * Solves `L·Lᵀ·X = B` in place for `nrhs` right-hand sides: `b` is k×nrhs row-major and is overwritten
 * with `X`. `l` is the factor from `choleskyInPlace`.
 */
export function choleskySolveInPlace(
  l: Float64Array,
  k: number,
  b: Float64Array | Float32Array,
  nrhs: number,
): void {
  assertInteger('nrhs', nrhs, 1);
  if (b.length < k * nrhs)
    throw new InvalidArgumentError(`b must hold k·nrhs = ${k * nrhs} values, got ${b.length}.`);
  forwardBlock(l, k, 0, 0, k, b, nrhs);
  backwardBlock(l, k, 0, 0, k, b, nrhs);
}

/**
 * Factors the `size`×`size` diagonal block at (`offset`, `offset`) of a row-major matrix with row stride
 * `stride`, in place (lower triangle). float64 throughout. Errors name row `reportBase + j`.
 */
function factorBlock(
  a: Float64Array,
  stride: number,
  size: number,
  offset: number,
  what: string,
  reportBase = offset,
): void {
  for (let j = 0; j < size; j++) {
    const rj = (offset + j) * stride + offset;
    let d = a[rj + j]!;
    for (let p = 0; p < j; p++) d -= a[rj + p]! * a[rj + p]!;
    if (!(d > 0)) throw notSpd(what, reportBase + j, d);
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < size; i++) {
      const ri = (offset + i) * stride + offset;
      let s = a[ri + j]!;
      for (let p = 0; p < j; p++) s -= a[ri + p]! * a[rj + p]!;
      a[ri + j] = s * inv;
    }
  }
}

/**
 * Forward substitution `L_dd · Y = B` for rows [r0, r0+size) of `b` (nrhs columns), where `L_dd` is the
 * diagonal block of `l` (row stride `stride`) starting at (`d0`, `d0`). The updates of a row are fused four
 * source rows at a time, so each pass over the row does four multiply-adds per load/store of it.
 */
function forwardBlock(
  l: Float64Array,
  stride: number,
  d0: number,
  r0: number,
  size: number,
  b: Float32Array | Float64Array,
  nrhs: number,
): void {
  for (let i = 0; i < size; i++) {
    const bi = (r0 + i) * nrhs;
    const li = (d0 + i) * stride + d0;
    let p = 0;
    for (; p + 3 < i; p += 4) {
      const f0 = l[li + p]!;
      const f1 = l[li + p + 1]!;
      const f2 = l[li + p + 2]!;
      const f3 = l[li + p + 3]!;
      const b0 = (r0 + p) * nrhs;
      const b1 = b0 + nrhs;
      const b2 = b1 + nrhs;
      const b3 = b2 + nrhs;
      for (let c = 0; c < nrhs; c++) {
        b[bi + c] = b[bi + c]! - f0 * b[b0 + c]! - f1 * b[b1 + c]! - f2 * b[b2 + c]! - f3 * b[b3 + c]!;
      }
    }
    for (; p < i; p++) {
      const f = l[li + p]!;
      const bp = (r0 + p) * nrhs;
      for (let c = 0; c < nrhs; c++) b[bi + c] = b[bi + c]! - f * b[bp + c]!;
    }
    const inv = 1 / l[li + i]!;
    for (let c = 0; c < nrhs; c++) b[bi + c] = b[bi + c]! * inv;
  }
}

/**
 * Backward substitution `L_ddᵀ · X = Y` for the same block layout as `forwardBlock`: row i of X is
 * `(y_i − Σ_{p>i} L[p,i]·x_p) / L[i,i]`, fused four rows p at a time like the forward pass.
 */
function backwardBlock(
  l: Float64Array,
  stride: number,
  d0: number,
  r0: number,
  size: number,
  b: Float32Array | Float64Array,
  nrhs: number,
): void {
  for (let i = size - 1; i >= 0; i--) {
    const bi = (r0 + i) * nrhs;
    const col = d0 + i;
    let p = i + 1;
    for (; p + 3 < size; p += 4) {
      const f0 = l[(d0 + p) * stride + col]!;
      const f1 = l[(d0 + p + 1) * stride + col]!;
      const f2 = l[(d0 + p + 2) * stride + col]!;
      const f3 = l[(d0 + p + 3) * stride + col]!;
      const b0 = (r0 + p) * nrhs;
      const b1 = b0 + nrhs;
      const b2 = b1 + nrhs;
      const b3 = b2 + nrhs;
      for (let c = 0; c < nrhs; c++) {
        b[bi + c] = b[bi + c]! - f0 * b[b0 + c]! - f1 * b[b1 + c]! - f2 * b[b2 + c]! - f3 * b[b3 + c]!;
      }
    }
    for (; p < size; p++) {
      const f = l[(d0 + p) * stride + col]!;
      const bp = (r0 + p) * nrhs;
      for (let c = 0; c < nrhs; c++) b[bi + c] = b[bi + c]! - f * b[bp + c]!;
    }
    const inv = 1 / l[(d0 + i) * stride + col]!;
    for (let c = 0; c < nrhs; c++) b[bi + c] = b[bi + c]! * inv;
  }
}

export interface CholeskySolverOptions {
  /** Block size of the blocked algorithms (default 32). Matrices up to twice this size are factored unblocked. */
  readonly blockSize?: number;
}

/**
 * A reusable blocked Cholesky factorization of k×k SPD matrices on a kernel backend.
 *
 * `factor(a, shift)` factors `A + shift·I` (A symmetric, only its lower triangle is read);
 * `solve(b, nrhs)` then overwrites the k×nrhs row-major `b` with `(A + shift·I)⁻¹·b`. No explicit inverse is
 * formed: the solves are blocked forward/backward substitutions whose off-diagonal work is GEMMs.
 */
export class CholeskySolver {
  readonly k: number;
  readonly blockSize: number;
  private readonly backend: KernelBackend;
  /** The factor L, row-major k×k (upper triangle zero). */
  private readonly lower: Float32Array;
  /** float64 diagonal blocks of L, packed one after another (block j at diagOffset[j]). */
  private readonly diag: Float64Array;
  private readonly diagOffset: number[] = [];
  /** For block j: L[j0:j1, 0:j0] packed contiguously (rows of the forward solve's GEMM). */
  private readonly rowPanels: Float32Array[] = [];
  /** For block j: L[j1:k, j0:j1] packed contiguously (the backward solve's GEMM, transposed). */
  private readonly colPanels: Float32Array[] = [];
  private readonly starts: number[] = [];
  private readonly work: [Float32Array, Float32Array];
  private factored = false;

  constructor(backend: KernelBackend, k: number, options: CholeskySolverOptions = {}) {
    assertInteger('k', k, 1);
    const blockSize = assertInteger('blockSize', options.blockSize ?? 32, 1);
    if (typeof backend?.gemm !== 'function')
      throw new InvalidArgumentError('backend must be a KernelBackend.');
    this.backend = backend;
    this.k = k;
    this.blockSize = k <= 2 * blockSize ? k : blockSize;
    this.lower = new Float32Array(k * k);
    for (let j0 = 0; j0 < k; j0 += this.blockSize) this.starts.push(j0);
    let diagSize = 0;
    for (const j0 of this.starts) {
      const b = Math.min(this.blockSize, k - j0);
      this.diagOffset.push(diagSize);
      diagSize += b * b;
      this.rowPanels.push(new Float32Array(b * j0));
      this.colPanels.push(new Float32Array((k - j0 - b) * b));
    }
    this.diag = new Float64Array(diagSize);
    const blocked = this.starts.length > 1;
    this.work = blocked
      ? [new Float32Array(k * k), new Float32Array(k * k)]
      : [new Float32Array(0), new Float32Array(0)];
  }

  /** Factors `a + shift·I`. `a` is k×k row-major (only the lower triangle is read). */
  async factor(a: ArrayLike<number>, shift = 0, what = 'matrix'): Promise<void> {
    const { k, blockSize: nb } = this;
    if (a.length !== k * k)
      throw new InvalidArgumentError(`a must hold k·k = ${k * k} values, got ${a.length}.`);
    if (!Number.isFinite(shift)) throw new InvalidArgumentError(`shift must be finite, got ${shift}.`);
    this.factored = false;
    const lower = this.lower;
    lower.fill(0);
    if (this.starts.length === 1) {
      const d = this.diag;
      for (let i = 0; i < k; i++) {
        for (let j = 0; j <= i; j++) d[i * k + j] = a[i * k + j]!;
        d[i * k + i]! += shift;
      }
      factorBlock(d, k, k, 0, what);
      for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) lower[i * k + j] = d[i * k + j]!;
      this.factored = true;
      return;
    }
    // Right-looking blocked factorization. `cur` holds the trailing (s×s) matrix, contiguous.
    let [cur, next] = this.work;
    for (let i = 0; i < k; i++) {
      for (let j = 0; j <= i; j++) cur[i * k + j] = a[i * k + j]!;
      cur[i * k + i]! += shift;
    }
    for (let blk = 0; blk < this.starts.length; blk++) {
      const j0 = this.starts[blk]!;
      const s = k - j0;
      const b = Math.min(nb, s);
      const t = s - b;
      // Diagonal block in float64.
      const d = this.diag;
      const off = this.diagOffset[blk]!;
      for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) d[off + i * b + j] = cur[i * s + j]!;
      factorBlock(d.subarray(off, off + b * b), b, b, 0, what, j0);
      for (let i = 0; i < b; i++) for (let j = i + 1; j < b; j++) d[off + i * b + j] = 0;
      for (let i = 0; i < b; i++)
        for (let j = 0; j <= i; j++) lower[(j0 + i) * k + j0 + j] = d[off + i * b + j]!;
      if (t === 0) break;
      // Panel: L21 = A21 · L11⁻ᵀ, i.e. each row x solves L11·x = a (forward substitution).
      const panel = this.colPanels[blk]!;
      for (let r = 0; r < t; r++) {
        const src = (b + r) * s;
        const dst = r * b;
        for (let j = 0; j < b; j++) {
          let v = cur[src + j]!;
          const lj = off + j * b;
          for (let p = 0; p < j; p++) v -= d[lj + p]! * panel[dst + p]!;
          panel[dst + j] = v / d[lj + j]!;
        }
        for (let j = 0; j < b; j++) lower[(j0 + b + r) * k + j0 + j] = panel[dst + j]!;
      }
      // Trailing update A22 −= L21·L21ᵀ on the backend (full square: both triangles stay consistent).
      for (let r = 0; r < t; r++) next.set(cur.subarray((b + r) * s + b, (b + r) * s + s), r * t);
      const trailing = next.subarray(0, t * t);
      await this.backend.gemm({
        a: panel,
        b: panel,
        m: t,
        n: t,
        k: b,
        transposeB: true,
        alpha: -1,
        beta: 1,
        c: trailing,
      });
      [cur, next] = [next, cur];
    }
    // Row panels for the forward solve: L[j0:j1, 0:j0].
    for (let blk = 1; blk < this.starts.length; blk++) {
      const j0 = this.starts[blk]!;
      const b = Math.min(nb, k - j0);
      const rp = this.rowPanels[blk]!;
      for (let i = 0; i < b; i++) rp.set(lower.subarray((j0 + i) * k, (j0 + i) * k + j0), i * j0);
    }
    this.factored = true;
  }

  /** Overwrites the k×nrhs row-major `b` with the solution of `(A + shift·I)·X = b`. */
  async solve(b: Float32Array, nrhs: number): Promise<Float32Array> {
    if (!this.factored)
      throw new InvalidArgumentError('CholeskySolver.solve called before a successful factor().');
    assertInteger('nrhs', nrhs, 1);
    const { k, blockSize: nb } = this;
    if (b.length !== k * nrhs)
      throw new InvalidArgumentError(`b must hold k·nrhs = ${k * nrhs} values, got ${b.length}.`);
    const blocks = this.starts.length;
    if (blocks === 1) {
      forwardBlock(this.diag, k, 0, 0, k, b, nrhs);
      backwardBlock(this.diag, k, 0, 0, k, b, nrhs);
      return b;
    }
    // Forward: Y_j = L_jj⁻¹ (B_j − L[j, 0:j0]·Y[0:j0]).
    for (let blk = 0; blk < blocks; blk++) {
      const j0 = this.starts[blk]!;
      const size = Math.min(nb, k - j0);
      if (j0 > 0) {
        await this.backend.gemm({
          a: this.rowPanels[blk]!,
          b: b.subarray(0, j0 * nrhs),
          m: size,
          n: nrhs,
          k: j0,
          alpha: -1,
          beta: 1,
          c: b.subarray(j0 * nrhs, (j0 + size) * nrhs),
        });
      }
      const off = this.diagOffset[blk]!;
      forwardBlock(this.diag.subarray(off, off + size * size), size, 0, j0, size, b, nrhs);
    }
    // Backward: X_j = L_jj⁻ᵀ (Y_j − L[j1:k, j]ᵀ·X[j1:k]).
    for (let blk = blocks - 1; blk >= 0; blk--) {
      const j0 = this.starts[blk]!;
      const size = Math.min(nb, k - j0);
      const j1 = j0 + size;
      if (j1 < k) {
        await this.backend.gemm({
          a: this.colPanels[blk]!,
          b: b.subarray(j1 * nrhs, k * nrhs),
          m: size,
          n: nrhs,
          k: k - j1,
          transposeA: true,
          alpha: -1,
          beta: 1,
          c: b.subarray(j0 * nrhs, j1 * nrhs),
        });
      }
      const off = this.diagOffset[blk]!;
      backwardBlock(this.diag.subarray(off, off + size * size), size, 0, j0, size, b, nrhs);
    }
    return b;
  }

  /** The factor L (row-major k×k, upper triangle zero). Valid after `factor`. */
  get factorL(): Float32Array {
    return this.lower;
  }
}
