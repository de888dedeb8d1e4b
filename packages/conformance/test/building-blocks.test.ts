import { Buffer } from 'node:buffer';
import {
  BackendError,
  createRng,
  findNonzeroPadding,
  InvalidArgumentError,
  validateLayer,
  validatePackedSigns,
} from '@dbf/core';
import { describe, expect, it } from 'vitest';
import {
  asArrayViews,
  ConformanceError,
  DEFAULT_GUARD_LENGTH,
  decodeBase64,
  describeKernelConformance,
  expectClose,
  expectDbfError,
  expectExact,
  GOLDEN_LINEAR_VECTORS,
  kernelConformanceCases,
  randomDbfLayer,
  randomMdbfLayer,
  randomSigns,
  runKernelConformance,
  skipReason,
  summarizeResults,
  UNWRITTEN_WORD,
  validateSkips,
  withGuards,
} from '../src/index';
import { naiveBackendFactory } from './naive-backend';

describe('decodeBase64', () => {
  it('matches Node’s encoder for every length and padding', () => {
    const rng = createRng(3);
    for (let length = 0; length < 40; length++) {
      const bytes = Uint8Array.from({ length }, () => rng.int(256));
      const encoded = Buffer.from(bytes).toString('base64');
      expect(Array.from(decodeBase64(encoded))).toEqual(Array.from(bytes));
      expect(Array.from(decodeBase64(encoded.replace(/=+$/, '')))).toEqual(Array.from(bytes));
    }
    expect(new TextDecoder().decode(decodeBase64('aGVs\nbG8g\r\nd29y bGQ='))).toBe('hello world');
  });

  it('rejects characters outside the alphabet and impossible lengths', () => {
    expect(() => decodeBase64('ab$d')).toThrow(InvalidArgumentError);
    expect(() => decodeBase64('a=bc')).toThrow(/position 1/);
    expect(() => decodeBase64('abcde')).toThrow(/whole bytes/);
  });
});

describe('withGuards', () => {
  it('surrounds the array with guard words and reports exactly the overwritten ones', () => {
    const g = withGuards(5);
    expect(g.array.length).toBe(5);
    expect(g.backing.length).toBe(5 + 2 * DEFAULT_GUARD_LENGTH);
    expect(g.array.byteOffset).toBe(4 * DEFAULT_GUARD_LENGTH);
    expect(Array.from(new Uint32Array(g.array.buffer, g.array.byteOffset, 5))).toEqual(
      new Array(5).fill(UNWRITTEN_WORD),
    );
    g.array.fill(1);
    expect(g.changedGuards()).toEqual([]);
    g.assertGuardsIntact('ok');
    g.backing[DEFAULT_GUARD_LENGTH - 1] = 0; // array[-1]
    g.backing[DEFAULT_GUARD_LENGTH + 5 + 2] = 0; // array[7]
    expect(g.changedGuards()).toEqual([-1, 7]);
    expect(() => g.assertGuardsIntact('call')).toThrow(
      /call: out-of-bounds write — guard words at indices -1, 7/,
    );
  });

  it('notices a guard rewritten with the same float value but other NaN bits', () => {
    const g = withGuards(2, { guardLength: 1, fill: [3, 4] });
    expect(Array.from(g.array)).toEqual([3, 4]);
    g.backing[0] = Number.NaN; // guard 0 is a NaN box with a payload; a canonical NaN differs in bits
    expect(g.changedGuards()).toEqual([-1]);
  });
});

describe('random layers', () => {
  it('produces valid layers with zero padding, deterministically per seed', () => {
    for (const cols of [1, 31, 32, 33, 100]) {
      const signs = randomSigns(createRng(cols), 7, cols);
      expect(findNonzeroPadding(signs)).toBe(-1);
      validatePackedSigns('signs', signs, 7, cols);
      expect(randomSigns(createRng(cols), 7, cols).words).toEqual(signs.words);
    }
    const rng = createRng(1);
    validateLayer(randomDbfLayer(rng, { outFeatures: 5, inFeatures: 40, rank: 3, bias: true }));
    const mdbf = randomMdbfLayer(rng, {
      outFeatures: 5,
      inFeatures: 40,
      rank: 3,
      envelopeRank: 4,
      values: 'integer',
    });
    validateLayer(mdbf);
    expect(mdbf.envA.every((v) => Number.isInteger(v) && v !== 0)).toBe(true);
  });

  it('asArrayViews moves every array to a non-zero offset without changing values', () => {
    const layer = randomMdbfLayer(createRng(2), {
      outFeatures: 5,
      inFeatures: 40,
      rank: 3,
      envelopeRank: 2,
      bias: true,
    });
    const views = asArrayViews(layer);
    validateLayer(views);
    for (const key of ['envA', 'envQU', 'envQV', 'envB', 'bias'] as const) {
      expect(views[key]!.byteOffset).toBeGreaterThan(0);
      expect(views[key]).toEqual(layer[key]);
    }
    expect(views.signA.words.byteOffset).toBeGreaterThan(0);
    expect(views.signA.words).toEqual(layer.signA.words);
  });
});

describe('assertions', () => {
  it('expectClose fails on NaN and on NMSE above the tolerance, with the worst element', () => {
    expectClose('ok', Float32Array.of(1, 2), [1, 2.000001], 1e-9);
    expect(() => expectClose('t', Float32Array.of(1, 2), [1, 3], 1e-3)).toThrow(
      /NMSE 1\.000e-1 .* at \[1\]: got 2, expected 3/,
    );
    expect(() => expectClose('t', Float32Array.of(Number.NaN, 2), [1, 2], 1)).toThrow(/output\[0\] is NaN/);
    expect(() => expectClose('t', Float32Array.of(1), [1, 2], 1)).toThrow(/1 elements, expected 2/);
  });

  it('expectExact compares exactly with float32-rounded expectations', () => {
    expectExact('ok', Float32Array.of(0.1, -3, -0), [0.1, -3, 0]);
    expect(() => expectExact('t', Float32Array.of(1, 2 + 2 ** -22), [1, 2])).toThrow(
      /1 of 2 elements differ .*first at \[1\]/,
    );
    expect(() => expectExact('t', Float32Array.of(Number.NaN), [Number.NaN])).toThrow(
      /1 of 1 elements differ/,
    );
  });

  it('expectDbfError accepts only a rejection with the right code', async () => {
    await expectDbfError('ok', 'INVALID_ARGUMENT', async () => {
      throw new InvalidArgumentError('bad');
    });
    await expect(
      expectDbfError('wrong code', 'INVALID_ARGUMENT', async () => {
        throw new BackendError('x', 'DISPOSED', 'gone');
      }),
    ).rejects.toThrow(
      /wrong code: expected a DbfError with code INVALID_ARGUMENT, got BackendError \(code DISPOSED\)/,
    );
    await expect(expectDbfError('resolved', 'DISPOSED', async () => 1)).rejects.toThrow(
      /but the call succeeded/,
    );
    await expect(
      expectDbfError('sync', 'INVALID_ARGUMENT', () => {
        throw new InvalidArgumentError('bad');
      }),
    ).rejects.toThrow(ConformanceError);
  });
});

describe('cases and skips', () => {
  const cases = kernelConformanceCases();

  it('names every case uniquely, with its shape, and bundles one golden case per golden layer', () => {
    const names = cases.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('linear/dbf 257x33 k=129 bias batch=8 views');
    expect(names).toContain('linear/mdbf 257x129 k=40 l=8 batch=3 views');
    expect(names).toContain('gemm/AtBt m=33 n=100 k=129 alpha=-2 beta=1');
    expect(names).toContain('signMatMul/1x300 batch=3');
    const goldenLayers = GOLDEN_LINEAR_VECTORS.reduce((sum, v) => sum + v.layers.length, 0);
    expect(cases.filter((c) => c.group === 'golden')).toHaveLength(goldenLayers);
    for (let l = 1; l <= 8; l++)
      expect(names.some((n) => n.startsWith('linear/mdbf') && n.includes(` l=${l} `))).toBe(true);
  });

  it('matches skips by name prefix or RegExp and validates them', () => {
    expect(skipReason('gemm/AB m=1 n=1 k=1', [{ case: 'gemm', reason: 'no gemm' }])).toBe('no gemm');
    expect(skipReason('linear/mdbf 1x1 k=1 l=1 batch=1', [{ case: /l=1 /, reason: 'r' }])).toBe('r');
    expect(skipReason('linear/dbf 1x1 k=1 batch=1', [{ case: 'linear/mdbf', reason: 'r' }])).toBeUndefined();
    expect(() => validateSkips(cases, [{ case: 'gemmm', reason: 'typo' }])).toThrow(
      /matches no conformance case/,
    );
    expect(() => validateSkips(cases, [{ case: 'gemm', reason: ' ' }])).toThrow(/non-empty reason/);
    expect(() => validateSkips(cases, [{ case: 42 as unknown as string, reason: 'r' }])).toThrow(
      /prefix \(string\) or a RegExp/,
    );
  });

  it('runKernelConformance reports skipped cases with their reason and summarizes by group', async () => {
    const factory = naiveBackendFactory();
    const backend = await factory.create();
    const chosen = cases.filter((c) => c.group === 'gemm' || c.group === 'contract');
    const results = await runKernelConformance(
      { backend, factory },
      { cases: chosen, skip: [{ case: /^gemm\/At/, reason: 'transposed A not implemented yet' }] },
    );
    await backend.dispose();
    const skipped = results.filter((r) => r.status === 'skip');
    expect(skipped).toHaveLength(10);
    expect(
      skipped.every((r) => r.reason === 'transposed A not implemented yet' && r.name.startsWith('gemm/At')),
    ).toBe(true);
    const summary = summarizeResults(results);
    expect(summary.gemm).toEqual({ pass: 10, fail: 0, skip: 10 });
    expect(summary.contract).toEqual({ pass: 5, fail: 0, skip: 0 });
  });

  it('describeKernelConformance rejects a missing factory and bad skips before declaring anything', () => {
    expect(() => describeKernelConformance({ factory: {} as never })).toThrow(/needs `factory`/);
    expect(() =>
      describeKernelConformance({ factory: naiveBackendFactory(), skip: [{ case: 'nope', reason: 'r' }] }),
    ).toThrow(/matches no conformance case/);
  });
});
