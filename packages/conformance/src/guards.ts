import { assertInteger } from '@dbf/core';
import { ConformanceError } from './conformance-error';

/** Default number of guard elements on each side of a guarded array. */
export const DEFAULT_GUARD_LENGTH = 16;

/**
 * Bit pattern of guard element `i`: NaN boxes carrying 0xDBF in their payload alternate with a
 * distinctive finite value, so both float stores and raw byte copies that stray into a guard show up.
 */
export function guardWord(i: number): number {
  return i % 2 === 0 ? (0x7fc0dbf0 | (i & 0xf)) >>> 0 : (0xc0dbf000 | (i & 0xfff)) >>> 0;
}

/** Bit pattern that fills an output before a call: a NaN box whose elements the backend must overwrite. */
export const UNWRITTEN_WORD = 0x7fc0feed;

export interface GuardedArray {
  /** The `length` elements to hand to the backend: a view into `backing`, past `guardLength` guards. */
  readonly array: Float32Array;
  /** The whole allocation: guards, then `array`, then guards. */
  readonly backing: Float32Array;
  readonly guardLength: number;
  /** Indices relative to `array` (negative before it, ≥ length after it) whose guard words changed. */
  changedGuards(): number[];
  /** Throws a `ConformanceError` naming the overwritten positions when any guard word changed. */
  assertGuardsIntact(label: string): void;
}

/**
 * A Float32Array of `length` elements embedded between `guardLength` sentinel words on each side
 * (ggml's test-backend-ops idea). `fill` initialises the array: values to copy, or by default the
 * `UNWRITTEN_WORD` NaN pattern, so an element the backend forgets to write stays NaN.
 */
export function withGuards(
  length: number,
  options: { guardLength?: number; fill?: ArrayLike<number> } = {},
): GuardedArray {
  assertInteger('length', length, 0);
  const guardLength = assertInteger('guardLength', options.guardLength ?? DEFAULT_GUARD_LENGTH, 1);
  const backing = new Float32Array(length + 2 * guardLength);
  const bits = new Uint32Array(backing.buffer);
  for (let i = 0; i < guardLength; i++) {
    bits[i] = guardWord(i);
    bits[guardLength + length + i] = guardWord(guardLength + i);
  }
  const array = backing.subarray(guardLength, guardLength + length);
  if (options.fill !== undefined) {
    if (options.fill.length !== length) {
      throw new ConformanceError(`withGuards: fill has ${options.fill.length} elements, expected ${length}.`);
    }
    array.set(options.fill);
  } else {
    bits.fill(UNWRITTEN_WORD, guardLength, guardLength + length);
  }
  const changedGuards = (): number[] => {
    const changed: number[] = [];
    for (let i = 0; i < guardLength; i++) {
      if (bits[i] !== guardWord(i)) changed.push(i - guardLength);
      if (bits[guardLength + length + i] !== guardWord(guardLength + i)) changed.push(length + i);
    }
    return changed.sort((x, y) => x - y);
  };
  return {
    array,
    backing,
    guardLength,
    changedGuards,
    assertGuardsIntact(label) {
      const changed = changedGuards();
      if (changed.length > 0) {
        throw new ConformanceError(
          `${label}: out-of-bounds write — guard words at indices ${changed.join(', ')} of a ${length}-element array were overwritten (valid indices are 0..${length - 1}).`,
        );
      }
    },
  };
}
