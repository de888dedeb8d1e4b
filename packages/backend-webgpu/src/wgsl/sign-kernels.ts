import { builtinsWgsl, ROW_PARAMS_WGSL, reductionFloats, reductionWgsl } from './row-params';

/**
 * WGSL for one stage of a fused sign matmul, per output row r and input vector s:
 *
 *   y[s, r] = Σ_p post[r, p] · Σ_c sign(r, c) · pre[c, p] · x[s, c]   (+ bias[r])
 *
 * with `p` over the L envelope terms (L = 1 for DBF and plain sign matmuls). A DBF layer is two stages
 * (pre = b, post = μ; then post = a, bias); an MDBF layer too (pre = envB, post = envQV; then
 * pre = envQU, post = envA, bias). Every sign word is read once and feeds all L partial sums.
 *
 * Bindings: 0 params, 1 signs (u32, row-major, `rowLength` words per row), 2 X, 3 Y, 4 pre (transposed:
 * L × preStride), 5 post (rows × L), 6 bias; 1, 5 and 6 hold the dispatch's row block only. Whether pre, post and bias apply is a uniform flag (an
 * unused binding gets a dummy buffer), and L is a uniform bounded by the variant's `maxEnvelope`, so a
 * handful of pipelines serve every layer.
 */

/** Kernel variants: L = 1 (DBF, plain signs), or up to `maxEnvelope` terms (MDBF). */
export interface SignVariant {
  readonly maxEnvelope: number;
}

const BINDINGS = (xType: string) => /* wgsl */ `
@group(0) @binding(1) var<storage, read> S: array<u32>;
@group(0) @binding(2) var<storage, read> X: ${xType};
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read> PRE: ${xType};
@group(0) @binding(5) var<storage, read> POST: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
`;

/**
 * Epilogue for chunk-local row `r`: `Σ_l post[r, l]·tot(l) (+ bias[r])`, or `tot(0)` without post
 * scales. Post scales and bias are split into row blocks along with the signs.
 */
function epilogue(tot: (l: string) => string): string {
  return `var y = ${tot('0u')};
        if (hasPost) {
          y = 0.0;
          for (var l = 0u; l < L; l++) { y += POST[r * L + l] * ${tot('l')}; }
        }
        if (hasBias) { y += BIAS[r]; }`;
}

const FLAGS = /* wgsl */ `
  let hasPre = (params.flags & 1u) != 0u;
  let hasPost = (params.flags & 2u) != 0u;
  let hasBias = (params.flags & 4u) != 0u;`;

export interface SignGemvShape {
  /** Lanes per row (a multiple of the subgroup size when subgroups are used). */
  readonly lanes: number;
  /** Rows per thread: each activation loaded serves this many rows. */
  readonly rowsPerThread: number;
  readonly subgroups: boolean;
}

/** Workgroup memory of the GEMV, in bytes. */
export function signGemvSharedBytes(v: SignVariant, shape: SignGemvShape): number {
  return 4 * reductionFloats(shape.rowsPerThread * v.maxEnvelope);
}

/**
 * Batch-1 sign GEMV: T lanes per row stride along the row's words; each thread reads RT rows' words and
 * applies each loaded activation vec4 (scaled by `pre`) to all RT rows, then the T lanes reduce.
 */
export function signGemvWgsl(v: SignVariant, shape: SignGemvShape): string {
  const T = shape.lanes;
  const RT = shape.rowsPerThread;
  const LM = v.maxEnvelope;
  const rows = Array.from({ length: RT }, (_, i) => i);
  const single = LM === 1;
  const loadWords = rows
    .map(
      (i) =>
        `var w${i} = 0u;\n      if (row0 + ${i}u < params.rows) { w${i} = S[(row0 + ${i}u) * params.rowLength + w]; }`,
    )
    .join('\n      ');
  // L = 1 keeps each row's accumulator in a plain variable; MDBF indexes them by envelope term.
  const accumulate = rows
    .map((i) =>
      single
        ? `a${i} += select(-u, u, nibble(w${i}, q));`
        : `acc[l * RT + ${i}u] += select(-u, u, nibble(w${i}, q));`,
    )
    .join('\n          ');
  return /* wgsl */ `${shape.subgroups ? 'enable subgroups;\n' : ''}${ROW_PARAMS_WGSL}${BINDINGS('array<vec4<f32>>')}
const WG = 256u;
const T = ${T}u;
const RT = ${RT}u;
const LM = ${LM}u;
const NV = ${RT * LM}u;
const GROUPS = WG / T;
var<workgroup> red: array<f32, ${reductionFloats(RT * LM)}>;

fn nibble(w: u32, q: u32) -> vec4<bool> {
  return ((vec4<u32>(w) >> (vec4<u32>(0u, 1u, 2u, 3u) + vec4<u32>(4u * q))) & vec4<u32>(1u)) == vec4<u32>(1u);
}

@compute @workgroup_size(256)
fn main(${builtinsWgsl(shape.subgroups)}) {${FLAGS}
  let L = ${single ? '1u' : 'params.envelope'};
  let wid = wg.x + wg.y * params.wgX;
  let lane = lid % T;
  let group = lid / T;
  let row0 = (wid * GROUPS + group) * RT;
  var acc: array<vec4<f32>, NV>;
  ${single ? rows.map((i) => `var a${i} = vec4<f32>();`).join(' ') : ''}
  if (row0 < params.rows) {
    for (var w = lane; w < params.rowLength; w += T) {
      ${loadWords}
      let xb = params.inOffset / 4u + w * 8u;
      for (var l = 0u; l < L; l++) {
        let pb = (l * params.preStride) / 4u + w * 8u;
        for (var q = 0u; q < 8u; q++) {
          var u = X[xb + q];
          if (hasPre) { u *= PRE[pb + q]; }
          ${accumulate}
        }
      }
    }
  }
  ${single ? rows.map((i) => `acc[${i}] = a${i};`).join(' ') : ''}
  let count = RT * L;
${reductionWgsl(shape.subgroups)}
  if (lane == 0u) {
    for (var i = 0u; i < RT; i++) {
      let r = row0 + i;
      if (r < params.writeRows) {
        var out = 0.0;
        if (r < params.rows) {
          ${epilogue((l) => `tot[${l} * RT + i]`)}
          out = y;
        }
        Y[params.outOffset + params.rowOffset + r] = out;
      }
    }
  }
}
`;
}

export interface SignGemmShape {
  /** Rows per workgroup tile. */
  readonly tileRows: number;
  /** Input vectors per workgroup tile. */
  readonly tileBatch: number;
  /** Rows per thread. */
  readonly rowsPerThread: number;
  /** Vectors per thread. */
  readonly batchPerThread: number;
  /** Sign words per row loaded per K step (32 columns each). */
  readonly wordsPerStep: number;
}

/** Workgroup memory of the sign GEMM, in bytes. */
export function signGemmSharedBytes(v: SignVariant, s: SignGemmShape): number {
  const kc = 32 * s.wordsPerStep;
  const pre = v.maxEnvelope > 1 ? v.maxEnvelope * kc : 0;
  return 4 * (s.tileRows * s.wordsPerStep + s.tileBatch * (kc + 1) + pre);
}

/**
 * Tiled sign GEMM for batch > 1: a workgroup computes a TM-row × TN-vector tile. Per K step it stages
 * TM × KW sign words and TN × 32·KW activations (pre-scaled when L = 1; for MDBF the L pre columns are
 * staged separately) in workgroup memory; each thread accumulates an RM × RN register block (× L terms),
 * so every sign word read from memory serves TN vectors.
 */
export function signGemmWgsl(v: SignVariant, s: SignGemmShape): string {
  const { tileRows: TM, tileBatch: TN, rowsPerThread: RM, batchPerThread: RN, wordsPerStep: KW } = s;
  const TX = TN / RN;
  if ((TM / RM) * TX !== 256)
    throw new Error(`sign GEMM tile ${TM}x${TN} / ${RM}x${RN} does not use 256 threads`);
  const LM = v.maxEnvelope;
  const single = LM === 1;
  const KC = 32 * KW;
  const accumulate = single
    ? 'acc[k] += sv;'
    : 'for (var l = 0u; l < L; l++) { acc[k * LM + l] += sv * ps[l * KC + c]; }';
  return /* wgsl */ `${ROW_PARAMS_WGSL}${BINDINGS('array<f32>')}
const TM = ${TM}u;
const TN = ${TN}u;
const RM = ${RM}u;
const RN = ${RN}u;
const KW = ${KW}u;
const KC = ${KC}u;
const TX = ${TX}u;
const LM = ${LM}u;
const XS = KC + 1u;
var<workgroup> sw: array<u32, ${TM * KW}>;
var<workgroup> xs: array<f32, ${TN * (KC + 1)}>;
${single ? '' : `var<workgroup> ps: array<f32, ${LM * KC}>;`}

@compute @workgroup_size(256)
fn main(${builtinsWgsl(false)}) {${FLAGS}
  let L = ${single ? '1u' : 'params.envelope'};
  let wid = wg.x + wg.y * params.wgX;
  let rowTile = wid % params.rowTiles;
  let batchTile = wid / params.rowTiles;
  let tx = lid % TX;
  let ty = lid / TX;
  let rowBase = rowTile * TM;
  let vecBase = batchTile * TN;
  let cols = params.rowLength * 32u;
  // L = 1 folds the pre scales into the staged activations; MDBF stages its L pre columns apart.
  let scaleX = hasPre && L == 1u;
  var acc: array<f32, ${RM * RN * LM}>;
  for (var w0 = 0u; w0 < params.rowLength; w0 += KW) {
    for (var idx = lid; idx < TM * KW; idx += 256u) {
      let r = rowBase + idx / KW;
      let w = w0 + idx % KW;
      var word = 0u;
      if (r < params.rows && w < params.rowLength) { word = S[r * params.rowLength + w]; }
      sw[idx] = word;
    }
    for (var idx = lid; idx < TN * KC; idx += 256u) {
      let sv = vecBase + idx / KC;
      let c = idx % KC;
      let col = w0 * 32u + c;
      var x = 0.0;
      if (sv < params.batch && col < cols) {
        x = X[params.inOffset + sv * params.inStride + col];
        if (scaleX) { x *= PRE[col]; }
      }
      xs[(idx / KC) * XS + c] = x;
    }
${
  single
    ? ''
    : `    for (var idx = lid; idx < L * KC; idx += 256u) {
      let col = w0 * 32u + idx % KC;
      var pv = 0.0;
      if (col < cols) { pv = PRE[(idx / KC) * params.preStride + col]; }
      ps[idx] = pv;
    }`
}
    workgroupBarrier();
    for (var c = 0u; c < KC; c++) {
      for (var i = 0u; i < RM; i++) {
        let bit = (sw[(ty * RM + i) * KW + c / 32u] >> (c % 32u)) & 1u;
        for (var j = 0u; j < RN; j++) {
          let xv = xs[(tx * RN + j) * XS + c];
          let sv = select(-xv, xv, bit == 1u);
          let k = i * RN + j;
          ${accumulate}
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RM; i++) {
    let r = rowBase + ty * RM + i;
    if (r >= params.writeRows) { continue; }
    for (var j = 0u; j < RN; j++) {
      let sv = vecBase + tx * RN + j;
      if (sv >= params.batch) { continue; }
      var out = 0.0;
      if (r < params.rows) {
        let k = i * RN + j;
        ${epilogue((l) => `acc[k * LM + ${l}]`)}
        out = y;
      }
      Y[params.outOffset + sv * params.outStride + params.rowOffset + r] = out;
    }
  }
}
`;
}

/** Startup probe: records each invocation's subgroup lane and size, to check they are contiguous. */
export const SUBGROUP_PROBE_WGSL = /* wgsl */ `enable subgroups;
@group(0) @binding(0) var<storage, read_write> OUT: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32) {
  OUT[lid] = sgLane;
  OUT[256u + lid] = sgSize;
}
`;
