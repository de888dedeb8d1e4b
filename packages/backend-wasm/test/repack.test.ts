import { randomSigns } from '@dbf/conformance';
import { createRng, InvalidArgumentError, packSigns, signAt } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { int8LayoutBytes, int8VectorOffset, laneOfRow, repackSignsInt8 } from '../src/index';

describe('int8 (T-MAC) weight repacking', () => {
  it('laneOfRow puts rows 0..7 on even byte lanes and 8..15 on odd ones, a bijection onto 0..15', () => {
    expect(Array.from({ length: 16 }, (_, i) => laneOfRow(i))).toEqual([
      0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
    ]);
  });

  it('sizes the layout as 16-row blocks × 4·wordsPerRow byte vectors of 16 bytes', () => {
    expect(int8LayoutBytes(1, 1)).toBe(16 * 4);
    expect(int8LayoutBytes(16, 32)).toBe(16 * 4);
    expect(int8LayoutBytes(17, 33)).toBe(32 * 8);
    expect(int8LayoutBytes(4096, 4096)).toBe(4096 * 512);
  });

  it('interleaves the vectors of each pair of row blocks and stores an odd last block alone', () => {
    // 3 blocks, 8 bytes per row: blocks 0 and 1 alternate with a 32-byte step, block 2 follows alone.
    const at = (block: number, j: number) => int8VectorOffset(block, j, 3, 8);
    expect(at(0, 0)).toEqual({ offset: 0, step: 32 });
    expect(at(1, 0)).toEqual({ offset: 16, step: 32 });
    expect(at(0, 1)).toEqual({ offset: 32, step: 32 });
    expect(at(1, 7)).toEqual({ offset: 16 + 7 * 32, step: 32 });
    expect(at(2, 0)).toEqual({ offset: 2 * 16 * 8, step: 16 });
    expect(at(2, 7)).toEqual({ offset: 2 * 16 * 8 + 7 * 16, step: 16 });
    // With an even count every block is paired.
    expect(int8VectorOffset(3, 2, 4, 8)).toEqual({ offset: 2 * 16 * 8 + 16 + 2 * 32, step: 32 });
  });

  it('rejects out-of-range arguments of the layout helpers with typed errors', () => {
    expect(() => laneOfRow(16)).toThrow(InvalidArgumentError);
    expect(() => laneOfRow(1.5)).toThrow(InvalidArgumentError);
    expect(() => int8LayoutBytes(0, 8)).toThrow(InvalidArgumentError);
    expect(() => int8VectorOffset(3, 0, 3, 8)).toThrow(/block must be an integer in \[0, 2\]/);
    expect(() => int8VectorOffset(0, 8, 3, 8)).toThrow(/j must be an integer in \[0, 7\]/);
    expect(() => int8VectorOffset(0, 0, 0, 8)).toThrow(InvalidArgumentError);
  });

  it('places a hand-built 2×40 matrix where the kernel reads it', () => {
    // Row 0: +1 at columns 0, 5 and 39; row 1: +1 at columns 8..15. Everything else −1 (bit clear).
    const values = new Float32Array(80).fill(-1);
    for (const c of [0, 5, 39]) values[c] = 1;
    for (let c = 8; c < 16; c++) values[40 + c] = 1;
    const out = repackSignsInt8(packSigns(values, 2, 40));
    expect(out.length).toBe(8 * 16); // one row block, 2 words per row = 8 byte columns
    const expected = new Uint8Array(8 * 16);
    expected[0 * 16 + laneOfRow(0)] = 0b0010_0001; // columns 0 and 5
    expected[4 * 16 + laneOfRow(0)] = 0b1000_0000; // column 39 = byte 4, bit 7
    expected[1 * 16 + laneOfRow(1)] = 0xff; // columns 8..15
    expect(Array.from(out)).toEqual(Array.from(expected));
  });

  it('places a hand-built 20×8 matrix (a pair of blocks) where the kernel reads it', () => {
    // Row 0: +1 at column 0; row 17 (block 1, row 1): +1 at column 7. One byte column per row.
    const values = new Float32Array(20 * 8).fill(-1);
    values[0] = 1;
    values[17 * 8 + 7] = 1;
    const out = repackSignsInt8(packSigns(values, 20, 8));
    // 2 blocks × 16 rows × 4 bytes (one 32-bit word per row), vectors alternating block 0, block 1.
    expect(out.length).toBe(2 * 16 * 4);
    const expected = new Uint8Array(2 * 16 * 4);
    expected[0 + laneOfRow(0)] = 0b0000_0001; // block 0, vector 0
    expected[16 + laneOfRow(1)] = 0b1000_0000; // block 1, vector 0
    expect(Array.from(out)).toEqual(Array.from(expected));
  });

  it('agrees with the definition on random shapes, with zero rows past the end', () => {
    const rng = createRng(11);
    for (const [rows, cols] of [
      [1, 1],
      [15, 31],
      [16, 32],
      [17, 65],
      [33, 200],
      [100, 129],
    ] as const) {
      const signs = randomSigns(rng, rows, cols);
      const out = repackSignsInt8(signs);
      const bytesPerRow = 4 * signs.wordsPerRow;
      const blocks = Math.ceil(rows / 16);
      expect(out.length).toBe(blocks * 16 * bytesPerRow);
      for (let r = 0; r < blocks * 16; r++) {
        for (let c = 0; c < bytesPerRow * 8; c++) {
          const { offset } = int8VectorOffset(r >> 4, c >> 3, blocks, bytesPerRow);
          const byte = out[offset + laneOfRow(r & 15)]!;
          const bit = (byte >> (c & 7)) & 1;
          const want = r < rows && c < cols && signAt(signs, r, c) === 1 ? 1 : 0;
          if (bit !== want)
            throw new Error(`${rows}x${cols}: row ${r} column ${c} is ${bit}, expected ${want}`);
        }
      }
    }
  });

  it('reuses a destination of the right length and rejects a wrong one', () => {
    const signs = randomSigns(createRng(3), 20, 40);
    const into = new Uint8Array(int8LayoutBytes(20, 40)).fill(0xaa);
    expect(repackSignsInt8(signs, into)).toBe(into);
    expect(Array.from(into)).toEqual(Array.from(repackSignsInt8(signs)));
    expect(() => repackSignsInt8(signs, new Uint8Array(10))).toThrow(InvalidArgumentError);
    expect(() => repackSignsInt8(signs, new Uint8Array(10))).toThrow(
      /int8LayoutBytes\(rows, cols\) = 256 bytes/,
    );
  });
});
