import { DbfError, FormatError, InvalidArgumentError } from '../errors';
import type { ByteSource } from '../io/byte-source';
import { assertInteger } from '../util/assert';
import { decodeBfloat16Array, decodeFloat16Array } from '../util/float16';
import { type Dtype, dtypeSize, HOST_IS_LITTLE_ENDIAN, isDtype } from './dtypes';
import { parseStrictJson } from './parse-strict-json';

/** Header size limit when none is given (the safetensors reference value). */
export const DEFAULT_MAX_HEADER_SIZE = 100_000_000;

export interface SafetensorsOptions {
  /** Largest accepted JSON header in bytes. Default `DEFAULT_MAX_HEADER_SIZE` (100 MB). */
  readonly maxHeaderSize?: number;
}

/** One tensor entry of a validated header. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** `[begin, end)` relative to the start of the data buffer, as written in the header. */
  readonly dataOffsets: readonly [number, number];
  readonly elementCount: number;
  readonly byteLength: number;
  /** Absolute offset of the tensor's first byte in the file: `8 + headerLength + begin`. */
  readonly fileOffset: number;
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  /** `N`, the JSON header length in bytes (padding included). */
  readonly headerLength: number;
  /** Absolute file offset of the data buffer: `8 + N`. */
  readonly dataStart: number;
  readonly dataLength: number;
  /** The `__metadata__` map; empty when the header has none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in header order. */
  readonly tensors: readonly TensorInfo[];
}

/** The typed array each dtype is read into by `readTyped`: F16/BF16 stay raw 16-bit patterns. */
export type TensorData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | Int16Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int8Array
  | Uint8Array;

/** An open safetensors file. Tensor data is read from the source only when asked for. */
export interface SafetensorsFile extends SafetensorsHeader {
  readonly source: ByteSource;
  /** Tensor names in header order. */
  readonly names: readonly string[];
  has(name: string): boolean;
  /** The tensor's entry; throws `FormatError('TENSOR_NOT_FOUND')` if there is none. */
  info(name: string): TensorInfo;
  /** The tensor's raw little-endian bytes (possibly a view of the source's memory: do not write to it). */
  readBytes(name: string): Promise<Uint8Array>;
  /** The tensor as the typed array matching its dtype; a zero-copy view when the bytes are aligned. */
  readTyped(name: string): Promise<TensorData>;
  /** A float tensor (F64, F32, F16 or BF16) converted to float32. F32 data is a zero-copy view when aligned. */
  readFloat32(name: string): Promise<Float32Array>;
  /** A U32 tensor; a zero-copy view when aligned. */
  readUint32(name: string): Promise<Uint32Array>;
  /** Closes the underlying source. */
  close(): Promise<void>;
}

/**
 * Opens a safetensors file: reads the 8-byte length and the JSON header, validates every container rule
 * of docs/format.md §10 (phases A–D), and returns without reading any tensor data.
 */
export async function openSafetensors(
  source: ByteSource,
  options: SafetensorsOptions = {},
): Promise<SafetensorsFile> {
  checkSource(source);
  const maxHeaderSize = assertInteger('maxHeaderSize', options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE, 2);
  if (source.size < 8) {
    throw new FormatError(
      'HEADER_TOO_SMALL',
      `The file has ${source.size} bytes; a safetensors file starts with an 8-byte header length.`,
    );
  }
  const prefix = await readExact(source, 0, 8);
  const headerLength = readHeaderLength(prefix, source.size, { maxHeaderSize });
  const headerBytes = await readExact(source, 8, headerLength);
  return new SafetensorsFileImpl(source, parseSafetensorsHeader(headerBytes, source.size));
}

/**
 * Decodes and bounds the header length `N` from the first 8 bytes of a file of `fileSize` bytes.
 * Nothing is allocated from `N` before it has been checked against `maxHeaderSize` and the file size.
 */
export function readHeaderLength(
  prefix: Uint8Array,
  fileSize: number,
  options: SafetensorsOptions = {},
): number {
  const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new FormatError(
      'HEADER_TOO_SMALL',
      `The file has ${fileSize} bytes; a safetensors file starts with an 8-byte header length.`,
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  // Values of 2^53 and above cannot be held exactly in a number; they exceed every limit anyway.
  const length = high < 2 ** 21 ? high * 2 ** 32 + low : Number.POSITIVE_INFINITY;
  const shown = `${BigInt(high) * 2n ** 32n + BigInt(low)}`;
  if (length < 2) {
    throw new FormatError(
      'HEADER_TOO_SMALL',
      `The header length is ${shown}; the smallest JSON header, "{}", has 2 bytes.`,
    );
  }
  if (length > maxHeaderSize) {
    throw new FormatError(
      'HEADER_TOO_LARGE',
      `The header length ${shown} exceeds the limit of ${maxHeaderSize} bytes.`,
    );
  }
  if (length > fileSize - 8) {
    throw new FormatError(
      'HEADER_TOO_LARGE',
      `The header length ${shown} exceeds the ${fileSize - 8} bytes that follow the length prefix.`,
    );
  }
  return length;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const HEADER_FIELDS = new Set(['dtype', 'shape', 'data_offsets']);

/** Validates the JSON header bytes (the `N` bytes after the length prefix) of a file of `fileSize` bytes. */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = headerBytes.byteLength;
  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  if (dataLength < 0) {
    throw new FormatError(
      'HEADER_TOO_LARGE',
      `The header (${headerLength} bytes) does not fit in a file of ${fileSize} bytes.`,
    );
  }
  if (headerBytes[0] !== 0x7b) {
    throw new FormatError(
      'INVALID_HEADER',
      `The JSON header must start with '{' (0x7b), found byte 0x${(headerBytes[0] ?? 0).toString(16).padStart(2, '0')}.`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch (error) {
    throw new FormatError('INVALID_HEADER', 'The header is not valid UTF-8.', { cause: error });
  }
  const json = parseStrictJson(text, 'INVALID_HEADER', 'The header');
  if (!isPlainObject(json)) throw new FormatError('INVALID_HEADER', 'The header must be a JSON object.');

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(entry);
      continue;
    }
    tensors.push(checkEntry(name, entry, dataStart, dataLength));
  }
  checkCoverage(tensors, dataLength);
  return { headerLength, dataStart, dataLength, metadata, tensors };
}

function checkMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value))
    throw new FormatError('INVALID_METADATA', '__metadata__ must be a JSON object of strings.');
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new FormatError(
        'INVALID_METADATA',
        `__metadata__[${quote(key)}] must be a string, got ${jsonType(v)}.`,
      );
    }
  }
  return value as Record<string, string>;
}

function checkEntry(name: string, entry: unknown, dataStart: number, dataLength: number): TensorInfo {
  const label = `Tensor ${quote(name)}`;
  if (!isPlainObject(entry))
    throw new FormatError('INVALID_TENSOR_INFO', `${label}: the entry must be a JSON object.`);
  for (const field of HEADER_FIELDS) {
    if (!Object.hasOwn(entry, field))
      throw new FormatError('INVALID_TENSOR_INFO', `${label}: the entry has no '${field}'.`);
  }
  for (const field of Object.keys(entry)) {
    if (!HEADER_FIELDS.has(field)) {
      throw new FormatError(
        'INVALID_TENSOR_INFO',
        `${label}: unknown field ${quote(field)} (allowed: dtype, shape, data_offsets).`,
      );
    }
  }
  const {
    dtype,
    shape,
    data_offsets: offsets,
  } = entry as { dtype: unknown; shape: unknown; data_offsets: unknown };
  if (typeof dtype !== 'string')
    throw new FormatError('INVALID_TENSOR_INFO', `${label}: dtype must be a string.`);
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new FormatError(
      'INVALID_TENSOR_INFO',
      `${label}: shape must be an array of non-negative integers.`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw new FormatError(
      'INVALID_TENSOR_INFO',
      `${label}: data_offsets must be [begin, end] with non-negative integers.`,
    );
  }
  if (!isDtype(dtype))
    throw new FormatError('UNSUPPORTED_DTYPE', `${label}: unsupported dtype ${quote(dtype)}.`);
  let elementCount = 1;
  for (const d of shape as number[]) {
    elementCount *= d;
    if (!Number.isSafeInteger(d) || !Number.isSafeInteger(elementCount)) {
      throw new FormatError(
        'VALIDATION_OVERFLOW',
        `${label}: the element count of shape [${shape.join(', ')}] overflows.`,
      );
    }
  }
  const byteLength = elementCount * dtypeSize(dtype);
  if (!Number.isSafeInteger(byteLength)) {
    throw new FormatError(
      'VALIDATION_OVERFLOW',
      `${label}: the byte size of shape [${shape.join(', ')}] × ${dtype} overflows.`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin || end > dataLength) {
    throw new FormatError(
      'INVALID_OFFSET',
      `${label}: data_offsets [${begin}, ${end}] must satisfy begin ≤ end ≤ ${dataLength} (the data buffer size).`,
    );
  }
  if (end - begin !== byteLength) {
    throw new FormatError(
      'SIZE_MISMATCH',
      `${label}: shape [${shape.join(', ')}] × ${dtype} is ${byteLength} bytes but data_offsets span ${end - begin}.`,
    );
  }
  return {
    name,
    dtype,
    shape: shape as number[],
    dataOffsets: [begin, end],
    elementCount,
    byteLength,
    fileOffset: dataStart + begin,
  };
}

/** The ranges, sorted, must tile the data buffer exactly: no overlap, no gap, no trailing bytes. */
function checkCoverage(tensors: readonly TensorInfo[], dataLength: number): void {
  const sorted = [...tensors].sort(
    (x, y) => x.dataOffsets[0] - y.dataOffsets[0] || x.dataOffsets[1] - y.dataOffsets[1],
  );
  let cursor = 0;
  let previous: TensorInfo | undefined;
  for (const t of sorted) {
    const [begin, end] = t.dataOffsets;
    if (begin < cursor) {
      throw new FormatError(
        'OVERLAPPING_TENSORS',
        `Tensor ${quote(t.name)} [${begin}, ${end}] overlaps tensor ${quote(previous!.name)} which ends at ${cursor}.`,
      );
    }
    if (begin > cursor) {
      throw new FormatError(
        'BUFFER_HOLE',
        `Bytes [${cursor}, ${begin}) of the data buffer belong to no tensor.`,
      );
    }
    cursor = end;
    previous = t;
  }
  if (cursor !== dataLength) {
    throw new FormatError(
      'BUFFER_HOLE',
      `Bytes [${cursor}, ${dataLength}) at the end of the data buffer belong to no tensor.`,
    );
  }
}

class SafetensorsFileImpl implements SafetensorsFile {
  readonly headerLength: number;
  readonly dataStart: number;
  readonly dataLength: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly TensorInfo[];
  readonly names: readonly string[];
  private readonly byName: ReadonlyMap<string, TensorInfo>;

  constructor(
    readonly source: ByteSource,
    header: SafetensorsHeader,
  ) {
    this.headerLength = header.headerLength;
    this.dataStart = header.dataStart;
    this.dataLength = header.dataLength;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.names = header.tensors.map((t) => t.name);
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.byName.get(name);
    if (!info) throw new FormatError('TENSOR_NOT_FOUND', `The file has no tensor named ${quote(name)}.`);
    return info;
  }

  readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return readExact(this.source, info.fileOffset, info.byteLength);
  }

  async readTyped(name: string): Promise<TensorData> {
    const info = this.info(name);
    const bytes = await this.readBytes(name);
    switch (info.dtype) {
      case 'F64':
        return typedView(bytes, Float64Array);
      case 'F32':
        return typedView(bytes, Float32Array);
      case 'F16':
      case 'BF16':
      case 'U16':
        return typedView(bytes, Uint16Array);
      case 'I16':
        return typedView(bytes, Int16Array);
      case 'I64':
        return typedView(bytes, BigInt64Array);
      case 'U64':
        return typedView(bytes, BigUint64Array);
      case 'I32':
        return typedView(bytes, Int32Array);
      case 'U32':
        return typedView(bytes, Uint32Array);
      case 'I8':
        return typedView(bytes, Int8Array);
      default:
        return bytes;
    }
  }

  async readFloat32(name: string): Promise<Float32Array> {
    const { dtype } = this.info(name);
    if (dtype !== 'F32' && dtype !== 'F64' && dtype !== 'F16' && dtype !== 'BF16') {
      throw new InvalidArgumentError(
        `Tensor ${quote(name)} has dtype ${dtype}; readFloat32 reads F64, F32, F16 and BF16 tensors.`,
      );
    }
    const data = await this.readTyped(name);
    if (dtype === 'F32') return data as Float32Array;
    if (dtype === 'F64') return Float32Array.from(data as Float64Array);
    return dtype === 'F16'
      ? decodeFloat16Array(data as Uint16Array)
      : decodeBfloat16Array(data as Uint16Array);
  }

  async readUint32(name: string): Promise<Uint32Array> {
    const { dtype } = this.info(name);
    if (dtype !== 'U32')
      throw new InvalidArgumentError(
        `Tensor ${quote(name)} has dtype ${dtype}; readUint32 reads U32 tensors.`,
      );
    return (await this.readTyped(name)) as Uint32Array;
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}

interface TypedArrayConstructor<T> {
  readonly BYTES_PER_ELEMENT: number;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
}

/** A view when the host is little-endian and the bytes are aligned for `T`; otherwise an aligned, byte-swapped copy. */
function typedView<T>(bytes: Uint8Array, ctor: TypedArrayConstructor<T>): T {
  const size = ctor.BYTES_PER_ELEMENT;
  const count = bytes.byteLength / size;
  if (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % size === 0)
    return new ctor(bytes.buffer, bytes.byteOffset, count);
  const copy = bytes.slice();
  if (!HOST_IS_LITTLE_ENDIAN) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return new ctor(copy.buffer, 0, count);
}

/** `source.read` with its contract checked: exactly `length` bytes, IO failures as `FormatError('IO_ERROR')`. */
export async function readExact(source: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await source.read(offset, length);
  } catch (error) {
    if (DbfError.isInstance(error)) throw error;
    throw new FormatError(
      'IO_ERROR',
      `Reading ${length} bytes at offset ${offset} failed: ${String(error)}`,
      { cause: error },
    );
  }
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) {
    throw new FormatError(
      'IO_ERROR',
      `The source returned ${bytes instanceof Uint8Array ? bytes.byteLength : 'no'} bytes for a read of ${length} bytes at offset ${offset}.`,
    );
  }
  return bytes;
}

export function checkSource(source: ByteSource): void {
  if (typeof source !== 'object' || source === null || typeof source.read !== 'function') {
    throw new InvalidArgumentError(
      'source must be a ByteSource (an object with size and read(offset, length)).',
    );
  }
  assertInteger('source.size', source.size, 0);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** A name for messages: JSON-quoted and shortened, since fuzzed or hostile names can be huge. */
export function quote(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
}
