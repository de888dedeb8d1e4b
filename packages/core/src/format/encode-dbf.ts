import { InvalidArgumentError } from '../errors';
import type { ScaleDtype } from '../layers/bits-per-weight';
import type { CompressedLayer } from '../layers/types';
import { validateLayer } from '../layers/validate-layer';
import { float32ToBfloat16, float32ToFloat16 } from '../util/float16';
import { type BiasDtype, DBF_FORMAT, DBF_KEYS, DBF_VERSION, type DbfTensorRole } from './dbf-layer-record';
import type { Dtype } from './dtypes';
import {
  checkStringMap,
  type EncodedFile,
  encodedToBytes,
  encodeSafetensors,
  type SafetensorsTensorInput,
  stringifyStringMap,
} from './encode-safetensors';

/** A compressed layer to write under `name` (its tensors are named `<name>.sign_a`, ...). */
export interface DbfLayerEntry {
  readonly name: string;
  readonly layer: CompressedLayer;
  /** Storage dtype of scales / envelopes. Default 'F16'. */
  readonly scaleDtype?: ScaleDtype;
  /** Storage dtype of the bias, if the layer has one. Default 'F32'. */
  readonly biasDtype?: BiasDtype;
  /** Per-layer provenance, stored in the layer record. */
  readonly provenance?: Readonly<Record<string, unknown>>;
}

/** A plain tensor (embedding, norm...) written as is. */
export type DbfTensorEntry = SafetensorsTensorInput;

export type DbfEntry = DbfLayerEntry | DbfTensorEntry;

/** How a file was produced: stored as JSON under `dbf.provenance`. */
export interface DbfProvenance {
  readonly algorithm: string;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly seed?: number;
  /** SHA-256 (hex) of the source checkpoint. */
  readonly source_sha256?: string;
  readonly [key: string]: unknown;
}

export interface EncodeDbfOptions {
  /** Extra `__metadata__` entries (string → string). Keys starting with `dbf.` are reserved. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly provenance?: DbfProvenance;
}

/**
 * Builds a DBF file: validates every layer, lays tensors out by element size (4-byte tensors first) after a
 * header padded to a multiple of 8, and returns a streamable `EncodedFile` whose chunks reference the
 * layers' sign words instead of copying them.
 */
export function encodeDbf(entries: readonly DbfEntry[], options: EncodeDbfOptions = {}): EncodedFile {
  if (!Array.isArray(entries))
    throw new InvalidArgumentError('entries must be an array of layer or tensor entries.');
  const user = options.metadata ?? {};
  checkStringMap('metadata', user);
  for (const key of Object.keys(user)) {
    if (key.startsWith('dbf.'))
      throw new InvalidArgumentError(
        `metadata key ${JSON.stringify(key)}: keys starting with 'dbf.' are reserved for the format.`,
      );
  }
  const metadata: Record<string, string> = { [DBF_KEYS.format]: DBF_FORMAT, [DBF_KEYS.version]: DBF_VERSION };
  if (options.provenance !== undefined) {
    const p = options.provenance;
    if (typeof p !== 'object' || p === null || typeof p.algorithm !== 'string') {
      throw new InvalidArgumentError('provenance must be an object with at least { algorithm: string }.');
    }
    metadata[DBF_KEYS.provenance] = jsonObject('provenance', p);
  }

  const tensors: SafetensorsTensorInput[] = [];
  const layerNames = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    if (typeof entry !== 'object' || entry === null || typeof entry.name !== 'string') {
      throw new InvalidArgumentError(
        `entries[${index}] must be { name, layer, ... } or { name, dtype, shape, data }.`,
      );
    }
    if (!('layer' in entry)) {
      tensors.push(entry);
      continue;
    }
    const { name } = entry;
    if (name.length === 0)
      throw new InvalidArgumentError(`entries[${index}]: a layer name must not be empty.`);
    if (layerNames.has(name)) throw new InvalidArgumentError(`Two layers are named ${JSON.stringify(name)}.`);
    layerNames.add(name);
    const { record, layerTensors } = layerToTensors(entry);
    metadata[`${DBF_KEYS.layerPrefix}${name}`] = record;
    tensors.push(...layerTensors);
  }
  const seen = new Set<string>();
  for (const t of tensors) {
    if (layerNames.has(t.name)) {
      throw new InvalidArgumentError(
        `The name ${JSON.stringify(t.name)} is both a layer and a tensor; use distinct names.`,
      );
    }
    if (seen.has(t.name)) {
      throw new InvalidArgumentError(
        `The tensor name ${JSON.stringify(t.name)} is used twice (layer tensors are named '<layer>.<role>').`,
      );
    }
    seen.add(t.name);
  }
  Object.assign(metadata, user);
  return encodeSafetensors(tensors, { metadata, order: 'aligned' });
}

/** `encodeDbf` concatenated into one buffer, for in-memory use. */
export function encodeDbfToBytes(entries: readonly DbfEntry[], options: EncodeDbfOptions = {}): Uint8Array {
  return encodedToBytes(encodeDbf(entries, options));
}

function layerToTensors(entry: DbfLayerEntry): { record: string; layerTensors: SafetensorsTensorInput[] } {
  const { name, layer } = entry;
  if (typeof layer !== 'object' || layer === null || (layer.kind !== 'dbf' && layer.kind !== 'mdbf')) {
    throw new InvalidArgumentError(
      `Layer ${JSON.stringify(name)}: only 'dbf' and 'mdbf' layers are compressed; write dense weights as plain tensors.`,
    );
  }
  validateLayer(layer, name);
  const scaleDtype = entry.scaleDtype ?? 'F16';
  if (scaleDtype !== 'F16' && scaleDtype !== 'F32') {
    throw new InvalidArgumentError(
      `Layer ${JSON.stringify(name)}: scaleDtype must be 'F16' or 'F32', got ${JSON.stringify(scaleDtype)}.`,
    );
  }
  const biasDtype = entry.biasDtype ?? 'F32';
  if (biasDtype !== 'F32' && biasDtype !== 'F16' && biasDtype !== 'BF16') {
    throw new InvalidArgumentError(
      `Layer ${JSON.stringify(name)}: biasDtype must be 'F32', 'F16' or 'BF16', got ${JSON.stringify(biasDtype)}.`,
    );
  }
  const n = layer.outFeatures;
  const m = layer.inFeatures;
  const k = layer.rank;
  const l = layer.kind === 'mdbf' ? layer.envelopeRank : 1;
  const out: SafetensorsTensorInput[] = [];
  const roles: Partial<Record<DbfTensorRole, string>> = {};
  const add = (role: DbfTensorRole, dtype: Dtype, shape: number[], data: ArrayBufferView) => {
    const tensorName = `${name}.${role}`;
    roles[role] = tensorName;
    out.push({ name: tensorName, dtype, shape, data });
  };
  const floats = (role: DbfTensorRole, values: Float32Array, shape: number[], dtype: Dtype = scaleDtype) =>
    add(role, dtype, shape, encodeFloats(name, role, values, dtype));
  add('sign_a', 'U32', [n, layer.signA.wordsPerRow], layer.signA.words);
  add('sign_b', 'U32', [k, layer.signB.wordsPerRow], layer.signB.words);
  if (layer.kind === 'dbf') {
    floats('scale_a', layer.scaleA, [n]);
    floats('scale_mid', layer.scaleMid, [k]);
    floats('scale_b', layer.scaleB, [m]);
  } else {
    floats('env_a', layer.envA, [n, l]);
    floats('env_qu', layer.envQU, [k, l]);
    floats('env_qv', layer.envQV, [k, l]);
    floats('env_b', layer.envB, [m, l]);
  }
  if (layer.bias) floats('bias', layer.bias, [n], biasDtype);
  const record =
    `{"kind":"${layer.kind}","shape":[${n},${m}],"k":${k},"l":${l},"scale_dtype":"${scaleDtype}",` +
    `"tensors":${stringifyStringMap(roles as Record<string, string>)}` +
    (entry.provenance !== undefined
      ? `,"provenance":${jsonObject(`layer ${JSON.stringify(name)} provenance`, entry.provenance)}`
      : '') +
    '}';
  return { record, layerTensors: out };
}

/** Encodes float32 values to the storage dtype; a finite value that would become ±Inf is an error. */
function encodeFloats(
  layer: string,
  role: DbfTensorRole,
  values: Float32Array,
  dtype: Dtype,
): ArrayBufferView {
  if (dtype === 'F32') return values;
  const bits = new Uint16Array(values.length);
  const toBits = dtype === 'F16' ? float32ToFloat16 : float32ToBfloat16;
  // ±Inf: exponent all ones, zero mantissa (values are finite here, validated by validateLayer).
  const infinity = dtype === 'F16' ? 0x7c00 : 0x7f80;
  for (let i = 0; i < values.length; i++) {
    const b = toBits(values[i]!);
    if ((b & 0x7fff) === infinity) {
      const hint = role === 'bias' ? "biasDtype 'F32'" : "scaleDtype 'F32'";
      throw new InvalidArgumentError(
        `Layer ${JSON.stringify(layer)} ${role}[${i}] = ${values[i]} overflows ${dtype} (it would be stored as Infinity); use ${hint}.`,
      );
    }
    bits[i] = b;
  }
  return bits;
}

/** JSON of a plain object, refusing values JSON cannot represent faithfully. */
function jsonObject(what: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v))
        throw new InvalidArgumentError(`${what} contains ${v}, which JSON cannot hold.`);
      if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') {
        throw new InvalidArgumentError(`${what} contains a ${typeof v}, which JSON cannot hold.`);
      }
      return v;
    });
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError(`${what} cannot be written as JSON: ${String(error)}`, { cause: error });
  }
  if (text === undefined || !text.startsWith('{'))
    throw new InvalidArgumentError(`${what} must be a JSON object.`);
  return text;
}
