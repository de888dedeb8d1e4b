import { InvalidArgumentError } from '../errors';
import { assertInteger } from '../util/assert';

export interface ThinQr {
  /** rows×cols, orthonormal columns, row-major. */
  readonly q: Float64Array;
  /** cols×cols upper triangular, row-major. */
  readonly r: Float64Array;
}

/**
 * Householder QR `A = Q·R` of a tall row-major `rows`×`cols` matrix (`rows ≥ cols`), in float64. `Q` has
 * orthonormal columns even when `A` is rank deficient (then some diagonal entries of `R` are zero), which
 * is why subspace iterations use it rather than Gram–Schmidt or Cholesky-QR.
 */
export function householderQr(a: ArrayLike<number>, rows: number, cols: number): ThinQr {
  assertInteger('rows', rows, 1);
  assertInteger('cols', cols, 1);
  if (rows < cols) throw new InvalidArgumentError(`householderQr needs rows ≥ cols, got ${rows}×${cols}.`);
  if (a.length < rows * cols)
    throw new InvalidArgumentError(`a must hold rows·cols = ${rows * cols} values, got ${a.length}.`);
  const w = Float64Array.from({ length: rows * cols }, (_, i) => a[i]!);
  const vs = new Float64Array(rows * cols); // reflector j lives in column j, rows j..rows-1
  const dots = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    let norm2 = 0;
    for (let i = j; i < rows; i++) norm2 += w[i * cols + j]! * w[i * cols + j]!;
    const norm = Math.sqrt(norm2);
    if (norm === 0) continue; // zero column: identity reflector
    const x0 = w[j * cols + j]!;
    const alpha = x0 > 0 ? -norm : norm;
    // v = x − alpha·e0, normalised; H = I − 2vvᵀ maps x to alpha·e0.
    let vnorm2 = 0;
    for (let i = j; i < rows; i++) {
      const vi = i === j ? x0 - alpha : w[i * cols + j]!;
      vs[i * cols + j] = vi;
      vnorm2 += vi * vi;
    }
    const vinv = 1 / Math.sqrt(vnorm2);
    for (let i = j; i < rows; i++) vs[i * cols + j]! *= vinv;
    applyReflector(w, vs, rows, cols, j, j, dots);
  }
  const r = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = i; j < cols; j++) r[i * cols + j] = w[i * cols + j]!;
  // Q = H_0 ⋯ H_{cols−1} · [I; 0]: apply the reflectors in reverse order.
  const q = new Float64Array(rows * cols);
  for (let i = 0; i < cols; i++) q[i * cols + i] = 1;
  for (let j = cols - 1; j >= 0; j--) applyReflector(q, vs, rows, cols, j, j, dots);
  return { q, r };
}

/** Orthonormal basis (rows×cols, float64) of the column space of a tall matrix: the Q of its QR. */
export function orthonormalize(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  return householderQr(a, rows, cols).q;
}

/** Applies H_j = I − 2·v_j·v_jᵀ (v_j in column j of `vs`, rows ≥ j) to columns ≥ c0 of `m`. */
function applyReflector(
  m: Float64Array,
  vs: Float64Array,
  rows: number,
  cols: number,
  j: number,
  c0: number,
  dots: Float64Array,
): void {
  dots.fill(0, c0, cols);
  let any = false;
  for (let i = j; i < rows; i++) {
    const vi = vs[i * cols + j]!;
    if (vi === 0) continue;
    any = true;
    const base = i * cols;
    for (let c = c0; c < cols; c++) dots[c]! += vi * m[base + c]!;
  }
  if (!any) return;
  for (let i = j; i < rows; i++) {
    const vi2 = 2 * vs[i * cols + j]!;
    if (vi2 === 0) continue;
    const base = i * cols;
    for (let c = c0; c < cols; c++) m[base + c]! -= vi2 * dots[c]!;
  }
}
