/**
 * @dbf/llm — the model runtime of the dbf SDK: loaders for Hugging Face llama folders, llama2.c
 * checkpoints and DBF-compressed folders; a SentencePiece BPE tokenizer; a KV-cached llama forward pass
 * whose every linear layer runs on a dbf kernel backend; sampling, generation and perplexity.
 * No Node built-ins: files arrive as ByteSources, bytes or Blobs.
 */
export {
  type LlamaConfig,
  parseHfLlamaConfig,
  type RopeLayout,
  validateLlamaConfig,
} from './config/llama-config';
export { UnsupportedModelError } from './errors';
export {
  evaluatePerplexity,
  type PerplexityOptions,
  type PerplexityProgress,
  type PerplexityResult,
  type PerplexityWindow,
  perplexityWindows,
  type ScoreOptions,
  scoreTokens,
} from './eval/perplexity';
export {
  type GeneratedToken,
  type GenerateOptions,
  type GenerationResult,
  type GenerationStats,
  generate,
  streamTokens,
} from './generate/generate';
export { argmax, createSampler, type Sampler, type SamplerOptions } from './generate/sampler';
export { type HfLoadOptions, loadHfModel } from './loaders/load-hf-model';
export { interleavedToRotateHalf, type Llama2cLoadOptions, loadLlama2cModel } from './loaders/load-llama2c';
export {
  type FileSystemAccess,
  folderFiles,
  type LoadFromPathOptions,
  loadModelFromPath,
} from './loaders/load-model';
export type { LoadedModel, ModelFormat } from './loaders/loaded-model';
export { type ModelFiles, memoryFiles, toByteSource } from './loaders/model-files';
export { KvCache } from './runtime/kv-cache';
export {
  type ForwardOptions,
  type LinearObserver,
  LlamaModel,
  type RunLayerOptions,
} from './runtime/llama-model';
export {
  HEAD_NAME,
  LINEAR_ROLES,
  type LinearRole,
  type LlamaLayerWeights,
  type LlamaWeights,
  linearName,
  linearNames,
  linearShape,
  parseLinearName,
  validateLlamaWeights,
} from './runtime/llama-weights';
export { logSumExp } from './runtime/ops';
export { type Llama2cTokenizerOptions, parseLlama2cTokenizer } from './tokenizer/llama2c-tokenizer';
export { parseSentencePieceModel } from './tokenizer/sentencepiece-model';
export {
  type EncodeOptions,
  type PieceType,
  Tokenizer,
  type TokenizerModel,
  type TokenStreamDecoder,
} from './tokenizer/tokenizer';
