import { InvalidArgumentError } from '../errors';

/** Throws unless `value` is an integer in [min, max]. `name` is the argument's name in the message. */
export function assertInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new InvalidArgumentError(`${name} must be an integer ${range}, got ${describe(value)}.`);
  }
  return value;
}

/** Throws unless `value` is a Float32Array of exactly `length` elements. */
export function assertFloat32Array(name: string, value: unknown, length: number): Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new InvalidArgumentError(`${name} must be a Float32Array, got ${describe(value)}.`);
  }
  if (value.length !== length) {
    throw new InvalidArgumentError(`${name} must have ${length} elements, got ${value.length}.`);
  }
  return value;
}

/** Throws unless every element is finite (no NaN or ±Infinity). */
export function assertFinite(name: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      throw new InvalidArgumentError(`${name}[${i}] is ${v}; all values must be finite.`);
    }
  }
}

/** Multiplies non-negative integers, throwing if the product leaves the safe-integer range. */
export function checkedProduct(name: string, factors: readonly number[]): number {
  let product = 1;
  for (const f of factors) {
    product *= f;
    if (!Number.isSafeInteger(product)) {
      throw new InvalidArgumentError(`${name} overflows: ${factors.join(' × ')} is too large.`);
    }
  }
  return product;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Uint8Array).length})`;
  if (Array.isArray(value)) return `Array(${value.length})`;
  return typeof value;
}
