import { describe, expect, it } from 'vitest';
import { bitsPerWeight, DbfError, largestRankForBpw, layerBytes, totalBitsPerWeight } from '../src/index';

describe('bits per weight', () => {
  it('counts stored bytes exactly: padded sign rows plus scales', () => {
    // DBF 10×20, k = 3, F16: signs 4·(10·1 + 3·1) = 52 B, scales 2·(10+3+20) = 66 B → 118 B = 944 bits / 200.
    expect(layerBytes({ kind: 'dbf', outFeatures: 10, inFeatures: 20, rank: 3 })).toEqual({
      signBytes: 52,
      scaleBytes: 66,
      totalBytes: 118,
    });
    expect(bitsPerWeight({ kind: 'dbf', outFeatures: 10, inFeatures: 20, rank: 3 })).toBeCloseTo(4.72, 12);
    // MDBF l = 2, F32: scales 4·2·(10 + 2·3 + 20) = 288 B → 340 B = 2720 bits / 200.
    expect(
      bitsPerWeight({
        kind: 'mdbf',
        outFeatures: 10,
        inFeatures: 20,
        rank: 3,
        envelopeRank: 2,
        scaleDtype: 'F32',
      }),
    ).toBeCloseTo(13.6, 12);
  });

  it('binary accounting reproduces the reference k = floor(b·n·m/(n+m))', () => {
    // Values from the reference implementation's table (algorithms.md §1.3).
    expect(largestRankForBpw({ kind: 'dbf', outFeatures: 4096, inFeatures: 4096 }, 1, 'binary')).toBe(2048);
    expect(largestRankForBpw({ kind: 'dbf', outFeatures: 11008, inFeatures: 4096 }, 1, 'binary')).toBe(2985);
    expect(largestRankForBpw({ kind: 'dbf', outFeatures: 1024, inFeatures: 4096 }, 2, 'binary')).toBe(1638);
    expect(largestRankForBpw({ kind: 'dbf', outFeatures: 11008, inFeatures: 4096 }, 2, 'binary')).toBe(5970);
  });

  it('stored accounting finds the largest k that fits, padding included', () => {
    // 4096² at 1 bpw: k = 2016 uses 63 words per S_A row: 4096·2016 + 2016·4096 + 16·(8192+2016) = 16,678,400
    // bits ≤ 4096² = 16,777,216; k = 2017 needs 64 words: 4096·2048 + 2017·4096 + 16·(8192+2017) = 16,813,584 > it.
    const shape = { kind: 'dbf', outFeatures: 4096, inFeatures: 4096 } as const;
    expect(largestRankForBpw(shape, 1)).toBe(2016);
    expect(bitsPerWeight({ ...shape, rank: 2016 })).toBeLessThanOrEqual(1);
    expect(bitsPerWeight({ ...shape, rank: 2017 })).toBeGreaterThan(1);
    for (const target of [1, 1.37, 2.3]) {
      for (const l of [1, 2, 4]) {
        const s = { kind: 'mdbf', outFeatures: 192, inFeatures: 512, envelopeRank: l } as const;
        const k = largestRankForBpw(s, target);
        expect(bitsPerWeight({ ...s, rank: k })).toBeLessThanOrEqual(target);
        expect(bitsPerWeight({ ...s, rank: k + 1 })).toBeGreaterThan(target);
      }
    }
  });

  it('rejects impossible targets with an actionable message', () => {
    try {
      largestRankForBpw({ kind: 'dbf', outFeatures: 2, inFeatures: 2 }, 1);
      expect.unreachable();
    } catch (error) {
      expect(DbfError.isInstance(error) && error.code).toBe('INVALID_ARGUMENT');
      expect(String(error)).toMatch(/needs at least .* bits per weight .* impossible/);
    }
    expect(() => largestRankForBpw({ kind: 'dbf', outFeatures: 8, inFeatures: 8 }, -1)).toThrow(/positive/);
    expect(() =>
      bitsPerWeight({ kind: 'dbf', outFeatures: 8, inFeatures: 8, rank: 2, envelopeRank: 2 }),
    ).toThrow(/envelopeRank 1/);
  });

  it('totals weight each layer by its size', () => {
    const a = { kind: 'dbf', outFeatures: 10, inFeatures: 20, rank: 3 } as const; // 944 bits
    const b = { kind: 'dbf', outFeatures: 20, inFeatures: 20, rank: 1 } as const; // 8·4·(20·1 + 1·1) + 16·41 = 1328 bits
    expect(totalBitsPerWeight([a, b])).toEqual({ weights: 600, bits: 944 + 1328, bitsPerWeight: 2272 / 600 });
  });
});
