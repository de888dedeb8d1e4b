/**
 * Timing: warm-up, then round-robin samples, then medians.
 *
 * All variants of one group (the dense baselines and every DBF rate of one shape and batch) are timed
 * in the same rounds, one sample each per round, so that machine noise (other processes, frequency
 * changes, a noisy VM neighbour) hits them alike and the ratios stay meaningful even when absolute
 * times drift.
 */
export interface Variant {
  readonly name: string;
  /** One call of the operation being timed. */
  run(): unknown;
}

export interface MeasureOptions {
  /** Time spent measuring the whole group (after warm-up), in ms. */
  readonly budgetMs: number;
  readonly minRounds: number;
  readonly maxRounds: number;
  /** Warm-up per variant: at least this long and at least 3 calls. */
  readonly warmupMs: number;
  /** A sample repeats the operation until it lasts at least this long, so timer resolution stays negligible. */
  readonly minSampleMs: number;
  /** Clock in ms (injectable for tests). */
  readonly now?: () => number;
}

export interface Measurement {
  readonly name: string;
  readonly medianMs: number;
  readonly minMs: number;
  readonly samples: number;
}

export async function measure(variants: readonly Variant[], options: MeasureOptions): Promise<Measurement[]> {
  const now = options.now ?? (() => performance.now());
  const perCall: number[] = [];
  for (const variant of variants) {
    let calls = 0;
    let last = 0;
    const start = now();
    while (calls < 3 || now() - start < options.warmupMs) {
      const t = now();
      await variant.run();
      last = now() - t;
      calls++;
    }
    perCall.push(Math.max(last, 1e-3));
  }
  const repeats = perCall.map((ms) => Math.max(1, Math.ceil(options.minSampleMs / ms)));
  const roundMs = perCall.reduce((sum, ms, i) => sum + ms * repeats[i]!, 0);
  const rounds = Math.min(
    options.maxRounds,
    Math.max(options.minRounds, Math.floor(options.budgetMs / roundMs)),
  );

  const samples: number[][] = variants.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[i]!;
      const count = repeats[i]!;
      const t = now();
      for (let r = 0; r < count; r++) await variant.run();
      samples[i]!.push((now() - t) / count);
    }
  }
  return variants.map((variant, i) => {
    const sorted = [...samples[i]!].sort((x, y) => x - y);
    return { name: variant.name, medianMs: median(sorted), minMs: sorted[0]!, samples: sorted.length };
  });
}

/** Median of an ascending list (mean of the two middle values for an even count). */
export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) throw new Error('median of an empty list');
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
