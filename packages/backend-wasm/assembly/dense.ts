// Dense linear y = W·x + bias for a few vectors (W n×m row-major, f32): streams W once per pair of
// vectors, 4 rows at a time.

function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

function dot(w: usize, x: usize, m: i32): f32 {
  let a = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= m; j += 4)
    a = f32x4.add(a, f32x4.mul(v128.load(w + ((<usize>j) << 2)), v128.load(x + ((<usize>j) << 2))));
  let s = hsum(a);
  for (; j < m; j++) s += load<f32>(w + ((<usize>j) << 2)) * load<f32>(x + ((<usize>j) << 2));
  return s;
}

/** Rows [r0, r1) of y[s] = W·x[s] + bias for every s < batch. */
export function denseRows(
  w: usize,
  rows: i32,
  cols: i32,
  input: usize,
  batch: i32,
  out: usize,
  bias: usize,
  r0: i32,
  r1: i32,
): void {
  const rowBytes = (<usize>cols) << 2;
  const m4 = cols & ~3;
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const w0 = w + <usize>r * rowBytes;
    const w1 = w0 + rowBytes;
    const w2 = w1 + rowBytes;
    const w3 = w2 + rowBytes;
    let s = 0;
    for (; s + 2 <= batch; s += 2) {
      const x0 = input + <usize>s * rowBytes;
      const x1 = x0 + rowBytes;
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0);
      let b1 = f32x4.splat(0);
      let b2 = f32x4.splat(0);
      let b3 = f32x4.splat(0);
      for (let j = 0; j < m4; j += 4) {
        const o = (<usize>j) << 2;
        const u = v128.load(x0 + o);
        const v = v128.load(x1 + o);
        const q0 = v128.load(w0 + o);
        const q1 = v128.load(w1 + o);
        const q2 = v128.load(w2 + o);
        const q3 = v128.load(w3 + o);
        a0 = f32x4.add(a0, f32x4.mul(q0, u));
        a1 = f32x4.add(a1, f32x4.mul(q1, u));
        a2 = f32x4.add(a2, f32x4.mul(q2, u));
        a3 = f32x4.add(a3, f32x4.mul(q3, u));
        b0 = f32x4.add(b0, f32x4.mul(q0, v));
        b1 = f32x4.add(b1, f32x4.mul(q1, v));
        b2 = f32x4.add(b2, f32x4.mul(q2, v));
        b3 = f32x4.add(b3, f32x4.mul(q3, v));
      }
      let y00 = hsum(a0);
      let y01 = hsum(a1);
      let y02 = hsum(a2);
      let y03 = hsum(a3);
      let y10 = hsum(b0);
      let y11 = hsum(b1);
      let y12 = hsum(b2);
      let y13 = hsum(b3);
      for (let j = m4; j < cols; j++) {
        const o = (<usize>j) << 2;
        const u = load<f32>(x0 + o);
        const v = load<f32>(x1 + o);
        y00 += load<f32>(w0 + o) * u;
        y01 += load<f32>(w1 + o) * u;
        y02 += load<f32>(w2 + o) * u;
        y03 += load<f32>(w3 + o) * u;
        y10 += load<f32>(w0 + o) * v;
        y11 += load<f32>(w1 + o) * v;
        y12 += load<f32>(w2 + o) * v;
        y13 += load<f32>(w3 + o) * v;
      }
      const d0 = out + ((<usize>s * <usize>rows + <usize>r) << 2);
      const d1 = d0 + ((<usize>rows) << 2);
      store<f32>(d0, addBias(bias, r, y00));
      store<f32>(d0 + 4, addBias(bias, r + 1, y01));
      store<f32>(d0 + 8, addBias(bias, r + 2, y02));
      store<f32>(d0 + 12, addBias(bias, r + 3, y03));
      store<f32>(d1, addBias(bias, r, y10));
      store<f32>(d1 + 4, addBias(bias, r + 1, y11));
      store<f32>(d1 + 8, addBias(bias, r + 2, y12));
      store<f32>(d1 + 12, addBias(bias, r + 3, y13));
    }
    for (; s < batch; s++) {
      const x = input + <usize>s * rowBytes;
      const d = out + ((<usize>s * <usize>rows + <usize>r) << 2);
      store<f32>(d, addBias(bias, r, dot(w0, x, cols)));
      store<f32>(d + 4, addBias(bias, r + 1, dot(w1, x, cols)));
      store<f32>(d + 8, addBias(bias, r + 2, dot(w2, x, cols)));
      store<f32>(d + 12, addBias(bias, r + 3, dot(w3, x, cols)));
    }
  }
  for (; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    for (let s = 0; s < batch; s++) {
      store<f32>(
        out + ((<usize>s * <usize>rows + <usize>r) << 2),
        addBias(bias, r, dot(wr, input + <usize>s * rowBytes, cols)),
      );
    }
  }
}

/** +0 or the bias added last, as in the float64 reference (so a zero result is +0). */
function addBias(bias: usize, r: i32, y: f32): f32 {
  return y + (bias === 0 ? <f32>0 : load<f32>(bias + ((<usize>r) << 2)));
}
