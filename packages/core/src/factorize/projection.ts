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
    this.rows = rows;
    this.cols = cols;
    this.last = z;
    const { l } = this;
    if (l === 1) {
      const { sigma, u, v } = powerIteration(t, rows, cols, {
        iterations: this.powerIterations,
        absolute: true,
        out: { u: this.u.subarray(0, rows), v: this.v.subarray(0, cols) },
      });
      const left = this.leftBuf;
      const right = this.rightBuf;
      for (let i = 0; i < rows; i++) left[i] = sigma * u[i]!;
      for (let j = 0; j < cols; j++) right[j] = v[j]!;
      for (let i = 0; i < rows; i++) {
        const li = left[i]!;
        const base = i * cols;
        for (let j = 0; j < cols; j++) {
          const m = li * right[j]!;
          z[base + j] = t[base + j]! >= 0 ? m : -m;
        }
      }
      this.whole = false;
      return;
    }
    const size = rows * cols;
    if (l >= Math.min(rows, cols)) {
      // TSVD_l(|M|) = |M|: the projection is the identity.
      z.set(t.subarray(0, size));
      this.whole = true;
      return;
    }
    const abs = this.scratch.subarray(0, size);
    for (let i = 0; i < size; i++) abs[i] = Math.abs(t[i]!);
    const svd = await subspaceIteration(this.backend, abs, rows, cols, l, {
      iterations: this.powerIterations,
      oversample: 4,
      rng: this.rng,
    });
    const left = this.leftBuf.subarray(0, rows * l);
    const right = this.rightBuf.subarray(0, cols * l);
    for (let i = 0; i < rows; i++)
      for (let c = 0; c < l; c++) left[i * l + c] = svd.u[i * l + c]! * svd.s[c]!;
    right.set(svd.v);
    // amp = left·rightᵀ on the backend, then re-apply the signs of t.
    await this.backend.gemm({ a: left, b: right, m: rows, n: cols, k: l, transposeB: true, c: abs });
    for (let i = 0; i < size; i++) z[i] = t[i]! >= 0 ? abs[i]! : -abs[i]!;
    this.whole = false;
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
