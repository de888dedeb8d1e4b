import {
  assertNotDisposed,
  type BackendCapabilities,
  BackendError,
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
import { type AcquiredDevice, describeAdapter, type WebGpuAdapterInfo } from './acquire-device';
import { GUARD_BYTES, GUARD_FLOATS, paddedFeatures, source } from './gpu-constants';
import { checkGuardPair, GpuContext, type GuardedBuffer } from './gpu-context';
import { DispatchProgram, encodeDispatches, gemmPlan, planOp } from './plans';
import { BufferSet, midStride, uploadLayer, uploadSignMatrix } from './resident';
import { Scratch } from './scratch';
import { SerialQueue } from './serial-queue';
import { type ChainHost, type OpState, type WebGpuChain, WebGpuChainImpl } from './webgpu-chain';

export const WEBGPU_BACKEND_ID = 'webgpu';

/** The WebGPU kernel backend: the kernel contract plus the GPU-resident chaining API. */
export interface WebGpuBackend extends KernelBackend {
  readonly id: 'webgpu';
  /** The device the kernels run on (injected or created by the backend). */
  readonly device: GPUDevice;
  readonly adapterInfo: WebGpuAdapterInfo;
  /** Whether the GEMV kernels reduce with `subgroupAdd` (else through workgroup memory). */
  readonly usesSubgroups: boolean;
  /**
   * Starts recording a chain of layer calls that runs as one command submission, with activations kept
   * on the GPU between layers (see WebGpuChain).
   */
  chain(): WebGpuChain;
}

class ResidentHandle {
  constructor(
    private readonly owner: WebGpuBackendImpl,
    readonly backendId: string,
    readonly byteLength: number,
  ) {}
  dispose(): void {
    this.owner.release(this);
  }
}

class LinearHandle extends ResidentHandle implements ResidentLinear {
  constructor(
    owner: WebGpuBackendImpl,
    readonly kind: LinearLayer['kind'],
    readonly outFeatures: number,
    readonly inFeatures: number,
    byteLength: number,
  ) {
    super(owner, WEBGPU_BACKEND_ID, byteLength);
  }
}

class SignsHandle extends ResidentHandle implements ResidentSigns {
  constructor(
    owner: WebGpuBackendImpl,
    readonly rows: number,
    readonly cols: number,
    byteLength: number,
  ) {
    super(owner, WEBGPU_BACKEND_ID, byteLength);
  }
}

interface HandleState extends OpState {
  readonly set: BufferSet;
  /** Uniforms and bind groups of the plain (non-chained) calls on this handle. */
  readonly program: DispatchProgram;
}

export class WebGpuBackendImpl implements WebGpuBackend, ChainHost {
  readonly specificationVersion = KERNEL_SPEC_VERSION;
  readonly id = WEBGPU_BACKEND_ID;
  readonly capabilities: BackendCapabilities;
  readonly device: GPUDevice;
  readonly adapterInfo: WebGpuAdapterInfo;
  readonly usesSubgroups: boolean;
  readonly ctx: GpuContext;
  readonly queue = new SerialQueue();
  private readonly ownsDevice: boolean;
  private readonly linears = new Map<object, HandleState>();
  private readonly signs = new Map<object, HandleState>();
  private readonly chains = new Set<WebGpuChainImpl>();
  private readonly scratch: Scratch;
  private disposed = false;

  constructor(acquired: AcquiredDevice, options: { maxBinding?: number; checkGuards: boolean }) {
    this.device = acquired.device;
    this.ownsDevice = acquired.ownsDevice;
    this.adapterInfo = acquired.adapterInfo;
    this.usesSubgroups = acquired.subgroupLanes > 0;
    const deviceLimit = this.device.limits.maxStorageBufferBindingSize;
    const maxBinding = Math.min(deviceLimit, options.maxBinding ?? deviceLimit);
    this.ctx = new GpuContext(this.device, {
      maxBinding,
      subgroupLanes: acquired.subgroupLanes,
      checkGuards: options.checkGuards,
    });
    this.scratch = new Scratch(this.ctx);
    this.device.lost.then((info) => {
      this.ctx.lost = info;
    });
    const reduction = this.usesSubgroups
      ? `subgroupAdd (${this.ctx.subgroupLanes} lanes per row)`
      : `workgroup-memory reduction (${acquired.subgroupNote ?? 'no subgroups'})`;
    this.capabilities = {
      accumulation: 'f32',
      nmseTolerance: 1e-9,
      threads: 1,
      maxBufferBytes: maxBinding,
      description: `WebGPU on ${describeAdapter(this.adapterInfo)}; sign GEMV with ${reduction}, tiled sign GEMM, fused DBF/MDBF, tiled f32 GEMM; storage bindings up to ${maxBinding} bytes`,
    };
  }

  // ---- lifecycle and handles ----

  assertUsable(): void {
    assertNotDisposed(this.id, this.disposed);
    if (this.ctx.lost) throw this.ctx.lostError();
  }

  private lookup(
    map: Map<object, HandleState>,
    handle: unknown,
    name: string,
    expected: string,
  ): HandleState {
    const state = typeof handle === 'object' && handle !== null ? map.get(handle) : undefined;
    if (!state) {
      throw new InvalidArgumentError(
        `${name} is not a ${expected} created by this webgpu backend instance (it comes from another instance, another method, or was forged).`,
      );
    }
    if (state.disposed) throw new BackendError(this.id, 'DISPOSED', `This ${expected} has been disposed.`);
    return state;
  }

  linearState(handle: unknown): OpState {
    return this.lookup(this.linears, handle, 'weights', 'ResidentLinear');
  }

  signsState(handle: unknown): OpState {
    return this.lookup(this.signs, handle, 'signs', 'ResidentSigns');
  }

  release(handle: object): void {
    const state = this.linears.get(handle) ?? this.signs.get(handle);
    if (!state || state.disposed) return;
    state.disposed = true;
    // Freed behind any call already queued, which may still use the buffers.
    void this.queue.run(async () => {
      state.set.destroy();
      state.program.destroy();
    });
  }

  async uploadLinear(layer: LinearLayer): Promise<ResidentLinear> {
    this.assertUsable();
    validateLayer(layer);
    return this.queue.run(async () => {
      this.assertUsable();
      const set = new BufferSet();
      const op = await this.ctx.allocate(
        'uploading a layer',
        () => uploadLayer(this.ctx, set, layer),
        () => set.destroy(),
      );
      const handle = new LinearHandle(this, layer.kind, layer.outFeatures, layer.inFeatures, set.bytes);
      this.linears.set(handle, {
        op,
        set,
        program: new DispatchProgram(`${layer.kind} layer`),
        disposed: false,
      });
      return handle;
    });
  }

  async uploadSigns(signs: PackedSigns): Promise<ResidentSigns> {
    this.assertUsable();
    validatePackedSigns('signs', signs);
    return this.queue.run(async () => {
      this.assertUsable();
      const set = new BufferSet();
      const op = await this.ctx.allocate(
        'uploading a sign matrix',
        () => uploadSignMatrix(this.ctx, set, signs),
        () => set.destroy(),
      );
      const handle = new SignsHandle(this, signs.rows, signs.cols, set.bytes);
      this.signs.set(handle, { op, set, program: new DispatchProgram('signs'), disposed: false });
      return handle;
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue.run(async () => {
      for (const chain of this.chains) chain.destroy();
      this.chains.clear();
      for (const state of [...this.linears.values(), ...this.signs.values()]) {
        state.disposed = true;
        state.set.destroy();
        state.program.destroy();
      }
      this.scratch.destroy();
      this.ctx.destroy();
      if (this.ownsDevice) this.device.destroy();
    });
  }

  chain(): WebGpuChain {
    this.assertUsable();
    const chain = new WebGpuChainImpl(this, () => this.chains.delete(chain));
    this.chains.add(chain);
    return chain;
  }

  // ---- plain kernel calls ----

  async linear(request: LinearRequest): Promise<Float32Array> {
    this.assertUsable();
    const output = checkLinearRequest(this.id, request);
    const state = this.linearState(request.weights) as HandleState;
    return this.queue.run(() => this.runOp(state, request.input, request.batch, output));
  }

  async signMatMul(request: SignMatMulRequest): Promise<Float32Array> {
    this.assertUsable();
    const output = checkSignMatMulRequest(this.id, request);
    const state = this.signsState(request.signs) as HandleState;
    return this.queue.run(() => this.runOp(state, request.input, request.batch, output));
  }

  /** Splits the batch so every activation buffer fits one storage binding, then runs each part. */
  private async runOp(
    state: HandleState,
    input: Float32Array,
    batch: number,
    output: Float32Array,
  ): Promise<Float32Array> {
    assertNotDisposed(this.id, this.disposed);
    const { op } = state;
    const widest = Math.max(paddedFeatures(op.inFeatures), paddedFeatures(op.outFeatures), midStride(op));
    const perPart = Math.floor((this.ctx.maxBinding - 2 * GUARD_BYTES) / (widest * 4));
    if (perPart < 1) {
      throw new BackendError(
        this.id,
        'UNSUPPORTED_OPERATION',
        `One activation vector of ${widest} floats does not fit the storage-binding limit of ${this.ctx.maxBinding} bytes.`,
      );
    }
    const m = op.inFeatures;
    const n = op.outFeatures;
    for (let b0 = 0; b0 < batch; b0 += perPart) {
      const nb = Math.min(perPart, batch - b0);
      await this.runOpPart(
        state,
        input.subarray(b0 * m, (b0 + nb) * m),
        nb,
        output.subarray(b0 * n, (b0 + nb) * n),
      );
    }
    return output;
  }

  private async runOpPart(
    state: HandleState,
    input: Float32Array,
    batch: number,
    output: Float32Array,
  ): Promise<void> {
    const { op } = state;
    const ctx = this.ctx;
    const inStride = paddedFeatures(op.inFeatures);
    const outStride = paddedFeatures(op.outFeatures);
    const tStride = midStride(op);
    const x = this.scratch.buffer('x', batch * inStride);
    const y = this.scratch.buffer('y', batch * outStride);
    const t = tStride > 0 ? this.scratch.buffer('t', batch * tStride) : undefined;
    this.writeVectors(x, input, batch, op.inFeatures, inStride);
    const plans = planOp(ctx, op, {
      input: { buffer: x.buffer, offset: GUARD_FLOATS, stride: inStride },
      output: { buffer: y.buffer, offset: GUARD_FLOATS, stride: outStride },
      ...(t ? { mid: { buffer: t.buffer, offset: GUARD_FLOATS, stride: tStride } } : {}),
      batch,
    });
    const dispatches = await state.program.prepare(ctx, plans);
    const outFloats = batch * outStride;
    const guarded = t ? [{ target: t, floats: batch * tStride }] : [];
    await this.submitAndRead(
      `${op.kind} ${op.kind === 'signs' ? 'signMatMul' : 'linear'}`,
      y,
      outFloats,
      guarded,
      (pass) => encodeDispatches(pass, dispatches),
      (view) => {
        if (outStride === op.outFeatures) output.set(view.subarray(0, output.length));
        else
          for (let s = 0; s < batch; s++)
            output.set(view.subarray(s * outStride, s * outStride + op.outFeatures), s * op.outFeatures);
      },
    );
  }

  /** Copies `batch` vectors into a guarded buffer with padded stride (zeros in the padding). */
  private writeVectors(
    target: GuardedBuffer,
    src: Float32Array,
    batch: number,
    features: number,
    stride: number,
  ): void {
    if (features === stride) {
      this.ctx.queue.writeBuffer(target.buffer, GUARD_BYTES, source(src));
      return;
    }
    const staging = this.scratch.staging('vectors', batch * stride);
    for (let s = 0; s < batch; s++) {
      staging.set(src.subarray(s * features, (s + 1) * features), s * stride);
      staging.fill(0, s * stride + features, (s + 1) * stride);
    }
    this.ctx.queue.writeBuffer(target.buffer, GUARD_BYTES, source(staging), 0, batch * stride);
  }

  /**
   * Encodes one compute pass, copies the output (with its guards) and the guards of intermediates to
   * the readback buffer, submits, checks every guard and hands the output data to `consume`.
   */
  private async submitAndRead(
    what: string,
    out: GuardedBuffer,
    outFloats: number,
    intermediates: readonly { target: GuardedBuffer; floats: number }[],
    record: (pass: GPUComputePassEncoder) => void,
    consume: (data: Float32Array) => void,
  ): Promise<void> {
    const ctx = this.ctx;
    const guards = ctx.checkGuards;
    if (guards) {
      ctx.writeTrailingGuard(out, outFloats);
      for (const i of intermediates) ctx.writeTrailingGuard(i.target, i.floats);
    }
    const outBytes = guards ? (outFloats + 2 * GUARD_FLOATS) * 4 : outFloats * 4;
    const bytes = outBytes + (guards ? intermediates.length * 2 * GUARD_BYTES : 0);
    const readback = this.scratch.readback(bytes);
    const words = await ctx.submit(
      what,
      (encoder) => {
        const pass = encoder.beginComputePass();
        record(pass);
        pass.end();
        if (guards) {
          encoder.copyBufferToBuffer(out.buffer, 0, readback, 0, outBytes);
          intermediates.forEach((i, n) => {
            const at = outBytes + n * 2 * GUARD_BYTES;
            encoder.copyBufferToBuffer(i.target.buffer, 0, readback, at, GUARD_BYTES);
            encoder.copyBufferToBuffer(
              i.target.buffer,
              GUARD_BYTES + i.floats * 4,
              readback,
              at + GUARD_BYTES,
              GUARD_BYTES,
            );
          });
        } else {
          encoder.copyBufferToBuffer(out.buffer, GUARD_BYTES, readback, 0, outBytes);
        }
      },
      readback,
      bytes,
    );
    try {
      const all = words!;
      if (guards) {
        checkGuardPair(what, 'output', all, 0, GUARD_FLOATS + outFloats, outFloats);
        intermediates.forEach((i, n) => {
          const at = (outBytes + n * 2 * GUARD_BYTES) / 4;
          checkGuardPair(what, 'intermediate', all, at, at + GUARD_FLOATS, i.floats);
        });
      }
      const data = new Float32Array(all.buffer, all.byteOffset + (guards ? GUARD_BYTES : 0), outFloats);
      consume(data);
    } finally {
      readback.unmap();
    }
  }

  // ---- dense GEMM ----

  async gemm(request: GemmRequest): Promise<Float32Array> {
    this.assertUsable();
    const c = checkGemmRequest(request);
    return this.queue.run(async () => {
      assertNotDisposed(this.id, this.disposed);
      await this.runGemm(request, c);
      return c;
    });
  }

  private readonly gemmProgram = new DispatchProgram('gemm');

  /**
   * Blocks C so that each block of op(A), op(B) and C fits one storage binding (one block unless the
   * matrices are large or the limit was lowered), and runs the tiled GEMM kernel on each block.
   */
  private async runGemm(request: GemmRequest, c: Float32Array): Promise<void> {
    const { a, b, m, n, k } = request;
    const transposeA = request.transposeA ?? false;
    const transposeB = request.transposeB ?? false;
    const alpha = request.alpha ?? 1;
    const beta = request.beta ?? 0;
    const cap = Math.floor(this.ctx.maxBinding / 4) - 2 * GUARD_FLOATS;
    if (k > cap) {
      throw new BackendError(
        this.id,
        'UNSUPPORTED_OPERATION',
        `gemm with k = ${k} needs rows longer than the storage-binding limit of ${this.ctx.maxBinding} bytes.`,
      );
    }
    let mb = Math.min(m, Math.floor(cap / k));
    let nb = Math.min(n, Math.floor(cap / k));
    while (mb * nb > cap) {
      if (mb >= nb) mb = Math.max(1, Math.floor(cap / nb));
      else nb = Math.max(1, Math.floor(cap / mb));
    }
    for (let i0 = 0; i0 < m; i0 += mb) {
      const mi = Math.min(mb, m - i0);
      for (let j0 = 0; j0 < n; j0 += nb) {
        const nj = Math.min(nb, n - j0);
        // op(A) rows i0..: stored m×k (row block) or k×m (column block).
        const aBlock = transposeA ? this.block('a', a, m, 0, k, i0, mi) : this.block('a', a, k, i0, mi, 0, k);
        const bBlock = transposeB ? this.block('b', b, k, j0, nj, 0, k) : this.block('b', b, n, 0, k, j0, nj);
        const xa = this.scratch.buffer('x', aBlock.data.length);
        const xb = this.scratch.buffer('t', bBlock.data.length);
        const yc = this.scratch.buffer('y', mi * nj);
        this.ctx.queue.writeBuffer(xa.buffer, GUARD_BYTES, source(aBlock.data));
        this.ctx.queue.writeBuffer(xb.buffer, GUARD_BYTES, source(bBlock.data));
        if (beta !== 0)
          this.ctx.queue.writeBuffer(
            yc.buffer,
            GUARD_BYTES,
            source(this.block('c', c, n, i0, mi, j0, nj).data),
          );
        const plan = gemmPlan(
          {
            m: mi,
            n: nj,
            k,
            lda: aBlock.ld,
            ldb: bBlock.ld,
            ldc: nj,
            aOffset: GUARD_FLOATS,
            bOffset: GUARD_FLOATS,
            cOffset: GUARD_FLOATS,
            nWrite: nj,
            transposeA,
            transposeB,
            bias: false,
            biasOffset: 0,
            alpha,
            beta,
          },
          [xa.buffer, xb.buffer, yc.buffer, this.ctx.dummy],
        );
        const dispatches = await this.gemmProgram.prepare(this.ctx, [plan]);
        await this.submitAndRead(
          'gemm',
          yc,
          mi * nj,
          [],
          (pass) => encodeDispatches(pass, dispatches),
          (view) => {
            if (nj === n) c.set(view, i0 * n);
            else for (let r = 0; r < mi; r++) c.set(view.subarray(r * nj, (r + 1) * nj), (i0 + r) * n + j0);
          },
        );
      }
    }
  }

  /** Rows r0..r0+nr, columns c0..c0+nc of a row-major matrix with `cols` columns: a view when contiguous, else a staged copy. */
  private block(
    name: string,
    src: Float32Array,
    cols: number,
    r0: number,
    nr: number,
    c0: number,
    nc: number,
  ): { data: Float32Array; ld: number } {
    if (c0 === 0 && nc === cols) return { data: src.subarray(r0 * cols, (r0 + nr) * cols), ld: cols };
    const staging = this.scratch.staging(`gemm ${name}`, nr * nc);
    for (let r = 0; r < nr; r++)
      staging.set(src.subarray((r0 + r) * cols + c0, (r0 + r) * cols + c0 + nc), r * nc);
    return { data: staging.subarray(0, nr * nc), ld: nc };
  }
}
