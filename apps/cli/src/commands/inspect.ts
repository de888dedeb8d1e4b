import { openDbf } from '@dbf/core';
import { fileSource } from '@dbf/node';
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { formatBytes, table } from '../format-output';

/** `dbf inspect FILE [--json]`: layers, shapes, k, l, bpw per layer and in total, file size. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('list the layers of a DBF file with their shapes, k, l and bits per weight')
    .argument('<file>', 'a DBF .safetensors file')
    .option('--json', 'print one JSON object')
    .action(async (file: string, options: { json?: boolean }) => {
      const source = await fileSource(file);
      try {
        const dbf = await openDbf(source);
        const report = {
          file,
          file_bytes: source.size,
          version: dbf.version,
          provenance: dbf.provenance ?? null,
          layers: dbf.layers.map((l) => ({
            name: l.name,
            kind: l.kind,
            shape: [l.outFeatures, l.inFeatures],
            k: l.rank,
            l: l.envelopeRank,
            scale_dtype: l.scaleDtype,
            bias: l.biasDtype ?? null,
            bytes: l.storedBytes + l.biasBytes,
            bpw: l.bitsPerWeight,
          })),
          plain_tensors: dbf.plainTensors.map((t) => ({
            name: t.name,
            dtype: t.dtype,
            shape: t.shape,
            bytes: t.byteLength,
          })),
          totals: {
            compressed_weights: dbf.bits.compressedWeights,
            compressed_bpw: dbf.bits.compressedBitsPerWeight,
            parameters: dbf.bits.parameters,
            overall_bpw: dbf.bits.overallBitsPerWeight,
            fp32_bytes: dbf.bits.parameters * 4,
          },
        };
        if (options.json) {
          ctx.out(JSON.stringify(report));
          return;
        }
        ctx.out(`${file}: DBF format v${dbf.version}, ${formatBytes(source.size)}`);
        if (dbf.provenance) ctx.out(`provenance: ${JSON.stringify(dbf.provenance)}`);
        ctx.out('');
        ctx.out(
          table(
            ['layer', 'kind', 'shape', 'k', 'l', 'scales', 'bpw'],
            report.layers.map((l) => [
              l.name,
              l.kind,
              `${l.shape[0]}×${l.shape[1]}`,
              l.k,
              l.l,
              l.scale_dtype,
              l.bpw.toFixed(4),
            ]),
          ),
        );
        if (report.plain_tensors.length) {
          ctx.out('');
          ctx.out(
            table(
              ['plain tensor', 'dtype', 'shape', 'size'],
              report.plain_tensors.map((t) => [t.name, t.dtype, t.shape.join('×'), formatBytes(t.bytes)]),
            ),
          );
        }
        ctx.out('');
        ctx.out(
          `compressed layers: ${report.totals.compressed_weights.toLocaleString('en-US')} weights at ${report.totals.compressed_bpw.toFixed(4)} bpw; ` +
            `whole file: ${report.totals.parameters.toLocaleString('en-US')} parameters at ${report.totals.overall_bpw.toFixed(4)} bpw ` +
            `(${formatBytes(source.size)} vs ${formatBytes(report.totals.fp32_bytes)} in fp32)`,
        );
      } finally {
        await source.close?.();
      }
    });
}
