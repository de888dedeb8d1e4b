import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpu } from '@dbf/backend-cpu';
import type { KernelBackend } from '@dbf/core';
import { type LoadedModel, loadLlama2cModel } from '@dbf/llm';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** ../shared beside the repository (or $DBF_SHARED_DIR): models and text are read from there, never copied. */
export const SHARED_DIR = process.env.DBF_SHARED_DIR ?? resolve(repoRoot, '../shared');
export const sharedPath = (...parts: string[]) => join(SHARED_DIR, ...parts);

/** stories260K (dim 64, 5 layers, 35 linears): the smallest real model, fast enough to compress in tests. */
export function loadStories(): Promise<LoadedModel> {
  return loadLlama2cModel(readFileSync(sharedPath('models', 'stories260K', 'stories260K.bin')), {
    tokenizer: readFileSync(sharedPath('models', 'stories260K', 'tok512.bin')),
  });
}

export const sotuText = () => readFileSync(sharedPath('data', 'sotu', 'sotu-2001-2021.txt'), 'utf8');

let backend: Promise<KernelBackend> | undefined;
export const cpuBackend = () => {
  backend ??= cpu().create();
  return backend;
};
