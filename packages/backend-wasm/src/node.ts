/**
 * @dbf/backend-wasm/node — the same backend with Node's worker_threads as its threads. Import `wasm`
 * from here in Node to compute on several cores; workers are unref'd, so they never keep the process
 * alive, and `dispose()` stops them.
 *
 * worker_threads is reached through `process.getBuiltinModule` (Node ≥ 20.16), not a static import,
 * so this entry holds no Node-only import either and bundlers leave it alone.
 */
import { BackendError, type BackendFactory } from '@dbf/core';
import type { WorkerFactory } from './thread-pool';
import { type WasmBackendOptions, type WasmPlatform, wasmFactoryFor } from './wasm-factory';

export * from './index';

interface NodeWorker {
  on(event: 'message' | 'error', listener: (value: unknown) => void): void;
  postMessage(message: unknown): void;
  terminate(): Promise<number>;
  unref(): void;
}

interface NodeProcess {
  getBuiltinModule?(id: string): unknown;
}

function builtin<T>(id: string): T {
  const process = (globalThis as { process?: NodeProcess }).process;
  const get = process?.getBuiltinModule;
  if (typeof get !== 'function') {
    throw new BackendError(
      'wasm',
      'UNSUPPORTED_OPERATION',
      `@dbf/backend-wasm/node needs Node.js >= 20.16 (process.getBuiltinModule) to load ${id}.`,
    );
  }
  return get.call(process, id) as T;
}

/** Starts kernel workers with Node's worker_threads (eval'd source, unref'd). */
export function nodeWorkerFactory(): WorkerFactory {
  const { Worker } = builtin<{ Worker: new (source: string, options: { eval: true }) => NodeWorker }>(
    'node:worker_threads',
  );
  return {
    name: 'worker_threads',
    prelude: [
      "const { parentPort } = require('node:worker_threads');",
      'const post = (m) => parentPort.postMessage(m);',
      "const listen = (h) => parentPort.on('message', h);",
      'const finish = () => parentPort.close();',
    ].join('\n'),
    create(source, onMessage, onError) {
      const worker = new Worker(source, { eval: true });
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.unref();
      return worker;
    },
  };
}

const nodePlatform: WasmPlatform = {
  defaultThreads() {
    const os = builtin<{ availableParallelism?: () => number; cpus(): unknown[] }>('node:os');
    const cores =
      typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    return Math.max(1, Math.min(4, cores));
  },
  workerFactory: nodeWorkerFactory,
};

/** The WebAssembly backend factory for Node: like the main entry's `wasm`, with worker_threads. */
export function wasm(defaults: WasmBackendOptions = {}): BackendFactory<WasmBackendOptions> {
  return wasmFactoryFor(nodePlatform, defaults);
}
