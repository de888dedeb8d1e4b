import type { LlamaConfig } from '../config/llama-config';
import type { LlamaWeights } from '../runtime/llama-weights';
import type { Tokenizer } from '../tokenizer/tokenizer';

/** Where a model came from: a Hugging Face folder, a llama2.c checkpoint, or a DBF-compressed folder. */
export type ModelFormat = 'huggingface' | 'llama2c' | 'dbf';

/** A model read into host memory, ready for `LlamaModel.create(weights, backend)`. */
export interface LoadedModel {
  readonly format: ModelFormat;
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
  /** Undefined when the folder has no tokenizer this runtime reads. */
  readonly tokenizer: Tokenizer | undefined;
  /** Names of the linears stored compressed (DBF or MDBF); empty for an uncompressed model. */
  readonly compressed: readonly string[];
  /** The files read, relative to the folder (or as given). */
  readonly files: readonly string[];
}
