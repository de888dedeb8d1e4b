import {
  nmse,
  randomDbfLayer,
  randomDenseLayer,
  randomMdbfLayer,
  randomSigns,
  randomVector,
  referenceLinear,
  referenceSignMatMul,
} from '@dbf/conformance';
import { createRng, DbfError, type LinearLayer } from '@dbf/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebGpuBackend, webgpu } from '../src/index';
import { nodeGpu, sharedDevice } from './node-gpu';

const env = await nodeGpu();

/** Counts calls to the device methods that allocate GPU objects or submit work. */
function spyDevice(device: GPUDevice) {
  const counts = { createBuffer: 0, createBindGroup: 0, submit: 0 };
  const d = device as unknown as Record<string, (...args: unknown[]) => unknown>;
  const q = device.queue as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = { createBuffer: d.createBuffer!, createBindGroup: d.createBindGroup!, submit: q.submit! };
  d.createBuffer = (...args) => {
    counts.createBuffer++;
    return originals.createBuffer.apply(device, args);
  };
  d.createBindGroup = (...args) => {
    counts.createBindGroup++;
    return originals.createBindGroup.apply(device, args);
  };
  q.submit = (...args) => {
    counts.submit++;
    return originals.submit.apply(device.queue, args);
  };
  return {
    counts,
    reset: () => Object.assign(counts, { createBuffer: 0, createBindGroup: 0, submit: 0 }),
    restore: () => {
      d.createBuffer = originals.createBuffer;
      d.createBindGroup = originals.createBindGroup;
      q.submit = originals.submit;
    },
  };
}

async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(DbfError.isInstance(error), `expected a DbfError, got ${String(error)}`).toBe(true);
  expect((error as DbfError).code).toBe(code);
  if (message) expect((error as DbfError).message).toMatch(message);
}

describe.skipIf(!env.gpu)(`chaining API${env.skip ? ` [skipped: ${env.skip}]` : ''}`, () => {
  let backend: WebGpuBackend;
  const rng = createRng(2024);
  // x (96) → dbf → 80 → mdbf (l = 3) → 70 → dense → 33; and signs 50 × 33 on the last output.
  const layers: LinearLayer[] = [
    randomDbfLayer(rng, { outFeatures: 80, inFeatures: 96, rank: 40, bias: true }),
    randomMdbfLayer(rng, { outFeatures: 70, inFeatures: 80, rank: 33, envelopeRank: 3, bias: true }),
    randomDenseLayer(rng, { outFeatures: 33, inFeatures: 70, bias: true }),
  ];
  const signs = randomSigns(rng, 50, 33);

  beforeAll(async () => {
    backend = await webgpu({ device: await sharedDevice(env.gpu!) }).create();
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  for (const batch of [1, 3]) {
    it(`runs several layers in one submission, bitwise equal to plain calls (batch ${batch})`, async () => {
      const handles = await Promise.all(layers.map((l) => backend.uploadLinear(l)));
      const resident = await backend.uploadSigns(signs);
      const chain = backend.chain();
      const x = chain.input(96, batch);
      let t = x;
      for (const h of handles) t = chain.linear(h, t);
      const last = t;
      const s = chain.signMatMul(resident, last);
      expect(chain.output(last)).toBe(0);
      expect(chain.output(s)).toBe(1);

      const spy = spyDevice(backend.device);
      try {
        for (let run = 0; run < 3; run++) {
          const input = randomVector(rng, batch * 96);
          spy.reset();
          const [y, z] = await chain.run([input]);
          // One submission per run; after the first run, no buffers or bind groups are created.
          expect(spy.counts.submit).toBe(1);
          if (run > 0)
            expect({ buffers: spy.counts.createBuffer, groups: spy.counts.createBindGroup }).toEqual({
              buffers: 0,
              groups: 0,
            });

          let plain = input;
          for (const h of handles) plain = await backend.linear({ weights: h, input: plain, batch });
          expect(Array.from(y!)).toEqual(Array.from(plain));
          expect(Array.from(z!)).toEqual(
            Array.from(await backend.signMatMul({ signs: resident, input: plain, batch })),
          );

          let expected: ArrayLike<number> = input;
          for (const l of layers) expected = referenceLinear(l, expected, batch);
          expect(nmse(y!, expected)).toBeLessThan(1e-9);
          expect(nmse(z!, referenceSignMatMul(signs, y!, batch))).toBeLessThan(1e-9);
        }
      } finally {
        spy.restore();
      }
      chain.dispose();
      for (const h of handles) h.dispose();
      resident.dispose();
    });
  }

  it('writes into caller-provided outputs and runs custom GPU work in order', async () => {
    const weights = await backend.uploadLinear(layers[0]!);
    const second = await backend.uploadLinear(layers[1]!);
    const chain = backend.chain();
    const x = chain.input(96);
    const h = chain.linear(weights, x);
    // Zero the hidden activations: the next layer must then output exactly its bias.
    chain.custom((encoder) => encoder.clearBuffer(h.buffer, h.byteOffset, h.stride * 4));
    const y = chain.linear(second, h);
    chain.output(y);
    const out = new Float32Array(70).fill(Number.NaN);
    const [result] = await chain.run([randomVector(rng, 96)], [out]);
    expect(result).toBe(out);
    expect(Array.from(out)).toEqual(Array.from((layers[1] as { bias: Float32Array }).bias));
    chain.dispose();
    weights.dispose();
    second.dispose();
  });

  it('detects a write into a guard word after a tensor', async () => {
    const weights = await backend.uploadLinear(layers[0]!);
    const chain = backend.chain();
    const h = chain.linear(weights, chain.input(96));
    chain.output(h);
    // Stand-in for an out-of-bounds store: clear the first word past the tensor's data.
    chain.custom((encoder) => encoder.clearBuffer(h.buffer, h.byteOffset + h.batch * h.stride * 4, 4));
    await expectCode(
      chain.run([randomVector(rng, 96)]),
      'BACKEND_FAILURE',
      /outside its output tensor region/,
    );
    chain.dispose();
    weights.dispose();
  });

  it('rejects bad recordings and runs with clear errors', async () => {
    const weights = await backend.uploadLinear(layers[0]!);
    const other = backend.chain();
    const chain = backend.chain();
    const x = chain.input(96, 2);
    expect(() => chain.linear(weights, other.input(96))).toThrow(/tensor recorded in this chain/);
    expect(() => chain.linear(weights, chain.input(95))).toThrow(/expects vectors of 96 features/);
    expect(() => chain.input(0)).toThrow(/features/);
    const y = chain.linear(weights, x);
    chain.output(y);
    await expectCode(chain.run([]), 'INVALID_ARGUMENT', /needs 2 input arrays/);
    // chain.input(95) above declared a second input (batch 1) before linear() rejected it.
    await expectCode(
      chain.run([new Float32Array(96 * 2), new Float32Array(94)]),
      'INVALID_ARGUMENT',
      /inputs\[1\] must have batch·features = 95/,
    );
    await expectCode(
      chain.run([new Float32Array(96 * 2), new Float32Array(95)], [new Float32Array(1)]),
      'INVALID_ARGUMENT',
    );
    weights.dispose();
    await expectCode(
      chain.run([new Float32Array(96 * 2), new Float32Array(95)]),
      'DISPOSED',
      /layer recorded in this chain/,
    );
    chain.dispose();
    other.dispose();
    expect(chain.disposed).toBe(true);
    await expectCode(chain.run([]), 'DISPOSED', /chain has been disposed/);
  });

  it('MDBF envelope ranks above 8 (a wider kernel variant) match the reference, plain and chained', async () => {
    const layer = randomMdbfLayer(rng, {
      outFeatures: 40,
      inFeatures: 70,
      rank: 24,
      envelopeRank: 12,
      bias: true,
    });
    const weights = await backend.uploadLinear(layer);
    for (const batch of [1, 3]) {
      const input = randomVector(rng, batch * 70);
      const plain = await backend.linear({ weights, input, batch });
      expect(nmse(plain, referenceLinear(layer, input, batch))).toBeLessThan(1e-9);
      const chain = backend.chain();
      chain.output(chain.linear(weights, chain.input(70, batch)));
      expect(Array.from((await chain.run([input]))[0]!)).toEqual(Array.from(plain));
      chain.dispose();
    }
    weights.dispose();
  });

  it('batches above 8 (the prefill tiles of the sign GEMM, the tiled GEMM for dense layers) match the reference', async () => {
    const cases: LinearLayer[] = [
      randomDbfLayer(rng, { outFeatures: 70, inFeatures: 100, rank: 40, bias: true }),
      randomMdbfLayer(rng, { outFeatures: 66, inFeatures: 45, rank: 33, envelopeRank: 3 }),
      randomDenseLayer(rng, { outFeatures: 65, inFeatures: 70, bias: true }),
    ];
    for (const layer of cases) {
      const weights = await backend.uploadLinear(layer);
      for (const batch of [9, 33]) {
        const input = randomVector(rng, batch * layer.inFeatures);
        const y = await backend.linear({ weights, input, batch });
        expect(nmse(y, referenceLinear(layer, input, batch)), `${layer.kind} batch ${batch}`).toBeLessThan(
          1e-9,
        );
      }
      weights.dispose();
    }
    const resident = await backend.uploadSigns(signs);
    const input = randomVector(rng, 40 * 33);
    expect(
      nmse(
        await backend.signMatMul({ signs: resident, input, batch: 40 }),
        referenceSignMatMul(signs, input, 40),
      ),
    ).toBeLessThan(1e-9);
    resident.dispose();
  });

  it('plain calls reuse their GPU objects: no buffers or bind groups after the first call', async () => {
    const weights = await backend.uploadLinear(layers[1]!);
    const input = randomVector(rng, 2 * 80);
    await backend.linear({ weights, input, batch: 2 });
    const spy = spyDevice(backend.device);
    try {
      const output = new Float32Array(2 * 70);
      for (let i = 0; i < 3; i++) await backend.linear({ weights, input, batch: 2, output });
      expect(spy.counts).toEqual({ createBuffer: 0, createBindGroup: 0, submit: 3 });
    } finally {
      spy.restore();
      weights.dispose();
    }
  });
});

describe.skipIf(!env.gpu)('chains and backend disposal', () => {
  it('a backend dispose disposes its chains', async () => {
    const backend = await webgpu({ gpu: env.gpu!, allowFallbackAdapter: true }).create();
    const weights = await backend.uploadSigns(randomSigns(createRng(1), 8, 8));
    const chain = backend.chain();
    chain.output(chain.signMatMul(weights, chain.input(8)));
    expect((await chain.run([new Float32Array(8).fill(1)]))[0]).toHaveLength(8);
    await backend.dispose();
    await expectCode(chain.run([new Float32Array(8)]), 'DISPOSED');
    expect(() => backend.chain()).toThrow(/disposed/);
  });
});
