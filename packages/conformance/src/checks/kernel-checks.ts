import type {
  GemmRequest,
  KernelBackend,
  LinearLayer,
  PackedSigns,
  ResidentLinear,
  ResidentSigns,
} from '@dbf/core';
import { ConformanceError } from '../conformance-error';
import { referenceGemm, referenceLinear, referenceSignMatMul } from '../reference';
import { expectClose } from './assertions';
import { guardedCall } from './guarded-call';

/**
 * The numeric checks: one kernel call on a caller-chosen layer / matrix / GEMM against the float64
 * reference, with guard words, read-only inputs and output identity enforced (see guardedCall).
 */

/** `linear` on an already uploaded layer, guarded; returns a copy of the output. */
export function guardedLinear(
  backend: KernelBackend,
  weights: ResidentLinear,
  input: Float32Array,
  batch: number,
  label: string,
): Promise<Float32Array> {
  return guardedCall({
    label,
    inputs: [input],
    outputLength: batch * weights.outFeatures,
    call: ([x], output) => backend.linear({ weights, input: x!, batch, output }),
  });
}

/** `signMatMul` on already uploaded signs, guarded; returns a copy of the output. */
export function guardedSignMatMul(
  backend: KernelBackend,
  signs: ResidentSigns,
  input: Float32Array,
  batch: number,
  label: string,
): Promise<Float32Array> {
  return guardedCall({
    label,
    inputs: [input],
    outputLength: batch * signs.rows,
    call: ([x], output) => backend.signMatMul({ signs, input: x!, batch, output }),
  });
}

/** `gemm` with `c` as the guarded output (holding `request.c` when `beta ≠ 0`); returns a copy of C. */
export function guardedGemm(
  backend: KernelBackend,
  request: GemmRequest,
  label: string,
): Promise<Float32Array> {
  const beta = request.beta ?? 0;
  return guardedCall({
    label,
    inputs: [request.a, request.b],
    outputLength: request.m * request.n,
    ...(beta !== 0 && request.c ? { outputFill: request.c } : {}),
    call: ([a, b], c) => backend.gemm({ ...request, a: a!, b: b!, c }),
  });
}

/** Uploads `layer`, checks the handle and that the layer was left untouched, runs `linear` vs the reference. */
export async function checkLinear(
  backend: KernelBackend,
  layer: LinearLayer,
  input: Float32Array,
  batch: number,
  label = `linear ${layer.kind} ${layer.outFeatures}x${layer.inFeatures}`,
): Promise<void> {
  const snapshot = snapshotArrays(layer);
  const weights = await backend.uploadLinear(layer);
  try {
    checkResidentLinear(backend, weights, layer, label);
    assertArraysUnchanged(layer, snapshot, `${label}: uploadLinear`);
    const actual = await guardedLinear(backend, weights, input, batch, label);
    expectClose(label, actual, referenceLinear(layer, input, batch), backend.capabilities.nmseTolerance);
    assertArraysUnchanged(layer, snapshot, `${label}: linear`);
  } finally {
    weights.dispose();
  }
}

/** Uploads `signs`, checks the handle, runs `signMatMul` vs the reference. */
export async function checkSignMatMul(
  backend: KernelBackend,
  signs: PackedSigns,
  input: Float32Array,
  batch: number,
  label = `signMatMul ${signs.rows}x${signs.cols}`,
): Promise<void> {
  const snapshot = Uint32Array.from(signs.words);
  const resident = await backend.uploadSigns(signs);
  try {
    checkResidentSigns(backend, resident, signs, label);
    const actual = await guardedSignMatMul(backend, resident, input, batch, label);
    expectClose(label, actual, referenceSignMatMul(signs, input, batch), backend.capabilities.nmseTolerance);
    if (!signs.words.every((w, i) => w === snapshot[i])) {
      throw new ConformanceError(
        `${label}: the sign words were modified; backends must not write to caller data.`,
      );
    }
  } finally {
    resident.dispose();
  }
}

/**
 * `gemm` vs the reference, with C guarded. When `beta = 0` the given C is pre-filled with NaN (it must
 * not be read) and the call is repeated without `c`, which must return a fresh `m × n` array.
 */
export async function checkGemm(backend: KernelBackend, request: GemmRequest, label = 'gemm'): Promise<void> {
  const tolerance = backend.capabilities.nmseTolerance;
  const expected = referenceGemm(request);
  expectClose(label, await guardedGemm(backend, request, label), expected, tolerance);
  if ((request.beta ?? 0) === 0) {
    const { c: _unused, ...withoutC } = request;
    const fresh = await backend.gemm(withoutC);
    if (!(fresh instanceof Float32Array) || fresh.length !== request.m * request.n) {
      throw new ConformanceError(
        `${label}, without c: must return a new Float32Array of m·n = ${request.m * request.n} elements.`,
      );
    }
    expectClose(`${label}, without c`, fresh, expected, tolerance);
  }
}

/** The handle names this backend and describes the layer it holds. */
export function checkResidentLinear(
  backend: KernelBackend,
  handle: ResidentLinear,
  layer: LinearLayer,
  label: string,
): void {
  const problems: string[] = [];
  if (typeof handle !== 'object' || handle === null)
    throw new ConformanceError(`${label}: uploadLinear returned ${String(handle)}.`);
  if (handle.backendId !== backend.id)
    problems.push(`backendId is ${JSON.stringify(handle.backendId)}, not ${JSON.stringify(backend.id)}`);
  if (handle.kind !== layer.kind)
    problems.push(`kind is ${JSON.stringify(handle.kind)}, not ${JSON.stringify(layer.kind)}`);
  if (handle.outFeatures !== layer.outFeatures)
    problems.push(`outFeatures is ${handle.outFeatures}, not ${layer.outFeatures}`);
  if (handle.inFeatures !== layer.inFeatures)
    problems.push(`inFeatures is ${handle.inFeatures}, not ${layer.inFeatures}`);
  if (!Number.isSafeInteger(handle.byteLength) || handle.byteLength < 0)
    problems.push(`byteLength ${handle.byteLength} is not a non-negative integer`);
  if (typeof handle.dispose !== 'function') problems.push('dispose is not a function');
  if (problems.length)
    throw new ConformanceError(`${label}: the ResidentLinear handle is wrong: ${problems.join('; ')}.`);
}

export function checkResidentSigns(
  backend: KernelBackend,
  handle: ResidentSigns,
  signs: PackedSigns,
  label: string,
): void {
  const problems: string[] = [];
  if (typeof handle !== 'object' || handle === null)
    throw new ConformanceError(`${label}: uploadSigns returned ${String(handle)}.`);
  if (handle.backendId !== backend.id)
    problems.push(`backendId is ${JSON.stringify(handle.backendId)}, not ${JSON.stringify(backend.id)}`);
  if (handle.rows !== signs.rows) problems.push(`rows is ${handle.rows}, not ${signs.rows}`);
  if (handle.cols !== signs.cols) problems.push(`cols is ${handle.cols}, not ${signs.cols}`);
  if (!Number.isSafeInteger(handle.byteLength) || handle.byteLength < 0)
    problems.push(`byteLength ${handle.byteLength} is not a non-negative integer`);
  if (typeof handle.dispose !== 'function') problems.push('dispose is not a function');
  if (problems.length)
    throw new ConformanceError(`${label}: the ResidentSigns handle is wrong: ${problems.join('; ')}.`);
}

type ArraySnapshot = Map<string, Float32Array | Uint32Array>;

/** Copies of every typed array a layer holds (scales, weights, bias, sign words). */
function snapshotArrays(layer: LinearLayer): ArraySnapshot {
  const snapshot: ArraySnapshot = new Map();
  for (const [key, value] of Object.entries(layer)) {
    if (value instanceof Float32Array) snapshot.set(key, Float32Array.from(value));
    else if (value && typeof value === 'object' && (value as PackedSigns).words instanceof Uint32Array) {
      snapshot.set(key, Uint32Array.from((value as PackedSigns).words));
    }
  }
  return snapshot;
}

function assertArraysUnchanged(layer: LinearLayer, snapshot: ArraySnapshot, label: string): void {
  const fields = layer as unknown as Record<string, Float32Array | PackedSigns>;
  for (const [key, copy] of snapshot) {
    const field = fields[key]!;
    const current =
      field instanceof Float32Array
        ? new Uint32Array(field.buffer, field.byteOffset, field.length)
        : field.words;
    const before = copy instanceof Float32Array ? new Uint32Array(copy.buffer) : copy;
    if (current.length !== before.length || current.some((w, i) => w !== before[i])) {
      throw new ConformanceError(
        `${label} modified layer.${key}; backends must not write to the caller's layer.`,
      );
    }
  }
}
