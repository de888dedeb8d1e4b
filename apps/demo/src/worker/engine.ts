import { DbfError, FormatError, InvalidArgumentError, type KernelBackend } from '@dbf/core';
import { LlamaModel, type LoadedModel, loadHfModel, streamTokens } from '@dbf/llm';
import type {
  ActiveBackend,
  BackendChoice,
  BackendId,
  GenerateParams,
  GenerateSummary,
  ModelFacts,
  ModelSource,
  Slot,
  WorkerEvent,
} from '../protocol';
import { createBackend, gpuDevice } from './backends';
import { describeError } from './errors';
import { describeModel } from './model-facts';
import { pickedFiles, urlFiles } from './model-files';

interface SlotState {
  readonly loaded: LoadedModel;
  readonly facts: ModelFacts;
  /** The model uploaded to the active backend; undefined while none is. */
  model: LlamaModel | undefined;
}

/**
 * Owns the active backend and the two models. Models stay in host memory (`LoadedModel`) so that a
 * backend switch only re-uploads them. Operations that touch the backend or the models run one at a
 * time (a queue), so a switch never pulls layers from under a running generation.
 */
export class Engine {
  #backend: KernelBackend | undefined;
  #active: ActiveBackend | undefined;
  readonly #slots = new Map<Slot, SlotState>();
  readonly #runs = new Map<number, AbortController>();
  /** Backends we dispose on purpose: their device's `lost` promise is not a failure. */
  readonly #retired = new WeakSet<KernelBackend>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly emit: (event: WorkerEvent) => void) {}

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  useBackend(choice: BackendChoice): Promise<ActiveBackend> {
    return this.#exclusive(async () => {
      await this.#dropBackend();
      const backend = await createBackend(choice);
      this.#backend = backend;
      this.#watchDevice(backend);
      const caps = backend.capabilities;
      this.#active = {
        id: backend.id as BackendId,
        description: caps.description,
        threads: caps.threads,
        choice,
      };
      try {
        for (const [slot, state] of this.#slots) {
          this.emit({ type: 'progress', slot, stage: 'upload', loaded: 0, total: 1 });
          state.model = await LlamaModel.create(state.loaded.weights, backend);
          this.emit({ type: 'progress', slot, stage: 'upload', loaded: 1, total: 1 });
        }
      } catch (error) {
        // A model that does not fit (out of memory) leaves no half-usable backend behind.
        await this.#dropBackend();
        throw error;
      }
      return this.#active;
    });
  }

  load(slot: Slot, source: ModelSource): Promise<ModelFacts> {
    return this.#exclusive(async () => {
      // The old model goes first: a failed load leaves the slot empty rather than silently stale.
      this.#slots.get(slot)?.model?.dispose();
      this.#slots.delete(slot);
      const files =
        source.kind === 'url'
          ? urlFiles(source.base, (_name, loaded, total) =>
              this.emit({ type: 'progress', slot, stage: 'download', loaded, total }),
            )
          : pickedFiles(source.files);
      this.emit({ type: 'progress', slot, stage: 'parse', loaded: 0, total: 1 });
      const loaded = await loadHfModel(files);
      if (!loaded.tokenizer) {
        throw new FormatError(
          'IO_ERROR',
          `${source.label} has no tokenizer.model (or tokenizer.bin); the demo needs one to turn the prompt into tokens.`,
        );
      }
      const facts = await describeModel(loaded, files, source.label);
      const state: SlotState = { loaded, facts, model: undefined };
      if (this.#backend) {
        this.emit({ type: 'progress', slot, stage: 'upload', loaded: 0, total: 1 });
        state.model = await LlamaModel.create(loaded.weights, this.#backend);
        this.emit({ type: 'progress', slot, stage: 'upload', loaded: 1, total: 1 });
      }
      this.#slots.set(slot, state);
      return facts;
    });
  }

  generate(params: GenerateParams): Promise<GenerateSummary> {
    const controller = new AbortController();
    this.#runs.set(params.runId, controller);
    return this.#exclusive(async () => {
      try {
        return await this.#generate(params, controller.signal);
      } finally {
        this.#runs.delete(params.runId);
      }
    });
  }

  async #generate(params: GenerateParams, signal: AbortSignal): Promise<GenerateSummary> {
    const state = this.#slots.get(params.slot);
    if (!state) throw new InvalidArgumentError(`No ${params.slot} model is loaded.`);
    if (!state.model || !this.#active)
      throw new InvalidArgumentError('No backend is active: pick one first.');
    const tokenizer = state.loaded.tokenizer!;
    const ids: number[] = [];
    let text = '';
    const start = performance.now();
    let first = 0;
    const stream = streamTokens(state.model, tokenizer, params.prompt, {
      maxTokens: params.maxTokens,
      temperature: params.temperature,
      topP: params.topP,
      seed: params.seed,
      signal,
    });
    let stopReason: GenerateSummary['stopReason'] = 'length';
    let promptTokens = 0;
    try {
      for (;;) {
        const next = await stream.next();
        if (next.done) {
          text += next.value.tailText;
          stopReason = next.value.stopReason;
          promptTokens = next.value.promptTokens;
          break;
        }
        const now = performance.now();
        if (ids.length === 0) first = now;
        ids.push(next.value.id);
        text += next.value.text;
        this.emit({
          type: 'token',
          runId: params.runId,
          slot: params.slot,
          id: next.value.id,
          text: next.value.text,
          count: ids.length,
          timeToFirstTokenMs: first - start,
          // Decode speed: tokens after the first, over the time since the first (the prefill is TTFT).
          tokensPerSecond: ids.length > 1 ? ((ids.length - 1) * 1000) / (now - first) : 0,
        });
      }
    } catch (error) {
      if (!(DbfError.isInstance(error) && error.code === 'ABORTED')) throw error;
      stopReason = 'aborted';
    }
    const end = performance.now();
    return {
      runId: params.runId,
      slot: params.slot,
      ids,
      text,
      promptTokens,
      timeToFirstTokenMs: ids.length > 0 ? first - start : end - start,
      decodeTokensPerSecond: ids.length > 1 ? ((ids.length - 1) * 1000) / (end - first) : 0,
      totalMs: end - start,
      stopReason,
      backend: this.#active.id,
    };
  }

  cancel(runId: number): boolean {
    const run = this.#runs.get(runId);
    run?.abort();
    return run !== undefined;
  }

  simulateDeviceLoss(): boolean {
    const device = this.#backend && gpuDevice(this.#backend);
    if (!device) return false;
    device.destroy();
    return true;
  }

  /** Reports a device loss we did not cause, so the page can say what happened and how to recover. */
  #watchDevice(backend: KernelBackend): void {
    const device = gpuDevice(backend);
    device?.lost.then((info) => {
      if (this.#retired.has(backend)) return;
      const error = new Error(
        `The WebGPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''}).`,
      );
      this.emit({ type: 'device-lost', error: describeError(error, 'backend') });
    });
  }

  async #dropBackend(): Promise<void> {
    for (const state of this.#slots.values()) {
      state.model?.dispose();
      state.model = undefined;
    }
    const backend = this.#backend;
    this.#backend = undefined;
    this.#active = undefined;
    if (backend) {
      this.#retired.add(backend);
      await backend.dispose().catch(() => undefined);
    }
  }
}
