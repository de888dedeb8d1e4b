import { createRng } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { paddedRows, signMatMulLanes, TABLE_LENGTH, tiledByteLength, tileSigns } from '../src/sign-lut';
import { randomSigns, referenceSignMatMul } from './reference';

describe('tiled sign layout', () => {
  it('places word j of row 4b+i of tile t where the layout comment says', () => {
    const rng = createRng(1);
    // 6 rows (2 blocks, 2 padding rows), 200 columns = 7 words: one full tile of 4 words, one of 3.
    const s = randomSigns(rng, 6, 200);
    const tiled = tileSigns(s);
    expect(tiled.blocks).toBe(2);
    expect(paddedRows(tiled)).toBe(8);
    expect(tiled.words.length).toBe(8 * 7);
    expect(tiledByteLength(s)).toBe(tiled.words.byteLength);
    for (let r = 0; r < 8; r++) {
      for (let w = 0; w < 7; w++) {
        const tile = Math.floor(w / 4);
        const nw = Math.min(4, 7 - 4 * tile);
        const at = 4 * tile * 4 * tiled.blocks + 4 * nw * Math.floor(r / 4) + 4 * (w - 4 * tile) + (r % 4);
        expect(tiled.words[at]).toBe(r < 6 ? s.words[r * 7 + w] : 0);
      }
    }
  });
});

describe('signMatMulLanes', () => {
  it('computes every lane count from 1 to 9 on interleaved vectors, leaving other memory alone', () => {
    const rng = createRng(2);
    const s = randomSigns(rng, 13, 301);
    const tiled = tileSigns(s);
    const table = new Float64Array(TABLE_LENGTH);
    for (let lanes = 1; lanes <= 9; lanes++) {
      // Integer activations, stored interleaved after a 5-element offset.
      const batch = Float32Array.from({ length: lanes * 301 }, () => rng.int(11) - 5);
      const x = new Float64Array(5 + lanes * 301);
      for (let b = 0; b < lanes; b++)
        for (let c = 0; c < 301; c++) x[5 + c * lanes + b] = batch[b * 301 + c]!;
      const yOffset = 3;
      const y = new Float64Array(yOffset + paddedRows(tiled) * lanes + 4).fill(Number.NaN);
      signMatMulLanes(tiled, x, 5, y, yOffset, lanes, table);
      const expected = referenceSignMatMul(s, batch, lanes);
      for (let b = 0; b < lanes; b++) {
        for (let r = 0; r < 13; r++) expect(y[yOffset + r * lanes + b]).toBe(expected[b * 13 + r]);
      }
      // Outside [yOffset, yOffset + paddedRows·lanes) nothing is written.
      expect(Number.isNaN(y[yOffset - 1]!)).toBe(true);
      expect(Number.isNaN(y[yOffset + paddedRows(tiled) * lanes]!)).toBe(true);
    }
  });
});
