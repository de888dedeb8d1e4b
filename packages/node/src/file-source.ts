import { type FileHandle, open } from 'node:fs/promises';
import { type ByteSource, checkRange, FormatError, InvalidArgumentError } from '@dbf/core';

/** A `ByteSource` backed by an open file. Reads only the ranges asked for; `close()` releases the handle. */
export interface FileSource extends ByteSource {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * Opens `path` for random-access reads. Each `read` allocates exactly the bytes requested (already
 * bounds-checked against the file size), so a reader never loads more of a large file than it needs.
 */
export async function fileSource(path: string): Promise<FileSource> {
  if (typeof path !== 'string' || path.length === 0)
    throw new InvalidArgumentError('fileSource needs a file path.');
  let handle: FileHandle;
  let size: number;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new FormatError('IO_ERROR', `Cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error('not a regular file');
    size = stat.size;
  } catch (error) {
    await handle.close();
    throw new FormatError('IO_ERROR', `Cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let closed = false;
  return {
    path,
    size,
    async read(offset, length) {
      if (closed) throw new FormatError('IO_ERROR', `${path} has been closed.`);
      checkRange(offset, length, size);
      const out = new Uint8Array(length);
      let done = 0;
      try {
        // FileHandle.read may return fewer bytes than asked: loop until the range is complete.
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0)
            throw new Error(`unexpected end of file at byte ${offset + done} (was the file truncated?)`);
          done += bytesRead;
        }
      } catch (error) {
        throw new FormatError(
          'IO_ERROR',
          `Reading ${length} bytes at offset ${offset} of ${path} failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
