import { FormatError } from '../errors';
import type { ByteSource } from '../io/byte-source';
import type { ScaleDtype } from '../layers/bits-per-weight';
import { findNonzeroPadding, type PackedSigns, wordsPerRow } from '../layers/packed-signs';
import type { CompressedLayer } from '../layers/types';
import {
  type BiasDtype,
  DBF_FORMAT,
  DBF_KEYS,
  type DbfLayerRecord,
  type DbfTensorRole,
  expectedTensor,
  parseLayerRecord,
  requiredRoles,
} from './dbf-layer-record';
import {
  isPlainObject,
  openSafetensors,
  quote,
  type SafetensorsFile,
  type SafetensorsOptions,
  type TensorInfo,
} from './open-safetensors';
import { parseStrictJson } from './parse-strict-json';

export type DbfOpenOptions = SafetensorsOptions;

/** What the header says about one compressed layer (no tensor data read). */
export interface DbfLayerInfo {
  readonly name: string;
  readonly kind: 'dbf' | 'mdbf';
  readonly outFeatures: number;
  readonly inFeatures: number;
  readonly rank: number;
  /** MDBF envelope rank `l`; 1 for DBF. */
  readonly envelopeRank: number;
  readonly scaleDtype: ScaleDtype;
  /** The bias dtype, when the layer has a bias. */
  readonly biasDtype?: BiasDtype;
  /** Role → tensor name. */
  readonly tensors: Readonly<Partial<Record<DbfTensorRole, string>>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
  /** Bytes of the layer's sign and scale/envelope tensors (bias excluded). */
  readonly storedBytes: number;
  readonly biasBytes: number;
  /** `8 · storedBytes / (n·m)`: equals `bitsPerWeight(shape)` of src/layers/bits-per-weight.ts. */
  readonly bitsPerWeight: number;
}

/** Bits-per-weight totals of a file. */
export interface DbfBitsSummary {
  /** Σ n·m over compressed layers. */
  readonly compressedWeights: number;
  /** Σ storedBytes over compressed layers (bias excluded). */
  readonly compressedBytes: number;
  /** `8 · compressedBytes / compressedWeights` (0 without compressed layers). */
  readonly compressedBitsPerWeight: number;
  /** Σ (n·m, + n with a bias) over compressed layers + the element count of every plain tensor. */
  readonly parameters: number;
  /** Every tensor byte: the size of the data buffer. */
  readonly tensorBytes: number;
  /** `8 · tensorBytes / parameters` (0 for a file without parameters). */
  readonly overallBitsPerWeight: number;
}

/** An open DBF file. Header and metadata are validated; tensor data is read on request. */
export interface DbfFile {
  /** The underlying safetensors container (plain tensors are read through it). */
  readonly container: SafetensorsFile;
  /** The `dbf.version` string. */
  readonly version: string;
  /** The parsed `dbf.provenance` object, if the file has one. */
  readonly provenance?: Readonly<Record<string, unknown>>;
  /** All `__metadata__` entries, `dbf.*` included. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Compressed layers in metadata order. */
  readonly layers: readonly DbfLayerInfo[];
  /** Tensors that belong to no compressed layer (embeddings, norms...). */
  readonly plainTensors: readonly TensorInfo[];
  readonly bits: DbfBitsSummary;
  /** The layer's header facts; throws `FormatError('TENSOR_NOT_FOUND')` for an unknown name. */
  layer(name: string): DbfLayerInfo;
  /**
   * Reads one layer's tensors, checks sign padding (`NONZERO_PADDING`) and that scales are finite
   * (`INVALID_LAYER`), converts scales to float32. Arrays may be views of the source's memory.
   */
  loadLayer(name: string): Promise<CompressedLayer>;
  close(): Promise<void>;
}

/** What `validateDbf` checked. */
export interface DbfValidationSummary {
  readonly version: string;
  readonly provenance?: Readonly<Record<string, unknown>>;
  readonly layers: readonly DbfLayerInfo[];
  readonly plainTensors: readonly TensorInfo[];
  readonly bits: DbfBitsSummary;
}

const VERSION_PATTERN = /^([1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))?$/;

/** Opens a DBF file and validates its header and metadata without reading tensor data. */
export async function openDbf(source: ByteSource, options: DbfOpenOptions = {}): Promise<DbfFile> {
  return interpretDbf(await openSafetensors(source, options));
}

/**
 * Full validation: the header, the metadata, and every layer's data (sign padding, finite scales).
 * Returns a summary or throws the first `FormatError`. Does not close `source`.
 */
export async function validateDbf(
  source: ByteSource,
  options: DbfOpenOptions = {},
): Promise<DbfValidationSummary> {
  const file = await openDbf(source, options);
  for (const layer of file.layers) await file.loadLayer(layer.name);
  return {
    version: file.version,
    ...(file.provenance ? { provenance: file.provenance } : {}),
    layers: file.layers,
    plainTensors: file.plainTensors,
    bits: file.bits,
  };
}

/** Checks the DBF rules on an open safetensors container. */
export function interpretDbf(container: SafetensorsFile): DbfFile {
  const { metadata } = container;
  const format = Object.hasOwn(metadata, DBF_KEYS.format) ? metadata[DBF_KEYS.format] : undefined;
  if (format !== DBF_FORMAT) {
    throw new FormatError(
      'NOT_DBF',
      format === undefined
        ? `This safetensors file has no '${DBF_KEYS.format}' metadata key: it is not a DBF file.`
        : `'${DBF_KEYS.format}' is ${quote(format)}, expected "${DBF_FORMAT}".`,
    );
  }
  const version = Object.hasOwn(metadata, DBF_KEYS.version) ? metadata[DBF_KEYS.version] : undefined;
  if (version === undefined)
    throw new FormatError('UNSUPPORTED_VERSION', `The file has no '${DBF_KEYS.version}' metadata key.`);
  const major = VERSION_PATTERN.exec(version)?.[1];
  if (major !== '1') {
    throw new FormatError(
      'UNSUPPORTED_VERSION',
      major === undefined
        ? `'${DBF_KEYS.version}' is ${quote(version)}; it must be a positive integer such as "1".`
        : `This reader supports DBF format version 1; the file has version ${quote(version)}.`,
    );
  }
  let provenance: Record<string, unknown> | undefined;
  const provenanceText = Object.hasOwn(metadata, DBF_KEYS.provenance)
    ? metadata[DBF_KEYS.provenance]
    : undefined;
  if (provenanceText !== undefined) {
    const value = parseStrictJson(provenanceText, 'INVALID_METADATA', `'${DBF_KEYS.provenance}'`);
    if (!isPlainObject(value))
      throw new FormatError('INVALID_METADATA', `'${DBF_KEYS.provenance}' must be a JSON object.`);
    provenance = value;
  }

  const claimed = new Map<string, string>();
  const layers: DbfLayerInfo[] = [];
  const records = new Map<string, { info: DbfLayerInfo; record: DbfLayerRecord }>();
  for (const [key, text] of Object.entries(metadata)) {
    if (!key.startsWith(DBF_KEYS.layerPrefix)) continue;
    const name = key.slice(DBF_KEYS.layerPrefix.length);
    const record = parseLayerRecord(name, text);
    const info = checkLayerTensors(container, name, record, claimed);
    layers.push(info);
    records.set(name, { info, record });
  }
  const plainTensors = container.tensors.filter((t) => !claimed.has(t.name));
  const bits = summarizeBits(layers, plainTensors, container.dataLength);

  const layer = (name: string) => {
    const entry = records.get(name);
    if (!entry)
      throw new FormatError('TENSOR_NOT_FOUND', `The file has no compressed layer named ${quote(name)}.`);
    return entry;
  };
  return {
    container,
    version,
    ...(provenance ? { provenance } : {}),
    metadata,
    layers,
    plainTensors,
    bits,
    layer: (name) => layer(name).info,
    loadLayer: async (name) => loadLayer(container, layer(name).info),
    close: () => container.close(),
  };
}

function checkLayerTensors(
  container: SafetensorsFile,
  name: string,
  record: DbfLayerRecord,
  claimed: Map<string, string>,
): DbfLayerInfo {
  const roles: DbfTensorRole[] = [...requiredRoles(record.kind)];
  if (record.tensors.bias !== undefined) roles.push('bias');
  let storedBytes = 0;
  let biasBytes = 0;
  let biasDtype: BiasDtype | undefined;
  for (const role of roles) {
    const tensorName = record.tensors[role]!;
    const where = `Layer ${quote(name)} ${role}`;
    if (!container.has(tensorName))
      throw new FormatError('MISSING_TENSOR', `${where}: the file has no tensor ${quote(tensorName)}.`);
    const owner = claimed.get(tensorName);
    if (owner !== undefined) {
      throw new FormatError(
        'TENSOR_MISMATCH',
        `${where}: tensor ${quote(tensorName)} is already used as ${owner}; each tensor belongs to one layer role.`,
      );
    }
    claimed.set(tensorName, `${quote(name)} ${role}`);
    const info = container.info(tensorName);
    const expected = expectedTensor(record, role);
    if (!expected.dtypes.includes(info.dtype)) {
      throw new FormatError(
        'TENSOR_MISMATCH',
        `${where}: tensor ${quote(tensorName)} has dtype ${info.dtype}, expected ${expected.dtypes.join(' or ')}.`,
      );
    }
    if (info.shape.length !== expected.shape.length || info.shape.some((d, i) => d !== expected.shape[i])) {
      throw new FormatError(
        'TENSOR_MISMATCH',
        `${where}: tensor ${quote(tensorName)} has shape [${info.shape.join(', ')}], expected [${expected.shape.join(', ')}].`,
      );
    }
    if (role === 'bias') {
      biasBytes = info.byteLength;
      biasDtype = info.dtype as BiasDtype;
    } else {
      storedBytes += info.byteLength;
    }
  }
  const [n, m] = record.shape;
  return {
    name,
    kind: record.kind,
    outFeatures: n,
    inFeatures: m,
    rank: record.k,
    envelopeRank: record.l,
    scaleDtype: record.scale_dtype,
    ...(biasDtype ? { biasDtype } : {}),
    tensors: record.tensors,
    ...(record.provenance ? { provenance: record.provenance } : {}),
    storedBytes,
    biasBytes,
    bitsPerWeight: (8 * storedBytes) / (n * m),
  };
}

function summarizeBits(
  layers: readonly DbfLayerInfo[],
  plain: readonly TensorInfo[],
  tensorBytes: number,
): DbfBitsSummary {
  let compressedWeights = 0;
  let compressedBytes = 0;
  let parameters = 0;
  for (const l of layers) {
    const weights = l.outFeatures * l.inFeatures;
    compressedWeights += weights;
    compressedBytes += l.storedBytes;
    parameters += weights + (l.biasDtype ? l.outFeatures : 0);
  }
  for (const t of plain) parameters += t.elementCount;
  return {
    compressedWeights,
    compressedBytes,
    compressedBitsPerWeight: compressedWeights ? (8 * compressedBytes) / compressedWeights : 0,
    parameters,
    tensorBytes,
    overallBitsPerWeight: parameters ? (8 * tensorBytes) / parameters : 0,
  };
}

async function loadLayer(container: SafetensorsFile, info: DbfLayerInfo): Promise<CompressedLayer> {
  const { name, outFeatures: n, inFeatures: m, rank: k, envelopeRank: l } = info;
  const t = info.tensors;
  const signA = await readSigns(container, name, t.sign_a!, n, k);
  const signB = await readSigns(container, name, t.sign_b!, k, m);
  const floats = async (role: DbfTensorRole) => {
    const values = await container.readFloat32(t[role]!);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) {
        throw new FormatError(
          'INVALID_LAYER',
          `Layer ${quote(name)} ${role}[${i}] is ${values[i]}; scales and biases must be finite.`,
        );
      }
    }
    return values;
  };
  // Roles in canonical order (docs/format.md §Validation, phase G), the bias last.
  const layer: CompressedLayer =
    info.kind === 'dbf'
      ? {
          kind: 'dbf',
          outFeatures: n,
          inFeatures: m,
          rank: k,
          signA,
          signB,
          scaleA: await floats('scale_a'),
          scaleMid: await floats('scale_mid'),
          scaleB: await floats('scale_b'),
        }
      : {
          kind: 'mdbf',
          outFeatures: n,
          inFeatures: m,
          rank: k,
          envelopeRank: l,
          signA,
          signB,
          envA: await floats('env_a'),
          envQU: await floats('env_qu'),
          envQV: await floats('env_qv'),
          envB: await floats('env_b'),
        };
  return t.bias !== undefined ? { ...layer, bias: await floats('bias') } : layer;
}

async function readSigns(
  container: SafetensorsFile,
  layer: string,
  tensor: string,
  rows: number,
  cols: number,
): Promise<PackedSigns> {
  const signs: PackedSigns = {
    rows,
    cols,
    wordsPerRow: wordsPerRow(cols),
    words: await container.readUint32(tensor),
  };
  const row = findNonzeroPadding(signs);
  if (row >= 0) {
    throw new FormatError(
      'NONZERO_PADDING',
      `Layer ${quote(layer)} tensor ${quote(tensor)}: row ${row} has padding bits set beyond column ${cols}; they must be zero.`,
    );
  }
  return signs;
}
