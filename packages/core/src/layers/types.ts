import type { PackedSigns } from './packed-signs';

/**
 * DBF linear layer: `W ≈ diag(scaleA) · signA · diag(scaleMid) · signB · diag(scaleB)` (n×m), so that
 * `y = W·x (+ bias)` is two sign matmuls and three element-wise scalings.
 *
 * `n = outFeatures`, `m = inFeatures`, `k = rank` (the middle dimension, which sets the bits per weight).
 */
export interface DbfLayer {
  readonly kind: 'dbf';
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly rank: number;
  /** S_A, n×k. */
  readonly signA: PackedSigns;
  /** S_B, k×m. */
  readonly signB: PackedSigns;
  /** a, length n. */
  readonly scaleA: Float32Array;
  /** μ, length k. */
  readonly scaleMid: Float32Array;
  /** b, length m. */
  readonly scaleB: Float32Array;
  readonly bias?: Float32Array;
}

/**
 * MDBF linear layer with envelope rank `l`:
 * `W ≈ (S_A ⊙ (envA · envQUᵀ)) · (S_B ⊙ (envQV · envBᵀ))`.
 *
 * All envelope matrices are row-major: `envA` n×l, `envQU` k×l, `envQV` k×l, `envB` m×l.
 * With `l = 1` this is exactly DBF with `a = envA`, `μ = envQU ⊙ envQV`, `b = envB`.
 */
export interface MdbfLayer {
  readonly kind: 'mdbf';
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly rank: number;
  readonly envelopeRank: number;
  readonly signA: PackedSigns;
  readonly signB: PackedSigns;
  readonly envA: Float32Array;
  readonly envQU: Float32Array;
  readonly envQV: Float32Array;
  readonly envB: Float32Array;
  readonly bias?: Float32Array;
}

/** An uncompressed linear layer (embeddings head, or layers left dense): `weight` is n×m row-major. */
export interface DenseLayer {
  readonly kind: 'dense';
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly weight: Float32Array;
  readonly bias?: Float32Array;
}

export type CompressedLayer = DbfLayer | MdbfLayer;
export type LinearLayer = DbfLayer | MdbfLayer | DenseLayer;
