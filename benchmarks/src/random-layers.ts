import type { DbfLayer, PackedSigns, Rng } from '@dbf/core';

/** Uniform values in [−0.5, 0.5): benchmark weights, scales and activations (speed does not depend on them). */
export function randomUniform(rng: Rng, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.uniform() - 0.5;
  return out;
}

/** Random packed signs in the contract's layout, padding bits cleared. */
export function randomSigns(rng: Rng, rows: number, cols: number): PackedSigns {
  const wordsPerRow = Math.ceil(cols / 32);
  const words = new Uint32Array(rows * wordsPerRow);
  for (let i = 0; i < words.length; i++) words[i] = rng.nextUint32();
  const tail = cols & 31;
  if (tail) for (let r = 0; r < rows; r++) words[r * wordsPerRow + wordsPerRow - 1]! &= (1 << tail) - 1;
  return { rows, cols, wordsPerRow, words };
}

/** A random n×m DBF layer of rank k. */
export function randomDbf(rng: Rng, n: number, m: number, k: number): DbfLayer {
  return {
    kind: 'dbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    signA: randomSigns(rng, n, k),
    signB: randomSigns(rng, k, m),
    scaleA: randomUniform(rng, n),
    scaleMid: randomUniform(rng, k),
    scaleB: randomUniform(rng, m),
  };
}

/** Packed sign bytes a DBF layer streams per call (both matrices, rows padded to 32 bits). */
export function dbfSignBytes(n: number, m: number, k: number): number {
  return 4 * (n * Math.ceil(k / 32) + k * Math.ceil(m / 32));
}
