import { type Availability, BackendError, type BackendFactory, InvalidArgumentError } from '@dbf/core';
import { Heap } from './heap';
import { CTRL_BYTES, writeKernelConstants } from './job-layout';
import {
  instantiateKernels,
  kernelModule,
  relaxedSimdSupported,
  type SimdFlavor,
  simdUnavailableReason,
} from './kernel-module';
import { browserWorkerFactory, ThreadPool, type WorkerFactory } from './thread-pool';
import { WasmBackend, type WasmVariant } from './wasm-backend';

export interface WasmBackendOptions {
  /**
   * 'int8' (default): T-MAC lookup tables quantized to int8 (fast; `accumulation: 'int8'`, error
   * bound in the README). 'exact': f32 mask-and-add, exact on integer-valued data.
   */
  readonly variant?: WasmVariant;
  /**
   * Threads, the calling thread included. Default: up to 4 where workers can run (Node through
   * `@dbf/backend-wasm/node`; browsers when `crossOriginIsolated`), else 1. When workers or shared
   * memory are unavailable the backend runs single-threaded and says so in its description.
   */
  readonly threads?: number;
  /**
   * Jobs whose estimated single-thread time is below this many microseconds run on the calling thread
   * alone, because waking workers costs more (default 50). 0 always uses every thread.
   */
  readonly parallelThresholdMicroseconds?: number;
  /** 'auto' (default): relaxed SIMD when the engine validates it, else strict SIMD128. */
  readonly simd?: 'auto' | 'strict' | 'relaxed';
  /** Upper bound of the WebAssembly memory in bytes (default and maximum 4 GiB). */
  readonly maxMemoryBytes?: number;
  /** How to start workers; overrides the platform default. */
  readonly workerFactory?: WorkerFactory;
}

/** Platform hooks: the default thread count and worker factory (the Node entry supplies its own). */
export interface WasmPlatform {
  defaultThreads(): number;
  workerFactory(): WorkerFactory | undefined;
}

const PAGE = 65536;
const MAX_PAGES = 65536;
const MAX_THREADS = 64;
/** Address 0 stays unused: the kernels read 0 as "no scale / no bias". */
const HEAP_BASE = 1024;

const browserPlatform: WasmPlatform = {
  defaultThreads() {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    const cores =
      (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
    return isolated ? Math.max(1, Math.min(4, cores)) : 1;
  },
  workerFactory() {
    return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
      ? browserWorkerFactory()
      : undefined;
  },
};

/**
 * The WebAssembly SIMD backend factory (id 'wasm', priority 2). `defaults` apply to every `create()`,
 * whose own options win. Nothing heavy happens until `create()`.
 */
export function wasm(defaults: WasmBackendOptions = {}): BackendFactory<WasmBackendOptions> {
  return wasmFactoryFor(browserPlatform, defaults);
}

export function wasmFactoryFor(
  platform: WasmPlatform,
  defaults: WasmBackendOptions,
): BackendFactory<WasmBackendOptions> {
  checkOptions(defaults);
  return Object.freeze({
    id: 'wasm',
    priority: 2,
    async isAvailable(): Promise<Availability> {
      const reason = simdUnavailableReason();
      return reason === undefined ? { available: true } : { available: false, reason };
    },
    async create(options: WasmBackendOptions = {}) {
      if (typeof options !== 'object' || options === null)
        throw new InvalidArgumentError('wasm backend options must be an object.');
      checkOptions(options);
      return createBackend(platform, { ...defaults, ...options });
    },
  });
}

function checkOptions(options: WasmBackendOptions): void {
  const {
    variant,
    threads,
    simd,
    maxMemoryBytes,
    workerFactory,
    parallelThresholdMicroseconds: threshold,
  } = options;
  if (
    threshold !== undefined &&
    !(typeof threshold === 'number' && threshold >= 0 && threshold < Number.POSITIVE_INFINITY)
  ) {
    throw new InvalidArgumentError(
      `parallelThresholdMicroseconds must be a finite number >= 0, got ${String(threshold)}.`,
    );
  }
  if (variant !== undefined && variant !== 'int8' && variant !== 'exact') {
    throw new InvalidArgumentError(`variant must be 'int8' or 'exact', got ${JSON.stringify(variant)}.`);
  }
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)) {
    throw new InvalidArgumentError(
      `threads must be an integer in [1, ${MAX_THREADS}], got ${String(threads)}.`,
    );
  }
  if (simd !== undefined && simd !== 'auto' && simd !== 'strict' && simd !== 'relaxed') {
    throw new InvalidArgumentError(
      `simd must be 'auto', 'strict' or 'relaxed', got ${JSON.stringify(simd)}.`,
    );
  }
  if (
    maxMemoryBytes !== undefined &&
    (!Number.isInteger(maxMemoryBytes) || maxMemoryBytes < 16 * PAGE || maxMemoryBytes > MAX_PAGES * PAGE)
  ) {
    throw new InvalidArgumentError(
      `maxMemoryBytes must be an integer in [1 MiB, 4 GiB], got ${String(maxMemoryBytes)}.`,
    );
  }
  if (
    workerFactory !== undefined &&
    (typeof workerFactory?.create !== 'function' || typeof workerFactory.prelude !== 'string')
  ) {
    throw new InvalidArgumentError('workerFactory must have a `prelude` string and a `create` function.');
  }
}

async function createBackend(platform: WasmPlatform, options: WasmBackendOptions): Promise<WasmBackend> {
  const unavailable = simdUnavailableReason();
  if (unavailable) throw new BackendError('wasm', 'UNSUPPORTED_OPERATION', unavailable);
  const variant = options.variant ?? 'int8';
  const relaxed = relaxedSimdSupported();
  if (options.simd === 'relaxed' && !relaxed) {
    throw new BackendError(
      'wasm',
      'UNSUPPORTED_OPERATION',
      "simd: 'relaxed' was requested but this engine does not support relaxed SIMD; use 'auto' or 'strict'.",
    );
  }
  const flavor: SimdFlavor =
    options.simd === 'strict' ? 'strict' : options.simd === 'relaxed' || relaxed ? 'relaxed' : 'strict';
  const maxPages = Math.ceil((options.maxMemoryBytes ?? MAX_PAGES * PAGE) / PAGE);

  let threads = options.threads ?? platform.defaultThreads();
  const notes: string[] = [];
  let factory: WorkerFactory | undefined;
  if (threads > 1) {
    factory = options.workerFactory ?? platform.workerFactory();
    if (!factory)
      notes.push(
        `single-threaded: no way to start workers here (${threads} requested; in Node import from '@dbf/backend-wasm/node', in browsers serve the page cross-origin isolated)`,
      );
    else if (typeof SharedArrayBuffer !== 'function')
      notes.push('single-threaded: SharedArrayBuffer is unavailable');
    if (notes.length) threads = 1;
  }
  let created = threads > 1 ? createMemory(true, maxPages) : undefined;
  if (threads > 1 && !created) {
    notes.push('single-threaded: shared WebAssembly memory could not be created');
    threads = 1;
  }
  const shared = threads > 1;
  created ??= createMemory(false, maxPages);
  if (!created) throw new BackendError('wasm', 'BACKEND_FAILURE', 'Could not create a WebAssembly memory.');
  const { memory } = created;
  const maxBytes = created.maximumPages * PAGE;

  const module = await kernelModule(flavor, shared);
  const kernels = instantiateKernels(module, memory);
  const heap = new Heap(memory, HEAP_BASE, maxBytes);
  const ctrl = heap.alloc(CTRL_BYTES);
  heap.u8.fill(0, ctrl, ctrl + CTRL_BYTES);
  writeKernelConstants(memory.buffer, ctrl);
  let pool: ThreadPool;
  if (shared && factory) {
    try {
      pool = await ThreadPool.start(kernels, module, memory, ctrl, threads, factory);
    } catch (error) {
      notes.push(`single-threaded: ${error instanceof Error ? error.message : String(error)}`);
      pool = ThreadPool.single(kernels, memory, ctrl);
    }
  } else {
    pool = ThreadPool.single(kernels, memory, ctrl);
  }
  if (options.parallelThresholdMicroseconds !== undefined)
    pool.minParallelMicroseconds = options.parallelThresholdMicroseconds;
  const kernel =
    variant === 'int8'
      ? 'T-MAC sign kernels with int8 tables (7-bit entries, one scale per 128 columns)'
      : 'exact f32 mask-and-add sign kernels';
  const description =
    `WebAssembly SIMD128${flavor === 'relaxed' ? ' + relaxed swizzle' : ''}, ${kernel}, tiled f32 GEMM; ` +
    `${pool.threads} thread${pool.threads === 1 ? '' : `s (${factory?.name ?? 'workers'})`}${notes.length ? `; ${notes.join('; ')}` : ''}`;
  return new WasmBackend({ variant, heap, kernels, pool, ctrl, maxMemoryBytes: maxBytes, description });
}

/** A memory with the largest maximum the engine accepts, down to 256 MiB (reserving 4 GiB can fail). */
function createMemory(
  shared: boolean,
  maxPages: number,
): { memory: WebAssembly.Memory; maximumPages: number } | undefined {
  for (const maximumPages of [maxPages, 16384, 4096]) {
    if (maximumPages > maxPages) continue;
    try {
      const memory = new WebAssembly.Memory({
        initial: 2,
        maximum: maximumPages,
        shared,
      } as WebAssembly.MemoryDescriptor);
      return { memory, maximumPages };
    } catch {
      // Try a smaller reservation.
    }
  }
  return undefined;
}
