import {
  type DbfEntry,
  type DbfFile,
  type DbfOpenOptions,
  type EncodeDbfOptions,
  encodeDbf,
  openDbf,
} from '@dbf/core';
import { fileSource } from './file-source';
import { writeFileAtomic } from './write-file-atomic';

/** Encodes `entries` as a DBF file and writes it atomically to `path`, streaming tensor by tensor. */
export async function saveDbfFile(
  path: string,
  entries: readonly DbfEntry[],
  options: EncodeDbfOptions = {},
): Promise<{ bytes: number }> {
  const encoded = encodeDbf(entries, options);
  await writeFileAtomic(path, encoded.chunks());
  return { bytes: encoded.totalBytes };
}

/** Opens a DBF file lazily (header only). Call `close()` on the result to release the file handle. */
export async function openDbfFile(path: string, options: DbfOpenOptions = {}): Promise<DbfFile> {
  const source = await fileSource(path);
  try {
    return await openDbf(source, options);
  } catch (error) {
    await source.close();
    throw error;
  }
}
