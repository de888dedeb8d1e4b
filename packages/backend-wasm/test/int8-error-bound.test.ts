import {
  nmse,
  randomDbfLayer,
  randomMdbfLayer,
  randomSigns,
  randomVector,
  referenceLinear,
  referenceSignMatMul,
} from '@dbf/conformance';
import { createRng, type PackedSigns, type Rng } from '@dbf/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  INT8_NMSE_TOLERANCE,
  INT8_TABLE_RANGE,
  int8SignMatMulErrorBound,
  type WasmBackend,
  wasm,
} from '../src/index';

let backend: WasmBackend;
beforeAll(async () => {
  backend = (await wasm({ variant: 'int8', threads: 1 }).create()) as WasmBackend;
});
afterAll(() => backend.dispose());

async function signMatMul(signs: PackedSigns, x: Float32Array, batch: number): Promise<Float32Array> {
  const resident = await backend.uploadSigns(signs);
  try {
    return await backend.signMatMul({ signs: resident, input: x, batch });
  } finally {
    resident.dispose();
  }
}

/** Every output within the stated bound of its lane (plus f32 rounding: 1e-6 of Σ|x|). */
async function expectWithinBound(
  signs: PackedSigns,
  x: Float32Array,
  batch: number,
  label: string,
): Promise<number> {
  const actual = await signMatMul(signs, x, batch);
  const exact = referenceSignMatMul(signs, x, batch);
  const { rows, cols } = signs;
  let worstRatio = 0;
  for (let s = 0; s < batch; s++) {
    const lane = x.subarray(s * cols, (s + 1) * cols);
    let l1 = 0;
    for (const v of lane) l1 += Math.abs(v);
    const bound = int8SignMatMulErrorBound(lane) + 1e-6 * l1;
    for (let r = 0; r < rows; r++) {
      const error = Math.abs(actual[s * rows + r]! - exact[s * rows + r]!);
      if (!(error <= bound))
        throw new Error(`${label}: sample ${s} row ${r}: error ${error} exceeds the bound ${bound}`);
      if (bound > 0) worstRatio = Math.max(worstRatio, error / bound);
    }
  }
  return worstRatio;
}

const distributions: [string, (rng: Rng, n: number) => Float32Array][] = [
  ['normal', (rng, n) => randomVector(rng, n)],
  ['integers', (rng, n) => randomVector(rng, n, 'integer')],
  [
    'heavy-tailed (ratio of normals, clipped at ±1e4)',
    (rng, n) =>
      Float32Array.from({ length: n }, () =>
        Math.max(-1e4, Math.min(1e4, rng.normal() / (rng.normal() + 1e-3))),
      ),
  ],
  [
    'one outlier in small noise',
    (rng, n) => {
      const x = Float32Array.from({ length: n }, () => 0.01 * rng.normal());
      x[rng.int(n)] = 1000;
      return x;
    },
  ],
  ['magnitudes around 1e20', (rng, n) => Float32Array.from({ length: n }, () => 1e20 * rng.normal())],
  ['magnitudes around 1e-20', (rng, n) => Float32Array.from({ length: n }, () => 1e-20 * rng.normal())],
  [
    'blocks below 2^-100 next to normal blocks',
    (rng, n) => Float32Array.from({ length: n }, (_, i) => ((i >> 7) & 1 ? 1e-33 : 1) * rng.normal()),
  ],
];

describe('int8 table error bound', () => {
  it('int8SignMatMulErrorBound matches a hand computation', () => {
    // One block; groups Σ|x| = 10 and 0.5, so the step is 10/63 and 2 groups each lose at most half of it.
    expect(int8SignMatMulErrorBound([1, -2, 3, -4, 0.5])).toBeCloseTo((2 * Math.fround(10 / 63)) / 2, 12);
    // Two blocks (columns 0..127, 128..131): the second has one group of Σ|x| = 4.
    const x = new Array<number>(132).fill(0);
    x[0] = 63;
    x[128] = x[129] = x[130] = x[131] = 1;
    expect(int8SignMatMulErrorBound(x)).toBeCloseTo((32 * 1) / 2 + (1 * Math.fround(4 / 63)) / 2, 10);
    expect(int8SignMatMulErrorBound(new Float32Array(300))).toBe(0);
    expect(INT8_TABLE_RANGE).toBe(63);
    expect(() => int8SignMatMulErrorBound([1, 2], 3)).toThrow(/at least 3/);
  });

  it('is exact when every table entry is a multiple of the step', async () => {
    // Σ|x| = 63 in every group: entries are integers in [-63, 63], the step is 1, nothing is rounded.
    const rng = createRng(5);
    const x = Float32Array.from({ length: 256 }, (_, i) => [10, -20, 30, -3][i & 3]!);
    const signs = randomSigns(rng, 40, 256);
    const actual = await signMatMul(signs, x, 1);
    expect(Array.from(actual)).toEqual(Array.from(referenceSignMatMul(signs, x, 1)));
  });

  it('holds for every output row, across input distributions, shapes and batch sizes', async () => {
    const rng = createRng(2024);
    // [rows, cols, batch]: odd row blocks (pair + single kernels), partial scale blocks, 1–8 lanes,
    // several column tiles over paired blocks (the last three), several chunks (300×8192).
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [37, 300, 1],
      [64, 128, 1],
      [5, 1000, 3],
      [33, 257, 5],
      [16, 2048, 8],
      [40, 2048, 8],
      [72, 4100, 2],
      [300, 8192, 1],
    ];
    let worst = 0;
    for (const [name, draw] of distributions) {
      for (const [rows, cols, batch] of shapes) {
        const signs = randomSigns(rng, rows, cols);
        worst = Math.max(
          worst,
          await expectWithinBound(
            signs,
            draw(rng, batch * cols),
            batch,
            `${name} ${rows}x${cols} batch ${batch}`,
          ),
        );
      }
    }
    // The bound is worst case; rounding errors cancel on average, but it is not loose by orders of magnitude.
    expect(worst).toBeGreaterThan(0.02);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('zero inputs give exactly zero', async () => {
    const out = await signMatMul(randomSigns(createRng(9), 20, 300), new Float32Array(600), 2);
    expect(out.every((v) => Object.is(v, 0))).toBe(true);
  });

  it('has the NMSE of the error model on Gaussian inputs (one sign matmul)', async () => {
    const rng = createRng(77);
    const signs = randomSigns(rng, 512, 2048);
    const x = randomVector(rng, 2 * 2048);
    const error = nmse(await signMatMul(signs, x, 2), referenceSignMatMul(signs, x, 2));
    // Model: (1/12)·Σ_B 32·s_B² / ‖x‖² ≈ 2e-4 for N(0,1) entries; really quantized, far from f32 rounding.
    expect(error).toBeGreaterThan(3e-5);
    expect(error).toBeLessThan(4e-4);
  });

  it('keeps DBF and MDBF layers well inside the declared nmseTolerance on Gaussian inputs', async () => {
    const rng = createRng(78);
    const layers = [
      randomDbfLayer(rng, { outFeatures: 256, inFeatures: 512, rank: 256, bias: true }),
      randomMdbfLayer(rng, { outFeatures: 200, inFeatures: 300, rank: 128, envelopeRank: 3 }),
    ];
    for (const layer of layers) {
      const resident = await backend.uploadLinear(layer);
      const x = randomVector(rng, 4 * layer.inFeatures);
      const error = nmse(
        await backend.linear({ weights: resident, input: x, batch: 4 }),
        referenceLinear(layer, x, 4),
      );
      resident.dispose();
      expect(error).toBeGreaterThan(1e-6);
      expect(error).toBeLessThan(INT8_NMSE_TOLERANCE / 10);
    }
  });
});
