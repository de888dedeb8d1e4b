import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DbfError, FormatError, InvalidArgumentError } from '@dbf/core';

/**
 * Writes `data` to `path` atomically: into a temporary file in the same directory, fsync'd, then renamed
 * over the target. Readers see either the old file or the complete new one, never a partial write. On any
 * error (including one thrown by the chunk iterator) the temporary file is removed and an existing target
 * is left untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array,
): Promise<void> {
  if (typeof path !== 'string' || path.length === 0)
    throw new InvalidArgumentError('writeFileAtomic needs a file path.');
  const chunks = data instanceof Uint8Array ? [data] : data;
  if (
    chunks === null ||
    typeof chunks !== 'object' ||
    !(Symbol.asyncIterator in chunks || Symbol.iterator in chunks)
  ) {
    throw new InvalidArgumentError('data must be a Uint8Array or an (async) iterable of Uint8Array chunks.');
  }
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx');
    let position = 0;
    for await (const chunk of chunks) {
      if (!(chunk instanceof Uint8Array)) throw new InvalidArgumentError('Every chunk must be a Uint8Array.');
      let written = 0;
      while (written < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written, position);
        written += bytesWritten;
        position += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    // File-system failures become IO_ERROR; anything else (a failing chunk iterator, a DbfError) passes through.
    if (!DbfError.isInstance(error) && error instanceof Error && 'syscall' in error) {
      throw new FormatError('IO_ERROR', `Writing ${path} failed: ${error.message}`, { cause: error });
    }
    throw error;
  }
  await syncDirectory(dir);
}

/** Makes the rename durable. Not every platform can fsync a directory (Windows cannot); that is not an error. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort only.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
