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
  // Column-major working copies (column j contiguous at j·rows): the reflector loops then run over long
  // contiguous columns. The arithmetic and its order are those of the row-major formulation.
  const w = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) w[j * rows + i] = a[i * cols + j]!;
  const vs = new Float64Array(rows * cols); // reflector j lives in column j, rows j..rows-1
  for (let j = 0; j < cols; j++) {
    const cj = j * rows;
    let norm2 = 0;
    for (let i = j; i < rows; i++) norm2 += w[cj + i]! * w[cj + i]!;
    const norm = Math.sqrt(norm2);
    if (norm === 0) continue; // zero column: identity reflector
    const x0 = w[cj + j]!;
    const alpha = x0 > 0 ? -norm : norm;
    // v = x − alpha·e0, normalised; H = I − 2vvᵀ maps x to alpha·e0.
    let vnorm2 = 0;
    for (let i = j; i < rows; i++) {
      const vi = i === j ? x0 - alpha : w[cj + i]!;
      vs[cj + i] = vi;
      vnorm2 += vi * vi;
    }
    const vinv = 1 / Math.sqrt(vnorm2);
    for (let i = j; i < rows; i++) vs[cj + i]! *= vinv;
    applyReflector(w, vs, rows, cols, j, j);
  }
  const r = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = i; j < cols; j++) r[i * cols + j] = w[j * rows + i]!;
  // Q = H_0 ⋯ H_{cols−1} · [I; 0]: apply the reflectors in reverse order.
  const qc = new Float64Array(rows * cols);
  for (let i = 0; i < cols; i++) qc[i * rows + i] = 1;
  for (let j = cols - 1; j >= 0; j--) applyReflector(qc, vs, rows, cols, j, j);
  const q = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) q[i * cols + j] = qc[j * rows + i]!;
  return { q, r };
}

/** Orthonormal basis (rows×cols, float64) of the column space of a tall matrix: the Q of its QR. */
export function orthonormalize(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  return householderQr(a, rows, cols).q;
}

/**
 * Applies H_j = I − 2·v_j·v_jᵀ (v_j in column j of the column-major `vs`, rows ≥ j) to columns ≥ c0 of
 * the column-major `m` (rows×cols).
 */
function applyReflector(
  m: Float64Array,
  vs: Float64Array,
  rows: number,
  cols: number,
  j: number,
  c0: number,
): void {
  const vj = j * rows;
  for (let c = c0; c < cols; c++) {
    const mc = c * rows;
    let dot = 0;
    let any = false;
    for (let i = j; i < rows; i++) {
      const vi = vs[vj + i]!;
      if (vi === 0) continue;
      any = true;
      dot += vi * m[mc + i]!;
    }
    if (!any) return;
    for (let i = j; i < rows; i++) {
      const vi2 = 2 * vs[vj + i]!;
      if (vi2 === 0) continue;
      m[mc + i]! -= vi2 * dot;
    }
  }
}
