import {
  BackendError,
  checkGemmRequest,
  type GemmRequest,
  KERNEL_SPEC_VERSION,
  type KernelBackend,
} from '../../src/index';

/** A KernelBackend for core's own tests: a correct, reasonably fast float64-accumulating GEMM, nothing else. */
export interface TestBackend extends KernelBackend {
  /** GEMM calls and multiply-adds so far (for tests that check the work goes through the backend). */
  readonly stats: { calls: number; multiplyAdds: number };
}

export function createTestBackend(): TestBackend {
  const stats = { calls: 0, multiplyAdds: 0 };
  const unsupported = async (): Promise<never> => {
    throw new BackendError('test', 'UNSUPPORTED_OPERATION', 'The test backend only implements gemm.');
  };
  return {
    specificationVersion: KERNEL_SPEC_VERSION,
    id: 'test',
    capabilities: {
      accumulation: 'f64',
      nmseTolerance: 1e-12,
      threads: 1,
      maxBufferBytes: 2 ** 31,
      description: 'core test backend (gemm only)',
    },
    stats,
    uploadLinear: unsupported,
    linear: unsupported,
    uploadSigns: unsupported,
    signMatMul: unsupported,
    async gemm(request: GemmRequest) {
      const c = checkGemmRequest(request);
      stats.calls++;
      stats.multiplyAdds += request.m * request.n * request.k;
      gemmReference(request, c);
      return c;
    },
    async dispose() {},
  };
}

/** C = alpha·op(A)·op(B) + beta·C with op(A) packed row-major and a float64 row accumulator. */
function gemmReference(request: GemmRequest, c: Float32Array): void {
  const { m, n, k, transposeA = false, transposeB = false } = request;
  const alpha = request.alpha ?? 1;
  const beta = request.beta ?? 0;
  const a = transposeA ? transpose(request.a, k, m) : request.a;
  const b = transposeB ? transpose(request.b, n, k) : request.b;
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    const ai = i * k;
    let p = 0;
    for (; p + 3 < k; p += 4) {
      const a0 = a[ai + p]!;
      const a1 = a[ai + p + 1]!;
      const a2 = a[ai + p + 2]!;
      const a3 = a[ai + p + 3]!;
      const b0 = p * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      for (let j = 0; j < n; j++)
        acc[j] = acc[j]! + a0 * b[b0 + j]! + a1 * b[b1 + j]! + a2 * b[b2 + j]! + a3 * b[b3 + j]!;
    }
    for (; p < k; p++) {
      const av = a[ai + p]!;
      const bp = p * n;
      for (let j = 0; j < n; j++) acc[j] = acc[j]! + av * b[bp + j]!;
    }
    const ci = i * n;
    if (beta === 0) for (let j = 0; j < n; j++) c[ci + j] = alpha * acc[j]!;
    else for (let j = 0; j < n; j++) c[ci + j] = alpha * acc[j]! + beta * c[ci + j]!;
  }
}

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j]!;
  return t;
}
