import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildFormatVectors,
  CONFORMANCE_MODULE_PATH,
  type GoldenInvalidVector,
  type GoldenValidVector,
} from '../../../tooling/vectors/format-vectors';
import {
  bitsPerWeight,
  DbfError,
  DTYPE_SIZES,
  dequantizeFloat64,
  FORMAT_ERROR_CODES,
  memorySource,
  openDbf,
  shapeOfLayer,
  validateDbf,
} from '../src/index';
import { independentParse, REPO_ROOT, readVector, recordingSource, VECTORS } from './format-helpers';

const manifest = JSON.parse(readFileSync(join(VECTORS, 'invalid/manifest.json'), 'utf8')) as {
  vectors: GoldenInvalidVector[];
};
const validNames = readdirSync(VECTORS)
  .filter((f) => f.endsWith('.safetensors'))
  .sort();
const expectations = (file: string) =>
  JSON.parse(
    readFileSync(join(VECTORS, file.replace(/\.safetensors$/, '.json')), 'utf8'),
  ) as GoldenValidVector;

describe('format golden vectors', () => {
  it('are exactly what tooling/generate-vectors.ts produces (deterministic, committed up to date)', () => {
    const built = buildFormatVectors();
    const committed = [
      ...readdirSync(VECTORS).filter((f) => f !== 'invalid'),
      ...readdirSync(join(VECTORS, 'invalid')).map((f) => `invalid/${f}`),
    ].sort();
    expect([...built.files.keys()].sort()).toEqual(committed);
    for (const [path, bytes] of built.files) {
      expect(Buffer.compare(Buffer.from(bytes), readVector(path)), path).toBe(0);
    }
    expect(readFileSync(join(REPO_ROOT, CONFORMANCE_MODULE_PATH), 'utf8')).toBe(built.conformanceModule);
    // A second run gives identical bytes.
    const again = buildFormatVectors();
    for (const [path, bytes] of built.files) expect(again.files.get(path), path).toEqual(bytes);
  });

  it('cover DBF and MDBF with l = 1, 2, 3, k = 1, odd shapes, bias, F16 and F32 scales and plain tensors', () => {
    const layers = validNames.flatMap((f) => expectations(f).layers);
    expect(layers.some((l) => l.kind === 'dbf' && l.k === 1)).toBe(true);
    for (const l of [1, 2, 3]) expect(layers.some((x) => x.kind === 'mdbf' && x.l === l)).toBe(true);
    expect(layers.some((l) => l.biasDtype !== null)).toBe(true);
    expect(layers.some((l) => l.biasDtype === null)).toBe(true);
    expect(new Set(layers.map((l) => l.scaleDtype))).toEqual(new Set(['F16', 'F32']));
    expect(layers.some((l) => l.shape[0] % 32 && l.shape[1] % 32 && l.k % 32 && l.k > 1)).toBe(true);
    expect(validNames.some((f) => expectations(f).plainTensors.length > 0)).toBe(true);
  });

  for (const file of validNames) {
    it(`${file}: parses and every layer dequantizes to the expected W and y exactly`, async () => {
      const expected = expectations(file);
      const bytes = readVector(file);
      const summary = await validateDbf(memorySource(bytes));
      expect(summary.version).toBe('1');
      const dbf = await openDbf(memorySource(bytes));
      expect(dbf.layers.map((l) => l.name)).toEqual(expected.layers.map((l) => l.name));
      for (const e of expected.layers) {
        const info = dbf.layer(e.name);
        expect([
          info.kind,
          info.outFeatures,
          info.inFeatures,
          info.rank,
          info.envelopeRank,
          info.scaleDtype,
        ]).toEqual([e.kind, e.shape[0], e.shape[1], e.k, e.l, e.scaleDtype]);
        expect(info.biasDtype ?? null).toBe(e.biasDtype);
        expect(info.bitsPerWeight).toBe(e.bitsPerWeight);
        const layer = await dbf.loadLayer(e.name);
        expect(bitsPerWeight(shapeOfLayer(layer, info.scaleDtype))).toBe(e.bitsPerWeight);
        const w = dequantizeFloat64(layer);
        // + 0 turns −0 into 0: JSON has no negative zero.
        expect(Array.from(w, (v) => v + 0)).toEqual(e.w);
        // y = W·x + bias, evaluated in float32 in plain row order: exact by construction of the vectors.
        const [n, m] = e.shape;
        for (let b = 0; b < e.batch; b++) {
          for (let r = 0; r < n; r++) {
            let acc = layer.bias ? layer.bias[r]! : 0;
            for (let c = 0; c < m; c++) acc = Math.fround(acc + Math.fround(w[r * m + c]! * e.x[b * m + c]!));
            expect(acc, `${e.name} y[${b}][${r}]`).toBe(e.y[b * n + r]);
          }
        }
      }
      expect(dbf.plainTensors.map((t) => t.name).sort()).toEqual(
        expected.plainTensors.map((t) => t.name).sort(),
      );
      for (const p of expected.plainTensors) {
        const data = await dbf.container.readTyped(p.name);
        const values = ['F16', 'BF16', 'F32'].includes(p.dtype)
          ? Array.from(await dbf.container.readFloat32(p.name))
          : Array.from(data as Uint8Array | Int8Array);
        expect(values).toEqual(p.values);
      }
      expect(dbf.bits.compressedBitsPerWeight).toBeCloseTo(expected.bits.compressedBitsPerWeight, 12);
      expect(dbf.bits.overallBitsPerWeight).toBeCloseTo(expected.bits.overallBitsPerWeight, 12);
    });

    it(`${file}: is a stock safetensors file (independent parser), aligned, fully covered`, () => {
      const bytes = readVector(file);
      const parsed = independentParse(bytes);
      expect((8 + parsed.headerLength) % 8).toBe(0);
      expect(parsed.headerText.startsWith('{')).toBe(true);
      expect(parsed.headerText).toMatch(/} *$/);
      expect(parsed.metadata['dbf.format']).toBe('dbf');
      expect(parsed.metadata['dbf.version']).toBe('1');
      const ranges = Object.values(parsed.tensors)
        .map((t) => {
          const size = DTYPE_SIZES[t.dtype as keyof typeof DTYPE_SIZES];
          expect(t.data_offsets[0] % size, 'aligned to the element size').toBe(0);
          expect(t.bytes.byteLength).toBe(t.shape.reduce((p, d) => p * d, size));
          return t.data_offsets;
        })
        .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let cursor = 0;
      for (const [begin, end] of ranges) {
        expect(begin).toBe(cursor);
        cursor = end;
      }
      expect(cursor).toBe(bytes.byteLength - 8 - parsed.headerLength);
      // Element sizes never increase along the data buffer (4-byte tensors first).
      const sizes = Object.values(parsed.tensors)
        .sort((a, b) => a.data_offsets[0] - b.data_offsets[0] || a.data_offsets[1] - b.data_offsets[1])
        .map((t) => DTYPE_SIZES[t.dtype as keyof typeof DTYPE_SIZES]);
      expect([...sizes].sort((a, b) => b - a)).toEqual(sizes);
    });
  }

  it('has an invalid vector for every format error code and NOT_DBF', () => {
    const codes = new Set(manifest.vectors.map((v) => v.code));
    for (const code of [...FORMAT_ERROR_CODES, 'NOT_DBF']) expect(codes.has(code as never), code).toBe(true);
    const files = readdirSync(join(VECTORS, 'invalid')).filter((f) => f.endsWith('.safetensors'));
    expect(files.sort()).toEqual(manifest.vectors.map((v) => v.file).sort());
    for (const v of manifest.vectors) expect(v.file.startsWith(`${v.code}-`), v.file).toBe(true);
  });

  for (const vector of manifest.vectors) {
    it(`invalid/${vector.file} fails with ${vector.code} (${vector.stage})`, async () => {
      const bytes = readVector(`invalid/${vector.file}`);
      const source = recordingSource(bytes);
      const error = await validateDbf(source).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(DbfError.isInstance(error), String(error)).toBe(true);
      expect((error as DbfError).code, (error as Error).message).toBe(vector.code);
      expect(source.maxRequested()).toBeLessThanOrEqual(bytes.byteLength);
      if (vector.stage === 'open') {
        await expect(openDbf(memorySource(bytes))).rejects.toMatchObject({ code: vector.code });
      } else {
        // Header and metadata are fine: only reading the data finds the fault.
        const dbf = await openDbf(memorySource(bytes));
        await expect(dbf.loadLayer(dbf.layers[0]!.name)).rejects.toMatchObject({ code: vector.code });
      }
    });
  }
});
