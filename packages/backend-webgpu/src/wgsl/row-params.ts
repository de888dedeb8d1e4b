/**
 * The uniform block shared by the row kernels (sign GEMV, sign GEMM, dense GEMV): 16 u32 = 64 bytes.
 * Offsets and strides are in f32 elements; every kernel binds whole buffers (guards included).
 */
export const ROW_PARAMS_WGSL = /* wgsl */ `
struct Params {
  rows: u32,        // rows of this chunk (logical)
  writeRows: u32,   // rows to write, >= rows: rows past \`rows\` are the zero padding of the output vectors
  rowOffset: u32,   // global index of the chunk's row 0 (post, bias and output index)
  rowLength: u32,   // sign words per row (sign kernels) or vec4s per row (dense kernel)
  batch: u32,
  inOffset: u32,    // element offset of vector 0 of X (a multiple of 4)
  inStride: u32,    // elements from one input vector to the next (a multiple of 32)
  outOffset: u32,   // element offset of vector 0 of Y
  outStride: u32,
  preStride: u32,   // elements from one pre-scale column to the next
  wgX: u32,         // workgroups along x: the grid is linearised as x + y * wgX
  rowTiles: u32,    // GEMM: row tiles; workgroup w works on row tile w % rowTiles, batch tile w / rowTiles
  envelope: u32,    // L, the envelope terms (1 for DBF and plain sign matmuls)
  flags: u32,       // bit 0: pre scales bound, bit 1: post scales, bit 2: bias
  _pad0: u32,
  _pad1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
`;

export const ROW_PARAMS_WORDS = 16;

export interface RowParams {
  rows: number;
  writeRows: number;
  rowOffset: number;
  rowLength: number;
  batch: number;
  inOffset: number;
  inStride: number;
  outOffset: number;
  outStride: number;
  preStride: number;
  wgX: number;
  rowTiles: number;
  envelope: number;
  flags: number;
}

export const FLAG_PRE = 1;
export const FLAG_POST = 2;
export const FLAG_BIAS = 4;

export function encodeRowParams(p: RowParams, target: Uint32Array): Uint32Array {
  target[0] = p.rows;
  target[1] = p.writeRows;
  target[2] = p.rowOffset;
  target[3] = p.rowLength;
  target[4] = p.batch;
  target[5] = p.inOffset;
  target[6] = p.inStride;
  target[7] = p.outOffset;
  target[8] = p.outStride;
  target[9] = p.preStride;
  target[10] = p.wgX;
  target[11] = p.rowTiles;
  target[12] = p.envelope;
  target[13] = p.flags;
  return target;
}

/** Workgroup memory of the GEMV reduction, in f32 elements, for at most `maxValues` sums per thread. */
export function reductionFloats(maxValues: number): number {
  return Math.max(4 * 256, maxValues * 64);
}

/**
 * Reduction of per-thread partial sums over the T lanes of each row group. Two variants: `subgroupAdd`
 * (subgroups contiguous in local_invocation_index, probed at startup; the subgroup size is read from
 * the builtin, never assumed), or a workgroup-memory tree.
 *
 * Expects in scope: `acc: array<vec4<f32>, NV>`, a uniform `count` (≤ NV) of values to reduce, `lid`,
 * `lane`, `group`; declares `tot: array<f32, NV>`, valid in lane 0 of each row group.
 */
export function reductionWgsl(subgroups: boolean): string {
  if (subgroups) {
    return /* wgsl */ `
  var tot: array<f32, NV>;
  let slots = WG / sgSize;
  let perGroup = T / sgSize;
  for (var v = 0u; v < count; v++) {
    let a = acc[v];
    let s = subgroupAdd((a.x + a.y) + (a.z + a.w));
    if (sgLane == 0u) { red[v * slots + lid / sgSize] = s; }
  }
  workgroupBarrier();
  if (lane == 0u) {
    for (var v = 0u; v < count; v++) {
      var t = 0.0;
      for (var j = 0u; j < perGroup; j++) { t += red[v * slots + group * perGroup + j]; }
      tot[v] = t;
    }
  }`;
  }
  return /* wgsl */ `
  var tot: array<f32, NV>;
  for (var v0 = 0u; v0 < count; v0 += 4u) {
    let n = min(4u, count - v0);
    for (var j = 0u; j < n; j++) { let a = acc[v0 + j]; red[j * WG + lid] = (a.x + a.y) + (a.z + a.w); }
    for (var s = T / 2u; s > 0u; s >>= 1u) {
      workgroupBarrier();
      if (lane < s) {
        for (var j = 0u; j < n; j++) { red[j * WG + lid] += red[j * WG + lid + s]; }
      }
    }
    workgroupBarrier();
    if (lane == 0u) {
      for (var j = 0u; j < n; j++) { tot[v0 + j] = red[j * WG + lid]; }
    }
    workgroupBarrier();
  }`;
}

/** Builtins for the entry point: subgroup ones only when the variant uses them. */
export function builtinsWgsl(subgroups: boolean): string {
  return `@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32${
    subgroups ? ', @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32' : ''
  }`;
}
