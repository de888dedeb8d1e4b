import { streamTokens } from '@dbf/llm';
import { type Command, InvalidArgumentError } from 'commander';
import { BACKEND_HELP } from '../backends';
import type { CliContext } from '../context';
import { parseInteger } from '../parse-options';
import { describeModel, loadRunnableModel } from './eval';

interface GenerateCommandOptions {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed?: number;
  backend: string;
  tokenizer?: string;
  verboseModel?: boolean;
}

function parseTemperature(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`expected a number ≥ 0, got "${value}"`);
  return n;
}

function parseTopP(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
    throw new InvalidArgumentError(`expected a number in (0, 1], got "${value}"`);
  return n;
}

/**
 * Raw text to standard output as tokens arrive, through `ctx.write` (no newline added) when the context
 * has it (the process context does), otherwise as whole lines through `out`.
 */
function streamWriter(ctx: CliContext): { write(text: string): void; end(): void } {
  const direct = ctx.write;
  if (direct) return { write: (t) => direct.call(ctx, t), end: () => direct.call(ctx, '\n') };
  let line = '';
  return {
    write(text) {
      line += text;
      const lines = line.split('\n');
      line = lines.pop()!;
      for (const l of lines) ctx.out(l);
    },
    end() {
      ctx.out(line);
      line = '';
    },
  };
}

/**
 * `dbf generate MODEL --prompt TEXT`: streams the continuation to stdout as it is sampled (the prompt
 * first), then reports time to first token and tokens/s on stderr.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('generate')
    .description('generate text from a prompt, streaming tokens as they are produced')
    .argument(
      '<model>',
      'a model folder (Hugging Face or compressed), a llama2.c .bin, or a .safetensors file',
    )
    .option('--prompt <text>', 'the text to continue (BOS is prepended)', '')
    .option('-n, --max-tokens <n>', 'new tokens at most', parseInteger, 128)
    .option('--temperature <t>', 'sampling temperature; 0 = greedy', parseTemperature, 0.8)
    .option('--top-p <p>', 'nucleus sampling threshold in (0, 1]', parseTopP, 0.9)
    .option('--seed <s>', 'random seed (default: random, printed)', parseInteger)
    .option('--tokenizer <file>', 'tokenizer for a llama2.c checkpoint (default: beside it)')
    .option('--backend <id>', BACKEND_HELP, 'auto')
    .option('--verbose-model', 'describe the model on stderr before generating')
    .action(async (modelPath: string, options: GenerateCommandOptions) => {
      const run = await loadRunnableModel(modelPath, options);
      try {
        if (options.verboseModel) ctx.err(describeModel(modelPath, run));
        const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
        const out = streamWriter(ctx);
        out.write(options.prompt);
        const stream = streamTokens(run.model, run.tokenizer, options.prompt, {
          maxTokens: options.maxTokens,
          temperature: options.temperature,
          topP: options.topP,
          seed,
        });
        let next = await stream.next();
        while (!next.done) {
          out.write(next.value.text);
          next = await stream.next();
        }
        const stats = next.value;
        out.write(stats.tailText);
        out.end();
        ctx.err(
          `${stats.generatedTokens} tokens (stop: ${stats.stopReason}); prompt ${stats.promptTokens} tokens in ` +
            `${(stats.prefillSeconds * 1000).toFixed(1)} ms (${stats.prefillTokensPerSecond.toFixed(1)} tokens/s); ` +
            `time to first token ${(stats.timeToFirstTokenSeconds * 1000).toFixed(1)} ms; ` +
            `decode ${stats.decodeTokensPerSecond.toFixed(1)} tokens/s; ` +
            `temperature ${options.temperature}, top-p ${options.topP}, seed ${seed}; backend ${run.backend.id}`,
        );
      } finally {
        await run.dispose();
      }
    });
}
