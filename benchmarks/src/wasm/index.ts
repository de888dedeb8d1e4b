/**
 * The WebAssembly backend's benchmark adapter. `runWasmKernelBench` returns every row the wasm issue
 * asks for (DBF linear at 1/1.5/2 bpw, batch 1/8, 1/2 threads against backend-cpu, onnxruntime-web
 * f32 MatMul and 4-bit MatMulNBits, and a streaming-read probe; dense GEMM on 1/2 threads).
 */

export { dbfSignBytes } from '../random-layers';
export { matMulModel, matMulNBitsModel } from './onnx-model';
export { type OrtLinear, ortLinear, useOrtThreads } from './ort-baseline';
export {
  dbfLayerBytes,
  GEMM_SIZES,
  parseShapes,
  runWasmKernelBench,
  WASM_BATCHES,
  WASM_BPWS,
  WASM_SHAPES,
  WASM_THREADS,
  type WasmBenchOptions,
} from './wasm-bench';
