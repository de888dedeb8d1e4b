import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  randomDbfLayer,
  randomDenseLayer,
  randomMdbfLayer,
  randomSigns,
  randomVector,
} from '@dbf/conformance';
import { createRng, type GemmRequest, type KernelBackend, type LinearLayer } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { wasm as browserWasm } from '../src/index';
import { type WasmBackend, type WorkerFactory, wasm } from '../src/node';

const run = promisify(execFile);

function bits(x: Float32Array): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
}

async function outputs(backend: KernelBackend): Promise<string[]> {
  const rng = createRng(99);
  const layers: LinearLayer[] = [
    randomDbfLayer(rng, { outFeatures: 200, inFeatures: 333, rank: 100, bias: true }),
    randomMdbfLayer(rng, { outFeatures: 70, inFeatures: 129, rank: 33, envelopeRank: 3 }),
    randomDenseLayer(rng, { outFeatures: 101, inFeatures: 65, bias: true }),
  ];
  const out: string[] = [];
  for (const layer of layers) {
    const handle = await backend.uploadLinear(layer);
    for (const batch of [1, 5])
      out.push(
        bits(
          await backend.linear({
            weights: handle,
            input: randomVector(rng, batch * layer.inFeatures),
            batch,
          }),
        ),
      );
    handle.dispose();
  }
  const signs = await backend.uploadSigns(randomSigns(rng, 301, 200));
  out.push(bits(await backend.signMatMul({ signs, input: randomVector(rng, 3 * 200), batch: 3 })));
  const gemm: GemmRequest = {
    a: randomVector(rng, 130 * 300),
    b: randomVector(rng, 70 * 300),
    m: 130,
    n: 70,
    k: 300,
    transposeB: true,
  };
  out.push(bits(await backend.gemm(gemm)));
  return out;
}

describe('threads', () => {
  it('worker_threads give the same bits as one thread, for both variants', async () => {
    for (const variant of ['int8', 'exact'] as const) {
      const single = await wasm({ variant, threads: 1 }).create();
      const threaded = await wasm({ variant, threads: 3, parallelThresholdMicroseconds: 0 }).create();
      expect(single.capabilities.threads).toBe(1);
      expect(threaded.capabilities.threads).toBe(3);
      expect(threaded.capabilities.description).toMatch(/3 threads \(worker_threads\)/);
      expect(await outputs(threaded)).toEqual(await outputs(single));
      await Promise.all([single.dispose(), threaded.dispose()]);
    }
  });

  it('runs jobs below parallelThresholdMicroseconds on the calling thread, without waking workers', async () => {
    const backend = (await wasm({ threads: 2, parallelThresholdMicroseconds: 100 }).create()) as WasmBackend;
    const internals = backend as unknown as { heap: { i32: Int32Array }; ctrl: number };
    // The control block's `threads` word (byte 16) says how many threads the last job was offered.
    const offered = () => internals.heap.i32[(internals.ctrl + 16) >>> 2]!;
    const rng = createRng(5);
    const small = await backend.uploadSigns(randomSigns(rng, 64, 64)); // ~0.1 µs of work
    const big = await backend.uploadSigns(randomSigns(rng, 4096, 4096)); // ~300 µs
    await backend.signMatMul({ signs: small, input: randomVector(rng, 64), batch: 1 });
    expect(offered()).toBe(1);
    await backend.signMatMul({ signs: big, input: randomVector(rng, 4096), batch: 1 });
    expect(offered()).toBe(2);
    await backend.dispose();
  });

  it('never waits for a worker that does not run: the calling thread claims every chunk', async () => {
    // A "worker" that reports ready and then never executes a job, like one that is descheduled for good.
    const asleep: WorkerFactory = {
      name: 'sleeping workers',
      prelude: '',
      create(_source, onMessage) {
        setTimeout(() => onMessage({ type: 'ready' }), 1);
        return { postMessage() {}, terminate() {} };
      },
    };
    const stuck = await wasm({
      threads: 2,
      workerFactory: asleep,
      parallelThresholdMicroseconds: 0,
    }).create();
    const single = await wasm({ threads: 1 }).create();
    expect(stuck.capabilities.threads).toBe(2);
    expect(await outputs(stuck)).toEqual(await outputs(single));
    await Promise.all([stuck.dispose(), single.dispose()]);
  });

  it('the browser entry falls back to one thread in Node (no Worker global) and says why', async () => {
    const backend = await browserWasm({ threads: 2 }).create();
    expect(backend.capabilities.threads).toBe(1);
    expect(backend.capabilities.description).toMatch(
      /single-threaded: no way to start workers.*@dbf\/backend-wasm\/node/,
    );
    await backend.dispose();
  });

  it('falls back to one thread when a worker fails to start', async () => {
    const failing: WorkerFactory = {
      name: 'broken workers',
      prelude: '',
      create(_source, _onMessage, onError) {
        setTimeout(() => onError(new Error('worker script blocked')), 1);
        return { postMessage() {}, terminate() {} };
      },
    };
    const backend = await wasm({ threads: 2, workerFactory: failing }).create();
    expect(backend.capabilities.threads).toBe(1);
    expect(backend.capabilities.description).toMatch(
      /single-threaded: .*broken workers.*worker script blocked/,
    );
    const signs = await backend.uploadSigns(randomSigns(createRng(1), 10, 10));
    expect((await backend.signMatMul({ signs, input: new Float32Array(10).fill(1), batch: 1 })).length).toBe(
      10,
    );
    await backend.dispose();
  });

  it('workers never keep the Node process alive, with or without dispose', async () => {
    const script = fileURLToPath(new URL('./fixtures/threaded-run.mts', import.meta.url));
    for (const mode of ['dispose', 'keep']) {
      const { stdout } = await run(
        process.execPath,
        ['--conditions=@dbf/source', '--import', 'tsx', script, mode],
        {
          timeout: 30_000,
        },
      );
      expect(stdout).toContain('done threads=2');
    }
  });
});
