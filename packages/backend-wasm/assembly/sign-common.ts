// Prologue and epilogue shared by the two sign kernels.
//
// A sign stage computes, for every sample s < batch and output row r < rows,
//   out[s][r] = bias[r] + Σ_c outScale[c][r] · (S · (inScale[c] ⊙ in[s]))[r],   c < terms,
// which is `S·x` (terms = 1, no scales), a DBF half (terms = 1, one scale on each side) or an MDBF half
// (terms = l envelope columns). Every (s, c) pair is one "lane": one pass over each sign word serves
// all batch·terms lanes.

/**
 * Writes lane (s, c)'s input `in[s] ⊙ inScale[c]` into `xs` (f32), zero-padded from `cols` up to
 * `colsPadded` so that padding columns contribute nothing.
 */
export function laneInput(
  xs: usize,
  input: usize,
  inScale: usize,
  cols: i32,
  colsPadded: i32,
  s: i32,
  c: i32,
): void {
  const src = input + ((<usize>s * <usize>cols) << 2);
  let i = 0;
  if (inScale === 0) {
    for (; i + 4 <= cols; i += 4) v128.store(xs + ((<usize>i) << 2), v128.load(src + ((<usize>i) << 2)));
    for (; i < cols; i++) store<f32>(xs + ((<usize>i) << 2), load<f32>(src + ((<usize>i) << 2)));
  } else {
    const sc = inScale + ((<usize>c * <usize>cols) << 2);
    for (; i + 4 <= cols; i += 4) {
      const o = (<usize>i) << 2;
      v128.store(xs + o, f32x4.mul(v128.load(src + o), v128.load(sc + o)));
    }
    for (; i < cols; i++) {
      const o = (<usize>i) << 2;
      store<f32>(xs + o, load<f32>(src + o) * load<f32>(sc + o));
    }
  }
  for (; i < colsPadded; i++) store<f32>(xs + ((<usize>i) << 2), 0);
}

/**
 * Combines the raw per-lane results of `count` consecutive rows starting at `row0` (raw is
 * [lane][16] f32, row row0 + i at index i) into the outputs. Sums start from +0 (or the bias) so a
 * zero result is +0, as in the float64 reference.
 */
export function epilogue(
  raw: usize,
  row0: i32,
  count: i32,
  rows: i32,
  batch: i32,
  terms: i32,
  out: usize,
  outScale: usize,
  bias: usize,
): void {
  for (let s = 0; s < batch; s++) {
    const dst = out + ((<usize>s * <usize>rows + <usize>row0) << 2);
    let i = 0;
    for (; i + 4 <= count; i += 4) {
      const o = (<usize>i) << 2;
      let acc = bias === 0 ? f32x4.splat(0) : v128.load(bias + (((<usize>row0) << 2) + o));
      for (let c = 0; c < terms; c++) {
        const lane = <usize>(s * terms + c);
        const v = v128.load(raw + (lane << 6) + o);
        if (outScale === 0) acc = f32x4.add(acc, v);
        else
          acc = f32x4.add(
            acc,
            f32x4.mul(v128.load(outScale + ((<usize>c * <usize>rows + <usize>row0) << 2) + o), v),
          );
      }
      v128.store(dst + o, acc);
    }
    for (; i < count; i++) {
      const o = (<usize>i) << 2;
      let acc: f32 = bias === 0 ? 0 : load<f32>(bias + (((<usize>row0) << 2) + o));
      for (let c = 0; c < terms; c++) {
        const lane = <usize>(s * terms + c);
        const v = load<f32>(raw + (lane << 6) + o);
        if (outScale === 0) acc += v;
        else acc += load<f32>(outScale + ((<usize>c * <usize>rows + <usize>row0) << 2) + o) * v;
      }
      store<f32>(dst + o, acc);
    }
  }
}
