import { InvalidArgumentError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import { assertInteger } from '../util/assert';

/**
 * Cholesky factorization `A = L·Lᵀ` of a symmetric positive definite (SPD) matrix, and solves with it.
 *
 * Two flavours:
 * - `choleskyInPlace` / `choleskySolveInPlace`: small matrices, plain float64 loops.
 * - `CholeskySolver`: k×k matrices with many right-hand sides (the ADMM ridge solves). It is blocked so
 *   that all of its O(k²·nrhs) and O(k³) flops are GEMMs run by the kernel backend; only the diagonal
 *   blocks are factored and inverted in float64 JS (O(k·b²)). Its buffers are reused across `factor` calls.
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
  /** Block size of the blocked algorithms (default 32). Matrices up to this size are handled as one block. */
  readonly blockSize?: number;
}

/**
 * A reusable blocked Cholesky factorization of k×k SPD matrices on a kernel backend.
 *
 * `factor(a, shift)` factors `A + shift·I` (A symmetric, only its lower triangle is read);
 * `solve(b, nrhs)` then overwrites the k×nrhs row-major `b` with `(A + shift·I)⁻¹·b`.
 *
 * The diagonal blocks `L_jj` are factored and inverted in float64; everything else is backend GEMMs. The
 * factor step precomputes, for each block j (rows j0..j1), the two operators of the blocked substitutions
 * with the diagonal solve folded in, so that a solve is exactly one GEMM per block and direction:
 * - forward  `Y_j = [−L_jj⁻¹·L[j, 0:j0] | L_jj⁻¹] · [Y[0:j0]; B_j]`            (b × j1)
 * - backward `X_j = [L_jj⁻ᵀ | −L_jj⁻ᵀ·L[j1:k, j]ᵀ] · [Y_j; X[j1:k]]`           (b × (k − j0))
 * With a single block (k ≤ blockSize) the solve is one GEMM with the explicit inverse `L⁻ᵀ·L⁻¹` (float64).
 */
export class CholeskySolver {
  readonly k: number;
  readonly blockSize: number;
  private readonly backend: KernelBackend;
  /** The factor L, row-major k×k (upper triangle zero). */
  private readonly lower: Float32Array;
  private readonly starts: number[] = [];
  /** Per block: the forward operator (b × j1) and the backward operator (b × (k − j0)), float32. */
  private readonly forward: Float32Array[] = [];
  private readonly backward: Float32Array[] = [];
  /** float64 scratch: the diagonal block's factor and its inverse (b×b each). */
  private readonly diag: Float64Array;
  private readonly diagInv: Float64Array;
  /** float32 copy of the diagonal block's inverse (b×b) and of a sub-diagonal block column (t×b). */
  private readonly diagInv32: Float32Array;
  private readonly a21: Float32Array;
  private readonly panel: Float32Array;
  private readonly product: Float32Array;
  private readonly work: [Float32Array, Float32Array];
  /** Solve scratch (b × nrhs), grown on demand. */
  private tmp = new Float32Array(0);
  private factored = false;

  constructor(backend: KernelBackend, k: number, options: CholeskySolverOptions = {}) {
    assertInteger('k', k, 1);
    const blockSize = assertInteger('blockSize', options.blockSize ?? 32, 1);
    if (typeof backend?.gemm !== 'function')
      throw new InvalidArgumentError('backend must be a KernelBackend.');
    this.backend = backend;
    this.k = k;
    this.blockSize = Math.min(k, blockSize);
    const nb = this.blockSize;
    this.lower = new Float32Array(k * k);
    for (let j0 = 0; j0 < k; j0 += nb) this.starts.push(j0);
    for (const j0 of this.starts) {
      const b = Math.min(nb, k - j0);
      this.forward.push(new Float32Array(b * (j0 + b)));
      this.backward.push(new Float32Array(b * (k - j0)));
    }
    this.diag = new Float64Array(nb * nb);
    this.diagInv = new Float64Array(nb * nb);
    this.diagInv32 = new Float32Array(nb * nb);
    const blocked = this.starts.length > 1;
    this.a21 = new Float32Array(blocked ? (k - nb) * nb : 0);
    this.panel = new Float32Array(blocked ? (k - nb) * nb : 0);
    this.product = new Float32Array(blocked ? (k - nb) * nb : 0);
    this.work = blocked
      ? [new Float32Array(k * k), new Float32Array(k * k)]
      : [new Float32Array(0), new Float32Array(0)];
  }

  /** Factors `a + shift·I`. `a` is k×k row-major (only the lower triangle is read). */
  async factor(a: ArrayLike<number>, shift = 0, what = 'matrix'): Promise<void> {
    const { k, blockSize: nb, backend } = this;
    if (a.length !== k * k)
      throw new InvalidArgumentError(`a must hold k·k = ${k * k} values, got ${a.length}.`);
    if (!Number.isFinite(shift)) throw new InvalidArgumentError(`shift must be finite, got ${shift}.`);
    this.factored = false;
    const lower = this.lower;
    lower.fill(0);
    // (The element loops live in synchronous helpers: V8 optimizes those far better than loops in an
    // async function body.)
    if (this.starts.length === 1) {
      explicitInverse(a, shift, k, this.diag, this.diagInv, lower, this.forward[0]!, what);
      this.factored = true;
      return;
    }
    // Right-looking blocked factorization. `cur` holds the trailing (s×s) matrix, contiguous.
    let [cur, next] = this.work;
    loadShifted(a, shift, k, cur);
    const dinv32 = this.diagInv32;
    for (let blk = 0; blk < this.starts.length; blk++) {
      const j0 = this.starts[blk]!;
      const s = k - j0;
      const b = Math.min(nb, s);
      const t = s - b;
      const j1 = j0 + b;
      // Diagonal block: factor and invert in float64; the diagonal part of both operators.
      const fwd = this.forward[blk]!;
      const bwd = this.backward[blk]!;
      diagonalBlock(cur, s, b, j0, k, this.diag, this.diagInv, dinv32, lower, fwd, bwd, what);
      const binv = dinv32.subarray(0, b * b);
      // Forward operator [−L_jj⁻¹·L[j, 0:j0] | L_jj⁻¹] (b × j1).
      if (j0 > 0) {
        const rowPanel = this.product.subarray(0, b * j0);
        copyBlock(lower, k, j0, 0, b, j0, rowPanel);
        const prod = this.a21.subarray(0, b * j0);
        await backend.gemm({ a: binv, b: rowPanel, m: b, n: j0, k: b, alpha: -1, c: prod });
        pasteBlock(prod, b, j0, fwd, j1, 0);
      }
      if (t === 0) break;
      // Panel: L21 = A21 · L11⁻ᵀ (a GEMM with the float64-inverted diagonal block).
      const a21 = this.a21.subarray(0, t * b);
      copyBlock(cur, s, b, 0, t, b, a21);
      const panel = this.panel.subarray(0, t * b);
      await backend.gemm({ a: a21, b: binv, m: t, n: b, k: b, transposeB: true, c: panel });
      pasteBlock(panel, t, b, lower, k, j1 * k + j0);
      // Backward operator [L_jj⁻ᵀ | −L_jj⁻ᵀ·L[j1:k, j]ᵀ] (b × s).
      const prodB = this.product.subarray(0, b * t);
      await backend.gemm({
        a: binv,
        b: panel,
        m: b,
        n: t,
        k: b,
        transposeA: true,
        transposeB: true,
        alpha: -1,
        c: prodB,
      });
      pasteBlock(prodB, b, t, bwd, s, b);
      // Trailing update A22 −= L21·L21ᵀ on the backend (full square: both triangles stay consistent).
      const trailing = next.subarray(0, t * t);
      copyBlock(cur, s, b, b, t, t, trailing);
      await backend.gemm({
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
    this.factored = true;
  }

  /** Overwrites the k×nrhs row-major `b` with the solution of `(A + shift·I)·X = b`. */
  async solve(b: Float32Array, nrhs: number): Promise<Float32Array> {
    if (!this.factored)
      throw new InvalidArgumentError('CholeskySolver.solve called before a successful factor().');
    assertInteger('nrhs', nrhs, 1);
    const { k, blockSize: nb, backend } = this;
    if (b.length !== k * nrhs)
      throw new InvalidArgumentError(`b must hold k·nrhs = ${k * nrhs} values, got ${b.length}.`);
    if (this.tmp.length < nb * nrhs) this.tmp = new Float32Array(nb * nrhs);
    const blocks = this.starts.length;
    if (blocks === 1) {
      const out = this.tmp.subarray(0, k * nrhs);
      await backend.gemm({ a: this.forward[0]!, b, m: k, n: nrhs, k, c: out });
      b.set(out);
      return b;
    }
    for (let blk = 0; blk < blocks; blk++) {
      const j0 = this.starts[blk]!;
      const j1 = Math.min(j0 + nb, k);
      const out = this.tmp.subarray(0, (j1 - j0) * nrhs);
      await backend.gemm({
        a: this.forward[blk]!,
        b: b.subarray(0, j1 * nrhs),
        m: j1 - j0,
        n: nrhs,
        k: j1,
        c: out,
      });
      b.set(out, j0 * nrhs);
    }
    for (let blk = blocks - 1; blk >= 0; blk--) {
      const j0 = this.starts[blk]!;
      const j1 = Math.min(j0 + nb, k);
      const out = this.tmp.subarray(0, (j1 - j0) * nrhs);
      await backend.gemm({
        a: this.backward[blk]!,
        b: b.subarray(j0 * nrhs, k * nrhs),
        m: j1 - j0,
        n: nrhs,
        k: k - j0,
        c: out,
      });
      b.set(out, j0 * nrhs);
    }
    return b;
  }

  /** The factor L (row-major k×k, upper triangle zero). Valid after `factor`. */
  get factorL(): Float32Array {
    return this.lower;
  }
}

/**
 * `inv` (row-major b×b, lower) = L⁻¹ for the lower-triangular factor in `l` (row-major b×b), float64:
 * row i of L⁻¹ is `(e_i − Σ_{p<i} L[i,p]·row_p(L⁻¹)) / L[i,i]`.
 */
function invertLower(l: Float64Array, inv: Float64Array, b: number): void {
  inv.fill(0, 0, b * b);
  for (let i = 0; i < b; i++) {
    const ri = i * b;
    for (let p = 0; p < i; p++) {
      const f = l[ri + p]!;
      if (f === 0) continue;
      const rp = p * b;
      for (let c = 0; c <= p; c++) inv[ri + c] = inv[ri + c]! - f * inv[rp + c]!;
    }
    const dInv = 1 / l[ri + i]!;
    for (let c = 0; c < i; c++) inv[ri + c] = inv[ri + c]! * dInv;
    inv[ri + i] = dInv;
  }
}

/** cur (k×k, lower triangle) = a + shift·I. */
function loadShifted(a: ArrayLike<number>, shift: number, k: number, cur: Float32Array): void {
  for (let i = 0; i < k; i++) {
    const r = i * k;
    for (let j = 0; j <= i; j++) cur[r + j] = a[r + j]!;
    cur[r + i]! += shift;
  }
}

/** out (rows×cols, contiguous) = src[r0 : r0+rows, c0 : c0+cols] (row stride `stride`). */
function copyBlock(
  src: Float32Array,
  stride: number,
  r0: number,
  c0: number,
  rows: number,
  cols: number,
  out: Float32Array,
): void {
  for (let i = 0; i < rows; i++) {
    const from = (r0 + i) * stride + c0;
    out.set(src.subarray(from, from + cols), i * cols);
  }
}

/** dst[offset + i·stride + j] = src[i·cols + j] (src rows×cols, contiguous). */
function pasteBlock(
  src: Float32Array,
  rows: number,
  cols: number,
  dst: Float32Array,
  stride: number,
  offset: number,
): void {
  for (let i = 0; i < rows; i++) dst.set(src.subarray(i * cols, (i + 1) * cols), offset + i * stride);
}

/**
 * The diagonal block of a blocked step: factors cur[0:b, 0:b] (row stride s) in float64 into `lower`
 * (at (j0, j0)), inverts it into `dinv`/`dinv32` (b×b), and writes L_jj⁻¹ into the forward operator
 * (columns j0..j1, row stride j0 + b) and L_jj⁻ᵀ into the backward operator (columns 0..b, row stride s).
 */
function diagonalBlock(
  cur: Float32Array,
  s: number,
  b: number,
  j0: number,
  k: number,
  d: Float64Array,
  dinv: Float64Array,
  dinv32: Float32Array,
  lower: Float32Array,
  fwd: Float32Array,
  bwd: Float32Array,
  what: string,
): void {
  for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) d[i * b + j] = cur[i * s + j]!;
  factorBlock(d, b, b, 0, what, j0);
  for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) lower[(j0 + i) * k + j0 + j] = d[i * b + j]!;
  invertLower(d, dinv, b);
  for (let i = 0; i < b * b; i++) dinv32[i] = dinv[i]!;
  const j1 = j0 + b;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      fwd[i * j1 + j0 + j] = dinv32[i * b + j]!;
      bwd[i * s + j] = dinv32[j * b + i]!;
    }
  }
}

/**
 * Single-block case: factors a + shift·I (k×k) in float64 into `lower` and writes the explicit inverse
 * (L·Lᵀ)⁻¹ = L⁻ᵀ·L⁻¹ (float64, rounded once) into `m`: M[r][c] = Σ_{i ≥ max(r,c)} L⁻¹[i][r]·L⁻¹[i][c].
 */
function explicitInverse(
  a: ArrayLike<number>,
  shift: number,
  k: number,
  d: Float64Array,
  dinv: Float64Array,
  lower: Float32Array,
  m: Float32Array,
  what: string,
): void {
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) d[i * k + j] = a[i * k + j]!;
    d[i * k + i]! += shift;
  }
  factorBlock(d, k, k, 0, what);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) lower[i * k + j] = d[i * k + j]!;
  invertLower(d, dinv, k);
  d.fill(0, 0, k * k);
  for (let i = 0; i < k; i++) {
    const ri = i * k;
    for (let r = 0; r <= i; r++) {
      const f = dinv[ri + r]!;
      if (f === 0) continue;
      const rr = r * k;
      for (let c = 0; c <= r; c++) d[rr + c] = d[rr + c]! + f * dinv[ri + c]!;
    }
  }
  for (let r = 0; r < k; r++)
    for (let c = 0; c <= r; c++) {
      m[r * k + c] = d[r * k + c]!;
      m[c * k + r] = d[r * k + c]!;
    }
}
