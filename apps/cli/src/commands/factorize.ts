import { cpu } from '@dbf/backend-cpu';
import {
  type CompressedLayer,
  type DenseMatrix,
  dequantize,
  factorizeDbf,
  factorizeMdbf,
  InvalidArgumentError,
  type KernelBackend,
  openDbf,
  openSafetensors,
  relativeError,
  rtnBaseline,
  svidBaseline,
} from '@dbf/core';
import { fileSource, saveDbfFile } from '@dbf/node';
import { type Command, Option } from 'commander';
import type { CliContext } from '../context';
import { parseInteger, parsePositiveNumber } from '../parse-options';

type Method = 'dbf' | 'mdbf' | 'svid' | 'rtn';

interface FactorizeCommandOptions {
  tensor: string;
  bpw: number;
  method: Method;
  envelopeRank?: number;
  iters: number;
  seed: number;
  binaryBpw?: boolean;
  json?: boolean;
  out?: string;
}

/** The `--json` report: exactly these keys. */
export interface FactorizeReport {
  tensor: string;
  shape: [number, number];
  method: Method;
  /** Middle dimension (dbf/mdbf); null for the baselines. */
  k: number | null;
  /** Envelope rank (1 for dbf); null for the baselines. */
  l: number | null;
  /** Bits per weight as stored: F16 scales and padded sign rows (dbf/mdbf), everything (baselines). */
  bpw: number;
  /** Sign bits only, k·(n+m)/(n·m) (dbf/mdbf); n·m/(n·m) = 1 for svid; null for rtn. */
  bpw_binary: number | null;
  iters: number | null;
  seed: number;
  /** ‖W − Ŵ‖_F / ‖W‖_F. */
  rel_error: number;
  seconds: number;
}

/**
 * `dbf factorize FILE --tensor NAME --bpw B`: factorizes one 2-D tensor of a safetensors file on the CPU
 * backend and reports its relative error, so that quality can be checked from outside. `--out` writes the
 * layer as a DBF file (format v1, atomically).
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('factorize')
    .description('factorize one tensor of a safetensors file (DBF, MDBF or a baseline) and report its error')
    .argument('<file>', 'a .safetensors file (F32, F16, BF16 or F64 tensors)')
    .requiredOption('--tensor <name>', 'the 2-D tensor to factorize, [out_features, in_features]')
    .requiredOption(
      '--bpw <b>',
      'target bits per weight (dbf/mdbf: F16 scales counted unless --binary-bpw; rtn: the integer code width; svid: fixed at about 1)',
      parsePositiveNumber,
    )
    .addOption(
      new Option('--method <method>', 'dbf, mdbf, or a baseline: svid (OneBit) or rtn (group size 64)')
        .choices(['dbf', 'mdbf', 'svid', 'rtn'])
        .default('dbf'),
    )
    .option('--envelope-rank <l>', 'MDBF envelope rank l (default 2)', parseInteger)
    .option('--iters <n>', 'outer ADMM iterations', parseInteger, 260)
    .option('--seed <s>', 'random seed', parseInteger, 0)
    .option('--binary-bpw', 'count only the sign bits, k·(n+m)/(n·m), as the DBF reference does')
    .option('--json', 'print one JSON object')
    .option('--out <file>', 'write the factorized layer as a DBF file (dbf and mdbf only)')
    .action(async (file: string, options: FactorizeCommandOptions) => {
      const method = options.method;
      if (options.envelopeRank !== undefined && method !== 'mdbf') {
        throw new InvalidArgumentError('--envelope-rank applies to --method mdbf only.');
      }
      if (options.out !== undefined && method !== 'dbf' && method !== 'mdbf') {
        throw new InvalidArgumentError(`--out writes DBF layers; ${method} is a baseline with no DBF form.`);
      }
      if (method === 'rtn' && (!Number.isInteger(options.bpw) || options.bpw < 2 || options.bpw > 8)) {
        throw new InvalidArgumentError(
          `--method rtn needs an integer --bpw from 2 to 8 (the code width), got ${options.bpw}.`,
        );
      }
      const weight = await readMatrix(file, options.tensor);
      const backend = await cpu().create();
      try {
        const { report, layer } = await run(backend, weight, options, ctx);
        if (options.out !== undefined && layer) {
          const name = options.tensor.replace(/\.weight$/, '');
          const { bytes } = await saveDbfFile(options.out, [{ name, layer }], {
            provenance: {
              algorithm: method,
              params: {
                bpw: options.bpw,
                bpw_accounting: options.binaryBpw ? 'binary' : 'stored',
                k: report.k,
                l: report.l,
                iterations: options.iters,
              },
              seed: options.seed,
              source_tensor: options.tensor,
            },
          });
          if (!options.json) {
            const stored = await storedError(options.out, name, weight);
            ctx.out(
              `wrote ${options.out} (${bytes} bytes); with F16 scales as stored, rel. error ${stored.toFixed(6)}`,
            );
          }
        }
        if (options.json) {
          ctx.out(JSON.stringify(report));
          return;
        }
        const [n, m] = report.shape;
        ctx.out(`${report.tensor} [${n}×${m}], ${describeMethod(report)}`);
        ctx.out(
          `bits per weight: ${report.bpw.toFixed(4)} stored` +
            (report.bpw_binary !== null ? `, ${report.bpw_binary.toFixed(4)} sign bits only` : ''),
        );
        ctx.out(`relative error ‖W − Ŵ‖/‖W‖: ${report.rel_error.toFixed(6)}`);
        ctx.out(
          `time: ${report.seconds.toFixed(2)} s on the CPU backend${report.iters ? ` (${report.iters} iterations)` : ''}`,
        );
      } finally {
        await backend.dispose();
      }
    });
}

async function run(
  backend: KernelBackend,
  weight: DenseMatrix & { name: string },
  options: FactorizeCommandOptions,
  ctx: CliContext,
): Promise<{ report: FactorizeReport; layer?: CompressedLayer }> {
  const base = {
    tensor: weight.name,
    shape: [weight.rows, weight.cols] as [number, number],
    seed: options.seed,
  };
  const started = performance.now();
  if (options.method === 'svid' || options.method === 'rtn') {
    const r =
      options.method === 'svid' ? await svidBaseline(backend, weight) : rtnBaseline(weight, options.bpw, 64);
    return {
      report: {
        ...base,
        method: options.method,
        k: null,
        l: null,
        bpw: r.bitsPerWeight,
        bpw_binary: options.method === 'svid' ? 1 : null,
        iters: null,
        rel_error: r.relativeError,
        seconds: (performance.now() - started) / 1000,
      },
    };
  }
  const every = Math.max(1, Math.round(options.iters / 10));
  const common = {
    backend,
    bpw: options.bpw,
    bpwAccounting: options.binaryBpw ? ('binary' as const) : ('stored' as const),
    iterations: options.iters,
    seed: options.seed,
    ...(options.json
      ? {}
      : {
          progressInterval: every,
          onProgress: (p: { iteration: number; iterations: number; relativeError: number }) =>
            ctx.err(`  iteration ${p.iteration}/${p.iterations}: rel. error ${p.relativeError.toFixed(5)}`),
        }),
  };
  const r =
    options.method === 'dbf'
      ? await factorizeDbf(weight, common)
      : await factorizeMdbf(weight, { ...common, envelopeRank: options.envelopeRank ?? 2 });
  return {
    layer: r.layer,
    report: {
      ...base,
      method: options.method,
      k: r.rank,
      l: r.layer.kind === 'mdbf' ? r.layer.envelopeRank : 1,
      bpw: r.bitsPerWeight,
      bpw_binary: r.bitsPerWeightBinary,
      iters: r.iterations,
      rel_error: r.relativeError,
      seconds: r.seconds,
    },
  };
}

/** Reads one 2-D float tensor as a row-major [out, in] matrix. */
async function readMatrix(file: string, name: string): Promise<DenseMatrix & { name: string }> {
  const source = await fileSource(file);
  try {
    const st = await openSafetensors(source);
    const info = st.info(name);
    if (info.shape.length !== 2) {
      throw new InvalidArgumentError(
        `Tensor ${JSON.stringify(name)} has shape [${info.shape.join(', ')}]; factorize needs a 2-D [out_features, in_features] tensor.`,
      );
    }
    const [rows, cols] = info.shape as [number, number];
    // Copy: the reader may return a view of memory that closing the file releases.
    const data = Float32Array.from(await st.readFloat32(name));
    return { name, data, rows, cols };
  } finally {
    await source.close();
  }
}

/** The error of the layer as written (scales rounded to F16), read back from the file. */
async function storedError(path: string, name: string, weight: DenseMatrix): Promise<number> {
  const source = await fileSource(path);
  try {
    const dbf = await openDbf(source);
    const layer = await dbf.loadLayer(name);
    return relativeError(weight.data, dequantize(layer), weight.rows, weight.cols);
  } finally {
    await source.close();
  }
}

function describeMethod(r: FactorizeReport): string {
  switch (r.method) {
    case 'dbf':
      return `DBF with k = ${r.k}`;
    case 'mdbf':
      return `MDBF with k = ${r.k}, l = ${r.l}`;
    case 'svid':
      return 'OneBit-style SVID sign(W) ⊙ rank-1(|W|) (fixed size, --bpw ignored)';
    default:
      return 'round-to-nearest, group size 64, F16 scale + integer zero point per group';
  }
}
