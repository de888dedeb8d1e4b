import { readdir, readFile, stat } from 'node:fs/promises';
import { FormatError, type KernelBackend } from '@dbf/core';
import {
  evaluatePerplexity,
  type FileSystemAccess,
  LlamaModel,
  type LoadedModel,
  loadModelFromPath,
  type Tokenizer,
} from '@dbf/llm';
import { fileSource } from '@dbf/node';
import { type Command, InvalidArgumentError } from 'commander';
import { BACKEND_HELP, createCliBackend } from '../backends';
import type { CliContext } from '../context';
import { parseInteger } from '../parse-options';

/** Node's file system for `loadModelFromPath`. */
export const nodeFileSystem: FileSystemAccess = {
  async kind(path) {
    try {
      const s = await stat(path);
      return s.isDirectory() ? 'directory' : s.isFile() ? 'file' : undefined;
    } catch {
      return undefined;
    }
  },
  open: (path) => fileSource(path),
  list: (path) => readdir(path),
};

export interface RunnableModel {
  readonly loaded: LoadedModel;
  readonly model: LlamaModel;
  readonly tokenizer: Tokenizer;
  readonly backend: KernelBackend;
  readonly loadSeconds: number;
  dispose(): Promise<void>;
}

/**
 * Loads MODEL (a folder, a llama2.c .bin or a .safetensors beside config.json) with its tokenizer and
 * uploads it to the chosen backend.
 */
export async function loadRunnableModel(
  path: string,
  options: { tokenizer?: string; backend?: string },
): Promise<RunnableModel> {
  const start = performance.now();
  const loaded = await loadModelFromPath(path, nodeFileSystem, {
    ...(options.tokenizer !== undefined ? { tokenizer: options.tokenizer } : {}),
  });
  if (!loaded.tokenizer) {
    throw new FormatError(
      'IO_ERROR',
      `No tokenizer found for ${path}: put tokenizer.model (or tokenizer.bin) beside it, or pass --tokenizer FILE.`,
    );
  }
  const backend = await createCliBackend(options.backend ?? 'auto');
  try {
    const model = await LlamaModel.create(loaded.weights, backend);
    return {
      loaded,
      model,
      tokenizer: loaded.tokenizer,
      backend,
      loadSeconds: (performance.now() - start) / 1000,
      async dispose() {
        model.dispose();
        await backend.dispose();
      },
    };
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}

/** One line describing a loaded model. */
export function describeModel(path: string, run: RunnableModel): string {
  const c = run.loaded.config;
  const kind =
    run.loaded.format === 'dbf'
      ? `compressed (${run.loaded.compressed.length} DBF/MDBF layers)`
      : run.loaded.format === 'llama2c'
        ? 'llama2.c checkpoint'
        : 'Hugging Face folder';
  return (
    `${path}: ${kind}, dim ${c.dim}, ${c.layers} layers, ${c.heads}/${c.kvHeads} heads, vocab ${c.vocabSize}, ` +
    `context ${c.contextLength}; backend ${run.backend.id}; loaded in ${run.loadSeconds.toFixed(2)} s`
  );
}

function parsePositiveInteger(value: string): number {
  const n = parseInteger(value);
  if (n === 0) throw new InvalidArgumentError('expected a positive integer, got "0"');
  return n;
}

interface EvalOptions {
  text: string;
  ctx?: number;
  stride?: number;
  maxTokens?: number;
  json?: boolean;
  backend: string;
  tokenizer?: string;
}

/**
 * `dbf eval MODEL --text FILE`: perplexity over windows of --ctx tokens advanced by --stride (defaults:
 * the model's context, non-overlapping), the whole file tokenized as one string without BOS.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('eval')
    .description('measure a model’s perplexity on a text file')
    .argument(
      '<model>',
      'a model folder (Hugging Face or compressed), a llama2.c .bin, or a .safetensors file',
    )
    .requiredOption('--text <file>', 'UTF-8 text, tokenized as one string without BOS')
    .option('--ctx <n>', 'window length in tokens (default: the model’s context)', parsePositiveInteger)
    .option(
      '--stride <n>',
      'tokens between window starts (default: --ctx, non-overlapping windows)',
      parsePositiveInteger,
    )
    .option('--max-tokens <n>', 'evaluate only the first N tokens of the text', parsePositiveInteger)
    .option('--tokenizer <file>', 'tokenizer for a llama2.c checkpoint (default: beside it)')
    .option('--backend <id>', BACKEND_HELP, 'auto')
    .option('--json', 'print {perplexity, tokens, predicted, seconds}')
    .action(async (modelPath: string, options: EvalOptions) => {
      const run = await loadRunnableModel(modelPath, options);
      try {
        let text: string;
        try {
          text = await readFile(options.text, 'utf8');
        } catch (error) {
          throw new FormatError('IO_ERROR', `Cannot read ${options.text}: ${(error as Error).message}`, {
            cause: error,
          });
        }
        const t0 = performance.now();
        const ids = run.tokenizer.encode(text);
        const tokenizeSeconds = (performance.now() - t0) / 1000;
        const ctxTokens = options.ctx ?? run.model.config.contextLength;
        if (!options.json) {
          ctx.out(describeModel(modelPath, run));
          ctx.out(
            `${options.text}: ${ids.length.toLocaleString('en-US')} tokens (tokenized in ${tokenizeSeconds.toFixed(2)} s)`,
          );
        }
        let reported = 0;
        const result = await evaluatePerplexity(run.model, ids, {
          ctx: ctxTokens,
          ...(options.stride !== undefined ? { stride: options.stride } : {}),
          ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
          onProgress: (p) => {
            // Long runs (50+ windows) report each tenth of the work on stderr, to show they are alive.
            const tenth = Math.floor((10 * p.windows) / p.totalWindows);
            if (p.totalWindows >= 50 && tenth > reported && p.windows < p.totalWindows) {
              reported = tenth;
              ctx.err(
                `  ${p.windows}/${p.totalWindows} windows, perplexity so far ${p.perplexity.toFixed(3)}`,
              );
            }
          },
        });
        const { perplexity, tokens, predicted, seconds } = result;
        if (options.json) {
          ctx.out(JSON.stringify({ perplexity, tokens, predicted, seconds }));
          return;
        }
        ctx.out(
          `perplexity ${perplexity.toFixed(3)} over ${predicted.toLocaleString('en-US')} predicted tokens ` +
            `(${tokens.toLocaleString('en-US')} tokens, ${result.windows} windows of ${ctxTokens}, stride ${options.stride ?? ctxTokens}) ` +
            `in ${seconds.toFixed(1)} s (${(tokens / seconds).toFixed(0)} tokens/s)`,
        );
      } finally {
        await run.dispose();
      }
    });
}
