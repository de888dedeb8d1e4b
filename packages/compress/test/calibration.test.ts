import { LlamaModel } from '@dbf/llm';
import { describe, expect, it } from 'vitest';
import { calibrationFromModel, calibrationFromText, InputMoments, momentsObserver } from '../src/index';
import { cpuBackend, loadStories, sotuText } from './shared';

describe('calibrationFromText', () => {
  it('takes evenly spread windows of the tokenized text', async () => {
    const { tokenizer } = await loadStories();
    const text = sotuText().slice(0, 20_000);
    const ids = tokenizer!.encode(text, { bos: false });
    const set = calibrationFromText(tokenizer!, text, { sequenceLength: 100, sequences: 5 });
    expect(set.source).toBe('text');
    expect(set.sequences).toHaveLength(5);
    const span = ids.length - 100;
    set.sequences.forEach((seq, i) => {
      const start = Math.floor((i * span) / 4);
      expect([...seq]).toEqual(ids.slice(start, start + 100));
    });
  });

  it('returns fewer sequences for a short text and refuses one shorter than a sequence', async () => {
    const { tokenizer } = await loadStories();
    const text = sotuText().slice(0, 2000);
    const n = tokenizer!.encode(text, { bos: false }).length;
    expect(
      calibrationFromText(tokenizer!, text, { sequenceLength: 100, sequences: 1000 }).sequences,
    ).toHaveLength(Math.floor(n / 100));
    expect(() => calibrationFromText(tokenizer!, 'tiny', { sequenceLength: 100 })).toThrow(/longer text/);
  });
});

describe('calibrationFromModel', () => {
  it('samples full-length sequences from BOS, the same for the same seed', async () => {
    const loaded = await loadStories();
    const model = await LlamaModel.create(loaded.weights, await cpuBackend());
    const make = (seed: number) =>
      calibrationFromModel(model, loaded.tokenizer!, { sequenceLength: 24, sequences: 2, seed });
    const a = await make(3);
    const b = await make(3);
    const c = await make(4);
    expect(a.source).toBe('generated');
    expect(a.sequences.map((s) => [...s])).toEqual(b.sequences.map((s) => [...s]));
    expect([...a.sequences[0]!]).not.toEqual([...c.sequences[0]!]);
    for (const s of a.sequences) {
      expect(s).toHaveLength(24);
      expect(s[0]).toBe(loaded.tokenizer!.bosId);
    }
    model.dispose();
  });
});

describe('InputMoments', () => {
  it('averages x² per feature and x·xᵀ exactly as a naive sum does', () => {
    const rows = [
      [1, -2, 0.5],
      [3, 0, -1],
      [0.25, 4, 2],
    ];
    const m = new InputMoments(3, true);
    m.add(Float32Array.from(rows.slice(0, 2).flat()), 2);
    m.add(Float32Array.from(rows[2]!), 1);
    expect(m.rows).toBe(3);
    const diag = m.secondMoment();
    const gram = m.gram();
    for (let i = 0; i < 3; i++) {
      expect(diag[i]).toBeCloseTo(rows.reduce((s, r) => s + r[i]! ** 2, 0) / 3, 6);
      for (let j = 0; j < 3; j++)
        expect(gram[i * 3 + j]).toBeCloseTo(rows.reduce((s, r) => s + r[i]! * r[j]!, 0) / 3, 6);
    }
    expect(() => new InputMoments(3).gram()).toThrow(/without the Gram/);
  });

  it('collects what a model’s linears see through the observer', async () => {
    const loaded = await loadStories();
    const model = await LlamaModel.create(loaded.weights, await cpuBackend());
    const name = 'model.layers.2.mlp.down_proj';
    const { observer, moments } = momentsObserver(new Map([[name, loaded.config.hiddenDim]]));
    const seen: Float32Array[] = [];
    const ids = [1, 5, 9, 33, 100];
    await model.forward(ids, model.createCache(8), {
      logits: 'none',
      observer: {
        onInput(n, input, batch) {
          observer.onInput!(n, input, batch);
          if (n === name) seen.push(input.slice());
        },
      },
    });
    expect(moments.get(name)!.rows).toBe(ids.length);
    const x = seen[0]!;
    const f = loaded.config.hiddenDim;
    const expected = Array.from({ length: f }, (_, j) => {
      let s = 0;
      for (let t = 0; t < ids.length; t++) s += x[t * f + j]! ** 2;
      return s / ids.length;
    });
    const got = moments.get(name)!.secondMoment();
    for (let j = 0; j < f; j++) expect(got[j]).toBeCloseTo(expected[j]!, 5);
    model.dispose();
  });
});
