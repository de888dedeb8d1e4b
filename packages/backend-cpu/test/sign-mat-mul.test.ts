import { createRng, type KernelBackend, packSigns } from '@dbf/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpu } from '../src/index';
import { maxUlpError, randomSigns, randomValues, referenceSignMatMul } from './reference';

let backend: KernelBackend;
beforeAll(async () => {
  backend = await cpu().create();
});
afterAll(async () => {
  await backend.dispose();
});

describe('signMatMul', () => {
  it('computes a hand-checked 2×3 product', async () => {
    // S = [[+1, −1, +1], [−1, −1, +1]], x = (1, 2, 4): y = (3, 1).
    const signs = await backend.uploadSigns(packSigns([1, -1, 1, -1, -1, 1], 2, 3));
    // Held as one block of 4 rows (the kernels' tiled layout): 4 words.
    expect(signs).toMatchObject({ backendId: 'cpu', rows: 2, cols: 3, byteLength: 16 });
    const y = await backend.signMatMul({ signs, input: new Float32Array([1, 2, 4]), batch: 1 });
    expect(Array.from(y)).toEqual([3, 1]);
    signs.dispose();
  });

  // cols 1, 7, 8, 9 exercise partial byte groups; 31/32/33 word edges; 100, 257 and 300 several K tiles of
  // every lane width; rows with remainders 1..3 for the 4-row loop.
  for (const [rows, cols] of [
    [1, 1],
    [3, 7],
    [5, 8],
    [6, 9],
    [9, 31],
    [4, 32],
    [11, 33],
    [33, 100],
    [2, 257],
    [70, 300],
  ] as const) {
    for (const batch of [1, 2, 3, 4, 5, 8, 13]) {
      it(`is exact on integer inputs: ${rows}×${cols}, batch ${batch}`, async () => {
        const rng = createRng(rows * 997 + cols * 13 + batch);
        const s = randomSigns(rng, rows, cols);
        const signs = await backend.uploadSigns(s);
        const input = randomValues(rng, batch * cols, 'integer');
        const y = await backend.signMatMul({ signs, input, batch });
        expect(Array.from(y)).toEqual(Array.from(referenceSignMatMul(s, input, batch)));
        signs.dispose();
      });
    }
  }

  it('matches the float64 reference on random inputs', async () => {
    const rng = createRng(12);
    const s = randomSigns(rng, 77, 611);
    const signs = await backend.uploadSigns(s);
    const input = randomValues(rng, 6 * 611, 'normal');
    const y = await backend.signMatMul({ signs, input, batch: 6 });
    expect(maxUlpError(y, referenceSignMatMul(s, input, 6))).toBeLessThanOrEqual(1);
    signs.dispose();
  });

  it('reuses the output buffer and overwrites it', async () => {
    const rng = createRng(13);
    const s = randomSigns(rng, 10, 45);
    const signs = await backend.uploadSigns(s);
    const output = new Float32Array(20).fill(Number.NaN);
    for (let round = 0; round < 2; round++) {
      const input = randomValues(rng, 90, 'integer');
      expect(await backend.signMatMul({ signs, input, batch: 2, output })).toBe(output);
      expect(Array.from(output)).toEqual(Array.from(referenceSignMatMul(s, input, 2)));
    }
    signs.dispose();
  });

  it('keeps its own copy of the words', async () => {
    const s = packSigns([1, 1, 1, 1], 1, 4);
    const signs = await backend.uploadSigns(s);
    s.words[0] = 0;
    expect(
      Array.from(await backend.signMatMul({ signs, input: new Float32Array([1, 2, 3, 4]), batch: 1 })),
    ).toEqual([10]);
    signs.dispose();
  });
});
