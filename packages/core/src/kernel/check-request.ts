import { BackendError, InvalidArgumentError } from '../errors';
import { assertInteger, checkedProduct } from '../util/assert';
import type {
  GemmRequest,
  LinearRequest,
  ResidentLinear,
  ResidentSigns,
  SignMatMulRequest,
} from './kernel-backend';

/**
 * Argument checks every backend runs before a kernel, so that all backends reject bad calls with the
 * same errors. Each returns the output array to write into (the caller's, or a new one).
 */
export function checkLinearRequest(backendId: string, request: LinearRequest): Float32Array {
  if (typeof request !== 'object' || request === null)
    throw new InvalidArgumentError('linear needs a request object.');
  const { weights, input, batch, output } = request;
  checkResident(backendId, weights, 'weights');
  if (!LINEAR_KINDS.has((weights as { kind?: unknown }).kind)) {
    throw new InvalidArgumentError(
      "weights must be a ResidentLinear from uploadLinear (kind 'dbf', 'mdbf' or 'dense').",
    );
  }
  assertInteger('weights.outFeatures', weights.outFeatures, 1);
  assertInteger('weights.inFeatures', weights.inFeatures, 1);
  assertInteger('batch', batch, 1);
  return checkVectors(input, output, batch, weights.inFeatures, weights.outFeatures);
}

export function checkSignMatMulRequest(backendId: string, request: SignMatMulRequest): Float32Array {
  if (typeof request !== 'object' || request === null)
    throw new InvalidArgumentError('signMatMul needs a request object.');
  const { signs, input, batch, output } = request;
  checkResident(backendId, signs, 'signs');
  if ('kind' in signs)
    throw new InvalidArgumentError('signs must be a ResidentSigns from uploadSigns, not a ResidentLinear.');
  assertInteger('signs.rows', signs.rows, 1);
  assertInteger('signs.cols', signs.cols, 1);
  assertInteger('batch', batch, 1);
  return checkVectors(input, output, batch, signs.cols, signs.rows);
}

export function checkGemmRequest(request: GemmRequest): Float32Array {
  if (typeof request !== 'object' || request === null)
    throw new InvalidArgumentError('gemm needs a request object.');
  if (
    (request.transposeA !== undefined && typeof request.transposeA !== 'boolean') ||
    (request.transposeB !== undefined && typeof request.transposeB !== 'boolean')
  ) {
    throw new InvalidArgumentError('transposeA and transposeB must be booleans when given.');
  }
  const { a, b, m, n, k, c } = request;
  assertInteger('m', m, 1);
  assertInteger('n', n, 1);
  assertInteger('k', k, 1);
  expectLength('a', a, checkedProduct('m·k', [m, k]));
  expectLength('b', b, checkedProduct('k·n', [k, n]));
  const alpha = request.alpha ?? 1;
  const beta = request.beta ?? 0;
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) {
    throw new InvalidArgumentError(`alpha and beta must be finite numbers, got ${alpha} and ${beta}.`);
  }
  if (c !== undefined) expectLength('c', c, m * n);
  else if (beta !== 0) throw new InvalidArgumentError('beta is non-zero, so c must be given.');
  if (c !== undefined && (c === a || c === b || overlaps(c, a) || overlaps(c, b))) {
    throw new InvalidArgumentError('c must not share memory with a or b.');
  }
  return c ?? new Float32Array(m * n);
}

const LINEAR_KINDS = new Set<unknown>(['dbf', 'mdbf', 'dense']);

function checkResident(backendId: string, handle: ResidentLinear | ResidentSigns, name: string): void {
  if (typeof handle !== 'object' || handle === null) {
    throw new InvalidArgumentError(`${name} must be a resident handle from uploadLinear/uploadSigns.`);
  }
  if (handle.backendId !== backendId) {
    throw new InvalidArgumentError(
      `${name} was uploaded to backend '${handle.backendId}', not '${backendId}'; upload it to this backend first.`,
    );
  }
}

function checkVectors(
  input: Float32Array,
  output: Float32Array | undefined,
  batch: number,
  inLength: number,
  outLength: number,
): Float32Array {
  expectLength('input', input, checkedProduct('batch·inFeatures', [batch, inLength]));
  const outSize = checkedProduct('batch·outFeatures', [batch, outLength]);
  if (output === undefined) return new Float32Array(outSize);
  expectLength('output', output, outSize);
  if (overlaps(output, input)) throw new InvalidArgumentError('output must not share memory with input.');
  return output;
}

function expectLength(name: string, array: unknown, length: number): void {
  if (!(array instanceof Float32Array)) throw new InvalidArgumentError(`${name} must be a Float32Array.`);
  if (array.length !== length) {
    throw new InvalidArgumentError(`${name} must have ${length} elements, got ${array.length}.`);
  }
}

function overlaps(x: Float32Array, y: Float32Array): boolean {
  if (x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

/** Throws `DISPOSED` when a backend or handle has been disposed. */
export function assertNotDisposed(backendId: string, disposed: boolean, what = 'backend'): void {
  if (disposed) throw new BackendError(backendId, 'DISPOSED', `This ${what} has been disposed.`);
}
