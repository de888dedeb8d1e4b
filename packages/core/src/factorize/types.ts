import type { KernelBackend } from '../kernel/kernel-backend';
import type { BitAccounting } from '../layers/bits-per-weight';
import type { DbfLayer, MdbfLayer } from '../layers/types';

/** A dense row-major matrix: `rows` = out_features (n), `cols` = in_features (m), as in `W·x`. */
export interface DenseMatrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

export interface FactorizeProgress {
  /** 1-based outer iteration just finished. */
  readonly iteration: number;
  readonly iterations: number;
  /**
   * `‖D_o(W − Ŵ)D_i‖_F / ‖D_o W D_i‖_F` of the current iterate (the objective's own relative error; the
   * plain Frobenius one when no importance vectors are given). Computed with one extra GEMM per report.
   */
  readonly relativeError: number;
}

/** Options shared by DBF and MDBF. Give exactly one of `bpw` and `rank`. */
export interface FactorizeOptions {
  /** Runs the GEMMs (and so sets the speed). */
  readonly backend: KernelBackend;
  /** Target bits per weight; the rank is the largest that fits under `bpwAccounting`. */
  readonly bpw?: number;
  /** Explicit middle dimension k (instead of `bpw`). */
  readonly rank?: number;
  /**
   * How `bpw` is counted: 'stored' (default: padded sign rows + F16 scales, exactly what a file holds) or
   * 'binary' (sign bits only, `k·(n+m)/(n·m)`, as the DBF reference counts).
   */
  readonly bpwAccounting?: BitAccounting;
  /** Outer iterations (default 260, as the reference notebooks). */
  readonly iterations?: number;
  /** Seed of every random choice (default 0). Same seed and backend ⇒ the same layer, bit for bit. */
  readonly seed?: number;
  /** Per-input importance (second moments E[x_j²], length in_features). D_i = diag(√v + 1e-8). */
  readonly inputImportance?: Float32Array;
  /** Per-output importance (length out_features). D_o = diag(√v + 1e-8). */
  readonly outputImportance?: Float32Array;
  /**
   * 'random' (N(0,1) factors, the DBF reference) or 'svd' (truncated SVD split U√Σ, V√Σ, then the
   * sign ⊙ rank-l envelope of each factor: MDBF's closed-form initialisation).
   */
  readonly init?: 'random' | 'svd';
  /** ρ0 schedule floor: ρ0 = floor + (1 − floor)·min(1, t/(T−3))³. DBF default 0, MDBF default 0.03. */
  readonly rhoFloor?: number;
  /** Inner ADMM iterations per half-step (default 3). */
  readonly innerIterations?: number;
  /** Relative ridge of the normal equations, times mean(diag G) (default 0.03). */
  readonly ridge?: number;
  /** Power / subspace iterations of each projection (default 5). */
  readonly powerIterations?: number;
  /** Called every `progressInterval` outer iterations (default 10) and after the last one. */
  readonly onProgress?: (progress: FactorizeProgress) => void;
  readonly progressInterval?: number;
  /** Aborts between outer iterations with an `AbortedError`. */
  readonly signal?: AbortSignal;
}

export interface MdbfOptions extends FactorizeOptions {
  /** Envelope rank l (default 2). l = 1 is DBF. */
  readonly envelopeRank?: number;
  /**
   * Activation-aware variant (§2.5): the input Gram matrix `XᵀX` (in_features², row-major, symmetric PSD).
   * The initialisation becomes Cholesky-whitened (SVD-LLM) and the ADMM minimises
   * `tr((W − Ŵ)·H·(W − Ŵ)ᵀ)` instead of the plain Frobenius error. Not combinable with importance vectors.
   */
  readonly gram?: Float32Array;
}

interface ResultCommon {
  readonly rank: number;
  readonly iterations: number;
  /** Bits per weight with F16 scales as stored (padded sign rows included). */
  readonly bitsPerWeight: number;
  /** Sign bits only, `k·(n+m)/(n·m)`. */
  readonly bitsPerWeightBinary: number;
  /** `‖W − Ŵ‖_F / ‖W‖_F` of the returned layer (float32 scales). */
  readonly relativeError: number;
  /** The objective's relative error `‖D_o(W − Ŵ)D_i‖/‖D_o W D_i‖` (or the H-weighted one with `gram`). */
  readonly objectiveRelativeError: number;
  readonly seconds: number;
}

export interface DbfResult extends ResultCommon {
  readonly layer: DbfLayer;
}

export interface MdbfResult extends ResultCommon {
  readonly layer: MdbfLayer;
  readonly envelopeRank: number;
}
