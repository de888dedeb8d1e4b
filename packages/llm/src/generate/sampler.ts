import { createRng, InvalidArgumentError, type Rng } from '@dbf/core';

export interface SamplerOptions {
  /** 0 = greedy (argmax). Default 1. */
  readonly temperature?: number;
  /** Nucleus sampling: keep the most likely tokens whose probabilities sum to at least `topP`. Default 1 (all). */
  readonly topP?: number;
  /** Seed of the random stream (core's `createRng`). Default 0. */
  readonly seed?: number;
}

/** Picks the next token from a row of logits. Reuses its buffers: no allocation per call. */
export interface Sampler {
  readonly temperature: number;
  readonly topP: number;
  sample(logits: Float32Array): number;
}

/** The index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let max = values[0]!;
  for (let i = 1; i < values.length; i++) {
    if (values[i]! > max) {
      max = values[i]!;
      best = i;
    }
  }
  return best;
}

/**
 * Greedy, temperature and top-p sampling. With temperature T the probabilities are softmax(logits / T);
 * with top-p only the smallest set of most likely tokens whose mass reaches p is kept (renormalized).
 * Deterministic for a given seed and logits.
 */
export function createSampler(options: SamplerOptions = {}): Sampler {
  const temperature = options.temperature ?? 1;
  const topP = options.topP ?? 1;
  const seed = options.seed ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0)
    throw new InvalidArgumentError(`temperature must be a finite number ≥ 0, got ${temperature}.`);
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1)
    throw new InvalidArgumentError(`topP must be in (0, 1], got ${topP}.`);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new InvalidArgumentError(`seed must be a non-negative integer, got ${seed}.`);
  const rng: Rng = createRng(seed);
  let probs = new Float64Array(0);
  let order = new Uint32Array(0);

  return {
    temperature,
    topP,
    sample(logits) {
      if (!(logits instanceof Float32Array) || logits.length === 0)
        throw new InvalidArgumentError('logits must be a non-empty Float32Array.');
      const n = logits.length;
      if (temperature === 0 || n === 1) return argmax(logits);
      if (probs.length !== n) {
        probs = new Float64Array(n);
        order = new Uint32Array(n);
      }
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const e = Math.exp((logits[i]! - max) / temperature);
        probs[i] = e;
        sum += e;
      }
      const u = rng.uniform();
      if (topP >= 1) {
        // Inverse CDF over the full distribution.
        let target = u * sum;
        for (let i = 0; i < n; i++) {
          target -= probs[i]!;
          if (target < 0) return i;
        }
        return lastPositive(probs);
      }
      // Top-p: only tokens with p ≥ (1 − topP)/(n − 1) can be in the nucleus (llama2.c's pre-filter), then
      // sort those by probability and cut where the cumulative mass reaches topP.
      const cutoff = ((1 - topP) / (n - 1)) * sum;
      let count = 0;
      for (let i = 0; i < n; i++) if (probs[i]! >= cutoff) order[count++] = i;
      const candidates = order.subarray(0, count);
      candidates.sort((a, b) => probs[b]! - probs[a]! || a - b);
      let mass = 0;
      let last = count - 1;
      for (let j = 0; j < count; j++) {
        mass += probs[candidates[j]!]!;
        if (mass >= topP * sum) {
          last = j;
          break;
        }
      }
      let target = u * mass;
      for (let j = 0; j <= last; j++) {
        target -= probs[candidates[j]!]!;
        if (target < 0) return candidates[j]!;
      }
      return candidates[last]!;
    },
  };
}

function lastPositive(probs: Float64Array): number {
  for (let i = probs.length - 1; i >= 0; i--) if (probs[i]! > 0) return i;
  return 0;
}
