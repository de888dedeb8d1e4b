import { createRng, type KernelBackend } from '@dbf/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpu } from '../src/index';
import { maxUlpError, randomValues, referenceGemm } from './reference';

let backend: KernelBackend;
beforeAll(async () => {
  backend = await cpu().create();
});
afterAll(async () => {
  await backend.dispose();
});

describe('gemm', () => {
  it('computes a hand-checked 2×2 product with alpha and beta', async () => {
    // [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]; 2·that − [1,1,1,1].
    const c = new Float32Array([1, 1, 1, 1]);
    const out = await backend.gemm({
      a: new Float32Array([1, 2, 3, 4]),
      b: new Float32Array([5, 6, 7, 8]),
      m: 2,
      n: 2,
      k: 2,
      alpha: 2,
      beta: -1,
      c,
    });
    expect(out).toBe(c);
    expect(Array.from(c)).toEqual([37, 43, 85, 99]);
  });

  it('honours both transposes on a hand-checked case', async () => {
    // Aᵀ with A = [[1,3],[2,4]] is [[1,2],[3,4]]; Bᵀ with B = [[5,7],[6,8]] is [[5,6],[7,8]].
    const out = await backend.gemm({
      a: new Float32Array([1, 3, 2, 4]),
      b: new Float32Array([5, 7, 6, 8]),
      m: 2,
      n: 2,
      k: 2,
      transposeA: true,
      transposeB: true,
    });
    expect(Array.from(out)).toEqual([19, 22, 43, 50]);
  });

  // Sizes straddle the 4×4 micro-tile, the 64-row/column blocks and the 256-deep K block.
  const SHAPES: readonly [number, number, number][] = [
    [1, 1, 1],
    [1, 9, 3],
    [7, 1, 5],
    [5, 7, 3],
    [4, 4, 513],
    [67, 70, 300],
    [65, 3, 257],
  ];
  for (const [m, n, k] of SHAPES) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        it(`is exact on integers: ${m}×${n}×${k}, transposeA ${transposeA}, transposeB ${transposeB}`, async () => {
          const rng = createRng(m * 7 + n * 11 + k + (transposeA ? 1000 : 0) + (transposeB ? 2000 : 0));
          const a = randomValues(rng, m * k, 'integer');
          const b = randomValues(rng, k * n, 'integer');
          const c = randomValues(rng, m * n, 'integer');
          const expected = referenceGemm(a, b, c, m, n, k, transposeA, transposeB, 3, -2);
          await backend.gemm({ a, b, c, m, n, k, transposeA, transposeB, alpha: 3, beta: -2 });
          expect(Array.from(c)).toEqual(Array.from(expected));
        });
      }
    }
  }

  it('matches the float64 reference on random inputs with fractional alpha and beta', async () => {
    const rng = createRng(21);
    const [m, n, k] = [70, 33, 290];
    const a = randomValues(rng, m * k, 'normal');
    const b = randomValues(rng, k * n, 'normal');
    const c = randomValues(rng, m * n, 'normal');
    const expected = referenceGemm(a, b, c, m, n, k, false, true, 0.37, 1.5);
    await backend.gemm({ a, b, c, m, n, k, transposeB: true, alpha: 0.37, beta: 1.5 });
    expect(maxUlpError(c, expected)).toBeLessThanOrEqual(1);
  });

  it('allocates the output when c is omitted, and ignores what c holds when beta is 0', async () => {
    const a = new Float32Array([1, 2, 3]);
    const b = new Float32Array([4, 5, 6]);
    const fresh = await backend.gemm({ a, b, m: 1, n: 1, k: 3 });
    expect(Array.from(fresh)).toEqual([32]);
    const c = new Float32Array([Number.NaN]);
    await backend.gemm({ a, b, m: 1, n: 1, k: 3, c });
    expect(Array.from(c)).toEqual([32]);
  });

  it('with alpha = 0 scales C by beta without reading A or B (BLAS convention)', async () => {
    const a = new Float32Array([Number.NaN, 1]);
    const b = new Float32Array([Number.NaN]);
    const c = new Float32Array([2, -4]);
    await backend.gemm({ a, b, m: 2, n: 1, k: 1, alpha: 0, beta: 0.5, c });
    expect(Array.from(c)).toEqual([1, -2]);
    await backend.gemm({ a, b, m: 2, n: 1, k: 1, alpha: 0, c });
    expect(Array.from(c)).toEqual([0, 0]);
  });

  it('gives the same result when called again with the same buffers (workspace reuse)', async () => {
    const rng = createRng(8);
    const a = randomValues(rng, 30 * 40, 'integer');
    const b = randomValues(rng, 40 * 20, 'integer');
    const first = await backend.gemm({ a, b, m: 30, n: 20, k: 40 });
    // A larger call in between grows the workspace; the first result must not depend on leftovers.
    await backend.gemm({
      a: randomValues(rng, 200 * 300, 'normal'),
      b: randomValues(rng, 300 * 90, 'normal'),
      m: 200,
      n: 90,
      k: 300,
    });
    const second = await backend.gemm({ a, b, m: 30, n: 20, k: 40 });
    expect(Array.from(second)).toEqual(Array.from(first));
    expect(Array.from(first)).toEqual(
      Array.from(referenceGemm(a, b, undefined, 30, 20, 40, false, false, 1, 0)),
    );
  });
});
