// T-MAC sign matmul with int8 lookup tables (kernels.md §2, §11.2).
//
// Tables: for every group of 4 columns, the 16 signed sums Σ_t (bit t ? +x_t : −x_t) (bit t of the
// 4-bit pattern = column 4g+t, set ⇒ +1), quantized to int8 in [−63, 63] with one f32 scale per
// block of 128 columns. Entries 8..15 are the negated entries 7..0 (mirror symmetry), so only 8
// are computed. The range is ±63 rather than ±127 so that the two lookups of one weight byte (low
// and high nibble) add in int8 without overflow.
//
// Weights (repacked at upload, see src/repack.ts): 16-row blocks; for every byte column j of a row
// (columns 8j..8j+7), one 16-byte vector whose byte lane 2i holds row i's byte and lane 2i+1 row
// (8+i)'s byte. A byte's low nibble indexes group 2j's table, its high nibble group 2j+1's, so one
// `i8x16.swizzle` performs 16 lookups, one per row. Blocks are stored in pairs whose vectors
// alternate (block 2p's vector j, block 2p+1's vector j, …: a step of 32 bytes), so that the pair
// kernel reads one sequential stream; an odd last block is stored alone (a step of 16). Two streams
// about a page apart measured up to 1.5× slower when the weights come from DRAM.
//
// Accumulation: the low-nibble tables are stored with +128 added (mod 256), so the int8 sum of the
// two lookups is the unsigned byte 128 + t_lo + t_hi in [2, 254]. The even byte lanes (rows 0..7)
// and odd byte lanes (rows 8..15) are added into two u16x8 accumulators with one mask and one
// shift, without sign extension; the 128·n offset is removed when a block is flushed to f32 with
// its scale. A block has at most 16 vectors, far below the 258 that fit in 16 bits. Two row blocks
// are processed together so that each table load serves 32 rows.
//
// Error bound (per lane, per output row): each lookup is off by at most half a quantization step,
// so |ŷ_r − y_r| ≤ Σ_blocks (groups in block) · scale_block / 2, scale_block = max_g Σ_t |x_4g+t| / 63
// (plus f32 rounding of the flush, ~2⁻²⁴ relative); a block whose largest group sum is below 2^-100
// is dropped and contributes at most (groups in block) · max_g Σ|x| instead. See README.md.

import { CONST_BYTE_OFFSET, CONST_ROUND_MAGIC, SCALE_BLOCK_BYTES } from './layout';

/** 2^-100: smallest block maximum that gets a table (see buildTables). */
const TINY_BLOCK: f32 = 7.888609052210118e-31;

function lookup(table: v128, index: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, index);
  return i8x16.swizzle(table, index);
}

/**
 * Builds the int8 tables of one lane from `xs` (f32, `groups·4` values, zero-padded): 16 bytes per
 * group at `tables`, one f32 scale per 32 groups at `scales`. `consts` = the control block's vector
 * constants (layout.ts CTRL_CONSTS).
 */
export function buildTables(xs: usize, groups: i32, tables: usize, scales: usize, consts: usize): void {
  const blockGroups = SCALE_BLOCK_BYTES * 2;
  for (let g0 = 0; g0 < groups; g0 += blockGroups) {
    const g1 = min(groups, g0 + blockGroups);
    // Largest table entry of the block: max over groups of Σ|x|.
    let mx = f32x4.splat(0);
    for (let g = g0; g < g1; g += 4) {
      const p = xs + ((<usize>g) << 4);
      const v0 = v128.load(p);
      const v1 = v128.load(p, 16);
      const v2 = v128.load(p, 32);
      const v3 = v128.load(p, 48);
      const lo01 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
      const hi01 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
      const lo23 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
      const hi23 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
      const x0 = i64x2.shuffle(lo01, lo23, 0, 2);
      const x1 = i64x2.shuffle(lo01, lo23, 1, 3);
      const x2 = i64x2.shuffle(hi01, hi23, 0, 2);
      const x3 = i64x2.shuffle(hi01, hi23, 1, 3);
      const sum = f32x4.add(f32x4.add(f32x4.abs(x0), f32x4.abs(x1)), f32x4.add(f32x4.abs(x2), f32x4.abs(x3)));
      mx = f32x4.max(mx, sum);
    }
    const m = max(
      max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)),
      max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)),
    );
    // Blocks whose largest group sum is below 2^-100 are dropped (entries 0): 63/m would overflow
    // f32 near the subnormal range. Their error, at most m per group, is part of the stated bound.
    const usable = m >= TINY_BLOCK;
    const scale: f32 = usable ? m / 63 : 0;
    const inv = f32x4.splat(usable ? <f32>63 / m : 0);
    store<f32>(scales + ((<usize>(g0 / blockGroups)) << 2), scale);
    const offset = v128.load(consts + CONST_BYTE_OFFSET); // 0x80 bytes
    const magic = v128.load(consts + CONST_ROUND_MAGIC); // f32 1.5·2^23, bits 0x4b400000
    for (let g = g0; g < g1; g += 4) {
      const p = xs + ((<usize>g) << 4);
      const v0 = v128.load(p);
      const v1 = v128.load(p, 16);
      const v2 = v128.load(p, 32);
      const v3 = v128.load(p, 48);
      // Transpose so that lane k of x_t is column t of group g+k.
      const lo01 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
      const hi01 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
      const lo23 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
      const hi23 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
      const x0 = i64x2.shuffle(lo01, lo23, 0, 2);
      const x1 = i64x2.shuffle(lo01, lo23, 1, 3);
      const x2 = i64x2.shuffle(hi01, hi23, 0, 2);
      const x3 = i64x2.shuffle(hi01, hi23, 1, 3);
      // e_p for p = 0..7 (bit 3 clear): e_0 = −Σx, then add 2·x_t for each set bit.
      const e0 = f32x4.neg(f32x4.add(f32x4.add(x0, x1), f32x4.add(x2, x3)));
      const d0 = f32x4.add(x0, x0);
      const d1 = f32x4.add(x1, x1);
      const d2 = f32x4.add(x2, x2);
      const e1 = f32x4.add(e0, d0);
      const e2 = f32x4.add(e0, d1);
      const e3 = f32x4.add(e2, d0);
      const e4 = f32x4.add(e0, d2);
      const e5 = f32x4.add(e4, d0);
      const e6 = f32x4.add(e4, d1);
      const e7 = f32x4.add(e6, d0);
      // Round to the nearest integer (ties to even, as f32x4.nearest) by adding 1.5·2^23: the sum's
      // last bits are the rounded value, which subtracting the magic's bit pattern leaves as an i32.
      // Exact for |e·inv| ≤ 63 < 2^22, and far cheaper than nearest + trunc_sat on x86.
      const q0 = i32x4.sub(f32x4.add(f32x4.mul(e0, inv), magic), magic);
      const q1 = i32x4.sub(f32x4.add(f32x4.mul(e1, inv), magic), magic);
      const q2 = i32x4.sub(f32x4.add(f32x4.mul(e2, inv), magic), magic);
      const q3 = i32x4.sub(f32x4.add(f32x4.mul(e3, inv), magic), magic);
      const q4 = i32x4.sub(f32x4.add(f32x4.mul(e4, inv), magic), magic);
      const q5 = i32x4.sub(f32x4.add(f32x4.mul(e5, inv), magic), magic);
      const q6 = i32x4.sub(f32x4.add(f32x4.mul(e6, inv), magic), magic);
      const q7 = i32x4.sub(f32x4.add(f32x4.mul(e7, inv), magic), magic);
      // Bytes [p0 g0..g3, p1 g0..g3, p2 …, p3 …], likewise p4..7; p8..15 are −p7..−p0.
      const a = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3));
      const b = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7));
      const c = i8x16.neg(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q7, q6), i16x8.narrow_i32x4_s(q5, q4)));
      const d = i8x16.neg(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q3, q2), i16x8.narrow_i32x4_s(q1, q0)));
      // Gather each group's 16 entries: [group g: p0..p7 | group g+1: p0..p7], then merge with p8..15.
      const ab01 = i8x16.shuffle(a, b, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
      const ab23 = i8x16.shuffle(a, b, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
      const cd01 = i8x16.shuffle(c, d, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
      const cd23 = i8x16.shuffle(c, d, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
      const t = tables + ((<usize>g) << 4);
      // Groups g and g+2 are even (low-nibble tables): add the +128 offset.
      v128.store(t, v128.xor(i64x2.shuffle(ab01, cd01, 0, 2), offset));
      v128.store(t, i64x2.shuffle(ab01, cd01, 1, 3), 16);
      v128.store(t, v128.xor(i64x2.shuffle(ab23, cd23, 0, 2), offset), 32);
      v128.store(t, i64x2.shuffle(ab23, cd23, 1, 3), 48);
    }
  }
}

// Accumulation per lane: `at` adds each lookup-sum vector as eight u16 lanes (even byte + 256·odd
// byte), `ah` adds the odd bytes alone (one shift). At a flush, even = at − 256·ah and odd = ah
// (mod 2^16, exact since each sum is ≤ 16·254), minus the 128·n offset. The single-lane kernels
// start `ah` at −128·n and `at` at −257·128·n instead, which removes the offset for free.

function lookupSum(v: v128, t0: v128, t1: v128, m4: v128): v128 {
  return i8x16.add(lookup(t0, v128.and(v, m4)), lookup(t1, v128.and(i16x8.shr_u(v, 4), m4)));
}

function evenRows(at: v128, ah: v128, off: v128): v128 {
  return i16x8.sub(i16x8.sub(at, i16x8.shl(ah, 8)), off);
}

function addBlock(f: v128, s: v128, a: v128, high: bool): v128 {
  const wide = high ? i32x4.extend_high_i16x8_s(a) : i32x4.extend_low_i16x8_s(a);
  return f32x4.add(f, f32x4.mul(s, f32x4.convert_i32x4_s(wide)));
}

/**
 * One lane, the two 16-row blocks of a pair, which share every table load, over `count` byte columns
 * (a multiple of 4) starting at `w` (their alternating vectors): adds to raw[0..15] for the first
 * block and raw[16..31] for the second.
 */
export function tmacPair1(w: usize, count: i32, tables: usize, scales: usize, raw: usize, m4: v128): void {
  let f0 = v128.load(raw);
  let f1 = v128.load(raw, 16);
  let f2 = v128.load(raw, 32);
  let f3 = v128.load(raw, 48);
  let g0 = v128.load(raw, 64);
  let g1 = v128.load(raw, 80);
  let g2 = v128.load(raw, 96);
  let g3 = v128.load(raw, 112);
  let tp = tables;
  let sp = scales;
  for (let j0 = 0; j0 < count; j0 += SCALE_BLOCK_BYTES) {
    // count is a multiple of 4, so every block has an even number of vectors.
    const n = min(SCALE_BLOCK_BYTES, count - j0);
    // The accumulators start at minus the offset, so a flush needs no subtraction (see above).
    const o = n << 7;
    let at = i16x8.splat(<i16>(-257 * o));
    let ah = i16x8.splat(<i16>-o);
    let bt = at;
    let bh = ah;
    for (let j = 0; j < n; j += 2) {
      let t0 = v128.load(tp);
      let t1 = v128.load(tp, 16);
      let s8 = lookupSum(v128.load(w), t0, t1, m4);
      at = i16x8.add(at, s8);
      ah = i16x8.add(ah, i16x8.shr_u(s8, 8));
      s8 = lookupSum(v128.load(w, 16), t0, t1, m4);
      bt = i16x8.add(bt, s8);
      bh = i16x8.add(bh, i16x8.shr_u(s8, 8));
      t0 = v128.load(tp, 32);
      t1 = v128.load(tp, 48);
      s8 = lookupSum(v128.load(w, 32), t0, t1, m4);
      at = i16x8.add(at, s8);
      ah = i16x8.add(ah, i16x8.shr_u(s8, 8));
      s8 = lookupSum(v128.load(w, 48), t0, t1, m4);
      bt = i16x8.add(bt, s8);
      bh = i16x8.add(bh, i16x8.shr_u(s8, 8));
      w += 64;
      tp += 64;
    }
    const s = v128.load32_splat(sp);
    sp += 4;
    const a0 = i16x8.sub(at, i16x8.shl(ah, 8));
    const b0 = i16x8.sub(bt, i16x8.shl(bh, 8));
    f0 = addBlock(f0, s, a0, false);
    f1 = addBlock(f1, s, a0, true);
    f2 = addBlock(f2, s, ah, false);
    f3 = addBlock(f3, s, ah, true);
    g0 = addBlock(g0, s, b0, false);
    g1 = addBlock(g1, s, b0, true);
    g2 = addBlock(g2, s, bh, false);
    g3 = addBlock(g3, s, bh, true);
  }
  v128.store(raw, f0);
  v128.store(raw, f1, 16);
  v128.store(raw, f2, 32);
  v128.store(raw, f3, 48);
  v128.store(raw, g0, 64);
  v128.store(raw, g1, 80);
  v128.store(raw, g2, 96);
  v128.store(raw, g3, 112);
}

/**
 * One lane, one 16-row block, `count` byte columns from `w`, `step` bytes apart (32 in a pair, 16
 * alone): adds to raw[0..15].
 */
export function tmacBlock1(
  w: usize,
  step: usize,
  count: i32,
  tables: usize,
  scales: usize,
  raw: usize,
  m4: v128,
): void {
  let f0 = v128.load(raw);
  let f1 = v128.load(raw, 16);
  let f2 = v128.load(raw, 32);
  let f3 = v128.load(raw, 48);
  let tp = tables;
  let sp = scales;
  for (let j0 = 0; j0 < count; j0 += SCALE_BLOCK_BYTES) {
    const n = min(SCALE_BLOCK_BYTES, count - j0);
    const o = n << 7;
    let at = i16x8.splat(<i16>(-257 * o));
    let ah = i16x8.splat(<i16>-o);
    for (let j = 0; j < n; j++) {
      const s8 = lookupSum(v128.load(w), v128.load(tp), v128.load(tp, 16), m4);
      at = i16x8.add(at, s8);
      ah = i16x8.add(ah, i16x8.shr_u(s8, 8));
      w += step;
      tp += 32;
    }
    const s = v128.load32_splat(sp);
    sp += 4;
    const a0 = i16x8.sub(at, i16x8.shl(ah, 8));
    f0 = addBlock(f0, s, a0, false);
    f1 = addBlock(f1, s, a0, true);
    f2 = addBlock(f2, s, ah, false);
    f3 = addBlock(f3, s, ah, true);
  }
  v128.store(raw, f0);
  v128.store(raw, f1, 16);
  v128.store(raw, f2, 32);
  v128.store(raw, f3, 48);
}

function accumulate(raw: usize, s: v128, a0: v128, a1: v128): void {
  v128.store(
    raw,
    f32x4.add(v128.load(raw), f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(a0)))),
  );
  v128.store(
    raw,
    f32x4.add(v128.load(raw, 16), f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(a0)))),
    16,
  );
  v128.store(
    raw,
    f32x4.add(v128.load(raw, 32), f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(a1)))),
    32,
  );
  v128.store(
    raw,
    f32x4.add(v128.load(raw, 48), f32x4.mul(s, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(a1)))),
    48,
  );
}

/**
 * Two lanes sharing each decoded weight vector, `count` byte columns from `w`, `step` bytes apart
 * (see tmacBlock1). Lane k's tables are at
 * `tables + k·tableStride`, scales at `scales + k·scaleStride`; its sums are added to `raw + 64·k`.
 */
export function tmacBlock2(
  w: usize,
  step: usize,
  count: i32,
  tables: usize,
  tableStride: usize,
  scales: usize,
  scaleStride: usize,
  raw: usize,
  m4: v128,
): void {
  let t0 = tables;
  let t1 = tables + tableStride;
  for (let j0 = 0; j0 < count; j0 += SCALE_BLOCK_BYTES) {
    const n = min(SCALE_BLOCK_BYTES, count - j0);
    let a0 = i16x8.splat(0);
    let a1 = i16x8.splat(0);
    let b0 = i16x8.splat(0);
    let b1 = i16x8.splat(0);
    for (let j = 0; j < n; j++) {
      const v = v128.load(w);
      const lo = v128.and(v, m4);
      const hi = v128.and(i16x8.shr_u(v, 4), m4);
      const s0 = i8x16.add(lookup(v128.load(t0), lo), lookup(v128.load(t0, 16), hi));
      a0 = i16x8.add(a0, s0);
      a1 = i16x8.add(a1, i16x8.shr_u(s0, 8));
      const s1 = i8x16.add(lookup(v128.load(t1), lo), lookup(v128.load(t1, 16), hi));
      b0 = i16x8.add(b0, s1);
      b1 = i16x8.add(b1, i16x8.shr_u(s1, 8));
      w += step;
      t0 += 32;
      t1 += 32;
    }
    const off = i16x8.splat(<i16>(n << 7));
    const blk = (<usize>(j0 / SCALE_BLOCK_BYTES)) << 2;
    accumulate(raw, v128.load32_splat(scales + blk), evenRows(a0, a1, off), i16x8.sub(a1, off));
    accumulate(
      raw + 64,
      v128.load32_splat(scales + scaleStride + blk),
      evenRows(b0, b1, off),
      i16x8.sub(b1, off),
    );
  }
}

/** Four lanes sharing each decoded weight vector (see tmacBlock2). */
export function tmacBlock4(
  w: usize,
  step: usize,
  count: i32,
  tables: usize,
  tableStride: usize,
  scales: usize,
  scaleStride: usize,
  raw: usize,
  m4: v128,
): void {
  let t0 = tables;
  let t1 = tables + tableStride;
  let t2 = t1 + tableStride;
  let t3 = t2 + tableStride;
  for (let j0 = 0; j0 < count; j0 += SCALE_BLOCK_BYTES) {
    const n = min(SCALE_BLOCK_BYTES, count - j0);
    let a0 = i16x8.splat(0);
    let a1 = i16x8.splat(0);
    let b0 = i16x8.splat(0);
    let b1 = i16x8.splat(0);
    let c0 = i16x8.splat(0);
    let c1 = i16x8.splat(0);
    let d0 = i16x8.splat(0);
    let d1 = i16x8.splat(0);
    for (let j = 0; j < n; j++) {
      const v = v128.load(w);
      const lo = v128.and(v, m4);
      const hi = v128.and(i16x8.shr_u(v, 4), m4);
      const s0 = i8x16.add(lookup(v128.load(t0), lo), lookup(v128.load(t0, 16), hi));
      a0 = i16x8.add(a0, s0);
      a1 = i16x8.add(a1, i16x8.shr_u(s0, 8));
      const s1 = i8x16.add(lookup(v128.load(t1), lo), lookup(v128.load(t1, 16), hi));
      b0 = i16x8.add(b0, s1);
      b1 = i16x8.add(b1, i16x8.shr_u(s1, 8));
      const s2 = i8x16.add(lookup(v128.load(t2), lo), lookup(v128.load(t2, 16), hi));
      c0 = i16x8.add(c0, s2);
      c1 = i16x8.add(c1, i16x8.shr_u(s2, 8));
      const s3 = i8x16.add(lookup(v128.load(t3), lo), lookup(v128.load(t3, 16), hi));
      d0 = i16x8.add(d0, s3);
      d1 = i16x8.add(d1, i16x8.shr_u(s3, 8));
      w += step;
      t0 += 32;
      t1 += 32;
      t2 += 32;
      t3 += 32;
    }
    const off = i16x8.splat(<i16>(n << 7));
    const blk = (<usize>(j0 / SCALE_BLOCK_BYTES)) << 2;
    accumulate(raw, v128.load32_splat(scales + blk), evenRows(a0, a1, off), i16x8.sub(a1, off));
    accumulate(
      raw + 64,
      v128.load32_splat(scales + scaleStride + blk),
      evenRows(b0, b1, off),
      i16x8.sub(b1, off),
    );
    accumulate(
      raw + 128,
      v128.load32_splat(scales + 2 * scaleStride + blk),
      evenRows(c0, c1, off),
      i16x8.sub(c1, off),
    );
    accumulate(
      raw + 192,
      v128.load32_splat(scales + 3 * scaleStride + blk),
      evenRows(d0, d1, off),
      i16x8.sub(d1, off),
    );
  }
}
