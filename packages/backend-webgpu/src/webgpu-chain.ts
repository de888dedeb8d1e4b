import {
  assertInteger,
  BackendError,
  InvalidArgumentError,
  type ResidentLinear,
  type ResidentSigns,
} from '@dbf/core';
import { GUARD_BYTES, GUARD_FLOATS, paddedFeatures, source } from './gpu-constants';
import { checkGuardPair, type GpuContext, type GuardedBuffer } from './gpu-context';
import { DispatchProgram, encodeDispatches, type PreparedDispatch, planOp } from './plans';
import { midStride, type ResidentOp } from './resident';
import type { SerialQueue } from './serial-queue';

/**
 * A batch of activation vectors living in a GPU buffer of a chain. Vector `s` starts at byte
 * `byteOffset + 4·s·stride`; `stride` is `features` rounded up to a multiple of 32, and the padding is
 * zero. Guard words surround the data, so do not bind the buffer with an offset below `byteOffset`
 * for writing. Usable in your own passes through `chain.custom()`.
 */
export interface GpuTensor {
  readonly features: number;
  readonly batch: number;
  readonly stride: number;
  readonly buffer: GPUBuffer;
  readonly byteOffset: number;
}

/**
 * Records layer calls that run as one command submission, with activations kept on the GPU between
 * layers. Record once, run many times: buffers, uniforms and bind groups are created while recording
 * (or on the first run) and reused by every run, which only uploads the inputs, encodes the recorded
 * dispatches, submits once, and reads back the tensors marked with `output()`.
 *
 * ```ts
 * const chain = backend.chain();
 * const x = chain.input(4096);             // batch 1
 * const h = chain.linear(up, x);           // 4096 → 11008, stays on the GPU
 * chain.custom((encoder) => mySilu(encoder, h));
 * const y = chain.linear(down, h);         // 11008 → 4096
 * chain.output(y);
 * const [out] = await chain.run([tokenEmbedding]);
 * ```
 */
export interface WebGpuChain {
  /** A tensor the caller fills on every `run` (in the order inputs were declared). */
  input(features: number, batch?: number): GpuTensor;
  /** `y = W·x (+ bias)` with a layer uploaded to the same backend. */
  linear(weights: ResidentLinear, x: GpuTensor): GpuTensor;
  /** `y = S·x` with signs uploaded to the same backend. */
  signMatMul(signs: ResidentSigns, x: GpuTensor): GpuTensor;
  /**
   * Records your own GPU work at this point of the chain (e.g. an activation function on a tensor's
   * buffer). Called on every run with the chain's command encoder, outside any pass.
   */
  custom(record: (encoder: GPUCommandEncoder) => void): void;
  /** Marks a tensor to be read back at the end of every run; returns its index in `run`'s result. */
  output(tensor: GpuTensor): number;
  /**
   * Uploads `inputs` (one `batch × features` array per declared input), runs every recorded step in one
   * submission and resolves to the output tensors' contents (written into `outputs` when given).
   */
  run(inputs?: readonly Float32Array[], outputs?: readonly Float32Array[]): Promise<Float32Array[]>;
  readonly disposed: boolean;
  /** Frees the chain's buffers. The layers stay resident. */
  dispose(): void;
}

/** What a chain needs from its backend. */
export interface OpState {
  readonly op: ResidentOp;
  disposed: boolean;
}

export interface ChainHost {
  readonly ctx: GpuContext;
  readonly queue: SerialQueue;
  assertUsable(): void;
  linearState(handle: unknown): OpState;
  signsState(handle: unknown): OpState;
}

class ChainTensor implements GpuTensor {
  readonly byteOffset = GUARD_BYTES;
  constructor(
    readonly owner: WebGpuChainImpl,
    readonly features: number,
    readonly batch: number,
    readonly stride: number,
    readonly storage: GuardedBuffer,
  ) {}
  get buffer(): GPUBuffer {
    return this.storage.buffer;
  }
  get floats(): number {
    return this.batch * this.stride;
  }
}

type Step =
  | {
      readonly kind: 'op';
      readonly state: OpState;
      readonly input: ChainTensor;
      readonly output: ChainTensor;
      readonly mid: ChainTensor | undefined;
      readonly program: DispatchProgram;
      prepared?: PreparedDispatch[];
    }
  | { readonly kind: 'custom'; readonly record: (encoder: GPUCommandEncoder) => void };

export class WebGpuChainImpl implements WebGpuChain {
  private readonly inputs: ChainTensor[] = [];
  private readonly outputs: ChainTensor[] = [];
  private readonly tensors: ChainTensor[] = [];
  private readonly steps: Step[] = [];
  private readbackBuffer: GPUBuffer | undefined;
  private isDisposed = false;
  private freed = false;

  constructor(
    private readonly host: ChainHost,
    private readonly onDispose: () => void,
  ) {}

  get disposed(): boolean {
    return this.isDisposed;
  }

  private assertOpen(): void {
    this.host.assertUsable();
    if (this.isDisposed) throw new BackendError('webgpu', 'DISPOSED', 'This chain has been disposed.');
  }

  private tensor(label: string, features: number, batch: number): ChainTensor {
    const stride = paddedFeatures(features);
    const floats = batch * stride;
    const bytes = (floats + 2 * GUARD_FLOATS) * 4;
    if (bytes > this.host.ctx.maxBinding) {
      throw new BackendError(
        'webgpu',
        'UNSUPPORTED_OPERATION',
        `A chain tensor of ${batch} × ${features} floats needs ${bytes} bytes, above the storage-binding limit of ${this.host.ctx.maxBinding}; record the chain with a smaller batch.`,
      );
    }
    const t = new ChainTensor(
      this,
      features,
      batch,
      stride,
      this.host.ctx.createGuarded(`dbf chain ${label}`, floats),
    );
    this.tensors.push(t);
    return t;
  }

  private own(x: GpuTensor, name: string): ChainTensor {
    if (!(x instanceof ChainTensor) || x.owner !== this) {
      throw new InvalidArgumentError(
        `${name} must be a tensor recorded in this chain (from input(), linear() or signMatMul()).`,
      );
    }
    return x;
  }

  input(features: number, batch = 1): GpuTensor {
    this.assertOpen();
    assertInteger('features', features, 1);
    assertInteger('batch', batch, 1);
    const t = this.tensor(`input ${this.inputs.length}`, features, batch);
    this.inputs.push(t);
    return t;
  }

  private addOp(state: OpState, x: GpuTensor, what: string): GpuTensor {
    const input = this.own(x, 'x');
    const op = state.op;
    if (input.features !== op.inFeatures) {
      throw new InvalidArgumentError(
        `${what} expects vectors of ${op.inFeatures} features, but x has ${input.features}.`,
      );
    }
    const mid =
      midStride(op) > 0 ? this.tensor(`${what} intermediate`, midStride(op), input.batch) : undefined;
    const output = this.tensor(`${what} output`, op.outFeatures, input.batch);
    this.steps.push({ kind: 'op', state, input, output, mid, program: new DispatchProgram(`chain ${what}`) });
    return output;
  }

  linear(weights: ResidentLinear, x: GpuTensor): GpuTensor {
    this.assertOpen();
    return this.addOp(this.host.linearState(weights), x, 'linear');
  }

  signMatMul(signs: ResidentSigns, x: GpuTensor): GpuTensor {
    this.assertOpen();
    return this.addOp(this.host.signsState(signs), x, 'signMatMul');
  }

  custom(record: (encoder: GPUCommandEncoder) => void): void {
    this.assertOpen();
    if (typeof record !== 'function')
      throw new InvalidArgumentError('custom() needs a function (encoder) => void.');
    this.steps.push({ kind: 'custom', record });
  }

  output(tensor: GpuTensor): number {
    this.assertOpen();
    this.outputs.push(this.own(tensor, 'tensor'));
    return this.outputs.length - 1;
  }

  async run(
    inputs: readonly Float32Array[] = [],
    outputs?: readonly Float32Array[],
  ): Promise<Float32Array[]> {
    this.assertOpen();
    if (!Array.isArray(inputs) || inputs.length !== this.inputs.length) {
      throw new InvalidArgumentError(
        `run() needs ${this.inputs.length} input arrays (one per input()), got ${Array.isArray(inputs) ? inputs.length : typeof inputs}.`,
      );
    }
    for (const [i, t] of this.inputs.entries()) expectVectors(`inputs[${i}]`, inputs[i], t);
    if (outputs !== undefined && (!Array.isArray(outputs) || outputs.length !== this.outputs.length)) {
      throw new InvalidArgumentError(`outputs must hold ${this.outputs.length} arrays (one per output()).`);
    }
    for (const [i, o] of (outputs ?? []).entries()) expectVectors(`outputs[${i}]`, o, this.outputs[i]!);
    for (const step of this.steps) {
      if (step.kind === 'op' && step.state.disposed) {
        throw new BackendError('webgpu', 'DISPOSED', 'A layer recorded in this chain has been disposed.');
      }
    }
    const results = outputs ? [...outputs] : this.outputs.map((t) => new Float32Array(t.batch * t.features));
    return this.host.queue.run(async () => {
      this.assertOpen();
      await this.execute(inputs, results);
      return results;
    });
  }

  private async execute(inputs: readonly Float32Array[], results: Float32Array[]): Promise<void> {
    const ctx = this.host.ctx;
    for (const step of this.steps) {
      if (step.kind === 'op' && !step.prepared) {
        const plans = planOp(ctx, step.state.op, {
          input: ref(step.input),
          output: ref(step.output),
          ...(step.mid ? { mid: ref(step.mid) } : {}),
          batch: step.input.batch,
        });
        step.prepared = await step.program.prepare(ctx, plans);
      }
    }
    for (const [i, t] of this.inputs.entries()) writeVectors(ctx, t, inputs[i]!);

    const guards = ctx.checkGuards;
    const reads = this.outputs.map((t) => ({
      t,
      bytes: guards ? (t.floats + 2 * GUARD_FLOATS) * 4 : t.floats * 4,
    }));
    const checked = guards ? this.tensors.filter((t) => !this.outputs.includes(t)) : [];
    const bytes = reads.reduce((s, r) => s + r.bytes, 0) + checked.length * 2 * GUARD_BYTES;
    const readback = bytes > 0 ? this.readback(bytes) : undefined;

    const words = await ctx.submit(
      'chain',
      (encoder) => {
        let pass: GPUComputePassEncoder | undefined;
        for (const step of this.steps) {
          if (step.kind === 'custom') {
            pass?.end();
            pass = undefined;
            step.record(encoder);
            continue;
          }
          pass ??= encoder.beginComputePass();
          encodeDispatches(pass, step.prepared!);
        }
        pass?.end();
        if (!readback) return;
        let at = 0;
        for (const r of reads) {
          encoder.copyBufferToBuffer(r.t.buffer, guards ? 0 : GUARD_BYTES, readback, at, r.bytes);
          at += r.bytes;
        }
        for (const t of checked) {
          encoder.copyBufferToBuffer(t.buffer, 0, readback, at, GUARD_BYTES);
          encoder.copyBufferToBuffer(
            t.buffer,
            GUARD_BYTES + t.floats * 4,
            readback,
            at + GUARD_BYTES,
            GUARD_BYTES,
          );
          at += 2 * GUARD_BYTES;
        }
      },
      readback,
      bytes,
    );
    if (!readback || !words) return;
    try {
      let at = 0;
      reads.forEach(({ t, bytes: size }, i) => {
        const start = at / 4;
        if (guards)
          checkGuardPair(
            'chain run',
            'output tensor',
            words,
            start,
            start + GUARD_FLOATS + t.floats,
            t.floats,
          );
        const data = new Float32Array(
          words.buffer,
          words.byteOffset + at + (guards ? GUARD_BYTES : 0),
          t.floats,
        );
        const out = results[i]!;
        if (t.stride === t.features) out.set(data.subarray(0, out.length));
        else
          for (let s = 0; s < t.batch; s++)
            out.set(data.subarray(s * t.stride, s * t.stride + t.features), s * t.features);
        at += size;
      });
      for (const t of checked) {
        checkGuardPair('chain run', 'tensor', words, at / 4, at / 4 + GUARD_FLOATS, t.floats);
        at += 2 * GUARD_BYTES;
      }
    } finally {
      readback.unmap();
    }
  }

  private readback(bytes: number): GPUBuffer {
    if (!this.readbackBuffer || this.readbackBuffer.size < bytes) {
      this.readbackBuffer?.destroy();
      this.readbackBuffer = this.host.ctx.readback('dbf chain readback', bytes);
    }
    return this.readbackBuffer;
  }

  /** Frees GPU buffers (called by dispose, and by the backend when it is disposed). */
  destroy(): void {
    this.isDisposed = true;
    if (this.freed) return;
    this.freed = true;
    for (const t of this.tensors) t.storage.buffer.destroy();
    for (const s of this.steps) if (s.kind === 'op') s.program.destroy();
    this.readbackBuffer?.destroy();
    this.tensors.length = 0;
    this.steps.length = 0;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    // Freed behind any run already queued.
    void this.host.queue.run(async () => {
      this.destroy();
      this.onDispose();
    });
  }
}

function ref(t: ChainTensor) {
  return { buffer: t.buffer, offset: GUARD_FLOATS, stride: t.stride };
}

function expectVectors(name: string, value: unknown, t: ChainTensor): void {
  if (!(value instanceof Float32Array)) throw new InvalidArgumentError(`${name} must be a Float32Array.`);
  const length = t.batch * t.features;
  if (value.length !== length)
    throw new InvalidArgumentError(
      `${name} must have batch·features = ${length} elements, got ${value.length}.`,
    );
}

/** Input tensors own their buffer, so the zero padding written at creation stays; only the data is written. */
function writeVectors(ctx: GpuContext, t: ChainTensor, data: Float32Array): void {
  if (t.stride === t.features) {
    ctx.queue.writeBuffer(t.buffer, GUARD_BYTES, source(data));
    return;
  }
  for (let s = 0; s < t.batch; s++) {
    ctx.queue.writeBuffer(t.buffer, GUARD_BYTES + s * t.stride * 4, source(data), s * t.features, t.features);
  }
}
