import { InvalidArgumentError } from '../errors';
import { assertInteger } from '../util/assert';
import { type Dtype, dtypeSize, HOST_IS_LITTLE_ENDIAN, isDtype } from './dtypes';
import type { TensorInfo } from './open-safetensors';

/** A tensor to write. `data` is either raw little-endian bytes (Uint8Array) or a typed array of the dtype's element size. */
export interface SafetensorsTensorInput {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

export interface EncodeSafetensorsOptions {
  /** The `__metadata__` map (string → string). */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * `'aligned'` (default): tensors are laid out by element size, largest first, so that with the data buffer
   * starting on an 8-byte boundary every tensor is aligned to its element size. `'given'`: input order.
   */
  readonly order?: 'aligned' | 'given';
}

/** An encoded file, ready to stream: the header is built, tensor bytes are only referenced. */
export interface EncodedFile {
  readonly totalBytes: number;
  /** The 8-byte length prefix plus the padded JSON header. */
  readonly header: Uint8Array;
  /** The tensors in data-buffer order, with their final offsets. */
  readonly tensors: readonly TensorInfo[];
  /** The header, then each tensor's bytes in order (views of the inputs, not copies). */
  chunks(): AsyncIterable<Uint8Array>;
  /** The same bytes, synchronously. */
  chunksSync(): Iterable<Uint8Array>;
}

/**
 * Builds a safetensors file. The JSON header is padded with spaces so the data buffer starts at a multiple
 * of 8; tensors are laid out contiguously in data-buffer order (no holes).
 */
export function encodeSafetensors(
  tensors: readonly SafetensorsTensorInput[],
  options: EncodeSafetensorsOptions = {},
): EncodedFile {
  if (!Array.isArray(tensors))
    throw new InvalidArgumentError('tensors must be an array of { name, dtype, shape, data }.');
  const metadata = options.metadata ?? {};
  checkStringMap('metadata', metadata);
  const order = options.order ?? 'aligned';
  if (order !== 'aligned' && order !== 'given')
    throw new InvalidArgumentError(`order must be 'aligned' or 'given', got ${String(order)}.`);

  const names = new Set<string>();
  const checked = tensors.map((t, index) => {
    const bytes = checkTensor(t, index);
    if (names.has(t.name)) throw new InvalidArgumentError(`Two tensors are named ${JSON.stringify(t.name)}.`);
    names.add(t.name);
    return { tensor: t, bytes };
  });
  // Stable sort: equal element sizes keep their input order.
  const laidOut =
    order === 'aligned'
      ? [...checked].sort((x, y) => dtypeSize(y.tensor.dtype) - dtypeSize(x.tensor.dtype))
      : checked;

  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) parts.push(`"__metadata__":${stringifyStringMap(metadata)}`);
  let offset = 0;
  const ranges: [number, number][] = [];
  for (const { tensor, bytes } of laidOut) {
    const range: [number, number] = [offset, offset + bytes.byteLength];
    ranges.push(range);
    offset = range[1];
    parts.push(
      `${JSON.stringify(tensor.name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],"data_offsets":[${range[0]},${range[1]}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  // Pad with spaces so that 8 + N is a multiple of 8: the data buffer then starts 8-byte aligned.
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const header = new Uint8Array(8 + headerLength).fill(0x20, 8 + json.byteLength);
  const view = new DataView(header.buffer);
  view.setUint32(0, headerLength, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  header.set(json, 8);
  const dataStart = header.byteLength;
  const infos: TensorInfo[] = laidOut.map(({ tensor, bytes }, i) => ({
    name: tensor.name,
    dtype: tensor.dtype,
    shape: [...tensor.shape],
    dataOffsets: ranges[i]!,
    elementCount: bytes.byteLength / dtypeSize(tensor.dtype),
    byteLength: bytes.byteLength,
    fileOffset: dataStart + ranges[i]![0],
  }));
  const totalBytes = dataStart + offset;
  function* chunksSync(): Generator<Uint8Array> {
    yield header;
    for (const { bytes } of laidOut) if (bytes.byteLength > 0) yield bytes;
  }
  return {
    totalBytes,
    header,
    tensors: infos,
    chunksSync,
    async *chunks() {
      yield* chunksSync();
    },
  };
}

/** Concatenates an encoded file into one buffer. */
export function encodedToBytes(file: EncodedFile): Uint8Array {
  const out = new Uint8Array(file.totalBytes);
  let offset = 0;
  for (const chunk of file.chunksSync()) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function checkTensor(t: SafetensorsTensorInput, index: number): Uint8Array {
  if (typeof t !== 'object' || t === null)
    throw new InvalidArgumentError(`tensors[${index}] must be an object.`);
  if (typeof t.name !== 'string') throw new InvalidArgumentError(`tensors[${index}].name must be a string.`);
  const label = `Tensor ${JSON.stringify(t.name)}`;
  if (t.name === '__metadata__')
    throw new InvalidArgumentError(`${label}: the name __metadata__ is reserved.`);
  if (!isDtype(t.dtype))
    throw new InvalidArgumentError(`${label}: unsupported dtype ${JSON.stringify(t.dtype)}.`);
  if (!Array.isArray(t.shape))
    throw new InvalidArgumentError(`${label}: shape must be an array of integers.`);
  let count = 1;
  for (const [i, d] of t.shape.entries()) {
    count *= assertInteger(`${label} shape[${i}]`, d, 0);
    if (!Number.isSafeInteger(count))
      throw new InvalidArgumentError(`${label}: shape [${t.shape.join(', ')}] is too large.`);
  }
  const size = dtypeSize(t.dtype);
  const expected = count * size;
  if (!ArrayBuffer.isView(t.data))
    throw new InvalidArgumentError(`${label}: data must be a Uint8Array or typed array.`);
  if (t.data.byteLength !== expected) {
    throw new InvalidArgumentError(
      `${label}: shape [${t.shape.join(', ')}] × ${t.dtype} needs ${expected} bytes, data has ${t.data.byteLength}.`,
    );
  }
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const elementSize = (t.data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  if (elementSize === 1 || HOST_IS_LITTLE_ENDIAN) return bytes;
  if (elementSize !== size) {
    throw new InvalidArgumentError(
      `${label}: on a big-endian host pass ${t.dtype} data as little-endian bytes (Uint8Array).`,
    );
  }
  const swapped = bytes.slice();
  for (let i = 0; i < swapped.length; i += size) swapped.subarray(i, i + size).reverse();
  return swapped;
}

export function checkStringMap(name: string, map: Readonly<Record<string, string>>): void {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new InvalidArgumentError(`${name} must be an object of string values.`);
  }
  for (const [key, value] of Object.entries(map)) {
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(
        `${name}[${JSON.stringify(key)}] must be a string, got ${typeof value}.`,
      );
    }
  }
}

/** JSON of a string map, written key by key so the output is exactly what the writer chose. */
export function stringifyStringMap(map: Readonly<Record<string, string>>): string {
  return `{${Object.entries(map)
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join(',')}}`;
}
