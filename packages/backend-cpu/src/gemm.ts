/**
 * Dense f32 GEMM `C = alpha·op(A)·op(B) + beta·C` (row-major), accumulated in float64.
 *
 * Goto-style blocking: a column block of op(B) (NC columns × all of K) is packed once into 4-column
 * strips, then for each row block of op(A) and each K block (KC) an A panel is packed into 4-row strips
 * and a 4×4 micro-kernel runs over the two strips with its accumulators in registers. Packing
 * turns every transpose combination into the same contiguous, zero-padded layout, so edge sizes need
 * no special kernel. Partial sums over K blocks live in a float64 block of C (MC×NC), written to C once.
 */

const MR = 4;
const NR = 4;
/** Rows of op(A) per block. */
const MC = 64;
/** Columns of op(B) per block. */
const NC = 64;
/** Depth per block: a KC×4 strip of A and of B is 8 KiB each, so both stay in L1. */
const KC = 256;

export interface GemmArgs {
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly alpha: number;
  readonly beta: number;
  readonly c: Float32Array;
}

/** Reusable packing buffers; grown on demand and kept by the backend so repeated calls do not allocate. */
export class GemmWorkspace {
  packedA = new Float64Array(MC * KC);
  packedB = new Float64Array(0);
  block = new Float64Array(MC * NC);

  packedBFor(length: number): Float64Array {
    if (this.packedB.length < length) this.packedB = new Float64Array(length);
    return this.packedB;
  }

  get byteLength(): number {
    return this.packedA.byteLength + this.packedB.byteLength + this.block.byteLength;
  }
}

export function gemm(args: GemmArgs, ws: GemmWorkspace): void {
  const { m, n, k, alpha, beta, c } = args;
  if (alpha === 0) {
    // BLAS convention: A and B are not read; C = beta·C (and beta = 0 clears C even if it held NaN).
    if (beta === 0) c.fill(0);
    else if (beta !== 1) for (let i = 0; i < c.length; i++) c[i] = beta * c[i]!;
    return;
  }
  const packedA = ws.packedA;
  const acc = ws.block;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    const ncStrips = Math.ceil(nc / NR);
    const packedB = ws.packedBFor(ncStrips * NR * k);
    packB(args, jc, nc, packedB);
    for (let ic = 0; ic < m; ic += MC) {
      const mc = Math.min(MC, m - ic);
      const mcStrips = Math.ceil(mc / MR);
      acc.fill(0);
      for (let pc = 0; pc < k; pc += KC) {
        const kc = Math.min(KC, k - pc);
        packA(args, ic, mc, pc, kc, packedA);
        for (let is = 0; is < mcStrips; is++) {
          for (let js = 0; js < ncStrips; js++) {
            // B strip js holds all k rows; this K block starts at row pc.
            microKernel(packedA, is * kc * MR, packedB, (js * k + pc) * NR, kc, acc, is * MR * NC + js * NR);
          }
        }
      }
      writeBlock(acc, c, n, ic, mc, jc, nc, alpha, beta);
    }
  }
}

/** op(B)[0..k, jc..jc+nc] into strips of 4 columns, each k×4 row-major, zero-padded past nc. */
function packB(args: GemmArgs, jc: number, nc: number, out: Float64Array): void {
  const { b, n, k, transposeB } = args;
  const strips = Math.ceil(nc / NR);
  for (let s = 0; s < strips; s++) {
    const j0 = jc + s * NR;
    const width = Math.min(NR, jc + nc - j0);
    let q = s * k * NR;
    if (!transposeB && width === NR) {
      for (let p = 0, src = j0; p < k; p++, src += n, q += NR) {
        out[q] = b[src]!;
        out[q + 1] = b[src + 1]!;
        out[q + 2] = b[src + 2]!;
        out[q + 3] = b[src + 3]!;
      }
    } else if (transposeB && width === NR) {
      // op(B)[p, j] = B[j, p]: four rows of B, read in step.
      const r0 = j0 * k;
      for (let p = 0; p < k; p++, q += NR) {
        out[q] = b[r0 + p]!;
        out[q + 1] = b[r0 + k + p]!;
        out[q + 2] = b[r0 + 2 * k + p]!;
        out[q + 3] = b[r0 + 3 * k + p]!;
      }
    } else {
      for (let p = 0; p < k; p++, q += NR) {
        for (let jj = 0; jj < NR; jj++) {
          out[q + jj] = jj < width ? (transposeB ? b[(j0 + jj) * k + p]! : b[p * n + j0 + jj]!) : 0;
        }
      }
    }
  }
}

/** op(A)[ic..ic+mc, pc..pc+kc] into strips of 4 rows, each kc×4 (column of the strip contiguous). */
function packA(args: GemmArgs, ic: number, mc: number, pc: number, kc: number, out: Float64Array): void {
  const { a, m, k, transposeA } = args;
  const strips = Math.ceil(mc / MR);
  for (let s = 0; s < strips; s++) {
    const i0 = ic + s * MR;
    const height = Math.min(MR, ic + mc - i0);
    let q = s * kc * MR;
    if (!transposeA && height === MR) {
      const r0 = i0 * k + pc;
      for (let p = 0; p < kc; p++, q += MR) {
        out[q] = a[r0 + p]!;
        out[q + 1] = a[r0 + k + p]!;
        out[q + 2] = a[r0 + 2 * k + p]!;
        out[q + 3] = a[r0 + 3 * k + p]!;
      }
    } else if (transposeA && height === MR) {
      // op(A)[i, p] = A[p, i]: four consecutive entries of row p of A.
      for (let p = 0, src = pc * m + i0; p < kc; p++, src += m, q += MR) {
        out[q] = a[src]!;
        out[q + 1] = a[src + 1]!;
        out[q + 2] = a[src + 2]!;
        out[q + 3] = a[src + 3]!;
      }
    } else {
      for (let p = 0; p < kc; p++, q += MR) {
        for (let ii = 0; ii < MR; ii++) {
          out[q + ii] =
            ii < height ? (transposeA ? a[(pc + p) * m + i0 + ii]! : a[(i0 + ii) * k + pc + p]!) : 0;
        }
      }
    }
  }
}

/**
 * acc[4×4 tile at `co`, row stride NC] += Astrip(kc×4)ᵀ · Bstrip(kc×4), as two 4×2 halves: 8 accumulators
 * plus 6 operands fit the 16 float registers of x86-64, while a single 4×4 pass (16 accumulators) makes
 * V8 spill and runs about 30 % slower.
 */
function microKernel(
  pa: Float64Array,
  ao: number,
  pb: Float64Array,
  bo: number,
  kc: number,
  acc: Float64Array,
  co: number,
): void {
  const end = ao + kc * MR;
  for (let h = 0; h < NR; h += 2) {
    const r0 = co + h;
    const r1 = r0 + NC;
    const r2 = r1 + NC;
    const r3 = r2 + NC;
    let c00 = acc[r0]!;
    let c01 = acc[r0 + 1]!;
    let c10 = acc[r1]!;
    let c11 = acc[r1 + 1]!;
    let c20 = acc[r2]!;
    let c21 = acc[r2 + 1]!;
    let c30 = acc[r3]!;
    let c31 = acc[r3 + 1]!;
    for (let p = ao, q = bo + h; p < end; p += MR, q += NR) {
      const b0 = pb[q]!;
      const b1 = pb[q + 1]!;
      let x = pa[p]!;
      c00 += x * b0;
      c01 += x * b1;
      x = pa[p + 1]!;
      c10 += x * b0;
      c11 += x * b1;
      x = pa[p + 2]!;
      c20 += x * b0;
      c21 += x * b1;
      x = pa[p + 3]!;
      c30 += x * b0;
      c31 += x * b1;
    }
    acc[r0] = c00;
    acc[r0 + 1] = c01;
    acc[r1] = c10;
    acc[r1 + 1] = c11;
    acc[r2] = c20;
    acc[r2 + 1] = c21;
    acc[r3] = c30;
    acc[r3 + 1] = c31;
  }
}

function writeBlock(
  acc: Float64Array,
  c: Float32Array,
  n: number,
  ic: number,
  mc: number,
  jc: number,
  nc: number,
  alpha: number,
  beta: number,
): void {
  for (let i = 0; i < mc; i++) {
    const src = i * NC;
    const dst = (ic + i) * n + jc;
    if (beta === 0) {
      for (let j = 0; j < nc; j++) c[dst + j] = alpha * acc[src + j]!;
    } else {
      for (let j = 0; j < nc; j++) c[dst + j] = alpha * acc[src + j]! + beta * c[dst + j]!;
    }
  }
}
