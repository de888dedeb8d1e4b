import { BackendError } from '@dbf/core';
import { CMD_EXIT, CMD_RUN, CTRL, JOB_TAG_MASK } from './job-layout';
import type { KernelExports } from './kernel-module';

/** The parts of a worker the pool uses (a DOM `Worker` or Node `worker_threads.Worker` wrapped). */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  /** May return a promise (Node). */
  terminate(): unknown;
}

/**
 * How to start workers in this environment. The pool hands over JavaScript source that starts with
 * `prelude` and then uses `post(message)`, `listen(handler)` and `finish()`; the prelude defines them
 * for the worker's global scope.
 */
export interface WorkerFactory {
  /** Shown in `capabilities.description`. */
  readonly name: string;
  /** Defines `post`, `listen` and `finish` inside the worker. */
  readonly prelude: string;
  /** Starts a worker running `source`; messages and errors are reported through the callbacks. */
  create(source: string, onMessage: (data: unknown) => void, onError: (error: unknown) => void): WorkerHandle;
  /** Called once all workers of a pool started (e.g. to revoke a blob URL). */
  release?(): void;
}

/**
 * Jobs estimated below this many microseconds on one thread run on the calling thread alone: waking a
 * sleeping worker costs tens of microseconds, more on a busy machine.
 */
export const MIN_PARALLEL_MICROSECONDS = 50;

/** Iterations a thread spins on the control words before it sleeps (a few tens of microseconds). */
export const SPIN_ITERATIONS = 20_000;

// The worker: instantiate the shared kernel module on the shared memory, report ready, then run a
// job each time the host bumps the sequence word, until the host posts the exit command. The handler
// never returns while the worker lives; the host stops it through the control block, not messages.
const WORKER_BODY = `
listen((msg) => {
  if (!msg || msg.type !== 'init') return;
  let run;
  try {
    run = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } }).exports.run_job;
  } catch (error) {
    post({ type: 'error', message: String((error && error.message) || error) });
    return;
  }
  const ctl = new Int32Array(msg.memory.buffer, msg.ctrl, 8);
  let seen = Atomics.load(ctl, ${CTRL.seq / 4});
  post({ type: 'ready' });
  for (;;) {
    for (let i = 0; i < msg.spin && Atomics.load(ctl, ${CTRL.seq / 4}) === seen; i++);
    Atomics.wait(ctl, ${CTRL.seq / 4}, seen);
    const seq = Atomics.load(ctl, ${CTRL.seq / 4});
    if (seq === seen) continue;
    seen = seq;
    if (Atomics.load(ctl, ${CTRL.cmd / 4}) === ${CMD_EXIT}) break;
    run(msg.ctrl, msg.tid, 1, seq);
  }
  finish();
});
`;

/** Whether this thread may block in `Atomics.wait` (browsers forbid it on the main thread). */
export function canBlockHere(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Threads for the kernels: `threads − 1` workers plus the calling thread, all running the same
 * module code on one shared memory. `run()` publishes the job in the control block, wakes the
 * workers, takes chunks of the work itself and returns when every chunk is done, so a call is
 * synchronous and never interleaves with another. Chunks are claimed dynamically, so a worker that
 * is descheduled or slow to wake delays the call by at most the chunk it holds.
 */
export class ThreadPool {
  readonly threads: number;
  /** Jobs estimated below this (single-thread µs) run on the calling thread only. */
  minParallelMicroseconds = MIN_PARALLEL_MICROSECONDS;
  private readonly kernels: KernelExports;
  private readonly memory: WebAssembly.Memory;
  private readonly ctrlPtr: number;
  private readonly canBlock: number;
  private workers: WorkerHandle[] = [];

  private constructor(kernels: KernelExports, memory: WebAssembly.Memory, ctrlPtr: number, threads: number) {
    this.kernels = kernels;
    this.memory = memory;
    this.threads = threads;
    this.ctrlPtr = ctrlPtr;
    // Waiting needs a shared memory: only a pool with workers ever waits.
    this.canBlock = threads > 1 && canBlockHere() ? 1 : 0;
    this.ctrl[CTRL.spin / 4] = SPIN_ITERATIONS;
  }

  /**
   * The control words. A fresh view each time: growing an unshared memory detaches the old buffer
   * (a shared one keeps it valid, but a fresh view is correct in both cases).
   */
  private get ctrl(): Int32Array {
    const buffer = this.memory.buffer;
    if (buffer !== this.ctrlView?.buffer) this.ctrlView = new Int32Array(buffer, this.ctrlPtr, 16);
    return this.ctrlView;
  }
  private ctrlView: Int32Array | undefined;

  /** A pool without workers: jobs run on the calling thread only. */
  static single(kernels: KernelExports, memory: WebAssembly.Memory, ctrlPtr: number): ThreadPool {
    return new ThreadPool(kernels, memory, ctrlPtr, 1);
  }

  /** Starts `threads − 1` workers and waits until each has instantiated the module. */
  static async start(
    kernels: KernelExports,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ctrlPtr: number,
    threads: number,
    factory: WorkerFactory,
    timeoutMs = 30_000,
  ): Promise<ThreadPool> {
    const pool = new ThreadPool(kernels, memory, ctrlPtr, threads);
    const source = `${factory.prelude}\n${WORKER_BODY}`;
    const ready: Promise<void>[] = [];
    try {
      for (let tid = 1; tid < threads; tid++) {
        ready.push(
          new Promise<void>((resolve, reject) => {
            const fail = (why: string) =>
              reject(
                new BackendError(
                  'wasm',
                  'BACKEND_FAILURE',
                  `Worker ${tid} (${factory.name}) failed to start: ${why}`,
                ),
              );
            const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
            const worker = factory.create(
              source,
              (data) => {
                const message = data as { type?: string; message?: string };
                if (message?.type === 'ready') {
                  clearTimeout(timer);
                  resolve();
                } else if (message?.type === 'error') {
                  clearTimeout(timer);
                  fail(message.message ?? 'unknown error');
                }
              },
              (error) => {
                clearTimeout(timer);
                fail(
                  error instanceof Error
                    ? error.message
                    : String((error as { message?: unknown })?.message ?? error),
                );
              },
            );
            pool.workers.push(worker);
            worker.postMessage({ type: 'init', module, memory, ctrl: ctrlPtr, tid, spin: SPIN_ITERATIONS });
          }),
        );
      }
      await Promise.all(ready);
    } catch (error) {
      await pool.dispose();
      throw error;
    } finally {
      factory.release?.();
    }
    return pool;
  }

  /**
   * Runs the job already written after the control header and returns when it is done. The workers
   * are woken unless `work` (estimated single-thread microseconds) is too small to pay for that; a
   * worker that is still spinning from the previous job may join anyway, which is harmless.
   */
  run(stages: number, work = Number.POSITIVE_INFINITY): void {
    const ctrl = this.ctrl;
    const threads = work < this.minParallelMicroseconds ? 1 : this.threads;
    const job = (ctrl[CTRL.seq / 4]! + 1) | 0;
    ctrl[CTRL.threads / 4] = threads;
    ctrl[CTRL.stages / 4] = stages;
    for (let s = 0; s < stages; s++) {
      ctrl[CTRL.claim0 / 4 + s] = (job & JOB_TAG_MASK) << 20;
      ctrl[CTRL.done0 / 4 + s] = 0;
    }
    Atomics.store(ctrl, CTRL.cmd / 4, CMD_RUN);
    Atomics.store(ctrl, CTRL.seq / 4, job);
    if (threads > 1) Atomics.notify(ctrl, CTRL.seq / 4);
    this.kernels.run_job(this.ctrlPtr, 0, this.canBlock, job);
  }

  /** Stops the workers (they leave their wait loop and are terminated). Idempotent. */
  async dispose(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    if (workers.length === 0) return;
    const ctrl = this.ctrl;
    Atomics.store(ctrl, CTRL.cmd / 4, CMD_EXIT);
    Atomics.add(ctrl, CTRL.seq / 4, 1);
    Atomics.notify(ctrl, CTRL.seq / 4);
    await Promise.all(workers.map((w) => Promise.resolve(w.terminate()).catch(() => undefined)));
  }
}

/** Browser workers from a blob URL: needs `Worker`, `Blob`, `URL.createObjectURL` and cross-origin isolation. */
export function browserWorkerFactory(): WorkerFactory | undefined {
  const g = globalThis as {
    Worker?: new (
      url: string,
    ) => {
      postMessage(m: unknown): void;
      terminate(): void;
      onmessage: ((e: { data: unknown }) => void) | null;
      onerror: ((e: unknown) => void) | null;
    };
    Blob?: typeof Blob;
    URL?: typeof URL;
  };
  const WorkerClass = g.Worker;
  if (
    typeof WorkerClass !== 'function' ||
    typeof g.Blob !== 'function' ||
    typeof g.URL?.createObjectURL !== 'function'
  ) {
    return undefined;
  }
  let url: string | undefined;
  return {
    name: 'Web Workers',
    prelude: [
      'const post = (m) => self.postMessage(m);',
      'const listen = (h) => { self.onmessage = (e) => h(e.data); };',
      'const finish = () => self.close();',
    ].join('\n'),
    create(source, onMessage, onError) {
      url ??= URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      const worker = new WorkerClass(url);
      worker.onmessage = (event) => onMessage(event.data);
      worker.onerror = (event) => onError(event);
      return worker;
    },
    release() {
      if (url) URL.revokeObjectURL(url);
      url = undefined;
    },
  };
}
