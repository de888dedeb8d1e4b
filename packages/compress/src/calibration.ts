import { AbortedError, assertInteger, InvalidArgumentError } from '@dbf/core';
import { createSampler, type LinearObserver, type LlamaModel, type Tokenizer } from '@dbf/llm';

/** Token sequences the model is run on to measure what its linear layers see. */
export interface CalibrationSet {
  /** Each sequence starts at position 0; all have the same length. */
  readonly sequences: readonly Int32Array[];
  readonly sequenceLength: number;
  /** `'text'`: windows of a calibration text; `'generated'`: sampled from the model itself (data-free). */
  readonly source: 'text' | 'generated';
}

export interface CalibrationTextOptions {
  /** Tokens per sequence (default: the model's context). */
  readonly sequenceLength: number;
  /** Sequences wanted (default 32). Fewer are returned when the text is short. */
  readonly sequences?: number;
}

/**
 * Windows of `text` (tokenized as one string, no BOS), spread evenly over it: sequence i starts at
 * `floor(i·(T − L)/(N − 1))`, so a long text is sampled everywhere and nothing random is involved.
 */
export function calibrationFromText(
  tokenizer: Tokenizer,
  text: string,
  options: CalibrationTextOptions,
): CalibrationSet {
  if (typeof text !== 'string') throw new InvalidArgumentError('text must be a string.');
  const length = assertInteger('sequenceLength', options.sequenceLength, 2);
  const wanted = assertInteger('sequences', options.sequences ?? 32, 1);
  const ids = tokenizer.encode(text, { bos: false });
  if (ids.length < length) {
    throw new InvalidArgumentError(
      `The calibration text has ${ids.length} tokens; one sequence needs ${length}. Give a longer text (or a shorter sequence length).`,
    );
  }
  const count = Math.min(wanted, Math.floor(ids.length / length));
  const span = ids.length - length;
  const sequences: Int32Array[] = [];
  for (let i = 0; i < count; i++) {
    const start = count === 1 ? 0 : Math.floor((i * span) / (count - 1));
    sequences.push(Int32Array.from(ids.slice(start, start + length)));
  }
  return { sequences, sequenceLength: length, source: 'text' };
}

export interface GeneratedCalibrationOptions {
  readonly sequenceLength: number;
  /** Default 32. */
  readonly sequences?: number;
  /** Sampling temperature (default 1: the model's own distribution). */
  readonly temperature?: number;
  readonly seed?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Data-free calibration: sequences sampled from the model itself, each starting with BOS. Its activations
 * are the ones the model produces on its own text, so no calibration file is needed (the fallback when
 * none is given). Deterministic for a seed: sequence i uses seed `seed + i`.
 */
export async function calibrationFromModel(
  model: LlamaModel,
  tokenizer: Tokenizer,
  options: GeneratedCalibrationOptions,
): Promise<CalibrationSet> {
  const length = assertInteger('sequenceLength', options.sequenceLength, 2, model.config.contextLength);
  const count = assertInteger('sequences', options.sequences ?? 32, 1);
  const seed = assertInteger('seed', options.seed ?? 0, 0);
  const sequences: Int32Array[] = [];
  const cache = model.createCache(length);
  const step = new Int32Array(1);
  for (let s = 0; s < count; s++) {
    const sampler = createSampler({ temperature: options.temperature ?? 1, seed: seed + s });
    const ids = new Int32Array(length);
    ids[0] = tokenizer.bosId;
    cache.reset();
    step[0] = tokenizer.bosId;
    for (let t = 1; t < length; t++) {
      if (options.signal?.aborted)
        throw new AbortedError('Calibration was aborted.', { cause: options.signal.reason });
      const logits = await model.forward(step, cache);
      // EOS would end a document; keep sampling so every sequence has the full length.
      let id = sampler.sample(logits);
      if (id === tokenizer.eosId) id = tokenizer.bosId;
      ids[t] = id;
      step[0] = id;
    }
    sequences.push(ids);
    options.onProgress?.(s + 1, count);
  }
  return { sequences, sequenceLength: length, source: 'generated' };
}

/**
 * Running second moments of one linear layer's inputs: the diagonal `E[x_j²]` (the DBF objective's
 * `i_norm`) and, when asked for, the full Gram matrix `E[x xᵀ]` (activation-aware MDBF). Sums are float64.
 */
export class InputMoments {
  readonly features: number;
  readonly #diag: Float64Array;
  readonly #gram: Float64Array | undefined;
  #rows = 0;

  constructor(features: number, withGram = false) {
    this.features = assertInteger('features', features, 1);
    this.#diag = new Float64Array(features);
    this.#gram = withGram ? new Float64Array(features * features) : undefined;
  }

  get rows(): number {
    return this.#rows;
  }

  /** Adds `batch` input rows (`batch × features`, row-major). */
  add(input: Float32Array, batch: number): void {
    const f = this.features;
    if (input.length < batch * f)
      throw new InvalidArgumentError(`input has ${input.length} values, ${batch} rows need ${batch * f}.`);
    const diag = this.#diag;
    const gram = this.#gram;
    for (let r = 0; r < batch; r++) {
      const o = r * f;
      for (let j = 0; j < f; j++) {
        const x = input[o + j]!;
        diag[j]! += x * x;
      }
      if (gram) {
        // Upper triangle only; mirrored on read.
        for (let i = 0; i < f; i++) {
          const xi = input[o + i]!;
          if (xi === 0) continue;
          const row = i * f;
          for (let j = i; j < f; j++) gram[row + j]! += xi * input[o + j]!;
        }
      }
    }
    this.#rows += batch;
  }

  /** `E[x_j²]` as float32 (all zeros before any input). */
  secondMoment(): Float32Array {
    const n = Math.max(1, this.#rows);
    return Float32Array.from(this.#diag, (v) => v / n);
  }

  /** `E[x xᵀ]` (features², symmetric); throws unless the moments were created with `withGram`. */
  gram(): Float32Array {
    const gram = this.#gram;
    if (!gram) throw new InvalidArgumentError('These moments were collected without the Gram matrix.');
    const f = this.features;
    const n = Math.max(1, this.#rows);
    const out = new Float32Array(f * f);
    for (let i = 0; i < f; i++) {
      for (let j = i; j < f; j++) {
        const v = gram[i * f + j]! / n;
        out[i * f + j] = v;
        out[j * f + i] = v;
      }
    }
    return out;
  }
}

/**
 * A `LinearObserver` that accumulates `InputMoments` for the named linears (`gram` adds `E[x xᵀ]` for
 * those in it). Linears that share an input (q/k/v, gate/up) each get their own copy of the same sums.
 */
export function momentsObserver(
  features: ReadonlyMap<string, number>,
  gram: ReadonlySet<string> = new Set(),
): { observer: LinearObserver; moments: Map<string, InputMoments> } {
  const moments = new Map<string, InputMoments>();
  for (const [name, f] of features) moments.set(name, new InputMoments(f, gram.has(name)));
  return {
    moments,
    observer: {
      onInput(name, input, batch) {
        moments.get(name)?.add(input, batch);
      },
    },
  };
}
