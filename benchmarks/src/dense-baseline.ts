/**
 * The dense baseline every backend is compared with: `y = W·x` for a row-major float32 `W` (n×m), in
 * straightforward but well-written JavaScript. Dot-product form over contiguous rows; four rows per pass
 * share each load of `x`, and when the batch has two or more vectors each weight load feeds both, so
 * `W` is streamed once per pair of vectors. Sums are JS numbers (float64), stored to float32.
 */
export const DENSE_BASELINE_NAME = 'js-f32-dense';

export function denseF32(
  w: Float32Array,
  n: number,
  m: number,
  x: Float32Array,
  batch: number,
  y: Float32Array,
): void {
  let v = 0;
  for (; v + 2 <= batch; v += 2) twoVectors(w, n, m, x, v * m, y, v * n);
  if (v < batch) oneVector(w, n, m, x, v * m, y, v * n);
}

function oneVector(
  w: Float32Array,
  n: number,
  m: number,
  x: Float32Array,
  xo: number,
  y: Float32Array,
  yo: number,
): void {
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const p0 = r * m;
    const p1 = p0 + m;
    const p2 = p1 + m;
    const p3 = p2 + m;
    for (let j = 0; j < m; j++) {
      const xj = x[xo + j]!;
      s0 += w[p0 + j]! * xj;
      s1 += w[p1 + j]! * xj;
      s2 += w[p2 + j]! * xj;
      s3 += w[p3 + j]! * xj;
    }
    y[yo + r] = s0;
    y[yo + r + 1] = s1;
    y[yo + r + 2] = s2;
    y[yo + r + 3] = s3;
  }
  for (; r < n; r++) {
    let s = 0;
    const p = r * m;
    for (let j = 0; j < m; j++) s += w[p + j]! * x[xo + j]!;
    y[yo + r] = s;
  }
}

function twoVectors(
  w: Float32Array,
  n: number,
  m: number,
  x: Float32Array,
  xo: number,
  y: Float32Array,
  yo: number,
): void {
  const xo1 = xo + m;
  const yo1 = yo + n;
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let b0 = 0;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    const p0 = r * m;
    const p1 = p0 + m;
    const p2 = p1 + m;
    const p3 = p2 + m;
    for (let j = 0; j < m; j++) {
      const u = x[xo + j]!;
      const v = x[xo1 + j]!;
      const w0 = w[p0 + j]!;
      const w1 = w[p1 + j]!;
      const w2 = w[p2 + j]!;
      const w3 = w[p3 + j]!;
      a0 += w0 * u;
      b0 += w0 * v;
      a1 += w1 * u;
      b1 += w1 * v;
      a2 += w2 * u;
      b2 += w2 * v;
      a3 += w3 * u;
      b3 += w3 * v;
    }
    y[yo + r] = a0;
    y[yo + r + 1] = a1;
    y[yo + r + 2] = a2;
    y[yo + r + 3] = a3;
    y[yo1 + r] = b0;
    y[yo1 + r + 1] = b1;
    y[yo1 + r + 2] = b2;
    y[yo1 + r + 3] = b3;
  }
  for (; r < n; r++) {
    let a = 0;
    let b = 0;
    const p = r * m;
    for (let j = 0; j < m; j++) {
      a += w[p + j]! * x[xo + j]!;
      b += w[p + j]! * x[xo1 + j]!;
    }
    y[yo + r] = a;
    y[yo1 + r] = b;
  }
}
