import type { PackedSigns } from '../layers/packed-signs';
import type { LinearLayer } from '../layers/types';

/**
 * The kernel contract, version 1 (normative text: docs/kernels.md).
 *
 * A backend turns layers into a backend-resident form once (`uploadLinear`, `uploadSigns`) and then runs
 * them many times. Every compute call is async (WebGPU reads back asynchronously) and never reads a
 * tensor synchronously from another backend. Bumped only for breaking changes to this interface.
 */
export const KERNEL_SPEC_VERSION = 'v1';
export type KernelSpecVersion = typeof KERNEL_SPEC_VERSION;

/** Short lowercase backend ids; third-party backends may use any other string. */
export type BackendId = 'cpu' | 'wasm' | 'webgpu' | (string & {});

/**
 * Activations are batches of vectors, each vector contiguous: an input of `batch` vectors of length
 * `m` is a row-major `batch × m` Float32Array, and the output a row-major `batch × n` one.
 */
export interface BackendCapabilities {
  /**
   * Precision in which dot products are accumulated. It sets the conformance tolerance:
   * 'f64' and 'f32' must be exact on integer-valued golden vectors; 'f16' and 'int8' (quantized lookup
   * tables) are checked at `nmseTolerance`.
   */
  readonly accumulation: 'f64' | 'f32' | 'f16' | 'int8';
  /**
   * The normalized mean squared error `Σ(y−ŷ)²/Σŷ²` this backend promises against a float64 reference
   * on random inputs, for `linear` and `signMatMul`.
   */
  readonly nmseTolerance: number;
  /** Threads the backend computes with (1 when single-threaded). */
  readonly threads: number;
  /** Largest single buffer, in bytes, the backend can hold (e.g. WebGPU's storage-binding limit). */
  readonly maxBufferBytes: number;
  /** Free text shown to users: variant, SIMD, adapter name... */
  readonly description: string;
}

/** A layer resident on a backend. Free it with `dispose()`; using it afterwards throws `DISPOSED`. */
export interface ResidentLinear {
  readonly backendId: BackendId;
  readonly kind: LinearLayer['kind'];
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** Bytes the backend holds for this layer. */
  readonly byteLength: number;
  dispose(): void;
}

/** A sign matrix resident on a backend, for `signMatMul`. */
export interface ResidentSigns {
  readonly backendId: BackendId;
  readonly rows: number;
  readonly cols: number;
  readonly byteLength: number;
  dispose(): void;
}

export interface LinearRequest {
  readonly weights: ResidentLinear;
  /** `batch × inFeatures`, row-major. */
  readonly input: Float32Array;
  readonly batch: number;
  /** Optional `batch × outFeatures` destination, for allocation-free loops. It is also the return value. */
  readonly output?: Float32Array;
}

export interface SignMatMulRequest {
  readonly signs: ResidentSigns;
  /** `batch` vectors of length `signs.cols`, each contiguous (`batch × cols`, row-major). */
  readonly input: Float32Array;
  readonly batch: number;
  /** Optional `batch × rows` destination. */
  readonly output?: Float32Array;
}

/**
 * `C = alpha · op(A) · op(B) + beta · C`, all row-major, with `op(X) = Xᵀ` when the transpose flag is set.
 * `op(A)` is `m × k`, `op(B)` is `k × n`, `C` is `m × n`. So `A` is stored `m × k` (or `k × m` when
 * transposed) and `B` `k × n` (or `n × k`).
 */
export interface GemmRequest {
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeA?: boolean;
  readonly transposeB?: boolean;
  /** Default 1. */
  readonly alpha?: number;
  /** Default 0. When non-zero, `c` must be given and is read. */
  readonly beta?: number;
  /** Optional `m × n` destination (and the addend when `beta ≠ 0`). */
  readonly c?: Float32Array;
}

export interface KernelBackend {
  readonly specificationVersion: KernelSpecVersion;
  readonly id: BackendId;
  readonly capabilities: BackendCapabilities;

  /** Validates a DBF, MDBF or dense layer and moves it into the backend's preferred layout. */
  uploadLinear(layer: LinearLayer): Promise<ResidentLinear>;
  /** `y = W·x (+ bias)` for each of the `batch` input vectors, fused (scalings folded into the kernels). */
  linear(request: LinearRequest): Promise<Float32Array>;

  uploadSigns(signs: PackedSigns): Promise<ResidentSigns>;
  /** `y = S·x` for each input vector (`S` is `rows × cols` of ±1). */
  signMatMul(request: SignMatMulRequest): Promise<Float32Array>;

  /** Dense f32 GEMM: the building block of the factorization algorithms. */
  gemm(request: GemmRequest): Promise<Float32Array>;

  /** Frees everything the backend holds. Later calls throw `DISPOSED`. */
  dispose(): Promise<void>;
}

/** Whether a backend can run here, and if not, why (shown to users when selection fails). */
export type Availability =
  | { readonly available: true }
  | { readonly available: false; readonly reason: string };

/** What a backend package exports: a factory, never a side effect. */
export interface BackendFactory<Options = unknown> {
  readonly id: BackendId;
  /** Higher is preferred by `'auto'`; a negative priority is never picked automatically. */
  readonly priority: number;
  /** Feature detection only: cheap, no heavy initialisation. */
  isAvailable(): Promise<Availability>;
  create(options?: Options): Promise<KernelBackend>;
}
