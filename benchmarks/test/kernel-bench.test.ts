import { createRng } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import { DENSE_BASELINE_NAME, denseF32 } from '../src/dense-baseline';
import { BATCHES, BPWS, formatTable, parseArgs, QUICK_SHAPES, runKernelBench } from '../src/kernel-bench';
import { measure, median } from '../src/measure';
import { resolveBackends, UsageError } from '../src/registry';

describe('dense baseline', () => {
  for (const [n, m, batch] of [
    [1, 1, 1],
    [5, 3, 1],
    [7, 9, 2],
    [9, 17, 3],
  ] as const) {
    it(`equals a naive float64 product for ${n}×${m}, batch ${batch}`, () => {
      const rng = createRng(n + m + batch);
      const w = Float32Array.from({ length: n * m }, () => rng.int(9) - 4);
      const x = Float32Array.from({ length: batch * m }, () => rng.int(9) - 4);
      const y = new Float32Array(batch * n).fill(Number.NaN);
      denseF32(w, n, m, x, batch, y);
      for (let v = 0; v < batch; v++) {
        for (let r = 0; r < n; r++) {
          let s = 0;
          for (let j = 0; j < m; j++) s += w[r * m + j]! * x[v * m + j]!;
          expect(y[v * n + r]).toBe(s);
        }
      }
    });
  }
});

describe('command line', () => {
  it('defaults to every known backend', () => {
    expect(parseArgs([])).toEqual({ backends: ['cpu'], json: false, quick: false });
  });

  it('reads --backend (both spellings, lists, repeats), --json, --quick and skips pnpm’s "--"', () => {
    expect(parseArgs(['--', '--backend', 'cpu', '--json'])).toEqual({
      backends: ['cpu'],
      json: true,
      quick: false,
    });
    expect(parseArgs(['--backend=cpu,cpu', '--quick'])).toEqual({
      backends: ['cpu'],
      json: false,
      quick: true,
    });
    expect(parseArgs(['--help'])).toBe('help');
  });

  it('rejects unknown backends with the list of known ids, and unknown flags', () => {
    expect(() => parseArgs(['--backend', 'tpu'])).toThrow(
      /Unknown backend 'tpu'\. Known backends: cpu, wasm, webgpu\./,
    );
    expect(parseArgs(['--backend', 'wasm,webgpu'])).toMatchObject({ backends: ['wasm', 'webgpu'] });
    expect(() => parseArgs(['--backend'])).toThrow(UsageError);
    expect(() => parseArgs(['--fast'])).toThrow(/Unknown argument '--fast'/);
    expect(() => resolveBackends(['cpu', 'gpu'])).toThrow(/Unknown backend 'gpu'/);
    expect(resolveBackends(['wasm']).map((t) => t.target.kind)).toEqual(['adapter']);
  });
});

describe('timing', () => {
  it('takes the median of the samples', () => {
    expect(median([1, 2, 10])).toBe(2);
    expect(median([1, 2, 3, 10])).toBe(2.5);
    expect(() => median([])).toThrow();
  });

  it('round-robins the variants, repeats short ones and reports per-call medians', async () => {
    // A fake clock: each call of variant i advances time by its cost, so the medians are known exactly.
    let clock = 0;
    const costs = [0.5, 3];
    const calls = [0, 0];
    const variants = costs.map((cost, i) => ({
      name: `v${i}`,
      run: () => {
        clock += cost;
        calls[i]!++;
      },
    }));
    const result = await measure(variants, {
      budgetMs: 40,
      minRounds: 3,
      maxRounds: 100,
      warmupMs: 5,
      minSampleMs: 2,
      now: () => clock,
    });
    expect(result.map((r) => r.name)).toEqual(['v0', 'v1']);
    expect(result[0]!.medianMs).toBeCloseTo(0.5, 12);
    expect(result[1]!.medianMs).toBeCloseTo(3, 12);
    // A round costs 4·0.5 + 3 = 5 ms, so the 40 ms budget allows 8 rounds.
    expect(result.every((r) => r.samples === 8)).toBe(true);
    // Warm-up: v0 needs 10 calls to fill 5 ms, v1 needs 3 calls (the minimum); then 8 rounds of 4 and 1.
    expect(calls).toEqual([10 + 8 * 4, 3 + 8]);
  });
});

describe('kernel benchmark (quick run)', () => {
  it('times every rate and batch of the cpu backend and reports ratios against both baselines', async () => {
    const lines: string[] = [];
    const rows = await runKernelBench(
      { backends: ['cpu'], json: true, quick: true },
      { log: (line) => lines.push(line), timing: { budgetMs: 20, minRounds: 2, maxRounds: 3, warmupMs: 1 } },
    );
    // Per shape and batch: the JS baseline, the backend's dense layer, and each rate against both baselines.
    expect(rows.length).toBe(QUICK_SHAPES.length * BATCHES.length * (2 + 2 * BPWS.length));
    for (const row of rows) {
      expect(Object.keys(row)).toEqual([
        'backend',
        'op',
        'shape',
        'bpw',
        'batch',
        'threads',
        'median_ms',
        'baseline',
        'ratio',
      ]);
      expect(row.median_ms).toBeGreaterThan(0);
      expect(row.threads).toBe(1);
    }
    const shape = `${QUICK_SHAPES[0]![0]}x${QUICK_SHAPES[0]![1]}`;
    const js = rows.find((r) => r.backend === 'js' && r.shape === shape && r.batch === 1)!;
    expect(js).toMatchObject({ op: 'dense-linear', bpw: 32, baseline: null, ratio: null });
    const dbf = rows.filter(
      (r) => r.op === 'dbf-linear' && r.shape === shape && r.batch === 1 && r.bpw === 2,
    );
    expect(dbf.map((r) => r.baseline)).toEqual([DENSE_BASELINE_NAME, 'cpu-dense-linear']);
    expect(dbf[0]!.ratio).toBeCloseTo(js.median_ms / dbf[0]!.median_ms, 12);
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
    expect(lines.some((line) => line.includes('rank'))).toBe(true);

    const table = formatTable(rows);
    expect(table.split('\n')[0]).toMatch(/backend\s+op\s+shape/);
    // One line per timed op: the DBF rows appear once with both ratios.
    expect(table.split('\n').length).toBe(2 + QUICK_SHAPES.length * BATCHES.length * (2 + BPWS.length));
  });
});
