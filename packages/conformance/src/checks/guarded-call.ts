import { ConformanceError } from '../conformance-error';
import { withGuards } from '../guards';
import { assertAllFinite, sameBits } from './assertions';

export interface GuardedCall {
  /** Names the call in failure messages. */
  readonly label: string;
  /** Arrays the backend reads; each is passed as a guarded copy and must come back unmodified. */
  readonly inputs: readonly Float32Array[];
  readonly outputLength: number;
  /** Initial output contents (gemm's `c` when `beta ≠ 0`); by default the NaN "unwritten" pattern. */
  readonly outputFill?: ArrayLike<number>;
  call(inputs: Float32Array[], output: Float32Array): Promise<Float32Array>;
}

/**
 * Runs one kernel call with every input and the output embedded between guard words, then checks:
 * the returned array is the given output, no guard changed, no input changed, every output element
 * is finite. Returns a copy of the output for numeric comparison.
 */
export async function guardedCall(spec: GuardedCall): Promise<Float32Array> {
  const inputs = spec.inputs.map((x) => withGuards(x.length, { fill: x }));
  const output = withGuards(spec.outputLength, spec.outputFill ? { fill: spec.outputFill } : {});
  const result = await spec.call(
    inputs.map((g) => g.array),
    output.array,
  );
  if (result !== output.array) {
    throw new ConformanceError(
      `${spec.label}: returned ${result instanceof Float32Array ? `a different Float32Array(${result.length})` : String(result)} instead of the output array it was given; the contract requires writing into output and returning it.`,
    );
  }
  output.assertGuardsIntact(`${spec.label}, output`);
  inputs.forEach((g, i) => {
    g.assertGuardsIntact(`${spec.label}, input ${i}`);
    if (!sameBits(g.array, spec.inputs[i]!)) {
      throw new ConformanceError(
        `${spec.label}: input ${i} was modified; kernels must treat their inputs as read-only.`,
      );
    }
  });
  assertAllFinite(spec.label, result);
  return Float32Array.from(result);
}
