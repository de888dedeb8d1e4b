/**
 * Sign matrix × activations by table lookup (T-MAC with groups of g = 8 activations).
 *
 * For every 8 consecutive columns a 256-entry table holds all signed partial sums Σ ±x_j; a row's packed
 * byte for those columns is then an index into the table, so 8 sign-MACs become one load and one add.
 * Tables are float64 and exact sums of the float64 activations (built from two 16-entry nibble halves),
 * so results equal a float64 reference up to rounding, and exactly on integer-valued inputs.
 *
 * Layout. At upload the packed rows are re-laid out once into K tiles of 4 words (128 columns): within a
 * tile, blocks of 4 rows, and within a block the words of the 4 rows interleaved word by word. A tile is
 * then one contiguous stream that the row loop reads front to back with a single pointer, while the
 * tile's tables (16 groups × 256 doubles = 32 KiB) stay in L1. In V8 this is about 1.3× faster than
 * reading 4 rows of the original layout side by side.
 *
 * Several vectors ("lanes", a batch or MDBF's envelope columns) share one pass over the sign words
 * through vector tables whose entries are lane-contiguous (Vec-LUT): one index computation, then 2 or 4
 * adjacent loads. Activations and results are lane-interleaved (`x[c·L + lane]`, `y[r·L + lane]`), so a
 * row's results for all lanes share a cache line.
 */
import type { PackedSigns } from '@dbf/core';

/** Words per K tile (128 columns). */
const TILE_WORDS = 4;
/** Rows interleaved per block. */
const BLOCK_ROWS = 4;

/** Doubles of lookup-table workspace the kernels need (32 KiB). */
export const TABLE_LENGTH = 4096;

/** A sign matrix in the tiled layout the kernels read. */
export interface TiledSigns {
  readonly rows: number;
  readonly cols: number;
  readonly wordsPerRow: number;
  /** ⌈rows / 4⌉: rows are padded to whole blocks with zero words. */
  readonly blocks: number;
  readonly words: Uint32Array;
}

/** Bytes `tileSigns` allocates for `s`: rows padded to whole blocks of 4. */
export function tiledByteLength(s: PackedSigns): number {
  return 4 * BLOCK_ROWS * Math.ceil(s.rows / BLOCK_ROWS) * s.wordsPerRow;
}

/**
 * Re-lays out packed signs: tile t (words 4t … 4t+nw−1 of every row) starts at word 4t·4·blocks; block b of
 * it at tileStart + 4·nw·b; word j of row 4b+i at blockStart + 4j + i.
 */
export function tileSigns(s: PackedSigns): TiledSigns {
  const { rows, cols, wordsPerRow: wpr, words: src } = s;
  const blocks = Math.ceil(rows / BLOCK_ROWS);
  const words = new Uint32Array(blocks * BLOCK_ROWS * wpr);
  let q = 0;
  for (let w0 = 0; w0 < wpr; w0 += TILE_WORDS) {
    const nw = Math.min(TILE_WORDS, wpr - w0);
    for (let b = 0; b < blocks; b++) {
      for (let j = 0; j < nw; j++) {
        for (let i = 0; i < BLOCK_ROWS; i++) {
          const r = b * BLOCK_ROWS + i;
          words[q++] = r < rows ? src[r * wpr + w0 + j]! : 0;
        }
      }
    }
  }
  return { rows, cols, wordsPerRow: wpr, blocks, words };
}

/** Rows of a tiled matrix rounded up to whole blocks: the kernels write this many results per lane. */
export function paddedRows(s: TiledSigns): number {
  return BLOCK_ROWS * s.blocks;
}

/**
 * `y = S · x` for `lanes` interleaved vectors: lane `b` of the input is `x[xOffset + c·lanes + b]` for
 * column `c`, of the output `y[yOffset + r·lanes + b]`. All `paddedRows(s)` rows of the output are
 * overwritten (rows past `s.rows` hold junk), so `y` needs room for `paddedRows(s)·lanes` values.
 * `table` is scratch of at least `TABLE_LENGTH` doubles.
 */
export function signMatMulLanes(
  s: TiledSigns,
  x: Float64Array,
  xOffset: number,
  y: Float64Array,
  yOffset: number,
  lanes: number,
  table: Float64Array,
): void {
  y.fill(0, yOffset, yOffset + paddedRows(s) * lanes);
  let b = 0;
  for (; b + 4 <= lanes; b += 4) lanes4(s, x, xOffset + b, y, yOffset + b, lanes, table);
  if (b + 2 <= lanes) {
    lanes2(s, x, xOffset + b, y, yOffset + b, lanes, table);
    b += 2;
  }
  if (b < lanes) lanes1(s, x, xOffset + b, y, yOffset + b, lanes, table);
}

// ---------------------------------------------------------------------------------------------------
// Tables. Entry p of a group is Σ_j (bit j of p ? +x_j : −x_j) = lo[p & 15] + hi[p >> 4], where lo and hi
// are the signed sums of the group's first and last four activations. Columns past `cols` count as 0.

/**
 * Tables of `width` lanes for the groups of columns [c0, c1) (c1 a multiple of 8, may pass `cols`):
 * entry (group g, pattern p, lane b) at t[(256g + p)·width + b]. Column c of lane b is x[xo + c·xs + b].
 * Unrolled over the 16 low nibbles: one add per entry from values held in registers.
 */
function buildTables(
  x: Float64Array,
  xo: number,
  xs: number,
  width: number,
  cols: number,
  c0: number,
  c1: number,
  t: Float64Array,
): void {
  for (let c = c0, base = 0; c < c1; c += 8, base += 256 * width) {
    const e = cols - c;
    for (let b = 0; b < width; b++) {
      const p = xo + c * xs + b;
      const x0 = e > 0 ? x[p]! : 0;
      const x1 = e > 1 ? x[p + xs]! : 0;
      const x2 = e > 2 ? x[p + 2 * xs]! : 0;
      const x3 = e > 3 ? x[p + 3 * xs]! : 0;
      const x4 = e > 4 ? x[p + 4 * xs]! : 0;
      const x5 = e > 5 ? x[p + 5 * xs]! : 0;
      const x6 = e > 6 ? x[p + 6 * xs]! : 0;
      const x7 = e > 7 ? x[p + 7 * xs]! : 0;
      const lo0 = -x0 - x1 - x2 - x3;
      const d0 = 2 * x0;
      const d1 = 2 * x1;
      const d2 = 2 * x2;
      const d3 = 2 * x3;
      const hi0 = -x4 - x5 - x6 - x7;
      const e4 = 2 * x4;
      const e5 = 2 * x5;
      const e6 = 2 * x6;
      const e7 = 2 * x7;
      for (let h = 0; h < 16; h++) {
        const hi = hi0 + (h & 1 ? e4 : 0) + (h & 2 ? e5 : 0) + (h & 4 ? e6 : 0) + (h & 8 ? e7 : 0);
        let o = base + (h << 4) * width + b;
        const v0 = hi + lo0;
        const v1 = v0 + d0;
        const v2 = v0 + d1;
        const v3 = v1 + d1;
        const v4 = v0 + d2;
        const v5 = v1 + d2;
        const v6 = v2 + d2;
        const v7 = v3 + d2;
        t[o] = v0;
        t[(o += width)] = v1;
        t[(o += width)] = v2;
        t[(o += width)] = v3;
        t[(o += width)] = v4;
        t[(o += width)] = v5;
        t[(o += width)] = v6;
        t[(o += width)] = v7;
        t[(o += width)] = v0 + d3;
        t[(o += width)] = v1 + d3;
        t[(o += width)] = v2 + d3;
        t[(o += width)] = v3 + d3;
        t[(o += width)] = v4 + d3;
        t[(o += width)] = v5 + d3;
        t[(o += width)] = v6 + d3;
        t[(o += width)] = v7 + d3;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// One lane: scalar tables for a whole tile; one block (4 rows, 4 accumulators) per pass.

/** `stride` is the lane count of the interleaved `x` and `y` (the distance between a lane's neighbours). */
function lanes1(
  s: TiledSigns,
  x: Float64Array,
  xo: number,
  y: Float64Array,
  yo: number,
  stride: number,
  t: Float64Array,
): void {
  const { cols, wordsPerRow: wpr, blocks, words } = s;
  let q = 0;
  for (let w0 = 0; w0 < wpr; w0 += TILE_WORDS) {
    const nw = Math.min(TILE_WORDS, wpr - w0);
    buildTables(x, xo, stride, 1, cols, 32 * w0, 32 * (w0 + nw), t);
    if (nw === TILE_WORDS) q = fullTile1(words, q, blocks, y, yo, stride, t);
    else q = partialTile1(words, q, nw, blocks, y, yo, stride, t);
  }
}

/**
 * A whole tile (4 words per row), unrolled: table offsets become constants (word j at 1024j, byte k at
 * +256k), which saves V8 a loop counter and registers (about 10 % faster than the loop below).
 * Returns the position after the tile.
 */
function fullTile1(
  words: Uint32Array,
  q: number,
  blocks: number,
  y: Float64Array,
  yo: number,
  ys: number,
  t: Float64Array,
): number {
  for (let b = 0, p = yo; b < blocks; b++, q += 16, p += BLOCK_ROWS * ys) {
    let u0 = words[q]!;
    let u1 = words[q + 1]!;
    let u2 = words[q + 2]!;
    let u3 = words[q + 3]!;
    let a0 =
      t[u0 & 255]! + t[256 | ((u0 >>> 8) & 255)]! + (t[512 | ((u0 >>> 16) & 255)]! + t[768 | (u0 >>> 24)]!);
    let a1 =
      t[u1 & 255]! + t[256 | ((u1 >>> 8) & 255)]! + (t[512 | ((u1 >>> 16) & 255)]! + t[768 | (u1 >>> 24)]!);
    let a2 =
      t[u2 & 255]! + t[256 | ((u2 >>> 8) & 255)]! + (t[512 | ((u2 >>> 16) & 255)]! + t[768 | (u2 >>> 24)]!);
    let a3 =
      t[u3 & 255]! + t[256 | ((u3 >>> 8) & 255)]! + (t[512 | ((u3 >>> 16) & 255)]! + t[768 | (u3 >>> 24)]!);
    u0 = words[q + 4]!;
    u1 = words[q + 5]!;
    u2 = words[q + 6]!;
    u3 = words[q + 7]!;
    a0 +=
      t[1024 | (u0 & 255)]! +
      t[1280 | ((u0 >>> 8) & 255)]! +
      (t[1536 | ((u0 >>> 16) & 255)]! + t[1792 | (u0 >>> 24)]!);
    a1 +=
      t[1024 | (u1 & 255)]! +
      t[1280 | ((u1 >>> 8) & 255)]! +
      (t[1536 | ((u1 >>> 16) & 255)]! + t[1792 | (u1 >>> 24)]!);
    a2 +=
      t[1024 | (u2 & 255)]! +
      t[1280 | ((u2 >>> 8) & 255)]! +
      (t[1536 | ((u2 >>> 16) & 255)]! + t[1792 | (u2 >>> 24)]!);
    a3 +=
      t[1024 | (u3 & 255)]! +
      t[1280 | ((u3 >>> 8) & 255)]! +
      (t[1536 | ((u3 >>> 16) & 255)]! + t[1792 | (u3 >>> 24)]!);
    u0 = words[q + 8]!;
    u1 = words[q + 9]!;
    u2 = words[q + 10]!;
    u3 = words[q + 11]!;
    a0 +=
      t[2048 | (u0 & 255)]! +
      t[2304 | ((u0 >>> 8) & 255)]! +
      (t[2560 | ((u0 >>> 16) & 255)]! + t[2816 | (u0 >>> 24)]!);
    a1 +=
      t[2048 | (u1 & 255)]! +
      t[2304 | ((u1 >>> 8) & 255)]! +
      (t[2560 | ((u1 >>> 16) & 255)]! + t[2816 | (u1 >>> 24)]!);
    a2 +=
      t[2048 | (u2 & 255)]! +
      t[2304 | ((u2 >>> 8) & 255)]! +
      (t[2560 | ((u2 >>> 16) & 255)]! + t[2816 | (u2 >>> 24)]!);
    a3 +=
      t[2048 | (u3 & 255)]! +
      t[2304 | ((u3 >>> 8) & 255)]! +
      (t[2560 | ((u3 >>> 16) & 255)]! + t[2816 | (u3 >>> 24)]!);
    u0 = words[q + 12]!;
    u1 = words[q + 13]!;
    u2 = words[q + 14]!;
    u3 = words[q + 15]!;
    a0 +=
      t[3072 | (u0 & 255)]! +
      t[3328 | ((u0 >>> 8) & 255)]! +
      (t[3584 | ((u0 >>> 16) & 255)]! + t[3840 | (u0 >>> 24)]!);
    a1 +=
      t[3072 | (u1 & 255)]! +
      t[3328 | ((u1 >>> 8) & 255)]! +
      (t[3584 | ((u1 >>> 16) & 255)]! + t[3840 | (u1 >>> 24)]!);
    a2 +=
      t[3072 | (u2 & 255)]! +
      t[3328 | ((u2 >>> 8) & 255)]! +
      (t[3584 | ((u2 >>> 16) & 255)]! + t[3840 | (u2 >>> 24)]!);
    a3 +=
      t[3072 | (u3 & 255)]! +
      t[3328 | ((u3 >>> 8) & 255)]! +
      (t[3584 | ((u3 >>> 16) & 255)]! + t[3840 | (u3 >>> 24)]!);
    y[p] = y[p]! + a0;
    y[p + ys] = y[p + ys]! + a1;
    y[p + 2 * ys] = y[p + 2 * ys]! + a2;
    y[p + 3 * ys] = y[p + 3 * ys]! + a3;
  }
  return q;
}

/** The last tile of each row when it has fewer than 4 words. Returns the position after the tile. */
function partialTile1(
  words: Uint32Array,
  q: number,
  nw: number,
  blocks: number,
  y: Float64Array,
  yo: number,
  ys: number,
  t: Float64Array,
): number {
  // Word j's tables start at 1024j and byte k's at +256k; OR instead of + spares V8 an overflow check.
  const tEnd = nw << 10;
  for (let b = 0, p = yo; b < blocks; b++, p += BLOCK_ROWS * ys) {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let o = 0; o < tEnd; o += 1024, q += 4) {
      const u0 = words[q]!;
      const u1 = words[q + 1]!;
      const u2 = words[q + 2]!;
      const u3 = words[q + 3]!;
      a0 +=
        t[o | (u0 & 255)]! +
        t[o | 256 | ((u0 >>> 8) & 255)]! +
        (t[o | 512 | ((u0 >>> 16) & 255)]! + t[o | 768 | (u0 >>> 24)]!);
      a1 +=
        t[o | (u1 & 255)]! +
        t[o | 256 | ((u1 >>> 8) & 255)]! +
        (t[o | 512 | ((u1 >>> 16) & 255)]! + t[o | 768 | (u1 >>> 24)]!);
      a2 +=
        t[o | (u2 & 255)]! +
        t[o | 256 | ((u2 >>> 8) & 255)]! +
        (t[o | 512 | ((u2 >>> 16) & 255)]! + t[o | 768 | (u2 >>> 24)]!);
      a3 +=
        t[o | (u3 & 255)]! +
        t[o | 256 | ((u3 >>> 8) & 255)]! +
        (t[o | 512 | ((u3 >>> 16) & 255)]! + t[o | 768 | (u3 >>> 24)]!);
    }
    y[p] = y[p]! + a0;
    y[p + ys] = y[p + ys]! + a1;
    y[p + 2 * ys] = y[p + 2 * ys]! + a2;
    y[p + 3 * ys] = y[p + 3 * ys]! + a3;
  }
  return q;
}

// ---------------------------------------------------------------------------------------------------
// Two lanes: entry (group, pattern) holds both lanes' sums at [(256·group + pattern)·2 + lane]. Tables
// for a quarter tile (1 word, 4 groups × 512 doubles = 16 KiB); one block (4 rows × 2 lanes, 8
// accumulators) per pass.

function lanes2(
  s: TiledSigns,
  x: Float64Array,
  xo: number,
  y: Float64Array,
  yo: number,
  stride: number,
  t: Float64Array,
): void {
  const { cols, wordsPerRow: wpr, blocks, words } = s;
  let tileStart = 0;
  for (let w0 = 0; w0 < wpr; w0 += TILE_WORDS) {
    const nw = Math.min(TILE_WORDS, wpr - w0);
    const blockStride = 4 * nw;
    for (let j = 0; j < nw; j++) {
      buildTables(x, xo, stride, 2, cols, 32 * (w0 + j), 32 * (w0 + j + 1), t);
      for (
        let q = tileStart + 4 * j, p = yo, b = 0;
        b < blocks;
        b++, q += blockStride, p += BLOCK_ROWS * stride
      ) {
        const u0 = words[q]!;
        const u1 = words[q + 1]!;
        const u2 = words[q + 2]!;
        const u3 = words[q + 3]!;
        let a0 = 0;
        let a1 = 0;
        let b0 = 0;
        let b1 = 0;
        let c0 = 0;
        let c1 = 0;
        let d0 = 0;
        let d1 = 0;
        // Byte k of a word: tables at 512k, pattern at +2·byte.
        for (let shift = 0, o = 0; shift < 32; shift += 8, o += 512) {
          let k = o | (((u0 >>> shift) & 255) << 1);
          a0 += t[k]!;
          a1 += t[k | 1]!;
          k = o | (((u1 >>> shift) & 255) << 1);
          b0 += t[k]!;
          b1 += t[k | 1]!;
          k = o | (((u2 >>> shift) & 255) << 1);
          c0 += t[k]!;
          c1 += t[k | 1]!;
          k = o | (((u3 >>> shift) & 255) << 1);
          d0 += t[k]!;
          d1 += t[k | 1]!;
        }
        y[p] = y[p]! + a0;
        y[p + 1] = y[p + 1]! + a1;
        let r = p + stride;
        y[r] = y[r]! + b0;
        y[r + 1] = y[r + 1]! + b1;
        r += stride;
        y[r] = y[r]! + c0;
        y[r + 1] = y[r + 1]! + c1;
        r += stride;
        y[r] = y[r]! + d0;
        y[r + 1] = y[r + 1]! + d1;
      }
    }
    tileStart += 4 * nw * blocks;
  }
}

// ---------------------------------------------------------------------------------------------------
// Four lanes: entry (group, pattern) holds the 4 lanes' sums at [(256·group + pattern)·4 + lane]. Tables
// for a quarter tile (1 word, 4 groups × 1024 doubles = 32 KiB, so they stay in L1); one row per pass.

function lanes4(
  s: TiledSigns,
  x: Float64Array,
  xo: number,
  y: Float64Array,
  yo: number,
  stride: number,
  t: Float64Array,
): void {
  const { cols, wordsPerRow: wpr, blocks, words } = s;
  let tileStart = 0;
  for (let w0 = 0; w0 < wpr; w0 += TILE_WORDS) {
    const nw = Math.min(TILE_WORDS, wpr - w0);
    const blockStride = 4 * nw;
    for (let j = 0; j < nw; j++) {
      buildTables(x, xo, stride, 4, cols, 32 * (w0 + j), 32 * (w0 + j + 1), t);
      for (let q = tileStart + 4 * j, p = yo, b = 0; b < blocks; b++, q += blockStride) {
        for (let i = 0; i < BLOCK_ROWS; i++, p += stride) {
          // Byte k of the word: tables at 1024k, pattern at +4·byte.
          const u = words[q + i]!;
          let k = (u << 2) & 1020;
          let a0 = t[k]!;
          let a1 = t[k | 1]!;
          let a2 = t[k | 2]!;
          let a3 = t[k | 3]!;
          k = 1024 | ((u >>> 6) & 1020);
          a0 += t[k]!;
          a1 += t[k | 1]!;
          a2 += t[k | 2]!;
          a3 += t[k | 3]!;
          k = 2048 | ((u >>> 14) & 1020);
          a0 += t[k]!;
          a1 += t[k | 1]!;
          a2 += t[k | 2]!;
          a3 += t[k | 3]!;
          k = 3072 | ((u >>> 22) & 1020);
          a0 += t[k]!;
          a1 += t[k | 1]!;
          a2 += t[k | 2]!;
          a3 += t[k | 3]!;
          y[p] = y[p]! + a0;
          y[p + 1] = y[p + 1]! + a1;
          y[p + 2] = y[p + 2]! + a2;
          y[p + 3] = y[p + 3]! + a3;
        }
      }
    }
    tileStart += 4 * nw * blocks;
  }
}
