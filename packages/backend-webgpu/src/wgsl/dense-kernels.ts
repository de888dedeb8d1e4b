import { builtinsWgsl, ROW_PARAMS_WGSL, reductionFloats, reductionWgsl } from './row-params';

/**
 * Dense f32 GEMV for dense layers at batch ≤ 8, and the benchmark's dense baseline: the sign GEMV's lane
 * layout (T lanes per row, RT rows per thread, vec4 loads of W and x), each weight vec4 loaded once and
 * applied to all `batch` vectors (up to BT), then the same reduction.
 * Bindings: 0 params, 1 W (vec4 rows, `rowLength` vec4s each), 2 X, 3 Y, 6 bias (used when flag bit 2 is set).
 */
export function denseGemvWgsl(options: {
  lanes: number;
  rowsPerThread: number;
  maxBatch: number;
  subgroups: boolean;
}): string {
  const { lanes: T, rowsPerThread: RT, maxBatch: BT, subgroups } = options;
  const rows = Array.from({ length: RT }, (_, i) => i);
  return /* wgsl */ `${subgroups ? 'enable subgroups;\n' : ''}${ROW_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> W: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
const WG = 256u;
const T = ${T}u;
const RT = ${RT}u;
const NV = ${RT * BT}u;
const GROUPS = WG / T;
var<workgroup> red: array<f32, ${reductionFloats(RT * BT)}>;

@compute @workgroup_size(256)
fn main(${builtinsWgsl(subgroups)}) {
  let wid = wg.x + wg.y * params.wgX;
  let lane = lid % T;
  let group = lid / T;
  let row0 = (wid * GROUPS + group) * RT;
  let batch = ${BT === 1 ? '1u' : 'params.batch'};
  // acc[s * RT + i]: vector s, row i, so the first RT·batch entries are the live ones.
  var acc: array<vec4<f32>, NV>;
  if (row0 < params.rows) {
    for (var g = lane; g < params.rowLength; g += T) {
      ${rows.map((i) => `var w${i} = vec4<f32>();\n      if (row0 + ${i}u < params.rows) { w${i} = W[(row0 + ${i}u) * params.rowLength + g]; }`).join('\n      ')}
      for (var s = 0u; s < batch; s++) {
        let x = X[(params.inOffset + s * params.inStride) / 4u + g];
        ${rows.map((i) => `acc[s * RT + ${i}u] += w${i} * x;`).join('\n        ')}
      }
    }
  }
  let count = RT * batch;
${reductionWgsl(subgroups)}
  if (lane == 0u) {
    for (var s = 0u; s < batch; s++) {
      for (var i = 0u; i < RT; i++) {
        let r = row0 + i;
        if (r < params.writeRows) {
          var out = 0.0;
          if (r < params.rows) {
            out = tot[s * RT + i];
            if ((params.flags & 4u) != 0u) { out += BIAS[r]; }
          }
          Y[params.outOffset + s * params.outStride + params.rowOffset + r] = out;
        }
      }
    }
  }
}
`;
}

/** GEMM uniform block: 20 words = 80 bytes. */
export const GEMM_PARAMS_WORDS = 20;

export interface GemmParams {
  m: number;
  n: number;
  k: number;
  lda: number;
  ldb: number;
  ldc: number;
  aOffset: number;
  bOffset: number;
  cOffset: number;
  /** Columns to write, >= n: columns n..nWrite-1 get zeros (padding of output vectors). */
  nWrite: number;
  transposeA: boolean;
  transposeB: boolean;
  /** Adds `bias[biasOffset + j]` to column j. */
  bias: boolean;
  biasOffset: number;
  wgX: number;
  tilesM: number;
  alpha: number;
  beta: number;
}

export function encodeGemmParams(p: GemmParams, words: Uint32Array, floats: Float32Array): void {
  words[0] = p.m;
  words[1] = p.n;
  words[2] = p.k;
  words[3] = p.lda;
  words[4] = p.ldb;
  words[5] = p.ldc;
  words[6] = p.aOffset;
  words[7] = p.bOffset;
  words[8] = p.cOffset;
  words[9] = p.nWrite;
  words[10] = p.transposeA ? 1 : 0;
  words[11] = p.transposeB ? 1 : 0;
  words[12] = p.biasOffset;
  words[13] = p.wgX;
  words[14] = p.tilesM;
  words[15] = p.bias ? 1 : 0;
  floats[16] = p.alpha;
  floats[17] = p.beta;
  words[18] = 0;
  words[19] = 0;
}

/**
 * Tiled f32 GEMM, `C = alpha·op(A)·op(B) + beta·C (+ bias[j])`: 64×64 tiles, K steps of 16 staged in
 * workgroup memory, a 4×4 register block per thread. C is read only when beta ≠ 0. Columns n..nWrite-1
 * of C are zeroed (the padding of output vectors when this computes a dense layer for a batch).
 * Bindings: 0 params, 1 A, 2 B, 3 C, 6 bias.
 */
export function gemmWgsl(): string {
  return /* wgsl */ `
struct Params {
  m: u32, n: u32, k: u32, lda: u32,
  ldb: u32, ldc: u32, aOffset: u32, bOffset: u32,
  cOffset: u32, nWrite: u32, transA: u32, transB: u32,
  biasOffset: u32, wgX: u32, tilesM: u32, hasBias: u32,
  alpha: f32, beta: f32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> As: array<f32, 1024>;
var<workgroup> Bs: array<f32, 1024>;

fn loadA(i: u32, kk: u32) -> f32 {
  if (i >= params.m || kk >= params.k) { return 0.0; }
  if (params.transA == 1u) { return A[params.aOffset + kk * params.lda + i]; }
  return A[params.aOffset + i * params.lda + kk];
}

fn loadB(kk: u32, j: u32) -> f32 {
  if (kk >= params.k || j >= params.n) { return 0.0; }
  if (params.transB == 1u) { return B[params.bOffset + j * params.ldb + kk]; }
  return B[params.bOffset + kk * params.ldb + j];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.x + wg.y * params.wgX;
  let i0 = (wid % params.tilesM) * BM;
  let j0 = (wid / params.tilesM) * BN;
  let tx = lid % 16u;
  let ty = lid / 16u;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < params.k; k0 += BK) {
    for (var e = 0u; e < 4u; e++) {
      let idx = lid + e * 256u;
      // As is [kk][i], Bs is [kk][j]: the inner loop reads both along i and j.
      As[(idx % BK) * BM + idx / BK] = loadA(i0 + idx / BK, k0 + idx % BK);
      Bs[(idx / BN) * BN + idx % BN] = loadB(k0 + idx / BN, j0 + idx % BN);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var t = 0u; t < 4u; t++) {
        a[t] = As[kk * BM + ty * 4u + t];
        b[t] = Bs[kk * BN + tx * 4u + t];
      }
      for (var t = 0u; t < 4u; t++) {
        for (var u = 0u; u < 4u; u++) { acc[t * 4u + u] += a[t] * b[u]; }
      }
    }
    workgroupBarrier();
  }
  for (var t = 0u; t < 4u; t++) {
    let i = i0 + ty * 4u + t;
    if (i >= params.m) { continue; }
    for (var u = 0u; u < 4u; u++) {
      let j = j0 + tx * 4u + u;
      let at = params.cOffset + i * params.ldc + j;
      if (j < params.n) {
        var v = params.alpha * acc[t * 4u + u];
        if (params.beta != 0.0) { v += params.beta * C[at]; }
        if (params.hasBias != 0u) { v += BIAS[params.biasOffset + j]; }
        C[at] = v;
      } else if (j < params.nWrite) {
        C[at] = 0.0;
      }
    }
  }
}
`;
}
