import { assertInteger, InvalidArgumentError } from '@dbf/core';
import { SCALE_BLOCK_COLUMNS } from './job-layout';

/** Blocks whose largest group sum |Σ x| is below this get no table (see the kernel). */
const TINY_BLOCK = 2 ** -100;

/** Largest |entry| of the int8 tables: 63, so the two lookups of one weight byte add in int8. */
export const INT8_TABLE_RANGE = 63;

/**
 * Worst-case absolute error of one output of the int8 variant's sign matmul `S·x` (any ±1 row S):
 * every table lookup is off by at most half a quantization step, and a row makes one lookup per
 * group of 4 columns, so
 *
 *   |ŷ_r − y_r| ≤ Σ_B (groups in B) · s_B / 2,   s_B = max_{g ∈ B} Σ_{t<4} |x_{4g+t}| / 63,
 *
 * over the 128-column blocks B of x; a block whose largest Σ|x| is below 2^-100 is dropped by the kernel
 * and counts in full (groups · max). Float32 rounding of the block sums adds a relative ~1e-7 on
 * top, which this function does not include. `x` is one lane's (already scaled) input.
 */
export function int8SignMatMulErrorBound(x: ArrayLike<number>, cols = x.length): number {
  assertInteger('cols', cols, 1);
  if (x.length < cols)
    throw new InvalidArgumentError(`x must have at least ${cols} elements, got ${x.length}.`);
  let bound = 0;
  for (let b0 = 0; b0 < cols; b0 += SCALE_BLOCK_COLUMNS) {
    const b1 = Math.min(cols, b0 + SCALE_BLOCK_COLUMNS);
    let largest = 0;
    let groups = 0;
    for (let g = b0; g < b1; g += 4) {
      let sum = 0;
      for (let t = g; t < Math.min(g + 4, b1); t++) sum += Math.abs(Math.fround(x[t]!));
      largest = Math.max(largest, sum);
      groups++;
    }
    // Blocks below 2^-100 get no table (their 63/max would overflow f32): all their sums are lost.
    bound +=
      largest >= TINY_BLOCK ? (groups * Math.fround(largest / INT8_TABLE_RANGE)) / 2 : groups * largest;
  }
  return bound;
}
