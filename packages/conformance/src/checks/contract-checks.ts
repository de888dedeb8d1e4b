import {
  type BackendFactory,
  dbfToMdbf,
  KERNEL_SPEC_VERSION,
  type KernelBackend,
  type LinearLayer,
  type PackedSigns,
  type ResidentLinear,
  type Rng,
} from '@dbf/core';
import { ConformanceError } from '../conformance-error';
import {
  randomDbfLayer,
  randomDenseLayer,
  randomMdbfLayer,
  randomScales,
  randomSigns,
  randomVector,
} from '../random-layers';
import { referenceGemm, referenceLinear, referenceSignMatMul } from '../reference';
import { expectClose, expectDbfError, sameBits } from './assertions';
import { guardedGemm, guardedLinear, guardedSignMatMul } from './kernel-checks';

/** What contract checks get: the backend under test, and its factory for checks that need a second instance. */
export interface ConformanceContext {
  readonly backend: KernelBackend;
  readonly factory: BackendFactory;
  readonly createOptions?: unknown;
}

const ACCUMULATIONS = ['f64', 'f32', 'f16', 'int8'];

/** `specificationVersion`, `id` and the factory agree with the contract. */
export async function checkIdentity({ backend, factory }: ConformanceContext): Promise<void> {
  if (backend.specificationVersion !== KERNEL_SPEC_VERSION) {
    throw new ConformanceError(
      `specificationVersion is ${JSON.stringify(backend.specificationVersion)}, but this suite checks ${JSON.stringify(KERNEL_SPEC_VERSION)}.`,
    );
  }
  if (typeof backend.id !== 'string' || backend.id.length === 0)
    throw new ConformanceError('backend.id must be a non-empty string.');
  if (backend.id !== factory.id) {
    throw new ConformanceError(
      `backend.id ${JSON.stringify(backend.id)} differs from its factory's id ${JSON.stringify(factory.id)}.`,
    );
  }
  if (!Number.isFinite(factory.priority))
    throw new ConformanceError(`factory.priority must be a finite number, got ${factory.priority}.`);
  const availability = await factory.isAvailable();
  if (availability?.available !== true) {
    throw new ConformanceError(
      `factory.isAvailable() must report { available: true } where create() succeeds, got ${JSON.stringify(availability)}.`,
    );
  }
  for (const method of ['uploadLinear', 'linear', 'uploadSigns', 'signMatMul', 'gemm', 'dispose'] as const) {
    if (typeof backend[method] !== 'function')
      throw new ConformanceError(`backend.${method} is not a function.`);
  }
}

/** Every capability field is present, typed and in range. */
export async function checkCapabilities({ backend }: ConformanceContext): Promise<void> {
  const c = backend.capabilities;
  if (typeof c !== 'object' || c === null)
    throw new ConformanceError('backend.capabilities must be an object.');
  const problems: string[] = [];
  if (!ACCUMULATIONS.includes(c.accumulation))
    problems.push(`accumulation ${JSON.stringify(c.accumulation)} is not one of ${ACCUMULATIONS.join(', ')}`);
  if (typeof c.nmseTolerance !== 'number' || !(c.nmseTolerance > 0 && c.nmseTolerance < 1)) {
    problems.push(`nmseTolerance ${c.nmseTolerance} is not a number in (0, 1)`);
  }
  if (!Number.isInteger(c.threads) || c.threads < 1)
    problems.push(`threads ${c.threads} is not an integer >= 1`);
  if (
    typeof c.maxBufferBytes !== 'number' ||
    !(c.maxBufferBytes > 0) ||
    (Number.isFinite(c.maxBufferBytes) && !Number.isInteger(c.maxBufferBytes))
  ) {
    problems.push(`maxBufferBytes ${c.maxBufferBytes} is not a positive integer (or Infinity)`);
  }
  if (typeof c.description !== 'string' || c.description.trim() === '') problems.push('description is empty');
  if (problems.length) throw new ConformanceError(`capabilities are malformed: ${problems.join('; ')}.`);
}

/** An MDBF layer with `l = 1` built from a DBF layer (`dbfToMdbf`) gives the DBF layer's output. */
export async function checkMdbfMatchesDbf({ backend }: ConformanceContext, rng: Rng): Promise<void> {
  const tolerance = backend.capabilities.nmseTolerance;
  const dbf = randomDbfLayer(rng, { outFeatures: 65, inFeatures: 100, rank: 33, bias: true });
  const mdbf = dbfToMdbf(dbf);
  const batch = 3;
  const input = randomVector(rng, batch * dbf.inFeatures);
  const [a, b] = await withUploads(backend, [dbf, mdbf], async ([hDbf, hMdbf]) => [
    await guardedLinear(backend, hDbf!, input, batch, 'dbf layer'),
    await guardedLinear(backend, hMdbf!, input, batch, 'the same layer as mdbf with l = 1'),
  ]);
  const reference = referenceLinear(dbf, input, batch);
  expectClose('dbf layer', a!, reference, tolerance);
  expectClose('mdbf with l = 1', b!, reference, tolerance);
  expectClose('mdbf with l = 1 against the dbf output of the backend', b!, a!, tolerance);
}

/** Repeated calls on the same handle and input are bitwise identical, with or without `output`. */
export async function checkDeterminism({ backend }: ConformanceContext, rng: Rng): Promise<void> {
  const batch = 3;
  const layers: LinearLayer[] = [
    randomDbfLayer(rng, { outFeatures: 100, inFeatures: 129, rank: 33, bias: true }),
    randomMdbfLayer(rng, { outFeatures: 64, inFeatures: 100, rank: 31, envelopeRank: 3 }),
    randomDenseLayer(rng, { outFeatures: 33, inFeatures: 65, bias: true }),
  ];
  await withUploads(backend, layers, async (handles) => {
    for (const [i, weights] of handles.entries()) {
      const label = `${layers[i]!.kind} linear`;
      const input = randomVector(rng, batch * weights.inFeatures);
      const first = await guardedLinear(backend, weights, input, batch, label);
      const second = await guardedLinear(backend, weights, input, batch, label);
      const fresh = await backend.linear({ weights, input, batch });
      if (!(fresh instanceof Float32Array) || fresh.length !== batch * weights.outFeatures) {
        throw new ConformanceError(
          `${label} without output: must return a new Float32Array of batch·outFeatures = ${batch * weights.outFeatures} elements.`,
        );
      }
      if (!sameBits(first, second) || !sameBits(first, fresh)) {
        throw new ConformanceError(
          `${label}: repeated calls with the same handle and input gave different results; kernels must be deterministic.`,
        );
      }
    }
  });
  const signs = randomSigns(rng, 77, 129);
  const input = randomVector(rng, 2 * 129);
  const resident = await backend.uploadSigns(signs);
  try {
    const first = await guardedSignMatMul(backend, resident, input, 2, 'signMatMul');
    const fresh = await backend.signMatMul({ signs: resident, input, batch: 2 });
    if (!(fresh instanceof Float32Array) || !sameBits(first, fresh)) {
      throw new ConformanceError(
        'signMatMul: repeated calls gave different results, or the call without output did not return a Float32Array.',
      );
    }
  } finally {
    resident.dispose();
  }
  const gemm = { a: randomVector(rng, 33 * 65), b: randomVector(rng, 65 * 17), m: 33, n: 17, k: 65 };
  if (!sameBits(await guardedGemm(backend, gemm, 'gemm'), await guardedGemm(backend, gemm, 'gemm'))) {
    throw new ConformanceError('gemm: repeated calls gave different results.');
  }
}

/** Several calls in flight at once (Promise.all) each give their own correct result. */
export async function checkConcurrency({ backend }: ConformanceContext, rng: Rng): Promise<void> {
  const tolerance = backend.capabilities.nmseTolerance;
  const layers: LinearLayer[] = [
    randomDbfLayer(rng, { outFeatures: 100, inFeatures: 129, rank: 31, bias: true }),
    randomMdbfLayer(rng, { outFeatures: 64, inFeatures: 100, rank: 33, envelopeRank: 3 }),
    randomDenseLayer(rng, { outFeatures: 33, inFeatures: 65 }),
  ];
  const signs = randomSigns(rng, 50, 70);
  const resident = await backend.uploadSigns(signs);
  try {
    await withUploads(backend, layers, async (handles) => {
      const jobs: Promise<void>[] = [];
      for (const [i, weights] of handles.entries()) {
        for (const batch of [1, 4]) {
          const input = randomVector(rng, batch * weights.inFeatures);
          const label = `concurrent ${layers[i]!.kind} linear, batch ${batch}`;
          jobs.push(
            guardedLinear(backend, weights, input, batch, label).then((y) =>
              expectClose(label, y, referenceLinear(layers[i]!, input, batch), tolerance),
            ),
          );
        }
      }
      const input = randomVector(rng, 3 * 70);
      jobs.push(
        guardedSignMatMul(backend, resident, input, 3, 'concurrent signMatMul').then((y) =>
          expectClose('concurrent signMatMul', y, referenceSignMatMul(signs, input, 3), tolerance),
        ),
      );
      const gemm = {
        a: randomVector(rng, 20 * 30),
        b: randomVector(rng, 30 * 10),
        m: 20,
        n: 10,
        k: 30,
        transposeB: true,
      };
      jobs.push(
        guardedGemm(backend, gemm, 'concurrent gemm').then((y) =>
          expectClose('concurrent gemm', y, referenceGemm(gemm), tolerance),
        ),
      );
      await Promise.all(jobs);
    });
  } finally {
    resident.dispose();
  }
}

/** Handles from another instance of the backend, forged handles and signs-for-weights are rejected. */
export async function checkForeignHandles(context: ConformanceContext, rng: Rng): Promise<void> {
  const { backend } = context;
  const layer = randomDbfLayer(rng, { outFeatures: 7, inFeatures: 33, rank: 5 });
  const signs = randomSigns(rng, 5, 33);
  const input = randomVector(rng, 33);
  const other = await context.factory.create(context.createOptions);
  try {
    const foreignLinear = await other.uploadLinear(layer);
    const foreignSigns = await other.uploadSigns(signs);
    await expectDbfError(
      'linear with a handle uploaded to another instance of the backend',
      'INVALID_ARGUMENT',
      () => backend.linear({ weights: foreignLinear, input, batch: 1 }),
    );
    await expectDbfError(
      'signMatMul with signs uploaded to another instance of the backend',
      'INVALID_ARGUMENT',
      () => backend.signMatMul({ signs: foreignSigns, input, batch: 1 }),
    );
  } finally {
    await other.dispose();
  }
  const forged: ResidentLinear = {
    backendId: backend.id,
    kind: 'dbf',
    outFeatures: 7,
    inFeatures: 33,
    byteLength: 0,
    dispose() {},
  };
  await expectDbfError('linear with a handle the backend never created', 'INVALID_ARGUMENT', () =>
    backend.linear({ weights: forged, input, batch: 1 }),
  );
  const ownSigns = await backend.uploadSigns(signs);
  try {
    await expectDbfError('linear with a ResidentSigns in place of a ResidentLinear', 'INVALID_ARGUMENT', () =>
      backend.linear({ weights: ownSigns as unknown as ResidentLinear, input, batch: 1 }),
    );
  } finally {
    ownSigns.dispose();
  }
}

/** Bad lengths, batches, types and aliasing in `linear` and `signMatMul` reject with INVALID_ARGUMENT. */
export async function checkInvalidRequests({ backend }: ConformanceContext, rng: Rng): Promise<void> {
  const layer = randomDbfLayer(rng, { outFeatures: 7, inFeatures: 33, rank: 5 });
  const signs = randomSigns(rng, 5, 33);
  const bad = (label: string, action: () => Promise<unknown>) =>
    expectDbfError(label, 'INVALID_ARGUMENT', action);
  await withUploads(backend, [layer], async ([weights]) => {
    const w = weights!;
    await bad('linear with input one element short', () =>
      backend.linear({ weights: w, input: new Float32Array(2 * 33 - 1), batch: 2 }),
    );
    await bad('linear with input for the wrong batch', () =>
      backend.linear({ weights: w, input: new Float32Array(33), batch: 2 }),
    );
    await bad('linear with output one element long', () =>
      backend.linear({ weights: w, input: new Float32Array(33), batch: 1, output: new Float32Array(8) }),
    );
    await bad('linear with a Float64Array input', () =>
      backend.linear({ weights: w, input: new Float64Array(33) as unknown as Float32Array, batch: 1 }),
    );
    for (const batch of [0, -1, 1.5, Number.NaN]) {
      await bad(`linear with batch ${batch}`, () =>
        backend.linear({ weights: w, input: new Float32Array(33), batch }),
      );
    }
    const shared = new Float32Array(64);
    await bad('linear with output overlapping input', () =>
      backend.linear({
        weights: w,
        input: shared.subarray(0, 33),
        batch: 1,
        output: shared.subarray(30, 37),
      }),
    );
  });
  const resident = await backend.uploadSigns(signs);
  try {
    await bad('signMatMul with input one element short', () =>
      backend.signMatMul({ signs: resident, input: new Float32Array(32), batch: 1 }),
    );
    await bad('signMatMul with output of the wrong length', () =>
      backend.signMatMul({
        signs: resident,
        input: new Float32Array(33),
        batch: 1,
        output: new Float32Array(4),
      }),
    );
    await bad('signMatMul with batch 0', () =>
      backend.signMatMul({ signs: resident, input: new Float32Array(33), batch: 0 }),
    );
  } finally {
    resident.dispose();
  }
}

/** Inconsistent layers are rejected by `uploadLinear` with INVALID_ARGUMENT. */
export async function checkInvalidLayers({ backend }: ConformanceContext, rng: Rng): Promise<void> {
  const dbf = randomDbfLayer(rng, { outFeatures: 7, inFeatures: 33, rank: 33 });
  const mdbf = randomMdbfLayer(rng, { outFeatures: 7, inFeatures: 33, rank: 5, envelopeRank: 2 });
  const dense = randomDenseLayer(rng, { outFeatures: 7, inFeatures: 33 });
  const withPadding = (signs: PackedSigns): PackedSigns => {
    const words = Uint32Array.from(signs.words);
    words[signs.wordsPerRow - 1]! |= 0x80000000; // column 63 of row 0: past cols = 33, a padding bit
    return { ...signs, words };
  };
  const nanMid = Float32Array.from(dbf.scaleMid);
  nanMid[2] = Number.NaN;
  const invalid: [string, unknown][] = [
    ['dbf with a padding bit set in signA', { ...dbf, signA: withPadding(dbf.signA) }],
    ['dbf with a padding bit set in signB', { ...dbf, signB: withPadding(dbf.signB) }],
    ['dbf with scaleA one element long', { ...dbf, scaleA: randomScales(rng, 8) }],
    ['dbf with scaleB one element short', { ...dbf, scaleB: randomScales(rng, 32) }],
    ['dbf with a NaN in scaleMid', { ...dbf, scaleMid: nanMid }],
    ['dbf with signB of the wrong number of rows', { ...dbf, signB: randomSigns(rng, 34, 33) }],
    ['dbf with a bias of the wrong length', { ...dbf, bias: new Float32Array(6) }],
    ['dbf with a Float64Array scale', { ...dbf, scaleA: new Float64Array(7) }],
    ['dbf with a fractional outFeatures', { ...dbf, outFeatures: 6.5 }],
    ['mdbf with envQU one element short', { ...mdbf, envQU: randomScales(rng, 5 * 2 - 1) }],
    ['mdbf with envelopeRank 0', { ...mdbf, envelopeRank: 0 }],
    ['mdbf whose envelopes do not match envelopeRank', { ...mdbf, envelopeRank: 3 }],
    ['dense with a weight one element short', { ...dense, weight: new Float32Array(7 * 33 - 1) }],
    ['a layer of unknown kind', { ...dense, kind: 'sparse' }],
    ['null', null],
  ];
  for (const [label, layer] of invalid) {
    await expectDbfError(`uploadLinear of ${label}`, 'INVALID_ARGUMENT', () =>
      backend.uploadLinear(layer as LinearLayer),
    );
  }
  const signs = randomSigns(rng, 3, 40);
  const badSigns: [string, unknown][] = [
    ['signs with a padding bit set', withPadding(signs)],
    ['signs with the wrong wordsPerRow', { ...signs, wordsPerRow: 1 }],
    ['signs with too few words', { ...signs, words: signs.words.subarray(1) }],
    ['signs with 0 rows', { ...signs, rows: 0 }],
  ];
  for (const [label, value] of badSigns) {
    await expectDbfError(`uploadSigns of ${label}`, 'INVALID_ARGUMENT', () =>
      backend.uploadSigns(value as PackedSigns),
    );
  }
}

/** Bad GEMM requests reject with INVALID_ARGUMENT. */
export async function checkInvalidGemm({ backend }: ConformanceContext, rng: Rng): Promise<void> {
  const a = randomVector(rng, 4 * 3);
  const b = randomVector(rng, 3 * 5);
  const base = { a, b, m: 4, n: 5, k: 3 };
  const bad = (label: string, request: unknown) =>
    expectDbfError(`gemm with ${label}`, 'INVALID_ARGUMENT', () => backend.gemm(request as typeof base));
  await bad('beta = 1 and no c', { ...base, beta: 1 });
  await bad('a one element short', { ...base, a: a.subarray(1) });
  await bad('b of the wrong length', { ...base, b: new Float32Array(16) });
  await bad('c of the wrong length', { ...base, c: new Float32Array(19) });
  await bad('m = 0', { ...base, m: 0 });
  await bad('a fractional k', { ...base, k: 2.5 });
  await bad('alpha = NaN', { ...base, alpha: Number.NaN });
  const shared = new Float32Array(40);
  await bad('c overlapping a', { ...base, a: shared.subarray(0, 12), c: shared.subarray(10, 30) });
}

/** A disposed handle rejects with DISPOSED; other handles keep working. */
export async function checkDisposedHandles({ backend }: ConformanceContext, rng: Rng): Promise<void> {
  const layer = randomDbfLayer(rng, { outFeatures: 9, inFeatures: 40, rank: 6 });
  const kept = randomDenseLayer(rng, { outFeatures: 3, inFeatures: 40 });
  const input = randomVector(rng, 40);
  const weights = await backend.uploadLinear(layer);
  const keptWeights = await backend.uploadLinear(kept);
  try {
    weights.dispose();
    await expectDbfError('linear with a disposed ResidentLinear', 'DISPOSED', () =>
      backend.linear({ weights, input, batch: 1 }),
    );
    const y = await guardedLinear(backend, keptWeights, input, 1, 'linear on a handle that was not disposed');
    expectClose(
      'linear on a handle that was not disposed',
      y,
      referenceLinear(kept, input, 1),
      backend.capabilities.nmseTolerance,
    );
  } finally {
    keptWeights.dispose();
  }
  const signs = await backend.uploadSigns(layer.signB);
  signs.dispose();
  await expectDbfError('signMatMul with disposed ResidentSigns', 'DISPOSED', () =>
    backend.signMatMul({ signs, input, batch: 1 }),
  );
}

/** After `backend.dispose()`, every method rejects with DISPOSED. Uses a separate instance. */
export async function checkDisposedBackend(context: ConformanceContext, rng: Rng): Promise<void> {
  const layer = randomDbfLayer(rng, { outFeatures: 9, inFeatures: 40, rank: 6 });
  const input = randomVector(rng, 40);
  const other = await context.factory.create(context.createOptions);
  const weights = await other.uploadLinear(layer);
  const signs = await other.uploadSigns(layer.signB);
  await other.dispose();
  await expectDbfError('linear after backend.dispose()', 'DISPOSED', () =>
    other.linear({ weights, input, batch: 1 }),
  );
  await expectDbfError('signMatMul after backend.dispose()', 'DISPOSED', () =>
    other.signMatMul({ signs, input, batch: 1 }),
  );
  await expectDbfError('uploadLinear after backend.dispose()', 'DISPOSED', () => other.uploadLinear(layer));
  await expectDbfError('uploadSigns after backend.dispose()', 'DISPOSED', () =>
    other.uploadSigns(layer.signB),
  );
  await expectDbfError('gemm after backend.dispose()', 'DISPOSED', () =>
    other.gemm({ a: input, b: input, m: 1, n: 1, k: 40, transposeB: true }),
  );
}

/** Uploads the layers, runs `body`, and disposes every handle whatever happens. */
async function withUploads<T>(
  backend: KernelBackend,
  layers: readonly LinearLayer[],
  body: (handles: ResidentLinear[]) => Promise<T>,
): Promise<T> {
  const handles: ResidentLinear[] = [];
  try {
    for (const layer of layers) handles.push(await backend.uploadLinear(layer));
    return await body(handles);
  } finally {
    for (const h of handles) h.dispose();
  }
}
