import { assertInteger, InvalidArgumentError, type PackedSigns, validatePackedSigns } from '@dbf/core';

/** Rows per interleaved block of the int8 (T-MAC) layout. */
export const ROW_BLOCK = 16;

/**
 * Byte lane, inside a 16-byte vector of the int8 layout, that holds row `i` (0..15) of a row block:
 * rows 0..7 go to the even lanes and rows 8..15 to the odd lanes, because the kernel adds the even
 * and the odd bytes of each lookup vector into separate 16-bit accumulators (rows 0..7 and 8..15).
 */
export function laneOfRow(i: number): number {
  assertInteger('i', i, 0, ROW_BLOCK - 1);
  return i < 8 ? 2 * i : 2 * (i - 8) + 1;
}

/** Bytes of the int8 layout of a `rows × cols` sign matrix. */
export function int8LayoutBytes(rows: number, cols: number): number {
  assertInteger('rows', rows, 1);
  assertInteger('cols', cols, 1);
  return Math.ceil(rows / ROW_BLOCK) * ROW_BLOCK * 4 * Math.ceil(cols / 32);
}

/**
 * Byte offset, in the int8 layout, of vector `j` (byte `j` of every row) of row block `block`, and the
 * step between that block's consecutive vectors. Blocks are stored in pairs: for blocks 2p and 2p+1
 * the vectors alternate (2p's vector j, then 2p+1's vector j), so the kernel, which handles the two
 * blocks of a pair together, reads one sequential stream; an odd last block is stored alone.
 */
export function int8VectorOffset(
  block: number,
  j: number,
  blocks: number,
  bytesPerRow: number,
): { offset: number; step: number } {
  assertInteger('blocks', blocks, 1);
  assertInteger('block', block, 0, blocks - 1);
  assertInteger('bytesPerRow', bytesPerRow, 1);
  assertInteger('j', j, 0, bytesPerRow - 1);
  const blockBytes = ROW_BLOCK * bytesPerRow;
  const paired = block < (blocks & ~1);
  const step = paired ? 32 : 16;
  const base = paired ? (block & ~1) * blockBytes + (block & 1) * 16 : block * blockBytes;
  return { offset: base + j * step, step };
}

/**
 * Repacks signs into the row-interleaved layout of the int8 T-MAC kernel. Row block `b` holds rows
 * 16b..16b+15 (rows past the end are zero); its vector `j` (at `int8VectorOffset`) holds byte `j` of
 * every row of the block (columns 8j..8j+7, LSB = lowest column, as in PackedSigns) with row `i` in
 * byte lane `laneOfRow(i)`. A byte's low nibble is then the 4-bit table index of columns 8j..8j+3
 * and its high nibble that of 8j+4..8j+7, for 16 rows at once.
 */
export function repackSignsInt8(signs: PackedSigns, into?: Uint8Array): Uint8Array {
  validatePackedSigns('signs', signs);
  const { rows, wordsPerRow: wpr, words } = signs;
  const bytesPerRow = 4 * wpr;
  const blocks = Math.ceil(rows / ROW_BLOCK);
  const out = into ?? new Uint8Array(blocks * ROW_BLOCK * bytesPerRow);
  if (!(out instanceof Uint8Array) || out.length !== blocks * ROW_BLOCK * bytesPerRow) {
    throw new InvalidArgumentError(
      `into must be a Uint8Array of int8LayoutBytes(rows, cols) = ${blocks * ROW_BLOCK * bytesPerRow} bytes.`,
    );
  }
  out.fill(0);
  for (let r = 0; r < rows; r++) {
    const { offset, step } = int8VectorOffset(r >>> 4, 0, blocks, bytesPerRow);
    let dst = offset + laneOfRow(r & 15);
    const src = r * wpr;
    for (let w = 0; w < wpr; w++) {
      const word = words[src + w]!;
      out[dst] = word & 255;
      out[dst + step] = (word >>> 8) & 255;
      out[dst + 2 * step] = (word >>> 16) & 255;
      out[dst + 3 * step] = word >>> 24;
      dst += 4 * step;
    }
  }
  return out;
}

/**
 * The 16 XOR masks of the exact kernel: mask `p` has lane t = 0x80000000 when bit t of `p` is clear
 * (sign −1), so `x ^ mask[p]` is x with the signs of a 4-column pattern applied.
 */
export function signFlipMasks(): Uint32Array {
  const masks = new Uint32Array(64);
  for (let p = 0; p < 16; p++) for (let t = 0; t < 4; t++) masks[4 * p + t] = (p >>> t) & 1 ? 0 : 0x80000000;
  return masks;
}
