import { InvalidArgumentError } from '../errors';
import { assertInteger, checkedProduct } from '../util/assert';

/**
 * A ±1 matrix stored one bit per entry — the layout every backend and the file format share.
 *
 * - Row-major. Row `r` occupies words `[r·wordsPerRow, (r+1)·wordsPerRow)`.
 * - `wordsPerRow = ceil(cols / 32)`: each row is padded to whole 32-bit words, so that every row starts
 *   on a 4-byte boundary and kernels can use aligned 32-bit loads.
 * - Entry `(r, c)` is bit `c mod 32` (LSB first) of word `r·wordsPerRow + floor(c / 32)`.
 * - Bit set ⇒ +1, bit clear ⇒ −1.
 * - Padding bits (columns ≥ cols in the last word of each row) MUST be zero.
 *
 * Because words are little-endian on disk, the same rule read byte-wise is: entry `(r, c)` is bit `c mod 8`
 * of byte `4·r·wordsPerRow + floor(c / 8)`.
 */
export interface PackedSigns {
  readonly rows: number;
  readonly cols: number;
  readonly wordsPerRow: number;
  readonly words: Uint32Array;
}

export function wordsPerRow(cols: number): number {
  return Math.ceil(cols / 32);
}

/** Checks shape, length and zero padding bits; returns the argument for chaining. */
export function validatePackedSigns(
  name: string,
  signs: PackedSigns,
  rows?: number,
  cols?: number,
): PackedSigns {
  if (typeof signs !== 'object' || signs === null) {
    throw new InvalidArgumentError(`${name} must be a PackedSigns object.`);
  }
  assertInteger(`${name}.rows`, signs.rows, 1);
  assertInteger(`${name}.cols`, signs.cols, 1);
  if (rows !== undefined && signs.rows !== rows) {
    throw new InvalidArgumentError(`${name} must have ${rows} rows, got ${signs.rows}.`);
  }
  if (cols !== undefined && signs.cols !== cols) {
    throw new InvalidArgumentError(`${name} must have ${cols} columns, got ${signs.cols}.`);
  }
  const wpr = wordsPerRow(signs.cols);
  if (signs.wordsPerRow !== wpr) {
    throw new InvalidArgumentError(
      `${name}.wordsPerRow must be ceil(${signs.cols}/32) = ${wpr}, got ${signs.wordsPerRow}.`,
    );
  }
  if (!(signs.words instanceof Uint32Array)) {
    throw new InvalidArgumentError(`${name}.words must be a Uint32Array.`);
  }
  const expected = checkedProduct(`${name} size`, [signs.rows, wpr]);
  if (signs.words.length !== expected) {
    throw new InvalidArgumentError(
      `${name}.words must have rows·wordsPerRow = ${expected} words, got ${signs.words.length}.`,
    );
  }
  const bad = findNonzeroPadding(signs);
  if (bad >= 0) {
    throw new InvalidArgumentError(
      `${name} row ${bad} has padding bits set beyond column ${signs.cols}; they must be zero.`,
    );
  }
  return signs;
}

/** Index of the first row whose padding bits are not zero, or -1. */
export function findNonzeroPadding(signs: PackedSigns): number {
  const tail = signs.cols & 31;
  if (tail === 0) return -1;
  const mask = ~((1 << tail) - 1) >>> 0;
  const wpr = signs.wordsPerRow;
  for (let r = 0; r < signs.rows; r++) {
    if ((signs.words[r * wpr + wpr - 1]! & mask) !== 0) return r;
  }
  return -1;
}

/**
 * Packs a dense row-major matrix into signs: values `>= 0` become +1 (0 maps to +1, as in the reference
 * implementation), negative values −1. NaN is rejected.
 */
export function packSigns(values: ArrayLike<number>, rows: number, cols: number): PackedSigns {
  assertInteger('rows', rows, 1);
  assertInteger('cols', cols, 1);
  const total = checkedProduct('rows × cols', [rows, cols]);
  if (values.length !== total) {
    throw new InvalidArgumentError(`values must have rows·cols = ${total} elements, got ${values.length}.`);
  }
  const wpr = wordsPerRow(cols);
  const words = new Uint32Array(rows * wpr);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      const v = values[base + c]!;
      if (Number.isNaN(v))
        throw new InvalidArgumentError(`values[${base + c}] is NaN; cannot take its sign.`);
      if (v >= 0) words[r * wpr + (c >>> 5)]! |= 1 << (c & 31);
    }
  }
  // `|=` on a Uint32Array element stores the unsigned result, so no fix-up is needed.
  return { rows, cols, wordsPerRow: wpr, words };
}

/** Expands signs to a dense row-major Float32Array of ±1. */
export function unpackSigns(signs: PackedSigns): Float32Array {
  const { rows, cols, wordsPerRow: wpr, words } = signs;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = (words[r * wpr + (c >>> 5)]! >>> (c & 31)) & 1 ? 1 : -1;
    }
  }
  return out;
}

/** The sign (+1 or −1) at row `r`, column `c`. */
export function signAt(signs: PackedSigns, r: number, c: number): 1 | -1 {
  return (signs.words[r * signs.wordsPerRow + (c >>> 5)]! >>> (c & 31)) & 1 ? 1 : -1;
}

/** The transpose, packed in the same layout. */
export function transposeSigns(signs: PackedSigns): PackedSigns {
  const { rows, cols } = signs;
  const wpr = wordsPerRow(rows);
  const words = new Uint32Array(cols * wpr);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if ((signs.words[r * signs.wordsPerRow + (c >>> 5)]! >>> (c & 31)) & 1)
        words[c * wpr + (r >>> 5)]! |= 1 << (r & 31);
    }
  }
  return { rows: cols, cols: rows, wordsPerRow: wpr, words };
}
