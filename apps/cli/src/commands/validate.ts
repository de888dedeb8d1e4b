import { DbfError, validateDbf } from '@dbf/core';
import { fileSource } from '@dbf/node';
import type { Command } from 'commander';
import { type CliContext, CliExit } from '../context';

/** `dbf validate FILE`: full validation (header, metadata, every layer's data). Exit 0 when valid. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description(
      'check every rule of the DBF format; exits 0 when the file is valid, 1 with the error code otherwise',
    )
    .argument('<file>', 'a DBF .safetensors file')
    .action(async (file: string) => {
      const source = await fileSource(file);
      try {
        const summary = await validateDbf(source);
        ctx.out(
          `valid: ${file} (DBF format v${summary.version}, ${summary.layers.length} compressed layers, ` +
            `${summary.plainTensors.length} plain tensors, ${summary.bits.compressedBitsPerWeight.toFixed(4)} bpw in compressed layers)`,
        );
      } catch (error) {
        if (!DbfError.isInstance(error)) throw error;
        ctx.err(`invalid [${error.code}]: ${error.message}`);
        throw new CliExit(1);
      } finally {
        await source.close?.();
      }
    });
}
