/// <reference types="@webgpu/types" />
/**
 * @dbf/backend-webgpu — the WebGPU kernel backend for dbf: WGSL sign GEMV (subgroupAdd or workgroup
 * reduction), tiled sign GEMM, fused DBF/MDBF linear layers, dense f32 GEMV/GEMM, and a chaining API
 * that keeps activations on the GPU across layers. Runs on `navigator.gpu` or an injected GPU/adapter/device.
 */

export { describeAdapter, type WebGpuAdapterInfo } from './acquire-device';
export type { WebGpuBackendOptions } from './options';
export { WEBGPU_BACKEND_ID, type WebGpuBackend } from './webgpu-backend';
export type { GpuTensor, WebGpuChain } from './webgpu-chain';
export { WEBGPU_PRIORITY, type WebGpuBackendFactory, webgpu } from './webgpu-factory';
