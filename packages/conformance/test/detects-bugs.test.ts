import { describe, expect, it } from 'vitest';
import { type ConformanceResult, kernelConformanceCases, runKernelConformance } from '../src/index';
import { HAND_VECTOR, openWithHandVector } from './golden-fixture';
import { type NaiveBug, naiveBackendFactory } from './naive-backend';

const CASES = kernelConformanceCases({ goldenVectors: [HAND_VECTOR], openGolden: openWithHandVector });
const NAMES = CASES.map((c) => c.name);

/** Runs the cases an expectation names (all of them would only cost time) against the broken backend. */
async function runWithBug(bug: NaiveBug, expectation: Expectation): Promise<Map<string, ConformanceResult>> {
  const factory = naiveBackendFactory({ bug });
  const backend = await factory.create();
  const cases = CASES.filter((c) => expectation.fails.test(c.name) || expectation.passes.test(c.name));
  try {
    const results = await runKernelConformance({ backend, factory }, { cases });
    return new Map(results.map((r) => [r.name, r]));
  } finally {
    await backend.dispose();
  }
}

const select = (pattern: RegExp) => {
  const names = NAMES.filter((n) => pattern.test(n));
  expect(names.length, `no case matches ${pattern}`).toBeGreaterThan(0);
  return names;
};

interface Expectation {
  /** Cases that must fail, each with an error message matching `message`. */
  readonly fails: RegExp;
  readonly message: RegExp;
  /** Cases that must still pass: the defect is caught where it shows, not by accident elsewhere. */
  readonly passes: RegExp;
}

const EXPECTATIONS: Record<NaiveBug, Expectation> = {
  'write-past-end': {
    fails: /^linear\//,
    message: /out-of-bounds write — guard words at indices \d+ of/,
    passes: /^(signMatMul|gemm)\//,
  },
  'flip-sign-bit': {
    fails: /^(signMatMul\/(7x33|100x257|128x256|257x129|1x300)|linear\/dbf (31x100|129x257|128x256|300x300))/,
    message: /NMSE .* exceeds/,
    passes: /^(signMatMul\/(1x1|33x31|300x1) |linear\/dbf (1x1|7x31) |gemm\/)/,
  },
  'ignore-bias': { fails: /^linear\/.* bias /, message: /NMSE .* exceeds/, passes: /^linear\/(?!.* bias )/ },
  'mdbf-envelope-off-by-one': {
    fails: /^linear\/mdbf .* l=[2-8] /,
    message: /NMSE .* exceeds/,
    passes: /^(linear\/mdbf .* l=1 |linear\/dbf |contract\/mdbf with l=1)/,
  },
  'fresh-output': {
    fails: /^linear\//,
    message: /instead of the output array it was given/,
    passes: /^(signMatMul|gemm)\//,
  },
  'accumulate-into-output': {
    fails: /^linear\//,
    message: /the NaN the output was pre-filled with/,
    passes: /^(signMatMul|gemm)\//,
  },
  'ignore-input-offset': {
    fails: /^linear\//,
    message: /read outside an input view/,
    passes: /^(signMatMul|gemm)\//,
  },
  'modifies-input': { fails: /^linear\//, message: /input 0 was modified/, passes: /^(signMatMul|gemm)\// },
  'accept-foreign-handles': {
    fails: /^errors\/handles from another instance/,
    message: /another instance of the backend: expected a rejection/,
    passes: /^(?!errors\/handles from another instance)/,
  },
  'ignore-handle-dispose': {
    fails: /^lifecycle\/disposed handles/,
    message: /disposed ResidentLinear: expected a rejection with a DbfError of code DISPOSED/,
    passes: /^(?!lifecycle\/disposed handles)/,
  },
  'gemm-ignores-transpose-b': {
    fails: /^gemm\/At?Bt m=(7|33|64) /,
    message: /NMSE .* exceeds/,
    passes: /^gemm\/At?B m=/,
  },
  'gemm-reads-c-when-beta-zero': {
    fails: /^gemm\/.*(k=\d+|beta=0)$/,
    message: /the NaN the output was pre-filled with/,
    passes: /^gemm\/.*beta=(?!0$)/,
  },
  nondeterministic: {
    fails: /^contract\/repeated calls are bitwise identical/,
    message: /kernels must be deterministic/,
    passes: /^(linear|signMatMul|gemm)\//,
  },
  'shared-scratch': {
    fails: /^contract\/concurrent calls/,
    message: /NMSE .* exceeds/,
    passes: /^(?!contract\/concurrent calls)/,
  },
  'throws-synchronously': {
    fails: /^errors\/invalid linear and signMatMul requests/,
    message: /threw synchronously .* must reject instead/,
    passes: /^(linear|signMatMul|gemm|golden)\//,
  },
};

describe('the suite detects broken backends', () => {
  for (const [bug, expectation] of Object.entries(EXPECTATIONS) as [NaiveBug, Expectation][]) {
    it(`detects '${bug}'`, async () => {
      const results = await runWithBug(bug, expectation);
      for (const name of select(expectation.fails)) {
        const result = results.get(name)!;
        expect(result.status, `${name} should fail`).toBe('fail');
        expect(String((result.error as Error).message), name).toMatch(expectation.message);
      }
      for (const name of select(expectation.passes)) {
        const result = results.get(name)!;
        expect(
          result.status,
          `${name} should pass, got: ${String((result.error as Error | undefined)?.message)}`,
        ).toBe('pass');
      }
    });
  }

  it('the correct naive backend passes every case', async () => {
    const factory = naiveBackendFactory();
    const backend = await factory.create();
    const results = await runKernelConformance({ backend, factory }, { cases: CASES });
    await backend.dispose();
    expect(
      results
        .filter((r) => r.status !== 'pass')
        .map((r) => `${r.name}: ${String((r.error as Error)?.message)}`),
    ).toEqual([]);
    expect(results).toHaveLength(CASES.length);
  });
});
