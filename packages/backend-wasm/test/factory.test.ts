import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nmse, randomVector, referenceGemm } from '@dbf/conformance';
import { createRng, DbfError, InvalidArgumentError, selectBackend } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import {
  createStreamingReadProbe,
  EXACT_NMSE_TOLERANCE,
  INT8_NMSE_TOLERANCE,
  relaxedSimdSupported,
  simdUnavailableReason,
  wasm,
} from '../src/index';
import { withUnsharedMemory } from '../src/kernel-module';
import { RELAXED_MODULE_BASE64, STRICT_MODULE_BASE64 } from '../src/kernel-module.generated';

const run = promisify(execFile);
const bytes = (base64: string) => new Uint8Array(Buffer.from(base64, 'base64'));

describe('wasm() factory', () => {
  it('is the backend "wasm" with priority 2, available where SIMD validates', async () => {
    const factory = wasm();
    expect(factory.id).toBe('wasm');
    expect(factory.priority).toBe(2);
    expect(simdUnavailableReason()).toBeUndefined();
    expect(await factory.isAvailable()).toEqual({ available: true });
    const backend = await selectBackend({ backends: [factory], device: 'auto' });
    expect(backend.id).toBe('wasm');
    await backend.dispose();
  });

  it('declares the variant in its capabilities', async () => {
    const int8 = await wasm({ threads: 1 }).create();
    expect(int8.capabilities).toMatchObject({
      accumulation: 'int8',
      nmseTolerance: INT8_NMSE_TOLERANCE,
      threads: 1,
    });
    expect(int8.capabilities.description).toMatch(/int8 tables/);
    const exact = await wasm({ threads: 1 }).create({ variant: 'exact' });
    expect(exact.capabilities).toMatchObject({ accumulation: 'f32', nmseTolerance: EXACT_NMSE_TOLERANCE });
    expect(exact.capabilities.description).toMatch(/exact f32 mask-and-add/);
    await Promise.all([int8.dispose(), exact.dispose()]);
  });

  it('rejects bad options with InvalidArgumentError', async () => {
    const bad: unknown[] = [
      { variant: 'int4' },
      { threads: 0 },
      { threads: 1.5 },
      { threads: 65 },
      { simd: 'fast' },
      { maxMemoryBytes: 1000 },
      { maxMemoryBytes: 2 ** 33 },
      { workerFactory: {} },
      { parallelThresholdMicroseconds: -1 },
      { parallelThresholdMicroseconds: Number.POSITIVE_INFINITY },
    ];
    for (const options of bad) {
      expect(() => wasm(options as never)).toThrow(InvalidArgumentError);
      await expect(wasm().create(options as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(wasm().create(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("honours simd: 'relaxed' only where relaxed SIMD validates", async () => {
    if (relaxedSimdSupported()) {
      const backend = await wasm({ threads: 1, simd: 'relaxed' }).create();
      expect(backend.capabilities.description).toMatch(/relaxed swizzle/);
      await backend.dispose();
    } else {
      const failure = await wasm({ threads: 1, simd: 'relaxed' })
        .create()
        .catch((error: unknown) => error);
      expect(DbfError.isInstance(failure) && failure.code).toBe('UNSUPPORTED_OPERATION');
    }
    const strict = await wasm({ threads: 1, simd: 'strict' }).create();
    expect(strict.capabilities.description).not.toMatch(/relaxed/);
    await strict.dispose();
  });

  it('relaxed and strict kernels give identical bits (checked in a process with relaxed SIMD on)', async () => {
    const script = fileURLToPath(new URL('./fixtures/relaxed-vs-strict.mts', import.meta.url));
    const flags = relaxedSimdSupported() ? [] : ['--experimental-wasm-relaxed-simd'];
    const { stdout } = await run(
      process.execPath,
      [...flags, '--conditions=@dbf/source', '--import', 'tsx', script],
      { timeout: 30_000 },
    );
    expect(stdout).toMatch(/relaxed: .*relaxed swizzle/);
    expect(stdout.trim().endsWith('identical')).toBe(true);
  });
});

describe('kernel module', () => {
  it('declares a shared memory; the unshared copy differs only in that flag and links to a plain memory', async () => {
    for (const base64 of [STRICT_MODULE_BASE64, RELAXED_MODULE_BASE64]) {
      const shared = bytes(base64);
      const unshared = withUnsharedMemory(shared);
      const differing = shared.reduce((count, b, i) => count + (b !== unshared[i] ? 1 : 0), 0);
      expect(unshared.length).toBe(shared.length);
      expect(differing).toBe(1);
      if (base64 === RELAXED_MODULE_BASE64 && !relaxedSimdSupported()) continue;
      const plain = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
      expect(
        () => new WebAssembly.Instance(new WebAssembly.Module(unshared), { env: { memory: plain } }),
      ).not.toThrow();
      expect(
        () => new WebAssembly.Instance(new WebAssembly.Module(shared), { env: { memory: plain } }),
      ).toThrow();
      const sharedMemory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
      expect(
        () => new WebAssembly.Instance(new WebAssembly.Module(shared), { env: { memory: sharedMemory } }),
      ).not.toThrow();
    }
  });
});

describe('gemm blocking', () => {
  it('matches the float64 reference across K, M and N block boundaries and all transposes', async () => {
    const backend = await wasm({ threads: 1 }).create();
    const rng = createRng(12);
    // k > 256 (two K blocks), m > 128 (two M blocks), n > 1024 (two N blocks), none a tile multiple.
    for (const [m, n, k] of [
      [131, 9, 300],
      [3, 1030, 17],
    ] as const) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const request = {
            a: randomVector(rng, m * k),
            b: randomVector(rng, k * n),
            m,
            n,
            k,
            transposeA,
            transposeB,
            alpha: 0.75,
            beta: -1.25,
            c: randomVector(rng, m * n),
          };
          const expected = referenceGemm(request);
          const actual = await backend.gemm({ ...request, c: Float32Array.from(request.c) });
          expect(nmse(actual, expected)).toBeLessThan(1e-12);
        }
      }
    }
    await backend.dispose();
  });
});

describe('streaming-read probe', () => {
  it('rotates through its copies and returns their checksums', async () => {
    const probe = await createStreamingReadProbe({ bytes: 1000, copies: 3 });
    expect(probe.bytes).toBe(1024);
    expect(probe.copies).toBe(3);
    const first = [probe.run(), probe.run(), probe.run()];
    expect([probe.run(), probe.run(), probe.run()]).toEqual(first);
    expect(new Set(first).size).toBe(3);
    // Copy 0 holds words i·0x9e3779b1 for i < 256; the probe adds them in four i32x4 accumulators and
    // XORs the lanes of the total.
    const lanes = [0, 0, 0, 0];
    for (let i = 0; i < 256; i++) lanes[i & 3] = (lanes[i & 3]! + Math.imul(i, 0x9e3779b1)) | 0;
    expect(first[0]).toBe(lanes[0]! ^ lanes[1]! ^ lanes[2]! ^ lanes[3]!);
    probe.dispose();
    expect(() => probe.run()).toThrow(InvalidArgumentError);
  });

  it('defaults to enough copies to leave a 32 MiB cache behind', async () => {
    const probe = await createStreamingReadProbe({ bytes: 2 << 20, minTotalBytes: 64 << 20 });
    expect(probe.copies).toBe(32);
    probe.dispose();
    await expect(createStreamingReadProbe({ bytes: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
