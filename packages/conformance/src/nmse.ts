import { InvalidArgumentError } from '@dbf/core';

/**
 * Normalized mean squared error `Σ(actual−expected)² / Σexpected²`, as ggml's test-backend-ops uses.
 * NaN when `actual` holds a NaN; when `expected` is all zeros: 0 if `actual` is too, else Infinity.
 */
export function nmse(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new InvalidArgumentError(
      `nmse needs arrays of equal length, got ${actual.length} and ${expected.length}.`,
    );
  }
  let error = 0;
  let energy = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const d = actual[i]! - e;
    error += d * d;
    energy += e * e;
  }
  if (Number.isNaN(error)) return Number.NaN;
  if (energy === 0) return error === 0 ? 0 : Number.POSITIVE_INFINITY;
  return error / energy;
}
