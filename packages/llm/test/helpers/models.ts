import { cpu } from '@dbf/backend-cpu';
import type { KernelBackend } from '@dbf/core';
import { LlamaModel, type LoadedModel, loadHfModel, loadLlama2cModel, memoryFiles } from '../../src/index';
import { readShared, SOTU_DIR } from './shared';

let backend: Promise<KernelBackend> | undefined;
/** One CPU backend shared by a test file. */
export const cpuBackend = (): Promise<KernelBackend> => {
  backend ??= cpu().create();
  return backend;
};

/** sotu-3m's Hugging Face folder, from memory. */
export function loadSotuHf(): Promise<LoadedModel> {
  const file = (name: string) => readShared('models', 'sotu-3m', name);
  return loadHfModel(
    memoryFiles(
      {
        'config.json': file('config.json'),
        'model.safetensors': file('model.safetensors'),
        'tokenizer.model': file('tokenizer.model'),
      },
      SOTU_DIR,
    ),
  );
}

export function loadSotuLlama2c(ropeLayout?: 'rotate-half' | 'interleaved'): Promise<LoadedModel> {
  return loadLlama2cModel(readShared('models', 'sotu-3m', 'model.bin'), {
    tokenizer: readShared('models', 'sotu-3m', 'tokenizer.bin'),
    ...(ropeLayout ? { ropeLayout } : {}),
  });
}

export function loadStories(): Promise<LoadedModel> {
  return loadLlama2cModel(readShared('models', 'stories260K', 'stories260K.bin'), {
    tokenizer: readShared('models', 'stories260K', 'tok512.bin'),
  });
}

export async function runtime(loaded: LoadedModel): Promise<LlamaModel> {
  return LlamaModel.create(loaded.weights, await cpuBackend());
}
