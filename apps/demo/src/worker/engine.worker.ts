// The worker entry: every model load, backend call and generation runs here, off the UI thread.
// It decodes `Request`s, runs them on the Engine and answers each with one `Reply` (protocol.ts).
import type { FromWorker, Methods, Request } from '../protocol';
import { probeEnvironment } from './backends';
import { Engine } from './engine';
import { describeError, type ErrorContext } from './errors';

/** The parts of DedicatedWorkerGlobalScope used here (the DOM and WebWorker libs cannot both be loaded). */
interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
  addEventListener(type: 'unhandledrejection', listener: (event: PromiseRejectionEvent) => void): void;
}
const scope = self as unknown as WorkerScope;
const post = (message: FromWorker) => scope.postMessage(message);
const engine = new Engine(post);

type Handlers = { [M in keyof Methods]: (params: Methods[M]['params']) => Promise<Methods[M]['result']> };

const handlers: Handlers = {
  probe: () => probeEnvironment(),
  useBackend: ({ choice }) => engine.useBackend(choice),
  load: ({ slot, source }) => engine.load(slot, source),
  generate: (params) => engine.generate(params),
  cancel: async ({ runId }) => engine.cancel(runId),
  simulateDeviceLoss: async () => engine.simulateDeviceLoss(),
};

const CONTEXT: Record<keyof Methods, ErrorContext> = {
  probe: 'backend',
  useBackend: 'backend',
  load: 'load',
  generate: 'generate',
  cancel: 'generate',
  simulateDeviceLoss: 'backend',
};

scope.onmessage = async (event: MessageEvent<Request>) => {
  const { id, method, params } = event.data;
  try {
    const handler = handlers[method] as (p: typeof params) => Promise<unknown>;
    const value = await handler(params);
    post({ type: 'reply', id, ok: true, value });
  } catch (error) {
    console.error(`[dbf demo worker] ${method} failed:`, error);
    post({ type: 'reply', id, ok: false, error: describeError(error, CONTEXT[method]) });
  }
};

// Errors outside any request (a rejected promise nobody awaited) still reach the page.
scope.addEventListener('unhandledrejection', (event) => {
  post({ type: 'fatal', error: describeError(event.reason, 'backend') });
});
