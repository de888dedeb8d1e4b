import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cpu } from '@dbf/backend-cpu';
import {
  type CompressedLayer,
  createRng,
  type DbfEntry,
  dequantizeFloat64,
  encodeFloat16Array,
  type KernelBackend,
  largestRankForBpw,
  openDbf,
  packSigns,
  type Rng,
  selectBackend,
  validateDbf,
} from '@dbf/core';
import { fileSource, saveDbfFile } from '@dbf/node';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { formatBytes, median, table } from '../format-output';
import { parseInteger } from '../parse-options';

interface DemoLayerSpec {
  readonly name: string;
  readonly kind: 'dbf' | 'mdbf';
  readonly out: number;
  readonly in: number;
  readonly bpw: number;
  readonly envelopeRank: number;
}

// A transformer-block-sized set of layers (dim 256, MLP 688) at the bit widths users ask for.
const LAYERS: readonly DemoLayerSpec[] = [
  { name: 'block.0.attn.q_proj', kind: 'dbf', out: 256, in: 256, bpw: 1.5, envelopeRank: 1 },
  { name: 'block.0.mlp.up_proj', kind: 'mdbf', out: 688, in: 256, bpw: 2.0, envelopeRank: 2 },
  { name: 'block.0.mlp.down_proj', kind: 'dbf', out: 256, in: 688, bpw: 1.0, envelopeRank: 1 },
];

/**
 * `dbf selftest`: the format and kernel path of the SDK on a small synthetic model — build DBF/MDBF layers at target
 * bit widths, write them in the DBF format (atomically), validate the file from disk, run every layer on
 * the selected backend and check the outputs against the dense weights the layers stand for.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('selftest')
    .description(
      'write synthetic DBF/MDBF layers, validate the file from disk, run them and check them against the dense weights',
    )
    .option(
      '--out <file>',
      'where to write the model',
      join(tmpdir(), 'dbf-selftest', 'selftest.dbf.safetensors'),
    )
    .option('--seed <n>', 'random seed', parseInteger, 0)
    .option('--batch <n>', 'input vectors per call', parseInteger, 4)
    .action(async (options: { out: string; seed: number; batch: number }) => {
      const rng = createRng(options.seed);
      const entries: DbfEntry[] = LAYERS.map((spec) => ({ name: spec.name, layer: randomLayer(rng, spec) }));
      const embedding = Float32Array.from({ length: 512 * 256 }, () => rng.normal() * 0.02);
      entries.push({
        name: 'embed_tokens.weight',
        dtype: 'F16',
        shape: [512, 256],
        data: encodeFloat16Array(embedding),
      });
      await mkdir(dirname(options.out), { recursive: true });
      await saveDbfFile(options.out, entries, {
        provenance: { algorithm: 'synthetic-selftest', seed: options.seed, params: { layers: LAYERS } },
      });

      const source = await fileSource(options.out);
      try {
        const summary = await validateDbf(source);
        ctx.out(
          `wrote and validated ${options.out} (${formatBytes(source.size)}, DBF format v${summary.version})`,
        );
        const file = await openDbf(source);
        const backend = await selectBackend({ backends: [cpu()], device: 'auto' });
        ctx.out(`backend: ${backend.id} — ${backend.capabilities.description}\n`);
        const rows: (string | number)[][] = [];
        for (const info of file.layers) {
          const layer = await file.loadLayer(info.name);
          const result = await runLayer(backend, layer, options.batch, rng);
          rows.push([
            info.name,
            `${info.kind}${info.kind === 'mdbf' ? ` l=${info.envelopeRank}` : ''}`,
            `${info.outFeatures}×${info.inFeatures}`,
            info.rank,
            info.bitsPerWeight.toFixed(3),
            result.maxRelativeError.toExponential(1),
            result.compressedMs.toFixed(3),
            result.denseMs.toFixed(3),
          ]);
        }
        ctx.out(table(['layer', 'kind', 'shape', 'k', 'bpw', 'max rel err', 'dbf ms', 'dense ms'], rows));
        ctx.out(
          `\n${file.layers.length} compressed layers at ${file.bits.compressedBitsPerWeight.toFixed(3)} bpw; ` +
            `file ${formatBytes(source.size)} vs ${formatBytes(file.bits.parameters * 4)} in fp32. ` +
            `Outputs match the dense weights (max relative error < 1e-5).`,
        );
        await backend.dispose();
      } finally {
        await source.close?.();
      }
    });
}

function randomLayer(rng: Rng, spec: DemoLayerSpec): CompressedLayer {
  const shape = {
    kind: spec.kind,
    outFeatures: spec.out,
    inFeatures: spec.in,
    envelopeRank: spec.envelopeRank,
  };
  const k = largestRankForBpw(shape, spec.bpw);
  const signs = (rows: number, cols: number) =>
    packSigns(Float32Array.from({ length: rows * cols }, rng.normal), rows, cols);
  // Positive magnitudes with a spread, like real scale vectors.
  const scales = (length: number) => Float32Array.from({ length }, () => Math.exp(0.3 * rng.normal()) * 0.05);
  if (spec.kind === 'dbf') {
    return {
      kind: 'dbf',
      outFeatures: spec.out,
      inFeatures: spec.in,
      rank: k,
      signA: signs(spec.out, k),
      signB: signs(k, spec.in),
      scaleA: scales(spec.out),
      scaleMid: scales(k),
      scaleB: scales(spec.in),
    };
  }
  const l = spec.envelopeRank;
  return {
    kind: 'mdbf',
    outFeatures: spec.out,
    inFeatures: spec.in,
    rank: k,
    envelopeRank: l,
    signA: signs(spec.out, k),
    signB: signs(k, spec.in),
    envA: scales(spec.out * l),
    envQU: scales(k * l),
    envQV: scales(k * l),
    envB: scales(spec.in * l),
  };
}

/** Runs a layer compressed and as its dense equivalent; returns the worst error and median times. */
async function runLayer(backend: KernelBackend, layer: CompressedLayer, batch: number, rng: Rng) {
  const n = layer.outFeatures;
  const m = layer.inFeatures;
  const weight = dequantizeFloat64(layer);
  const input = Float32Array.from({ length: batch * m }, rng.normal);
  const compressed = await backend.uploadLinear(layer);
  const dense = await backend.uploadLinear({
    kind: 'dense',
    outFeatures: n,
    inFeatures: m,
    weight: Float32Array.from(weight),
  });
  const output = await backend.linear({ weights: compressed, input, batch });
  let maxRelativeError = 0;
  for (let t = 0; t < batch; t++) {
    let norm = 0;
    let worst = 0;
    for (let r = 0; r < n; r++) {
      let expected = 0;
      for (let c = 0; c < m; c++) expected += weight[r * m + c]! * input[t * m + c]!;
      norm = Math.max(norm, Math.abs(expected));
      worst = Math.max(worst, Math.abs(output[t * n + r]! - expected));
    }
    maxRelativeError = Math.max(maxRelativeError, worst / norm);
  }
  if (!(maxRelativeError < 1e-5))
    throw new Error(`the ${layer.kind} kernel disagrees with the dense weights: ${maxRelativeError}`);
  const time = async (weights: typeof compressed) => {
    const out = new Float32Array(batch * n);
    const samples: number[] = [];
    for (let i = 0; i < 25; i++) {
      const start = performance.now();
      await backend.linear({ weights, input, batch, output: out });
      samples.push(performance.now() - start);
    }
    return median(samples.slice(5));
  };
  const result = { maxRelativeError, compressedMs: await time(compressed), denseMs: await time(dense) };
  compressed.dispose();
  dense.dispose();
  return result;
}
