import type { DbfLayer, DenseLayer, LinearLayer, MdbfLayer } from '@dbf/core';
import { denseMatMul } from './dense-kernels';
import { paddedRows, signMatMulLanes, type TiledSigns, tileSigns } from './sign-lut';
import type { Workspace } from './workspace';

/**
 * The backend-resident form of each layer kind, and the fused `linear` that runs it.
 *
 * Uploads copy everything (callers may reuse their arrays): sign words are re-laid out into the tiled
 * layout of the lookup kernels (sign-lut.ts) and scales converted to float64 once. The vectors of a pass
 * are lane-interleaved (element i of lane b at i·lanes + b), which is also how MDBF envelopes are stored
 * (row-major, length × l), so envelope column c of row i sits next to lane c of element i.
 */

/** Vectors processed per pass of the sign kernels for DBF layers (two 4-lane passes). */
const DBF_LANES = 8;

export interface DbfState {
  readonly kind: 'dbf';
  readonly n: number;
  readonly m: number;
  readonly k: number;
  readonly signA: TiledSigns;
  readonly signB: TiledSigns;
  readonly a: Float64Array;
  readonly mid: Float64Array;
  readonly b: Float64Array;
  readonly bias: Float64Array;
}

export interface MdbfState {
  readonly kind: 'mdbf';
  readonly n: number;
  readonly m: number;
  readonly k: number;
  readonly l: number;
  /** Input vectors per pass; `vectors · l` lanes go through each sign matrix together. */
  readonly vectors: number;
  readonly signA: TiledSigns;
  readonly signB: TiledSigns;
  /** Envelopes in float64, row-major as in the layer: envA n×l, envQU and envQV k×l, envB m×l. */
  readonly envA: Float64Array;
  readonly envQU: Float64Array;
  readonly envQV: Float64Array;
  readonly envB: Float64Array;
  readonly bias: Float64Array;
}

export interface DenseState {
  readonly kind: 'dense';
  readonly n: number;
  readonly m: number;
  readonly weight: Float32Array;
  readonly bias: Float64Array;
}

export type LayerState = DbfState | MdbfState | DenseState;

/** Copies a validated layer into its resident form. */
export function createLayerState(layer: LinearLayer): LayerState {
  switch (layer.kind) {
    case 'dbf':
      return createDbf(layer);
    case 'mdbf':
      return createMdbf(layer);
    case 'dense':
      return createDense(layer);
  }
}

function biasOf(layer: LinearLayer): Float64Array {
  return layer.bias ? Float64Array.from(layer.bias) : new Float64Array(layer.outFeatures);
}

function createDbf(layer: DbfLayer): DbfState {
  return {
    kind: 'dbf',
    n: layer.outFeatures,
    m: layer.inFeatures,
    k: layer.rank,
    signA: tileSigns(layer.signA),
    signB: tileSigns(layer.signB),
    a: Float64Array.from(layer.scaleA),
    mid: Float64Array.from(layer.scaleMid),
    b: Float64Array.from(layer.scaleB),
    bias: biasOf(layer),
  };
}

function createMdbf(layer: MdbfLayer): MdbfState {
  const { outFeatures: n, inFeatures: m, rank: k, envelopeRank: l } = layer;
  return {
    kind: 'mdbf',
    n,
    m,
    k,
    l,
    vectors: Math.max(1, Math.floor(DBF_LANES / l)),
    signA: tileSigns(layer.signA),
    signB: tileSigns(layer.signB),
    envA: Float64Array.from(layer.envA),
    envQU: Float64Array.from(layer.envQU),
    envQV: Float64Array.from(layer.envQV),
    envB: Float64Array.from(layer.envB),
    bias: biasOf(layer),
  };
}

function createDense(layer: DenseLayer): DenseState {
  return {
    kind: 'dense',
    n: layer.outFeatures,
    m: layer.inFeatures,
    weight: layer.weight.slice(),
    bias: biasOf(layer),
  };
}

/** Float64 scratch elements `runLinear` needs for this layer. */
export function scratchLength(state: LayerState): number {
  switch (state.kind) {
    case 'dbf':
      return DBF_LANES * (state.m + paddedRows(state.signB) + paddedRows(state.signA));
    case 'mdbf':
      return state.vectors * state.l * (state.m + paddedRows(state.signB) + paddedRows(state.signA));
    case 'dense':
      return 0;
  }
}

/** Bytes held by a layer state. */
export function stateByteLength(state: LayerState): number {
  switch (state.kind) {
    case 'dbf':
      return (
        state.signA.words.byteLength +
        state.signB.words.byteLength +
        state.a.byteLength +
        state.mid.byteLength +
        state.b.byteLength +
        state.bias.byteLength
      );
    case 'mdbf':
      return (
        state.signA.words.byteLength +
        state.signB.words.byteLength +
        state.envA.byteLength +
        state.envQU.byteLength +
        state.envQV.byteLength +
        state.envB.byteLength +
        state.bias.byteLength
      );
    case 'dense':
      return state.weight.byteLength + state.bias.byteLength;
  }
}

/** `out = W·x + bias` for `batch` vectors (`input` batch×m, `out` batch×n). */
export function runLinear(
  state: LayerState,
  input: Float32Array,
  batch: number,
  out: Float32Array,
  ws: Workspace,
): void {
  switch (state.kind) {
    case 'dbf':
      runDbf(state, input, batch, out, ws);
      break;
    case 'mdbf':
      runMdbf(state, input, batch, out, ws);
      break;
    case 'dense':
      denseMatMul(state.weight, state.n, state.m, state.bias, input, batch, out);
      break;
  }
}

/** t1 = b⊙x, t2 = S_B·t1, t3 = μ⊙t2, y = a⊙(S_A·t3) + bias; up to 8 vectors share each sign pass. */
function runDbf(state: DbfState, input: Float32Array, batch: number, out: Float32Array, ws: Workspace): void {
  const { n, m, k, a, mid, b, bias } = state;
  const s = ws.scratch(scratchLength(state));
  // Interleaved lanes: x (m×L) at 0, t (paddedRows(S_B)×L) after it, y (paddedRows(S_A)×L) last.
  const to = DBF_LANES * m;
  const yo = to + DBF_LANES * paddedRows(state.signB);
  for (let v0 = 0; v0 < batch; v0 += DBF_LANES) {
    const lanes = Math.min(DBF_LANES, batch - v0);
    for (let v = 0; v < lanes; v++) {
      const src = (v0 + v) * m;
      for (let j = 0, d = v; j < m; j++, d += lanes) s[d] = b[j]! * input[src + j]!;
    }
    signMatMulLanes(state.signB, s, 0, s, to, lanes, ws.table);
    for (let i = 0, o = to; i < k; i++) {
      const mu = mid[i]!;
      for (let v = 0; v < lanes; v++, o++) s[o] = mu * s[o]!;
    }
    signMatMulLanes(state.signA, s, to, s, yo, lanes, ws.table);
    for (let v = 0; v < lanes; v++) {
      const dst = (v0 + v) * n;
      for (let r = 0, o = yo + v; r < n; r++, o += lanes) out[dst + r] = a[r]! * s[o]! + bias[r]!;
    }
  }
}

/**
 * MDBF: u = Σ_c QV[:,c] ⊙ (S_B·(B[:,c]⊙x)), y = Σ_c A[:,c] ⊙ (S_A·(QU[:,c]⊙u)) + bias. The l envelope
 * columns are l lanes of one sign pass (lane v·l + c for vector v), so each sign word is read once for
 * all of them.
 */
function runMdbf(
  state: MdbfState,
  input: Float32Array,
  batch: number,
  out: Float32Array,
  ws: Workspace,
): void {
  const { n, m, k, l, envA, envQU, envQV, envB, bias } = state;
  const s = ws.scratch(scratchLength(state));
  const maxLanes = state.vectors * l;
  const to = maxLanes * m;
  const yo = to + maxLanes * paddedRows(state.signB);
  for (let v0 = 0; v0 < batch; v0 += state.vectors) {
    const vectors = Math.min(state.vectors, batch - v0);
    const lanes = vectors * l;
    // x lanes: element j of lane v·l + c is envB[j, c] · x_v[j].
    for (let v = 0; v < vectors; v++) {
      const src = (v0 + v) * m;
      for (let j = 0; j < m; j++) {
        const xv = input[src + j]!;
        const d = j * lanes + v * l;
        const e = j * l;
        for (let c = 0; c < l; c++) s[d + c] = envB[e + c]! * xv;
      }
    }
    signMatMulLanes(state.signB, s, 0, s, to, lanes, ws.table);
    // u = Σ_c QV[i, c] · lane c; then lane c becomes QU[i, c] · u (in place: element i only reads itself).
    for (let i = 0; i < k; i++) {
      const e = i * l;
      for (let v = 0; v < vectors; v++) {
        const o = to + i * lanes + v * l;
        let u = 0;
        for (let c = 0; c < l; c++) u += envQV[e + c]! * s[o + c]!;
        for (let c = 0; c < l; c++) s[o + c] = envQU[e + c]! * u;
      }
    }
    signMatMulLanes(state.signA, s, to, s, yo, lanes, ws.table);
    for (let v = 0; v < vectors; v++) {
      const dst = (v0 + v) * n;
      for (let r = 0; r < n; r++) {
        const o = yo + r * lanes + v * l;
        const e = r * l;
        let y = bias[r]!;
        for (let c = 0; c < l; c++) y += envA[e + c]! * s[o + c]!;
        out[dst + r] = y;
      }
    }
  }
}

/** `out = S·x` for `batch` vectors of a resident sign matrix. */
export function runSignMatMul(
  s: TiledSigns,
  input: Float32Array,
  batch: number,
  out: Float32Array,
  ws: Workspace,
): void {
  const { rows, cols } = s;
  const scratch = ws.scratch(signScratchLength(s));
  const yo = DBF_LANES * cols;
  for (let v0 = 0; v0 < batch; v0 += DBF_LANES) {
    const lanes = Math.min(DBF_LANES, batch - v0);
    for (let v = 0; v < lanes; v++) {
      const src = (v0 + v) * cols;
      for (let c = 0, d = v; c < cols; c++, d += lanes) scratch[d] = input[src + c]!;
    }
    signMatMulLanes(s, scratch, 0, scratch, yo, lanes, ws.table);
    for (let v = 0; v < lanes; v++) {
      const dst = (v0 + v) * rows;
      for (let r = 0, o = yo + v; r < rows; r++, o += lanes) out[dst + r] = scratch[o]!;
    }
  }
}

export function signScratchLength(s: TiledSigns): number {
  return DBF_LANES * (s.cols + paddedRows(s));
}
