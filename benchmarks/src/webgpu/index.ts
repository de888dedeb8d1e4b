/**
 * The WebGPU backend's benchmark adapter: `runWebGpuKernelBench` returns the rows issue 5 asks for
 * (DBF linear at 1/1.5/2 bpw vs the backend's dense f32 layer and vs a WGSL copy kernel over the same
 * bytes, 4096² and 4096×11008, batch 1 and 8), after logging the adapter's description.
 */

export { dbfSignBytes } from '../random-layers';
export {
  describeWebGpuBackend,
  runWebGpuKernelBench,
  WEBGPU_BATCHES,
  WEBGPU_BPWS,
  WEBGPU_QUICK_SHAPES,
  WEBGPU_SHAPES,
  type WebGpuBenchOptions,
  type WebGpuBenchRow,
} from './webgpu-bench';
