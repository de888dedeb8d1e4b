import {
  randomDbfLayer,
  randomDenseLayer,
  randomMdbfLayer,
  randomSigns,
  randomVector,
} from '@dbf/conformance';
import { BackendError, createRng, type DbfError } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { int8LayoutBytes, type WasmBackend, type WasmBackendOptions, wasm } from '../src/index';

async function create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  return (await wasm({ threads: 1, ...options }).create()) as WasmBackend;
}

const r64 = (bytes: number) => Math.ceil(bytes / 64) * 64;

describe('WebAssembly memory', () => {
  it('starts small and grows on demand', async () => {
    const backend = await create();
    expect(backend.memoryBytes).toBeLessThanOrEqual(1 << 20);
    const signs = await backend.uploadSigns(randomSigns(createRng(1), 2048, 2048));
    expect(signs.byteLength).toBe(int8LayoutBytes(2048, 2048));
    expect(backend.memoryBytes).toBeGreaterThanOrEqual(signs.byteLength);
    await backend.dispose();
  });

  it('reports what each handle holds, in the layout of its variant', async () => {
    const rng = createRng(2);
    const layer = randomDbfLayer(rng, { outFeatures: 40, inFeatures: 100, rank: 20, bias: true });
    const scales = r64(40 * 4) + r64(20 * 4) + r64(100 * 4) + r64(40 * 4); // a, μ, b, bias
    const int8 = await create({ variant: 'int8' });
    expect((await int8.uploadLinear(layer)).byteLength).toBe(
      int8LayoutBytes(40, 20) + int8LayoutBytes(20, 100) + scales,
    );
    await int8.dispose();
    const exact = await create({ variant: 'exact' });
    // Packed words as given: S_A 40 rows × 1 word, S_B 20 rows × 4 words.
    expect((await exact.uploadLinear(layer)).byteLength).toBe(r64(40 * 4) + r64(20 * 16) + scales);
    const dense = randomDenseLayer(rng, { outFeatures: 3, inFeatures: 5 });
    expect((await exact.uploadLinear(dense)).byteLength).toBe(r64(15 * 4));
    await exact.dispose();
  });

  it('frees disposed layers for reuse, so upload/dispose cycles do not grow the memory', async () => {
    const rng = createRng(3);
    const backend = await create();
    const baseline = backend.allocatedBytes;
    const layers = [
      randomDbfLayer(rng, { outFeatures: 300, inFeatures: 500, rank: 200, bias: true }),
      randomMdbfLayer(rng, { outFeatures: 100, inFeatures: 200, rank: 64, envelopeRank: 4 }),
      randomDenseLayer(rng, { outFeatures: 64, inFeatures: 300 }),
    ];
    let memoryAfterFirst = 0;
    for (let cycle = 0; cycle < 5; cycle++) {
      const handles = [];
      for (const layer of layers) handles.push(await backend.uploadLinear(layer));
      expect(backend.allocatedBytes).toBeGreaterThan(baseline);
      // Dispose in an order different from the allocation order, so that freed blocks must merge.
      for (const i of [1, 0, 2]) handles[i]!.dispose();
      expect(backend.allocatedBytes).toBe(baseline);
      if (cycle === 0) memoryAfterFirst = backend.memoryBytes;
    }
    expect(backend.memoryBytes).toBe(memoryAfterFirst);
    await backend.dispose();
  });

  it('allocates nothing per call once the staging buffers have grown to the largest call', async () => {
    const rng = createRng(4);
    for (const threads of [1, 2]) {
      const backend = (await (await import('../src/node')).wasm({ threads }).create()) as WasmBackend;
      const layer = await backend.uploadLinear(
        randomDbfLayer(rng, { outFeatures: 256, inFeatures: 512, rank: 128 }),
      );
      const signs = await backend.uploadSigns(randomSigns(rng, 128, 300));
      const x = randomVector(rng, 4 * 512);
      const output = new Float32Array(4 * 256);
      const run = async () => {
        await backend.linear({ weights: layer, input: x, batch: 4, output });
        await backend.signMatMul({ signs, input: x.subarray(0, 600), batch: 2 });
        await backend.gemm({ a: x.subarray(0, 64 * 16), b: x.subarray(0, 16 * 32), m: 64, n: 32, k: 16 });
      };
      await run();
      const allocated = backend.allocatedBytes;
      const memory = backend.memoryBytes;
      for (let i = 0; i < 10; i++) await run();
      expect(backend.allocatedBytes).toBe(allocated);
      expect(backend.memoryBytes).toBe(memory);
      await backend.dispose();
    }
  });

  it('rejects an upload past maxMemoryBytes with an actionable BACKEND_FAILURE', async () => {
    const backend = await create({ maxMemoryBytes: 4 << 20 });
    expect(backend.capabilities.maxBufferBytes).toBe(4 << 20);
    const big = randomSigns(createRng(5), 4096, 2048); // 1 MiB each
    const held = [];
    let failure: unknown;
    try {
      for (let i = 0; i < 8; i++) held.push(await backend.uploadSigns(big));
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(BackendError);
    expect((failure as DbfError).code).toBe('BACKEND_FAILURE');
    expect((failure as Error).message).toMatch(/Out of WebAssembly memory.*maxMemoryBytes/);
    // The backend stays usable: free one matrix and the next upload fits.
    held.pop()!.dispose();
    held.push(await backend.uploadSigns(big));
    await backend.dispose();
  });

  it('dispose frees everything; disposing handles afterwards is harmless', async () => {
    const backend = await create();
    const handle = await backend.uploadLinear(
      randomDbfLayer(createRng(6), { outFeatures: 10, inFeatures: 20, rank: 5 }),
    );
    handle.dispose();
    handle.dispose();
    const other = await backend.uploadSigns(randomSigns(createRng(7), 5, 5));
    await backend.dispose();
    await backend.dispose();
    expect(backend.allocatedBytes).toBe(0);
    expect(() => other.dispose()).not.toThrow();
  });
});
