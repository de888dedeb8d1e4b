import { type ByteSource, blobSource, FormatError, InvalidArgumentError, memorySource } from '@dbf/core';

/**
 * The files of a model folder, however they are stored (disk, memory, Blobs, HTTP): loaders ask for files
 * by their name relative to the folder, so they never touch a file system themselves.
 */
export interface ModelFiles {
  /** Where the files are, for messages (a path, a URL...). */
  readonly location: string;
  /** Opens `name`; resolves `undefined` when the folder has no such file. */
  open(name: string): Promise<ByteSource | undefined>;
  /** File names in the folder, when they can be listed (used to find `*.safetensors` weights). */
  list?(): Promise<readonly string[]>;
}

/** Files given in memory: bytes, Blobs/Files (browsers), or ready ByteSources, by name. */
export function memoryFiles(
  files: Readonly<Record<string, Uint8Array | ArrayBuffer | Blob | ByteSource>>,
  location = 'memory',
): ModelFiles {
  if (typeof files !== 'object' || files === null)
    throw new InvalidArgumentError('memoryFiles needs an object mapping file names to contents.');
  return {
    location,
    async open(name) {
      if (!Object.hasOwn(files, name)) return undefined;
      return toByteSource(files[name]!, name);
    },
    async list() {
      return Object.keys(files);
    },
  };
}

/** A ByteSource over bytes, an ArrayBuffer, a Blob, or a ByteSource itself. */
export function toByteSource(
  value: Uint8Array | ArrayBuffer | Blob | ByteSource,
  name = 'input',
): ByteSource {
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return memorySource(value);
  if (typeof Blob !== 'undefined' && value instanceof Blob) return blobSource(value);
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ByteSource).read === 'function' &&
    typeof (value as ByteSource).size === 'number'
  )
    return value as ByteSource;
  throw new InvalidArgumentError(`${name} must be a Uint8Array, ArrayBuffer, Blob or ByteSource.`);
}

/** The whole content of a source. */
export async function readAll(source: ByteSource): Promise<Uint8Array> {
  return source.size === 0 ? new Uint8Array(0) : source.read(0, source.size);
}

/** Reads a small text file of the folder, or `undefined` when it is absent. */
export async function readText(files: ModelFiles, name: string): Promise<string | undefined> {
  const source = await files.open(name);
  if (!source) return undefined;
  try {
    const bytes = await readAll(source);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (error) {
      throw new FormatError('INVALID_METADATA', `${files.location}/${name} is not valid UTF-8.`, {
        cause: error,
      });
    }
  } finally {
    await source.close?.();
  }
}
