import {
  type DbfEntry,
  type DbfProvenance,
  type EncodedFile,
  encodeDbf,
  encodeFloat16Array,
  InvalidArgumentError,
  type LinearLayer,
} from '@dbf/core';
import { HEAD_NAME, LINEAR_ROLES, type LlamaConfig, type LlamaWeights, linearName } from '@dbf/llm';
import type { CompressModelResult, LayerReport } from './compress-model';

/** Plain tensors (embedding, norms, layers left dense) as F16 (default: half the bytes) or F32. */
export type PlainDtype = 'F16' | 'F32';

export interface ModelFileOptions {
  readonly plainDtype?: PlainDtype;
  /** Stored as the file's `dbf.provenance` (method, options, source...). */
  readonly provenance: DbfProvenance;
}

/**
 * The compressed model's `model.safetensors`: a DBF v1 file with Hugging Face names. DBF/MDBF layers are
 * stored as layers (`<module>.sign_a`, ...); everything else as plain tensors (`model.embed_tokens.weight`,
 * norms, dense linears as `<module>.weight`, and `lm_head.weight` unless tied). `loadHfModel` reads it back.
 */
export function encodeModelFile(
  weights: LlamaWeights,
  reports: readonly LayerReport[],
  options: ModelFileOptions,
): EncodedFile {
  const dtype = options.plainDtype ?? 'F16';
  if (dtype !== 'F16' && dtype !== 'F32')
    throw new InvalidArgumentError(`plainDtype must be 'F16' or 'F32', got ${JSON.stringify(dtype)}.`);
  const c = weights.config;
  const byName = new Map(reports.map((r) => [r.name, r]));
  const entries: DbfEntry[] = [];
  const plain = (name: string, shape: number[], values: Float32Array) =>
    entries.push({
      name,
      dtype,
      shape,
      data: dtype === 'F16' ? encodeFloat16Array(values) : values,
    });
  plain('model.embed_tokens.weight', [c.vocabSize, c.dim], weights.embedding);
  weights.layers.forEach((layer, block) => {
    plain(`model.layers.${block}.input_layernorm.weight`, [c.dim], layer.attentionNorm);
    plain(`model.layers.${block}.post_attention_layernorm.weight`, [c.dim], layer.mlpNorm);
    for (const role of LINEAR_ROLES) {
      const name = linearName(block, role);
      addLinear(entries, plain, name, layer.linears[role], byName.get(name));
    }
  });
  plain('model.norm.weight', [c.dim], weights.finalNorm);
  if (!c.tiedEmbeddings) addLinear(entries, plain, HEAD_NAME, weights.head, undefined);
  return encodeDbf(entries, { provenance: options.provenance });
}

function addLinear(
  entries: DbfEntry[],
  plain: (name: string, shape: number[], values: Float32Array) => void,
  name: string,
  layer: LinearLayer,
  report: LayerReport | undefined,
): void {
  if (layer.bias) plain(`${name}.bias`, [layer.outFeatures], layer.bias);
  if (layer.kind === 'dense') {
    plain(`${name}.weight`, [layer.outFeatures, layer.inFeatures], layer.weight);
    return;
  }
  const { bias: _bias, ...unbiased } = layer;
  entries.push({
    name,
    layer: unbiased,
    provenance: report
      ? {
          method: report.method,
          rel_error: round(report.relativeError),
          objective_error: round(report.objectiveError),
        }
      : {},
  });
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * `config.json` for the compressed folder: the source's own config when it had one (unknown fields kept),
 * else one built from the runtime config; plus a `quantization_config` saying how it was compressed.
 */
export function compressedConfigJson(
  config: LlamaConfig,
  source: Record<string, unknown> | undefined,
  quantization: Record<string, unknown>,
): string {
  const base: Record<string, unknown> = source
    ? { ...source }
    : {
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        hidden_size: config.dim,
        intermediate_size: config.hiddenDim,
        num_hidden_layers: config.layers,
        num_attention_heads: config.heads,
        num_key_value_heads: config.kvHeads,
        vocab_size: config.vocabSize,
        max_position_embeddings: config.contextLength,
        rms_norm_eps: config.normEps,
        rope_theta: config.ropeTheta,
        tie_word_embeddings: config.tiedEmbeddings,
        hidden_act: 'silu',
        bos_token_id: config.bosId,
        eos_token_id: config.eosId,
      };
  base.quantization_config = { quant_method: 'dbf', format_version: 1, ...quantization };
  return `${JSON.stringify(base, null, 2)}\n`;
}

/** Per linear role: how many layers, their weights and the bpw over them. */
export function bpwByRole(
  reports: readonly LayerReport[],
): { role: string; layers: number; weights: number; bitsPerWeight: number; meanRank: number }[] {
  const out = [];
  for (const role of LINEAR_ROLES) {
    const rows = reports.filter((r) => r.role === role);
    if (rows.length === 0) continue;
    let weights = 0;
    let bits = 0;
    let rank = 0;
    for (const r of rows) {
      weights += r.outFeatures * r.inFeatures;
      bits += r.bitsPerWeight * r.outFeatures * r.inFeatures;
      rank += r.rank ?? 0;
    }
    out.push({
      role,
      layers: rows.length,
      weights,
      bitsPerWeight: bits / weights,
      meanRank: rank / rows.length,
    });
  }
  return out;
}

export interface ModelCardInput {
  /** What was compressed (a path or a Hub id), as the user gave it. */
  readonly source: string;
  readonly result: CompressModelResult;
  readonly method: string;
  readonly envelopeRank?: number;
  readonly allocation: string;
  readonly iterations: number;
  readonly seed: number;
  readonly calibration: string;
  readonly fileBytes: number;
  /** fp32 bytes of the same tensors (for the size ratio). */
  readonly fp32Bytes: number;
  /** The exact command that made the folder. */
  readonly command: string;
  readonly perplexity?: readonly { text: string; before: number; after: number; tokens: number }[];
  readonly baselineNote?: string;
  /** Whether output channels were rescaled toward the teacher (`refitOutputs`). */
  readonly refitOutputs?: boolean;
}

/** The generated `README.md` model card: what this is, how it was made, what it costs, how to run it. */
export function modelCard(input: ModelCardInput): string {
  const r = input.result;
  const method =
    input.method === 'mdbf'
      ? `MDBF (envelope rank l = ${input.envelopeRank ?? 2})`
      : input.method.toUpperCase();
  const lines = [
    '---',
    'library_name: dbf',
    'tags: [dbf, binary-factorization, low-bit]',
    '---',
    '',
    `# ${basename(input.source)} — ${method}, ${r.totals.bitsPerWeight.toFixed(3)} bpw`,
    '',
    `Compressed with dbf (\`@dbf/cli\`: \`dbf compress\`) from \`${input.source}\`.`,
    '',
    '| | |',
    '| --- | --- |',
    `| Method | ${method}, ${input.allocation} allocation, ${input.iterations} iterations, seed ${input.seed} |`,
    `| Compressed linears | ${r.layers.length}, ${r.totals.weights.toLocaleString('en-US')} weights, **${r.totals.bitsPerWeight.toFixed(3)} bpw** (stored: sign bits with row padding + F16 scales) |`,
    `| Calibration | ${input.calibration} |`,
    `| File size | ${mb(input.fileBytes)} (fp32: ${mb(input.fp32Bytes)}, ${(input.fp32Bytes / input.fileBytes).toFixed(1)}× smaller) |`,
    `| Compression time | ${r.seconds.toFixed(1)} s |`,
    '',
  ];
  if (input.baselineNote) lines.push(`> ${input.baselineNote}`, '');
  if (input.perplexity?.length) {
    lines.push('## Perplexity', '', '| text | tokens | original | compressed |', '| --- | --- | --- | --- |');
    for (const p of input.perplexity)
      lines.push(
        `| ${p.text} | ${p.tokens.toLocaleString('en-US')} | ${p.before.toFixed(3)} | ${p.after.toFixed(3)} |`,
      );
    lines.push('');
  }
  lines.push(
    '## Bits per weight by layer type',
    '',
    '| layer | count | mean k | bpw |',
    '| --- | --- | --- | --- |',
  );
  for (const row of bpwByRole(r.layers))
    lines.push(
      `| ${row.role} | ${row.layers} | ${row.meanRank ? row.meanRank.toFixed(1) : '–'} | ${row.bitsPerWeight.toFixed(3)} |`,
    );
  lines.push(
    '',
    'The embedding, the norms and the classifier are not compressed (F16).',
    '',
    '## Use it',
    '',
    '```sh',
    'dbf generate . --prompt "The state of the Union" -n 40',
    'dbf eval . --text held-out.txt',
    '```',
    '',
    'In code: `loadHfModel` from `@dbf/llm` reads this folder; `LlamaModel.create(weights, backend)` runs it on',
    'any dbf backend (`@dbf/backend-cpu`, `@dbf/backend-wasm`, `@dbf/backend-webgpu`).',
    '',
    '## How it was made',
    '',
    '```sh',
    input.command,
    '```',
    '',
    'Decoder layer by decoder layer, each linear was factorized to minimise its error weighted by the second',
    'moments of its inputs on the already-compressed model (student stream)' +
      (input.refitOutputs ? ', then its output channels were rescaled to match the original model.' : '.'),
    'No gradient fine-tuning. Drift from the original model (teacher stream) per decoder layer:',
    '',
    '| decoder layer | drift ‖student − teacher‖/‖teacher‖ |',
    '| --- | --- |',
    ...r.drift.map((d, i) => `| ${i} | ${d.toFixed(4)} |`),
    '',
  );
  return lines.join('\n');
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function basename(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1) || trimmed;
}
