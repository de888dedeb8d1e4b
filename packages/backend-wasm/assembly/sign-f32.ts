// Exact f32 sign matmul, mask-and-add: for every 4 columns, the row's 4 sign bits select one of 16
// precomputed lane masks (0x80000000 where the bit is clear), which flip the signs of x by XOR
// before an f32 add. No table rounding: on integer-valued inputs every partial sum is exact.
//
// `lut` holds the 16 masks (256 bytes, written by the host). `xs` holds the lanes' scaled inputs
// (f32, zero-padded to 32·wordsPerRow columns), lane k at `xs + k·xsStride`.

function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

function mask(lut: usize, word: u32, shift: i32): v128 {
  return v128.load(lut + ((<usize>((word >>> shift) & 15)) << 4));
}

/** One row, one lane: raw = Σ_c ±x_c. */
export function exactRow1(words: usize, wpr: i32, lut: usize, xs: usize): f32 {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  for (let i = 0; i < wpr; i++) {
    const w = load<u32>(words + ((<usize>i) << 2));
    const x = xs + ((<usize>i) << 7);
    a = f32x4.add(a, v128.xor(v128.load(x), mask(lut, w, 0)));
    b = f32x4.add(b, v128.xor(v128.load(x, 16), mask(lut, w, 4)));
    a = f32x4.add(a, v128.xor(v128.load(x, 32), mask(lut, w, 8)));
    b = f32x4.add(b, v128.xor(v128.load(x, 48), mask(lut, w, 12)));
    a = f32x4.add(a, v128.xor(v128.load(x, 64), mask(lut, w, 16)));
    b = f32x4.add(b, v128.xor(v128.load(x, 80), mask(lut, w, 20)));
    a = f32x4.add(a, v128.xor(v128.load(x, 96), mask(lut, w, 24)));
    b = f32x4.add(b, v128.xor(v128.load(x, 112), mask(lut, w, 28)));
  }
  return hsum(f32x4.add(a, b));
}

/** One row, two lanes sharing the masks; writes raw[0] and raw[16] (lane stride 64 bytes). */
export function exactRow2(words: usize, wpr: i32, lut: usize, xs: usize, xsStride: usize, raw: usize): void {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  const x1 = xs + xsStride;
  for (let i = 0; i < wpr; i++) {
    const w = load<u32>(words + ((<usize>i) << 2));
    const o = (<usize>i) << 7;
    for (let j = 0; j < 8; j++) {
      const m = mask(lut, w, j << 2);
      const q = o + ((<usize>j) << 4);
      a = f32x4.add(a, v128.xor(v128.load(xs + q), m));
      b = f32x4.add(b, v128.xor(v128.load(x1 + q), m));
    }
  }
  store<f32>(raw, hsum(a));
  store<f32>(raw + 64, hsum(b));
}

/** One row, four lanes sharing the masks; writes raw[0], raw[16], raw[32], raw[48]. */
export function exactRow4(words: usize, wpr: i32, lut: usize, xs: usize, xsStride: usize, raw: usize): void {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  let c = f32x4.splat(0);
  let d = f32x4.splat(0);
  const x1 = xs + xsStride;
  const x2 = x1 + xsStride;
  const x3 = x2 + xsStride;
  for (let i = 0; i < wpr; i++) {
    const w = load<u32>(words + ((<usize>i) << 2));
    const o = (<usize>i) << 7;
    for (let j = 0; j < 8; j++) {
      const m = mask(lut, w, j << 2);
      const q = o + ((<usize>j) << 4);
      a = f32x4.add(a, v128.xor(v128.load(xs + q), m));
      b = f32x4.add(b, v128.xor(v128.load(x1 + q), m));
      c = f32x4.add(c, v128.xor(v128.load(x2 + q), m));
      d = f32x4.add(d, v128.xor(v128.load(x3 + q), m));
    }
  }
  store<f32>(raw, hsum(a));
  store<f32>(raw + 64, hsum(b));
  store<f32>(raw + 128, hsum(c));
  store<f32>(raw + 192, hsum(d));
}
