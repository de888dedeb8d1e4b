import { describe, expect, it } from 'vitest';
import {
  bitsPerWeight,
  type CompressedLayer,
  createRng,
  type DbfEntry,
  encodeDbfToBytes,
  memorySource,
  openDbf,
  packSigns,
  type ScaleDtype,
  shapeOfLayer,
  totalBitsPerWeight,
} from '../src/index';
import { independentParse } from './format-helpers';

function layerOf(
  seed: number,
  kind: 'dbf' | 'mdbf',
  n: number,
  m: number,
  k: number,
  l: number,
  bias: boolean,
): CompressedLayer {
  const rng = createRng(seed);
  const v = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
  const common = {
    outFeatures: n,
    inFeatures: m,
    rank: k,
    signA: packSigns(v(n * k), n, k),
    signB: packSigns(v(k * m), k, m),
    ...(bias ? { bias: v(n) } : {}),
  };
  return kind === 'dbf'
    ? { kind, ...common, scaleA: v(n), scaleMid: v(k), scaleB: v(m) }
    : { kind, ...common, envelopeRank: l, envA: v(n * l), envQU: v(k * l), envQV: v(k * l), envB: v(m * l) };
}

describe('bits per weight of written files', () => {
  const specs: [string, 'dbf' | 'mdbf', number, number, number, number, boolean, ScaleDtype][] = [
    ['q', 'dbf', 64, 48, 16, 1, false, 'F16'],
    ['k', 'dbf', 33, 65, 1, 1, true, 'F32'],
    ['v', 'dbf', 100, 7, 40, 1, true, 'F16'],
    ['o', 'mdbf', 48, 64, 20, 1, false, 'F16'],
    ['up', 'mdbf', 31, 95, 33, 2, true, 'F32'],
    ['down', 'mdbf', 95, 31, 3, 4, false, 'F16'],
  ];
  const layers = specs.map(([name, kind, n, m, k, l, bias, scaleDtype], i) => ({
    name,
    layer: layerOf(i + 1, kind, n, m, k, l, bias),
    scaleDtype,
  }));
  const embedding = { name: 'embed', dtype: 'F16' as const, shape: [10, 48], data: new Uint16Array(480) };
  const entries: DbfEntry[] = [...layers, embedding];
  const bytes = encodeDbfToBytes(entries);

  it('per layer equals bitsPerWeight(shapeOfLayer(...)) and 8 × (bytes on disk, bias excluded) / (n·m)', async () => {
    const dbf = await openDbf(memorySource(bytes));
    const onDisk = independentParse(bytes).tensors;
    for (const { name, layer, scaleDtype } of layers) {
      const info = dbf.layer(name);
      const n = layer.outFeatures;
      const m = layer.inFeatures;
      const diskBytes = Object.keys(onDisk)
        .filter((t) => t.startsWith(`${name}.`) && t !== `${name}.bias`)
        .reduce((s, t) => s + onDisk[t]!.bytes.byteLength, 0);
      const expected = bitsPerWeight(shapeOfLayer(layer, scaleDtype));
      expect(info.bitsPerWeight, name).toBe(expected);
      expect(info.bitsPerWeight, name).toBe((8 * diskBytes) / (n * m));
      expect(info.storedBytes).toBe(diskBytes);
      expect(info.biasBytes).toBe(layer.bias ? onDisk[`${name}.bias`]!.bytes.byteLength : 0);
    }
  });

  it('for the whole file: compressed layers weighted by n·m, and every tensor byte over every parameter', async () => {
    const dbf = await openDbf(memorySource(bytes));
    const shapes = layers.map(({ layer, scaleDtype }) => shapeOfLayer(layer, scaleDtype));
    const total = totalBitsPerWeight(shapes);
    expect(dbf.bits.compressedWeights).toBe(total.weights);
    expect(dbf.bits.compressedBitsPerWeight).toBeCloseTo(total.bitsPerWeight, 12);
    const parsed = independentParse(bytes);
    const dataBytes = bytes.byteLength - 8 - parsed.headerLength;
    const parameters =
      layers.reduce(
        (s, { layer }) => s + layer.outFeatures * layer.inFeatures + (layer.bias ? layer.outFeatures : 0),
        0,
      ) + 480;
    expect(dbf.bits.tensorBytes).toBe(dataBytes);
    expect(dbf.bits.parameters).toBe(parameters);
    expect(dbf.bits.overallBitsPerWeight).toBe((8 * dataBytes) / parameters);
  });
});
