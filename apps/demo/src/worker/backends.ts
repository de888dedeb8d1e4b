import { cpu } from '@dbf/backend-cpu';
import { wasm } from '@dbf/backend-wasm';
import { type WebGpuBackend, webgpu } from '@dbf/backend-webgpu';
import { type BackendFactory, type KernelBackend, selectBackend } from '@dbf/core';
import type { BackendChoice, BackendId, BackendStatus, Environment } from '../protocol';

// Guard words around every GPU output are a debugging aid of the backend; the demo wants speed.
const GPU_OPTIONS = { checkGuards: false } as const;

/**
 * The WASM backend's exact f32 kernels, not its int8 lookup tables: a ~1.5-bit model's logits are close
 * enough that int8 rounding changes greedy picks within a few dozen tokens, and the page promises the
 * same text on every backend. At this model size the exact kernels are as fast.
 */
const wasmBackend = () => wasm({ variant: 'exact' });

/**
 * The factory used when the user picks a backend by name. WebGPU accepts a software adapter
 * (SwiftShader, WARP) here: slow, but it is what headless browsers and GPU-less machines have, and the
 * user asked for it explicitly.
 */
function explicitFactory(id: BackendId): BackendFactory {
  switch (id) {
    case 'webgpu':
      return webgpu({ ...GPU_OPTIONS, allowFallbackAdapter: true });
    case 'wasm':
      return wasmBackend();
    case 'cpu':
      return cpu();
  }
}

/**
 * `auto` tries the backends by priority (WebGPU, WASM, JS), but refuses a software GPU adapter: on such
 * machines WASM SIMD is much faster, and "auto" means the fastest.
 */
const autoFactories = (): BackendFactory[] => [webgpu(GPU_OPTIONS), wasmBackend(), cpu()];

/** Availability of each backend here, with the reason when one cannot run. */
export async function probeEnvironment(): Promise<Environment> {
  const backends: BackendStatus[] = [];
  for (const id of ['webgpu', 'wasm', 'cpu'] as const) {
    const availability = await explicitFactory(id).isAvailable();
    if (!availability.available) {
      backends.push({ id, available: false, note: availability.reason });
      continue;
    }
    let note: string | undefined;
    if (id === 'webgpu') {
      // Available only because software adapters are accepted: say so, since it is slow.
      const strict = await webgpu(GPU_OPTIONS).isAvailable();
      if (!strict.available) note = 'software adapter only: correct but slow; auto skips it';
    }
    backends.push(note ? { id, available: true, note } : { id, available: true });
  }
  const scope = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  return {
    backends,
    crossOriginIsolated: scope.crossOriginIsolated === true,
    hardwareConcurrency: scope.navigator?.hardwareConcurrency ?? 1,
  };
}

/** Creates the backend for `choice`; throws NoBackendAvailableError with each candidate's reason. */
export async function createBackend(choice: BackendChoice): Promise<KernelBackend> {
  if (choice === 'auto') return selectBackend({ backends: autoFactories(), device: 'auto' });
  return selectBackend({ backends: [explicitFactory(choice)], device: choice });
}

/** The GPU device behind a WebGPU backend, to watch for (or simulate) device loss. */
export function gpuDevice(backend: KernelBackend): GPUDevice | undefined {
  return backend.id === 'webgpu' ? (backend as WebGpuBackend).device : undefined;
}
