import { BackendError, type LinearLayer, type PackedSigns } from '@dbf/core';
import { paddedFeatures, paddedVec4 } from './gpu-constants';
import type { GpuContext } from './gpu-context';
import { type SignGemmShape, signGemmSharedBytes, signGemvSharedBytes } from './wgsl/sign-kernels';

/**
 * A block of consecutive matrix rows in its own buffers, with the matching rows of the post scales and
 * bias (matrices above the binding limit are split; everything indexed by row splits with them).
 */
export interface RowChunk {
  readonly buffer: GPUBuffer;
  readonly rowOffset: number;
  readonly rows: number;
  readonly post?: GPUBuffer;
  readonly bias?: GPUBuffer;
}

/** One fused sign-matmul stage (see sign-kernels.ts): signs plus optional pre/post scales and bias. */
export interface SignStage {
  readonly rows: number;
  readonly cols: number;
  readonly wordsPerRow: number;
  readonly chunks: readonly RowChunk[];
  readonly envelope: number;
  /** Transposed pre scales, `envelope × preStride` (zero padded); one binding, never split. */
  readonly pre?: GPUBuffer;
  readonly preStride: number;
}

export type ResidentOp =
  | {
      readonly kind: 'dbf' | 'mdbf';
      readonly inFeatures: number;
      readonly outFeatures: number;
      readonly rank: number;
      readonly stages: readonly [SignStage, SignStage];
    }
  | {
      readonly kind: 'dense';
      readonly inFeatures: number;
      readonly outFeatures: number;
      readonly chunks: readonly RowChunk[];
      /** vec4s per stored row. */
      readonly rowVec4: number;
    }
  | {
      readonly kind: 'signs';
      readonly inFeatures: number;
      readonly outFeatures: number;
      readonly stage: SignStage;
    };

/**
 * Sign GEMM tiles: one for small batches (decode), one for larger ones (prefill). Each K step costs two
 * workgroup barriers, so steps are as wide as workgroup memory allows (narrower for wide envelopes).
 */
export function signGemmShape(batch: number, maxEnvelope: number): SignGemmShape {
  if (batch <= 8) {
    const wordsPerStep = maxEnvelope <= 8 ? 4 : maxEnvelope <= 16 ? 2 : 1;
    return { tileRows: 64, tileBatch: 8, rowsPerThread: 2, batchPerThread: 1, wordsPerStep };
  }
  return {
    tileRows: 64,
    tileBatch: 32,
    rowsPerThread: 4,
    batchPerThread: 2,
    wordsPerStep: maxEnvelope <= 8 ? 2 : 1,
  };
}

/** Envelope terms a kernel variant is compiled for: 1, or the next of 8, 16, 32... ≥ l (MDBF). */
export function envelopeCap(envelope: number): number {
  if (envelope === 1) return 1;
  let cap = 8;
  while (cap < envelope) cap *= 2;
  return cap;
}

export function gemvRowsPerThread(maxEnvelope: number): number {
  return maxEnvelope > 8 ? 1 : 2;
}

/** GEMV lanes per row: the subgroup-based width when subgroups are used, else 32. */
export function gemvLanes(ctx: GpuContext): number {
  return ctx.subgroupLanes || 32;
}

const unsupported = (message: string) => new BackendError('webgpu', 'UNSUPPORTED_OPERATION', message);

/** Collects the buffers created while uploading one layer, so a failure can free them all. */
export class BufferSet {
  readonly buffers: GPUBuffer[] = [];
  bytes = 0;
  add(buffer: GPUBuffer): GPUBuffer {
    this.buffers.push(buffer);
    this.bytes += buffer.size;
    return buffer;
  }
  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}

function uploadAux(ctx: GpuContext, set: BufferSet, label: string, data: Float32Array): GPUBuffer {
  if (data.byteLength > ctx.maxBinding) {
    throw unsupported(
      `${label} needs ${data.byteLength} bytes, above the storage-binding limit of ${ctx.maxBinding} bytes.`,
    );
  }
  return set.add(ctx.upload(label, data));
}

/**
 * Splits a row-major matrix into row blocks that each fit one storage binding, together with the
 * matching rows of `post` (`perRow` values per row) and `bias`.
 */
function uploadRows(
  ctx: GpuContext,
  set: BufferSet,
  label: string,
  rows: number,
  rowBytes: number,
  data: (r0: number, count: number) => ArrayBufferView,
  post: { values: Float32Array; perRow: number } | undefined,
  bias: Float32Array | undefined,
): RowChunk[] {
  const widest = Math.max(rowBytes, post ? post.perRow * 4 : 0);
  const perChunk = Math.floor(ctx.maxBinding / widest);
  if (perChunk < 1)
    throw unsupported(
      `${label}: one row takes ${widest} bytes, above the storage-binding limit of ${ctx.maxBinding} bytes.`,
    );
  const chunks: RowChunk[] = [];
  for (let r0 = 0; r0 < rows; r0 += perChunk) {
    const count = Math.min(perChunk, rows - r0);
    const name = `${label} rows ${r0}+${count}`;
    chunks.push({
      buffer: set.add(ctx.upload(name, data(r0, count))),
      rowOffset: r0,
      rows: count,
      ...(post
        ? {
            post: set.add(
              ctx.upload(
                `${name} post scales`,
                post.values.subarray(r0 * post.perRow, (r0 + count) * post.perRow),
              ),
            ),
          }
        : {}),
      ...(bias ? { bias: set.add(ctx.upload(`${name} bias`, bias.subarray(r0, r0 + count))) } : {}),
    });
  }
  return chunks;
}

/** `values` (rows × l, row-major) transposed to l × stride, zero padded: column p is contiguous. */
function transposePadded(values: Float32Array, rows: number, l: number, stride: number): Float32Array {
  const out = new Float32Array(l * stride);
  for (let r = 0; r < rows; r++) for (let p = 0; p < l; p++) out[p * stride + r] = values[r * l + p]!;
  return out;
}

function checkKernelFit(ctx: GpuContext, label: string, envelope: number): void {
  const limit = ctx.device.limits.maxComputeWorkgroupStorageSize;
  const variant = { maxEnvelope: envelopeCap(envelope) };
  const gemm = Math.max(
    signGemmSharedBytes(variant, signGemmShape(8, variant.maxEnvelope)),
    signGemmSharedBytes(variant, signGemmShape(64, variant.maxEnvelope)),
  );
  const gemv = signGemvSharedBytes(variant, {
    lanes: gemvLanes(ctx),
    rowsPerThread: gemvRowsPerThread(variant.maxEnvelope),
    subgroups: ctx.subgroupLanes > 0,
  });
  if (Math.max(gemm, gemv) > limit) {
    throw unsupported(
      `${label}: envelope rank ${envelope} needs ${Math.max(gemm, gemv)} bytes of workgroup memory, above this device's ${limit}.`,
    );
  }
}

function stage(
  ctx: GpuContext,
  set: BufferSet,
  label: string,
  signs: PackedSigns,
  envelope: number,
  pre: Float32Array | undefined,
  post: Float32Array | undefined,
  bias: Float32Array | undefined,
): SignStage {
  const preStride = paddedFeatures(signs.cols);
  const wpr = signs.wordsPerRow;
  const rowData = (r0: number, count: number) => signs.words.subarray(r0 * wpr, (r0 + count) * wpr);
  return {
    rows: signs.rows,
    cols: signs.cols,
    wordsPerRow: wpr,
    chunks: uploadRows(
      ctx,
      set,
      `${label} signs`,
      signs.rows,
      wpr * 4,
      rowData,
      post ? { values: post, perRow: envelope } : undefined,
      bias,
    ),
    envelope,
    preStride,
    ...(pre
      ? {
          pre: uploadAux(
            ctx,
            set,
            `${label} pre scales`,
            transposePadded(pre, signs.cols, envelope, preStride),
          ),
        }
      : {}),
  };
}

/** Moves a validated layer into GPU buffers (row-split at the binding limit). */
export function uploadLayer(ctx: GpuContext, set: BufferSet, layer: LinearLayer): ResidentOp {
  const { outFeatures: n, inFeatures: m } = layer;
  switch (layer.kind) {
    case 'dbf':
      return {
        kind: 'dbf',
        inFeatures: m,
        outFeatures: n,
        rank: layer.rank,
        stages: [
          stage(ctx, set, 'dbf S_B', layer.signB, 1, layer.scaleB, layer.scaleMid, undefined),
          stage(ctx, set, 'dbf S_A', layer.signA, 1, undefined, layer.scaleA, layer.bias),
        ],
      };
    case 'mdbf': {
      const l = layer.envelopeRank;
      checkKernelFit(ctx, 'mdbf layer', l);
      return {
        kind: 'mdbf',
        inFeatures: m,
        outFeatures: n,
        rank: layer.rank,
        stages: [
          stage(ctx, set, 'mdbf S_B', layer.signB, l, layer.envB, layer.envQV, undefined),
          stage(ctx, set, 'mdbf S_A', layer.signA, l, layer.envQU, layer.envA, layer.bias),
        ],
      };
    }
    case 'dense': {
      const rowFloats = paddedVec4(m);
      const weight = layer.weight;
      const rowData = (r0: number, count: number) => {
        const data = weight.subarray(r0 * m, (r0 + count) * m);
        if (rowFloats === m) return data;
        const padded = new Float32Array(count * rowFloats);
        for (let r = 0; r < count; r++) padded.set(data.subarray(r * m, (r + 1) * m), r * rowFloats);
        return padded;
      };
      return {
        kind: 'dense',
        inFeatures: m,
        outFeatures: n,
        chunks: uploadRows(ctx, set, 'dense layer', n, rowFloats * 4, rowData, undefined, layer.bias),
        rowVec4: rowFloats / 4,
      };
    }
  }
}

export function uploadSignMatrix(ctx: GpuContext, set: BufferSet, signs: PackedSigns): ResidentOp {
  return {
    kind: 'signs',
    inFeatures: signs.cols,
    outFeatures: signs.rows,
    stage: stage(ctx, set, 'signs', signs, 1, undefined, undefined, undefined),
  };
}

/** Padded length of the intermediate vector (DBF/MDBF rank), or 0 for single-stage ops. */
export function midStride(op: ResidentOp): number {
  return op.kind === 'dbf' || op.kind === 'mdbf' ? paddedFeatures(op.rank) : 0;
}
