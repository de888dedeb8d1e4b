import { InvalidArgumentError } from '../errors';
import { bitsPerWeight, shapeOfLayer } from '../layers/bits-per-weight';
import { dbfToMdbf } from '../layers/dequantize';
import type { MdbfLayer } from '../layers/types';
import { assertInteger } from '../util/assert';
import { factorizeMdbfActivationAware } from './activation-aware';
import { balance, checkWeight, extractFactors, fixEnvelopeSigns, resolveSettings } from './common';
import { dbfLayerFrom, now, runEngine } from './dbf';
import { reconstructWeight, relativeError } from './reconstruct';
import type { DenseMatrix, MdbfOptions, MdbfResult } from './types';

/**
 * Multi-envelope DBF (algorithms.md §2.4–2.5): `W ≈ (S_A ⊙ A·Q_Uᵀ)·(S_B ⊙ Q_V·Bᵀ)` with rank-l envelopes.
 *
 * Closed-form initialisation (rank-r SVD split U√Σ, V√Σ; signs; rank-l envelopes of the magnitudes),
 * then DBF's alternating ADMM with the projection Π_l(M) = sign(M) ⊙ TSVD_l(|M|) (block subspace
 * iteration for l ≥ 2) and ρ0 = 0.03 + 0.97·ramp³, then an exact re-extraction of signs and envelopes.
 * It runs the very engine DBF runs (same transposition and importance scaling), so with l = 1 and DBF's
 * settings (`init: 'random', rhoFloor: 0`) it returns exactly DBF's layer, as an MDBF layer.
 *
 * r comes from `bpw` (MDBF accounting: scales l·(n + 2r + m), clamped to min(n, m)) or `rank`.
 * With `gram` (XᵀX) it runs the activation-aware variant instead (see `factorizeMdbfActivationAware`).
 */
export async function factorizeMdbf(weight: DenseMatrix, options: MdbfOptions): Promise<MdbfResult> {
  const started = now();
  checkWeight(weight);
  const l = assertInteger('envelopeRank', options?.envelopeRank ?? 2, 1, Math.min(weight.rows, weight.cols));
  if (options.gram !== undefined) {
    if (options.inputImportance || options.outputImportance) {
      throw new InvalidArgumentError(
        'gram and importance vectors are alternative objectives; give one or the other.',
      );
    }
    return factorizeMdbfActivationAware(weight, options, l, started);
  }
  const s = resolveSettings(weight, options, 'mdbf', l, { init: 'svd', rhoFloor: 0.03 });
  const { inner, result } = await runEngine(weight, s, options);
  let layer: MdbfLayer;
  if (l === 1) {
    layer = dbfToMdbf(dbfLayerFrom(result, inner, s));
  } else {
    const f = extractFactors(result, inner, s.k, l);
    fixEnvelopeSigns(f.envA, f.envQU, s.n, s.k, l);
    fixEnvelopeSigns(f.envB, f.envQV, s.m, s.k, l);
    const envA = f.envA;
    const envQU = f.envQU;
    const envQV = f.envQV;
    const envB = f.envB;
    balance([envA, envQU, envQV, envB]);
    layer = {
      kind: 'mdbf',
      outFeatures: s.n,
      inFeatures: s.m,
      rank: s.k,
      envelopeRank: l,
      signA: f.signA,
      signB: f.signB,
      envA,
      envQU,
      envQV,
      envB,
    };
  }
  const approx = await reconstructWeight(s.backend, layer);
  const rel = relativeError(weight.data, approx, s.n, s.m);
  return {
    layer,
    envelopeRank: l,
    rank: s.k,
    iterations: s.iterations,
    bitsPerWeight: bitsPerWeight(shapeOfLayer(layer)),
    bitsPerWeightBinary: bitsPerWeight(shapeOfLayer(layer), 'binary'),
    relativeError: rel,
    objectiveRelativeError:
      s.dOut || s.dIn ? relativeError(weight.data, approx, s.n, s.m, s.dOut, s.dIn) : rel,
    seconds: (now() - started) / 1000,
  };
}
