import { type BackendCapabilities, DbfError, type DbfErrorCode } from '@dbf/core';
import { ConformanceError, describeThrown } from '../conformance-error';
import { UNWRITTEN_WORD } from '../guards';
import { nmse } from '../nmse';

/** Whether a backend must reproduce integer-valued golden vectors bit for bit. */
export function requiresExactness(capabilities: BackendCapabilities): boolean {
  return capabilities.accumulation === 'f64' || capabilities.accumulation === 'f32';
}

/** Throws unless every element is finite; names an element the backend never wrote when it sees one. */
export function assertAllFinite(label: string, actual: Float32Array): void {
  const bits = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  for (let i = 0; i < actual.length; i++) {
    if (Number.isFinite(actual[i]!)) continue;
    throw new ConformanceError(`${label}: output[${i}] is ${actual[i]}${nanHint(bits[i]!)}.`);
  }
}

/** Outputs start as NaN and inputs sit between NaN guard words, so a NaN's payload tells where it came from. */
function nanHint(bits: number): string {
  if (!Number.isNaN(new Float32Array(new Uint32Array([bits]).buffer)[0]!)) return '';
  if ((bits & 0x7fffffff) === (UNWRITTEN_WORD & 0x7fffffff)) {
    return ' (the NaN the output was pre-filled with: the element was never written, or the kernel read or accumulated into its output)';
  }
  if ((bits & 0x7ffffff0) === 0x7fc0dbf0) {
    return ' (the NaN of a guard word: the kernel read outside an input view, e.g. from input.buffer at offset 0 instead of input.byteOffset)';
  }
  return ' (kernels must overwrite the output, never read it, and read inputs only inside their views)';
}

/** NMSE against a float64 reference, at the backend's declared tolerance; NaN or Inf always fails. */
export function expectClose(
  label: string,
  actual: Float32Array,
  expected: ArrayLike<number>,
  tolerance: number,
): void {
  if (actual.length !== expected.length) {
    throw new ConformanceError(
      `${label}: output has ${actual.length} elements, expected ${expected.length}.`,
    );
  }
  assertAllFinite(label, actual);
  const error = nmse(actual, expected);
  if (!(error <= tolerance)) {
    let worst = 0;
    for (let i = 1; i < actual.length; i++) {
      if (Math.abs(actual[i]! - expected[i]!) > Math.abs(actual[worst]! - expected[worst]!)) worst = i;
    }
    throw new ConformanceError(
      `${label}: NMSE ${error.toExponential(3)} exceeds the backend's nmseTolerance ${tolerance} (largest difference at [${worst}]: got ${actual[worst]}, expected ${expected[worst]}).`,
    );
  }
}

/** Exact equality with `expected` rounded to float32 (golden vectors are exactly representable); 0 equals −0. */
export function expectExact(label: string, actual: Float32Array, expected: ArrayLike<number>): void {
  if (actual.length !== expected.length) {
    throw new ConformanceError(
      `${label}: output has ${actual.length} elements, expected ${expected.length}.`,
    );
  }
  let mismatches = 0;
  let first = -1;
  for (let i = 0; i < actual.length; i++) {
    if (!(actual[i] === Math.fround(expected[i]!))) {
      mismatches++;
      if (first < 0) first = i;
    }
  }
  if (mismatches > 0) {
    throw new ConformanceError(
      `${label}: ${mismatches} of ${actual.length} elements differ from the exact result (first at [${first}]: got ${actual[first]}, expected ${Math.fround(expected[first]!)}); with f32/f64 accumulation integer-valued inputs must give exact outputs.`,
    );
  }
}

/** Exact for f64/f32 accumulation, NMSE ≤ nmseTolerance otherwise. */
export function expectGolden(
  label: string,
  actual: Float32Array,
  expected: ArrayLike<number>,
  capabilities: BackendCapabilities,
): void {
  if (requiresExactness(capabilities)) expectExact(label, actual, expected);
  else expectClose(label, actual, expected, capabilities.nmseTolerance);
}

/** Bitwise equality of two float32 arrays (NaN payloads and signed zeros included). */
export function sameBits(x: Float32Array, y: Float32Array): boolean {
  if (x.length !== y.length) return false;
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Calls `action` and requires a rejected promise carrying a `DbfError` with `code`. A synchronous
 * throw fails too: the contract's methods report errors by rejecting.
 */
export async function expectDbfError(
  label: string,
  code: DbfErrorCode,
  action: () => Promise<unknown>,
): Promise<void> {
  let pending: Promise<unknown>;
  try {
    pending = action();
  } catch (error) {
    throw new ConformanceError(
      `${label}: threw synchronously (${describeThrown(error)}); methods that return a Promise must reject instead.`,
    );
  }
  if (!(pending instanceof Promise) && typeof (pending as { then?: unknown })?.then !== 'function') {
    throw new ConformanceError(`${label}: did not return a Promise.`);
  }
  try {
    await pending;
  } catch (error) {
    if (DbfError.isInstance(error) && error.code === code) return;
    throw new ConformanceError(
      `${label}: expected a DbfError with code ${code}, got ${describeThrown(error)}.`,
      {
        cause: error,
      },
    );
  }
  throw new ConformanceError(
    `${label}: expected a rejection with a DbfError of code ${code}, but the call succeeded.`,
  );
}
