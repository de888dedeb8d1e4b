import {
  assertNotDisposed,
  type BackendCapabilities,
  BackendError,
  type BackendFactory,
  checkGemmRequest,
  checkLinearRequest,
  checkSignMatMulRequest,
  dequantizeFloat64,
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
  unpackSigns,
  validateLayer,
  validatePackedSigns,
} from '@dbf/core';

/**
 * A deliberately naive float64 backend: dequantizes every layer to its dense weight at upload (with
 * core's dequantizeFloat64, independent of the suite's factored reference) and multiplies row by row.
 * `bug` turns on one realistic defect, to prove the suite notices it.
 */
export type NaiveBug =
  /** `linear` writes one element past the end of `output` when the underlying buffer has room. */
  | 'write-past-end'
  /** Sign bits at column 31 of every word are read with inverted meaning. */
  | 'flip-sign-bit'
  | 'ignore-bias'
  /** MDBF: component `c` of envQV is read from column `(c + 1) mod l`. */
  | 'mdbf-envelope-off-by-one'
  /** `linear` returns a new array instead of the `output` it was given. */
  | 'fresh-output'
  /** `linear` adds into `output` instead of overwriting it. */
  | 'accumulate-into-output'
  /** Reads `input.buffer` from byte 0, ignoring the view's offset. */
  | 'ignore-input-offset'
  /** Scales the caller's input in place before multiplying. */
  | 'modifies-input'
  /** Accepts any handle whose backendId matches, including other instances' and forged ones. */
  | 'accept-foreign-handles'
  /** `ResidentLinear.dispose()` does nothing. */
  | 'ignore-handle-dispose'
  /** gemm ignores `transposeB`. */
  | 'gemm-ignores-transpose-b'
  /** gemm always computes `alpha·AB + beta·C`, reading C even when beta = 0. */
  | 'gemm-reads-c-when-beta-zero'
  /** Every second call perturbs the result by a relative 1e-6: within tolerance, but not deterministic. */
  | 'nondeterministic'
  /** `linear` computes into one shared scratch buffer and yields before copying it out. */
  | 'shared-scratch'
  /** Throws synchronously (not a rejected promise) on invalid requests. */
  | 'throws-synchronously';

export interface NaiveBackendOptions {
  readonly bug?: NaiveBug;
  readonly id?: string;
}

interface LinearData {
  readonly weight: Float64Array;
  readonly bias?: Float32Array;
  disposed: boolean;
}

interface SignsData {
  readonly dense: Float32Array;
  disposed: boolean;
}

/** Handle data of every instance: only the 'accept-foreign-handles' bug looks here. */
const EVERY_LINEAR = new WeakMap<object, LinearData>();

export function naiveBackendFactory(options: NaiveBackendOptions = {}): BackendFactory<unknown> {
  const id = options.id ?? 'naive';
  return {
    id,
    priority: -1,
    isAvailable: async () => ({ available: true }),
    create: async () => new NaiveBackend(id, options.bug),
  };
}

class NaiveBackend implements KernelBackend {
  readonly specificationVersion = KERNEL_SPEC_VERSION;
  readonly capabilities: BackendCapabilities = {
    accumulation: 'f64',
    nmseTolerance: 1e-9,
    threads: 1,
    maxBufferBytes: 2 ** 31 - 1,
    description: 'naive float64 test backend',
  };
  private readonly linears = new WeakMap<object, LinearData>();
  private readonly signs = new WeakMap<object, SignsData>();
  private disposed = false;
  private calls = 0;
  private readonly scratch = new Float64Array(1 << 16);

  constructor(
    readonly id: string,
    private readonly bug: NaiveBug | undefined,
  ) {}

  async uploadLinear(layer: LinearLayer): Promise<ResidentLinear> {
    assertNotDisposed(this.id, this.disposed);
    validateLayer(layer);
    const data: LinearData = {
      weight: dequantizeFloat64(this.withBugs(layer)),
      ...(layer.bias ? { bias: Float32Array.from(layer.bias) } : {}),
      disposed: false,
    };
    const ignoreDispose = this.bug === 'ignore-handle-dispose';
    const handle: ResidentLinear = {
      backendId: this.id,
      kind: layer.kind,
      outFeatures: layer.outFeatures,
      inFeatures: layer.inFeatures,
      byteLength: data.weight.byteLength,
      dispose: () => {
        if (!ignoreDispose) data.disposed = true;
      },
    };
    this.linears.set(handle, data);
    EVERY_LINEAR.set(handle, data);
    return handle;
  }

  linear(request: LinearRequest): Promise<Float32Array> {
    if (this.bug === 'throws-synchronously') checkLinearRequest(this.id, request);
    return this.linearNow(request);
  }

  private async linearNow(request: LinearRequest): Promise<Float32Array> {
    assertNotDisposed(this.id, this.disposed);
    let output = checkLinearRequest(this.id, request);
    const { weights, batch } = request;
    const data =
      this.linears.get(weights) ??
      (this.bug === 'accept-foreign-handles' ? EVERY_LINEAR.get(weights) : undefined);
    if (!data)
      throw new InvalidArgumentError(`weights was not uploaded to this '${this.id}' backend instance.`);
    if (data.disposed) throw new BackendError(this.id, 'DISPOSED', 'This ResidentLinear has been disposed.');
    const n = weights.outFeatures;
    const m = weights.inFeatures;
    let input = request.input;
    if (this.bug === 'ignore-input-offset') input = new Float32Array(input.buffer, 0, input.length);
    if (this.bug === 'modifies-input') input[0]! += 1;
    const y = this.bug === 'shared-scratch' ? this.scratch : new Float64Array(batch * n);
    for (let s = 0; s < batch; s++) {
      for (let r = 0; r < n; r++) {
        let sum = this.bug === 'ignore-bias' || !data.bias ? 0 : data.bias[r]!;
        for (let j = 0; j < m; j++) sum += data.weight[r * m + j]! * input[s * m + j]!;
        y[s * n + r] = sum;
      }
    }
    if (this.bug === 'shared-scratch') await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.bug === 'fresh-output') output = new Float32Array(output.length);
    const perturb = this.bug === 'nondeterministic' && this.calls++ % 2 === 1 ? 1 + 1e-6 : 1;
    for (let i = 0; i < batch * n; i++) {
      output[i] = this.bug === 'accumulate-into-output' ? output[i]! + y[i]! : y[i]! * perturb;
    }
    if (
      this.bug === 'write-past-end' &&
      output.byteOffset + (output.length + 1) * 4 <= output.buffer.byteLength
    ) {
      new Float32Array(output.buffer, output.byteOffset, output.length + 1)[output.length] = 0;
    }
    return output;
  }

  async uploadSigns(signs: PackedSigns): Promise<ResidentSigns> {
    assertNotDisposed(this.id, this.disposed);
    validatePackedSigns('signs', signs);
    const data: SignsData = { dense: unpackSigns(this.flipped(signs)), disposed: false };
    const handle: ResidentSigns = {
      backendId: this.id,
      rows: signs.rows,
      cols: signs.cols,
      byteLength: data.dense.byteLength,
      dispose: () => {
        data.disposed = true;
      },
    };
    this.signs.set(handle, data);
    return handle;
  }

  async signMatMul(request: SignMatMulRequest): Promise<Float32Array> {
    assertNotDisposed(this.id, this.disposed);
    const output = checkSignMatMulRequest(this.id, request);
    const { signs, input, batch } = request;
    const data = this.signs.get(signs);
    if (!data)
      throw new InvalidArgumentError(`signs were not uploaded to this '${this.id}' backend instance.`);
    if (data.disposed) throw new BackendError(this.id, 'DISPOSED', 'These ResidentSigns have been disposed.');
    const { rows, cols } = signs;
    for (let s = 0; s < batch; s++) {
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let j = 0; j < cols; j++) sum += data.dense[r * cols + j]! * input[s * cols + j]!;
        output[s * rows + r] = sum;
      }
    }
    return output;
  }

  async gemm(request: GemmRequest): Promise<Float32Array> {
    assertNotDisposed(this.id, this.disposed);
    const c = checkGemmRequest(request);
    const { a, b, m, n, k, transposeA = false } = request;
    const transposeB = this.bug === 'gemm-ignores-transpose-b' ? false : (request.transposeB ?? false);
    const alpha = request.alpha ?? 1;
    const beta = request.beta ?? 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++)
          sum += (transposeA ? a[p * m + i]! : a[i * k + p]!) * (transposeB ? b[j * k + p]! : b[p * n + j]!);
        const readC = beta !== 0 || this.bug === 'gemm-reads-c-when-beta-zero';
        c[i * n + j] = alpha * sum + (readC ? beta * c[i * n + j]! : 0);
      }
    }
    return c;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  /** Applies the layer-level bugs by rewriting what the "kernel" sees. */
  private withBugs(layer: LinearLayer): LinearLayer {
    if (layer.kind === 'dense') return layer;
    const flippedLayer = { ...layer, signA: this.flipped(layer.signA), signB: this.flipped(layer.signB) };
    if (flippedLayer.kind !== 'mdbf' || this.bug !== 'mdbf-envelope-off-by-one') return flippedLayer;
    const l = flippedLayer.envelopeRank;
    const envQV = flippedLayer.envQV.map(
      (_, idx) => flippedLayer.envQV[idx - (idx % l) + (((idx % l) + 1) % l)]!,
    );
    return { ...flippedLayer, envQV };
  }

  private flipped(signs: PackedSigns): PackedSigns {
    if (this.bug !== 'flip-sign-bit') return signs;
    const words = Uint32Array.from(signs.words);
    for (let r = 0; r < signs.rows; r++) {
      for (let c = 31; c < signs.cols; c += 32) words[r * signs.wordsPerRow + (c >>> 5)]! ^= 0x80000000;
    }
    return { ...signs, words };
  }
}
