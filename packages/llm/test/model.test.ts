import { cpu } from '@dbf/backend-cpu';
import { DbfError, type KernelBackend, type LinearLayer } from '@dbf/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  argmax,
  generate,
  HEAD_NAME,
  LlamaModel,
  type LoadedModel,
  linearName,
  linearNames,
  scoreTokens,
} from '../src/index';
import { maxAbsDiff } from './helpers/compare';
import { cpuBackend, loadSotuHf, loadSotuLlama2c, loadStories, runtime } from './helpers/models';
import { referenceLogits } from './helpers/reference-llama';

/** Delegates to a backend and records the batch of every `linear` call. */
function recordingBackend(inner: KernelBackend): { backend: KernelBackend; batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    backend: {
      specificationVersion: inner.specificationVersion,
      id: inner.id,
      capabilities: inner.capabilities,
      uploadLinear: (layer) => inner.uploadLinear(layer),
      linear: (request) => {
        batches.push(request.batch);
        return inner.linear(request);
      },
      uploadSigns: (signs) => inner.uploadSigns(signs),
      signMatMul: (request) => inner.signMatMul(request),
      gemm: (request) => inner.gemm(request),
      dispose: () => inner.dispose(),
    },
  };
}

async function allLogits(model: LlamaModel, ids: number[]): Promise<Float32Array> {
  return (await model.forward(ids, model.createCache(ids.length), { logits: 'all' })).slice();
}

describe('stories260K (llama2.c checkpoint): SOURCE.md golden values', () => {
  let loaded: LoadedModel;
  let model: LlamaModel;
  beforeAll(async () => {
    loaded = await loadStories();
    model = await runtime(loaded);
  });

  it('reads the header', () => {
    expect(loaded.config).toMatchObject({
      dim: 64,
      hiddenDim: 172,
      layers: 5,
      heads: 8,
      kvHeads: 4,
      vocabSize: 512,
      contextLength: 512,
      tiedEmbeddings: true,
    });
  });

  it('gives the reference logits after BOS and the 32 greedy ids', async () => {
    const logits = await model.forward([1], model.createCache());
    const golden = [-6.22291, 8.40434, -6.22374, -6.22254, -6.22195];
    expect(maxAbsDiff(logits.subarray(0, 5), golden)).toBeLessThan(1e-4);
    expect(argmax(logits)).toBe(403);
    const { ids, text } = await generate(model, loaded.tokenizer!, '', { temperature: 0, maxTokens: 32 });
    expect(ids).toEqual([
      403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410,
      408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385,
    ]);
    expect(text.startsWith('Once upon a time, there was a little girl named Lily.')).toBe(true);
  });

  it('gives the reference mean NLL of the Lily sentence (BOS + 31 tokens)', async () => {
    const ids = loaded.tokenizer!.encode(
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.',
      { bos: true },
    );
    expect(ids.length).toBe(32);
    const { nll, count } = await scoreTokens(model, ids);
    expect(count).toBe(31);
    expect(nll / count).toBeCloseTo(0.1804, 4);
  });
});

describe('sotu-3m: SOURCE.md golden values and format equivalence', () => {
  let hf: LoadedModel;
  let hfModel: LlamaModel;
  beforeAll(async () => {
    hf = await loadSotuHf();
    hfModel = await runtime(hf);
  });

  it('reads config.json', () => {
    expect(hf.format).toBe('huggingface');
    expect(hf.config).toMatchObject({
      dim: 192,
      hiddenDim: 512,
      layers: 6,
      heads: 6,
      kvHeads: 3,
      headDim: 32,
      vocabSize: 4096,
      contextLength: 256,
      normEps: 1e-5,
      ropeTheta: 10000,
      tiedEmbeddings: true,
      bosId: 1,
      eosId: 2,
    });
  });

  const goldenLogits = [-6.24541, -5.77109, -5.93801, -6.37782, -6.32101];
  const goldenIds = [
    269, 262, 447, 4032, 355, 447, 400, 394, 284, 262, 632, 1178, 4031, 286, 262, 544, 269, 262, 488, 439,
    359, 394, 284, 262, 632, 1178, 4032, 355, 478, 400, 394, 605,
  ];

  it('HF folder: golden logits after BOS, argmax 269, and the 32 greedy ids with their text', async () => {
    const logits = await hfModel.forward([1], hfModel.createCache());
    expect(maxAbsDiff(logits.subarray(0, 5), goldenLogits)).toBeLessThan(1e-4);
    expect(argmax(logits)).toBe(269);
    const { ids, text } = await generate(hfModel, hf.tokenizer!, '', { temperature: 0, maxTokens: 32 });
    expect(ids).toEqual(goldenIds);
    expect(text).toBe(
      'of the Government. The Government has been in the present session, and the people of the United States have been in the present session. The Congress has been made',
    );
  });

  it('llama2.c model.bin (both RoPE layouts) gives the same logits as the HF folder at every position', async () => {
    const ids = hf.tokenizer!.encode(
      'The state of the Union is strong. We have met the challenges of the century, and we will meet them again.',
      { bos: true },
    );
    expect(ids.length).toBeGreaterThan(20);
    const reference = await allLogits(hfModel, ids);
    for (const layout of ['rotate-half', 'interleaved'] as const) {
      const loaded = await loadSotuLlama2c(layout);
      expect(loaded.config.ropeLayout).toBe(layout);
      const model = await runtime(loaded);
      expect(maxAbsDiff(await allLogits(model, ids), reference)).toBeLessThan(1e-4);
      const { ids: greedy } = await generate(model, loaded.tokenizer!, '', { temperature: 0, maxTokens: 32 });
      expect(greedy).toEqual(goldenIds);
      model.dispose();
    }
  });

  it('agrees with an independent float64 reference forward pass', async () => {
    const ids = hf.tokenizer!.encode('Mr. Speaker, Mr. Vice President, Members of Congress', { bos: true });
    const reference = referenceLogits(hf.weights, ids);
    const logits = await allLogits(hfModel, ids);
    const vocab = hf.config.vocabSize;
    reference.forEach((row, t) => {
      expect(maxAbsDiff(logits.subarray(t * vocab, (t + 1) * vocab), row)).toBeLessThan(2e-4);
    });
  });

  it('prefills a prompt with one batched call per linear and matches token-by-token decoding', async () => {
    const recording = recordingBackend(await cpuBackend());
    const model = await LlamaModel.create(hf.weights, recording.backend);
    const ids = hf.tokenizer!.encode('Tonight we gather to review the state of our Union.', { bos: true });
    const T = ids.length;
    const batched = await model.forward(ids, model.createCache(), { logits: 'all' });
    // 7 linears × 6 layers at batch T, then the classifier at batch T.
    expect(recording.batches).toEqual(Array(7 * 6 + 1).fill(T));
    const all = batched.slice();
    recording.batches.length = 0;
    const cache = model.createCache();
    const vocab = hf.config.vocabSize;
    for (let t = 0; t < T; t++) {
      const step = await model.forward([ids[t]!], cache);
      expect(maxAbsDiff(step, all.subarray(t * vocab, (t + 1) * vocab))).toBeLessThan(2e-5);
    }
    expect(recording.batches.every((b) => b === 1)).toBe(true);
    expect(cache.length).toBe(T);
    // The default 'last' mode: the classifier runs on the last token only.
    recording.batches.length = 0;
    const last = await model.forward(ids, model.createCache());
    expect(recording.batches.at(-1)).toBe(1);
    expect(maxAbsDiff(last, all.subarray((T - 1) * vocab))).toBeLessThan(1e-6);
    model.dispose();
  });

  it('runs decoder layers alone (embed → runLayer × L → computeLogits) exactly like forward', async () => {
    const ids = hf.tokenizer!.encode('Our economy is growing', { bos: true });
    const expected = await allLogits(hfModel, ids);
    const hidden = hfModel.embed(ids);
    for (let l = 0; l < hf.config.layers; l++) await hfModel.runLayer(l, hidden, ids.length);
    const logits = await hfModel.computeLogits(hidden, ids.length);
    expect(maxAbsDiff(logits, expected)).toBeLessThan(1e-6);
  });

  it('shows every linear input to an observer, by HF name, in forward order', async () => {
    const ids = [1, 355, 992, 269];
    const seen: { name: string; batch: number; width: number; first: number }[] = [];
    await hfModel.forward(ids, hfModel.createCache(), {
      logits: 'all',
      observer: {
        onInput: (name, input, batch) => {
          seen.push({ name, batch, width: input.length / batch, first: input[0]! });
        },
      },
    });
    expect(seen.map((s) => s.name)).toEqual(linearNames(hf.config));
    expect(seen.every((s) => s.batch === ids.length)).toBe(true);
    const widths = Object.fromEntries(seen.slice(0, 7).map((s) => [s.name.split('.').at(-1), s.width]));
    expect(widths).toEqual({
      q_proj: 192,
      k_proj: 192,
      v_proj: 192,
      o_proj: 192,
      gate_proj: 192,
      up_proj: 192,
      down_proj: 512,
    });
    // q, k and v read the same normalized input; so do gate and up.
    expect(seen[1]!.first).toBe(seen[0]!.first);
    expect(seen[2]!.first).toBe(seen[0]!.first);
    expect(seen[5]!.first).toBe(seen[4]!.first);
  });

  it('swaps a linear for another layer, and lets runLayer try a candidate without swapping', async () => {
    const ids = [1, 355, 992, 269, 262];
    const model = await runtime(hf);
    const before = await allLogits(model, ids);
    const name = linearName(2, 'down_proj');
    const original = model.getLinear(name) as Extract<LinearLayer, { kind: 'dense' }>;
    const zero: LinearLayer = {
      kind: 'dense',
      outFeatures: 192,
      inFeatures: 512,
      weight: new Float32Array(192 * 512),
    };
    // A candidate in runLayer changes that layer's output only for that call.
    const candidate = await model.backend.uploadLinear(zero);
    const hidden = model.embed(ids);
    const copy = hidden.slice();
    await model.runLayer(2, hidden, ids.length, { linears: { down_proj: candidate } });
    await model.runLayer(2, copy, ids.length);
    expect(maxAbsDiff(hidden, copy)).toBeGreaterThan(1e-3);
    candidate.dispose();
    expect(maxAbsDiff(await allLogits(model, ids), before)).toBe(0);
    await model.replaceLinear(name, zero);
    expect(model.getLinear(name)).toBe(zero);
    expect(maxAbsDiff(await allLogits(model, ids), before)).toBeGreaterThan(1e-3);
    await model.replaceLinear(name, original);
    expect(maxAbsDiff(await allLogits(model, ids), before)).toBe(0);
    await expect(model.replaceLinear(linearName(2, 'up_proj'), zero)).rejects.toThrow(/512×192/);
    await expect(model.replaceLinear('model.layers.9.mlp.up_proj', zero)).rejects.toThrow(/no linear/);
    expect(model.getResident(HEAD_NAME).outFeatures).toBe(4096);
    model.dispose();
    await expect(model.forward(ids, model.createCache())).rejects.toMatchObject({ code: 'DISPOSED' });
  });

  it('rejects bad ids, a full cache and a foreign cache', async () => {
    await expect(hfModel.forward([4096], hfModel.createCache())).rejects.toThrow(/not a token id/);
    await expect(hfModel.forward([], hfModel.createCache())).rejects.toThrow(/non-empty/);
    const small = hfModel.createCache(2);
    await hfModel.forward([1, 2], small);
    await expect(hfModel.forward([3], small)).rejects.toThrow(/do not fit/);
    small.truncate(1);
    await hfModel.forward([3], small);
    expect(small.length).toBe(2);
    const stories = await runtime(await loadStories());
    await expect(hfModel.forward([1], stories.createCache())).rejects.toBeInstanceOf(DbfError);
    await expect(hfModel.forward([1], stories.createCache())).rejects.toThrow(/createCache/);
  });

  it('runs on a freshly created backend passed in by the caller', async () => {
    const backend = await cpu().create();
    const model = await LlamaModel.create(hf.weights, backend);
    expect(model.backend).toBe(backend);
    const logits = await model.forward([1], model.createCache());
    expect(argmax(logits)).toBe(269);
    model.dispose();
    await backend.dispose();
  });
});
