import { AbortedError, dequantize, largestRankForBpw } from '@dbf/core';
import { evaluatePerplexity, LINEAR_ROLES, LlamaModel, linearName, loadHfModel, memoryFiles } from '@dbf/llm';
import { describe, expect, it } from 'vitest';
import {
  type AllocationRecord,
  type CalibrationSet,
  type CompressedLinear,
  type CompressionCheckpoint,
  calibrationFromText,
  compressedConfigJson,
  compressModel,
  decodeCheckpointLayer,
  encodeCheckpointLayer,
  encodeModelFile,
} from '../src/index';
import { cpuBackend, loadStories, sotuText } from './shared';

/** An in-memory checkpoint, stored through the real byte codec. */
class MemoryCheckpoint implements CompressionCheckpoint {
  readonly layers = new Map<string, Uint8Array>();
  allocation: AllocationRecord | undefined;
  saves = 0;
  constructor(private readonly onSave?: () => void) {}
  async loadLayer(name: string) {
    const bytes = this.layers.get(name);
    return bytes ? decodeCheckpointLayer(name, bytes) : undefined;
  }
  async saveLayer(name: string, layer: CompressedLinear) {
    this.layers.set(name, encodeCheckpointLayer(name, layer));
    this.saves++;
    this.onSave?.();
  }
  async loadAllocation() {
    return this.allocation;
  }
  async saveAllocation(record: AllocationRecord) {
    this.allocation = JSON.parse(JSON.stringify(record));
  }
}

async function setup(sequences = 3) {
  const loaded = await loadStories();
  const calibration: CalibrationSet = calibrationFromText(loaded.tokenizer!, sotuText().slice(0, 40_000), {
    sequenceLength: 64,
    sequences,
  });
  return { loaded, calibration, backend: await cpuBackend() };
}

const signWords = (r: Awaited<ReturnType<typeof compressModel>>) =>
  r.layers.map((l) => (l.layer.kind === 'dense' ? [] : [...l.layer.signA.words, ...l.layer.signB.words]));

describe('compressModel', () => {
  it('compresses every linear at the uniform rank, and the result runs and predicts better than chance', async () => {
    const { loaded, calibration, backend } = await setup();
    const events: string[] = [];
    const result = await compressModel({
      weights: loaded.weights,
      backend,
      calibration,
      method: 'dbf',
      bpw: 4,
      iterations: 6,
      onEvent: (e) => events.push(e.type),
    });
    const c = loaded.config;
    expect(result.layers).toHaveLength(7 * c.layers);
    for (const r of result.layers) {
      expect(r.layer.kind).toBe('dbf');
      expect(r.rank).toBe(
        largestRankForBpw({ kind: 'dbf', outFeatures: r.outFeatures, inFeatures: r.inFeatures }, 4),
      );
      expect(r.bitsPerWeight).toBeLessThanOrEqual(4);
      expect(r.relativeError).toBeGreaterThan(0);
      expect(r.relativeError).toBeLessThan(1);
    }
    expect(result.totals.bitsPerWeight).toBeLessThanOrEqual(4);
    expect(result.drift).toHaveLength(c.layers);
    expect(events.filter((e) => e === 'layer-done')).toHaveLength(7 * c.layers);
    expect(events.filter((e) => e === 'block-done')).toHaveLength(c.layers);
    // The input weights are untouched and the output shares the non-linear tensors.
    expect(loaded.weights.layers[0]!.linears.q_proj.kind).toBe('dense');
    expect(result.weights.embedding).toBe(loaded.weights.embedding);

    const model = await LlamaModel.create(result.weights, backend);
    const ids = loaded.tokenizer!.encode(sotuText().slice(50_000, 52_000), { bos: false });
    const ppl = await evaluatePerplexity(model, ids, { ctx: 128 });
    model.dispose();
    expect(Number.isFinite(ppl.perplexity)).toBe(true);
    expect(ppl.perplexity).toBeLessThan(c.vocabSize);
  });

  it('is deterministic for a seed and changes with it', async () => {
    const { loaded, calibration, backend } = await setup(2);
    const run = (seed: number) =>
      compressModel({
        weights: loaded.weights,
        backend,
        calibration,
        method: 'dbf',
        bpw: 1.5,
        iterations: 3,
        seed,
        roles: ['q_proj', 'down_proj'],
      });
    const [a, b, c] = [await run(1), await run(1), await run(2)];
    expect(signWords(a)).toEqual(signWords(b));
    expect(signWords(a)).not.toEqual(signWords(c));
  });

  it('compresses only the chosen roles and leaves the others dense and identical', async () => {
    const { loaded, calibration, backend } = await setup(2);
    const result = await compressModel({
      weights: loaded.weights,
      backend,
      calibration,
      method: 'mdbf',
      envelopeRank: 2,
      bpw: 2.5,
      iterations: 3,
      roles: ['up_proj'],
    });
    expect(result.layers.map((l) => l.name)).toEqual(
      Array.from({ length: loaded.config.layers }, (_, i) => linearName(i, 'up_proj')),
    );
    for (const [i, layer] of result.weights.layers.entries()) {
      expect(layer.linears.up_proj.kind).toBe('mdbf');
      for (const role of LINEAR_ROLES.filter((r) => r !== 'up_proj'))
        expect(layer.linears[role]).toBe(loaded.weights.layers[i]!.linears[role]);
    }
  });

  it('measures drift: more bits keep the student closer to the teacher', async () => {
    const { loaded, calibration, backend } = await setup(2);
    const drift = async (bpw: number) =>
      (
        await compressModel({
          weights: loaded.weights,
          backend,
          calibration,
          method: 'dbf',
          bpw,
          iterations: 8,
        })
      ).drift;
    const low = await drift(1.5);
    const high = await drift(4);
    expect(high[high.length - 1]!).toBeLessThan(low[low.length - 1]!);
  });

  it('refits output scales toward the teacher: the student ends closer to it than without', async () => {
    const { loaded, calibration, backend } = await setup(2);
    const run = (refitOutputs: boolean) =>
      compressModel({
        weights: loaded.weights,
        backend,
        calibration,
        method: 'dbf',
        bpw: 2,
        iterations: 6,
        refitOutputs,
      });
    const [plain, refit] = [await run(false), await run(true)];
    // The first linear sees the same inputs either way: same signs, the refit only rescales its outputs.
    expect(signWords(refit)[0]).toEqual(signWords(plain)[0]);
    expect(refit.layers[0]!.layer).not.toEqual(plain.layers[0]!.layer);
    expect(refit.drift[refit.drift.length - 1]!).toBeLessThan(plain.drift[plain.drift.length - 1]!);
  });

  it('runs the baselines as dense reconstructions with their own bit counts', async () => {
    const { loaded, calibration, backend } = await setup(1);
    const rtn = await compressModel({ weights: loaded.weights, backend, calibration, method: 'rtn', bpw: 3 });
    for (const r of rtn.layers) {
      expect(r.layer.kind).toBe('dense');
      // 3-bit codes + per 64 inputs an F16 scale and a 3-bit zero point (all inputs here are multiples of 64… or not).
      const groups = r.outFeatures * Math.ceil(r.inFeatures / 64);
      expect(r.bitsPerWeight).toBeCloseTo(
        (3 * r.outFeatures * r.inFeatures + groups * 19) / (r.outFeatures * r.inFeatures),
        10,
      );
    }
    const svid = await compressModel({ weights: loaded.weights, backend, calibration, method: 'svid' });
    for (const r of svid.layers)
      expect(r.bitsPerWeight).toBeCloseTo(
        1 + (16 * (r.outFeatures + r.inFeatures)) / (r.outFeatures * r.inFeatures),
        10,
      );
  });

  it('resumes after an abort with the same result as an uninterrupted run', async () => {
    const { loaded, calibration, backend } = await setup(2);
    const options = {
      weights: loaded.weights,
      backend,
      calibration,
      method: 'dbf' as const,
      bpw: 1.5,
      iterations: 4,
    };
    const whole = await compressModel(options);

    const controller = new AbortController();
    const checkpoint = new MemoryCheckpoint(() => {
      if (checkpoint.saves === 10) controller.abort();
    });
    await expect(compressModel({ ...options, checkpoint, signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(checkpoint.layers.size).toBe(10);
    const resumed = await compressModel({ ...options, checkpoint });
    expect(resumed.layers.filter((l) => l.resumed)).toHaveLength(10);
    expect(signWords(resumed)).toEqual(signWords(whole));
    const bytes = (r: typeof whole) =>
      Buffer.from(
        encodeModelFile(r.weights, r.layers, { provenance: { algorithm: 'test' } })
          .chunksSync()
          [Symbol.iterator]()
          .next().value!,
      );
    expect(bytes(resumed).equals(bytes(whole))).toBe(true);
    expect(resumed.drift).toEqual(whole.drift);
  });

  it('allocates non-uniformly from measured curves, within the budget, and keeps the record', async () => {
    const { loaded, calibration, backend } = await setup(2);
    const checkpoint = new MemoryCheckpoint();
    const result = await compressModel({
      weights: loaded.weights,
      backend,
      calibration,
      method: 'dbf',
      bpw: 2,
      iterations: 3,
      allocation: 'nonuniform',
      curveIterations: 3,
      sensitivitySequences: 1,
      checkpoint,
    });
    expect(result.allocation.mode).toBe('nonuniform');
    expect(result.allocation.curves).toHaveLength(35);
    expect(result.totals.bitsPerWeight).toBeLessThanOrEqual(2);
    const ranks = new Set(result.layers.map((l) => `${l.outFeatures}x${l.inFeatures}:${l.rank}`));
    const shapes = new Set(result.layers.map((l) => `${l.outFeatures}x${l.inFeatures}`));
    // Layers of the same shape get different ranks: the allocation is not uniform.
    expect(ranks.size).toBeGreaterThan(shapes.size);
    for (const c of result.allocation.curves!) expect(c.sensitivity).toBeGreaterThan(0);
    expect(checkpoint.allocation?.ranks).toEqual(result.allocation.ranks);
  });

  it('rejects bad options with messages that say what to fix', async () => {
    const { loaded, calibration, backend } = await setup(1);
    const base = { weights: loaded.weights, backend, calibration };
    await expect(compressModel({ ...base, method: 'dbf' })).rejects.toThrow(/bpw must be a positive number/);
    await expect(compressModel({ ...base, method: 'nope' as never, bpw: 1 })).rejects.toThrow(
      /method must be one of/,
    );
    await expect(compressModel({ ...base, method: 'rtn', bpw: 2, allocation: 'nonuniform' })).rejects.toThrow(
      /Non-uniform/,
    );
    await expect(
      compressModel({ ...base, method: 'dbf', bpw: 1, roles: ['x_proj' as never] }),
    ).rejects.toThrow(/Unknown linear role/);
    await expect(
      compressModel({ ...base, method: 'dbf', bpw: 1, calibration: { ...calibration, sequences: [] } }),
    ).rejects.toThrow(/at least one token sequence/);
    await expect(compressModel({ ...base, method: 'dbf', bpw: 0.01, iterations: 1 })).rejects.toThrow(
      /impossible/,
    );
  });
});

describe('the compressed model file', () => {
  it('loads back through loadHfModel with the same layers (scales rounded to F16)', async () => {
    const { loaded, calibration, backend } = await setup(1);
    const result = await compressModel({
      weights: loaded.weights,
      backend,
      calibration,
      method: 'dbf',
      bpw: 2,
      iterations: 2,
      roles: ['q_proj', 'gate_proj', 'down_proj'],
    });
    const file = encodeModelFile(result.weights, result.layers, { provenance: { algorithm: 'test' } });
    const bytes = new Uint8Array(file.totalBytes);
    let at = 0;
    for (const chunk of file.chunksSync()) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    const config = compressedConfigJson(loaded.config, undefined, { method: 'dbf' });
    const back = await loadHfModel(
      memoryFiles({ 'config.json': new TextEncoder().encode(config), 'model.safetensors': bytes }),
    );
    expect(back.format).toBe('dbf');
    expect([...back.compressed].sort()).toEqual(result.layers.map((l) => l.name).sort());
    expect(back.config).toEqual(loaded.config);
    for (const r of result.layers) {
      const got = back.weights.layers[r.block]!.linears[r.role];
      expect(got.kind).toBe('dbf');
      const a = dequantize(got);
      const b = dequantize(r.layer);
      let d = 0;
      let n = 0;
      for (let i = 0; i < a.length; i++) {
        d += (a[i]! - b[i]!) ** 2;
        n += b[i]! ** 2;
      }
      // Only the F16 rounding of three scale vectors separates them.
      expect(Math.sqrt(d / n)).toBeLessThan(2e-3);
    }
    // A dense linear and the embedding come back as F16 roundings of the originals.
    const v = back.weights.layers[1]!.linears.v_proj;
    const orig = loaded.weights.layers[1]!.linears.v_proj;
    expect(v.kind).toBe('dense');
    if (v.kind === 'dense' && orig.kind === 'dense')
      for (let i = 0; i < 50; i++) expect(v.weight[i]).toBeCloseTo(orig.weight[i]!, 3);
    expect(JSON.parse(config).quantization_config).toMatchObject({ quant_method: 'dbf', format_version: 1 });
  });
});
