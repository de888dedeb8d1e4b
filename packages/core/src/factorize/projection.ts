import type { KernelBackend } from '../kernel/kernel-backend';
import { powerIteration } from '../linalg/power-iteration';
import { subspaceIteration, truncatedSvd } from '../linalg/truncated-svd';
import type { Rng } from '../util/random';

/** The envelope factors of a projected matrix: `|Z| = left·rightᵀ` (left rows×l, right cols×l, row-major). */
export interface EnvelopeFactors {
  readonly left: Float32Array;
  readonly right: Float32Array;
}

/**
 * The constraint-set projection of DBF/MDBF, `Π_l(M) = sign(M) ⊙ TSVD_l(|M|)` (sign(0) = +1).
 *
 * - l = 1 (DBF's SVID): rank-1 of `|M|` by `powerIterations` rounds of power iteration started from the
 *   all-ones vector, so u, v ≥ 0 (the reference starts from a random vector; any start with a positive
 *   overlap with the Perron vector converges to the same triplet, and the all-ones start keeps the
 *   result deterministic without consuming random numbers).
 * - l ≥ 2: block subspace iteration (`powerIterations` rounds, oversample 4, QR each step, small SVD) from a
 *   random start drawn from `rng`, as the MDBF reference does. If l ≥ min(rows, cols), |M| is kept whole.
 *
 * One projector serves matrices up to `maxRows`×`maxCols`; its scratch buffers are reused.
 */
export class EnvelopeProjector {
  private readonly backend: KernelBackend;
  private readonly l: number;
  private readonly powerIterations: number;
  private readonly rng: Rng;
  private readonly scratch: Float32Array;
  private readonly u: Float64Array;
  private readonly v: Float64Array;
  private leftBuf: Float32Array;
  private rightBuf: Float32Array;
  private rows = 0;
  private cols = 0;
  /** True when the last projection kept |M| whole (l ≥ min(rows, cols)). */
  private whole = false;
  private last: Float32Array | undefined;

  constructor(
    backend: KernelBackend,
    l: number,
    powerIterations: number,
    rng: Rng,
    maxRows: number,
    maxCols: number,
  ) {
    this.backend = backend;
    this.l = l;
    this.powerIterations = powerIterations;
    this.rng = rng;
    this.scratch = l === 1 ? new Float32Array(0) : new Float32Array(maxRows * maxCols);
    this.u = new Float64Array(maxRows);
    this.v = new Float64Array(maxCols);
    this.leftBuf = new Float32Array(maxRows * l);
    this.rightBuf = new Float32Array(maxCols * l);
  }

  /** Writes `Π_l(t)` (t is rows×cols, row-major) into `z`; `z` must not alias `t`. */
  async project(t: Float32Array, rows: number, cols: number, z: Float32Array): Promise<void> {
    this.last = z;
    if (this.l === 1) {
      this.svid(t, rows, cols);
      svidAdmmUpdate(t, rows, cols, this.leftBuf, this.rightBuf, z, undefined, undefined, undefined);
      return;
    }
    const amp = await this.envelope(t, rows, cols);
    if (amp) applySigns(z, t, amp, rows * cols);
    else z.set(t.subarray(0, rows * cols));
  }

  /**
   * The ADMM update around a projection, fused into one pass: `z = Π_l(t)`, `u = t − z` and, when `next`
   * is given, `next.rhs = next.c + z − u` (every value rounded to float32 exactly as separate element-wise
   * passes would). `z`, `u` and `next.rhs` must not alias `t`.
   */
  async projectAdmm(
    t: Float32Array,
    rows: number,
    cols: number,
    z: Float32Array,
    u: Float32Array,
    next?: { readonly c: Float32Array; readonly rhs: Float32Array },
  ): Promise<void> {
    this.last = z;
    if (this.l === 1) {
      this.svid(t, rows, cols);
      svidAdmmUpdate(t, rows, cols, this.leftBuf, this.rightBuf, z, u, next?.c, next?.rhs);
      return;
    }
    const amp = await this.envelope(t, rows, cols);
    // When |t| is kept whole, z = t: the same update with amp = |t|.
    signsAdmmUpdate(t, amp, z, u, rows * cols, next?.c, next?.rhs);
  }

  /**
   * l ≥ 2: the rank-l envelope TSVD_l(|t|) into leftBuf/rightBuf and, as amplitudes, into the scratch
   * (returned). Undefined when l ≥ min(rows, cols): then |t| is kept whole and Π_l(t) = t.
   */
  private async envelope(t: Float32Array, rows: number, cols: number): Promise<Float32Array | undefined> {
    const { l } = this;
    this.rows = rows;
    this.cols = cols;
    const size = rows * cols;
    if (l >= Math.min(rows, cols)) {
      // TSVD_l(|M|) = |M|: the projection is the identity.
      this.whole = true;
      return undefined;
    }
    const abs = this.scratch.subarray(0, size);
    absInto(abs, t, size);
    const svd = await subspaceIteration(this.backend, abs, rows, cols, l, {
      iterations: this.powerIterations,
      oversample: 4,
      rng: this.rng,
    });
    const left = this.leftBuf.subarray(0, rows * l);
    const right = this.rightBuf.subarray(0, cols * l);
    scaleColumns(left, svd.u, svd.s, rows, l);
    right.set(svd.v);
    // amp = left·rightᵀ on the backend; the caller re-applies the signs of t.
    await this.backend.gemm({ a: left, b: right, m: rows, n: cols, k: l, transposeB: true, c: abs });
    this.whole = false;
    return abs;
  }

  /** l = 1: the SVID rank-1 envelope of |t| into leftBuf (σ·u) and rightBuf (v). */
  private svid(t: Float32Array, rows: number, cols: number): void {
    this.rows = rows;
    this.cols = cols;
    this.whole = false;
    const { sigma, u, v } = powerIteration(t, rows, cols, {
      iterations: this.powerIterations,
      absolute: true,
      out: { u: this.u.subarray(0, rows), v: this.v.subarray(0, cols) },
    });
    const left = this.leftBuf;
    const right = this.rightBuf;
    for (let i = 0; i < rows; i++) left[i] = sigma * u[i]!;
    for (let j = 0; j < cols; j++) right[j] = v[j]!;
  }

  /**
   * The envelope factors of the last projection, padded to l columns: exact (up to float32) because the
   * projection output is rank-l by construction. When |M| was kept whole, an exact SVD of it is taken.
   */
  async factors(): Promise<EnvelopeFactors> {
    const { rows, cols, l } = this;
    const left = new Float32Array(rows * l);
    const right = new Float32Array(cols * l);
    if (!this.whole) {
      left.set(this.leftBuf.subarray(0, rows * l));
      right.set(this.rightBuf.subarray(0, cols * l));
      return { left, right };
    }
    const z = this.last!;
    const abs = Float32Array.from(z.subarray(0, rows * cols), Math.abs);
    const r = Math.min(rows, cols);
    const svd = await truncatedSvd(this.backend, abs, rows, cols, r, {
      oversample: 0,
      powerIterations: 0,
      rng: this.rng,
    });
    for (let i = 0; i < rows; i++)
      for (let c = 0; c < r; c++) left[i * l + c] = svd.u[i * r + c]! * svd.s[c]!;
    for (let j = 0; j < cols; j++) for (let c = 0; c < r; c++) right[j * l + c] = svd.v[j * r + c]!;
    return { left, right };
  }
}

/**
 * z = sign(t) ⊙ (left·rightᵀ) (rank 1, rows×cols); when `u` is given also u = t − z and, when `c` and
 * `rhs` are given, rhs = c + z − u: one pass, each value rounded to float32 as separate passes would.
 */
function svidAdmmUpdate(
  t: Float32Array,
  rows: number,
  cols: number,
  left: Float32Array,
  right: Float32Array,
  z: Float32Array,
  u: Float32Array | undefined,
  c: Float32Array | undefined,
  rhs: Float32Array | undefined,
): void {
  for (let i = 0; i < rows; i++) {
    const li = left[i]!;
    const base = i * cols;
    if (u === undefined) {
      for (let j = 0; j < cols; j++) {
        const m = li * right[j]!;
        z[base + j] = t[base + j]! >= 0 ? m : -m;
      }
    } else if (c === undefined || rhs === undefined) {
      for (let j = 0; j < cols; j++) {
        const ti = t[base + j]!;
        const m = Math.fround(li * right[j]!);
        const zi = ti >= 0 ? m : -m;
        z[base + j] = zi;
        u[base + j] = ti - zi;
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const ti = t[base + j]!;
        const m = Math.fround(li * right[j]!);
        const zi = ti >= 0 ? m : -m;
        const ui = Math.fround(ti - zi);
        z[base + j] = zi;
        u[base + j] = ui;
        rhs[base + j] = c[base + j]! + zi - ui;
      }
    }
  }
}

/**
 * z = sign(t) ⊙ amp (or z = t when amp is undefined), u = t − z and, when given, rhs = c + z − u, in one
 * pass (float32 rounding as separate passes).
 */
function signsAdmmUpdate(
  t: Float32Array,
  amp: Float32Array | undefined,
  z: Float32Array,
  u: Float32Array,
  size: number,
  c: Float32Array | undefined,
  rhs: Float32Array | undefined,
): void {
  if (amp === undefined) z.set(t.subarray(0, size));
  if (c === undefined || rhs === undefined) {
    if (amp !== undefined) applySigns(z, t, amp, size);
    for (let i = 0; i < size; i++) u[i] = t[i]! - z[i]!;
    return;
  }
  if (amp === undefined) {
    for (let i = 0; i < size; i++) {
      const zi = z[i]!;
      const ui = Math.fround(t[i]! - zi);
      u[i] = ui;
      rhs[i] = c[i]! + zi - ui;
    }
    return;
  }
  for (let i = 0; i < size; i++) {
    const ti = t[i]!;
    const zi = ti >= 0 ? amp[i]! : -amp[i]!;
    const ui = Math.fround(ti - zi);
    z[i] = zi;
    u[i] = ui;
    rhs[i] = c[i]! + zi - ui;
  }
}

function absInto(out: Float32Array, t: Float32Array, size: number): void {
  for (let i = 0; i < size; i++) out[i] = Math.abs(t[i]!);
}

/** out (rows×l) = u (rows×l) · diag(s). */
function scaleColumns(out: Float32Array, u: Float32Array, s: Float64Array, rows: number, l: number): void {
  for (let i = 0; i < rows; i++) for (let c = 0; c < l; c++) out[i * l + c] = u[i * l + c]! * s[c]!;
}

/** z = sign(t) ⊙ amp (sign(0) = +1). */
function applySigns(z: Float32Array, t: Float32Array, amp: Float32Array, size: number): void {
  for (let i = 0; i < size; i++) z[i] = t[i]! >= 0 ? amp[i]! : -amp[i]!;
}
