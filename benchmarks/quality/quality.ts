/**
 * Quality benchmark of the factorizers on real weight matrices (stories260K and sotu-3m, llama2.c files in
 * ../shared/models), against the DBF reference's results (../shared/design/reference-results.md).
 *
 * For every matrix and binary bpw 1.0 / 1.5 / 2.0 (k = floor(b·n·m/(n+m)), the reference's rule):
 * - DBF, random init, 260 iterations, seed 0: relative Frobenius error vs the reference median;
 * - MDBF l = 2 and l = 4 at the same total (stored) bits as that DBF layer: signs with row padding plus
 *   F16 scales/envelopes, i.e. what the file holds;
 * - a truncated SVD at that same budget; per matrix, OneBit-style SVID and RTN 2/3/4 bits (g64).
 * Then the time of a 1024×1024 DBF at 1 bpw (260 iterations) on the CPU backend with the GFLOP/s of its
 * GEMMs, and SVD-init vs random-init time-to-quality.
 *
 * Options: --quick (few matrices, 80 iterations, short timing), --jobs N (parallel worker processes),
 * --iters N, --out DIR (default benchmarks/results), --no-timing, --no-ttq, --timing-only (just the
 * 1024×1024 timing, best run alone on the machine), --compare-layers 0,1 (only those layers get the MDBF
 * and baseline comparisons), --cache FILE (JSONL of finished tasks: skipped on a rerun, so a long run can
 * be resumed). Writes quality.json + quality.svg (quality-quick.*
 * with --quick, quality-timing.* with --timing-only).
 */
import { fork } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpu } from '@dbf/backend-cpu';
import {
  bitsPerWeight,
  createRng,
  factorizeDbf,
  factorizeMdbf,
  type GemmRequest,
  type KernelBackend,
  largestRankForBpw,
  rtnBaseline,
  svdBaseline,
  svidBaseline,
} from '@dbf/core';
import { type NamedMatrix, type ReferenceRow, readLlama2c, readReference } from './models';
import { lineChartSvg, type Panel } from './svg';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const shared = resolve(repoRoot, '../shared');
const BPWS = [1.0, 1.5, 2.0] as const;

interface Options {
  quick: boolean;
  jobs: number;
  iters: number;
  out: string;
  timing: boolean;
  ttq: boolean;
  timingOnly: boolean;
  /** Layers whose matrices get the MDBF and baseline comparisons (all when undefined). */
  compareLayers: number[] | undefined;
  /** JSONL file of finished task results: read to skip them, appended to as tasks finish. */
  cache: string | undefined;
}

type Task =
  | { type: 'dbf'; model: string; name: string; bpw: number }
  | { type: 'mdbf'; model: string; name: string; bpw: number; l: number }
  | { type: 'mdbfk'; model: string; name: string; bpw: number; l: number }
  | { type: 'svd'; model: string; name: string; bpw: number }
  | { type: 'base'; model: string; name: string }
  | { type: 'ttq'; model: string; name: string; bpw: number; init: 'random' | 'svd'; iterations: number };

type TaskResult = Record<string, unknown> & { task: Task };

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--worker')) return worker();
  const options = parseArgs(argv);
  const started = performance.now();
  const matrices = loadMatrices();
  const reference = readReference(join(shared, 'design/reference-results.md'));
  const selected = options.quick
    ? matrices.filter((m) =>
        m.model === 'stories260K'
          ? ['layers.0.wq', 'layers.0.wk', 'layers.0.w1'].includes(m.name)
          : ['layers.0.wk', 'layers.0.wq'].includes(m.name),
      )
    : matrices.filter((m) => reference.some((r) => r.model === m.model && r.name === m.name));
  const bpws = options.quick ? [1.0, 2.0] : [...BPWS];
  const tasks: Task[] = [];
  for (const m of selected) {
    const layer = Number(/^layers\.(\d+)\./.exec(m.name)?.[1]);
    const compare = options.compareLayers === undefined || options.compareLayers.includes(layer);
    for (const bpw of bpws) {
      tasks.push({ type: 'dbf', model: m.model, name: m.name, bpw });
      if (!compare) continue;
      for (const l of [2, 4]) {
        tasks.push({ type: 'mdbf', model: m.model, name: m.name, bpw, l });
        // At DBF's k MDBF is capped at min(n, m); when that is the rank the budget gives anyway, the run
        // would repeat the one above (same seed), so it is skipped and taken from it.
        if (sameKRank(m, bpw) !== budgetRank(m, bpw, l))
          tasks.push({ type: 'mdbfk', model: m.model, name: m.name, bpw, l });
      }
      tasks.push({ type: 'svd', model: m.model, name: m.name, bpw });
    }
    if (compare) tasks.push({ type: 'base', model: m.model, name: m.name });
  }
  if (options.timingOnly) tasks.length = 0;
  if (options.ttq && !options.timingOnly) {
    const ttqMatrices = options.quick
      ? [['sotu-3m', 'layers.0.wq']]
      : [
          ['sotu-3m', 'layers.0.wq'],
          ['sotu-3m', 'layers.0.w2'],
          ['stories260K', 'layers.0.w1'],
        ];
    const budgets = options.quick ? [20, 40, 80] : [20, 40, 80, 130, 260];
    for (const [model, name] of ttqMatrices)
      for (const init of ['random', 'svd'] as const)
        for (const iterations of budgets)
          tasks.push({ type: 'ttq', model: model!, name: name!, bpw: 1, init, iterations });
  }
  // Largest first, for load balance across workers.
  const size = (t: Task) => {
    const m = matrices.find((x) => x.model === t.model && x.name === t.name)!;
    const iters = t.type === 'ttq' ? t.iterations : t.type === 'base' ? 1 : options.iters;
    return m.rows * m.cols * ('bpw' in t ? t.bpw : 0.1) * iters * (t.type === 'svd' ? 0.01 : 1);
  };
  tasks.sort((a, b) => size(b) - size(a));
  log(`${tasks.length} tasks on ${options.jobs} worker(s), ${options.iters} iterations per factorization`);
  const results = await runTasks(tasks, options);
  const timing = options.timing ? await timeLargeDbf(options.quick ? 5 : 260) : undefined;
  const report = buildReport(
    selected,
    reference,
    results,
    timing,
    options,
    (performance.now() - started) / 1000,
  );
  mkdirSync(options.out, { recursive: true });
  const base = join(
    options.out,
    options.timingOnly ? 'quality-timing' : options.quick ? 'quality-quick' : 'quality',
  );
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  if (report.cases.length) writeFileSync(`${base}.svg`, plot(report));
  process.stdout.write(`${formatReport(report)}\n`);
  log(
    `wrote ${base}.json${report.cases.length ? ` and ${base}.svg` : ''} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return 0;
}

function parseArgs(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (const a of argv) {
    if (
      a.startsWith('--') &&
      ![
        '--quick',
        '--jobs',
        '--iters',
        '--out',
        '--no-timing',
        '--no-ttq',
        '--timing-only',
        '--compare-layers',
        '--cache',
      ].includes(a)
    ) {
      throw new Error(`unknown option ${a}; see the header of benchmarks/quality/quality.ts`);
    }
  }
  return {
    quick,
    jobs: Math.max(1, Number(value('--jobs') ?? 1)),
    iters: Number(value('--iters') ?? (quick ? 80 : 260)),
    out: resolve(value('--out') ?? join(repoRoot, 'benchmarks/results')),
    timing: !argv.includes('--no-timing'),
    ttq: !argv.includes('--no-ttq'),
    timingOnly: argv.includes('--timing-only'),
    compareLayers: value('--compare-layers')?.split(',').map(Number),
    cache: value('--cache') === undefined ? undefined : resolve(value('--cache')!),
  };
}

function loadMatrices(): NamedMatrix[] {
  return [
    ...readLlama2c(join(shared, 'models/stories260K/stories260K.bin'), 'stories260K'),
    ...readLlama2c(join(shared, 'models/sotu-3m/model.bin'), 'sotu-3m'),
  ];
}

const kBinaryOf = (m: NamedMatrix, bpw: number) => Math.floor((bpw * m.rows * m.cols) / (m.rows + m.cols));

/** Stored bpw of the DBF layer at the reference's k: the budget of the MDBF and SVD comparisons. */
function budgetOf(m: NamedMatrix, bpw: number): number {
  return bitsPerWeight({ kind: 'dbf', outFeatures: m.rows, inFeatures: m.cols, rank: kBinaryOf(m, bpw) });
}

/** MDBF's rank at DBF's k: capped at min(n, m), the reference's rule. */
function sameKRank(m: NamedMatrix, bpw: number): number {
  return Math.min(kBinaryOf(m, bpw), m.rows, m.cols);
}

/** MDBF's rank at DBF's stored bits, as factorizeMdbf derives it (undefined when impossible). */
function budgetRank(m: NamedMatrix, bpw: number, l: number): number | undefined {
  try {
    const shape = { kind: 'mdbf', outFeatures: m.rows, inFeatures: m.cols, envelopeRank: l } as const;
    return Math.min(largestRankForBpw(shape, budgetOf(m, bpw)), m.rows, m.cols);
  } catch {
    return undefined;
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------------
// Tasks, run in worker processes (or in-process with --jobs 1)

async function runTasks(allTasks: readonly Task[], options: Options): Promise<TaskResult[]> {
  const results: TaskResult[] = [];
  const key = (t: Task) => JSON.stringify({ ...t, iters: options.iters });
  const cached = new Map<string, TaskResult>();
  if (options.cache && existsSync(options.cache)) {
    for (const line of readFileSync(options.cache, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as TaskResult & { iters: number };
      if (r.iters === options.iters && !('error' in r)) cached.set(key(r.task), r);
    }
  }
  const tasks = allTasks.filter((t) => {
    const hit = cached.get(key(t));
    if (hit) results.push(hit);
    return !hit;
  });
  if (results.length) log(`${results.length} results taken from ${options.cache}`);
  const total = allTasks.length;
  const report = (r: TaskResult) => {
    results.push(r);
    if (options.cache) appendFileSync(options.cache, `${JSON.stringify({ ...r, iters: options.iters })}\n`);
    log(`[${results.length}/${total}] ${describeTask(r.task)}: ${summarize(r)}`);
  };
  if (options.jobs === 1) {
    const ctx = await workerContext();
    for (const task of tasks) report(await runTask(ctx, task, options.iters));
    return results;
  }
  const queue = [...tasks];
  await Promise.all(
    Array.from({ length: options.jobs }, async () => {
      const child = fork(fileURLToPath(import.meta.url).replace(/quality\.ts$/, 'run.ts'), ['--worker'], {
        execArgv: process.execArgv,
        stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      });
      for (let task = queue.shift(); task; task = queue.shift()) {
        const current = task;
        const result = await new Promise<TaskResult>((resolveTask, reject) => {
          const onExit = (code: number | null) =>
            reject(new Error(`worker exited (${code}) during ${describeTask(current)}`));
          child.once('exit', onExit);
          child.once('message', (message) => {
            child.off('exit', onExit);
            resolveTask(message as TaskResult);
          });
          child.send({ task: current, iters: options.iters });
        });
        report(result);
      }
      child.send({ done: true });
    }),
  );
  return results;
}

interface WorkerContext {
  backend: KernelBackend;
  matrices: NamedMatrix[];
}

async function workerContext(): Promise<WorkerContext> {
  return { backend: await cpu().create(), matrices: loadMatrices() };
}

async function worker(): Promise<number> {
  const ctx = await workerContext();
  await new Promise<void>((resolveDone) => {
    process.on('message', async (message: { task?: Task; iters?: number; done?: boolean }) => {
      if (message.done || !message.task) {
        resolveDone();
        return;
      }
      process.send!(await runTask(ctx, message.task, message.iters!));
    });
  });
  process.disconnect?.();
  return 0;
}

async function runTask(ctx: WorkerContext, task: Task, iters: number): Promise<TaskResult> {
  try {
    return await runTaskUnsafe(ctx, task, iters);
  } catch (error) {
    return { task, error: error instanceof Error ? error.message : String(error) };
  }
}

async function runTaskUnsafe(ctx: WorkerContext, task: Task, iters: number): Promise<TaskResult> {
  const m = ctx.matrices.find((x) => x.model === task.model && x.name === task.name);
  if (!m) throw new Error(`no matrix ${task.model}/${task.name}`);
  const weight = { data: m.data, rows: m.rows, cols: m.cols };
  const backend = ctx.backend;
  const budget = (bpw: number) => budgetOf(m, bpw);
  switch (task.type) {
    case 'dbf':
    case 'ttq': {
      const iterations = task.type === 'ttq' ? task.iterations : iters;
      const init = task.type === 'ttq' ? task.init : 'random';
      const r = await factorizeDbf(weight, {
        backend,
        bpw: task.bpw,
        bpwAccounting: 'binary',
        iterations,
        init,
        seed: 0,
      });
      return {
        task,
        k: r.rank,
        relError: r.relativeError,
        bpwStored: r.bitsPerWeight,
        bpwBinary: r.bitsPerWeightBinary,
        seconds: r.seconds,
        iterations,
      };
    }
    case 'mdbf': {
      const target = budget(task.bpw);
      try {
        const r = await factorizeMdbf(weight, {
          backend,
          bpw: target,
          envelopeRank: task.l,
          iterations: iters,
          seed: 0,
        });
        return {
          task,
          budget: target,
          k: r.rank,
          relError: r.relativeError,
          bpwStored: r.bitsPerWeight,
          seconds: r.seconds,
        };
      } catch (error) {
        return { task, budget: target, impossible: (error as Error).message };
      }
    }
    case 'mdbfk': {
      // Same k as the DBF case: isolates what the extra envelope rank buys (at extra bits). MDBF's rank
      // is capped at min(n, m) (the reference's rule), DBF's is not.
      const r = await factorizeMdbf(weight, {
        backend,
        rank: sameKRank(m, task.bpw),
        envelopeRank: task.l,
        iterations: iters,
        seed: 0,
      });
      return { task, k: r.rank, relError: r.relativeError, bpwStored: r.bitsPerWeight, seconds: r.seconds };
    }
    case 'svd': {
      const target = budget(task.bpw);
      try {
        const r = await svdBaseline(backend, weight, target);
        return { task, budget: target, k: r.rank, relError: r.relativeError, bpwStored: r.bitsPerWeight };
      } catch (error) {
        return { task, budget: target, impossible: (error as Error).message };
      }
    }
    case 'base': {
      const svid = await svidBaseline(backend, weight);
      const rtn = [2, 3, 4].map((bits) => rtnBaseline(weight, bits, 64));
      return {
        task,
        svid: { relError: svid.relativeError, bpw: svid.bitsPerWeight },
        rtn: rtn.map((r, i) => ({ bits: i + 2, relError: r.relativeError, bpw: r.bitsPerWeight })),
      };
    }
  }
}

function describeTask(t: Task): string {
  const where = `${t.model} ${t.name}`;
  switch (t.type) {
    case 'dbf':
      return `${where} DBF @${t.bpw}`;
    case 'mdbf':
      return `${where} MDBF l=${t.l} @${t.bpw} (DBF's stored bits)`;
    case 'mdbfk':
      return `${where} MDBF l=${t.l} @${t.bpw} (DBF's k)`;
    case 'svd':
      return `${where} SVD @${t.bpw}`;
    case 'base':
      return `${where} SVID + RTN`;
    case 'ttq':
      return `${where} ${t.init} init, ${t.iterations} iterations`;
  }
}

function summarize(r: TaskResult): string {
  if ('error' in r) return `FAILED: ${r.error}`;
  if ('impossible' in r) return 'impossible at this budget';
  if ('svid' in r) return `SVID ${(r.svid as { relError: number }).relError.toFixed(4)}`;
  const s = r.seconds !== undefined ? ` in ${(r.seconds as number).toFixed(1)} s` : '';
  return `k=${r.k} err ${(r.relError as number).toFixed(4)}${s}`;
}

// ---------------------------------------------------------------------------------------------------
// 1024×1024 timing with a GEMM-timing backend wrapper

interface Timing {
  shape: [number, number];
  k: number;
  iterations: number;
  seconds: number;
  secondsPerIteration: number;
  extrapolated260Seconds: number;
  relError: number;
  gemmCalls: number;
  gemmGflop: number;
  gemmSeconds: number;
  gemmGflops: number;
  gemmShare: number;
  backend: string;
}

async function timeLargeDbf(iterations: number): Promise<Timing> {
  const inner = await cpu().create();
  const stats = { calls: 0, flop: 0, seconds: 0 };
  const backend: KernelBackend = Object.create(inner, {
    gemm: {
      value: async (request: GemmRequest) => {
        const t0 = performance.now();
        const out = await inner.gemm(request);
        stats.seconds += (performance.now() - t0) / 1000;
        stats.calls++;
        stats.flop += 2 * request.m * request.n * request.k;
        return out;
      },
    },
  });
  const n = 1024;
  const rng = createRng(42);
  const data = Float32Array.from({ length: n * n }, () => rng.normal());
  log(`timing a ${n}×${n} DBF at 1 bpw (k = ${n / 2}), ${iterations} iterations...`);
  const r = await factorizeDbf(
    { data, rows: n, cols: n },
    {
      backend,
      bpw: 1,
      bpwAccounting: 'binary',
      iterations,
      progressInterval: Math.max(1, Math.round(iterations / 10)),
      onProgress: (p) => log(`  ${p.iteration}/${p.iterations} rel. error ${p.relativeError.toFixed(4)}`),
    },
  );
  // The final reconstruction GEMM is part of the call; everything else is the factorization.
  const perIteration = r.seconds / iterations;
  return {
    shape: [n, n],
    k: r.rank,
    iterations,
    seconds: r.seconds,
    secondsPerIteration: perIteration,
    extrapolated260Seconds: perIteration * 260,
    relError: r.relativeError,
    gemmCalls: stats.calls,
    gemmGflop: stats.flop / 1e9,
    gemmSeconds: stats.seconds,
    gemmGflops: stats.flop / 1e9 / stats.seconds,
    gemmShare: stats.seconds / r.seconds,
    backend: inner.capabilities.description,
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

interface CaseRow {
  model: string;
  name: string;
  shape: [number, number];
  bpw: number;
  k: number;
  reference: { median: number; perSeed: readonly number[]; seconds: number } | null;
  dbf: { relError: number; bpwStored: number; bpwBinary: number; seconds: number };
  deltaPercent: number | null;
  /** Whether this case got the MDBF and baseline comparisons (see --compare-layers). */
  compared: boolean;
  budgetStoredBpw: number;
  mdbf: Record<
    string,
    { k: number; relError: number; bpwStored: number; seconds: number } | { impossible: string }
  >;
  /**
   * MDBF with DBF's k (so more bits): what the envelopes buy at an equal number of sign components. `k` is
   * below DBF's where MDBF's min(n, m) cap applies.
   */
  mdbfSameK: Record<string, { k: number; relError: number; bpwStored: number; seconds: number }>;
  svd: { k: number; relError: number; bpwStored: number } | { impossible: string };
}

function buildReport(
  matrices: readonly NamedMatrix[],
  reference: readonly ReferenceRow[],
  results: readonly TaskResult[],
  timing: Timing | undefined,
  options: Options,
  seconds: number,
) {
  // A task that failed (an exception in the factorizer) counts as missing; its message is kept in `failures`.
  const find = (pred: (t: Task) => boolean) => results.find((r) => pred(r.task) && !('error' in r));
  const failures = results
    .filter((r) => 'error' in r)
    .map((r) => ({ task: describeTask(r.task), error: r.error }));
  const cases: CaseRow[] = [];
  const baselines: Record<string, unknown>[] = [];
  for (const m of matrices) {
    for (const bpw of options.quick ? [1.0, 2.0] : BPWS) {
      const d = find((t) => t.type === 'dbf' && t.model === m.model && t.name === m.name && t.bpw === bpw);
      if (!d) continue;
      const ref = reference.find((r) => r.model === m.model && r.name === m.name && r.bpw === bpw);
      const relError = d.relError as number;
      const mdbf: CaseRow['mdbf'] = {};
      for (const l of [2, 4]) {
        const r = find(
          (t) => t.type === 'mdbf' && t.model === m.model && t.name === m.name && t.bpw === bpw && t.l === l,
        );
        mdbf[`l${l}`] =
          !r || 'impossible' in r
            ? { impossible: r ? (r.impossible as string) : 'failed (see failures)' }
            : {
                k: r.k as number,
                relError: r.relError as number,
                bpwStored: r.bpwStored as number,
                seconds: r.seconds as number,
              };
      }
      const mdbfSameK: CaseRow['mdbfSameK'] = {};
      for (const l of [2, 4]) {
        const r = find(
          (t) => t.type === 'mdbfk' && t.model === m.model && t.name === m.name && t.bpw === bpw && t.l === l,
        );
        const same = mdbf[`l${l}`]!;
        if (r)
          mdbfSameK[`l${l}`] = {
            k: r.k as number,
            relError: r.relError as number,
            bpwStored: r.bpwStored as number,
            seconds: r.seconds as number,
          };
        else if (!('impossible' in same) && same.k === sameKRank(m, bpw)) mdbfSameK[`l${l}`] = same;
      }
      const s = find(
        (t) => t.type === 'svd' && t.model === m.model && t.name === m.name && t.bpw === bpw,
      ) ?? {
        task: { type: 'svd', model: m.model, name: m.name, bpw },
        impossible: 'not run or failed',
      };
      const compared = results.some(
        (r) =>
          r.task.type === 'mdbf' && r.task.model === m.model && r.task.name === m.name && r.task.bpw === bpw,
      );
      cases.push({
        model: m.model,
        name: m.name,
        shape: [m.rows, m.cols],
        bpw,
        k: d.k as number,
        reference: ref ? { median: ref.relError, perSeed: ref.perSeed, seconds: ref.seconds } : null,
        dbf: {
          relError,
          bpwStored: d.bpwStored as number,
          bpwBinary: d.bpwBinary as number,
          seconds: d.seconds as number,
        },
        deltaPercent: ref ? (relError / ref.relError - 1) * 100 : null,
        compared,
        budgetStoredBpw: budgetOf(m, bpw),
        mdbf,
        mdbfSameK,
        svd:
          'impossible' in s
            ? { impossible: s.impossible as string }
            : { k: s.k as number, relError: s.relError as number, bpwStored: s.bpwStored as number },
      });
    }
    const b = find((t) => t.type === 'base' && t.model === m.model && t.name === m.name);
    if (b)
      baselines.push({ model: m.model, name: m.name, shape: [m.rows, m.cols], svid: b.svid, rtn: b.rtn });
  }
  const deltas = cases.filter((c) => c.deltaPercent !== null).map((c) => c.deltaPercent!);
  const summary = {
    cases: deltas.length,
    meanDeltaPercent: deltas.reduce((s, x) => s + x, 0) / Math.max(1, deltas.length),
    maxDeltaPercent: Math.max(...deltas),
    minDeltaPercent: Math.min(...deltas),
    casesWorseThan3Percent: deltas.filter((x) => x > 3).length,
    casesWorseThan1Percent: deltas.filter((x) => x > 1).length,
    mdbfWins: Object.fromEntries(
      ['l2', 'l4'].map((l) => {
        const compared = cases.filter((c) => c.compared);
        const feasible = compared.filter((c) => !('impossible' in c.mdbf[l]!));
        const wins = feasible.filter(
          (c) => (c.mdbf[l] as { relError: number }).relError < c.dbf.relError,
        ).length;
        // Same k only where MDBF's min(n, m) cap does not bind (else it has fewer components than DBF).
        const sameK = compared.filter((c) => c.mdbfSameK[l] && c.mdbfSameK[l].k === c.k);
        const sameKWins = sameK.filter((c) => c.mdbfSameK[l]!.relError < c.dbf.relError);
        const gain = sameK.map((c) => (1 - c.mdbfSameK[l]!.relError / c.dbf.relError) * 100);
        const kLoss = feasible.map((c) => (1 - (c.mdbf[l] as { k: number }).k / c.k) * 100);
        const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
        return [
          l,
          {
            compared: compared.length,
            feasible: feasible.length,
            impossible: compared.length - feasible.length,
            winsOverDbf: wins,
            meanRankLossPercentAtSameBits: mean(kLoss),
            sameKCases: sameK.length,
            sameKWins: sameKWins.length,
            sameKMeanErrorReductionPercent: mean(gain),
            sameKMeanExtraBpw: mean(sameK.map((c) => c.mdbfSameK[l]!.bpwStored - c.dbf.bpwStored)),
          },
        ];
      }),
    ),
  };
  const ttq = results
    .filter((r) => r.task.type === 'ttq')
    .map((r) => {
      const t = r.task as Extract<Task, { type: 'ttq' }>;
      return {
        model: t.model,
        name: t.name,
        bpw: t.bpw,
        init: t.init,
        iterations: t.iterations,
        relError: r.relError as number,
        seconds: r.seconds as number,
      };
    })
    .sort(
      (a, b) =>
        a.model.localeCompare(b.model) ||
        a.name.localeCompare(b.name) ||
        a.init.localeCompare(b.init) ||
        a.iterations - b.iterations,
    );
  return {
    generated: new Date().toISOString(),
    mode: options.quick ? 'quick' : 'full',
    iterations: options.iters,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      node: process.version,
      jobs: options.jobs,
    },
    notes: [
      'rel_error = ‖W − Ŵ‖_F/‖W‖_F with float32 scales; DBF: random-normal init, seed 0, k = floor(b·n·m/(n+m)) (binary accounting, as the reference).',
      'reference = median over torch seeds 0–2 (stories260K) or seed 0 (sotu-3m) from reference-results.md; deltaPercent = ours/reference − 1.',
      'MDBF and SVD get the same stored bits as the DBF layer of each case (padded sign rows + F16 scales/envelopes).',
      'RTN: asymmetric min–max per group of 64 inputs, F16 scale + integer zero point; SVID: sign(W) ⊙ rank-1(|W|), F16 vectors.',
    ],
    summary,
    failures,
    cases,
    baselines,
    ttq,
    timing: timing ?? null,
    seconds,
  };
}

type Report = ReturnType<typeof buildReport>;

function formatReport(report: Report): string {
  const lines: string[] = [];
  const pad = (s: string | number, w: number) => String(s).padStart(w);
  for (const model of [...new Set(report.cases.map((c) => c.model))]) {
    lines.push(
      '',
      `== ${model}: DBF vs reference (relative Frobenius error, ${report.iterations} iterations) ==`,
    );
    lines.push(
      'matrix        shape     bpw    k   reference     ours      Δ%  | budget | MDBF l=2 (k, err) | MDBF l=4 (k, err) |  SVD (r, err)',
    );
    for (const c of report.cases.filter((x) => x.model === model)) {
      const md = (l: string) => {
        const x = c.mdbf[l]!;
        if (!c.compared) return '                —';
        return 'impossible' in x
          ? '        impossible'
          : `${pad(x.k, 5)} ${x.relError.toFixed(4)}${x.relError < c.dbf.relError ? ' *' : '  '}`;
      };
      const svd = !c.compared
        ? '            —'
        : 'impossible' in c.svd
          ? '   impossible'
          : `${pad(c.svd.k, 4)} ${c.svd.relError.toFixed(4)}`;
      lines.push(
        `${c.name.padEnd(12)} ${`${c.shape[0]}×${c.shape[1]}`.padStart(7)} ${c.bpw.toFixed(1).padStart(5)} ${pad(c.k, 4)}   ${
          c.reference ? c.reference.median.toFixed(4) : '   —  '
        }   ${c.dbf.relError.toFixed(4)} ${c.deltaPercent === null ? '     ' : `${c.deltaPercent >= 0 ? '+' : ''}${c.deltaPercent.toFixed(2)}`.padStart(6)}  | ${c.budgetStoredBpw.toFixed(3)}  | ${md('l2')} | ${md('l4')} | ${svd}`,
      );
    }
  }
  if (report.cases.some((c) => Object.keys(c.mdbfSameK).length)) {
    lines.push('', "== MDBF with DBF's k (more bits: what the envelopes buy) ==");
    lines.push(
      'model        matrix        bpw   DBF (bpw, err)    MDBF l=2 (bpw, err)   MDBF l=4 (bpw, err)',
    );
    for (const c of report.cases.filter((x) => x.compared)) {
      const cell = (l: string) => {
        const x = c.mdbfSameK[l];
        if (!x) return '      —          ';
        const capped = x.k < c.k ? ` (k=${x.k} cap)` : '';
        return `${x.bpwStored.toFixed(3)} ${x.relError.toFixed(4)}${x.relError < c.dbf.relError ? ' *' : '  '}${capped}`.padEnd(
          17,
        );
      };
      lines.push(
        `${c.model.padEnd(12)} ${c.name.padEnd(12)} ${c.bpw.toFixed(1)}   ${c.dbf.bpwStored.toFixed(3)} ${c.dbf.relError.toFixed(4)}     ${cell('l2')}     ${cell('l4')}`,
      );
    }
  }
  if (report.cases.length) {
    const s = report.summary;
    lines.push(
      '',
      `DBF vs reference over ${s.cases} cases: mean Δ ${s.meanDeltaPercent >= 0 ? '+' : ''}${s.meanDeltaPercent.toFixed(2)} %, ` +
        `max ${s.maxDeltaPercent.toFixed(2)} %, min ${s.minDeltaPercent.toFixed(2)} %; cases > +1 %: ${s.casesWorseThan1Percent}, > +3 %: ${s.casesWorseThan3Percent}`,
    );
    for (const [l, w] of Object.entries(s.mdbfWins)) {
      lines.push(
        `MDBF ${l} at DBF's stored bits (${w.compared} cases): feasible in ${w.feasible} (${w.impossible} impossible), beats DBF in ${w.winsOverDbf}; ` +
          `its k is ${w.meanRankLossPercentAtSameBits.toFixed(0)} % below DBF's on average (envelope bits 16·l·(n+m+2k) replace sign bits)`,
        `MDBF ${l} at DBF's k (uncapped cases, +${w.sameKMeanExtraBpw.toFixed(3)} bpw on average): beats DBF in ${w.sameKWins}/${w.sameKCases}, mean error reduction ${w.sameKMeanErrorReductionPercent.toFixed(2)} %`,
      );
    }
    lines.push(
      '',
      '== baselines (per matrix) ==',
      'model        matrix        SVID (bpw, err)   RTN2 (bpw, err)   RTN3 (bpw, err)   RTN4 (bpw, err)',
    );
    for (const b of report.baselines as {
      model: string;
      name: string;
      svid: { bpw: number; relError: number };
      rtn: { bpw: number; relError: number }[];
    }[]) {
      lines.push(
        `${b.model.padEnd(12)} ${b.name.padEnd(12)} ${[b.svid, ...b.rtn].map((x) => `${x.bpw.toFixed(3)} ${x.relError.toFixed(4)}`.padStart(15)).join('   ')}`,
      );
    }
  }
  if (report.ttq.length) {
    lines.push(
      '',
      '== time to quality: DBF at binary 1.0 bpw, random vs SVD init (error after T iterations, seconds) ==',
    );
    for (const key of [...new Set(report.ttq.map((t) => `${t.model} ${t.name}`))]) {
      const rows = report.ttq.filter((t) => `${t.model} ${t.name}` === key);
      for (const init of ['random', 'svd']) {
        lines.push(
          `${key.padEnd(24)} ${init.padEnd(6)} ${rows
            .filter((t) => t.init === init)
            .map((t) => `T=${t.iterations}: ${t.relError.toFixed(4)} (${t.seconds.toFixed(1)} s)`)
            .join('  ')}`,
        );
      }
    }
  }
  for (const f of report.failures) lines.push(`FAILED ${f.task}: ${String(f.error)}`);
  const t = report.timing;
  if (t) {
    lines.push(
      '',
      `== ${t.shape[0]}×${t.shape[1]} DBF at 1 bpw (k = ${t.k}), ${t.iterations} iterations on the CPU backend ==`,
      `${t.seconds.toFixed(1)} s (${t.secondsPerIteration.toFixed(2)} s/iteration; 260 iterations ≈ ${t.extrapolated260Seconds.toFixed(0)} s), rel. error ${t.relError.toFixed(4)}`,
      `GEMM: ${t.gemmCalls} calls, ${t.gemmGflop.toFixed(1)} GFLOP in ${t.gemmSeconds.toFixed(1)} s = ${t.gemmGflops.toFixed(2)} GFLOP/s (${(100 * t.gemmShare).toFixed(0)} % of the time)`,
      `backend: ${t.backend}`,
    );
  }
  return lines.join('\n');
}

function plot(report: Report): string {
  const panels: Panel[] = [];
  for (const model of [...new Set(report.cases.map((c) => c.model))]) {
    // One comparison set per panel: the matrices that got every method (all of them without --compare-layers).
    const all = report.cases.filter((c) => c.model === model);
    const cases = all.some((c) => c.compared) ? all.filter((c) => c.compared) : all;
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const series: Panel['series'][number][] = [];
    const byBpw = [...new Set(cases.map((c) => c.bpw))];
    const line = (
      label: string,
      pick: (c: CaseRow) => { x: number; y: number } | undefined,
      dashed = false,
    ) => {
      const points: [number, number][] = [];
      for (const b of byBpw) {
        const picked = cases.filter((c) => c.bpw === b).map(pick);
        if (picked.length === 0 || picked.some((p) => p === undefined)) continue; // only where every matrix has it
        points.push([mean(picked.map((p) => p!.x)), mean(picked.map((p) => p!.y))]);
      }
      if (points.length) series.push({ label, points, dashed });
    };
    line('DBF (ours)', (c) => ({ x: c.dbf.bpwStored, y: c.dbf.relError }));
    line(
      'DBF reference',
      (c) => (c.reference ? { x: c.dbf.bpwStored, y: c.reference.median } : undefined),
      true,
    );
    for (const l of ['l2', 'l4']) {
      line(`MDBF ${l.replace('l', 'l=')}`, (c) => {
        const x = c.mdbf[l]!;
        return 'impossible' in x ? undefined : { x: x.bpwStored, y: x.relError };
      });
    }
    for (const l of ['l2', 'l4']) {
      line(
        `MDBF ${l.replace('l', 'l=')} at DBF's k`,
        (c) => {
          const x = c.mdbfSameK[l];
          return x ? { x: x.bpwStored, y: x.relError } : undefined;
        },
        true,
      );
    }
    line('truncated SVD', (c) =>
      'impossible' in c.svd ? undefined : { x: c.svd.bpwStored, y: c.svd.relError },
    );
    const base = (
      report.baselines as {
        model: string;
        svid: { bpw: number; relError: number };
        rtn: { bpw: number; relError: number }[];
      }[]
    ).filter((b) => b.model === model);
    if (base.length) {
      series.push({
        label: 'RTN 2/3/4 bit (g64)',
        points: [0, 1, 2].map(
          (i) =>
            [mean(base.map((b) => b.rtn[i]!.bpw)), mean(base.map((b) => b.rtn[i]!.relError))] as [
              number,
              number,
            ],
        ),
      });
      series.push({
        label: 'SVID (OneBit)',
        points: [[mean(base.map((b) => b.svid.bpw)), mean(base.map((b) => b.svid.relError))]],
      });
    }
    panels.push({ title: `${model}: mean over ${new Set(cases.map((c) => c.name)).size} matrices`, series });
  }
  return lineChartSvg(
    panels,
    'bits per weight as stored (F16 scales, padded signs)',
    'relative error ‖W−Ŵ‖/‖W‖',
    'Factorization error vs bits per weight',
  );
}
