import { cpu } from '@dbf/backend-cpu';
import type { BenchHooks, BenchOptions, BenchRow } from './kernel-bench';

/**
 * Backends the kernel benchmark knows, by id. A backend either runs the generic benchmark (every
 * shape × bpw × batch against the dense baselines, through any `KernelBackend`) or brings its own
 * adapter with the extra rows its issue asks for (peers such as onnxruntime-web, bandwidth probes,
 * one-submission timing on the GPU). Adapters are imported lazily so `--backend cpu` loads nothing else.
 */
export type BenchTarget =
  | { readonly kind: 'generic'; readonly factory: () => import('@dbf/core').BackendFactory }
  | {
      readonly kind: 'adapter';
      readonly run: (options: BenchOptions, hooks: BenchHooks) => Promise<BenchRow[]>;
    };

export const BACKENDS: Readonly<Record<string, BenchTarget>> = {
  cpu: { kind: 'generic', factory: () => cpu() },
  wasm: {
    kind: 'adapter',
    run: async (options, hooks) =>
      (await import('./wasm/index')).runWasmKernelBench({ quick: options.quick }, hooks),
  },
  webgpu: {
    kind: 'adapter',
    run: async (options, hooks) =>
      (await import('./webgpu/index')).runWebGpuKernelBench({ quick: options.quick }, hooks),
  },
};

/** What runs when no `--backend` is given: the CPU backend (the others take minutes; ask for them). */
export const DEFAULT_BACKENDS: readonly string[] = ['cpu'];

export class UsageError extends Error {
  override name = 'UsageError';
}

/** The targets for the requested ids, in order; throws `UsageError` listing the known ids otherwise. */
export function resolveBackends(ids: readonly string[]): { id: string; target: BenchTarget }[] {
  const known = Object.keys(BACKENDS);
  return ids.map((id) => {
    const target = BACKENDS[id];
    if (!target) throw new UsageError(`Unknown backend '${id}'. Known backends: ${known.join(', ')}.`);
    return { id, target };
  });
}
