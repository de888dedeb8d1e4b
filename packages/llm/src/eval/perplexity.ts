import { AbortedError, InvalidArgumentError } from '@dbf/core';
import type { KvCache } from '../runtime/kv-cache';
import type { LinearObserver, LlamaModel } from '../runtime/llama-model';
import { logSumExp } from '../runtime/ops';

export interface PerplexityOptions {
  /** Window length in tokens. Default: the model's context length. */
  readonly ctx?: number;
  /** How far each window starts after the previous one. Default `ctx` (non-overlapping windows). */
  readonly stride?: number;
  /** Evaluate only the first `maxTokens` ids. */
  readonly maxTokens?: number;
  readonly signal?: AbortSignal;
  /** Called after each window. */
  onProgress?(progress: PerplexityProgress): void;
}

export interface PerplexityProgress {
  readonly windows: number;
  readonly totalWindows: number;
  readonly predicted: number;
  /** exp(mean NLL) so far. */
  readonly perplexity: number;
}

export interface PerplexityResult {
  /** exp(total NLL / predicted). */
  readonly perplexity: number;
  /** Ids evaluated (after `maxTokens`). */
  readonly tokens: number;
  /** Ids scored: every id after the first of its window, and never one scored by an earlier window. */
  readonly predicted: number;
  /** Wall time of the forward passes. */
  readonly seconds: number;
  /** Mean negative log-likelihood, nats per predicted token. */
  readonly nll: number;
  readonly windows: number;
}

/**
 * Perplexity of `ids` (no BOS added) under `model`, with windows of `ctx` tokens starting every `stride`
 * tokens. Each window runs alone from position 0; it scores the ids after its first that no earlier window
 * scored, each predicted from the ids before it in the window. With `stride = ctx` (the default) these are
 * consecutive non-overlapping windows, the last one possibly shorter: sotu-3m's SOURCE.md protocol. With
 * `stride < ctx` it is the usual sliding-window evaluation (more context per scored token, more compute).
 */
export async function evaluatePerplexity(
  model: LlamaModel,
  ids: ArrayLike<number>,
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const context = model.config.contextLength;
  const ctx = options.ctx ?? context;
  const stride = options.stride ?? ctx;
  if (!Number.isSafeInteger(ctx) || ctx < 2 || ctx > context)
    throw new InvalidArgumentError(
      `ctx must be an integer in [2, ${context}] (the model's context), got ${ctx}.`,
    );
  if (!Number.isSafeInteger(stride) || stride < 1 || stride > ctx)
    throw new InvalidArgumentError(`stride must be an integer in [1, ctx = ${ctx}], got ${stride}.`);
  if (options.maxTokens !== undefined && (!Number.isSafeInteger(options.maxTokens) || options.maxTokens < 2))
    throw new InvalidArgumentError(`maxTokens must be an integer ≥ 2, got ${options.maxTokens}.`);
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number')
    throw new InvalidArgumentError('ids must be an array of token ids.');
  const total = Math.min(ids.length, options.maxTokens ?? ids.length);
  if (total < 2) throw new InvalidArgumentError(`Perplexity needs at least 2 tokens, got ${total}.`);

  const plan = perplexityWindows(total, ctx, stride);
  const cache = model.createCache(ctx);
  const window = new Int32Array(ctx);
  let nll = 0;
  let predicted = 0;
  let windows = 0;
  const start = performance.now();
  for (const { begin, end, firstScored } of plan) {
    if (options.signal?.aborted) throw new AbortedError('Perplexity evaluation was aborted.');
    const length = end - begin;
    for (let i = 0; i < length; i++) window[i] = ids[begin + i]!;
    if (firstScored < length) {
      const scored = await scoreTokens(model, window.subarray(0, length), { firstScored, cache });
      nll += scored.nll;
      predicted += scored.count;
    }
    windows++;
    options.onProgress?.({
      windows,
      totalWindows: plan.length,
      predicted,
      perplexity: Math.exp(nll / predicted),
    });
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    perplexity: Math.exp(nll / predicted),
    tokens: total,
    predicted,
    seconds,
    nll: nll / predicted,
    windows,
  };
}

/** One evaluation window: ids `[begin, end)`, scored from index `firstScored` of the window on. */
export interface PerplexityWindow {
  readonly begin: number;
  readonly end: number;
  readonly firstScored: number;
}

/**
 * The windows `evaluatePerplexity` runs over `total` ids: starts at 0, stride, 2·stride… until one reaches
 * the end; each scores the ids after its first that the previous windows did not.
 */
export function perplexityWindows(total: number, ctx: number, stride: number): PerplexityWindow[] {
  for (const [name, v] of [
    ['total', total],
    ['ctx', ctx],
    ['stride', stride],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}.`);
  }
  if (stride > ctx) throw new InvalidArgumentError(`stride (${stride}) must not exceed ctx (${ctx}).`);
  const windows: PerplexityWindow[] = [];
  let scoredUpTo = 1; // ids before this index are scored (id 0 never is)
  for (let begin = 0; ; begin += stride) {
    const end = Math.min(begin + ctx, total);
    windows.push({ begin, end, firstScored: Math.max(1, scoredUpTo - begin) });
    scoredUpTo = end;
    if (end === total) return windows;
  }
}

export interface ScoreOptions {
  /** Index of the first id to score (≥ 1). Default 1: every id after the first. */
  readonly firstScored?: number;
  /** A cache to reuse (it is reset); default a new one of the sequence's length. */
  readonly cache?: KvCache;
  readonly observer?: LinearObserver;
}

/**
 * Total negative log-likelihood (nats) of `ids[firstScored…]`, each given the ids before it, from one
 * teacher-forced forward pass of the whole sequence at positions 0…; `count` is the number of ids scored.
 */
export async function scoreTokens(
  model: LlamaModel,
  ids: ArrayLike<number>,
  options: ScoreOptions = {},
): Promise<{ nll: number; count: number }> {
  const first = options.firstScored ?? 1;
  if (!Number.isSafeInteger(first) || first < 1 || first >= ids.length)
    throw new InvalidArgumentError(`firstScored must be in [1, ${ids.length - 1}], got ${first}.`);
  const cache = options.cache ?? model.createCache(ids.length);
  cache.reset();
  const logits = await model.forward(ids, cache, {
    logits: 'all',
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const vocab = model.config.vocabSize;
  let nll = 0;
  for (let j = first; j < ids.length; j++) {
    const row = (j - 1) * vocab;
    nll += logSumExp(logits, row, vocab) - logits[row + ids[j]!]!;
  }
  return { nll, count: ids.length - first };
}
