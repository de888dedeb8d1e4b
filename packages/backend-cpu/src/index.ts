/**
 * @dbf/backend-cpu — the pure-JavaScript kernel backend of the dbf SDK (no WASM, no WebGPU, no Node
 * built-ins): DBF/MDBF linear layers through table-lookup sign matmuls, dense layers and GEMM through
 * register-blocked float64-accumulated kernels. Pass `cpu()` to `selectBackend` or create it directly.
 */
export { CPU_BACKEND_ID, type CpuBackendOptions, cpu } from './cpu-backend';
