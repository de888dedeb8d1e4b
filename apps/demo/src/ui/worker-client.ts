import type { ErrorInfo, FromWorker, Method, Methods, Request, WorkerEvent } from '../protocol';

/** A failed request: carries the worker's explanation. */
export class WorkerRequestError extends Error {
  constructor(readonly info: ErrorInfo) {
    super(info.message);
    this.name = 'WorkerRequestError';
  }
}

/**
 * The page's side of the protocol: `call()` sends a request and resolves with its reply's value (or
 * rejects with a WorkerRequestError); `onEvent` receives the events streamed in between.
 */
export class WorkerClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  readonly #listeners = new Set<(event: WorkerEvent) => void>();
  #nextId = 1;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<FromWorker>) => this.#receive(event.data);
    // The worker script itself failed (syntax error, failed import): fail everything in flight.
    worker.onerror = (event) => {
      event.preventDefault();
      const info: ErrorInfo = {
        kind: 'other',
        title: 'The worker crashed',
        message: event.message || 'The background worker failed to start or crashed.',
        hint: 'Reload the page.',
      };
      this.#failAll(info);
      this.#emit({ type: 'fatal', error: info });
    };
  }

  call<M extends Method>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#worker.postMessage({ id, method, params } as Request);
    });
  }

  onEvent(listener: (event: WorkerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #receive(message: FromWorker): void {
    if (message.type !== 'reply') {
      this.#emit(message);
      return;
    }
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.value);
    else pending.reject(new WorkerRequestError(message.error));
  }

  #emit(event: WorkerEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  #failAll(info: ErrorInfo): void {
    for (const { reject } of this.#pending.values()) reject(new WorkerRequestError(info));
    this.#pending.clear();
  }
}

/** The ErrorInfo of anything a call rejected with. */
export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof WorkerRequestError) return error.info;
  return {
    kind: 'other',
    title: 'Something went wrong',
    message: error instanceof Error ? error.message : String(error),
  };
}
