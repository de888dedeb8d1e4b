import { type ByteSource, FormatError, InvalidArgumentError } from '@dbf/core';
import type { RopeLayout } from '../config/llama-config';
import type { Llama2cTokenizerOptions } from '../tokenizer/llama2c-tokenizer';
import { loadHfModel } from './load-hf-model';
import { loadLlama2cModel } from './load-llama2c';
import type { LoadedModel } from './loaded-model';
import type { ModelFiles } from './model-files';

/**
 * The few file-system operations `loadModelFromPath` needs, injected by the caller so that this package
 * stays free of Node built-ins (in Node: `fs.stat`, `fs.readdir` and `@dbf/node`'s `fileSource`).
 */
export interface FileSystemAccess {
  /** What is at `path`, or undefined when nothing is. */
  kind(path: string): Promise<'file' | 'directory' | undefined>;
  /** Opens a file for random-access reads. */
  open(path: string): Promise<ByteSource>;
  /** Names (not paths) of the entries of a directory. */
  list(path: string): Promise<readonly string[]>;
}

export interface LoadFromPathOptions {
  /** Tokenizer file for a llama2.c checkpoint; default `tokenizer.bin` (or `tokenizer.model`) beside it. */
  readonly tokenizer?: string;
  readonly tokenizerOptions?: Llama2cTokenizerOptions;
  /** RoPE layout for llama2.c checkpoints (see `Llama2cLoadOptions.ropeLayout`). */
  readonly ropeLayout?: RopeLayout;
}

/**
 * Loads the model at `path`, whichever kind it is:
 * - a folder with `config.json`: a Hugging Face or DBF-compressed folder (`loadHfModel`);
 * - a `.safetensors` file: that file as the weights of the folder it is in (which has `config.json`);
 * - any other file: a llama2.c checkpoint, with its tokenizer from `options.tokenizer`, else
 *   `tokenizer.bin` or `tokenizer.model` beside it, else the single `tok*.bin` beside it.
 */
export async function loadModelFromPath(
  path: string,
  fs: FileSystemAccess,
  options: LoadFromPathOptions = {},
): Promise<LoadedModel> {
  if (typeof path !== 'string' || path.length === 0)
    throw new InvalidArgumentError('path must be a non-empty string.');
  const kind = await fs.kind(path);
  if (kind === undefined) throw new FormatError('IO_ERROR', `${path} does not exist.`);
  if (kind === 'directory') {
    if ((await fs.kind(joinPath(path, 'config.json'))) !== 'file') {
      throw new FormatError(
        'IO_ERROR',
        `${path} has no config.json. Give a Hugging Face or compressed model folder, or a llama2.c .bin file.`,
      );
    }
    return loadHfModel(folderFiles(path, fs));
  }
  const dir = dirname(path);
  const base = basename(path);
  if (base.endsWith('.safetensors')) return loadHfModel(folderFiles(dir, fs), { weightFiles: [base] });
  if (base === 'config.json') return loadHfModel(folderFiles(dir, fs));

  let tokenizerPath = options.tokenizer;
  if (tokenizerPath === undefined) {
    const names = await fs.list(dir);
    const candidates = ['tokenizer.bin', 'tokenizer.model'].filter((n) => names.includes(n));
    const tok = names.filter((n) => n !== base && /^tok.*\.bin$/.test(n));
    const pick = candidates[0] ?? (tok.length === 1 ? tok[0] : undefined);
    if (pick !== undefined) tokenizerPath = joinPath(dir, pick);
  }
  const checkpoint = await fs.open(path);
  let tokenizer: ByteSource | undefined;
  try {
    if (tokenizerPath !== undefined) tokenizer = await fs.open(tokenizerPath);
  } catch (error) {
    await checkpoint.close?.();
    throw error;
  }
  return loadLlama2cModel(checkpoint, {
    name: path,
    ...(tokenizer ? { tokenizer, tokenizerName: tokenizerPath } : {}),
    ...(options.tokenizerOptions ? { tokenizerOptions: options.tokenizerOptions } : {}),
    ...(options.ropeLayout ? { ropeLayout: options.ropeLayout } : {}),
  });
}

/** A folder of a `FileSystemAccess` as `ModelFiles`. */
export function folderFiles(dir: string, fs: FileSystemAccess): ModelFiles {
  return {
    location: dir,
    async open(name) {
      const path = joinPath(dir, name);
      return (await fs.kind(path)) === 'file' ? fs.open(path) : undefined;
    },
    list: () => fs.list(dir),
  };
}

function joinPath(dir: string, name: string): string {
  return /[\\/]$/.test(dir) ? `${dir}${name}` : `${dir}/${name}`;
}

function dirname(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  const at = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  if (at < 0) return '.';
  return at === 0 ? trimmed.slice(0, 1) : trimmed.slice(0, at);
}

function basename(path: string): string {
  const trimmed = path.replace(/[\\/]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
}
