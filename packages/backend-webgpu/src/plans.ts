import { dispatchGrid, source, WORKGROUP_SIZE } from './gpu-constants';
import type { BindingFlags, GpuContext } from './gpu-context';
import {
  envelopeCap,
  gemvLanes,
  gemvRowsPerThread,
  type ResidentOp,
  type SignStage,
  signGemmShape,
} from './resident';
import {
  denseGemvWgsl,
  encodeGemmParams,
  GEMM_PARAMS_WORDS,
  type GemmParams,
  gemmWgsl,
} from './wgsl/dense-kernels';
import {
  encodeRowParams,
  FLAG_BIAS,
  FLAG_POST,
  FLAG_PRE,
  ROW_PARAMS_WORDS,
  type RowParams,
} from './wgsl/row-params';
import { type SignVariant, signGemmWgsl, signGemvWgsl } from './wgsl/sign-kernels';

/** A vector batch inside a GPU buffer: vector s starts at element `offset + s·stride`. */
export interface TensorRef {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly stride: number;
}

/** One dispatch, described without GPU objects; a DispatchSlot turns it into a uniform and a bind group. */
export interface DispatchPlan {
  readonly key: string;
  readonly code: () => string;
  readonly flags: BindingFlags;
  readonly params: Uint32Array;
  /** Buffers for bindings 1, 2, 3 and then, as flagged, 4 pre, 5 post, 6 bias. */
  readonly buffers: readonly GPUBuffer[];
  readonly grid: readonly [number, number];
}

function rowParams(p: RowParams): Uint32Array {
  return encodeRowParams(p, new Uint32Array(ROW_PARAMS_WORDS));
}

/** Sign kernels bind all seven slots; dense ones only bias beside the matrices. */
const SIGN_BINDINGS: BindingFlags = { pre: true, post: true, bias: true };
const DENSE_BINDINGS: BindingFlags = { pre: false, post: false, bias: true };

/** Dispatches of one sign stage: one per row chunk; the last chunk also zeroes the output padding. */
function planSignStage(
  ctx: GpuContext,
  stage: SignStage,
  input: TensorRef,
  output: TensorRef,
  batch: number,
): DispatchPlan[] {
  const variant: SignVariant = { maxEnvelope: envelopeCap(stage.envelope) };
  const pre = stage.pre ?? ctx.dummy;
  const padding = output.stride - stage.rows;
  return stage.chunks.map((chunk, index) => {
    const writeRows = chunk.rows + (index === stage.chunks.length - 1 ? padding : 0);
    const base = {
      rows: chunk.rows,
      writeRows,
      rowOffset: chunk.rowOffset,
      rowLength: stage.wordsPerRow,
      batch,
      inOffset: input.offset,
      inStride: input.stride,
      outOffset: output.offset,
      outStride: output.stride,
      preStride: stage.preStride,
      envelope: stage.envelope,
      flags: (stage.pre ? FLAG_PRE : 0) | (chunk.post ? FLAG_POST : 0) | (chunk.bias ? FLAG_BIAS : 0),
    };
    const buffers = [
      chunk.buffer,
      input.buffer,
      output.buffer,
      pre,
      chunk.post ?? ctx.dummy,
      chunk.bias ?? ctx.dummy,
    ];
    if (batch === 1) {
      const shape = {
        lanes: gemvLanes(ctx),
        rowsPerThread: gemvRowsPerThread(variant.maxEnvelope),
        subgroups: ctx.subgroupLanes > 0,
      };
      const grid = dispatchGrid(
        Math.ceil(writeRows / ((WORKGROUP_SIZE / shape.lanes) * shape.rowsPerThread)),
      );
      return {
        key: `sign-gemv l${variant.maxEnvelope} t${shape.lanes} r${shape.rowsPerThread} ${shape.subgroups ? 'subgroups' : 'workgroup'}`,
        code: () => signGemvWgsl(variant, shape),
        flags: SIGN_BINDINGS,
        params: rowParams({ ...base, wgX: grid[0], rowTiles: 0 }),
        buffers,
        grid,
      };
    }
    const shape = signGemmShape(batch, variant.maxEnvelope);
    const rowTiles = Math.ceil(writeRows / shape.tileRows);
    const grid = dispatchGrid(rowTiles * Math.ceil(batch / shape.tileBatch));
    return {
      key: `sign-gemm l${variant.maxEnvelope} ${shape.tileRows}x${shape.tileBatch} ${shape.rowsPerThread}x${shape.batchPerThread} k${shape.wordsPerStep}`,
      code: () => signGemmWgsl(variant, shape),
      flags: SIGN_BINDINGS,
      params: rowParams({ ...base, wgX: grid[0], rowTiles }),
      buffers,
      grid,
    };
  });
}

/** Parameters and grid of one GEMM dispatch (64×64 tiles over m × nWrite). */
export function gemmPlan(p: Omit<GemmParams, 'wgX' | 'tilesM'>, buffers: readonly GPUBuffer[]): DispatchPlan {
  const tilesM = Math.ceil(p.m / 64);
  const grid = dispatchGrid(tilesM * Math.ceil(p.nWrite / 64));
  const params = new Uint32Array(GEMM_PARAMS_WORDS);
  encodeGemmParams({ ...p, wgX: grid[0], tilesM }, params, new Float32Array(params.buffer));
  return {
    key: 'gemm',
    code: gemmWgsl,
    flags: DENSE_BINDINGS,
    params,
    buffers,
    grid,
  };
}

/** Dense layers use the GEMV (each weight read once for all vectors) up to this batch, the tiled GEMM above. */
const DENSE_GEMV_MAX_BATCH = 8;

function planDense(
  ctx: GpuContext,
  op: Extract<ResidentOp, { kind: 'dense' }>,
  input: TensorRef,
  output: TensorRef,
  batch: number,
): DispatchPlan[] {
  const padding = output.stride - op.outFeatures;
  return op.chunks.map((chunk, index) => {
    const writeRows = chunk.rows + (index === op.chunks.length - 1 ? padding : 0);
    if (batch <= DENSE_GEMV_MAX_BATCH) {
      const lanes = gemvLanes(ctx);
      const sg = ctx.subgroupLanes > 0;
      const rt = 2;
      const maxBatch = batch === 1 ? 1 : DENSE_GEMV_MAX_BATCH;
      const grid = dispatchGrid(Math.ceil(writeRows / ((WORKGROUP_SIZE / lanes) * rt)));
      return {
        key: `dense-gemv t${lanes} r${rt} b${maxBatch} ${sg ? 'subgroups' : 'workgroup'}`,
        code: () => denseGemvWgsl({ lanes, rowsPerThread: rt, maxBatch, subgroups: sg }),
        flags: DENSE_BINDINGS,
        params: rowParams({
          rows: chunk.rows,
          writeRows,
          rowOffset: chunk.rowOffset,
          rowLength: op.rowVec4,
          batch,
          inOffset: input.offset,
          inStride: input.stride,
          outOffset: output.offset,
          outStride: output.stride,
          preStride: 0,
          wgX: grid[0],
          rowTiles: 0,
          envelope: 1,
          flags: chunk.bias ? FLAG_BIAS : 0,
        }),
        buffers: [chunk.buffer, input.buffer, output.buffer, chunk.bias ?? ctx.dummy],
        grid,
      };
    }
    // Y (batch × n) = X (batch × m) · W_chunkᵀ: W rows are the columns of this chunk of Y.
    return gemmPlan(
      {
        m: batch,
        n: chunk.rows,
        k: op.inFeatures,
        lda: input.stride,
        ldb: op.rowVec4 * 4,
        ldc: output.stride,
        aOffset: input.offset,
        bOffset: 0,
        cOffset: output.offset + chunk.rowOffset,
        nWrite: writeRows,
        transposeA: false,
        transposeB: true,
        bias: chunk.bias !== undefined,
        biasOffset: 0,
        alpha: 1,
        beta: 0,
      },
      [input.buffer, chunk.buffer, output.buffer, chunk.bias ?? ctx.dummy],
    );
  });
}

/** The dispatches of one op, in order. `mid` holds the DBF/MDBF intermediate (batch × padded rank). */
export function planOp(
  ctx: GpuContext,
  op: ResidentOp,
  io: { input: TensorRef; output: TensorRef; mid?: TensorRef; batch: number },
): DispatchPlan[] {
  switch (op.kind) {
    case 'signs':
      return planSignStage(ctx, op.stage, io.input, io.output, io.batch);
    case 'dense':
      return planDense(ctx, op, io.input, io.output, io.batch);
    default: {
      if (!io.mid) throw new Error('a factorized layer needs an intermediate buffer');
      return [
        ...planSignStage(ctx, op.stages[0], io.input, io.mid, io.batch),
        ...planSignStage(ctx, op.stages[1], io.mid, io.output, io.batch),
      ];
    }
  }
}

/** A persistent uniform buffer and bind group for one dispatch position; rewritten only when its plan changes. */
export class DispatchSlot {
  private readonly uniform: GPUBuffer;
  private readonly written: Uint32Array;
  private hasWritten = false;
  private group: GPUBindGroup | undefined;
  private groupBuffers: readonly GPUBuffer[] = [];
  private groupFlags = '';

  constructor(ctx: GpuContext, label: string) {
    this.uniform = ctx.uniform(label, GEMM_PARAMS_WORDS * 4);
    this.written = new Uint32Array(GEMM_PARAMS_WORDS);
  }

  /** Makes the uniform hold `plan.params` and returns the bind group for `plan.buffers`. */
  bind(ctx: GpuContext, plan: DispatchPlan): GPUBindGroup {
    const p = plan.params;
    let same = this.hasWritten;
    for (let i = 0; same && i < p.length; i++) same = this.written[i] === p[i];
    if (!same) {
      ctx.queue.writeBuffer(this.uniform, 0, source(p));
      this.written.set(p);
      this.hasWritten = true;
    }
    const flagKey = `${+plan.flags.pre}${+plan.flags.post}${+plan.flags.bias}`;
    let reuse =
      this.group !== undefined &&
      flagKey === this.groupFlags &&
      plan.buffers.length === this.groupBuffers.length;
    for (let i = 0; reuse && i < plan.buffers.length; i++) reuse = plan.buffers[i] === this.groupBuffers[i];
    if (!reuse || !this.group) {
      const bindings = [1, 2, 3];
      if (plan.flags.pre) bindings.push(4);
      if (plan.flags.post) bindings.push(5);
      if (plan.flags.bias) bindings.push(6);
      this.group = ctx.device.createBindGroup({
        layout: ctx.layout(plan.flags).group,
        entries: [
          { binding: 0, resource: { buffer: this.uniform } },
          ...plan.buffers.map((buffer, i) => ({ binding: bindings[i]!, resource: { buffer } })),
        ],
      });
      this.groupBuffers = plan.buffers;
      this.groupFlags = flagKey;
    }
    return this.group;
  }

  destroy(): void {
    this.uniform.destroy();
  }
}

/** An ordered list of slots owned by one layer's plain calls or by one chain step. */
export class DispatchProgram {
  private readonly slots: DispatchSlot[] = [];
  constructor(private readonly label: string) {}

  /** Resolves pipelines, binds slots and records the dispatches into `pass`. */
  async prepare(ctx: GpuContext, plans: readonly DispatchPlan[]): Promise<PreparedDispatch[]> {
    const pipelines = await Promise.all(plans.map((p) => ctx.pipeline(p.key, p.code, p.flags)));
    return plans.map((plan, i) => {
      if (!this.slots[i]) this.slots[i] = new DispatchSlot(ctx, `${this.label} #${i}`);
      return { pipeline: pipelines[i]!, group: this.slots[i]!.bind(ctx, plan), grid: plan.grid };
    });
  }

  destroy(): void {
    for (const s of this.slots) s.destroy();
    this.slots.length = 0;
  }
}

export interface PreparedDispatch {
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
  readonly grid: readonly [number, number];
}

export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: readonly PreparedDispatch[]): void {
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.group);
    pass.dispatchWorkgroups(d.grid[0], d.grid[1]);
  }
}
