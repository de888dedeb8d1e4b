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
    // u = A·v and v = Aᵀ·u in one pass over A (v is normalised afterwards, so u need not be first).
    multiplyBoth(a, rows, cols, v, u, absolute);
    if (normalize(u) === 0) return zero(u, v);
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
  let i = 0;
  // Four rows at a time (each row's sum keeps its own order, so the results are those of one row at a time).
  for (; i + 3 < rows; i += 4) {
    const b0 = i * cols;
    const b1 = b0 + cols;
    const b2 = b1 + cols;
    const b3 = b2 + cols;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    if (absolute) {
      for (let j = 0; j < cols; j++) {
        const xj = x[j]!;
        s0 += Math.abs(a[b0 + j]!) * xj;
        s1 += Math.abs(a[b1 + j]!) * xj;
        s2 += Math.abs(a[b2 + j]!) * xj;
        s3 += Math.abs(a[b3 + j]!) * xj;
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const xj = x[j]!;
        s0 += a[b0 + j]! * xj;
        s1 += a[b1 + j]! * xj;
        s2 += a[b2 + j]! * xj;
        s3 += a[b3 + j]! * xj;
      }
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  for (; i < rows; i++) {
    const base = i * cols;
    let s = 0;
    if (absolute) for (let j = 0; j < cols; j++) s += Math.abs(a[base + j]!) * x[j]!;
    else for (let j = 0; j < cols; j++) s += a[base + j]! * x[j]!;
    out[i] = s;
  }
}

/**
 * u = A·v, then v ← Aᵀ·u (or with |A|), fused so that each block of eight rows is read once for both
 * products (it is still in L1 cache for the second). `v` is overwritten with the unnormalised Aᵀ·u.
 */
function multiplyBoth(
  a: Float32Array | Float64Array,
  rows: number,
  cols: number,
  v: Float64Array,
  u: Float64Array,
  absolute: boolean,
): void {
  // Accumulate Aᵀ·u into a scratch (v is still being read), then copy.
  const out = scratchFor(cols);
  out.fill(0, 0, cols);
  let i = 0;
  // Eight rows at a time: v and out are loaded once per eight rows. (Each out[j] still receives the rows'
  // terms in row order, left to right, so the blocking does not change a single rounding.)
  for (; i + 7 < rows; i += 8) {
    const b0 = i * cols;
    const b1 = b0 + cols;
    const b2 = b1 + cols;
    const b3 = b2 + cols;
    const b4 = b3 + cols;
    const b5 = b4 + cols;
    const b6 = b5 + cols;
    const b7 = b6 + cols;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    if (absolute) {
      for (let j = 0; j < cols; j++) {
        const x = v[j]!;
        s0 += Math.abs(a[b0 + j]!) * x;
        s1 += Math.abs(a[b1 + j]!) * x;
        s2 += Math.abs(a[b2 + j]!) * x;
        s3 += Math.abs(a[b3 + j]!) * x;
        s4 += Math.abs(a[b4 + j]!) * x;
        s5 += Math.abs(a[b5 + j]!) * x;
        s6 += Math.abs(a[b6 + j]!) * x;
        s7 += Math.abs(a[b7 + j]!) * x;
      }
      for (let j = 0; j < cols; j++) {
        out[j] =
          out[j]! +
          s0 * Math.abs(a[b0 + j]!) +
          s1 * Math.abs(a[b1 + j]!) +
          s2 * Math.abs(a[b2 + j]!) +
          s3 * Math.abs(a[b3 + j]!) +
          s4 * Math.abs(a[b4 + j]!) +
          s5 * Math.abs(a[b5 + j]!) +
          s6 * Math.abs(a[b6 + j]!) +
          s7 * Math.abs(a[b7 + j]!);
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const x = v[j]!;
        s0 += a[b0 + j]! * x;
        s1 += a[b1 + j]! * x;
        s2 += a[b2 + j]! * x;
        s3 += a[b3 + j]! * x;
        s4 += a[b4 + j]! * x;
        s5 += a[b5 + j]! * x;
        s6 += a[b6 + j]! * x;
        s7 += a[b7 + j]! * x;
      }
      for (let j = 0; j < cols; j++) {
        out[j] =
          out[j]! +
          s0 * a[b0 + j]! +
          s1 * a[b1 + j]! +
          s2 * a[b2 + j]! +
          s3 * a[b3 + j]! +
          s4 * a[b4 + j]! +
          s5 * a[b5 + j]! +
          s6 * a[b6 + j]! +
          s7 * a[b7 + j]!;
      }
    }
    u[i] = s0;
    u[i + 1] = s1;
    u[i + 2] = s2;
    u[i + 3] = s3;
    u[i + 4] = s4;
    u[i + 5] = s5;
    u[i + 6] = s6;
    u[i + 7] = s7;
  }
  for (; i < rows; i++) {
    const base = i * cols;
    let s = 0;
    if (absolute) {
      for (let j = 0; j < cols; j++) s += Math.abs(a[base + j]!) * v[j]!;
      for (let j = 0; j < cols; j++) out[j] = out[j]! + s * Math.abs(a[base + j]!);
    } else {
      for (let j = 0; j < cols; j++) s += a[base + j]! * v[j]!;
      for (let j = 0; j < cols; j++) out[j] = out[j]! + s * a[base + j]!;
    }
    u[i] = s;
  }
  for (let j = 0; j < cols; j++) v[j] = out[j]!;
}

let scratch = new Float64Array(0);
function scratchFor(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}
