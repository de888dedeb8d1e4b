import { cpu } from '@dbf/backend-cpu';
import type { BackendFactory } from '@dbf/core';

/**
 * Backends the kernel benchmark knows, by id. Adding one (wasm, webgpu) is one entry here plus the
 * workspace dependency in package.json; everything else is generic over `KernelBackend`.
 */
export const BACKENDS: Readonly<Record<string, () => BackendFactory>> = {
  cpu: () => cpu(),
};

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Factories for the requested ids, in order; throws `UsageError` listing the known ids otherwise. */
export function resolveBackends(ids: readonly string[]): BackendFactory[] {
  const known = Object.keys(BACKENDS);
  return ids.map((id) => {
    const make = BACKENDS[id];
    if (!make) throw new UsageError(`Unknown backend '${id}'. Known backends: ${known.join(', ')}.`);
    return make();
  });
}
