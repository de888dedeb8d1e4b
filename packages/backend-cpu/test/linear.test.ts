import { createRng, type KernelBackend, type LinearLayer } from '@dbf/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpu } from '../src/index';
import {
  maxUlpError,
  nmse,
  randomDbf,
  randomDense,
  randomMdbf,
  randomValues,
  referenceLinear,
} from './reference';

let backend: KernelBackend;
beforeAll(async () => {
  backend = await cpu().create();
});
afterAll(async () => {
  await backend.dispose();
});

async function run(layer: LinearLayer, input: Float32Array, batch: number): Promise<Float32Array> {
  const weights = await backend.uploadLinear(layer);
  try {
    return await backend.linear({ weights, input, batch });
  } finally {
    weights.dispose();
  }
}

// (n, m, k): k = 1; sizes that are not multiples of 4/8/32; K tiles of every lane width crossed
// (64, 128 and 256 columns per tile) and row counts with remainders for the 4- and 2-row loops.
const SHAPES: readonly [number, number, number][] = [
  [1, 1, 1],
  [5, 3, 1],
  [1, 40, 9],
  [7, 33, 17],
  [37, 70, 129],
  [64, 64, 64],
  [101, 300, 257],
  [18, 520, 65],
];

describe('DBF linear', () => {
  for (const [n, m, k] of SHAPES) {
    for (const batch of [1, 2, 5, 9]) {
      it(`is exact on integer inputs: ${n}×${m}, rank ${k}, batch ${batch}`, async () => {
        const rng = createRng(n * 1000 + m * 10 + k + batch);
        const layer = randomDbf(rng, n, m, k, 'integer', batch % 2 === 1);
        const input = randomValues(rng, batch * m, 'integer');
        const y = await run(layer, input, batch);
        expect(Array.from(y)).toEqual(Array.from(referenceLinear(layer, input, batch)));
      });
    }
  }

  for (const [n, m, k] of SHAPES) {
    it(`matches the float64 reference on random inputs: ${n}×${m}, rank ${k}, batch 5`, async () => {
      const rng = createRng(7 + n + m + k);
      const layer = randomDbf(rng, n, m, k, 'normal', true);
      const input = randomValues(rng, 5 * m, 'normal');
      const y = await run(layer, input, 5);
      const ref = referenceLinear(layer, input, 5);
      expect(maxUlpError(y, ref)).toBeLessThanOrEqual(1);
      expect(nmse(y, ref)).toBeLessThan(backend.capabilities.nmseTolerance);
    });
  }

  it('gives each vector of a batch the same result as a batch of one', async () => {
    const rng = createRng(99);
    const layer = randomDbf(rng, 45, 200, 70, 'normal', true);
    const weights = await backend.uploadLinear(layer);
    const input = randomValues(rng, 11 * 200, 'normal');
    const all = await backend.linear({ weights, input, batch: 11 });
    for (let v = 0; v < 11; v++) {
      const one = await backend.linear({ weights, input: input.slice(v * 200, (v + 1) * 200), batch: 1 });
      expect(Array.from(one)).toEqual(Array.from(all.subarray(v * 45, (v + 1) * 45)));
    }
    weights.dispose();
  });
});

describe('MDBF linear', () => {
  for (let l = 1; l <= 8; l++) {
    for (const batch of [1, 5]) {
      it(`is exact on integer inputs with envelope rank ${l}, batch ${batch}`, async () => {
        const rng = createRng(31 * l + batch);
        const layer = randomMdbf(rng, 23, 75, 41, l, 'integer', true);
        const input = randomValues(rng, batch * 75, 'integer');
        const y = await run(layer, input, batch);
        expect(Array.from(y)).toEqual(Array.from(referenceLinear(layer, input, batch)));
      });
    }
    it(`matches the float64 reference with envelope rank ${l} across K tiles`, async () => {
      const rng = createRng(500 + l);
      const layer = randomMdbf(rng, 37, 270, 130, l, 'normal', l % 2 === 0);
      const input = randomValues(rng, 3 * 270, 'normal');
      const y = await run(layer, input, 3);
      const ref = referenceLinear(layer, input, 3);
      expect(maxUlpError(y, ref)).toBeLessThanOrEqual(1);
      expect(nmse(y, ref)).toBeLessThan(backend.capabilities.nmseTolerance);
    });
  }

  it('handles envelope ranks above the lane budget (l = 11: one vector per pass, 11 lanes)', async () => {
    const rng = createRng(11);
    const layer = randomMdbf(rng, 9, 40, 33, 11, 'integer');
    const input = randomValues(rng, 3 * 40, 'integer');
    const y = await run(layer, input, 3);
    expect(Array.from(y)).toEqual(Array.from(referenceLinear(layer, input, 3)));
  });
});

describe('dense linear', () => {
  for (const [n, m] of [
    [1, 1],
    [3, 7],
    [9, 13],
    [37, 70],
    [64, 129],
  ] as const) {
    for (const batch of [1, 2, 3, 5]) {
      it(`is exact on integer inputs with bias: ${n}×${m}, batch ${batch}`, async () => {
        const rng = createRng(n * 100 + m + batch);
        const layer = randomDense(rng, n, m, 'integer', true);
        const input = randomValues(rng, batch * m, 'integer');
        const y = await run(layer, input, batch);
        expect(Array.from(y)).toEqual(Array.from(referenceLinear(layer, input, batch)));
      });
    }
  }

  it('matches the float64 reference on random inputs without bias', async () => {
    const rng = createRng(3);
    const layer = randomDense(rng, 50, 333, 'normal');
    const input = randomValues(rng, 4 * 333, 'normal');
    const y = await run(layer, input, 4);
    expect(maxUlpError(y, referenceLinear(layer, input, 4))).toBeLessThanOrEqual(1);
  });
});

describe('resident layers', () => {
  it('report their shape, kind and held bytes', async () => {
    const rng = createRng(1);
    const dbf = await backend.uploadLinear(randomDbf(rng, 10, 70, 33, 'normal'));
    expect(dbf).toMatchObject({ backendId: 'cpu', kind: 'dbf', outFeatures: 10, inFeatures: 70 });
    // Signs with rows padded to blocks of 4 (12·2 + 36·3 words) plus float64 a, μ, b and a zero bias.
    expect(dbf.byteLength).toBe(4 * (12 * 2 + 36 * 3) + 8 * (10 + 33 + 70 + 10));
    const dense = await backend.uploadLinear(randomDense(rng, 4, 6, 'normal', true));
    expect(dense).toMatchObject({ kind: 'dense', outFeatures: 4, inFeatures: 6, byteLength: 4 * 24 + 8 * 4 });
    dbf.dispose();
    dense.dispose();
  });

  it('are copies: changing the uploaded arrays afterwards has no effect', async () => {
    const rng = createRng(2);
    const layer = randomDbf(rng, 8, 40, 12, 'integer', true);
    const input = randomValues(rng, 40, 'integer');
    const expected = referenceLinear(layer, input, 1);
    const weights = await backend.uploadLinear(layer);
    layer.scaleA.fill(0);
    layer.signB.words.fill(0);
    layer.bias!.fill(100);
    expect(Array.from(await backend.linear({ weights, input, batch: 1 }))).toEqual(Array.from(expected));
    weights.dispose();
  });

  it('write into a given output buffer, overwrite it completely and return it', async () => {
    const rng = createRng(4);
    for (const layer of [
      randomDbf(rng, 13, 50, 20, 'integer', true),
      randomMdbf(rng, 13, 50, 20, 3, 'integer', true),
      randomDense(rng, 13, 50, 'integer', true),
    ]) {
      const weights = await backend.uploadLinear(layer);
      const output = new Float32Array(3 * 13).fill(Number.NaN);
      for (let round = 0; round < 2; round++) {
        const input = randomValues(rng, 3 * 50, 'integer');
        const y = await backend.linear({ weights, input, batch: 3, output });
        expect(y).toBe(output);
        expect(Array.from(output)).toEqual(Array.from(referenceLinear(layer, input, 3)));
      }
      weights.dispose();
    }
  });

  it('accept inputs and outputs that are views into larger buffers', async () => {
    const rng = createRng(5);
    const layer = randomDbf(rng, 6, 20, 9, 'integer');
    const weights = await backend.uploadLinear(layer);
    const buffer = new Float32Array(100);
    const input = buffer.subarray(3, 43);
    input.set(randomValues(rng, 40, 'integer'));
    const output = buffer.subarray(50, 62);
    await backend.linear({ weights, input, batch: 2, output });
    expect(Array.from(output)).toEqual(Array.from(referenceLinear(layer, input, 2)));
    weights.dispose();
  });
});
