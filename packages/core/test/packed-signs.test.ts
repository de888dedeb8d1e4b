import { describe, expect, it } from 'vitest';
import {
  createRng,
  findNonzeroPadding,
  packSigns,
  signAt,
  transposeSigns,
  unpackSigns,
  validatePackedSigns,
} from '../src/index';

describe('packed signs', () => {
  it('packs by the documented rule: bit c%32 of word c/32, LSB first, set means +1', () => {
    // Row 0: + - - + ... ; 35 columns → 2 words per row, 3 columns in the second word.
    const cols = 35;
    const values = new Float32Array(2 * cols).fill(-1);
    values[0] = 1; // (0,0)
    values[3] = 2; // (0,3)
    values[33] = 0; // (0,33): zero maps to +1
    values[cols + 31] = 5; // (1,31)
    const p = packSigns(values, 2, cols);
    expect(p.wordsPerRow).toBe(2);
    expect(Array.from(p.words)).toEqual([0b1001, 0b10, 0x80000000, 0]);
    expect(findNonzeroPadding(p)).toBe(-1);
    expect(signAt(p, 0, 33)).toBe(1);
    expect(signAt(p, 0, 34)).toBe(-1);
  });

  it('round-trips and transposes random matrices', () => {
    const rng = createRng(7);
    for (const [rows, cols] of [
      [1, 1],
      [3, 31],
      [5, 32],
      [7, 33],
      [64, 100],
    ] as const) {
      const v = Float32Array.from({ length: rows * cols }, () => rng.normal());
      const p = packSigns(v, rows, cols);
      const u = unpackSigns(p);
      for (let i = 0; i < v.length; i++) expect(u[i]).toBe(v[i]! >= 0 ? 1 : -1);
      const t = transposeSigns(p);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) expect(signAt(t, c, r)).toBe(signAt(p, r, c));
      validatePackedSigns('t', t, cols, rows);
    }
  });

  it('rejects set padding bits and wrong lengths', () => {
    const p = packSigns(new Float32Array(10).fill(1), 1, 10);
    expect(() => validatePackedSigns('p', { ...p, words: Uint32Array.of(p.words[0]! | (1 << 12)) })).toThrow(
      /padding/,
    );
    expect(() => validatePackedSigns('p', { ...p, words: new Uint32Array(2) })).toThrow(/1 words/);
    expect(() => packSigns([Number.NaN], 1, 1)).toThrow(/NaN/);
  });
});
