import { existsSync } from 'node:fs';
import { create } from 'webgpu';

/** Debian's chromium ships SwiftShader's Vulkan driver here (toolchain.md §3a). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export type NodeGpu =
  | { readonly gpu: GPU; readonly skip?: undefined }
  | { readonly gpu?: undefined; readonly skip: string };

let cached: Promise<NodeGpu> | undefined;

/**
 * The `webgpu` package's GPU when it yields an adapter. Without one the GPU tests skip locally, but in
 * CI (process.env.CI set) the missing environment is an error, so CI cannot pass by skipping them.
 */
export function nodeGpu(): Promise<NodeGpu> {
  cached ??= (async (): Promise<NodeGpu> => {
    if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD))
      process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    let reason: string;
    try {
      const gpu = create([]);
      const adapter = await gpu.requestAdapter();
      if (adapter) return { gpu };
      reason = `no WebGPU adapter in Node (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'}; install the Debian packages chromium and libvulkan1)`;
    } catch (error) {
      reason = `the webgpu package failed to load: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (process.env.CI) throw new Error(`WebGPU tests must run in CI, but ${reason}.`);
    return { skip: reason };
  })();
  return cached;
}

let device: Promise<GPUDevice> | undefined;

/**
 * One device (with `subgroups` when the adapter has it) shared by the Node test files: backends on the
 * same device share compiled pipelines, and SwiftShader compiles slowly. The vitest config runs files
 * without isolation, so the cache spans files within a worker.
 */
export function sharedDevice(gpu: GPU): Promise<GPUDevice> {
  device ??= (async () => {
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('requestAdapter() returned null');
    return adapter.requestDevice({
      requiredFeatures: adapter.features.has('subgroups') ? ['subgroups'] : [],
    });
  })();
  return device;
}
