import {
  bitsPerWeight,
  type DenseLayer,
  type DenseMatrix,
  type FactorizeProgress,
  factorizeDbf,
  factorizeMdbf,
  InvalidArgumentError,
  type KernelBackend,
  type LinearLayer,
  rtnBaseline,
  svidBaseline,
} from '@dbf/core';

/**
 * How each linear is compressed:
 * - `dbf`, `mdbf`: stored as DBF / MDBF layers (the product);
 * - `svid` (OneBit-style sign ⊙ rank-1, ≈1 bpw) and `rtn` (round-to-nearest, groups of 64): baselines for
 *   comparison. Format v1 has no layer type for them, so they are stored as their dequantized weights
 *   (dense F16: the file is not smaller) and their bpw is what their own format would take.
 */
export type CompressionMethod = 'dbf' | 'mdbf' | 'svid' | 'rtn';
export const COMPRESSION_METHODS: readonly CompressionMethod[] = ['dbf', 'mdbf', 'svid', 'rtn'];

export interface LinearTarget {
  readonly method: CompressionMethod;
  /** DBF / MDBF middle dimension k. */
  readonly rank?: number;
  /** MDBF envelope rank l. */
  readonly envelopeRank?: number;
  /** RTN bits per weight (integer grid). */
  readonly bits?: number;
}

export interface CompressLinearOptions {
  readonly backend: KernelBackend;
  readonly iterations: number;
  readonly seed: number;
  /** `E[x_j²]` of the layer's inputs (the objective's input importance). */
  readonly inputImportance?: Float32Array;
  /** `E[x xᵀ]`: with MDBF, selects the activation-aware variant (then `inputImportance` is not used). */
  readonly gram?: Float32Array;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: FactorizeProgress) => void;
}

export interface CompressedLinear {
  /** What the model runs: a DBF/MDBF layer, or the dequantized dense weight of a baseline. */
  readonly layer: LinearLayer;
  readonly method: CompressionMethod;
  readonly rank?: number;
  readonly envelopeRank?: number;
  /** Bits per weight as stored by the method's own format (F16 scales, padded sign rows for DBF/MDBF). */
  readonly bitsPerWeight: number;
  /** `‖W − Ŵ‖_F / ‖W‖_F`. */
  readonly relativeError: number;
  /** The relative error of the objective the method minimised (importance-weighted when given). */
  readonly objectiveError: number;
  readonly seconds: number;
}

/** Compresses one `n×m` weight matrix as `target` says. */
export async function compressLinear(
  weight: DenseMatrix,
  target: LinearTarget,
  options: CompressLinearOptions,
): Promise<CompressedLinear> {
  const start = performance.now();
  const seconds = () => (performance.now() - start) / 1000;
  switch (target.method) {
    case 'dbf': {
      const r = await factorizeDbf(weight, {
        backend: options.backend,
        rank: requireRank(target),
        iterations: options.iterations,
        seed: options.seed,
        ...(options.inputImportance ? { inputImportance: options.inputImportance } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      return {
        layer: r.layer,
        method: 'dbf',
        rank: r.rank,
        envelopeRank: 1,
        bitsPerWeight: r.bitsPerWeight,
        relativeError: r.relativeError,
        objectiveError: r.objectiveRelativeError,
        seconds: seconds(),
      };
    }
    case 'mdbf': {
      const r = await factorizeMdbf(weight, {
        backend: options.backend,
        rank: requireRank(target),
        envelopeRank: target.envelopeRank ?? 2,
        iterations: options.iterations,
        seed: options.seed,
        ...(options.gram
          ? { gram: options.gram }
          : options.inputImportance
            ? { inputImportance: options.inputImportance }
            : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      return {
        layer: r.layer,
        method: 'mdbf',
        rank: r.rank,
        envelopeRank: r.envelopeRank,
        bitsPerWeight: r.bitsPerWeight,
        relativeError: r.relativeError,
        objectiveError: r.objectiveRelativeError,
        seconds: seconds(),
      };
    }
    case 'svid': {
      const r = await svidBaseline(options.backend, weight);
      return baseline(weight, r.weight, 'svid', r.bitsPerWeight, r.relativeError, seconds());
    }
    case 'rtn': {
      const r = rtnBaseline(weight, target.bits ?? 2);
      return baseline(weight, r.weight, 'rtn', r.bitsPerWeight, r.relativeError, seconds());
    }
    default:
      throw new InvalidArgumentError(
        `method must be one of ${COMPRESSION_METHODS.join(', ')}, got ${JSON.stringify((target as LinearTarget).method)}.`,
      );
  }
}

/** Bits per weight a DBF/MDBF layer of this shape and rank takes on disk (F16 scales). */
export function storedBpw(
  kind: 'dbf' | 'mdbf',
  outFeatures: number,
  inFeatures: number,
  rank: number,
  envelopeRank = 1,
): number {
  return bitsPerWeight({
    kind,
    outFeatures,
    inFeatures,
    rank,
    envelopeRank: kind === 'dbf' ? 1 : envelopeRank,
  });
}

function requireRank(target: LinearTarget): number {
  if (target.rank === undefined || !Number.isSafeInteger(target.rank) || target.rank < 1)
    throw new InvalidArgumentError(
      `A ${target.method} target needs a positive integer rank, got ${target.rank}.`,
    );
  return target.rank;
}

function baseline(
  weight: DenseMatrix,
  data: Float32Array,
  method: 'svid' | 'rtn',
  bpw: number,
  relativeError: number,
  seconds: number,
): CompressedLinear {
  const layer: DenseLayer = {
    kind: 'dense',
    outFeatures: weight.rows,
    inFeatures: weight.cols,
    weight: data,
  };
  return { layer, method, bitsPerWeight: bpw, relativeError, objectiveError: relativeError, seconds };
}
