/**
 * @dbf/backend-wasm — WebAssembly SIMD kernels for dbf: T-MAC table-lookup sign matmuls with int8
 * tables (or an exact f32 variant), fused DBF/MDBF linear layers, a tiled f32 GEMM, and threads over
 * SharedArrayBuffer. No Node built-ins: runs in browsers and Node alike. In Node, import from
 * `@dbf/backend-wasm/node` to use worker_threads.
 */

export { INT8_TABLE_RANGE, int8SignMatMulErrorBound } from './error-bound';
export { relaxedSimdSupported, simdUnavailableReason } from './kernel-module';
export { createStreamingReadProbe, type StreamingReadProbe, type StreamingReadProbeOptions } from './probe';
export { int8LayoutBytes, int8VectorOffset, laneOfRow, repackSignsInt8 } from './repack';
export type { WorkerFactory, WorkerHandle } from './thread-pool';
export { EXACT_NMSE_TOLERANCE, INT8_NMSE_TOLERANCE, WasmBackend, type WasmVariant } from './wasm-backend';
export { type WasmBackendOptions, wasm } from './wasm-factory';
