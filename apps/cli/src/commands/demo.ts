import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '@dbf/core';
import { generate, LlamaModel, loadModelFromPath } from '@dbf/llm';
import type { Command } from 'commander';
import { BACKEND_HELP, createCliBackend } from '../backends';
import type { CliContext } from '../context';
import { parseInteger, parsePositiveNumber } from '../parse-options';
import { compressCommand } from './compress';
import { nodeFileSystem } from './eval';

/** The checkout this CLI runs from (built or from source): the nearest folder above with models/sotu-3m. */
function checkoutRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) if (existsSync(join(dir, 'models', 'sotu-3m'))) return dir;
  return undefined;
}
const ROOT = checkoutRoot();
/** The bundled default model (models/sotu-3m in the repository). */
const BUNDLED_MODEL = ROOT ? join(ROOT, 'models', 'sotu-3m') : 'models/sotu-3m';
/** Held-out text for the bundled model, from ../shared beside the checkout (or $DBF_SHARED_DIR). */
const HELD_OUT = join(
  process.env.DBF_SHARED_DIR ?? join(ROOT ?? '.', '..', 'shared'),
  'data',
  'sotu',
  'sotu-2001-2021.txt',
);

interface DemoOptions {
  model: string;
  out: string;
  bpw: number;
  iters: number;
  text?: string;
  evalTokens: number;
  calibSequences: number;
  prompt: string;
  tokens: number;
  backend: string;
}

/**
 * `dbf demo`: the main job on the bundled model, end to end — compress it, measure perplexity before and
 * after, and generate from both.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'compress the bundled sotu-3m model, compare its perplexity before and after, and generate from both',
    )
    .option('--model <path>', 'model to compress (default: the bundled models/sotu-3m)', BUNDLED_MODEL)
    .option('--out <dir>', 'where to write the compressed folder', 'out/sotu-3m-dbf')
    .option('--bpw <bits>', 'target bits per weight', parsePositiveNumber, 1.5)
    .option('--iters <n>', 'factorization iterations per layer', parseInteger, 40)
    .option('--text <file>', 'held-out text for perplexity (default: ../shared SOTU 2001–2021 if present)')
    .option('--eval-tokens <n>', 'tokens of the text to score', parseInteger, 8192)
    .option('--calib-sequences <n>', 'calibration sequences sampled from the model', parseInteger, 16)
    .option('--prompt <text>', 'prompt to continue', 'The state of the Union is')
    .option('-n, --tokens <n>', 'tokens to generate', parseInteger, 40)
    .option('--backend <id>', BACKEND_HELP, 'auto')
    .action(async (o: DemoOptions) => {
      if (!existsSync(o.model))
        throw new InvalidArgumentError(
          `${o.model} does not exist; pass --model with a model folder or file.`,
        );
      const scratch = await mkdtemp(join(tmpdir(), 'dbf-demo-'));
      try {
        let text = o.text ?? (existsSync(HELD_OUT) ? HELD_OUT : undefined);
        if (text === undefined) {
          ctx.err(
            'No held-out text given or found beside the checkout: scoring text sampled from the original model.',
          );
          text = join(scratch, 'sampled.txt');
          await writeFile(text, await sampleText(o.model, o.backend));
        }
        ctx.out(`1/3  Compressing ${o.model} to ${o.bpw} bpw (${o.iters} iterations per layer)…`);
        const argv = [
          'compress',
          o.model,
          '--out',
          o.out,
          '--bpw',
          String(o.bpw),
          '--iters',
          String(o.iters),
        ];
        argv.push(
          '--calib-sequences',
          String(o.calibSequences),
          '--eval-text',
          text,
          '--eval-tokens',
          String(o.evalTokens),
        );
        argv.push('--backend', o.backend, '--force');
        ctx.out(`     dbf ${argv.join(' ')}`);
        const { result, perplexity } = await compressCommand(
          o.model,
          {
            out: o.out,
            bpw: o.bpw,
            method: 'dbf',
            envelopeRank: 2,
            allocation: 'uniform',
            calibSequences: o.calibSequences,
            iters: o.iters,
            seed: 0,
            backend: o.backend,
            force: true,
            evalText: text,
            evalTokens: o.evalTokens,
          },
          { ...ctx, out: () => {} },
          argv,
        );
        ctx.out(
          `     ${result.layers.length} linears at ${result.totals.bitsPerWeight.toFixed(3)} bpw in ${result.seconds.toFixed(0)} s → ${resolve(o.out)}`,
        );
        for (const p of perplexity ?? [])
          ctx.out(
            `2/3  Perplexity on ${p.tokens} held-out tokens of ${p.text}: original ${p.before.toFixed(2)} → compressed ${p.after.toFixed(2)}`,
          );
        ctx.out(`3/3  Generating ${o.tokens} tokens (greedy) from "${o.prompt}"…`);
        for (const [label, path] of [
          ['original  ', o.model],
          ['compressed', resolve(o.out)],
        ] as const) {
          const loaded = await loadModelFromPath(path, nodeFileSystem);
          const backend = await createCliBackend(o.backend);
          const model = await LlamaModel.create(loaded.weights, backend);
          try {
            const r = await generate(model, loaded.tokenizer!, o.prompt, {
              maxTokens: o.tokens,
              temperature: 0,
            });
            ctx.out(
              `     ${label} (${r.stats.decodeTokensPerSecond.toFixed(0)} tok/s on ${backend.id}): ${o.prompt}${r.text}`,
            );
          } finally {
            model.dispose();
            await backend.dispose();
          }
        }
        ctx.out(`Done. The compressed model is in ${resolve(o.out)} (see its README.md).`);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
}

/** About 2,000 tokens sampled from the original model, as text: the fallback evaluation text. */
async function sampleText(modelPath: string, backendId: string): Promise<string> {
  const loaded = await loadModelFromPath(modelPath, nodeFileSystem);
  const backend = await createCliBackend(backendId);
  const model = await LlamaModel.create(loaded.weights, backend);
  try {
    let text = '';
    for (let seed = 0; seed < 8; seed++) {
      const r = await generate(model, loaded.tokenizer!, [loaded.tokenizer!.bosId], {
        maxTokens: Math.min(255, loaded.config.contextLength - 1),
        temperature: 1,
        seed,
        stopAtEos: false,
      });
      text += `${r.text}\n`;
    }
    return text;
  } finally {
    model.dispose();
    await backend.dispose();
  }
}
