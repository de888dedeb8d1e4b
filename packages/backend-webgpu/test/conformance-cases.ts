import { type ConformanceCase, kernelConformanceCases } from '@dbf/conformance';
import type { BackendFactory, KernelBackend } from '@dbf/core';
import { afterAll, beforeAll, describe, it } from 'vitest';

/**
 * Declares a chosen subset of the conformance cases (for suites that vary one backend option and need
 * only the cases that option affects), one `it` per case, without skipped tests.
 */
export function describeConformanceCases(
  title: string,
  factory: BackendFactory,
  select: (c: ConformanceCase) => boolean,
  createOptions?: unknown,
): void {
  const cases = kernelConformanceCases().filter(select);
  describe(title, () => {
    let backend: KernelBackend | undefined;
    beforeAll(async () => {
      backend = await factory.create(createOptions);
    }, 120_000);
    afterAll(async () => {
      await backend?.dispose();
    });
    for (const c of cases) {
      it(c.name, async () => {
        if (!backend) throw new Error('the backend was not created (see the beforeAll failure)');
        await c.run({ backend, factory, createOptions });
      }, 120_000);
    }
  });
}
