import { blobSource, FormatError, memorySource } from '@dbf/core';
import type { ModelFiles } from '@dbf/llm';

/** Bytes received so far for one file, reported while it downloads. */
export type DownloadProgress = (name: string, loaded: number, total: number) => void;

/**
 * A model folder served over HTTP (the bundled models). Each file is fetched once and kept: the loader
 * opens `model.safetensors` more than once, and a second download would double the wait.
 */
export function urlFiles(base: string, onProgress?: DownloadProgress): ModelFiles {
  const folder = base.endsWith('/') ? base : `${base}/`;
  const fetched = new Map<string, Promise<Uint8Array | undefined>>();
  return {
    location: folder,
    async open(name) {
      let bytes = fetched.get(name);
      if (!bytes) {
        bytes = download(new URL(name, folder).href, name, onProgress);
        fetched.set(name, bytes);
      }
      const data = await bytes;
      return data ? memorySource(data) : undefined;
    },
  };
}

async function download(
  url: string,
  name: string,
  onProgress?: DownloadProgress,
): Promise<Uint8Array | undefined> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new FormatError('IO_ERROR', `Could not fetch ${url}: ${errorText(error)}`, { cause: error });
  }
  // A missing optional file (e.g. model.safetensors.index.json) is a 404, not an error.
  if (response.status === 404) return undefined;
  if (!response.ok) throw new FormatError('IO_ERROR', `Fetching ${url} failed: HTTP ${response.status}.`);
  // A server with an SPA fallback answers every path with the page itself: treat that as missing too.
  if ((response.headers.get('content-type') ?? '').startsWith('text/html')) return undefined;
  const total = Number(response.headers.get('content-length') ?? 0);
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(name, loaded, Math.max(total, loaded));
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * Files the user picked: a whole folder (`webkitdirectory`, names are `folder/file`) or several files.
 * Files are read lazily through Blob slices, so a large model is never copied whole into memory first.
 */
export function pickedFiles(files: readonly File[]): ModelFiles {
  const byName = new Map<string, File>();
  const depth = (f: File) => (f.webkitRelativePath || f.name).split('/').length;
  for (const file of files) {
    // A folder pick includes subfolders; the model's own files are the shallowest ones of each name.
    const other = byName.get(file.name);
    if (!other || depth(file) < depth(other)) byName.set(file.name, file);
  }
  // Messages name files as `<folder>/model.safetensors`: the picked folder's name, when there is one.
  const folder = files.find((f) => f.webkitRelativePath)?.webkitRelativePath.split('/')[0];
  return {
    location: folder || 'picked files',
    async open(name) {
      const file = byName.get(name);
      return file ? blobSource(file) : undefined;
    },
    async list() {
      return [...byName.keys()];
    },
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
