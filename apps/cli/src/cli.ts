/**
 * The `dbf` command. Each sub-command lives in src/commands/<name>.ts and exports `register(program, ctx)`.
 * Errors become one readable line (`error [CODE]: message`); `--verbose` adds the stack trace.
 */
import { DbfError } from '@dbf/core';
import { Command, CommanderError } from 'commander';
import { register as registerCompress } from './commands/compress';
import { register as registerDemo } from './commands/demo';
import { register as registerEval } from './commands/eval';
import { register as registerFactorize } from './commands/factorize';
import { register as registerGenerate } from './commands/generate';
import { register as registerInspect } from './commands/inspect';
import { register as registerSelftest } from './commands/selftest';
import { register as registerValidate } from './commands/validate';
import { type CliContext, CliExit, processContext } from './context';

export type { CliContext } from './context';

export function createProgram(ctx: CliContext): Command {
  const program = new Command('dbf')
    .description('Compress, inspect, validate and run DBF/MDBF models (1–2 bit weights).')
    .option('--verbose', 'show stack traces on errors')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.out(s.trimEnd()), writeErr: (s) => ctx.err(s.trimEnd()) });
  registerDemo(program, ctx);
  registerFactorize(program, ctx);
  registerCompress(program, ctx);
  registerEval(program, ctx);
  registerGenerate(program, ctx);
  registerInspect(program, ctx);
  registerValidate(program, ctx);
  registerSelftest(program, ctx);
  return program;
}

/** Runs the CLI on `argv` (without `node dbf`) and returns the process exit code. */
export async function main(argv: readonly string[], ctx: CliContext = processContext): Promise<number> {
  const program = createProgram({ ...ctx, argv });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CliExit) return error.exitCode;
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const verbose = Boolean(program.opts().verbose);
    ctx.err(formatError(error, verbose));
    return 1;
  }
}

export function formatError(error: unknown, verbose: boolean): string {
  const line = DbfError.isInstance(error)
    ? `error [${error.code}]: ${error.message}`
    : `error: ${error instanceof Error ? error.message : String(error)}`;
  return verbose && error instanceof Error && error.stack ? `${line}\n${error.stack}` : line;
}
