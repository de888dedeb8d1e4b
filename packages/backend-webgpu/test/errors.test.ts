import { randomDbfLayer, randomVector } from '@dbf/conformance';
import {
  type BackendFactory,
  createRng,
  DbfError,
  NoBackendAvailableError,
  packSigns,
  selectBackend,
} from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { acquireDevice } from '../src/acquire-device';
import { GpuContext } from '../src/gpu-context';
import { webgpu } from '../src/index';
import { nodeGpu, sharedDevice } from './node-gpu';

const env = await nodeGpu();

async function rejection(promise: Promise<unknown>): Promise<DbfError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!DbfError.isInstance(error)) throw new Error(`expected a DbfError rejection, got ${String(error)}`);
  return error;
}

/** A GPU whose adapter request finds nothing, as on a machine without drivers. */
const noAdapterGpu = { requestAdapter: async () => null } as unknown as GPU;

describe('availability and selection (no GPU needed)', () => {
  it('isAvailable explains a missing navigator.gpu', async () => {
    const availability = await webgpu().isAvailable();
    expect(availability.available).toBe(false);
    expect(availability.available === false && availability.reason).toMatch(
      /navigator\.gpu is undefined.*"webgpu" package/,
    );
  });

  it('isAvailable explains a null adapter, and create() fails with UNSUPPORTED_OPERATION', async () => {
    const factory = webgpu({ gpu: noAdapterGpu });
    const availability = await factory.isAvailable();
    expect(availability.available === false && availability.reason).toMatch(
      /requestAdapter\(\) returned null/,
    );
    const error = await rejection(factory.create());
    expect(error.code).toBe('UNSUPPORTED_OPERATION');
  });

  it("'auto' selection falls back to the next backend, and lists webgpu's reason when none works", async () => {
    const sentinel = { id: 'stub' };
    const stub: BackendFactory = {
      id: 'stub',
      priority: 0,
      isAvailable: async () => ({ available: true }),
      create: async () => sentinel as never,
    };
    expect(await selectBackend({ backends: [webgpu({ gpu: noAdapterGpu }), stub] })).toBe(sentinel);
    const error = await rejection(selectBackend({ backends: [webgpu({ gpu: noAdapterGpu })] }));
    expect(error).toBeInstanceOf(NoBackendAvailableError);
    expect(error.message).toMatch(/\[webgpu\] requestAdapter\(\) returned null/);
  });

  it('rejects unknown or malformed options', () => {
    expect(() => webgpu({ subgroup: 'off' } as never)).toThrow(/unknown option 'subgroup'/);
    expect(() => webgpu({ maxStorageBufferBindingSize: 1000 })).toThrow(/maxStorageBufferBindingSize/);
    expect(() => webgpu({ subgroups: 'maybe' as never })).toThrow(/'auto', 'off' or 'require'/);
  });

  it('devices below the kernels’ limits (compatibility mode) fail with UNSUPPORTED_OPERATION naming the limit', async () => {
    const device = {
      features: new Set<string>(),
      limits: {
        maxComputeInvocationsPerWorkgroup: 128,
        maxComputeWorkgroupSizeX: 128,
        maxStorageBuffersPerShaderStage: 4,
        maxComputeWorkgroupStorageSize: 16_384,
      },
      lost: new Promise(() => {}),
    } as unknown as GPUDevice;
    const error = await rejection(acquireDevice({ device }));
    expect(error.code).toBe('UNSUPPORTED_OPERATION');
    expect(error.message).toMatch(
      /maxComputeInvocationsPerWorkgroup 128 < 256.*maxStorageBuffersPerShaderStage 4 < 6/,
    );
  });
});

describe.skipIf(!env.gpu)(
  `adapter, features and device loss${env.skip ? ` [skipped: ${env.skip}]` : ''}`,
  () => {
    it('refuses a software fallback adapter unless allowFallbackAdapter is set', async () => {
      const adapter = await env.gpu!.requestAdapter();
      const availability = await webgpu({ gpu: env.gpu! }).isAvailable();
      if (adapter!.info.isFallbackAdapter) {
        expect(availability.available === false && availability.reason).toMatch(
          /software fallback.*allowFallbackAdapter: true/,
        );
        expect((await rejection(webgpu({ gpu: env.gpu! }).create())).code).toBe('UNSUPPORTED_OPERATION');
      } else {
        expect(availability).toEqual({ available: true });
      }
      expect(await webgpu({ gpu: env.gpu!, allowFallbackAdapter: true }).isAvailable()).toEqual({
        available: true,
      });
    });

    it('a required feature the adapter lacks fails with UNSUPPORTED_OPERATION naming it', async () => {
      const adapter = await env.gpu!.requestAdapter();
      const missing = (['shader-f16', 'float32-filterable', 'timestamp-query'] as const).find(
        (f) => !adapter!.features.has(f),
      );
      if (!missing) return; // an adapter with every candidate feature: nothing to check here
      const error = await rejection(
        webgpu({ gpu: env.gpu!, allowFallbackAdapter: true, requiredFeatures: [missing] }).create(),
      );
      expect(error.code).toBe('UNSUPPORTED_OPERATION');
      expect(error.message).toContain(`'${missing}'`);
    });

    it("subgroups: 'require' on a device without the feature fails with UNSUPPORTED_OPERATION", async () => {
      const device = await (await env.gpu!.requestAdapter())!.requestDevice();
      const error = await rejection(webgpu({ device, subgroups: 'require' }).create());
      expect(error.code).toBe('UNSUPPORTED_OPERATION');
      expect(error.message).toMatch(/no 'subgroups' feature/);
      device.destroy();
    });

    it('a lost device fails every later call with BACKEND_FAILURE, and an injected device is not destroyed by dispose', async () => {
      const device = await (await env.gpu!.requestAdapter())!.requestDevice();
      const backend = await webgpu({ device }).create();
      const signs = await backend.uploadSigns(packSigns([1, -1, 1, 1, -1, -1], 2, 3));
      const y = await backend.signMatMul({ signs, input: Float32Array.from([1, 2, 3]), batch: 1 });
      expect(Array.from(y)).toEqual([2, -4]);
      const second = await webgpu({ device }).create();
      await second.dispose();
      // The first backend still works: disposing a backend leaves an injected device alive.
      expect(
        Array.from(await backend.signMatMul({ signs, input: Float32Array.from([1, 1, 1]), batch: 1 })),
      ).toEqual([1, -1]);

      device.destroy();
      await device.lost;
      const error = await rejection(
        backend.signMatMul({ signs, input: Float32Array.from([1, 2, 3]), batch: 1 }),
      );
      expect(error.code).toBe('BACKEND_FAILURE');
      expect(error.message).toMatch(/GPU device was lost \(destroyed/);
      expect((await rejection(backend.uploadSigns(packSigns([1], 1, 1)))).code).toBe('BACKEND_FAILURE');
      expect(() => backend.chain()).toThrow(/device was lost/);
      await backend.dispose();
    });

    it('guard words catch a kernel that writes past its output (plain calls)', async () => {
      const backend = await webgpu({ device: await sharedDevice(env.gpu!), subgroups: 'off' }).create();
      const rng = createRng(5);
      const weights = await backend.uploadLinear(
        randomDbfLayer(rng, { outFeatures: 32, inFeatures: 40, rank: 32 }),
      );
      const input = randomVector(rng, 40);
      await backend.linear({ weights, input, batch: 1 });
      // Recompile the GEMV with its store shifted by one row: the last row lands in the trailing guard.
      const original = GpuContext.prototype.pipeline;
      GpuContext.prototype.pipeline = function (this: GpuContext, key, code, flags) {
        if (!key.startsWith('sign-gemv')) return original.call(this, key, code, flags);
        return original.call(
          this,
          `${key} off-by-one`,
          () =>
            code().replace(
              'Y[params.outOffset + params.rowOffset + r] = out;',
              'Y[params.outOffset + params.rowOffset + r + 1u] = out;',
            ),
          flags,
        );
      };
      try {
        const error = await rejection(backend.linear({ weights, input, batch: 1 }));
        expect(error.code).toBe('BACKEND_FAILURE');
        expect(error.message).toMatch(/wrote outside its (output|intermediate) region/);
      } finally {
        GpuContext.prototype.pipeline = original;
      }
      // With the real kernel the same backend is healthy again.
      expect((await backend.linear({ weights, input, batch: 1 })).length).toBe(32);
      await backend.dispose();
    });
  },
);
