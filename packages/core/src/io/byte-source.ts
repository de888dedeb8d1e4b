import { FormatError, InvalidArgumentError } from '../errors';

/**
 * Random-access bytes: a file, a Blob, a buffer in memory, or HTTP Range requests. Readers of the
 * format only ever ask for the ranges they need, so a multi-GB file is never read whole.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at `offset`. Implementations may return a view of memory they own;
   * callers must not write to it.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the underlying resource (file handle...), if any. */
  close?(): Promise<void>;
}

/** A source over bytes already in memory. `read` returns zero-copy views. */
export function memorySource(bytes: Uint8Array | ArrayBuffer): ByteSource {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (!(data instanceof Uint8Array))
    throw new InvalidArgumentError('memorySource needs a Uint8Array or ArrayBuffer.');
  return {
    size: data.byteLength,
    async read(offset, length) {
      checkRange(offset, length, data.byteLength);
      return data.subarray(offset, offset + length);
    },
  };
}

/** A source over a Blob or File (browsers and Node ≥ 20): reads slices on demand. */
export function blobSource(blob: Blob): ByteSource {
  if (typeof Blob === 'undefined' || !(blob instanceof Blob))
    throw new InvalidArgumentError('blobSource needs a Blob or File.');
  return {
    size: blob.size,
    async read(offset, length) {
      checkRange(offset, length, blob.size);
      try {
        return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      } catch (error) {
        throw new FormatError('IO_ERROR', `Reading ${length} bytes at ${offset} failed: ${String(error)}`, {
          cause: error,
        });
      }
    },
  };
}

/** Throws unless `[offset, offset+length)` lies within `[0, size)`. Shared by every ByteSource. */
export function checkRange(offset: number, length: number, size: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new FormatError(
      'IO_ERROR',
      `Read of ${length} bytes at offset ${offset} is outside the source (${size} bytes).`,
    );
  }
}
