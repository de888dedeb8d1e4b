import {
  assertInteger,
  checkedProduct,
  type DbfLayer,
  type DenseLayer,
  type LinearLayer,
  type MdbfLayer,
  type PackedSigns,
  type Rng,
  wordsPerRow,
} from '@dbf/core';

/**
 * Seeded random layers and inputs. `values: 'normal'` (default) draws scales with magnitudes in
 * [0.25, 1.25] and random signs, inputs and biases from N(0, 1); `values: 'integer'` draws small
 * non-zero integers instead, so every product and sum is exact in float32 (what exactness checks need).
 */
export type RandomValues = 'normal' | 'integer';

export interface RandomLayerShape {
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly rank: number;
  /** Adds a random bias of length `outFeatures`. */
  readonly bias?: boolean;
  readonly values?: RandomValues;
}

export interface RandomMdbfShape extends RandomLayerShape {
  readonly envelopeRank: number;
}

export interface RandomDenseShape {
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly bias?: boolean;
  readonly values?: RandomValues;
}

/** Uniformly random ±1 matrix with zero padding bits. */
export function randomSigns(rng: Rng, rows: number, cols: number): PackedSigns {
  assertInteger('rows', rows, 1);
  assertInteger('cols', cols, 1);
  const wpr = wordsPerRow(cols);
  const words = new Uint32Array(checkedProduct('rows·wordsPerRow', [rows, wpr]));
  const tail = cols & 31;
  const lastMask = tail === 0 ? 0xffffffff : (1 << tail) - 1;
  for (let r = 0; r < rows; r++) {
    for (let w = 0; w < wpr; w++)
      words[r * wpr + w] = (rng.nextUint32() & (w === wpr - 1 ? lastMask : 0xffffffff)) >>> 0;
  }
  return { rows, cols, wordsPerRow: wpr, words };
}

/** `length` values: N(0, 1), or integers in [−4, 4] when `values` is 'integer'. */
export function randomVector(rng: Rng, length: number, values: RandomValues = 'normal'): Float32Array {
  assertInteger('length', length, 0);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = values === 'integer' ? rng.int(9) - 4 : rng.normal();
  return out;
}

/** Scale-like values: magnitudes in [0.25, 1.25] (or integers 1..3) with random signs; never zero. */
export function randomScales(rng: Rng, length: number, values: RandomValues = 'normal'): Float32Array {
  assertInteger('length', length, 0);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const magnitude = values === 'integer' ? 1 + rng.int(3) : 0.25 + rng.uniform();
    out[i] = rng.uniform() < 0.5 ? -magnitude : magnitude;
  }
  return out;
}

export function randomDbfLayer(rng: Rng, shape: RandomLayerShape): DbfLayer {
  const { n, m, k, values } = checkShape(shape);
  const layer: DbfLayer = {
    kind: 'dbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    signA: randomSigns(rng, n, k),
    signB: randomSigns(rng, k, m),
    scaleA: randomScales(rng, n, values),
    scaleMid: randomScales(rng, k, values),
    scaleB: randomScales(rng, m, values),
  };
  return shape.bias ? { ...layer, bias: randomVector(rng, n, values) } : layer;
}

export function randomMdbfLayer(rng: Rng, shape: RandomMdbfShape): MdbfLayer {
  const { n, m, k, values } = checkShape(shape);
  const l = assertInteger('envelopeRank', shape.envelopeRank, 1);
  const layer: MdbfLayer = {
    kind: 'mdbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    envelopeRank: l,
    signA: randomSigns(rng, n, k),
    signB: randomSigns(rng, k, m),
    envA: randomScales(rng, n * l, values),
    envQU: randomScales(rng, k * l, values),
    envQV: randomScales(rng, k * l, values),
    envB: randomScales(rng, m * l, values),
  };
  return shape.bias ? { ...layer, bias: randomVector(rng, n, values) } : layer;
}

export function randomDenseLayer(rng: Rng, shape: RandomDenseShape): DenseLayer {
  const n = assertInteger('outFeatures', shape.outFeatures, 1);
  const m = assertInteger('inFeatures', shape.inFeatures, 1);
  const values = shape.values ?? 'normal';
  const layer: DenseLayer = {
    kind: 'dense',
    outFeatures: n,
    inFeatures: m,
    weight: randomVector(rng, checkedProduct('outFeatures·inFeatures', [n, m]), values),
  };
  return shape.bias ? { ...layer, bias: randomVector(rng, n, values) } : layer;
}

/**
 * The same layer with every array moved into a view at a non-zero offset of a larger buffer, as a
 * zero-copy file loader returns them. Catches backends that read `array.buffer` from offset 0.
 */
export function asArrayViews<T extends LinearLayer>(layer: T): T {
  const copy: Record<string, unknown> = { ...layer };
  for (const [key, value] of Object.entries(layer)) {
    if (value instanceof Float32Array) copy[key] = embed(value);
    else if (isPackedSigns(value)) copy[key] = { ...value, words: embed(value.words) };
  }
  return copy as T;
}

function embed<A extends Float32Array | Uint32Array>(array: A): A {
  const pad = 3;
  const Ctor = array.constructor as new (length: number) => A;
  const backing = new Ctor(array.length + 2 * pad);
  // Garbage around the data: NaN floats, all-ones sign words.
  backing.fill(array instanceof Float32Array ? Number.NaN : 0xffffffff);
  backing.set(array, pad);
  return backing.subarray(pad, pad + array.length) as A;
}

function isPackedSigns(value: unknown): value is PackedSigns {
  return typeof value === 'object' && value !== null && (value as PackedSigns).words instanceof Uint32Array;
}

function checkShape(shape: RandomLayerShape) {
  return {
    n: assertInteger('outFeatures', shape.outFeatures, 1),
    m: assertInteger('inFeatures', shape.inFeatures, 1),
    k: assertInteger('rank', shape.rank, 1),
    values: shape.values ?? 'normal',
  };
}
