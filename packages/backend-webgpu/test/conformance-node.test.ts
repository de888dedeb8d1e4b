import {
  describeKernelConformance,
  nmse,
  randomDbfLayer,
  randomDenseLayer,
  randomVector,
  referenceLinear,
} from '@dbf/conformance';
import { createRng, DbfError } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { webgpu } from '../src/index';
import { describeConformanceCases } from './conformance-cases';
import { nodeGpu, sharedDevice } from './node-gpu';

// The conformance suite on the `webgpu` package (Dawn) — SwiftShader in CI — three ways, on one device
// (backends on a device share compiled pipelines): the full suite with the GEMV reducing through
// subgroupAdd when the adapter has subgroups; the full suite reducing through workgroup memory; and,
// with the storage-binding limit forced down to 8 KiB (weights split into row blocks, batches into parts,
// GEMMs into blocks), the numeric cases. The backend creating its own device is covered by the other
// test files and the browser test.
const env = await nodeGpu();
const LIMIT = 8192;

if (env.gpu) {
  const device = await sharedDevice(env.gpu);
  describeKernelConformance({
    name: 'webgpu (Node, subgroups when available)',
    factory: webgpu({ device }),
    timeout: 120_000,
    summary: false,
  });
  describeKernelConformance({
    name: 'webgpu (Node, workgroup-memory reduction)',
    factory: webgpu({ device, subgroups: 'off' }),
    timeout: 120_000,
    summary: false,
  });
  // Blocked GEMMs submit once per block. One blocked shape as A·B (rows of A contiguous, columns of B
  // extracted) and Aᵀ·Bᵀ (the opposite extractions) covers every block-copy path.
  describeConformanceCases(
    `kernel conformance v1: webgpu (Node, storage bindings limited to ${LIMIT} bytes), numeric cases`,
    webgpu({ device, maxStorageBufferBindingSize: LIMIT }),
    (c) =>
      ['golden', 'linear', 'signMatMul'].includes(c.group) ||
      (c.group === 'gemm' && /^(AB|AtBt) m=33 n=100 k=129/.test(c.title)),
  );

  describe('storage-binding limit of 4096 bytes', () => {
    it('splits weights into row blocks and keeps every buffer within the limit', async () => {
      const backend = await webgpu({ device, maxStorageBufferBindingSize: 4096 }).create();
      expect(backend.capabilities.maxBufferBytes).toBe(4096);
      const sizes: number[] = [];
      const createBuffer = device.createBuffer;
      device.createBuffer = (descriptor) => {
        sizes.push(descriptor.size);
        return createBuffer.call(device, descriptor);
      };
      try {
        const rng = createRng(11);
        // S_B is 160 × 10 words (6400 B), S_A 200 × 5 words (4000 B), dense 96 × 320 floats (122880 B).
        const dbf = randomDbfLayer(rng, { outFeatures: 200, inFeatures: 300, rank: 160, bias: true });
        const dense = randomDenseLayer(rng, { outFeatures: 96, inFeatures: 320, bias: true });
        for (const [layer, batch] of [
          [dbf, 5],
          [dense, 1],
          [dense, 4],
        ] as const) {
          sizes.length = 0;
          const weights = await backend.uploadLinear(layer);
          expect(sizes.length).toBeGreaterThan(layer.kind === 'dense' ? 30 : 3);
          const input = randomVector(rng, batch * layer.inFeatures);
          const y = await backend.linear({ weights, input, batch });
          expect(nmse(y, referenceLinear(layer, input, batch))).toBeLessThan(1e-9);
          expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
          weights.dispose();
        }
      } finally {
        device.createBuffer = createBuffer;
        await backend.dispose();
      }
    });

    it('rejects a matrix whose single row exceeds the limit with UNSUPPORTED_OPERATION', async () => {
      const backend = await webgpu({ device, maxStorageBufferBindingSize: 1024 }).create();
      const layer = randomDenseLayer(createRng(3), { outFeatures: 2, inFeatures: 300 });
      const error = await backend.uploadLinear(layer).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(DbfError.isInstance(error) && error.code).toBe('UNSUPPORTED_OPERATION');
      expect((error as Error).message).toMatch(
        /one row takes 1200 bytes, above the storage-binding limit of 1024/,
      );
      await backend.dispose();
    });
  });
} else {
  describe('kernel conformance: webgpu (Node)', () => {
    it.skip(`[skipped: ${env.skip}]`, () => {});
  });
}
