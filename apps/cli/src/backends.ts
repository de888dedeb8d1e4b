import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism, platform } from 'node:os';
import { cpu } from '@dbf/backend-cpu';
import { wasm } from '@dbf/backend-wasm/node';
import { webgpu } from '@dbf/backend-webgpu';
import {
  type Availability,
  type BackendChoice,
  type BackendFactory,
  InvalidArgumentError,
  type KernelBackend,
  selectBackend,
} from '@dbf/core';

export const BACKEND_IDS = ['auto', 'cpu', 'wasm', 'webgpu'] as const;
export const BACKEND_HELP = 'auto, webgpu, wasm or cpu (auto: the fastest available)';

/**
 * WebGPU in Node through the `webgpu` package (Dawn), loaded only when asked for: its native module is
 * large, and most machines running the CLI have no GPU. Software adapters (SwiftShader) are refused, so
 * `auto` falls back to WASM there.
 */
function nodeWebgpu(): BackendFactory {
  let factory: Promise<BackendFactory> | undefined;
  const load = () => {
    factory ??= import('webgpu').then(({ create }) => webgpu({ gpu: create([]) }));
    return factory;
  };
  return {
    id: 'webgpu',
    priority: 3,
    async isAvailable(): Promise<Availability> {
      // Dawn uses Vulkan on Linux; without any driver it only prints warnings, so do not even load it.
      if (platform() === 'linux' && !hasVulkanDriver())
        return { available: false, reason: 'No Vulkan driver is installed (Dawn needs one on Linux).' };
      try {
        return await (await load()).isAvailable();
      } catch (error) {
        return { available: false, reason: `The webgpu package could not be loaded: ${String(error)}` };
      }
    },
    async create(options?: unknown) {
      return (await load()).create(options as never);
    },
  };
}

function hasVulkanDriver(): boolean {
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return true;
  const dirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  return dirs.some((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json')));
}

/** The backends the CLI runs on, best first: WebGPU (a real GPU), WASM SIMD on every core, plain JS. */
export function cliBackends(): BackendFactory[] {
  // DBF_WASM_THREADS overrides the thread count (e.g. 1 when several runs share a machine).
  const fromEnv = Number(process.env.DBF_WASM_THREADS);
  const threads =
    Number.isInteger(fromEnv) && fromEnv >= 1
      ? Math.min(fromEnv, 8)
      : Math.max(1, Math.min(availableParallelism(), 8));
  return [nodeWebgpu(), wasm({ threads }), cpu()];
}

/** Validates `--backend` and creates that backend (or the best available for `auto`). */
export async function createCliBackend(choice: string): Promise<KernelBackend> {
  if (!(BACKEND_IDS as readonly string[]).includes(choice))
    throw new InvalidArgumentError(`--backend must be one of ${BACKEND_IDS.join(', ')}, got "${choice}".`);
  return selectBackend({ backends: cliBackends(), device: choice as BackendChoice });
}
