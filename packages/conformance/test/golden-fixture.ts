import { type DbfLayer, dbfToMdbf, type LinearLayer } from '@dbf/core';
import { type GoldenFile, type GoldenLinearVector, type GoldenOpener, openGoldenFile } from '../src/index';

/**
 * A hand-computed golden vector, so the golden checks run (and can fail) whatever the bundled vectors are.
 *
 * S_A = [[+1, −1], [+1, +1]], S_B = [[+1, +1, −1], [−1, +1, +1]], a = (2, 1), μ = (1, 3), b = (1, 2, 1):
 * S_A·diag(μ)·S_B = [[4, −2, −4], [−2, 4, 2]], so W = [[8, −8, −8], [−2, 8, 2]]. With bias (1, −1),
 * x₀ = (1, 2, 3) gives (−31, 19) and x₁ = (−1, 0, 2) gives (−23, 5).
 */
export const HAND_DBF: DbfLayer = {
  kind: 'dbf',
  outFeatures: 2,
  inFeatures: 3,
  rank: 2,
  signA: { rows: 2, cols: 2, wordsPerRow: 1, words: Uint32Array.of(0b01, 0b11) },
  signB: { rows: 2, cols: 3, wordsPerRow: 1, words: Uint32Array.of(0b011, 0b110) },
  scaleA: Float32Array.of(2, 1),
  scaleMid: Float32Array.of(1, 3),
  scaleB: Float32Array.of(1, 2, 1),
  bias: Float32Array.of(1, -1),
};

const RECORD = { batch: 2, x: [1, 2, 3, -1, 0, 2], y: [-31, 19, -23, 5], w: [8, -8, -8, -2, 8, 2] };

/** "dbf" in base64: the fake file's bytes, checked by the opener so decoding is exercised too. */
export const HAND_VECTOR: GoldenLinearVector = {
  name: 'hand-computed',
  file: 'ZGJm',
  layers: [
    { name: 'fc.dbf', ...RECORD },
    { name: 'fc.mdbf', ...RECORD },
  ],
};

const HAND_LAYERS: Record<string, LinearLayer> = { 'fc.dbf': HAND_DBF, 'fc.mdbf': dbfToMdbf(HAND_DBF) };

/** Opens the hand-computed vector in memory and every other vector with core's reader. */
export const openWithHandVector: GoldenOpener = async (bytes) => {
  if (new TextDecoder().decode(bytes) !== 'dbf') return openGoldenFile(bytes);
  const file: GoldenFile = {
    async loadLayer(name) {
      const layer = HAND_LAYERS[name];
      if (!layer) throw new Error(`no layer ${name} in the hand-computed vector`);
      return layer;
    },
  };
  return file;
};
