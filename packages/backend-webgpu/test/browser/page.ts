// Bundled by browser.test.ts and loaded in headless Chromium: runs the kernel conformance suite and a
// chain check against navigator.gpu, then publishes plain JSON results on `window.__dbfResults`.

import { randomDbfLayer, randomDenseLayer, randomVector, runKernelConformance } from '@dbf/conformance';
import { createRng } from '@dbf/core';
import { webgpu } from '../../src/index';

export interface PageResults {
  readonly availability: unknown;
  readonly description?: string;
  readonly results: { name: string; status: string; error?: string }[];
  readonly fatal?: string;
}

function message(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** A two-layer chain must give bitwise the results of two plain calls. */
async function chainCheck(backend: Awaited<ReturnType<ReturnType<typeof webgpu>['create']>>): Promise<void> {
  const rng = createRng(99);
  const first = await backend.uploadLinear(
    randomDbfLayer(rng, { outFeatures: 48, inFeatures: 70, rank: 33, bias: true }),
  );
  const second = await backend.uploadLinear(randomDenseLayer(rng, { outFeatures: 20, inFeatures: 48 }));
  const chain = backend.chain();
  const x = chain.input(70, 2);
  chain.output(chain.linear(second, chain.linear(first, x)));
  const input = randomVector(rng, 140);
  const [y] = await chain.run([input]);
  const hidden = await backend.linear({ weights: first, input, batch: 2 });
  const plain = await backend.linear({ weights: second, input: hidden, batch: 2 });
  if (y!.length !== plain.length || y!.some((v, i) => !Object.is(v, plain[i])))
    throw new Error('chain output differs from plain calls');
  chain.dispose();
  first.dispose();
  second.dispose();
}

async function main(): Promise<PageResults> {
  const factory = webgpu({ allowFallbackAdapter: true });
  const availability = await factory.isAvailable();
  if (!availability.available) return { availability, results: [] };
  const backend = await factory.create();
  const results: PageResults['results'] = (await runKernelConformance({ backend, factory })).map((r) => ({
    name: r.name,
    status: r.status,
    ...(r.error === undefined ? {} : { error: message(r.error) }),
  }));
  try {
    await chainCheck(backend);
    results.push({ name: 'chain/two layers in one submission match plain calls', status: 'pass' });
  } catch (error) {
    results.push({
      name: 'chain/two layers in one submission match plain calls',
      status: 'fail',
      error: message(error),
    });
  }
  const description = backend.capabilities.description;
  await backend.dispose();
  return { availability, description, results };
}

const target = window as unknown as { __dbfResults?: PageResults };
main().then(
  (r) => {
    target.__dbfResults = r;
  },
  (error: unknown) => {
    target.__dbfResults = {
      availability: null,
      results: [],
      fatal: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
  },
);
