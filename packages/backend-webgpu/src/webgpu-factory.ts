import type { Availability, BackendFactory } from '@dbf/core';
import { acquireDevice, probeAvailability } from './acquire-device';
import { resolveOptions, type WebGpuBackendOptions } from './options';
import { WEBGPU_BACKEND_ID, type WebGpuBackend, WebGpuBackendImpl } from './webgpu-backend';

/** Preferred by `'auto'` over wasm (2) and cpu (1); a software adapter is refused unless allowed, so `'auto'` then moves on. */
export const WEBGPU_PRIORITY = 3;

export interface WebGpuBackendFactory extends BackendFactory<WebGpuBackendOptions> {
  readonly id: 'webgpu';
  create(options?: WebGpuBackendOptions): Promise<WebGpuBackend>;
}

/**
 * The WebGPU backend factory. `defaults` apply to every `create()`; options given to `create()` override
 * them. In browsers nothing is needed (`navigator.gpu`); in Node pass the `webgpu` package's GPU:
 *
 * ```ts
 * import { create } from 'webgpu';
 * const backend = await webgpu({ gpu: create([]) }).create();
 * ```
 */
export function webgpu(defaults: WebGpuBackendOptions = {}): WebGpuBackendFactory {
  resolveOptions(defaults, undefined);
  return {
    id: WEBGPU_BACKEND_ID,
    priority: WEBGPU_PRIORITY,
    async isAvailable(): Promise<Availability> {
      try {
        return await probeAvailability(resolveOptions(defaults, undefined));
      } catch (error) {
        return { available: false, reason: error instanceof Error ? error.message : String(error) };
      }
    },
    async create(options?: WebGpuBackendOptions): Promise<WebGpuBackend> {
      const resolved = resolveOptions(defaults, options);
      const acquired = await acquireDevice(resolved);
      return new WebGpuBackendImpl(acquired, {
        ...(resolved.maxStorageBufferBindingSize !== undefined
          ? { maxBinding: resolved.maxStorageBufferBindingSize }
          : {}),
        checkGuards: resolved.checkGuards ?? true,
      });
    },
  };
}
