import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createRng,
  DbfError,
  type DbfLayer,
  decodeBfloat16Array,
  dequantize,
  encodeBfloat16Array,
  encodeDbfToBytes,
  encodedToBytes,
  encodeFloat16Array,
  encodeSafetensors,
  FormatError,
  type MdbfLayer,
  memorySource,
  openSafetensors,
  packSigns,
  roundToFloat16,
  type SafetensorsTensorInput,
} from '@dbf/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  argmax,
  interleavedToRotateHalf,
  type LoadedModel,
  linearName,
  loadHfModel,
  loadLlama2cModel,
  loadModelFromPath,
  memoryFiles,
  parseHfLlamaConfig,
  UnsupportedModelError,
} from '../src/index';
import { maxAbsDiff } from './helpers/compare';
import { loadSotuHf, runtime } from './helpers/models';
import { nodeFs, readShared, SOTU_DIR, STORIES_DIR } from './helpers/shared';

const sotuFile = (name: string) => readShared('models', 'sotu-3m', name);
const sotuConfig = () =>
  JSON.parse(new TextDecoder().decode(sotuFile('config.json'))) as Record<string, unknown>;
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** Every tensor of sotu-3m's model.safetensors as F32 arrays, in header order. */
async function sotuTensors(): Promise<{ name: string; shape: readonly number[]; data: Float32Array }[]> {
  const file = await openSafetensors(memorySource(sotuFile('model.safetensors')));
  return Promise.all(
    file.tensors.map(async (t) => ({
      name: t.name,
      shape: t.shape,
      data: (await file.readFloat32(t.name)).slice(),
    })),
  );
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (DbfError.isInstance(error)) return error.code;
    throw error;
  }
  throw new Error('expected a DbfError');
}

async function logitsAfter(loaded: LoadedModel, ids: number[]): Promise<Float32Array> {
  const model = await runtime(loaded);
  const logits = (await model.forward(ids, model.createCache(), { logits: 'all' })).slice();
  model.dispose();
  return logits;
}

describe('config.json', () => {
  it('applies the HF defaults for absent fields', () => {
    const config = parseHfLlamaConfig({
      architectures: ['LlamaForCausalLM'],
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      vocab_size: 100,
    });
    expect(config).toMatchObject({
      kvHeads: 4,
      headDim: 16,
      contextLength: 2048,
      normEps: 1e-6,
      ropeTheta: 10000,
      tiedEmbeddings: false,
      bosId: 1,
      eosId: 2,
    });
  });

  it('rejects other architectures and unsupported llama features with UnsupportedModelError', () => {
    const base = sotuConfig();
    const bad = [
      { ...base, model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] },
      { ...base, architectures: ['MistralForCausalLM'] },
      { ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } },
      { ...base, attention_bias: true },
      { ...base, hidden_act: 'gelu' },
    ];
    for (const config of bad) {
      expect(() => parseHfLlamaConfig(config)).toThrow(UnsupportedModelError);
      try {
        parseHfLlamaConfig(config);
      } catch (error) {
        expect((error as DbfError).code).toBe('UNSUPPORTED_OPERATION');
      }
    }
  });

  it('rejects malformed configs with FormatError(INVALID_METADATA)', () => {
    const base = sotuConfig();
    const { hidden_size: _, ...noHidden } = base;
    for (const config of [
      noHidden,
      { ...base, num_key_value_heads: 4 },
      { ...base, vocab_size: -3 },
      [],
      {},
    ]) {
      expect(() => parseHfLlamaConfig(config)).toThrow(FormatError);
    }
    expect(() => parseHfLlamaConfig(noHidden)).toThrow(/no hidden_size/);
    expect(() => parseHfLlamaConfig({ ...base, num_key_value_heads: 4 })).toThrow(/multiple of/);
  });
});

describe('Hugging Face folders', () => {
  let tensors: Awaited<ReturnType<typeof sotuTensors>>;
  let f32Logits: Float32Array;
  const ids = [1, 355, 992, 269, 262, 1000, 334, 1264, 4032];
  beforeAll(async () => {
    tensors = await sotuTensors();
    f32Logits = await logitsAfter(await loadSotuHf(), ids);
  });

  it('reads sharded F16 and BF16 weights through model.safetensors.index.json', async () => {
    const half = Math.floor(tensors.length / 2);
    const shard = (list: typeof tensors, dtype: 'F16' | 'BF16') =>
      encodedToBytes(
        encodeSafetensors(
          list.map((t) => ({
            name: t.name,
            dtype,
            shape: t.shape,
            data: dtype === 'F16' ? encodeFloat16Array(t.data) : encodeBfloat16Array(t.data),
          })),
        ),
      );
    const first = tensors.slice(0, half);
    const second = tensors.slice(half);
    const weightMap = Object.fromEntries([
      ...first.map((t) => [t.name, 'model-00001-of-00002.safetensors']),
      ...second.map((t) => [t.name, 'model-00002-of-00002.safetensors']),
    ]);
    const loaded = await loadHfModel(
      memoryFiles({
        'config.json': sotuFile('config.json'),
        'model.safetensors.index.json': json({ metadata: {}, weight_map: weightMap }),
        'model-00001-of-00002.safetensors': shard(first, 'F16'),
        'model-00002-of-00002.safetensors': shard(second, 'BF16'),
        'tokenizer.model': sotuFile('tokenizer.model'),
      }),
    );
    expect(loaded.files).toContain('model-00002-of-00002.safetensors');
    // Each tensor is exactly its F16 or BF16 rounding.
    const byName = new Map(tensors.map((t) => [t.name, t.data]));
    const embedName = 'model.embed_tokens.weight';
    const embedF16 = first.some((t) => t.name === embedName);
    const rounded = (name: string, f16: boolean) =>
      f16 ? roundToFloat16(byName.get(name)!) : decodeBfloat16Array(encodeBfloat16Array(byName.get(name)!));
    expect(maxAbsDiff(loaded.weights.embedding, rounded(embedName, embedF16))).toBe(0);
    const normName = 'model.norm.weight';
    expect(
      maxAbsDiff(
        loaded.weights.finalNorm,
        rounded(
          normName,
          first.some((t) => t.name === normName),
        ),
      ),
    ).toBe(0);
    expect(maxAbsDiff(loaded.weights.finalNorm, byName.get(normName)!)).toBeGreaterThan(0);
    const logits = await logitsAfter(loaded, ids);
    expect(maxAbsDiff(logits, f32Logits)).toBeLessThan(0.25);
    expect(maxAbsDiff(logits, f32Logits)).toBeGreaterThan(0);
    expect(argmax(logits.subarray(0, 4096))).toBe(269);
  });

  it('loads a DBF-compressed folder: compressed layers by HF name replace the dense linears', async () => {
    const rng = createRng(7);
    const gauss = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
    const k = 96;
    const dbf: DbfLayer = {
      kind: 'dbf',
      outFeatures: 192,
      inFeatures: 192,
      rank: k,
      signA: packSigns(gauss(192 * k, 1), 192, k),
      signB: packSigns(gauss(k * 192, 1), k, 192),
      scaleA: gauss(192, 0.01).map(Math.abs),
      scaleMid: gauss(k, 1).map(Math.abs),
      scaleB: gauss(192, 0.1).map(Math.abs),
    };
    const l = 2;
    const mdbf: MdbfLayer = {
      kind: 'mdbf',
      outFeatures: 192,
      inFeatures: 512,
      rank: k,
      envelopeRank: l,
      signA: packSigns(gauss(192 * k, 1), 192, k),
      signB: packSigns(gauss(k * 512, 1), k, 512),
      envA: gauss(192 * l, 0.05),
      envQU: gauss(k * l, 1),
      envQV: gauss(k * l, 1),
      envB: gauss(512 * l, 0.05),
    };
    const q0 = linearName(0, 'q_proj');
    const down1 = linearName(1, 'down_proj');
    const plain: SafetensorsTensorInput[] = tensors
      .filter((t) => t.name !== `${q0}.weight` && t.name !== `${down1}.weight`)
      .map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: t.data }));
    const file = encodeDbfToBytes(
      [
        { name: q0, layer: dbf, scaleDtype: 'F32' },
        { name: down1, layer: mdbf, scaleDtype: 'F32' },
        ...plain,
      ],
      { provenance: { algorithm: 'test' } },
    );
    const loaded = await loadHfModel(
      memoryFiles({
        'config.json': sotuFile('config.json'),
        'model.safetensors': file,
        'tokenizer.model': sotuFile('tokenizer.model'),
      }),
    );
    expect(loaded.format).toBe('dbf');
    expect(loaded.compressed).toEqual([q0, down1]);
    expect(loaded.weights.layers[0]!.linears.q_proj.kind).toBe('dbf');
    expect(loaded.weights.layers[1]!.linears.down_proj.kind).toBe('mdbf');
    expect(loaded.weights.layers[1]!.linears.up_proj.kind).toBe('dense');

    // The same model, dense, with the two layers' dequantized weights: the backend's DBF/MDBF path
    // must compute what the factorized weights mean.
    const reference = await loadSotuHf();
    const model = await runtime(reference);
    await model.replaceLinear(q0, {
      kind: 'dense',
      outFeatures: 192,
      inFeatures: 192,
      weight: dequantize(dbf),
    });
    await model.replaceLinear(down1, {
      kind: 'dense',
      outFeatures: 192,
      inFeatures: 512,
      weight: dequantize(mdbf),
    });
    const expected = (await model.forward(ids, model.createCache(), { logits: 'all' })).slice();
    const logits = await logitsAfter(loaded, ids);
    expect(maxAbsDiff(logits, expected)).toBeLessThan(1e-3);
    expect(maxAbsDiff(logits, f32Logits)).toBeGreaterThan(0.01);
    model.dispose();
  });

  it('rejects compressed layers with names that match no linear', async () => {
    const rng = createRng(1);
    const layer: DbfLayer = {
      kind: 'dbf',
      outFeatures: 192,
      inFeatures: 192,
      rank: 8,
      signA: packSigns(
        Float32Array.from({ length: 192 * 8 }, () => rng.normal()),
        192,
        8,
      ),
      signB: packSigns(
        Float32Array.from({ length: 8 * 192 }, () => rng.normal()),
        8,
        192,
      ),
      scaleA: new Float32Array(192).fill(1),
      scaleMid: new Float32Array(8).fill(1),
      scaleB: new Float32Array(192).fill(1),
    };
    const plain: SafetensorsTensorInput[] = tensors.map((t) => ({
      name: t.name,
      dtype: 'F32',
      shape: t.shape,
      data: t.data,
    }));
    const file = encodeDbfToBytes([{ name: 'block.0.attn.q_proj', layer }, ...plain]);
    const files = memoryFiles({ 'config.json': sotuFile('config.json'), 'model.safetensors': file });
    await expect(loadHfModel(files)).rejects.toThrow(/block\.0\.attn\.q_proj.*match no linear/);
  });

  it('reports missing files, missing tensors and wrong shapes with typed errors', async () => {
    const safetensors = sotuFile('model.safetensors');
    expect(await codeOf(loadHfModel(memoryFiles({ 'model.safetensors': safetensors })))).toBe('IO_ERROR');
    expect(await codeOf(loadHfModel(memoryFiles({ 'config.json': sotuFile('config.json') })))).toBe(
      'IO_ERROR',
    );
    expect(
      await codeOf(
        loadHfModel(
          memoryFiles({ 'config.json': new TextEncoder().encode('{oops'), 'model.safetensors': safetensors }),
        ),
      ),
    ).toBe('INVALID_METADATA');
    const without = encodedToBytes(
      encodeSafetensors(
        tensors
          .filter((t) => t.name !== 'model.norm.weight')
          .map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.data })),
      ),
    );
    const missing = loadHfModel(
      memoryFiles({ 'config.json': sotuFile('config.json'), 'model.safetensors': without }),
    );
    await expect(missing).rejects.toThrow(/model\.norm\.weight/);
    expect(
      await codeOf(
        loadHfModel(memoryFiles({ 'config.json': sotuFile('config.json'), 'model.safetensors': without })),
      ),
    ).toBe('MISSING_TENSOR');
    const wider = { ...sotuConfig(), intermediate_size: 640 };
    const files = memoryFiles({ 'config.json': json(wider), 'model.safetensors': safetensors });
    await expect(loadHfModel(files)).rejects.toThrow(/gate_proj\.weight.*\[512, 192\].*\[640, 192\]/);
    const truncated = memoryFiles({
      'config.json': sotuFile('config.json'),
      'model.safetensors': safetensors.subarray(0, 5000),
    });
    await expect(loadHfModel(truncated)).rejects.toThrow(/model\.safetensors/);
  });
});

describe('llama2.c checkpoints', () => {
  const checkpoint = () => readShared('models', 'sotu-3m', 'model.bin');

  it('permutes q/k rows from interleaved to rotate-half order so weights equal the HF export', async () => {
    const l2c = await loadLlama2cModel(checkpoint());
    const hf = await loadSotuHf();
    for (const role of [
      'q_proj',
      'k_proj',
      'v_proj',
      'o_proj',
      'gate_proj',
      'up_proj',
      'down_proj',
    ] as const) {
      const a = l2c.weights.layers[3]!.linears[role];
      const b = hf.weights.layers[3]!.linears[role];
      expect(a.kind === 'dense' && b.kind === 'dense' && maxAbsDiff(a.weight, b.weight)).toBeLessThan(1e-6);
    }
    // Hand-checked permutation: head dim 4, one head: rows (0,1,2,3) interleaved → (0,2,1,3).
    const w = Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(Array.from(interleavedToRotateHalf(w, 4, 2, 4))).toEqual([0, 0, 2, 2, 1, 1, 3, 3]);
  });

  it('rejects truncated, padded and versioned checkpoints', async () => {
    const bin = checkpoint();
    expect(await codeOf(loadLlama2cModel(bin.subarray(0, bin.length - 4)))).toBe('SIZE_MISMATCH');
    const padded = new Uint8Array(bin.length + 4);
    padded.set(bin);
    await expect(loadLlama2cModel(padded)).rejects.toThrow(/has 12920608 bytes.*has 12920604/);
    expect(await codeOf(loadLlama2cModel(bin.subarray(0, 10)))).toBe('HEADER_TOO_SMALL');
    const v1 = bin.slice(0, 256);
    new DataView(v1.buffer).setUint32(0, 0x616b3432, true);
    new DataView(v1.buffer).setInt32(4, 1, true);
    await expect(loadLlama2cModel(v1)).rejects.toThrow(UnsupportedModelError);
    const garbage = bin.slice(0, 64);
    new DataView(garbage.buffer).setInt32(12, 7, true); // n_heads 7 does not divide dim 192
    expect(await codeOf(loadLlama2cModel(garbage))).toBe('INVALID_HEADER');
  });

  it('accepts a SentencePiece tokenizer.model as the tokenizer of a checkpoint', async () => {
    const loaded = await loadLlama2cModel(checkpoint(), { tokenizer: sotuFile('tokenizer.model') });
    expect(loaded.tokenizer!.encode('The state of the Union is strong.')).toEqual([
      355, 992, 269, 262, 1000, 334, 1264, 4032,
    ]);
  });
});

describe('loadModelFromPath', () => {
  it('loads a folder, a .safetensors file and a .bin checkpoint with the tokenizer beside it', async () => {
    const folder = await loadModelFromPath(SOTU_DIR, nodeFs);
    expect(folder.format).toBe('huggingface');
    expect(folder.tokenizer?.vocabSize).toBe(4096);
    const file = await loadModelFromPath(join(SOTU_DIR, 'model.safetensors'), nodeFs);
    expect(file.files).toEqual(['config.json', 'model.safetensors', 'tokenizer.model']);
    const bin = await loadModelFromPath(join(SOTU_DIR, 'model.bin'), nodeFs);
    expect(bin.format).toBe('llama2c');
    expect(bin.files).toEqual([join(SOTU_DIR, 'model.bin'), join(SOTU_DIR, 'tokenizer.bin')]);
    // stories260K's tokenizer is tok512.bin, the only tok*.bin beside it.
    const stories = await loadModelFromPath(join(STORIES_DIR, 'stories260K.bin'), nodeFs);
    expect(stories.tokenizer?.vocabSize).toBe(512);
    expect(readFileSync(join(STORIES_DIR, 'tok512.bin')).length).toBeGreaterThan(0);
  });

  it('explains what is wrong with a path', async () => {
    expect(await codeOf(loadModelFromPath(join(SOTU_DIR, 'nope'), nodeFs))).toBe('IO_ERROR');
    await expect(loadModelFromPath(join(SOTU_DIR, '..'), nodeFs)).rejects.toThrow(/no config\.json/);
  });
});
