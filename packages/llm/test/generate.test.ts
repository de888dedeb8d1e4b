import { describe, expect, it } from 'vitest';
import { argmax, createSampler, generate, streamTokens } from '../src/index';
import { loadSotuHf, runtime } from './helpers/models';

describe('sampling', () => {
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);

  it('is greedy at temperature 0', () => {
    const sampler = createSampler({ temperature: 0 });
    expect(sampler.sample(Float32Array.from([0.1, 2, -1, 2]))).toBe(1);
    expect(argmax([3, 1, 3])).toBe(0);
  });

  it('draws from softmax(logits / T) and is reproducible from its seed', () => {
    const draws = 20_000;
    const count = (sampler: ReturnType<typeof createSampler>) => {
      const counts = [0, 0, 0, 0];
      for (let i = 0; i < draws; i++) counts[sampler.sample(logits)]!++;
      return counts.map((c) => c / draws);
    };
    const frequencies = count(createSampler({ temperature: 1, seed: 3 }));
    for (const [i, p] of [0.5, 0.3, 0.15, 0.05].entries())
      expect(Math.abs(frequencies[i]! - p)).toBeLessThan(0.015);
    // Temperature 0.5 squares the odds: p ∝ (0.5², 0.3², 0.15², 0.05²).
    const z = 0.25 + 0.09 + 0.0225 + 0.0025;
    const sharp = count(createSampler({ temperature: 0.5, seed: 4 }));
    for (const [i, p] of [0.25 / z, 0.09 / z, 0.0225 / z, 0.0025 / z].entries())
      expect(Math.abs(sharp[i]! - p)).toBeLessThan(0.015);
    const a = createSampler({ temperature: 1, seed: 9 });
    const b = createSampler({ temperature: 1, seed: 9 });
    const seqA = Array.from({ length: 50 }, () => a.sample(logits));
    expect(Array.from({ length: 50 }, () => b.sample(logits))).toEqual(seqA);
    const c = createSampler({ temperature: 1, seed: 10 });
    expect(Array.from({ length: 50 }, () => c.sample(logits))).not.toEqual(seqA);
  });

  it('keeps only the nucleus with top-p and renormalizes within it', () => {
    // p = (0.5, 0.3, 0.15, 0.05): top-p 0.7 keeps {0, 1} (mass 0.8), sampled as 0.5/0.8 and 0.3/0.8.
    const sampler = createSampler({ temperature: 1, topP: 0.7, seed: 5 });
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[sampler.sample(logits)]!++;
    expect(counts[2]).toBe(0);
    expect(counts[3]).toBe(0);
    expect(Math.abs(counts[0]! / 20_000 - 0.625)).toBeLessThan(0.015);
    // top-p 0.5 keeps only the first token (its mass alone reaches 0.5).
    const one = createSampler({ temperature: 1, topP: 0.5, seed: 6 });
    for (let i = 0; i < 100; i++) expect(one.sample(logits)).toBe(0);
  });

  it('validates its options', () => {
    expect(() => createSampler({ temperature: -1 })).toThrow(/temperature/);
    expect(() => createSampler({ topP: 0 })).toThrow(/topP/);
    expect(() => createSampler({ topP: 1.5 })).toThrow(/topP/);
    expect(() => createSampler({ seed: 1.5 })).toThrow(/seed/);
    expect(() => createSampler().sample(new Float32Array(0))).toThrow(/non-empty/);
  });
});

describe('generation on sotu-3m', () => {
  it('streams tokens whose texts add up to the decoded ids, with timings', async () => {
    const loaded = await loadSotuHf();
    const model = await runtime(loaded);
    const tokenizer = loaded.tokenizer!;
    const stream = streamTokens(model, tokenizer, 'The state of the Union', {
      temperature: 0,
      maxTokens: 12,
    });
    const ids: number[] = [];
    let text = '';
    let next = await stream.next();
    while (!next.done) {
      ids.push(next.value.id);
      text += next.value.text;
      next = await stream.next();
    }
    const stats = next.value;
    expect(ids).toHaveLength(12);
    expect(text + stats.tailText).toBe(
      tokenizer
        .decode([...tokenizer.encode('The state of the Union'), ...ids])
        .slice('The state of the Union'.length),
    );
    expect(stats).toMatchObject({
      promptTokens: 6,
      generatedTokens: 12,
      decodeSteps: 11,
      stopReason: 'length',
    });
    expect(stats.prefillSeconds).toBeGreaterThan(0);
    expect(stats.timeToFirstTokenSeconds).toBeGreaterThanOrEqual(stats.prefillSeconds);
    expect(stats.decodeTokensPerSecond).toBeGreaterThan(0);

    // Greedy continuation equals the argmax of a fresh forward over prompt + generated ids.
    const prompt = tokenizer.encode('The state of the Union', { bos: true });
    const logits = await model.forward([...prompt, ...ids.slice(0, 5)], model.createCache());
    expect(argmax(logits)).toBe(ids[5]);

    // Sampling is reproducible from the seed.
    const a = await generate(model, tokenizer, 'Tonight', {
      temperature: 0.9,
      topP: 0.9,
      seed: 42,
      maxTokens: 16,
    });
    const b = await generate(model, tokenizer, 'Tonight', {
      temperature: 0.9,
      topP: 0.9,
      seed: 42,
      maxTokens: 16,
    });
    expect(b.ids).toEqual(a.ids);
    expect(b.text).toBe(a.text);

    // Generation stops at the end of the context: 256 positions hold the 240 prompt ids and 16 fed new
    // tokens; the 17th new token is sampled from the last position.
    const long = await generate(model, tokenizer, prompt.concat(Array(234).fill(262)), {
      temperature: 0,
      maxTokens: 1000,
      stopAtEos: false,
    });
    expect(long.stats).toMatchObject({ promptTokens: 240, stopReason: 'context' });
    expect(long.ids).toHaveLength(17);

    await expect(generate(model, tokenizer, '', { addBos: false })).rejects.toThrow(/empty/);
    await expect(generate(model, tokenizer, Array(256).fill(5))).rejects.toThrow(/context is 256/);
    const controller = new AbortController();
    controller.abort();
    await expect(generate(model, tokenizer, 'Hi', { signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORTED',
    });
  });
});
