import { InvalidArgumentError } from '../errors';
import { assertInteger } from '../util/assert';
import { createRng } from '../util/random';

/** The dominant singular triplet `σ·u·vᵀ` of a matrix (‖u‖ = ‖v‖ = 1). */
export interface SingularTriplet {
  readonly sigma: number;
  /** Left singular vector (length rows). */
  readonly u: Float64Array;
  /** Right singular vector (length cols). */
  readonly v: Float64Array;
}

export interface PowerIterationOptions {
  /** Number of `u ← A·v, v ← Aᵀ·u` rounds (default 5, as the DBF reference). */
  readonly iterations?: number;
  /**
   * Work on `|A|` (element-wise absolute values) without materialising it. `|A|` is non-negative, so
   * starting from a non-negative vector keeps `u` and `v` non-negative (Perron–Frobenius).
   */
  readonly absolute?: boolean;
  /**
   * Start vector (length cols). Default: all ones for `absolute` (it overlaps the Perron vector), else a
   * seeded Gaussian vector.
   */
  readonly start?: ArrayLike<number>;
  /** Seed of the default Gaussian start (default 0). */
  readonly seed?: number;
  /** Optional output buffers (lengths rows and cols), reused to avoid allocation in hot loops. */
  readonly out?: { readonly u: Float64Array; readonly v: Float64Array };
}

/**
 * Power iteration for the top singular triplet of the row-major `rows`×`cols` matrix `a` (or of `|a|`):
 * `iterations` rounds of `u = A·v/‖A·v‖, v = Aᵀ·u/‖Aᵀ·u‖`, then `σ = ‖A·v‖` and `u = A·v/σ`, as the DBF
 * reference does. A zero matrix gives `σ = 0` and zero vectors. Plain float64 loops: this is O(rows·cols)
 * work per round, memory-bound, and cheaper in JS than a round trip to a backend.
 */
export function powerIteration(
  a: Float32Array | Float64Array,
  rows: number,
  cols: number,
  options: PowerIterationOptions = {},
): SingularTriplet {
  assertInteger('rows', rows, 1);
  assertInteger('cols', cols, 1);
  if (a.length < rows * cols)
    throw new InvalidArgumentError(`a must hold rows·cols = ${rows * cols} values, got ${a.length}.`);
  const iterations = assertInteger('iterations', options.iterations ?? 5, 0);
  const absolute = options.absolute ?? false;
  const u = options.out?.u ?? new Float64Array(rows);
  const v = options.out?.v ?? new Float64Array(cols);
  if (u.length !== rows || v.length !== cols)
    throw new InvalidArgumentError('out.u / out.v have the wrong lengths.');
  if (options.start !== undefined) {
    if (options.start.length !== cols) throw new InvalidArgumentError(`start must have ${cols} elements.`);
    for (let j = 0; j < cols; j++) v[j] = options.start[j]!;
  } else if (absolute) {
    v.fill(1);
  } else {
    const rng = createRng(options.seed ?? 0);
    for (let j = 0; j < cols; j++) v[j] = rng.normal();
  }
  if (normalize(v) === 0) {
    u.fill(0);
    return { sigma: 0, u, v };
  }
  for (let it = 0; it < iterations; it++) {
    multiply(a, rows, cols, v, u, absolute);
    if (normalize(u) === 0) return zero(u, v);
    multiplyTransposed(a, rows, cols, u, v, absolute);
    if (normalize(v) === 0) return zero(u, v);
  }
  multiply(a, rows, cols, v, u, absolute);
  const sigma = normalize(u);
  if (sigma === 0) return zero(u, v);
  return { sigma, u, v };
}

function zero(u: Float64Array, v: Float64Array): SingularTriplet {
  u.fill(0);
  v.fill(0);
  return { sigma: 0, u, v };
}

/** Scales `x` to unit norm and returns its former norm (0 leaves `x` untouched). */
function normalize(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  const norm = Math.sqrt(s);
  if (norm === 0 || !Number.isFinite(norm)) return norm;
  const inv = 1 / norm;
  for (let i = 0; i < x.length; i++) x[i]! *= inv;
  return norm;
}

/** out = A·x (or |A|·x). */
function multiply(
  a: Float32Array | Float64Array,
  rows: number,
  cols: number,
  x: Float64Array,
  out: Float64Array,
  absolute: boolean,
): void {
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    let s = 0;
    if (absolute) for (let j = 0; j < cols; j++) s += Math.abs(a[base + j]!) * x[j]!;
    else for (let j = 0; j < cols; j++) s += a[base + j]! * x[j]!;
    out[i] = s;
  }
}

/** out = Aᵀ·y (or |A|ᵀ·y), accumulated row by row so that `a` is read contiguously. */
function multiplyTransposed(
  a: Float32Array | Float64Array,
  rows: number,
  cols: number,
  y: Float64Array,
  out: Float64Array,
  absolute: boolean,
): void {
  out.fill(0);
  for (let i = 0; i < rows; i++) {
    const yi = y[i]!;
    if (yi === 0) continue;
    const base = i * cols;
    if (absolute) for (let j = 0; j < cols; j++) out[j]! += Math.abs(a[base + j]!) * yi;
    else for (let j = 0; j < cols; j++) out[j]! += a[base + j]! * yi;
  }
}
