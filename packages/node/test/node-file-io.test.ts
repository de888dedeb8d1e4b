import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, type DbfLayer, encodeDbfToBytes, openDbf, packSigns, roundToFloat16 } from '@dbf/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileSource, openDbfFile, saveDbfFile, writeFileAtomic } from '../src/index';

function randomLayer(seed: number, n: number, m: number, k: number): DbfLayer {
  const rng = createRng(seed);
  const v = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
  return {
    kind: 'dbf',
    outFeatures: n,
    inFeatures: m,
    rank: k,
    signA: packSigns(v(n * k), n, k),
    signB: packSigns(v(k * m), k, m),
    scaleA: v(n),
    scaleMid: v(k),
    scaleB: v(m),
    bias: v(n),
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbf-node-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('@dbf/node', () => {
  it('saves and opens a DBF file: the bytes are encodeDbfToBytes, the layers round-trip', async () => {
    const layer = randomLayer(1, 40, 70, 9);
    const path = join(dir, 'model.dbf.safetensors');
    const entries = [{ name: 'proj', layer }];
    const { bytes } = await saveDbfFile(path, entries, { provenance: { algorithm: 'test' } });
    const onDisk = new Uint8Array(await readFile(path));
    expect(onDisk.byteLength).toBe(bytes);
    expect(onDisk).toEqual(encodeDbfToBytes(entries, { provenance: { algorithm: 'test' } }));
    const dbf = await openDbfFile(path);
    try {
      expect(dbf.provenance).toEqual({ algorithm: 'test' });
      const loaded = (await dbf.loadLayer('proj')) as DbfLayer;
      expect(loaded.signA).toEqual(layer.signA);
      expect(loaded.signB).toEqual(layer.signB);
      expect(Array.from(loaded.scaleB)).toEqual(Array.from(roundToFloat16(layer.scaleB)));
      expect(Array.from(loaded.bias!)).toEqual(Array.from(layer.bias!));
    } finally {
      await dbf.close();
    }
    expect(await readdir(dir)).toEqual(['model.dbf.safetensors']);
  });

  it('reads lazily: opening a file reads only the length prefix and the header', async () => {
    const path = join(dir, 'big.safetensors');
    await saveDbfFile(path, [{ name: 'a', layer: randomLayer(2, 1024, 1024, 256) }]);
    const size = (await stat(path)).size;
    const source = await fileSource(path);
    const reads: number[] = [];
    const counting = {
      size: source.size,
      read: (o: number, l: number) => {
        reads.push(l);
        return source.read(o, l);
      },
    };
    try {
      const dbf = await openDbf(counting);
      expect(reads.length).toBe(2);
      expect(reads[0]).toBe(8);
      expect(8 + reads[1]!).toBe(dbf.container.dataStart);
      expect(reads[0]! + reads[1]!).toBeLessThan(size / 10);
      await dbf.loadLayer('a');
      // Loading the layer reads each of its tensors (bias included) exactly once: the whole file.
      expect(reads.reduce((s, l) => s + l, 0)).toBe(size);
    } finally {
      await source.close();
    }
  });

  it('leaves the old file intact and no temporary file behind when the chunk iterator fails', async () => {
    const path = join(dir, 'keep.bin');
    await writeFile(path, 'old contents');
    async function* failing() {
      yield new Uint8Array(1000).fill(7);
      throw new Error('encoder crashed');
    }
    await expect(writeFileAtomic(path, failing())).rejects.toThrow('encoder crashed');
    expect(await readFile(path, 'utf8')).toBe('old contents');
    expect(await readdir(dir)).toEqual(['keep.bin']);
    await expect(
      writeFileAtomic(path, [Uint8Array.of(1), 'x' as unknown as Uint8Array]),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await readdir(dir)).toEqual(['keep.bin']);
    await writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    expect(Array.from(await readFile(path))).toEqual([1, 2, 3]);
    expect(await readdir(dir)).toEqual(['keep.bin']);
  });

  it('reports IO failures as IO_ERROR: missing file, missing directory, reads past the end, closed source', async () => {
    await expect(fileSource(join(dir, 'missing'))).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(fileSource(dir)).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(writeFileAtomic(join(dir, 'no/such/dir/file'), Uint8Array.of(1))).rejects.toMatchObject({
      code: 'IO_ERROR',
    });
    const path = join(dir, 'small');
    await writeFile(path, Uint8Array.of(1, 2, 3, 4));
    const source = await fileSource(path);
    expect(Array.from(await source.read(1, 3))).toEqual([2, 3, 4]);
    await expect(source.read(2, 3)).rejects.toMatchObject({ code: 'IO_ERROR' });
    await source.close();
    await expect(source.read(0, 1)).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(openDbfFile(path)).rejects.toMatchObject({ code: 'HEADER_TOO_SMALL' });
  });
});
