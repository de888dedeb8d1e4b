import { InvalidArgumentError } from '@dbf/core';

let advanceLength: (cache: KvCache, tokens: number) => void;

/**
 * Keys and values of every decoder layer for the positions a sequence has filled so far. One cache per
 * sequence; the model writes into it during `forward` and advances `length`. `reset()` starts a new
 * sequence, `truncate(n)` rewinds to a shared prefix.
 */
export class KvCache {
  /** Positions the cache can hold. */
  readonly capacity: number;
  readonly layers: number;
  /** `kvHeads · headDim`: floats per position per layer. */
  readonly kvDim: number;
  /** Per layer, `capacity × kvDim` row-major (position p at row p), RoPE already applied to keys. */
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
  #length = 0;

  static {
    advanceLength = (cache, tokens) => {
      cache.#length += tokens;
    };
  }

  constructor(layers: number, kvDim: number, capacity: number) {
    for (const [name, v] of [
      ['layers', layers],
      ['kvDim', kvDim],
      ['capacity', capacity],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1)
        throw new InvalidArgumentError(`KvCache ${name} must be a positive integer, got ${v}.`);
    }
    this.capacity = capacity;
    this.layers = layers;
    this.kvDim = kvDim;
    this.keys = Array.from({ length: layers }, () => new Float32Array(capacity * kvDim));
    this.values = Array.from({ length: layers }, () => new Float32Array(capacity * kvDim));
  }

  /** Positions filled: the next token goes to position `length`. */
  get length(): number {
    return this.#length;
  }

  /** Positions still free. */
  get remaining(): number {
    return this.capacity - this.#length;
  }

  reset(): void {
    this.#length = 0;
  }

  /** Forgets every position from `length` on, keeping the prefix. */
  truncate(length: number): void {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.#length)
      throw new InvalidArgumentError(`truncate needs a length in [0, ${this.#length}], got ${length}.`);
    this.#length = length;
  }
}

/** Used by the model after a forward pass has written `tokens` positions. */
export function advanceCache(cache: KvCache, tokens: number): void {
  advanceLength(cache, tokens);
}
