import { FormatError } from '../errors';
import type { ScaleDtype } from '../layers/bits-per-weight';
import { wordsPerRow } from '../layers/packed-signs';
import type { Dtype } from './dtypes';
import { isPlainObject, quote } from './open-safetensors';
import { parseStrictJson } from './parse-strict-json';

/** Value of `dbf.format`. */
export const DBF_FORMAT = 'dbf';
/** The format version this library writes; it reads every version whose major is 1. */
export const DBF_VERSION = '1';
/** Reserved metadata keys. Every key starting with `dbf.` belongs to the format. */
export const DBF_KEYS = {
  format: 'dbf.format',
  version: 'dbf.version',
  provenance: 'dbf.provenance',
  /** One key per compressed layer: `dbf.layer.<layerName>`. */
  layerPrefix: 'dbf.layer.',
} as const;

export type BiasDtype = 'F32' | 'F16' | 'BF16';
export const DBF_ROLES = ['sign_a', 'sign_b', 'scale_a', 'scale_mid', 'scale_b'] as const;
export const MDBF_ROLES = ['sign_a', 'sign_b', 'env_a', 'env_qu', 'env_qv', 'env_b'] as const;
export type DbfTensorRole = (typeof DBF_ROLES)[number] | (typeof MDBF_ROLES)[number] | 'bias';

/** The JSON record stored (as a string) under `dbf.layer.<layerName>`. */
export interface DbfLayerRecord {
  readonly kind: 'dbf' | 'mdbf';
  /** `[n, m]`: out features, in features. */
  readonly shape: readonly [number, number];
  readonly k: number;
  readonly l: number;
  readonly scale_dtype: ScaleDtype;
  /** Role → tensor name. */
  readonly tensors: Readonly<Partial<Record<DbfTensorRole, string>>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
}

/** The roles a layer of `kind` must have, in canonical order (bias, optional, comes last). */
export function requiredRoles(kind: 'dbf' | 'mdbf'): readonly DbfTensorRole[] {
  return kind === 'dbf' ? DBF_ROLES : MDBF_ROLES;
}

/** The dtype(s) and shape the tensor of `role` must have in a layer described by `record`. */
export function expectedTensor(
  record: DbfLayerRecord,
  role: DbfTensorRole,
): { dtypes: readonly Dtype[]; shape: number[] } {
  const [n, m] = record.shape;
  const { k, l } = record;
  const s = [record.scale_dtype];
  switch (role) {
    case 'sign_a':
      return { dtypes: ['U32'], shape: [n, wordsPerRow(k)] };
    case 'sign_b':
      return { dtypes: ['U32'], shape: [k, wordsPerRow(m)] };
    case 'scale_a':
      return { dtypes: s, shape: [n] };
    case 'scale_mid':
      return { dtypes: s, shape: [k] };
    case 'scale_b':
      return { dtypes: s, shape: [m] };
    case 'env_a':
      return { dtypes: s, shape: [n, l] };
    case 'env_qu':
    case 'env_qv':
      return { dtypes: s, shape: [k, l] };
    case 'env_b':
      return { dtypes: s, shape: [m, l] };
    case 'bias':
      return { dtypes: ['F32', 'F16', 'BF16'], shape: [n] };
  }
}

/** Parses and checks one layer record; throws `INVALID_LAYER` (or `DUPLICATE_KEY`) with the rule broken. */
export function parseLayerRecord(layerName: string, text: string): DbfLayerRecord {
  const where = `Layer ${quote(layerName)}`;
  if (layerName.length === 0)
    throw new FormatError('INVALID_LAYER', `The metadata key '${DBF_KEYS.layerPrefix}' names no layer.`);
  const value = parseStrictJson(text, 'INVALID_LAYER', `${where}: the record`);
  const fail = (why: string): never => {
    throw new FormatError('INVALID_LAYER', `${where}: ${why}`);
  };
  if (!isPlainObject(value)) return fail('the record must be a JSON object.');
  const { kind, shape, k, l, scale_dtype: scaleDtype, tensors, provenance } = value;
  if (kind !== 'dbf' && kind !== 'mdbf')
    return fail(`kind must be "dbf" or "mdbf", got ${JSON.stringify(kind) ?? 'nothing'}.`);
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every(isPositiveInteger)) {
    return fail('shape must be [n, m] with positive integers.');
  }
  if (!isPositiveInteger(k)) return fail('k must be a positive integer.');
  if (!isPositiveInteger(l)) return fail('l must be a positive integer.');
  if (kind === 'dbf' && l !== 1) return fail(`a "dbf" layer has l = 1, got ${l}.`);
  if (scaleDtype !== 'F16' && scaleDtype !== 'F32') return fail('scale_dtype must be "F16" or "F32".');
  if (!isPlainObject(tensors)) return fail('tensors must be an object mapping roles to tensor names.');
  const roles = requiredRoles(kind);
  for (const role of roles) {
    if (!Object.hasOwn(tensors, role))
      return fail(`tensors has no "${role}" (a ${kind} layer needs ${roles.join(', ')}).`);
  }
  for (const [role, tensorName] of Object.entries(tensors)) {
    if (role !== 'bias' && !(roles as readonly string[]).includes(role)) {
      return fail(
        `tensors has the unknown role ${quote(role)} (a ${kind} layer has ${roles.join(', ')} and optionally bias).`,
      );
    }
    if (typeof tensorName !== 'string' || tensorName.length === 0)
      return fail(`tensors.${role} must be a tensor name.`);
  }
  if (provenance !== undefined && !isPlainObject(provenance))
    return fail('provenance must be a JSON object.');
  return {
    kind,
    shape: [shape[0] as number, shape[1] as number],
    k: k as number,
    l: l as number,
    scale_dtype: scaleDtype,
    tensors: tensors as Record<DbfTensorRole, string>,
    ...(provenance !== undefined ? { provenance: provenance as Record<string, unknown> } : {}),
  };
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}
