import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  type AllocationMode,
  type CalibrationSet,
  COMPRESSION_METHODS,
  type CompressionMethod,
  type CompressModelResult,
  calibrationFromModel,
  calibrationFromText,
  compressedConfigJson,
  compressModel,
  encodeModelFile,
  modelCard,
} from '@dbf/compress';
import { AbortedError, InvalidArgumentError, type KernelBackend } from '@dbf/core';
import {
  evaluatePerplexity,
  LINEAR_ROLES,
  type LinearRole,
  LlamaModel,
  type LlamaWeights,
  type LoadedModel,
  loadModelFromPath,
  type Tokenizer,
} from '@dbf/llm';
import { type Command, Option } from 'commander';
import { BACKEND_HELP, createCliBackend } from '../backends';
import { CheckpointStore } from '../compress/checkpoint-store';
import { progressReporter } from '../compress/progress';
import { writeFolderAtomic } from '../compress/write-folder';
import { type CliContext, CliExit } from '../context';
import { parseInteger, parsePositiveNumber } from '../parse-options';
import { nodeFileSystem } from './eval';

export interface CompressCommandOptions {
  bpw?: number;
  out: string;
  method: CompressionMethod;
  envelopeRank: number;
  activationAware?: boolean;
  refitOutputs?: boolean;
  allocation: AllocationMode;
  calib?: string;
  calibSequences: number;
  calibLength?: number;
  roles?: string;
  iters: number;
  seed: number;
  backend: string;
  resume?: boolean;
  force?: boolean;
  evalText?: string;
  evalTokens?: number;
  json?: boolean;
}

/** Perplexity of the original and the compressed model on the first `tokens` tokens of `text`. */
export interface PerplexityRow {
  readonly text: string;
  readonly tokens: number;
  readonly before: number;
  readonly after: number;
}

/** `dbf compress MODEL --bpw B --out DIR`: a compressed model folder, resumable, written atomically. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('compress')
    .description(
      'Compress a llama-family model (Hugging Face folder or llama2.c .bin) to a target bits per weight, layer by layer, into a folder that `dbf eval` / `dbf generate` and @dbf/llm load.',
    )
    .argument(
      '<model>',
      'model folder (config.json + safetensors + tokenizer), .safetensors or llama2.c .bin',
    )
    .requiredOption('--out <dir>', 'output folder (written atomically; its work folder is <dir>.partial)')
    .option(
      '--bpw <bits>',
      'target bits per weight over the compressed linears (dbf/mdbf: stored bits; rtn: integer bits)',
      parsePositiveNumber,
    )
    .addOption(
      new Option('--method <name>', 'dbf, mdbf, or a baseline: svid (≈1 bpw), rtn (groups of 64)')
        .choices(COMPRESSION_METHODS)
        .default('dbf'),
    )
    .option('--envelope-rank <l>', 'MDBF envelope rank', parseInteger, 2)
    .option('--activation-aware', 'MDBF: minimise the error weighted by the full input Gram matrix')
    .option(
      '--refit-outputs',
      'rescale each layer’s outputs toward the original model on the calibration set (helps on similar text, can hurt on other text)',
    )
    .addOption(
      new Option(
        '--allocation <mode>',
        'ranks per layer: uniform, or nonuniform (measured curves and sensitivities)',
      )
        .choices(['uniform', 'nonuniform'])
        .default('uniform'),
    )
    .option('--calib <file>', 'calibration text (default: sequences sampled from the model itself)')
    .option('--calib-sequences <n>', 'calibration sequences', parseInteger, 32)
    .option(
      '--calib-length <n>',
      'tokens per calibration sequence (default: the model context)',
      parseInteger,
    )
    .option('--roles <list>', `linears to compress, comma-separated (default all: ${LINEAR_ROLES.join(',')})`)
    .option('--iters <n>', 'factorization iterations per layer', parseInteger, 260)
    .option('--seed <n>', 'seed of every random choice', parseInteger, 0)
    .option('--backend <id>', BACKEND_HELP, 'auto')
    .option('--resume', 'continue an interrupted run from <out>.partial')
    .option('--force', 'replace an existing output folder and discard an unfinished run')
    .option(
      '--eval-text <file>',
      'measure perplexity before and after on this text (goes into the model card)',
    )
    .option('--eval-tokens <n>', 'with --eval-text: score only the first N tokens', parseInteger)
    .option('--json', 'print a JSON summary on stdout')
    .action(async (model: string, options: CompressCommandOptions) => {
      await compressCommand(model, options, ctx, ctx.argv ?? []);
    });
}

export async function compressCommand(
  modelPath: string,
  o: CompressCommandOptions,
  ctx: CliContext,
  argv: readonly string[],
): Promise<{ result: CompressModelResult; perplexity?: PerplexityRow[] }> {
  const method = o.method;
  if ((method === 'dbf' || method === 'mdbf') && o.bpw === undefined)
    throw new InvalidArgumentError(`--bpw is required with --method ${method} (for example --bpw 1.5).`);
  if (o.iters < 1) throw new InvalidArgumentError('--iters must be at least 1.');
  if (o.calibSequences < 1) throw new InvalidArgumentError('--calib-sequences must be at least 1.');
  const roles = parseRoles(o.roles);
  const out = resolve(o.out);

  const loaded = await loadModelFromPath(modelPath, nodeFileSystem);
  if (loaded.compressed.length > 0)
    throw new InvalidArgumentError(`${modelPath} is already compressed; give the original model.`);
  const tokenizer = requireTokenizer(loaded, modelPath);
  const backend = await createCliBackend(o.backend);
  const controller = new AbortController();
  const onSignal = () => controller.abort(new AbortedError('Interrupted (Ctrl-C).'));
  process.once('SIGINT', onSignal);
  ctx.signal?.addEventListener('abort', onSignal, { once: true });
  const reporter = progressReporter(ctx, Boolean(process.stderr.isTTY));
  let store: CheckpointStore | undefined;
  try {
    ctx.err(
      `${modelPath}: dim ${loaded.config.dim}, ${loaded.config.layers} layers; method ${method}` +
        `${method === 'mdbf' ? ` l=${o.envelopeRank}` : ''}, ${o.bpw ?? 'default'} bpw, ${o.allocation} allocation, ` +
        `${o.iters} iterations, seed ${o.seed}; backend ${backend.id}`,
    );
    const teacher = await LlamaModel.create(loaded.weights, backend);
    let calibration: CalibrationSet;
    let calibrationText: string;
    const length = Math.min(o.calibLength ?? loaded.config.contextLength, loaded.config.contextLength);
    try {
      if (o.calib !== undefined) {
        const text = await readFile(o.calib, 'utf8');
        calibration = calibrationFromText(tokenizer, text, {
          sequenceLength: length,
          sequences: o.calibSequences,
        });
        calibrationText = `${calibration.sequences.length} × ${length} tokens of ${basename(o.calib)}`;
      } else {
        ctx.err(`Sampling ${o.calibSequences} calibration sequences of ${length} tokens from the model…`);
        calibration = await calibrationFromModel(teacher, tokenizer, {
          sequenceLength: length,
          sequences: o.calibSequences,
          seed: o.seed,
          signal: controller.signal,
        });
        calibrationText = `${calibration.sequences.length} × ${length} tokens sampled from the model itself (seed ${o.seed}, temperature 1)`;
      }
    } finally {
      teacher.dispose();
    }

    const fingerprint = {
      version: 1,
      weights: hashWeights(loaded.weights),
      calibration: hashSequences(calibration.sequences),
      method,
      bpw: o.bpw ?? null,
      envelopeRank: method === 'mdbf' ? o.envelopeRank : null,
      activationAware: Boolean(o.activationAware),
      refitOutputs: Boolean(o.refitOutputs),
      allocation: o.allocation,
      roles,
      iters: o.iters,
      seed: o.seed,
    };
    const opened = await CheckpointStore.open(`${out}.partial`, fingerprint, {
      resume: Boolean(o.resume),
      discard: Boolean(o.force),
    });
    store = opened.store;
    if (opened.resumedLayers > 0)
      ctx.err(`Resuming: ${opened.resumedLayers} layers already done in ${store.dir}.`);

    const result = await compressModel({
      weights: loaded.weights,
      backend,
      calibration,
      method,
      ...(o.bpw !== undefined ? { bpw: o.bpw } : {}),
      envelopeRank: o.envelopeRank,
      activationAware: Boolean(o.activationAware),
      refitOutputs: Boolean(o.refitOutputs),
      allocation: o.allocation,
      roles,
      iterations: o.iters,
      seed: o.seed,
      checkpoint: store,
      signal: controller.signal,
      onEvent: reporter.onEvent,
    });
    reporter.stop();

    const perplexity = o.evalText
      ? await measureBeforeAfter(loaded, result.weights, tokenizer, backend, o, ctx)
      : undefined;
    const file = encodeModelFile(result.weights, result.layers, {
      provenance: {
        algorithm: method === 'svid' || method === 'rtn' ? `${method}-baseline` : `${method}-sequential`,
        params: {
          bpw: o.bpw,
          envelope_rank: fingerprint.envelopeRank,
          allocation: o.allocation,
          iterations: o.iters,
          roles,
        },
        seed: o.seed,
        source: modelPath,
      },
    });
    const command = `dbf ${argv.map(quote).join(' ')}`;
    const fp32Bytes = fp32ByteCount(loaded.weights);
    const folder = await modelFolder(modelPath);
    const sourceConfig = await readSourceConfig(loaded, folder);
    const tokenizerFile = loaded.files.find(
      (f) => /tokenizer\.(model|bin)$/.test(f) || /tok.*\.bin$/.test(f),
    );
    const files: Record<string, Uint8Array | string | AsyncIterable<Uint8Array>> = {
      'config.json': compressedConfigJson(loaded.config, sourceConfig, {
        method,
        bits_per_weight: round(result.totals.bitsPerWeight),
        ...(method === 'mdbf' ? { envelope_rank: o.envelopeRank } : {}),
        allocation: o.allocation,
      }),
      'model.safetensors': file.chunks(),
      'README.md': modelCard({
        source: modelPath,
        result,
        method,
        envelopeRank: o.envelopeRank,
        allocation: o.allocation,
        iterations: o.iters,
        seed: o.seed,
        calibration: calibrationText,
        refitOutputs: Boolean(o.refitOutputs),
        fileBytes: file.totalBytes,
        fp32Bytes,
        command,
        ...(perplexity ? { perplexity } : {}),
        ...(method === 'svid' || method === 'rtn'
          ? {
              baselineNote: `${method.toUpperCase()} is a comparison baseline: format v1 has no layer type for it, so its layers are stored dequantized (F16). The bpw above is what its own format would take; this file is not smaller.`,
            }
          : {}),
      }),
    };
    if (tokenizerFile) {
      // llama2.c loaders report the tokenizer path as found; folder loaders report a name in the folder.
      const tokenizerPath = loaded.format === 'llama2c' ? tokenizerFile : resolve(folder, tokenizerFile);
      files[tokenizerFile.endsWith('.model') ? 'tokenizer.model' : 'tokenizer.bin'] =
        await readFile(tokenizerPath);
    }
    await writeFolderAtomic(out, files, { replace: Boolean(o.force) });
    await store.remove();

    const summary = {
      out,
      method,
      bpw: round(result.totals.bitsPerWeight),
      layers: result.layers.length,
      file_bytes: file.totalBytes,
      fp32_bytes: fp32Bytes,
      seconds: round(result.seconds),
      drift: result.drift.map(round),
      ...(perplexity ? { perplexity } : {}),
    };
    if (o.json) ctx.out(JSON.stringify(summary));
    else {
      ctx.out(
        `Wrote ${out}: ${result.layers.length} linears at ${result.totals.bitsPerWeight.toFixed(3)} bpw, ` +
          `model.safetensors ${(file.totalBytes / 1e6).toFixed(2)} MB (fp32 ${(fp32Bytes / 1e6).toFixed(2)} MB), ` +
          `in ${result.seconds.toFixed(1)} s.`,
      );
      for (const p of perplexity ?? [])
        ctx.out(
          `perplexity on ${p.text} (${p.tokens} tokens): ${p.before.toFixed(3)} → ${p.after.toFixed(3)}`,
        );
    }
    return { result, ...(perplexity ? { perplexity } : {}) };
  } catch (error) {
    reporter.stop();
    if (error instanceof AbortedError && controller.signal.aborted && store) {
      ctx.err(
        `Interrupted. Finished layers are saved in ${store.dir}; run the same command with --resume to continue.`,
      );
      throw new CliExit(130);
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    await backend.dispose();
  }
}

function parseRoles(list: string | undefined): LinearRole[] {
  if (list === undefined) return [...LINEAR_ROLES];
  const roles = list
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const role of roles) {
    if (!(LINEAR_ROLES as readonly string[]).includes(role))
      throw new InvalidArgumentError(`--roles: unknown role "${role}"; use ${LINEAR_ROLES.join(', ')}.`);
  }
  if (roles.length === 0) throw new InvalidArgumentError('--roles is empty.');
  return roles as LinearRole[];
}

function requireTokenizer(loaded: LoadedModel, path: string): Tokenizer {
  if (!loaded.tokenizer)
    throw new InvalidArgumentError(
      `${path} has no tokenizer (tokenizer.model or tokenizer.bin); compression needs one for calibration.`,
    );
  return loaded.tokenizer;
}

async function measureBeforeAfter(
  loaded: LoadedModel,
  compressed: LlamaWeights,
  tokenizer: Tokenizer,
  backend: KernelBackend,
  o: CompressCommandOptions,
  ctx: CliContext,
): Promise<PerplexityRow[]> {
  const text = await readFile(o.evalText!, 'utf8');
  let ids = tokenizer.encode(text, { bos: false });
  if (o.evalTokens !== undefined) ids = ids.slice(0, o.evalTokens);
  const ppl = async (weights: LlamaWeights) => {
    const model = await LlamaModel.create(weights, backend);
    try {
      return (await evaluatePerplexity(model, ids)).perplexity;
    } finally {
      model.dispose();
    }
  };
  ctx.err(`Perplexity on ${ids.length} tokens of ${basename(o.evalText!)}, before and after…`);
  return [
    {
      text: basename(o.evalText!),
      tokens: ids.length,
      before: await ppl(loaded.weights),
      after: await ppl(compressed),
    },
  ];
}

function hashWeights(weights: LlamaWeights): string {
  const h = createHash('sha256');
  const add = (a: Float32Array) => h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  add(weights.embedding);
  for (const layer of weights.layers) {
    add(layer.attentionNorm);
    add(layer.mlpNorm);
    for (const role of LINEAR_ROLES) {
      const l = layer.linears[role];
      if (l.kind === 'dense') add(l.weight);
    }
  }
  return h.digest('hex');
}

function hashSequences(sequences: readonly Int32Array[]): string {
  const h = createHash('sha256');
  for (const s of sequences) h.update(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  return h.digest('hex');
}

function fp32ByteCount(weights: LlamaWeights): number {
  let n = weights.embedding.length + weights.finalNorm.length;
  for (const layer of weights.layers) {
    n += layer.attentionNorm.length + layer.mlpNorm.length;
    for (const role of LINEAR_ROLES) n += layer.linears[role].outFeatures * layer.linears[role].inFeatures;
  }
  if (!weights.config.tiedEmbeddings) n += weights.head.outFeatures * weights.head.inFeatures;
  return 4 * n;
}

/** The folder MODEL stands for: itself, or the folder of a file (.safetensors, config.json, .bin). */
async function modelFolder(modelPath: string): Promise<string> {
  return (await nodeFileSystem.kind(modelPath)) === 'directory' ? modelPath : dirname(resolve(modelPath));
}

async function readSourceConfig(
  loaded: LoadedModel,
  folder: string,
): Promise<Record<string, unknown> | undefined> {
  if (loaded.format !== 'huggingface') return undefined;
  const text = await readFile(resolve(folder, 'config.json'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
