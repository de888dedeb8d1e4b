import { createRng, type GemmRequest, InvalidArgumentError, type LinearLayer, type Rng } from '@dbf/core';
import {
  type ConformanceContext,
  checkCapabilities,
  checkConcurrency,
  checkDeterminism,
  checkDisposedBackend,
  checkDisposedHandles,
  checkForeignHandles,
  checkIdentity,
  checkInvalidGemm,
  checkInvalidLayers,
  checkInvalidRequests,
  checkMdbfMatchesDbf,
} from './checks/contract-checks';
import {
  checkGoldenLayer,
  type GoldenLinearVector,
  type GoldenOpener,
  openGoldenFile,
} from './checks/golden-checks';
import { checkGemm, checkLinear, checkSignMatMul } from './checks/kernel-checks';
import { GOLDEN_LINEAR_VECTORS } from './golden.generated';
import {
  asArrayViews,
  randomDbfLayer,
  randomDenseLayer,
  randomMdbfLayer,
  randomSigns,
  randomVector,
} from './random-layers';

/** Case classes, in the order the suite runs them. */
export const CONFORMANCE_GROUPS = [
  'contract',
  'golden',
  'linear',
  'signMatMul',
  'gemm',
  'errors',
  'lifecycle',
] as const;
export type ConformanceGroup = (typeof CONFORMANCE_GROUPS)[number];

/** One named check. `name` is `group/title`; titles of random cases list their shapes. */
export interface ConformanceCase {
  readonly name: string;
  readonly group: ConformanceGroup;
  readonly title: string;
  run(context: ConformanceContext): Promise<void>;
}

export interface ConformanceCaseOptions {
  /** Golden vectors to check; default: the ones bundled with this package. */
  readonly goldenVectors?: readonly GoldenLinearVector[];
  /** How golden files are opened; default: `openDbf(memorySource(bytes))` from @dbf/core. */
  readonly openGolden?: GoldenOpener;
}

// [outFeatures n, inFeatures m, rank k, batch, bias]: k = 1, sizes off every tile width, and multiples of 32.
const DBF_SHAPES: readonly [number, number, number, number, boolean][] = [
  [1, 1, 1, 1, false],
  [1, 33, 1, 3, true],
  [7, 31, 1, 8, false],
  [33, 7, 5, 1, true],
  [31, 100, 33, 3, false],
  [100, 129, 31, 1, true],
  [129, 257, 100, 3, false],
  [257, 33, 129, 8, true],
  [32, 32, 32, 1, false],
  [64, 128, 8, 3, true],
  [128, 256, 128, 8, false],
  [256, 128, 96, 1, true],
  [300, 300, 150, 3, false],
];

// [n, m, k, envelope rank l, batch, bias]: l = 1..8.
const MDBF_SHAPES: readonly [number, number, number, number, number, boolean][] = [
  [1, 1, 1, 1, 1, false],
  [33, 65, 17, 1, 3, true],
  [100, 31, 33, 2, 1, false],
  [7, 129, 1, 3, 8, true],
  [31, 7, 5, 4, 3, false],
  [128, 256, 64, 5, 1, true],
  [129, 100, 31, 6, 3, false],
  [64, 64, 32, 7, 8, true],
  [257, 129, 40, 8, 3, false],
];

// [n, m, batch, bias]
const DENSE_SHAPES: readonly [number, number, number, boolean][] = [
  [1, 1, 1, false],
  [7, 33, 3, true],
  [100, 129, 1, false],
  [128, 64, 8, true],
  [257, 31, 3, false],
];

// [rows, cols, batch]
const SIGN_SHAPES: readonly [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 3],
  [33, 31, 8],
  [31, 32, 1],
  [100, 257, 1],
  [128, 256, 3],
  [257, 129, 8],
  [1, 300, 3],
  [300, 1, 2],
];

// [m, n, k, alpha, beta]; undefined alpha/beta are omitted from the request (defaults 1 and 0).
const GEMM_SHAPES: readonly [number, number, number, number | undefined, number | undefined][] = [
  [1, 1, 1, undefined, undefined],
  [7, 33, 31, 0.5, 0],
  [33, 100, 129, -2, 1],
  [64, 32, 128, 1, -0.75],
  [100, 1, 257, 1.5, 0.5],
];

/** Every case of the suite, in order. Pure: builds descriptions only, runs nothing. */
export function kernelConformanceCases(options: ConformanceCaseOptions = {}): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const add = (
    group: ConformanceGroup,
    title: string,
    run: (context: ConformanceContext, rng: Rng) => Promise<void>,
  ) => {
    const name = `${group}/${title}`;
    cases.push({ name, group, title, run: (context) => run(context, createRng(seedOf(name))) });
  };

  add('contract', 'specificationVersion, id and factory', (c) => checkIdentity(c));
  add('contract', 'capabilities are well-formed', (c) => checkCapabilities(c));
  add('contract', 'mdbf with l=1 matches the equivalent dbf layer', checkMdbfMatchesDbf);
  add('contract', 'repeated calls are bitwise identical', checkDeterminism);
  add('contract', 'concurrent calls give correct results', checkConcurrency);

  const vectors = options.goldenVectors ?? GOLDEN_LINEAR_VECTORS;
  const open = options.openGolden ?? openGoldenFile;
  for (const vector of vectors) {
    for (const layer of vector.layers) {
      add('golden', `${vector.name}/${layer.name} batch=${layer.batch}`, ({ backend }) =>
        checkGoldenLayer(backend, vector, layer, open),
      );
    }
  }

  const linearCase = (title: string, make: (rng: Rng) => LinearLayer, batch: number) => {
    const views = cases.filter((c) => c.group === 'linear').length % 2 === 1;
    const full = `${title} batch=${batch}${views ? ' views' : ''}`;
    add('linear', full, ({ backend }, rng) => {
      const layer = make(rng);
      const input = randomVector(rng, batch * layer.inFeatures);
      return checkLinear(backend, views ? asArrayViews(layer) : layer, input, batch, `linear ${full}`);
    });
  };
  for (const [n, m, k, batch, bias] of DBF_SHAPES) {
    linearCase(
      `dbf ${n}x${m} k=${k}${bias ? ' bias' : ''}`,
      (rng) => randomDbfLayer(rng, { outFeatures: n, inFeatures: m, rank: k, bias }),
      batch,
    );
  }
  for (const [n, m, k, l, batch, bias] of MDBF_SHAPES) {
    linearCase(
      `mdbf ${n}x${m} k=${k} l=${l}${bias ? ' bias' : ''}`,
      (rng) => randomMdbfLayer(rng, { outFeatures: n, inFeatures: m, rank: k, envelopeRank: l, bias }),
      batch,
    );
  }
  for (const [n, m, batch, bias] of DENSE_SHAPES) {
    linearCase(
      `dense ${n}x${m}${bias ? ' bias' : ''}`,
      (rng) => randomDenseLayer(rng, { outFeatures: n, inFeatures: m, bias }),
      batch,
    );
  }

  for (const [rows, cols, batch] of SIGN_SHAPES) {
    const title = `${rows}x${cols} batch=${batch}`;
    add('signMatMul', title, ({ backend }, rng) =>
      checkSignMatMul(
        backend,
        randomSigns(rng, rows, cols),
        randomVector(rng, batch * cols),
        batch,
        `signMatMul ${title}`,
      ),
    );
  }

  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      for (const [m, n, k, alpha, beta] of GEMM_SHAPES) {
        const ops = `${transposeA ? 'At' : 'A'}${transposeB ? 'Bt' : 'B'}`;
        const title = `${ops} m=${m} n=${n} k=${k}${alpha === undefined ? '' : ` alpha=${alpha}`}${beta === undefined ? '' : ` beta=${beta}`}`;
        add('gemm', title, ({ backend }, rng) => {
          const request: GemmRequest = {
            a: randomVector(rng, m * k),
            b: randomVector(rng, k * n),
            m,
            n,
            k,
            ...(transposeA ? { transposeA } : {}),
            ...(transposeB ? { transposeB } : {}),
            ...(alpha === undefined ? {} : { alpha }),
            ...(beta === undefined ? {} : { beta }),
            ...(beta ? { c: randomVector(rng, m * n) } : {}),
          };
          return checkGemm(backend, request, `gemm ${title}`);
        });
      }
    }
  }

  add('errors', 'handles from another instance or forged are rejected', checkForeignHandles);
  add('errors', 'invalid linear and signMatMul requests are rejected', checkInvalidRequests);
  add('errors', 'invalid layers and sign matrices are rejected on upload', checkInvalidLayers);
  add('errors', 'invalid gemm requests are rejected', checkInvalidGemm);
  add('lifecycle', 'disposed handles reject with DISPOSED', checkDisposedHandles);
  add('lifecycle', 'a disposed backend rejects with DISPOSED', checkDisposedBackend);
  return cases;
}

/** A skip rule: a string matches every case whose name starts with it, a RegExp is tested on the name. */
export interface ConformanceSkip {
  readonly case: string | RegExp;
  readonly reason: string;
}

/** The reason a case is skipped, or undefined. */
export function skipReason(name: string, skips: readonly ConformanceSkip[]): string | undefined {
  return skips.find((s) => matchesSkip(name, s))?.reason;
}

function matchesSkip(name: string, skip: ConformanceSkip): boolean {
  return typeof skip.case === 'string'
    ? name.startsWith(skip.case)
    : new RegExp(skip.case.source, skip.case.flags.replace(/[gy]/g, '')).test(name);
}

/**
 * Validates skip rules against the case list: each needs a non-empty reason and must match at least
 * one case, so a typo or a renamed case cannot silently disable nothing (or everything unnoticed).
 */
export function validateSkips(cases: readonly ConformanceCase[], skips: readonly ConformanceSkip[]): void {
  for (const skip of skips) {
    const pattern = skip?.case;
    if (typeof pattern !== 'string' && !(pattern instanceof RegExp)) {
      throw new InvalidArgumentError('Each skip needs `case`: a case-name prefix (string) or a RegExp.');
    }
    if (typeof skip.reason !== 'string' || skip.reason.trim() === '') {
      throw new InvalidArgumentError(`Skip ${String(pattern)} needs a non-empty reason.`);
    }
    if (!cases.some((c) => matchesSkip(c.name, skip))) {
      throw new InvalidArgumentError(
        `Skip ${String(pattern)} matches no conformance case; case names look like 'gemm/AtB m=7 n=33 k=31 alpha=0.5 beta=0'.`,
      );
    }
  }
}

export type ConformanceStatus = 'pass' | 'fail' | 'skip';

export interface ConformanceResult {
  readonly name: string;
  readonly group: ConformanceGroup;
  readonly status: ConformanceStatus;
  /** The skip reason, for skipped cases. */
  readonly reason?: string;
  /** What failed, for failed cases. */
  readonly error?: unknown;
}

/**
 * Runs cases one after another against a backend outside any test runner and reports each outcome
 * (never throws for a failing case). `describeKernelConformance` is the vitest front end of the same cases.
 */
export async function runKernelConformance(
  context: ConformanceContext,
  options: ConformanceCaseOptions & {
    readonly skip?: readonly ConformanceSkip[];
    readonly cases?: readonly ConformanceCase[];
  } = {},
): Promise<ConformanceResult[]> {
  const cases = options.cases ?? kernelConformanceCases(options);
  const skips = options.skip ?? [];
  validateSkips(cases, skips);
  const results: ConformanceResult[] = [];
  for (const c of cases) {
    const reason = skipReason(c.name, skips);
    if (reason !== undefined) {
      results.push({ name: c.name, group: c.group, status: 'skip', reason });
      continue;
    }
    try {
      await c.run(context);
      results.push({ name: c.name, group: c.group, status: 'pass' });
    } catch (error) {
      results.push({ name: c.name, group: c.group, status: 'fail', error });
    }
  }
  return results;
}

/** Counts per group and status, for the summary table. */
export function summarizeResults(
  results: readonly ConformanceResult[],
): Record<string, Record<ConformanceStatus, number>> {
  const summary: Record<string, Record<ConformanceStatus, number>> = {};
  for (const group of CONFORMANCE_GROUPS) summary[group] = { pass: 0, fail: 0, skip: 0 };
  for (const r of results) summary[r.group]![r.status]++;
  return summary;
}

/** FNV-1a of the case name: each case's random data depends only on its own name. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
