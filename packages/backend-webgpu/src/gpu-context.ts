import { BackendError } from '@dbf/core';
import { BufferUsage, GUARD_BYTES, GUARD_FLOATS, MapMode, ShaderStage, source } from './gpu-constants';

const ID = 'webgpu';

/** Which optional bindings (4 pre, 5 post, 6 bias) a kernel variant uses. */
export interface BindingFlags {
  readonly pre: boolean;
  readonly post: boolean;
  readonly bias: boolean;
}

/** The guard pattern: NaN boxes carrying 0xDBF alternating with a distinctive finite value. */
export const GUARD_PATTERN: Uint32Array = Uint32Array.from({ length: GUARD_FLOATS }, (_, i) =>
  i % 2 === 0 ? (0x7fc0dbf0 | (i & 0xf)) >>> 0 : (0xc0dbf000 | i) >>> 0,
);

/** Index of the first guard word that differs from the pattern, or -1. */
export function findBrokenGuard(words: Uint32Array, start: number): number {
  for (let i = 0; i < GUARD_FLOATS; i++) if (words[start + i] !== GUARD_PATTERN[i]) return i;
  return -1;
}

/** Throws BACKEND_FAILURE when a guard word before (`before`) or after (`after`) a data region changed. */
export function checkGuardPair(
  what: string,
  region: string,
  words: Uint32Array,
  before: number,
  after: number,
  floats: number,
): void {
  const lead = findBrokenGuard(words, before);
  const trail = findBrokenGuard(words, after);
  if (lead >= 0 || trail >= 0) {
    const where = lead >= 0 ? `index ${lead - GUARD_FLOATS}` : `index ${floats + trail}`;
    throw new BackendError(
      ID,
      'BACKEND_FAILURE',
      `${what}: a shader wrote outside its ${region} region (guard word at ${where} of a ${floats}-element region changed). This is a kernel bug; please report it with the layer shape.`,
    );
  }
}

/**
 * A storage buffer laid out as [guard][data][guard]. The data starts at `GUARD_FLOATS`; the trailing
 * guard sits right after the data actually used by the current call (`writeTrailingGuard`).
 */
export interface GuardedBuffer {
  readonly buffer: GPUBuffer;
  /** Data capacity in f32 elements. */
  readonly capacity: number;
  readonly label: string;
}

/**
 * Layouts and pipelines depend only on the device and the kernel key (which names every compile-time
 * choice), so backends sharing an injected device share them and compile each kernel once.
 */
const DEVICE_CACHES = new WeakMap<
  GPUDevice,
  {
    layouts: Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>;
    pipelines: Map<string, Promise<GPUComputePipeline>>;
  }
>();

/** Per-device state shared by the backend, its layers and its chains: pipelines, layouts, buffers, errors. */
export class GpuContext {
  readonly device: GPUDevice;
  readonly queue: GPUQueue;
  /** Largest storage binding the kernels may use, in bytes (device limit, optionally lowered). */
  readonly maxBinding: number;
  /** Lanes per row with subgroupAdd, or 0 for the workgroup-memory reduction. */
  readonly subgroupLanes: number;
  readonly checkGuards: boolean;
  lost: GPUDeviceLostInfo | undefined;
  private readonly layouts: Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>;
  private readonly pipelines: Map<string, Promise<GPUComputePipeline>>;
  private dummyBuffer: GPUBuffer | undefined;

  constructor(
    device: GPUDevice,
    options: { maxBinding: number; subgroupLanes: number; checkGuards: boolean },
  ) {
    this.device = device;
    this.queue = device.queue;
    this.maxBinding = options.maxBinding;
    this.subgroupLanes = options.subgroupLanes;
    this.checkGuards = options.checkGuards;
    let shared = DEVICE_CACHES.get(device);
    if (!shared) {
      shared = { layouts: new Map(), pipelines: new Map() };
      DEVICE_CACHES.set(device, shared);
    }
    this.layouts = shared.layouts;
    this.pipelines = shared.pipelines;
  }

  /** Explicit layouts, shared by every kernel with the same bindings, so bind groups survive pipeline changes. */
  layout(flags: BindingFlags): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
    const key = `${+flags.pre}${+flags.post}${+flags.bias}`;
    let entry = this.layouts.get(key);
    if (!entry) {
      const ro = { type: 'read-only-storage' } as const;
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: ShaderStage.COMPUTE, buffer: { type: 'uniform' } },
        { binding: 1, visibility: ShaderStage.COMPUTE, buffer: ro },
        { binding: 2, visibility: ShaderStage.COMPUTE, buffer: ro },
        { binding: 3, visibility: ShaderStage.COMPUTE, buffer: { type: 'storage' } },
      ];
      if (flags.pre) entries.push({ binding: 4, visibility: ShaderStage.COMPUTE, buffer: ro });
      if (flags.post) entries.push({ binding: 5, visibility: ShaderStage.COMPUTE, buffer: ro });
      if (flags.bias) entries.push({ binding: 6, visibility: ShaderStage.COMPUTE, buffer: ro });
      const group = this.device.createBindGroupLayout({ label: `dbf layout ${key}`, entries });
      entry = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(key, entry);
    }
    return entry;
  }

  /** A 16-byte storage buffer bound where a kernel's optional input (pre, post, bias) is absent. */
  get dummy(): GPUBuffer {
    this.dummyBuffer ??= this.upload('dbf unused binding', new Float32Array(4));
    return this.dummyBuffer;
  }

  /** Frees the buffers the context itself owns (pipelines stay cached with the device). */
  destroy(): void {
    this.dummyBuffer?.destroy();
    this.dummyBuffer = undefined;
  }

  /** A compute pipeline, compiled once per variant key and cached for the device's lifetime. */
  pipeline(key: string, code: () => string, flags: BindingFlags): Promise<GPUComputePipeline> {
    let pending = this.pipelines.get(key);
    if (!pending) {
      const module = this.device.createShaderModule({ label: key, code: code() });
      pending = this.device
        .createComputePipelineAsync({
          label: key,
          layout: this.layout(flags).pipeline,
          compute: { module, entryPoint: 'main' },
        })
        .catch(async (error: unknown) => {
          this.pipelines.delete(key);
          const info = await module.getCompilationInfo().catch(() => undefined);
          const messages = info?.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ');
          throw this.failure(`compiling kernel ${key} failed${messages ? `: ${messages}` : ''}`, error);
        });
      this.pipelines.set(key, pending);
    }
    return pending;
  }

  /** A read-only storage buffer holding `data` (padded to 4 bytes), written through a mapping at creation. */
  upload(label: string, data: ArrayBufferView, byteLength = data.byteLength): GPUBuffer {
    const size = Math.max(4, Math.ceil(byteLength / 4) * 4);
    const buffer = this.device.createBuffer({
      label,
      size,
      usage: BufferUsage.STORAGE,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    buffer.unmap();
    return buffer;
  }

  /** A storage buffer of `floats` data elements between guards, leading guard written (zeros elsewhere). */
  createGuarded(label: string, floats: number): GuardedBuffer {
    const buffer = this.device.createBuffer({
      label,
      size: (floats + 2 * GUARD_FLOATS) * 4,
      usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC,
    });
    this.queue.writeBuffer(buffer, 0, source(GUARD_PATTERN));
    this.queue.writeBuffer(buffer, (GUARD_FLOATS + floats) * 4, source(GUARD_PATTERN));
    return { buffer, capacity: floats, label };
  }

  /** Writes the trailing guard right after the first `floats` data elements. */
  writeTrailingGuard(target: GuardedBuffer, floats: number): void {
    this.queue.writeBuffer(target.buffer, GUARD_BYTES + floats * 4, source(GUARD_PATTERN));
  }

  uniform(label: string, bytes: number): GPUBuffer {
    return this.device.createBuffer({
      label,
      size: bytes,
      usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST,
    });
  }

  readback(label: string, bytes: number): GPUBuffer {
    return this.device.createBuffer({
      label,
      size: bytes,
      usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
    });
  }

  /** A BACKEND_FAILURE that mentions device loss when that is the cause. */
  failure(message: string, cause?: unknown): BackendError {
    const detail =
      cause instanceof Error ? `: ${cause.message}` : cause === undefined ? '' : `: ${String(cause)}`;
    if (this.lost) return this.lostError(cause);
    return new BackendError(
      ID,
      'BACKEND_FAILURE',
      `${message}${detail}`,
      cause === undefined ? undefined : { cause },
    );
  }

  lostError(cause?: unknown): BackendError {
    const info = this.lost;
    return new BackendError(
      ID,
      'BACKEND_FAILURE',
      `The GPU device was lost (${info?.reason ?? 'unknown'}${info?.message ? `: ${info.message}` : ''}). Resident layers are gone; create a new backend and upload the layers again.`,
      cause === undefined ? undefined : { cause },
    );
  }

  /**
   * Encodes and submits one command buffer inside validation and out-of-memory error scopes, then maps
   * `readback` (when given) for `bytes`. Resolves to the mapped words; the caller must `unmap()`.
   */
  async submit(
    what: string,
    encode: (encoder: GPUCommandEncoder) => void,
    readback?: GPUBuffer,
    bytes = 0,
  ): Promise<Uint32Array | undefined> {
    if (this.lost) throw this.lostError();
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let scopes: Promise<[GPUError | null, GPUError | null]>;
    try {
      const encoder = device.createCommandEncoder({ label: what });
      encode(encoder);
      this.queue.submit([encoder.finish()]);
    } finally {
      const validation = device.popErrorScope();
      const memory = device.popErrorScope();
      scopes = Promise.all([validation, memory]);
    }
    const mapped = readback ? readback.mapAsync(MapMode.READ, 0, bytes) : this.queue.onSubmittedWorkDone();
    let errors: [GPUError | null, GPUError | null];
    try {
      errors = await scopes;
    } catch (error) {
      await mapped.catch(() => undefined);
      throw this.failure(`${what}: the device rejected the work`, error);
    }
    const gpuError = errors[0] ?? errors[1];
    if (gpuError) {
      const ok = await mapped.then(
        () => true,
        () => false,
      );
      if (ok && readback) readback.unmap();
      const kind = errors[0] ? 'validation error' : 'out of memory';
      throw this.failure(`${what}: ${kind}: ${gpuError.message}`);
    }
    try {
      await mapped;
    } catch (error) {
      throw this.failure(`${what}: reading the result back failed`, error);
    }
    return readback ? new Uint32Array(readback.getMappedRange(0, bytes)) : undefined;
  }

  /** Runs `create` inside error scopes, so allocation failures become BackendErrors. */
  async allocate<T>(what: string, create: () => T, cleanup: (partial: T | undefined) => void): Promise<T> {
    if (this.lost) throw this.lostError();
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let result: T | undefined;
    let thrown: unknown;
    try {
      result = create();
    } catch (error) {
      thrown = error;
    }
    const validation = await device.popErrorScope();
    const memory = await device.popErrorScope();
    if (thrown !== undefined || validation || memory) {
      cleanup(result);
      if (BackendError.isInstance(thrown)) throw thrown;
      if (memory) throw this.failure(`${what}: the GPU is out of memory (${memory.message})`);
      throw this.failure(`${what} failed`, thrown ?? validation?.message);
    }
    return result as T;
  }
}
