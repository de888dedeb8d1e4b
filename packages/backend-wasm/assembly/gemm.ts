// Dense f32 GEMM, C += alpha·op(A)·op(B), GotoBLAS-style: B is packed into KC×NR panels (kept in L1
// during a micro-tile), A into MC×KC blocks of MR-row panels (kept in L2), and a 4×8 register tile
// accumulates with f32x4 mul+add. C is the host's padded copy (rows padded to MR, columns to NR,
// leading dimension ldc), so the micro-kernel never needs edge handling; packing zero-fills.

import { GEMM_KC, GEMM_MC, GEMM_MR, GEMM_NC, GEMM_NR } from './layout';

/** 4×8 micro-tile: c[0..3][0..7] += Σ_p a[p][0..3] · b[p][0..7]. */
function micro4x8(a: usize, b: usize, c: usize, ldc: usize, kc: i32): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = f32x4.add(c00, f32x4.mul(av, b0));
    c01 = f32x4.add(c01, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 4);
    c10 = f32x4.add(c10, f32x4.mul(av, b0));
    c11 = f32x4.add(c11, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 8);
    c20 = f32x4.add(c20, f32x4.mul(av, b0));
    c21 = f32x4.add(c21, f32x4.mul(av, b1));
    av = v128.load32_splat(a, 12);
    c30 = f32x4.add(c30, f32x4.mul(av, b0));
    c31 = f32x4.add(c31, f32x4.mul(av, b1));
    a += 16;
    b += 32;
  }
  const s = ldc << 2;
  v128.store(c, f32x4.add(v128.load(c), c00));
  v128.store(c, f32x4.add(v128.load(c, 16), c01), 16);
  c += s;
  v128.store(c, f32x4.add(v128.load(c), c10));
  v128.store(c, f32x4.add(v128.load(c, 16), c11), 16);
  c += s;
  v128.store(c, f32x4.add(v128.load(c), c20));
  v128.store(c, f32x4.add(v128.load(c, 16), c21), 16);
  c += s;
  v128.store(c, f32x4.add(v128.load(c), c30));
  v128.store(c, f32x4.add(v128.load(c, 16), c31), 16);
}

/**
 * Packs op(B)[pc..pc+kc, jc..jc+nc] into panels of NR columns: panel q holds, for each p, the NR
 * values op(B)[pc+p][jc+NR·q .. +NR] (zero beyond n).
 */
function packB(b: usize, n: i32, k: i32, transB: i32, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let q = 0; q < nc; q += GEMM_NR) {
    const j0 = jc + q;
    const width = min(GEMM_NR, n - j0);
    let d = dst + ((<usize>q * <usize>kc) << 2);
    if (transB === 0) {
      // op(B)[p][j] = b[p·n + j]: rows are contiguous.
      for (let p = 0; p < kc; p++) {
        const src = b + ((<usize>(pc + p) * <usize>n + <usize>j0) << 2);
        if (width === GEMM_NR) {
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
        } else {
          for (let t = 0; t < GEMM_NR; t++)
            store<f32>(d + ((<usize>t) << 2), t < width ? load<f32>(src + ((<usize>t) << 2)) : 0);
        }
        d += GEMM_NR << 2;
      }
    } else {
      // op(B)[p][j] = b[j·k + p]: gather one column per output lane.
      for (let t = 0; t < GEMM_NR; t++) {
        const dt = d + ((<usize>t) << 2);
        if (t < width) {
          const src = b + ((<usize>(j0 + t) * <usize>k + <usize>pc) << 2);
          for (let p = 0; p < kc; p++)
            store<f32>(dt + ((<usize>p * GEMM_NR) << 2), load<f32>(src + ((<usize>p) << 2)));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(dt + ((<usize>p * GEMM_NR) << 2), 0);
        }
      }
    }
  }
}

/**
 * Packs alpha·op(A)[ic..ic+mc, pc..pc+kc] into panels of MR rows: panel q holds, for each p, the MR
 * values alpha·op(A)[ic+MR·q .. +MR][pc+p] (zero beyond m).
 */
function packA(
  a: usize,
  m: i32,
  k: i32,
  transA: i32,
  alpha: f32,
  ic: i32,
  mc: i32,
  pc: i32,
  kc: i32,
  dst: usize,
): void {
  const al = f32x4.splat(alpha);
  for (let q = 0; q < mc; q += GEMM_MR) {
    const i0 = ic + q;
    const height = min(GEMM_MR, m - i0);
    const d = dst + ((<usize>q * <usize>kc) << 2);
    if (transA !== 0) {
      // op(A)[i][p] = a[p·m + i]: the MR values of one p are contiguous.
      for (let p = 0; p < kc; p++) {
        const src = a + ((<usize>(pc + p) * <usize>m + <usize>i0) << 2);
        const dp = d + ((<usize>p * GEMM_MR) << 2);
        if (height === GEMM_MR) v128.store(dp, f32x4.mul(v128.load(src), al));
        else
          for (let t = 0; t < GEMM_MR; t++)
            store<f32>(dp + ((<usize>t) << 2), t < height ? alpha * load<f32>(src + ((<usize>t) << 2)) : 0);
      }
    } else if (height === GEMM_MR) {
      // op(A)[i][p] = a[i·k + p]: transpose 4×4 tiles of four rows.
      const r0 = a + ((<usize>i0 * <usize>k + <usize>pc) << 2);
      const rs = (<usize>k) << 2;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const o = (<usize>p) << 2;
        const v0 = v128.load(r0 + o);
        const v1 = v128.load(r0 + rs + o);
        const v2 = v128.load(r0 + 2 * rs + o);
        const v3 = v128.load(r0 + 3 * rs + o);
        const lo01 = i32x4.shuffle(v0, v1, 0, 4, 1, 5);
        const hi01 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
        const lo23 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
        const hi23 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
        const dp = d + ((<usize>p * GEMM_MR) << 2);
        v128.store(dp, f32x4.mul(i64x2.shuffle(lo01, lo23, 0, 2), al));
        v128.store(dp, f32x4.mul(i64x2.shuffle(lo01, lo23, 1, 3), al), 16);
        v128.store(dp, f32x4.mul(i64x2.shuffle(hi01, hi23, 0, 2), al), 32);
        v128.store(dp, f32x4.mul(i64x2.shuffle(hi01, hi23, 1, 3), al), 48);
      }
      for (; p < kc; p++) {
        const dp = d + ((<usize>p * GEMM_MR) << 2);
        for (let t = 0; t < GEMM_MR; t++)
          store<f32>(dp + ((<usize>t) << 2), alpha * load<f32>(r0 + <usize>t * rs + ((<usize>p) << 2)));
      }
    } else {
      for (let p = 0; p < kc; p++) {
        const dp = d + ((<usize>p * GEMM_MR) << 2);
        for (let t = 0; t < GEMM_MR; t++) {
          store<f32>(
            dp + ((<usize>t) << 2),
            t < height ? alpha * load<f32>(a + ((<usize>(i0 + t) * <usize>k + <usize>(pc + p)) << 2)) : 0,
          );
        }
      }
    }
  }
}

/**
 * Columns [j0, j1) (multiples of NR) of C += alpha·op(A)·op(B). `c` is mPad × ldc; `scratch` needs
 * MC·KC + KC·NC floats.
 */
export function gemmColumns(
  a: usize,
  b: usize,
  c: usize,
  m: i32,
  n: i32,
  k: i32,
  transA: i32,
  transB: i32,
  alpha: f32,
  ldc: i32,
  j0: i32,
  j1: i32,
  scratch: usize,
): void {
  const packedA = scratch;
  const packedB = scratch + ((<usize>GEMM_MC * <usize>GEMM_KC) << 2);
  const mPad = (m + GEMM_MR - 1) & ~(GEMM_MR - 1);
  for (let jc = j0; jc < j1; jc += GEMM_NC) {
    const nc = min(GEMM_NC, j1 - jc);
    for (let pc = 0; pc < k; pc += GEMM_KC) {
      const kc = min(GEMM_KC, k - pc);
      packB(b, n, k, transB, pc, kc, jc, nc, packedB);
      for (let ic = 0; ic < mPad; ic += GEMM_MC) {
        const mc = min(GEMM_MC, mPad - ic);
        packA(a, m, k, transA, alpha, ic, mc, pc, kc, packedA);
        for (let jr = 0; jr < nc; jr += GEMM_NR) {
          const bp = packedB + ((<usize>jr * <usize>kc) << 2);
          const cc = c + ((<usize>ic * <usize>ldc + <usize>(jc + jr)) << 2);
          for (let ir = 0; ir < mc; ir += GEMM_MR) {
            micro4x8(
              packedA + ((<usize>ir * <usize>kc) << 2),
              bp,
              cc + ((<usize>ir * <usize>ldc) << 2),
              <usize>ldc,
              kc,
            );
          }
        }
      }
    }
  }
}
