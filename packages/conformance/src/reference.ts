import {
  assertInteger,
  checkedProduct,
  type GemmRequest,
  InvalidArgumentError,
  type LinearLayer,
  type PackedSigns,
  unpackSigns,
  validateLayer,
  validatePackedSigns,
} from '@dbf/core';

/**
 * Float64 references, written straight from the formulas of docs/kernels.md on unpacked ±1 matrices.
 * They are the oracle of the random-shape checks, so they favour obviousness over speed.
 */

/** `y = W·x (+ bias)` for each of `batch` row-major input vectors; returns `batch × outFeatures`. */
export function referenceLinear(layer: LinearLayer, input: ArrayLike<number>, batch: number): Float64Array {
  validateLayer(layer);
  assertInteger('batch', batch, 1);
  const n = layer.outFeatures;
  const m = layer.inFeatures;
  expectLength('input', input, checkedProduct('batch·inFeatures', [batch, m]));
  const out = new Float64Array(batch * n);
  for (let s = 0; s < batch; s++) {
    const x = Float64Array.from({ length: m }, (_, j) => input[s * m + j]!);
    let y: Float64Array;
    if (layer.kind === 'dense') {
      y = new Float64Array(n);
      for (let r = 0; r < n; r++) {
        let sum = 0;
        for (let j = 0; j < m; j++) sum += layer.weight[r * m + j]! * x[j]!;
        y[r] = sum;
      }
    } else if (layer.kind === 'dbf') {
      // y = a ⊙ (S_A (μ ⊙ (S_B (b ⊙ x))))
      const sA = unpackSigns(layer.signA);
      const sB = unpackSigns(layer.signB);
      const t = scale(layer.scaleMid, matVec(sB, layer.rank, m, scale(layer.scaleB, x)));
      y = scale(layer.scaleA, matVec(sA, n, layer.rank, t));
    } else {
      // u = Σ_c Q_V[:,c] ⊙ (S_B (B_amp[:,c] ⊙ x)),  y = Σ_c A_amp[:,c] ⊙ (S_A (Q_U[:,c] ⊙ u))
      const { rank: k, envelopeRank: l } = layer;
      const sA = unpackSigns(layer.signA);
      const sB = unpackSigns(layer.signB);
      const u = new Float64Array(k);
      for (let c = 0; c < l; c++) {
        const v = matVec(sB, k, m, scale(column(layer.envB, m, l, c), x));
        const qv = column(layer.envQV, k, l, c);
        for (let i = 0; i < k; i++) u[i]! += qv[i]! * v[i]!;
      }
      y = new Float64Array(n);
      for (let c = 0; c < l; c++) {
        const z = matVec(sA, n, k, scale(column(layer.envQU, k, l, c), u));
        const amp = column(layer.envA, n, l, c);
        for (let r = 0; r < n; r++) y[r]! += amp[r]! * z[r]!;
      }
    }
    for (let r = 0; r < n; r++) out[s * n + r] = y[r]! + (layer.bias ? layer.bias[r]! : 0);
  }
  return out;
}

/** `y = S·x` for each of `batch` input vectors of length `signs.cols`; returns `batch × rows`. */
export function referenceSignMatMul(
  signs: PackedSigns,
  input: ArrayLike<number>,
  batch: number,
): Float64Array {
  validatePackedSigns('signs', signs);
  assertInteger('batch', batch, 1);
  const { rows, cols } = signs;
  expectLength('input', input, checkedProduct('batch·cols', [batch, cols]));
  const dense = unpackSigns(signs);
  const out = new Float64Array(batch * rows);
  for (let s = 0; s < batch; s++) {
    const x = Float64Array.from({ length: cols }, (_, j) => input[s * cols + j]!);
    out.set(matVec(dense, rows, cols, x), s * rows);
  }
  return out;
}

/** `C = alpha·op(A)·op(B) + beta·C` (row-major; `c` is read only when `beta ≠ 0`); returns `m × n`. */
export function referenceGemm(request: GemmRequest): Float64Array {
  const { a, b, transposeA = false, transposeB = false, alpha = 1, beta = 0, c } = request;
  const m = assertInteger('m', request.m, 1);
  const n = assertInteger('n', request.n, 1);
  const k = assertInteger('k', request.k, 1);
  expectLength('a', a, checkedProduct('m·k', [m, k]));
  expectLength('b', b, checkedProduct('k·n', [k, n]));
  if (beta !== 0) {
    if (c === undefined) throw new InvalidArgumentError('beta is non-zero, so c must be given.');
    expectLength('c', c, m * n);
  }
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        const av = transposeA ? a[p * m + i]! : a[i * k + p]!;
        const bv = transposeB ? b[j * k + p]! : b[p * n + j]!;
        sum += av * bv;
      }
      out[i * n + j] = alpha * sum + (beta !== 0 ? beta * c![i * n + j]! : 0);
    }
  }
  return out;
}

function matVec(matrix: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += matrix[r * cols + j]! * x[j]!;
    y[r] = sum;
  }
  return y;
}

function scale(factors: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => factors[i]! * x[i]!);
}

/** Column `c` of a row-major `rows × cols` matrix. */
function column(matrix: ArrayLike<number>, rows: number, cols: number, c: number): Float64Array {
  return Float64Array.from({ length: rows }, (_, i) => matrix[i * cols + c]!);
}

function expectLength(name: string, array: ArrayLike<number>, length: number): void {
  if (array === null || typeof array !== 'object' || array.length !== length) {
    throw new InvalidArgumentError(`${name} must have ${length} elements, got ${array?.length}.`);
  }
}
