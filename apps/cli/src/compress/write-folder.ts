import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError } from '@dbf/core';
import { writeFileAtomic } from '@dbf/node';

export type FolderFile = Uint8Array | string | AsyncIterable<Uint8Array>;

/**
 * Writes a whole folder atomically: every file goes into a hidden sibling folder, which is fsync'd and
 * renamed to `dir` only when complete. With `replace`, an existing `dir` is swapped out and deleted after
 * the rename; without it, an existing `dir` is an error. A failure leaves `dir` as it was.
 */
export async function writeFolderAtomic(
  dir: string,
  files: Readonly<Record<string, FolderFile>>,
  options: { replace?: boolean } = {},
): Promise<void> {
  const exists = await stat(dir).then(
    () => true,
    () => false,
  );
  if (exists && !options.replace)
    throw new FormatError(
      'IO_ERROR',
      `${dir} already exists. Pass --force to replace it, or choose another --out.`,
    );
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tag = randomBytes(6).toString('hex');
  const temp = join(parent, `.${basename(dir)}.${tag}.tmp`);
  await mkdir(temp);
  try {
    for (const [name, content] of Object.entries(files)) {
      const data = typeof content === 'string' ? new TextEncoder().encode(content) : content;
      await writeFileAtomic(join(temp, name), data);
    }
    await syncPath(temp);
    if (exists) {
      const old = join(parent, `.${basename(dir)}.${tag}.old`);
      await rename(dir, old);
      await rename(temp, dir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(temp, dir);
    }
    await syncPath(parent);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r').catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}
