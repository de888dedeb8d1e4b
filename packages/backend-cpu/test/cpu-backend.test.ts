import {
  createRng,
  DbfError,
  type DbfErrorCode,
  KERNEL_SPEC_VERSION,
  type KernelBackend,
  packSigns,
  type ResidentLinear,
  selectBackend,
} from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { CPU_BACKEND_ID, cpu } from '../src/index';
import { randomDbf, randomDense, randomSigns, randomValues } from './reference';

async function expectCode(promise: Promise<unknown>, code: DbfErrorCode, message?: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(DbfError.isInstance(error), `expected a DbfError ${code}, got ${String(error)}`).toBe(true);
  expect((error as DbfError).code).toBe(code);
  if (message) expect((error as DbfError).message).toMatch(message);
}

describe('cpu() factory', () => {
  it('describes an always-available, lowest-priority backend', async () => {
    const factory = cpu();
    expect(factory.id).toBe('cpu');
    expect(CPU_BACKEND_ID).toBe('cpu');
    expect(factory.priority).toBe(1);
    expect(await factory.isAvailable()).toEqual({ available: true });
  });

  it('creates a backend that implements contract v1 with honest capabilities', async () => {
    const backend = await cpu().create();
    expect(backend.id).toBe('cpu');
    expect(backend.specificationVersion).toBe(KERNEL_SPEC_VERSION);
    expect(backend.capabilities).toMatchObject({ accumulation: 'f64', threads: 1, maxBufferBytes: 2 ** 31 });
    expect(backend.capabilities.nmseTolerance).toBeGreaterThan(0);
    expect(backend.capabilities.nmseTolerance).toBeLessThanOrEqual(1e-10);
    expect(backend.capabilities.description.length).toBeGreaterThan(0);
    await backend.dispose();
  });

  it('accepts no options or an empty object, and rejects anything else', async () => {
    await (await cpu().create({})).dispose();
    await expectCode(cpu().create('fast' as never), 'INVALID_ARGUMENT', /options must be an object/);
    await expectCode(cpu().create({ threads: 4 } as never), 'INVALID_ARGUMENT', /'threads'/);
  });

  it('is what selectBackend picks for auto and for the id', async () => {
    const auto = await selectBackend({ backends: [cpu()] });
    expect(auto.id).toBe('cpu');
    await auto.dispose();
    const named = await selectBackend({ backends: [cpu()], device: 'cpu' });
    expect(named.id).toBe('cpu');
    await named.dispose();
  });
});

describe('argument checks', () => {
  async function setup(): Promise<{ backend: KernelBackend; weights: ResidentLinear }> {
    const backend = await cpu().create();
    const weights = await backend.uploadLinear(randomDbf(createRng(1), 4, 6, 3, 'normal'));
    return { backend, weights };
  }

  it('rejects invalid layers with the validation message', async () => {
    const backend = await cpu().create();
    const layer = randomDbf(createRng(2), 4, 6, 3, 'normal');
    await expectCode(
      backend.uploadLinear({ ...layer, scaleA: new Float32Array(3) }),
      'INVALID_ARGUMENT',
      /scaleA/,
    );
    await expectCode(backend.uploadLinear({ ...layer, rank: 4 }), 'INVALID_ARGUMENT');
    await expectCode(backend.uploadLinear({ ...layer, kind: 'lora' } as never), 'INVALID_ARGUMENT', /kind/);
    await expectCode(backend.uploadLinear(null as never), 'INVALID_ARGUMENT');
    const dense = randomDense(createRng(3), 2, 2, 'normal');
    await expectCode(
      backend.uploadLinear({ ...dense, bias: new Float32Array([1, Number.NaN]) }),
      'INVALID_ARGUMENT',
      /bias/,
    );
    await backend.dispose();
  });

  it('rejects wrong input and output lengths, bad batches and aliasing', async () => {
    const { backend, weights } = await setup();
    await expectCode(
      backend.linear({ weights, input: new Float32Array(5), batch: 1 }),
      'INVALID_ARGUMENT',
      /input must have 6/,
    );
    await expectCode(
      backend.linear({ weights, input: new Float32Array(6), batch: 2 }),
      'INVALID_ARGUMENT',
      /input/,
    );
    await expectCode(
      backend.linear({ weights, input: new Float32Array(6), batch: 0 }),
      'INVALID_ARGUMENT',
      /batch/,
    );
    await expectCode(
      backend.linear({ weights, input: new Float32Array(6), batch: 1.5 }),
      'INVALID_ARGUMENT',
      /batch/,
    );
    await expectCode(
      backend.linear({ weights, input: new Float32Array(6), batch: 1, output: new Float32Array(5) }),
      'INVALID_ARGUMENT',
      /output must have 4/,
    );
    await expectCode(
      backend.linear({ weights, input: new Float64Array(6) as never, batch: 1 }),
      'INVALID_ARGUMENT',
      /Float32Array/,
    );
    const shared = new Float32Array(8);
    await expectCode(
      backend.linear({ weights, input: shared.subarray(0, 6), batch: 1, output: shared.subarray(4, 8) }),
      'INVALID_ARGUMENT',
      /share memory/,
    );
    await expectCode(backend.linear(undefined as never), 'INVALID_ARGUMENT', /request/);
    await backend.dispose();
  });

  it('rejects handles from other backends and from other cpu instances', async () => {
    const { backend, weights } = await setup();
    const other = await cpu().create();
    const foreign = await other.uploadLinear(randomDbf(createRng(4), 4, 6, 3, 'normal'));
    await expectCode(
      backend.linear({ weights: foreign, input: new Float32Array(6), batch: 1 }),
      'INVALID_ARGUMENT',
      /this cpu backend/,
    );
    const fake = { ...weights };
    await expectCode(
      backend.linear({ weights: fake, input: new Float32Array(6), batch: 1 }),
      'INVALID_ARGUMENT',
      /not uploaded/,
    );
    const wasm = { ...weights, backendId: 'wasm' };
    await expectCode(
      backend.linear({ weights: wasm, input: new Float32Array(6), batch: 1 }),
      'INVALID_ARGUMENT',
      /'wasm'/,
    );
    const foreignSigns = await other.uploadSigns(packSigns([1, -1], 1, 2));
    await expectCode(
      backend.signMatMul({ signs: foreignSigns, input: new Float32Array(2), batch: 1 }),
      'INVALID_ARGUMENT',
      /this cpu backend/,
    );
    // A linear handle is not a sign handle, even with matching fields.
    const asSigns = { backendId: 'cpu', rows: 4, cols: 6, byteLength: 0, dispose() {} };
    await expectCode(
      backend.signMatMul({ signs: asSigns, input: new Float32Array(6), batch: 1 }),
      'INVALID_ARGUMENT',
    );
    await other.dispose();
    await backend.dispose();
  });

  it('checks sign uploads and sign requests', async () => {
    const backend = await cpu().create();
    const bad = randomSigns(createRng(5), 2, 5);
    bad.words[1] = 0xffffffff; // padding bits set
    await expectCode(backend.uploadSigns(bad), 'INVALID_ARGUMENT', /padding/);
    await expectCode(
      backend.uploadSigns({ rows: 1, cols: 33, wordsPerRow: 1, words: new Uint32Array(1) }),
      'INVALID_ARGUMENT',
    );
    const signs = await backend.uploadSigns(packSigns([1, 1, -1], 1, 3));
    await expectCode(
      backend.signMatMul({ signs, input: new Float32Array(4), batch: 1 }),
      'INVALID_ARGUMENT',
      /input/,
    );
    await expectCode(
      backend.signMatMul({ signs, input: new Float32Array(3), batch: 1, output: new Float32Array(2) }),
      'INVALID_ARGUMENT',
      /output/,
    );
    await backend.dispose();
  });

  it('checks gemm arguments', async () => {
    const backend = await cpu().create();
    const a = new Float32Array(6);
    const b = new Float32Array(6);
    await expectCode(backend.gemm({ a, b, m: 2, n: 2, k: 2 }), 'INVALID_ARGUMENT', /a must have 4/);
    await expectCode(
      backend.gemm({ a, b, m: 2, n: 2, k: 3, beta: 1 }),
      'INVALID_ARGUMENT',
      /c must be given/,
    );
    await expectCode(
      backend.gemm({ a, b, m: 2, n: 2, k: 3, alpha: Number.NaN }),
      'INVALID_ARGUMENT',
      /finite/,
    );
    await expectCode(
      backend.gemm({ a, b, m: 2, n: 2, k: 3, c: new Float32Array(3) }),
      'INVALID_ARGUMENT',
      /c must have 4/,
    );
    await expectCode(
      backend.gemm({ a, b, m: 2, n: 2, k: 3, c: a.subarray(0, 4) }),
      'INVALID_ARGUMENT',
      /share memory/,
    );
    await expectCode(
      backend.gemm({ a, b, m: 2, n: 2, k: 3, transposeA: 1 as never }),
      'INVALID_ARGUMENT',
      /booleans/,
    );
    await expectCode(backend.gemm({ a, b, m: 0, n: 2, k: 3 }), 'INVALID_ARGUMENT', /m must be/);
    await backend.dispose();
  });

  it('refuses buffers beyond maxBufferBytes without allocating them', async () => {
    const backend = await cpu().create();
    // validateLayer only reads lengths and values, so a fake oversized weight is enough to reach the check.
    const length = 2 ** 29 + 1;
    const weight = { length, byteLength: 4 * length } as unknown as Float32Array;
    Object.setPrototypeOf(weight, Float32Array.prototype);
    const huge = { kind: 'dense' as const, outFeatures: 1, inFeatures: length, weight };
    await expectCode(backend.uploadLinear(huge), 'UNSUPPORTED_OPERATION', /limit of 2147483648 bytes/);
    await backend.dispose();
  });
});

describe('dispose', () => {
  it('makes a disposed layer throw DISPOSED while others keep working', async () => {
    const backend = await cpu().create();
    const rng = createRng(6);
    const a = await backend.uploadLinear(randomDbf(rng, 3, 5, 2, 'integer'));
    const b = await backend.uploadLinear(randomDense(rng, 3, 5, 'integer'));
    a.dispose();
    a.dispose(); // idempotent
    await expectCode(
      backend.linear({ weights: a, input: new Float32Array(5), batch: 1 }),
      'DISPOSED',
      /layer has been disposed/,
    );
    expect((await backend.linear({ weights: b, input: new Float32Array(5).fill(1), batch: 1 })).length).toBe(
      3,
    );
    const signs = await backend.uploadSigns(randomSigns(rng, 2, 3));
    signs.dispose();
    await expectCode(backend.signMatMul({ signs, input: new Float32Array(3), batch: 1 }), 'DISPOSED');
    await backend.dispose();
  });

  it('makes every later call on the backend throw DISPOSED, and is idempotent', async () => {
    const backend = await cpu().create();
    const rng = createRng(7);
    const weights = await backend.uploadLinear(randomDbf(rng, 3, 5, 2, 'integer'));
    const signs = await backend.uploadSigns(randomSigns(rng, 2, 3));
    await backend.dispose();
    await backend.dispose();
    await expectCode(backend.linear({ weights, input: new Float32Array(5), batch: 1 }), 'DISPOSED');
    await expectCode(backend.signMatMul({ signs, input: new Float32Array(3), batch: 1 }), 'DISPOSED');
    await expectCode(backend.uploadLinear(randomDbf(rng, 3, 5, 2, 'integer')), 'DISPOSED');
    await expectCode(backend.uploadSigns(randomSigns(rng, 2, 3)), 'DISPOSED');
    await expectCode(
      backend.gemm({ a: new Float32Array(1), b: new Float32Array(1), m: 1, n: 1, k: 1 }),
      'DISPOSED',
    );
    // Disposing a handle after its backend is gone is harmless.
    weights.dispose();
    signs.dispose();
  });

  it('leaves another instance untouched', async () => {
    const first = await cpu().create();
    const second = await cpu().create();
    const rng = createRng(8);
    const weights = await second.uploadLinear(randomDbf(rng, 2, 3, 2, 'integer'));
    await first.dispose();
    const y = await second.linear({ weights, input: randomValues(rng, 3, 'integer'), batch: 1 });
    expect(y.length).toBe(2);
    await second.dispose();
  });
});
