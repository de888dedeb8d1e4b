/**
 * Dense f32 linear layers, `y = W·x` for row-major `W` (n×m), accumulated in float64.
 *
 * Dot-product form, register-blocked: one pass over a block of rows of `W` serves several outputs at
 * once, so each weight load (the expensive part: 4 bytes per MAC streamed from memory) feeds as many
 * multiply-adds as the registers allow.
 */

/**
 * `y[v·n + r] = Σ_j W[r·m + j] · x[v·m + j] + bias[r]` for `v < batch`: sums in float64, one rounding to
 * float32 at the store.
 */
export function denseMatMul(
  w: Float32Array,
  n: number,
  m: number,
  bias: Float64Array,
  x: Float32Array,
  batch: number,
  y: Float32Array,
): void {
  let v = 0;
  for (; v + 2 <= batch; v += 2) denseTwoVectors(w, n, m, bias, x, v * m, y, v * n, n);
  if (v < batch) denseOneVector(w, n, m, bias, x, v * m, y, v * n);
}

/** Eight rows per pass over `x`: eight accumulators share each `x[j]` load. */
function denseOneVector(
  w: Float32Array,
  n: number,
  m: number,
  bias: Float64Array,
  x: Float32Array,
  xo: number,
  y: Float32Array,
  yo: number,
): void {
  const m2 = 2 * m;
  const m3 = 3 * m;
  const m4 = 4 * m;
  const m5 = 5 * m;
  const m6 = 6 * m;
  const m7 = 7 * m;
  let r = 0;
  for (; r + 8 <= n; r += 8) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    const base = r * m;
    for (let j = 0; j < m; j++) {
      const xj = x[xo + j]!;
      const p = base + j;
      s0 += w[p]! * xj;
      s1 += w[p + m]! * xj;
      s2 += w[p + m2]! * xj;
      s3 += w[p + m3]! * xj;
      s4 += w[p + m4]! * xj;
      s5 += w[p + m5]! * xj;
      s6 += w[p + m6]! * xj;
      s7 += w[p + m7]! * xj;
    }
    const q = yo + r;
    y[q] = s0 + bias[r]!;
    y[q + 1] = s1 + bias[r + 1]!;
    y[q + 2] = s2 + bias[r + 2]!;
    y[q + 3] = s3 + bias[r + 3]!;
    y[q + 4] = s4 + bias[r + 4]!;
    y[q + 5] = s5 + bias[r + 5]!;
    y[q + 6] = s6 + bias[r + 6]!;
    y[q + 7] = s7 + bias[r + 7]!;
  }
  for (; r < n; r++) {
    let s0 = 0;
    let s1 = 0;
    const base = r * m;
    let j = 0;
    for (; j + 2 <= m; j += 2) {
      s0 += w[base + j]! * x[xo + j]!;
      s1 += w[base + j + 1]! * x[xo + j + 1]!;
    }
    if (j < m) s0 += w[base + j]! * x[xo + j]!;
    y[yo + r] = s0 + s1 + bias[r]!;
  }
}

/** Four rows × two vectors per pass: 6 loads feed 8 multiply-adds. */
function denseTwoVectors(
  w: Float32Array,
  n: number,
  m: number,
  bias: Float64Array,
  x: Float32Array,
  xo: number,
  y: Float32Array,
  yo: number,
  ys: number,
): void {
  const xo1 = xo + m;
  const yo1 = yo + ys;
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
    const c0 = bias[r]!;
    const c1 = bias[r + 1]!;
    const c2 = bias[r + 2]!;
    const c3 = bias[r + 3]!;
    y[yo + r] = a0 + c0;
    y[yo + r + 1] = a1 + c1;
    y[yo + r + 2] = a2 + c2;
    y[yo + r + 3] = a3 + c3;
    y[yo1 + r] = b0 + c0;
    y[yo1 + r + 1] = b1 + c1;
    y[yo1 + r + 2] = b2 + c2;
    y[yo1 + r + 3] = b3 + c3;
  }
  for (; r < n; r++) {
    let a0 = 0;
    let b0 = 0;
    const p0 = r * m;
    for (let j = 0; j < m; j++) {
      const w0 = w[p0 + j]!;
      a0 += w0 * x[xo + j]!;
      b0 += w0 * x[xo1 + j]!;
    }
    y[yo + r] = a0 + bias[r]!;
    y[yo1 + r] = b0 + bias[r]!;
  }
}
