import { describe, expect, it } from 'vitest';
import {
  bfloat16ToFloat32,
  type CompressedLayer,
  createRng,
  type DbfEntry,
  type DbfLayer,
  encodeDbf,
  encodeDbfToBytes,
  encodeSafetensors,
  float32ToBfloat16,
  type MdbfLayer,
  memorySource,
  openDbf,
  packSigns,
  type Rng,
  roundToFloat16,
  validateDbf,
} from '../src/index';
import { independentParse, rawFile, recordingSource } from './format-helpers';

function randomDbf(rng: Rng, n: number, m: number, k: number, bias = false): DbfLayer {
  const normal = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
  return {
    kind: 'dbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    signA: packSigns(normal(n * k), n, k),
    signB: packSigns(normal(k * m), k, m),
    scaleA: normal(n),
    scaleMid: normal(k),
    scaleB: normal(m),
    ...(bias ? { bias: normal(n) } : {}),
  };
}

function randomMdbf(rng: Rng, n: number, m: number, k: number, l: number, bias = false): MdbfLayer {
  const normal = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
  return {
    kind: 'mdbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    envelopeRank: l,
    signA: packSigns(normal(n * k), n, k),
    signB: packSigns(normal(k * m), k, m),
    envA: normal(n * l),
    envQU: normal(k * l),
    envQV: normal(k * l),
    envB: normal(m * l),
    ...(bias ? { bias: normal(n) } : {}),
  };
}

/** Rebuilds a file with a modified header, keeping the data buffer. */
function withHeader(
  bytes: Uint8Array,
  mutate: (header: Record<string, unknown>, metadata: Record<string, string>) => void,
): Uint8Array {
  const { headerLength, headerText } = independentParse(bytes);
  const header = JSON.parse(headerText) as Record<string, unknown>;
  mutate(header, header.__metadata__ as Record<string, string>);
  return rawFile(JSON.stringify(header), bytes.subarray(8 + headerLength), true);
}

const SCALE_KEYS = {
  dbf: ['scaleA', 'scaleMid', 'scaleB'],
  mdbf: ['envA', 'envQU', 'envQV', 'envB'],
} as const;

describe('DBF writer and reader', () => {
  it('round-trips random DBF and MDBF layers with F16 / F32 scales and F32 / F16 / BF16 biases', async () => {
    const rng = createRng(11);
    const cases: { layer: CompressedLayer; scaleDtype: 'F16' | 'F32'; biasDtype: 'F32' | 'F16' | 'BF16' }[] =
      [
        { layer: randomDbf(rng, 1, 1, 1), scaleDtype: 'F16', biasDtype: 'F32' },
        { layer: randomDbf(rng, 17, 65, 33, true), scaleDtype: 'F32', biasDtype: 'F32' },
        { layer: randomDbf(rng, 40, 31, 64, true), scaleDtype: 'F16', biasDtype: 'BF16' },
        { layer: randomMdbf(rng, 9, 70, 5, 3, true), scaleDtype: 'F16', biasDtype: 'F16' },
        { layer: randomMdbf(rng, 32, 32, 32, 1), scaleDtype: 'F32', biasDtype: 'F32' },
      ];
    const entries: DbfEntry[] = cases.map((c, i) => ({ name: `layers.${i}`, ...c }));
    const bytes = encodeDbfToBytes(entries);
    const dbf = await openDbf(memorySource(bytes));
    for (const [i, c] of cases.entries()) {
      const loaded = await dbf.loadLayer(`layers.${i}`);
      const original = c.layer;
      expect(loaded.kind).toBe(original.kind);
      expect([loaded.outFeatures, loaded.inFeatures, loaded.rank]).toEqual([
        original.outFeatures,
        original.inFeatures,
        original.rank,
      ]);
      expect(loaded.signA).toEqual(original.signA);
      expect(loaded.signB).toEqual(original.signB);
      const round = (v: Float32Array) => (c.scaleDtype === 'F16' ? roundToFloat16(v) : v);
      for (const key of SCALE_KEYS[original.kind]) {
        const want = round((original as unknown as Record<string, Float32Array>)[key]!);
        expect(Array.from((loaded as unknown as Record<string, Float32Array>)[key]!), key).toEqual(
          Array.from(want),
        );
      }
      if (original.kind === 'mdbf') expect((loaded as MdbfLayer).envelopeRank).toBe(original.envelopeRank);
      if (original.bias) {
        const want =
          c.biasDtype === 'F32'
            ? Array.from(original.bias)
            : c.biasDtype === 'F16'
              ? Array.from(roundToFloat16(original.bias))
              : Array.from(original.bias, (v) => bfloat16ToFloat32(float32ToBfloat16(v)));
        expect(Array.from(loaded.bias!)).toEqual(want);
        expect(dbf.layer(`layers.${i}`).biasDtype).toBe(c.biasDtype);
      } else {
        expect(loaded.bias).toBeUndefined();
      }
    }
  });

  it('streams the header then each tensor without copying sign words, matching encodeDbfToBytes', async () => {
    const rng = createRng(12);
    const layer = randomDbf(rng, 8, 40, 6);
    const embed = Float32Array.from({ length: 12 }, () => rng.normal());
    const entries: DbfEntry[] = [
      { name: 'norm', dtype: 'BF16', shape: [3], data: Uint16Array.of(1, 2, 3) },
      { name: 'proj', layer },
      { name: 'embed', dtype: 'F32', shape: [3, 4], data: embed },
    ];
    const encoded = encodeDbf(entries);
    const chunks: Uint8Array[] = [];
    for await (const chunk of encoded.chunks()) chunks.push(chunk);
    expect(chunks[0]).toBe(encoded.header);
    expect(chunks.length).toBe(1 + encoded.tensors.length);
    expect(chunks.some((c) => c.buffer === layer.signA.words.buffer)).toBe(true);
    const joined = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
    let offset = 0;
    for (const c of chunks) {
      joined.set(c, offset);
      offset += c.byteLength;
    }
    expect(joined.byteLength).toBe(encoded.totalBytes);
    expect(joined).toEqual(encodeDbfToBytes(entries));
    // 4-byte tensors first, then 2-byte ones; the data buffer starts on a multiple of 8.
    expect(encoded.header.byteLength % 8).toBe(0);
    expect(encoded.tensors.map((t) => t.dtype)).toEqual(['U32', 'U32', 'F32', 'BF16', 'F16', 'F16', 'F16']);
    for (const t of encoded.tensors)
      expect(t.fileOffset % (t.dtype === 'U32' || t.dtype === 'F32' ? 4 : 2)).toBe(0);

    const dbf = await openDbf(memorySource(joined));
    expect(dbf.plainTensors.map((t) => t.name)).toEqual(['embed', 'norm']);
    expect(Array.from(await dbf.container.readFloat32('embed'))).toEqual(Array.from(embed));
    // Loaded sign words are views of the file bytes, not copies.
    expect((await dbf.loadLayer('proj')).signA.words.buffer).toBe(joined.buffer);
  });

  it('opens lazily: only the length prefix and header are read until a layer is loaded', async () => {
    const rng = createRng(13);
    const bytes = encodeDbfToBytes([
      { name: 'a', layer: randomDbf(rng, 64, 64, 16) },
      { name: 'b', layer: randomMdbf(rng, 64, 64, 16, 2) },
    ]);
    const source = recordingSource(bytes);
    const dbf = await openDbf(source);
    const { headerLength } = independentParse(bytes);
    expect(source.reads).toEqual([
      { offset: 0, length: 8 },
      { offset: 8, length: headerLength },
    ]);
    await dbf.loadLayer('b');
    const tensorReads = source.reads.slice(2);
    expect(tensorReads.length).toBe(6);
    expect(tensorReads.reduce((s, r) => s + r.length, 0)).toBe(dbf.layer('b').storedBytes);
    await expect(dbf.loadLayer('c')).rejects.toMatchObject({ code: 'TENSOR_NOT_FOUND' });
  });

  it('writes provenance and user metadata; readers ignore unknown keys and record fields', async () => {
    const rng = createRng(14);
    const provenance = {
      algorithm: 'dbf-admm',
      params: { iterations: 20, rank: 4 },
      seed: 7,
      source_sha256: 'ab'.repeat(32),
    };
    const bytes = encodeDbfToBytes(
      [{ name: 'x', layer: randomDbf(rng, 3, 5, 4), provenance: { note: 'per layer' } }],
      {
        provenance,
        metadata: { 'model.name': 'tiny', '0': 'integer-like key' },
      },
    );
    const dbf = await openDbf(memorySource(bytes));
    expect(dbf.provenance).toEqual(provenance);
    expect(dbf.metadata['model.name']).toBe('tiny');
    expect(dbf.metadata['0']).toBe('integer-like key');
    expect(dbf.layer('x').provenance).toEqual({ note: 'per layer' });

    const extended = withHeader(bytes, (_h, meta) => {
      meta['dbf.future_key'] = 'something new';
      meta['dbf.version'] = '1.3';
      const record = JSON.parse(meta['dbf.layer.x']!) as Record<string, unknown>;
      meta['dbf.layer.x'] = JSON.stringify({ ...record, future_field: [1, 2] });
    });
    const summary = await validateDbf(memorySource(extended));
    expect(summary.version).toBe('1.3');
    expect(summary.layers.map((l) => l.name)).toEqual(['x']);

    for (const version of ['01', '0', '1.', '1.01', '', ' 1', '2.0']) {
      const bad = withHeader(bytes, (_h, meta) => {
        meta['dbf.version'] = version;
      });
      await expect(openDbf(memorySource(bad)), version).rejects.toMatchObject({
        code: 'UNSUPPORTED_VERSION',
      });
    }
    const noProvenance = await openDbf(
      memorySource(encodeDbfToBytes([{ name: 'x', layer: randomDbf(rng, 2, 2, 1) }])),
    );
    expect(noProvenance.provenance).toBeUndefined();
    expect(Object.keys(noProvenance.metadata)).toEqual(['dbf.format', 'dbf.version', 'dbf.layer.x']);
  });

  it('rejects bad entries with messages a user can act on', () => {
    const rng = createRng(15);
    const layer = randomDbf(rng, 4, 4, 2);
    const expectArg = (f: () => unknown, message: RegExp) =>
      expect(f).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) }),
      );
    expectArg(
      () =>
        encodeDbf([
          { name: 'a', layer },
          { name: 'a', layer },
        ]),
      /Two layers are named "a"/,
    );
    expectArg(
      () =>
        encodeDbf([
          { name: 'a', layer },
          { name: 'a.sign_a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        ]),
      /used twice/,
    );
    expectArg(
      () =>
        encodeDbf([
          { name: 'a', layer },
          { name: 'a', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
        ]),
      /both a layer/,
    );
    expectArg(() => encodeDbf([{ name: 'a', layer }], { metadata: { 'dbf.version': '2' } }), /reserved/);
    expectArg(
      () => encodeDbf([{ name: 'a', layer }], { metadata: { k: 1 as unknown as string } }),
      /must be a string/,
    );
    expectArg(() => encodeDbf([{ name: '', layer }]), /must not be empty/);
    const big = { ...layer, scaleMid: Float32Array.of(1, 70000) };
    expectArg(
      () => encodeDbf([{ name: 'big', layer: big }]),
      /scale_mid\[1\] = 70000 overflows F16.*scaleDtype 'F32'/,
    );
    expect(encodeDbf([{ name: 'big', layer: big, scaleDtype: 'F32' }]).totalBytes).toBeGreaterThan(0);
    expectArg(
      () =>
        encodeDbf([
          { name: 'b', layer: { ...layer, bias: Float32Array.of(0, 0, 0, 1e6) }, biasDtype: 'F16' },
        ]),
      /biasDtype 'F32'/,
    );
    expectArg(
      () => encodeDbf([{ name: 'nan', layer: { ...layer, scaleA: Float32Array.of(1, Number.NaN, 1, 1) } }]),
      /finite/,
    );
    expectArg(
      () =>
        encodeDbf([
          {
            name: 'd',
            layer: { kind: 'dense', outFeatures: 1, inFeatures: 1, weight: Float32Array.of(1) } as never,
          },
        ]),
      /plain tensors/,
    );
    expectArg(() => encodeDbf([{ name: 'a', layer }], { provenance: { params: {} } as never }), /algorithm/);
    expectArg(
      () => encodeDbf([{ name: 'a', layer }], { provenance: { algorithm: 'x', seed: Number.NaN } }),
      /NaN/,
    );
    expectArg(
      () => encodeDbf([{ name: 't', dtype: 'F32', shape: [2], data: new Float32Array(3) }]),
      /needs 8 bytes/,
    );
    expectArg(
      () => encodeDbf([{ name: 't', dtype: 'Q4' as never, shape: [2], data: new Uint8Array(2) }]),
      /unsupported dtype/,
    );
    expectArg(
      () => encodeSafetensors([{ name: '__metadata__', dtype: 'U8', shape: [0], data: new Uint8Array(0) }]),
      /reserved/,
    );
  });

  it('writes a generic safetensors file the reader and an independent parser agree on', async () => {
    const encoded = encodeSafetensors(
      [
        { name: 'b', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
        { name: 'a', dtype: 'F64', shape: [1], data: Float64Array.of(0.1) },
      ],
      { metadata: { k: 'v' }, order: 'given' },
    );
    const bytes = new Uint8Array(encoded.totalBytes);
    let o = 0;
    for (const c of encoded.chunksSync()) {
      bytes.set(c, o);
      o += c.byteLength;
    }
    const parsed = independentParse(bytes);
    expect(parsed.metadata).toEqual({ k: 'v' });
    expect(parsed.tensors.b!.data_offsets).toEqual([0, 3]);
    expect(parsed.tensors.a!.data_offsets).toEqual([3, 11]);
    await expect(openDbf(memorySource(bytes))).rejects.toMatchObject({ code: 'NOT_DBF' });
  });
});
