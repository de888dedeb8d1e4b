import {
  assertNotDisposed,
  type BackendCapabilities,
  checkGemmRequest,
  checkLinearRequest,
  checkSignMatMulRequest,
  type GemmRequest,
  InvalidArgumentError,
  KERNEL_SPEC_VERSION,
  type KernelBackend,
  type LinearLayer,
  type LinearRequest,
  type PackedSigns,
  type ResidentLinear,
  type ResidentSigns,
  type SignMatMulRequest,
  validateLayer,
  validatePackedSigns,
} from '@dbf/core';
import type { Heap } from './heap';
import {
  CTRL,
  DENSE,
  GEMM,
  GEMM_MR,
  GEMM_NR,
  GEMM_SCRATCH_FLOATS,
  KIND,
  SCALE_BLOCK_COLUMNS,
  SIGN,
} from './job-layout';
import type { KernelExports } from './kernel-module';
import { int8LayoutBytes, repackSignsInt8, signFlipMasks } from './repack';
import type { ThreadPool } from './thread-pool';

/** Kernel variant: 'int8' = T-MAC lookup tables quantized to int8; 'exact' = f32 mask-and-add. */
export type WasmVariant = 'int8' | 'exact';

/**
 * NMSE promised by the int8 variant. Per sign matmul, each table lookup is off by at most half a
 * step `s_B = max_g Σ|x_g| / 63` of its 128-column block B, so row errors have variance
 * ≤ Σ_B 32·s_B²/12 ≤ (128 / (12·63²))·‖x‖² ≈ 2.7e-3·‖x‖² (Σ|x_g| ≤ 2‖x_B‖ over 4 columns), while a
 * row's output has energy ≈ ‖x‖² for sign patterns uncorrelated with x. A DBF or MDBF layer chains
 * two such matmuls: 2 × 2.7e-3, doubled for the spread of small outputs, is 1e-2. Gaussian-like
 * and heavy-tailed activations stay far below (~2e-4 per matmul, ~5e-4 per DBF layer; see the tests).
 */
export const INT8_NMSE_TOLERANCE = 1e-2;
// Rough single-thread throughputs (multiply-adds per microsecond) measured on a 2-core x86 VM, used only
// to decide whether a job is worth waking the workers for.
const INT8_MACS_PER_MICROSECOND = 60_000;
const EXACT_MACS_PER_MICROSECOND = 6_000;
const DENSE_MACS_PER_MICROSECOND = 2_000;
const GEMM_MACS_PER_MICROSECOND = 7_000;

/** NMSE promised by the exact variant: f32 rounding only. */
export const EXACT_NMSE_TOLERANCE = 1e-9;

interface SignMatrix {
  readonly ptr: number;
  readonly rows: number;
  readonly cols: number;
  readonly wordsPerRow: number;
}

/** One sign stage of a linear layer: which matrix, which input/output scalings. */
interface SignStagePlan {
  readonly signs: SignMatrix;
  readonly terms: number;
  readonly inScale: number;
  readonly outScale: number;
  readonly bias: number;
}

interface LinearRecord {
  readonly handle: ResidentLinear;
  readonly layer: 'dbf' | 'mdbf' | 'dense';
  readonly allocations: number[];
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** DBF/MDBF: the two stages and the size of the intermediate vector. */
  readonly stages?: readonly [SignStagePlan, SignStagePlan];
  readonly middle?: number;
  /** Dense: weight and bias pointers. */
  readonly weight?: number;
  readonly bias?: number;
  disposed: boolean;
}

interface SignsRecord {
  readonly handle: ResidentSigns;
  readonly matrix: SignMatrix;
  readonly allocations: number[];
  disposed: boolean;
}

export interface WasmBackendInit {
  readonly variant: WasmVariant;
  readonly heap: Heap;
  readonly kernels: KernelExports;
  readonly pool: ThreadPool;
  readonly ctrl: number;
  readonly maxMemoryBytes: number;
  readonly description: string;
}

/**
 * The WebAssembly backend. Layers live on the module's heap in the kernels' layouts from upload to
 * dispose; each call copies its input in, runs one job (one or two stages) on all threads, and copies
 * the output out. Staging buffers grow to the largest call seen and are reused, so steady-state calls
 * allocate nothing on the heap.
 */
export class WasmBackend implements KernelBackend {
  readonly specificationVersion = KERNEL_SPEC_VERSION;
  readonly id = 'wasm';
  readonly capabilities: BackendCapabilities;
  readonly variant: WasmVariant;

  private readonly heap: Heap;
  private readonly pool: ThreadPool;
  private readonly ctrl: number;
  private readonly lut: number;
  private readonly linears = new WeakMap<object, LinearRecord>();
  private readonly signs = new WeakMap<object, SignsRecord>();
  private workspace = 0;
  private workspaceBytes = 0;
  private disposed = false;

  constructor(init: WasmBackendInit) {
    this.variant = init.variant;
    this.heap = init.heap;
    this.pool = init.pool;
    this.ctrl = init.ctrl;
    const masks = signFlipMasks();
    this.lut = this.heap.alloc(masks.byteLength);
    this.heap.u8.set(new Uint8Array(masks.buffer), this.lut);
    this.capabilities = Object.freeze({
      accumulation: init.variant === 'int8' ? 'int8' : 'f32',
      nmseTolerance: init.variant === 'int8' ? INT8_NMSE_TOLERANCE : EXACT_NMSE_TOLERANCE,
      threads: init.pool.threads,
      maxBufferBytes: init.maxMemoryBytes,
      description: init.description,
    });
  }

  /** Bytes of WebAssembly memory currently allocated (layers, staging buffers, control block). */
  get allocatedBytes(): number {
    return this.disposed ? 0 : this.heap.allocatedBytes;
  }

  /** Current size of the WebAssembly memory (it grows on demand and never shrinks). */
  get memoryBytes(): number {
    return this.disposed ? 0 : this.heap.memoryBytes;
  }

  async uploadLinear(layer: LinearLayer): Promise<ResidentLinear> {
    assertNotDisposed(this.id, this.disposed);
    validateLayer(layer);
    const allocations: number[] = [];
    try {
      const copy = (values: Float32Array) => this.copyIn(values, allocations);
      let record: Omit<LinearRecord, 'handle' | 'disposed'>;
      if (layer.kind === 'dense') {
        record = {
          layer: 'dense',
          allocations,
          outFeatures: layer.outFeatures,
          inFeatures: layer.inFeatures,
          weight: copy(layer.weight),
          bias: layer.bias ? copy(layer.bias) : 0,
        };
      } else {
        const signA = this.uploadMatrix(layer.signA, allocations);
        const signB = this.uploadMatrix(layer.signB, allocations);
        const bias = layer.bias ? copy(layer.bias) : 0;
        let stages: [SignStagePlan, SignStagePlan];
        if (layer.kind === 'dbf') {
          // y = a ⊙ S_A (μ ⊙ S_B (b ⊙ x)): b folded into the first table build, μ into its epilogue,
          // a and the bias into the second epilogue.
          stages = [
            { signs: signB, terms: 1, inScale: copy(layer.scaleB), outScale: copy(layer.scaleMid), bias: 0 },
            { signs: signA, terms: 1, inScale: 0, outScale: copy(layer.scaleA), bias },
          ];
        } else {
          // u = Σ_c QV[:,c] ⊙ S_B (B[:,c] ⊙ x), y = Σ_c A[:,c] ⊙ S_A (QU[:,c] ⊙ u): the l terms are l
          // lanes of one pass over each sign word. Envelopes are stored column-major (l × length).
          const l = layer.envelopeRank;
          const t = (values: Float32Array, length: number) => copy(transpose(values, length, l));
          stages = [
            {
              signs: signB,
              terms: l,
              inScale: t(layer.envB, layer.inFeatures),
              outScale: t(layer.envQV, layer.rank),
              bias: 0,
            },
            {
              signs: signA,
              terms: l,
              inScale: t(layer.envQU, layer.rank),
              outScale: t(layer.envA, layer.outFeatures),
              bias,
            },
          ];
        }
        record = {
          layer: layer.kind,
          allocations,
          outFeatures: layer.outFeatures,
          inFeatures: layer.inFeatures,
          stages,
          middle: layer.rank,
        };
      }
      const byteLength = this.bytesOf(allocations);
      const entry: LinearRecord = {
        ...record,
        handle: undefined as unknown as ResidentLinear,
        disposed: false,
      };
      const handle: ResidentLinear = Object.freeze({
        backendId: this.id,
        kind: layer.kind,
        outFeatures: layer.outFeatures,
        inFeatures: layer.inFeatures,
        byteLength,
        dispose: () => this.release(entry),
      });
      (entry as { handle: ResidentLinear }).handle = handle;
      this.linears.set(handle, entry);
      return handle;
    } catch (error) {
      for (const ptr of allocations) this.heap.release(ptr);
      throw error;
    }
  }

  async uploadSigns(signs: PackedSigns): Promise<ResidentSigns> {
    assertNotDisposed(this.id, this.disposed);
    validatePackedSigns('signs', signs);
    const allocations: number[] = [];
    const matrix = this.uploadMatrix(signs, allocations);
    const entry: SignsRecord = {
      handle: undefined as unknown as ResidentSigns,
      matrix,
      allocations,
      disposed: false,
    };
    const handle: ResidentSigns = Object.freeze({
      backendId: this.id,
      rows: signs.rows,
      cols: signs.cols,
      byteLength: this.bytesOf(allocations),
      dispose: () => this.release(entry),
    });
    (entry as { handle: ResidentSigns }).handle = handle;
    this.signs.set(handle, entry);
    return handle;
  }

  async linear(request: LinearRequest): Promise<Float32Array> {
    assertNotDisposed(this.id, this.disposed);
    const output = checkLinearRequest(this.id, request);
    const record = this.linears.get(request.weights);
    if (!record) {
      throw new InvalidArgumentError(
        'weights is not a ResidentLinear created by this backend instance; upload the layer with uploadLinear first.',
      );
    }
    assertNotDisposed(this.id, record.disposed, 'ResidentLinear');
    const { batch, input } = request;
    const n = record.outFeatures;
    const m = record.inFeatures;
    if (record.layer === 'dense') {
      const [x = 0, y = 0] = this.stage([batch * m * 4, batch * n * 4], 0);
      this.heap.writeF32(x, input);
      const i32 = this.heap.i32;
      const base = this.stageBase(0);
      i32[base + 0] = KIND.dense;
      i32[base + DENSE.weight / 4] = record.weight!;
      i32[base + DENSE.rows / 4] = n;
      i32[base + DENSE.cols / 4] = m;
      i32[base + DENSE.input / 4] = x;
      i32[base + DENSE.batch / 4] = batch;
      i32[base + DENSE.output / 4] = y;
      i32[base + DENSE.bias / 4] = record.bias!;
      this.pool.run(1, (batch * n * m) / DENSE_MACS_PER_MICROSECOND);
      this.heap.readF32(y, output);
      return output;
    }
    const [first, second] = record.stages!;
    const k = record.middle!;
    const threadBytes = Math.max(this.signScratch(first, batch), this.signScratch(second, batch));
    const [x = 0, v = 0, y = 0, scratch = 0] = this.stage(
      [batch * m * 4, batch * k * 4, batch * n * 4],
      threadBytes,
    );
    this.heap.writeF32(x, input);
    this.writeSignStage(0, first, x, batch, v, scratch, threadBytes);
    this.writeSignStage(1, second, v, batch, y, scratch, threadBytes);
    this.pool.run(2, this.signWork(first, batch) + this.signWork(second, batch));
    this.heap.readF32(y, output);
    return output;
  }

  async signMatMul(request: SignMatMulRequest): Promise<Float32Array> {
    assertNotDisposed(this.id, this.disposed);
    const output = checkSignMatMulRequest(this.id, request);
    const record = this.signs.get(request.signs);
    if (!record) {
      throw new InvalidArgumentError(
        'signs is not a ResidentSigns created by this backend instance; upload it with uploadSigns first.',
      );
    }
    assertNotDisposed(this.id, record.disposed, 'ResidentSigns');
    const { batch, input } = request;
    const { rows, cols } = record.matrix;
    const plan: SignStagePlan = { signs: record.matrix, terms: 1, inScale: 0, outScale: 0, bias: 0 };
    const threadBytes = this.signScratch(plan, batch);
    const [x = 0, y = 0, scratch = 0] = this.stage([batch * cols * 4, batch * rows * 4], threadBytes);
    this.heap.writeF32(x, input);
    this.writeSignStage(0, plan, x, batch, y, scratch, threadBytes);
    this.pool.run(1, this.signWork(plan, batch));
    this.heap.readF32(y, output);
    return output;
  }

  async gemm(request: GemmRequest): Promise<Float32Array> {
    assertNotDisposed(this.id, this.disposed);
    const c = checkGemmRequest(request);
    const { a, b, m, n, k } = request;
    const alpha = request.alpha ?? 1;
    const beta = request.beta ?? 0;
    const mPad = Math.ceil(m / GEMM_MR) * GEMM_MR;
    const nPad = Math.ceil(n / GEMM_NR) * GEMM_NR;
    const threadBytes = GEMM_SCRATCH_FLOATS * 4;
    const [pa = 0, pb = 0, pc = 0, scratch = 0] = this.stage(
      [m * k * 4, k * n * 4, mPad * nPad * 4],
      threadBytes,
    );
    this.heap.writeF32(pa, a);
    this.heap.writeF32(pb, b);
    // The padded C starts as beta·C (or zeros); the kernel accumulates alpha·op(A)·op(B) into it.
    const f32 = this.heap.f32;
    const c0 = pc >>> 2;
    f32.fill(0, c0, c0 + mPad * nPad);
    if (beta !== 0) {
      for (let i = 0; i < m; i++) {
        const src = i * n;
        const dst = c0 + i * nPad;
        for (let j = 0; j < n; j++) f32[dst + j] = beta * c[src + j]!;
      }
    }
    const i32 = this.heap.i32;
    const base = this.stageBase(0);
    i32[base] = KIND.gemm;
    i32[base + GEMM.a / 4] = pa;
    i32[base + GEMM.b / 4] = pb;
    i32[base + GEMM.c / 4] = pc;
    i32[base + GEMM.m / 4] = m;
    i32[base + GEMM.n / 4] = n;
    i32[base + GEMM.k / 4] = k;
    i32[base + GEMM.transposeA / 4] = request.transposeA ? 1 : 0;
    i32[base + GEMM.transposeB / 4] = request.transposeB ? 1 : 0;
    f32[base + GEMM.alpha / 4] = alpha;
    i32[base + GEMM.ldc / 4] = nPad;
    i32[base + GEMM.scratch / 4] = scratch;
    i32[base + GEMM.scratchStride / 4] = threadBytes;
    this.pool.run(1, (m * n * k) / GEMM_MACS_PER_MICROSECOND);
    const result = this.heap.f32;
    if (nPad === n) c.set(result.subarray(c0, c0 + m * n));
    else for (let i = 0; i < m; i++) c.set(result.subarray(c0 + i * nPad, c0 + i * nPad + n), i * n);
    return c;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.pool.dispose();
  }

  private uploadMatrix(signs: PackedSigns, allocations: number[]): SignMatrix {
    const { rows, cols, wordsPerRow } = signs;
    if (this.variant === 'int8') {
      const bytes = int8LayoutBytes(rows, cols);
      const ptr = this.heap.alloc(bytes);
      allocations.push(ptr);
      repackSignsInt8(signs, this.heap.u8.subarray(ptr, ptr + bytes));
      return { ptr, rows, cols, wordsPerRow };
    }
    const ptr = this.heap.alloc(signs.words.byteLength);
    allocations.push(ptr);
    this.heap.u8.set(new Uint8Array(signs.words.buffer, signs.words.byteOffset, signs.words.byteLength), ptr);
    return { ptr, rows, cols, wordsPerRow };
  }

  private copyIn(values: Float32Array, allocations: number[]): number {
    const ptr = this.heap.alloc(values.byteLength);
    allocations.push(ptr);
    this.heap.writeF32(ptr, values);
    return ptr;
  }

  private bytesOf(allocations: readonly number[]): number {
    // Allocation sizes are rounded to 64 bytes by the heap; report what the layer really occupies.
    let total = 0;
    for (const ptr of allocations) total += this.heap.sizeOf(ptr);
    return total;
  }

  private release(entry: LinearRecord | SignsRecord): void {
    if (entry.disposed) return;
    entry.disposed = true;
    if (this.disposed) return;
    for (const ptr of entry.allocations) this.heap.release(ptr);
  }

  /** Estimated single-thread microseconds of a sign stage (for the threading threshold). */
  private signWork(plan: SignStagePlan, batch: number): number {
    const macs = plan.signs.rows * plan.signs.cols * batch * plan.terms;
    return macs / (this.variant === 'int8' ? INT8_MACS_PER_MICROSECOND : EXACT_MACS_PER_MICROSECOND);
  }

  /** Per-thread scratch bytes of a sign stage (layouts in assembly/index.ts). */
  private signScratch(plan: SignStagePlan, batch: number): number {
    const lanes = batch * plan.terms;
    const colsPadded = 32 * plan.signs.wordsPerRow;
    if (this.variant === 'int8') {
      // xs | scales | tables (16-aligned) | accumulators (64-aligned) for every row block the thread
      // may get (at most all of them).
      const blocks = Math.ceil(colsPadded / SCALE_BLOCK_COLUMNS);
      const rowBlocks = Math.ceil(plan.signs.rows / 16);
      const tables = lanes * (colsPadded / 4) * 16;
      return roundUp(colsPadded * 4 + lanes * blocks * 4 + 16 + tables + 64 + rowBlocks * lanes * 64, 64);
    }
    return roundUp(lanes * 64 + lanes * colsPadded * 4, 64);
  }

  /**
   * Lays out the staging buffers (64-byte aligned) followed by one scratch area per thread, growing
   * the reusable workspace when needed. Returns the buffers' pointers, then the scratch base.
   */
  private stage(sizes: readonly number[], threadBytes: number): number[] {
    let total = 0;
    const offsets: number[] = [];
    for (const size of sizes) {
      offsets.push(total);
      total += roundUp(size, 64);
    }
    offsets.push(total);
    total += threadBytes * this.pool.threads;
    if (total > this.workspaceBytes) {
      if (this.workspace) this.heap.release(this.workspace);
      this.workspace = 0;
      this.workspaceBytes = 0;
      this.workspace = this.heap.alloc(total);
      this.workspaceBytes = total;
    }
    return offsets.map((o) => this.workspace + o);
  }

  /** Index (in i32 words) of stage record `index`. */
  private stageBase(index: number): number {
    return (this.ctrl + CTRL.stage0 + index * CTRL.stageBytes) >>> 2;
  }

  private writeSignStage(
    index: number,
    plan: SignStagePlan,
    input: number,
    batch: number,
    output: number,
    scratch: number,
    threadBytes: number,
  ): void {
    const i32 = this.heap.i32;
    const base = this.stageBase(index);
    const { signs } = plan;
    i32[base] = this.variant === 'int8' ? KIND.signInt8 : KIND.signF32;
    i32[base + SIGN.weights / 4] = signs.ptr;
    i32[base + SIGN.rows / 4] = signs.rows;
    i32[base + SIGN.cols / 4] = signs.cols;
    i32[base + SIGN.wordsPerRow / 4] = signs.wordsPerRow;
    i32[base + SIGN.input / 4] = input;
    i32[base + SIGN.batch / 4] = batch;
    i32[base + SIGN.inScale / 4] = plan.inScale;
    i32[base + SIGN.terms / 4] = plan.terms;
    i32[base + SIGN.output / 4] = output;
    i32[base + SIGN.outScale / 4] = plan.outScale;
    i32[base + SIGN.bias / 4] = plan.bias;
    i32[base + SIGN.scratch / 4] = scratch;
    i32[base + SIGN.scratchStride / 4] = threadBytes;
    i32[base + SIGN.lut / 4] = this.lut;
  }
}

/** Row-major `length × l` → column-major (`l` rows of `length`). */
function transpose(values: Float32Array, length: number, l: number): Float32Array {
  const out = new Float32Array(length * l);
  for (let i = 0; i < length; i++) for (let c = 0; c < l; c++) out[c * length + i] = values[i * l + c]!;
  return out;
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
