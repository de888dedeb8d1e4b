import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliContext, main } from '../src/cli';

/**
 * Runs the `dbf` CLI in-process exactly as the binary does (`main`), capturing stdout lines, stderr lines
 * and, when `stream` is set, the raw chunks a command writes without newlines (streamed tokens).
 */
export async function runCli(
  argv: readonly string[],
  options: { stream?: boolean; signal?: AbortSignal; onErr?: (line: string) => void } = {},
) {
  const out: string[] = [];
  const err: string[] = [];
  const chunks: string[] = [];
  const ctx: CliContext = {
    out: (s) => out.push(s),
    err: (s) => {
      err.push(s);
      options.onErr?.(s);
    },
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.stream ? { write: (s: string) => chunks.push(s) } : {}),
  };
  const code = await main(argv, ctx);
  return { code, stdout: out.join('\n'), stderr: err.join('\n'), chunks };
}

/** Shorthand: `run('inspect', file, '--json')`. */
export function run(...argv: string[]) {
  return runCli(argv);
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The shared models and data folder (../shared beside the repo, or $DBF_SHARED_DIR). */
export const sharedDir = process.env.DBF_SHARED_DIR ?? resolve(repoRoot, '../shared');
