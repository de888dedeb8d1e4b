import {
  type Availability,
  assertNotDisposed,
  type BackendCapabilities,
  BackendError,
  type BackendFactory,
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
import { gemm } from './gemm';
import {
  createLayerState,
  type LayerState,
  runLinear,
  runSignMatMul,
  scratchLength,
  signScratchLength,
  stateByteLength,
} from './layer-state';
import { type TiledSigns, tiledByteLength, tileSigns } from './sign-lut';
import { Workspace } from './workspace';

export const CPU_BACKEND_ID = 'cpu';

/** Largest single buffer this backend allocates (the contract's `maxBufferBytes`). */
const MAX_BUFFER_BYTES = 2 ** 31;

const CAPABILITIES: BackendCapabilities = Object.freeze({
  accumulation: 'f64',
  // Sums are float64 throughout; the only float32 rounding is the final store of each output.
  nmseTolerance: 1e-10,
  threads: 1,
  maxBufferBytes: MAX_BUFFER_BYTES,
  description:
    'Pure JavaScript, 1 thread: sign matmuls by 8-column float64 lookup tables (T-MAC style, K-tiled, vector tables for batches), register-blocked dense kernels, float64 accumulation.',
});

/** `@dbf/backend-cpu` takes no options today; `create()` accepts `undefined` or an empty object. */
export type CpuBackendOptions = Readonly<Record<string, never>>;

/**
 * The pure-JavaScript backend: runs anywhere (browsers, Node, workers) without WASM or WebGPU, so it is
 * the fallback that `'auto'` selection always finds (lowest priority of the bundled backends).
 */
export function cpu(): BackendFactory<CpuBackendOptions> {
  return {
    id: CPU_BACKEND_ID,
    priority: 1,
    isAvailable: async (): Promise<Availability> => ({ available: true }),
    create: async (options?: CpuBackendOptions): Promise<KernelBackend> => {
      checkOptions(options);
      return new CpuBackend();
    },
  };
}

function checkOptions(options: unknown): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('cpu backend options must be an object (or omitted).');
  }
  const keys = Object.keys(options);
  if (keys.length > 0) {
    throw new InvalidArgumentError(
      `The cpu backend takes no options; got ${keys.map((k) => `'${k}'`).join(', ')}.`,
    );
  }
}

interface LinearEntry {
  readonly owner: CpuBackend;
  state: LayerState | null;
}

interface SignsEntry {
  readonly owner: CpuBackend;
  state: TiledSigns | null;
}

// Handles are plain objects; their backing data lives here so that users cannot reach or corrupt it.
const linearEntries = new WeakMap<object, LinearEntry>();
const signsEntries = new WeakMap<object, SignsEntry>();

function checkBufferSize(what: string, bytes: number): void {
  if (bytes > MAX_BUFFER_BYTES) {
    throw new BackendError(
      CPU_BACKEND_ID,
      'UNSUPPORTED_OPERATION',
      `${what} needs a ${bytes}-byte buffer, more than this backend's limit of ${MAX_BUFFER_BYTES} bytes; split the layer.`,
    );
  }
}

class CpuBackend implements KernelBackend {
  readonly specificationVersion = KERNEL_SPEC_VERSION;
  readonly id = CPU_BACKEND_ID;
  readonly capabilities = CAPABILITIES;
  #disposed = false;
  #workspace: Workspace | null = new Workspace();
  readonly #linear = new Set<LinearEntry>();
  readonly #signs = new Set<SignsEntry>();

  async uploadLinear(layer: LinearLayer): Promise<ResidentLinear> {
    this.#assertLive();
    validateLayer(layer);
    if (layer.kind === 'dense') checkBufferSize('The dense weight', layer.weight.byteLength);
    else {
      checkBufferSize('signA', tiledByteLength(layer.signA));
      checkBufferSize('signB', tiledByteLength(layer.signB));
    }
    const state = createLayerState(layer);
    const scratch = scratchLength(state);
    checkBufferSize('The layer scratch', scratch * 8);
    this.#ws.reserve(scratch);

    const entry: LinearEntry = { owner: this, state };
    this.#linear.add(entry);
    const handle: ResidentLinear = Object.freeze({
      backendId: CPU_BACKEND_ID,
      kind: layer.kind,
      outFeatures: layer.outFeatures,
      inFeatures: layer.inFeatures,
      byteLength: stateByteLength(state),
      dispose: () => {
        entry.state = null;
        this.#linear.delete(entry);
      },
    });
    linearEntries.set(handle, entry);
    return handle;
  }

  async linear(request: LinearRequest): Promise<Float32Array> {
    this.#assertLive();
    const out = checkLinearRequest(CPU_BACKEND_ID, request);
    const state = this.#resolve(linearEntries.get(request.weights), 'weights', 'layer');
    runLinear(state, request.input, request.batch, out, this.#ws);
    return out;
  }

  async uploadSigns(signs: PackedSigns): Promise<ResidentSigns> {
    this.#assertLive();
    validatePackedSigns('signs', signs);
    checkBufferSize('The sign matrix', tiledByteLength(signs));
    const state = tileSigns(signs);
    this.#ws.reserve(signScratchLength(state));
    const entry: SignsEntry = { owner: this, state };
    this.#signs.add(entry);
    const handle: ResidentSigns = Object.freeze({
      backendId: CPU_BACKEND_ID,
      rows: state.rows,
      cols: state.cols,
      byteLength: state.words.byteLength,
      dispose: () => {
        entry.state = null;
        this.#signs.delete(entry);
      },
    });
    signsEntries.set(handle, entry);
    return handle;
  }

  async signMatMul(request: SignMatMulRequest): Promise<Float32Array> {
    this.#assertLive();
    const out = checkSignMatMulRequest(CPU_BACKEND_ID, request);
    const state = this.#resolve(signsEntries.get(request.signs), 'signs', 'sign matrix');
    runSignMatMul(state, request.input, request.batch, out, this.#ws);
    return out;
  }

  async gemm(request: GemmRequest): Promise<Float32Array> {
    this.#assertLive();
    const c = checkGemmRequest(request);
    const { transposeA = false, transposeB = false } = request;
    gemm(
      {
        a: request.a,
        b: request.b,
        m: request.m,
        n: request.n,
        k: request.k,
        transposeA,
        transposeB,
        alpha: request.alpha ?? 1,
        beta: request.beta ?? 0,
        c,
      },
      this.#ws.gemm,
    );
    return c;
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const entry of this.#linear) entry.state = null;
    for (const entry of this.#signs) entry.state = null;
    this.#linear.clear();
    this.#signs.clear();
    this.#workspace = null;
  }

  #assertLive(): void {
    assertNotDisposed(CPU_BACKEND_ID, this.#disposed);
  }

  get #ws(): Workspace {
    assertNotDisposed(CPU_BACKEND_ID, this.#workspace === null);
    return this.#workspace as Workspace;
  }

  /** The state behind a handle that passed the shared checks (so its backendId is 'cpu'). */
  #resolve<T>(
    entry: { readonly owner: CpuBackend; state: T | null } | undefined,
    name: string,
    what: string,
  ): T {
    if (entry === undefined || entry.owner !== this) {
      throw new InvalidArgumentError(
        `${name} was not uploaded to this cpu backend instance; upload it with this backend's upload method first.`,
      );
    }
    if (entry.state === null)
      throw new BackendError(CPU_BACKEND_ID, 'DISPOSED', `This ${what} has been disposed.`);
    return entry.state;
  }
}
