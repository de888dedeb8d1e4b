import { AbortedError, InvalidArgumentError } from '@dbf/core';
import type { LlamaModel } from '../runtime/llama-model';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { createSampler, type SamplerOptions } from './sampler';

export interface GenerateOptions extends SamplerOptions {
  /** New tokens to produce at most. Default 128. */
  readonly maxTokens?: number;
  /** Stop when the model emits EOS (which is not returned). Default true. */
  readonly stopAtEos?: boolean;
  /** Prepend BOS to a text prompt. Default true. */
  readonly addBos?: boolean;
  readonly signal?: AbortSignal;
}

/** One generated token and the text it adds (possibly '' while a multi-byte character is incomplete). */
export interface GeneratedToken {
  readonly id: number;
  readonly text: string;
}

export interface GenerationStats {
  readonly promptTokens: number;
  readonly generatedTokens: number;
  /** The prompt's forward pass (one batched call per linear). */
  readonly prefillSeconds: number;
  /** From the start until the first new token was sampled. */
  readonly timeToFirstTokenSeconds: number;
  /** Total time of the single-token decode steps. */
  readonly decodeSeconds: number;
  readonly decodeSteps: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  readonly stopReason: 'eos' | 'length' | 'context';
  /** Text held back at the end (an incomplete UTF-8 sequence), already included in `text`. */
  readonly tailText: string;
}

export interface GenerationResult {
  readonly ids: number[];
  readonly text: string;
  readonly stats: GenerationStats;
}

/**
 * Streams tokens generated after `prompt` (text, encoded with BOS by default, or ids): one batched prefill
 * of the whole prompt, then one forward per token on a KV cache. The generator's return value carries the
 * timings. Sampling follows `createSampler` (greedy with `temperature: 0`).
 */
export async function* streamTokens(
  model: LlamaModel,
  tokenizer: Tokenizer,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<GeneratedToken, GenerationStats, void> {
  const maxTokens = options.maxTokens ?? 128;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 0)
    throw new InvalidArgumentError(`maxTokens must be a non-negative integer, got ${maxTokens}.`);
  const sampler = createSampler(options);
  const promptIds =
    typeof prompt === 'string' ? tokenizer.encode(prompt, { bos: options.addBos ?? true }) : [...prompt];
  if (promptIds.length === 0)
    throw new InvalidArgumentError(
      'The prompt is empty: give some text, or keep addBos so that BOS starts it.',
    );
  const context = model.config.contextLength;
  if (promptIds.length >= context) {
    throw new InvalidArgumentError(
      `The prompt has ${promptIds.length} tokens; the model's context is ${context}, which leaves no room to generate.`,
    );
  }
  const cache = model.createCache(Math.min(context, promptIds.length + maxTokens));
  const decoder = tokenizer.createDecoder();
  for (const id of promptIds) decoder.push(id);
  const checkAbort = () => {
    if (options.signal?.aborted)
      throw new AbortedError('Generation was aborted.', { cause: options.signal.reason });
  };
  checkAbort();

  const start = performance.now();
  let logits = await model.forward(promptIds, cache);
  const prefillSeconds = (performance.now() - start) / 1000;
  let timeToFirstTokenSeconds = prefillSeconds;
  let decodeSeconds = 0;
  let decodeSteps = 0;
  let generated = 0;
  let stopReason: GenerationStats['stopReason'] = 'length';
  const step = new Int32Array(1);
  while (generated < maxTokens) {
    const id = sampler.sample(logits);
    if (generated === 0) timeToFirstTokenSeconds = (performance.now() - start) / 1000;
    if ((options.stopAtEos ?? true) && id === tokenizer.eosId) {
      stopReason = 'eos';
      break;
    }
    generated++;
    yield { id, text: decoder.push(id) };
    checkAbort();
    if (generated === maxTokens) break;
    if (cache.remaining === 0) {
      stopReason = 'context';
      break;
    }
    step[0] = id;
    const t = performance.now();
    logits = await model.forward(step, cache);
    decodeSeconds += (performance.now() - t) / 1000;
    decodeSteps++;
  }
  return {
    promptTokens: promptIds.length,
    generatedTokens: generated,
    prefillSeconds,
    timeToFirstTokenSeconds,
    decodeSeconds,
    decodeSteps,
    prefillTokensPerSecond: promptIds.length / prefillSeconds,
    decodeTokensPerSecond: decodeSteps > 0 ? decodeSteps / decodeSeconds : 0,
    stopReason,
    tailText: decoder.flush(),
  };
}

/** `streamTokens` collected: the new ids, their text and the timings. */
export async function generate(
  model: LlamaModel,
  tokenizer: Tokenizer,
  prompt: string | readonly number[],
  options: GenerateOptions = {},
): Promise<GenerationResult> {
  const ids: number[] = [];
  let text = '';
  const stream = streamTokens(model, tokenizer, prompt, options);
  for (;;) {
    const next = await stream.next();
    if (next.done) return { ids, text: text + next.value.tailText, stats: next.value };
    ids.push(next.value.id);
    text += next.value.text;
  }
}
