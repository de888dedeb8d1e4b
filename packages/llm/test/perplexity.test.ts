import { describe, expect, it } from 'vitest';
import { evaluatePerplexity, logSumExp, perplexityWindows, scoreTokens } from '../src/index';
import { loadSotuHf, runtime } from './helpers/models';
import { referenceLogits, referenceNll } from './helpers/reference-llama';
import { sotuText } from './helpers/shared';

describe('perplexity windows', () => {
  it('reproduces the SOURCE.md counts: 193,122 tokens in windows of 256 predict 192,367', () => {
    const windows = perplexityWindows(193_122, 256, 256);
    expect(windows).toHaveLength(755);
    const predicted = windows.reduce((n, w) => n + (w.end - w.begin - w.firstScored), 0);
    expect(predicted).toBe(192_367);
    expect(windows.at(-1)).toEqual({ begin: 754 * 256, end: 193_122, firstScored: 1 });
  });

  it('scores every token after the first exactly once with a sliding stride', () => {
    const windows = perplexityWindows(10, 4, 2);
    expect(windows).toEqual([
      { begin: 0, end: 4, firstScored: 1 },
      { begin: 2, end: 6, firstScored: 2 },
      { begin: 4, end: 8, firstScored: 2 },
      { begin: 6, end: 10, firstScored: 2 },
    ]);
    const scored = (total: number, ctx: number, stride: number) => {
      const ids: number[] = [];
      for (const w of perplexityWindows(total, ctx, stride))
        for (let j = w.begin + w.firstScored; j < w.end; j++) ids.push(j);
      return ids;
    };
    for (const [total, ctx, stride] of [
      [1000, 64, 16],
      [65, 64, 63],
      [3, 64, 64],
    ] as const) {
      expect(scored(total, ctx, stride)).toEqual(Array.from({ length: total - 1 }, (_, i) => i + 1));
    }
    // Non-overlapping windows (stride = ctx) never score the first token of a window.
    const starts = new Set([0, 64, 128, 192]);
    expect(scored(250, 64, 64)).toEqual(
      Array.from({ length: 250 }, (_, i) => i).filter((i) => !starts.has(i)),
    );
    expect(() => perplexityWindows(10, 4, 5)).toThrow(/stride/);
  });
});

describe('evaluatePerplexity on sotu-3m', () => {
  it('equals exp(mean NLL) of an independent float64 reference on the first window of the held-out text', async () => {
    const loaded = await loadSotuHf();
    const model = await runtime(loaded);
    const ids = loaded.tokenizer!.encode(sotuText().slice(0, 4000));
    const window = ids.slice(0, 96);
    const reference = referenceNll(referenceLogits(loaded.weights, window), window);
    const result = await evaluatePerplexity(model, ids, { ctx: 96, maxTokens: 96 });
    expect(result).toMatchObject({ tokens: 96, predicted: 95, windows: 1 });
    expect(result.nll).toBeCloseTo(reference / 95, 5);
    expect(result.perplexity).toBeCloseTo(Math.exp(reference / 95), 3);
  });

  it('follows the protocol on the first 512 tokens: windows of 256 run alone from position 0', async () => {
    const loaded = await loadSotuHf();
    const model = await runtime(loaded);
    const ids = loaded.tokenizer!.encode(sotuText().slice(0, 8000));
    const progress: { windows: number; perplexity: number }[] = [];
    const result = await evaluatePerplexity(model, ids, {
      maxTokens: 512,
      onProgress: (p) => progress.push({ windows: p.windows, perplexity: p.perplexity }),
    });
    expect(result).toMatchObject({ tokens: 512, predicted: 510, windows: 2 });
    expect(progress.map((p) => p.windows)).toEqual([1, 2]);
    // The second window runs alone: its NLL is that of ids[256..512) scored from a fresh cache.
    const first = 255 * Math.log(progress[0]!.perplexity);
    const second = await scoreTokens(model, ids.slice(256, 512));
    expect(second.count).toBe(255);
    expect(result.nll * 510).toBeCloseTo(first + second.nll, 6);
    // A held-out in-domain slice: within a factor 1.5 of the full-file fp32 figure (87.785).
    expect(result.perplexity).toBeGreaterThan(87.785 / 1.5);
    expect(result.perplexity).toBeLessThan(87.785 * 1.5);
    // Overlapping windows see more context per token: lower perplexity on the same tokens.
    const short = await evaluatePerplexity(model, ids, { maxTokens: 256, ctx: 64 });
    const sliding = await evaluatePerplexity(model, ids, { maxTokens: 256, ctx: 64, stride: 32 });
    expect(short).toMatchObject({ predicted: 252, windows: 4 });
    expect(sliding).toMatchObject({ predicted: 255, windows: 7 });
    expect(sliding.perplexity).toBeLessThan(short.perplexity);
    await expect(evaluatePerplexity(model, ids, { ctx: 512 })).rejects.toThrow(/ctx/);
    await expect(evaluatePerplexity(model, [5])).rejects.toThrow(/at least 2/);
  });
});

describe('logSumExp', () => {
  it('is log Σ exp over the range, stable for large values, and refuses ranges outside the array', () => {
    const x = Float32Array.of(5, 0, Math.log(3), 1000, 1000);
    expect(logSumExp(x, 1, 2)).toBeCloseTo(Math.log(4), 6);
    expect(logSumExp(x, 3, 2)).toBeCloseTo(1000 + Math.log(2), 6);
    expect(() => logSumExp(x, 4, 2)).toThrow(/not a non-empty range/);
    expect(() => logSumExp(x, 0, 0)).toThrow(/not a non-empty range/);
  });
});
