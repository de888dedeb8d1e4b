import { InvalidArgumentError } from '../errors';
import { assertInteger } from '../util/assert';

/** A (thin or truncated) SVD `A ≈ U·diag(s)·Vᵀ`, singular values in decreasing order. */
export interface Svd<T extends Float32Array | Float64Array = Float64Array> {
  /** Number of singular triplets. */
  readonly rank: number;
  /** rows×rank, row-major, orthonormal columns. */
  readonly u: T;
  /** Singular values, decreasing, non-negative. */
  readonly s: Float64Array;
  /** cols×rank, row-major, orthonormal columns. */
  readonly v: T;
}

const MAX_SWEEPS = 60;

/**
 * Full thin SVD of a small dense row-major matrix by one-sided (Hestenes) Jacobi rotations, in float64:
 * accurate to working precision, including small singular values. O(rows·cols²) per sweep, so meant for
 * small matrices (the R factors of subspace iterations, reference values in tests). Returns
 * `rank = min(rows, cols)` triplets; singular vectors of zero singular values are completed to an
 * orthonormal set.
 */
export function svdJacobi(a: ArrayLike<number>, rows: number, cols: number): Svd {
  assertInteger('rows', rows, 1);
  assertInteger('cols', cols, 1);
  if (a.length < rows * cols)
    throw new InvalidArgumentError(`a must hold rows·cols = ${rows * cols} values, got ${a.length}.`);
  if (rows < cols) {
    // SVD of Aᵀ, then swap the roles of U and V.
    const t = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
    const r = svdJacobi(t, cols, rows);
    return { rank: r.rank, u: r.v, s: r.s, v: r.u };
  }
  const n = cols;
  const len = rows;
  // x: columns of A stored as contiguous rows (n × len); y: columns of V, likewise (n × n).
  const x = new Float64Array(n * len);
  for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) x[j * len + i] = a[i * cols + j]!;
  const y = new Float64Array(n * n);
  for (let j = 0; j < n; j++) y[j * n + j] = 1;
  const eps = 1e-15;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const po = p * len;
        const qo = q * len;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < len; i++) {
          const xp = x[po + i]!;
          const xq = x[qo + i]!;
          alpha += xp * xp;
          beta += xq * xq;
          gamma += xp * xq;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(x, po, qo, len, c, s);
        rotate(y, p * n, q * n, n, c, s);
      }
    }
    if (!rotated) break;
  }
  const sigma = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s2 = 0;
    for (let i = 0; i < len; i++) s2 += x[j * len + i]! * x[j * len + i]!;
    sigma[j] = Math.sqrt(s2);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((i, j) => sigma[j]! - sigma[i]!);
  const s = new Float64Array(n);
  const u = new Float64Array(rows * n);
  const v = new Float64Array(n * n);
  const tiny = (sigma[order[0]!] ?? 0) * 1e-14;
  const deficient: number[] = [];
  order.forEach((src, dst) => {
    const sv = sigma[src]!;
    s[dst] = sv;
    for (let i = 0; i < n; i++) v[i * n + dst] = y[src * n + i]!;
    if (sv > tiny && sv > 0) {
      const inv = 1 / sv;
      for (let i = 0; i < rows; i++) u[i * n + dst] = x[src * len + i]! * inv;
    } else {
      deficient.push(dst);
    }
  });
  if (deficient.length > 0) completeOrthonormal(u, rows, n, deficient);
  return { rank: n, u, s, v };
}

function rotate(m: Float64Array, po: number, qo: number, len: number, c: number, s: number): void {
  for (let i = 0; i < len; i++) {
    const mp = m[po + i]!;
    const mq = m[qo + i]!;
    m[po + i] = c * mp - s * mq;
    m[qo + i] = s * mp + c * mq;
  }
}

/**
 * Fills the listed columns of the row-major rows×n matrix `u` (whose other columns are orthonormal) with
 * unit vectors orthogonal to all the others, by Gram–Schmidt on the standard basis.
 */
function completeOrthonormal(u: Float64Array, rows: number, n: number, columns: readonly number[]): void {
  const filled = new Set<number>(Array.from({ length: n }, (_, j) => j).filter((j) => !columns.includes(j)));
  const w = new Float64Array(rows);
  let basis = 0;
  for (const col of columns) {
    for (; basis < rows; basis++) {
      w.fill(0);
      w[basis] = 1;
      // Two passes of Gram–Schmidt for orthogonality to working precision.
      for (let pass = 0; pass < 2; pass++) {
        for (const j of filled) {
          let d = 0;
          for (let i = 0; i < rows; i++) d += u[i * n + j]! * w[i]!;
          for (let i = 0; i < rows; i++) w[i]! -= d * u[i * n + j]!;
        }
      }
      let norm = 0;
      for (let i = 0; i < rows; i++) norm += w[i]! * w[i]!;
      norm = Math.sqrt(norm);
      if (norm > 1e-8) {
        for (let i = 0; i < rows; i++) u[i * n + col] = w[i]! / norm;
        filled.add(col);
        basis++;
        break;
      }
    }
  }
}
