import {
  type BackendFactory,
  InvalidArgumentError,
  KERNEL_SPEC_VERSION,
  type KernelBackend,
} from '@dbf/core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  CONFORMANCE_GROUPS,
  type ConformanceCaseOptions,
  type ConformanceResult,
  type ConformanceSkip,
  kernelConformanceCases,
  skipReason,
  summarizeResults,
  validateSkips,
} from './cases';
import type { ConformanceContext } from './checks/contract-checks';

export interface KernelConformanceOptions extends ConformanceCaseOptions {
  /** Shown in the describe title; default: the factory's id. */
  readonly name?: string;
  readonly factory: BackendFactory;
  /** Passed to `factory.create()`, for the shared instance and for the checks that make their own. */
  readonly createOptions?: unknown;
  /** Cases to skip, each with the reason shown in the test title and the summary. */
  readonly skip?: readonly ConformanceSkip[];
  /** Per-case timeout in milliseconds; default 60 000 (GPU backends compile pipelines on first use). */
  readonly timeout?: number;
  /** Prints a group × status table after the run; default true. */
  readonly summary?: boolean;
}

/**
 * Declares the kernel conformance suite as vitest `describe`/`it` blocks: one `describe` per case group,
 * one `it` per case. The backend is created once (beforeAll) and disposed afterAll. Call it at the
 * top level of a test file:
 *
 * ```ts
 * import { describeKernelConformance } from '@dbf/conformance';
 * import { myBackend } from '../src';
 * describeKernelConformance({ factory: myBackend() });
 * ```
 */
export function describeKernelConformance(options: KernelConformanceOptions): void {
  const { factory, createOptions, skip = [], timeout = 60_000, summary = true } = options;
  if (typeof factory?.create !== 'function' || typeof factory.id !== 'string') {
    throw new InvalidArgumentError(
      'describeKernelConformance needs `factory`: a BackendFactory (id, priority, isAvailable, create).',
    );
  }
  const cases = kernelConformanceCases(options);
  validateSkips(cases, skip);
  const name = options.name ?? factory.id;
  const results: ConformanceResult[] = [];

  describe(`kernel conformance ${KERNEL_SPEC_VERSION}: ${name}`, () => {
    let backend: KernelBackend | undefined;
    const context = (): ConformanceContext => {
      if (!backend) throw new Error(`Backend '${factory.id}' was not created (see the beforeAll failure).`);
      return { backend, factory, createOptions };
    };
    beforeAll(async () => {
      backend = await factory.create(createOptions);
    }, timeout);
    afterAll(async () => {
      await backend?.dispose();
      if (summary && results.length > 0) printSummary(name, results);
    }, timeout);

    for (const group of CONFORMANCE_GROUPS) {
      const inGroup = cases.filter((c) => c.group === group);
      describe(group, () => {
        if (inGroup.length === 0) {
          // Only the golden group can be empty: a build of this package without generated vectors.
          it.skip(`${group} [skipped: this build of @dbf/conformance bundles no ${group} cases]`, () => {});
          results.push({ name: `${group}/-`, group, status: 'skip', reason: 'no cases bundled' });
          return;
        }
        for (const c of inGroup) {
          const reason = skipReason(c.name, skip);
          if (reason !== undefined) {
            it.skip(`${c.title} [skipped: ${reason}]`, () => {});
            results.push({ name: c.name, group, status: 'skip', reason });
            continue;
          }
          it(
            c.title,
            async () => {
              try {
                await c.run(context());
              } catch (error) {
                results.push({ name: c.name, group, status: 'fail', error });
                throw error;
              }
              results.push({ name: c.name, group, status: 'pass' });
            },
            timeout,
          );
        }
      });
    }
  });
}

function printSummary(name: string, results: readonly ConformanceResult[]): void {
  const table = summarizeResults(results);
  for (const group of Object.keys(table)) {
    const row = table[group]!;
    if (row.pass + row.fail + row.skip === 0) delete table[group];
  }
  console.info(`kernel conformance ${KERNEL_SPEC_VERSION} summary: ${name}`);
  console.table(table);
}
