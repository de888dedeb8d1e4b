import { FormatError, InvalidArgumentError } from '@dbf/core';
import { UnsupportedModelError } from '../errors';

/**
 * How query/key rows pair up under RoPE. `'rotate-half'` (Hugging Face) rotates `(x[i], x[i + d/2])`;
 * `'interleaved'` (Meta / llama2.c) rotates `(x[2i], x[2i + 1])`. The two are the same model up to a
 * permutation of the q/k rows within each head.
 */
export type RopeLayout = 'rotate-half' | 'interleaved';

/** The hyper-parameters of a llama-family decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU). */
export interface LlamaConfig {
  /** Hidden size (`hidden_size`). */
  readonly dim: number;
  /** SwiGLU inner size (`intermediate_size`). */
  readonly hiddenDim: number;
  readonly layers: number;
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (grouped-query attention when fewer than `heads`). */
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  /** Longest sequence the model was trained for (`max_position_embeddings`, llama2.c `seq_len`). */
  readonly contextLength: number;
  readonly normEps: number;
  readonly ropeTheta: number;
  readonly ropeLayout: RopeLayout;
  /** The classifier shares the token-embedding matrix. */
  readonly tiedEmbeddings: boolean;
  /** -1 when the model has none. */
  readonly bosId: number;
  readonly eosId: number;
}

/**
 * Checks a config's internal consistency; throws `InvalidArgumentError` naming the first bad field.
 * Returns the config, frozen.
 */
export function validateLlamaConfig(config: LlamaConfig): LlamaConfig {
  if (typeof config !== 'object' || config === null)
    throw new InvalidArgumentError('config must be a LlamaConfig object.');
  for (const key of [
    'dim',
    'hiddenDim',
    'layers',
    'heads',
    'kvHeads',
    'headDim',
    'vocabSize',
    'contextLength',
  ] as const) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v < 1)
      throw new InvalidArgumentError(`config.${key} must be a positive integer, got ${String(v)}.`);
  }
  if (config.heads % config.kvHeads !== 0) {
    throw new InvalidArgumentError(
      `config.heads (${config.heads}) must be a multiple of config.kvHeads (${config.kvHeads}).`,
    );
  }
  if (config.headDim % 2 !== 0)
    throw new InvalidArgumentError(`config.headDim must be even for RoPE, got ${config.headDim}.`);
  if (!(config.normEps > 0) || !Number.isFinite(config.normEps))
    throw new InvalidArgumentError(`config.normEps must be a positive number, got ${config.normEps}.`);
  if (!(config.ropeTheta > 0) || !Number.isFinite(config.ropeTheta))
    throw new InvalidArgumentError(`config.ropeTheta must be a positive number, got ${config.ropeTheta}.`);
  if (config.ropeLayout !== 'rotate-half' && config.ropeLayout !== 'interleaved') {
    throw new InvalidArgumentError(
      `config.ropeLayout must be 'rotate-half' or 'interleaved', got ${JSON.stringify(config.ropeLayout)}.`,
    );
  }
  if (typeof config.tiedEmbeddings !== 'boolean')
    throw new InvalidArgumentError('config.tiedEmbeddings must be a boolean.');
  for (const key of ['bosId', 'eosId'] as const) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v < -1 || v >= config.vocabSize) {
      throw new InvalidArgumentError(
        `config.${key} must be -1 or a token id below vocabSize (${config.vocabSize}), got ${String(v)}.`,
      );
    }
  }
  return Object.freeze({ ...config });
}

const SUPPORTED_ARCHITECTURES = new Set(['LlamaForCausalLM']);

/**
 * Reads a Hugging Face `config.json` (already parsed) of the llama family into a `LlamaConfig`.
 * Throws `UnsupportedModelError` for other architectures or llama features this runtime does not run
 * (RoPE scaling, attention/MLP biases, activations other than SiLU), and `FormatError('INVALID_METADATA')`
 * for missing or mistyped fields. `where` names the file in messages.
 */
export function parseHfLlamaConfig(json: unknown, where = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new FormatError('INVALID_METADATA', `${where} must be a JSON object.`);
  const c = json as Record<string, unknown>;
  const modelType = c.model_type;
  const architectures = c.architectures;
  if (modelType !== undefined && modelType !== 'llama') {
    throw new UnsupportedModelError(
      `${where}: model_type ${JSON.stringify(modelType)} is not supported; this runtime runs the llama family (model_type "llama").`,
    );
  }
  if (architectures !== undefined) {
    if (!Array.isArray(architectures) || !architectures.every((a) => typeof a === 'string'))
      throw new FormatError('INVALID_METADATA', `${where}: architectures must be an array of strings.`);
    const unsupported = architectures.filter((a) => !SUPPORTED_ARCHITECTURES.has(a));
    if (unsupported.length > 0) {
      throw new UnsupportedModelError(
        `${where}: architecture ${unsupported.map((a) => JSON.stringify(a)).join(', ')} is not supported; expected LlamaForCausalLM.`,
      );
    }
  }
  if (modelType === undefined && architectures === undefined) {
    throw new FormatError(
      'INVALID_METADATA',
      `${where} has neither model_type nor architectures; it does not look like a Hugging Face model config.`,
    );
  }
  const hiddenAct = c.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') {
    throw new UnsupportedModelError(
      `${where}: hidden_act ${JSON.stringify(hiddenAct)} is not supported; llama uses "silu" (SwiGLU).`,
    );
  }
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    const type =
      (c.rope_scaling as { rope_type?: unknown; type?: unknown }).rope_type ??
      (c.rope_scaling as { type?: unknown }).type;
    if (type !== 'default') {
      throw new UnsupportedModelError(
        `${where}: rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported (only plain RoPE with rope_theta).`,
      );
    }
  }
  for (const key of ['attention_bias', 'mlp_bias']) {
    if (c[key] === true)
      throw new UnsupportedModelError(
        `${where}: ${key} = true is not supported (llama linears have no bias).`,
      );
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      throw new FormatError(
        'INVALID_METADATA',
        v === undefined
          ? `${where} has no ${key}.`
          : `${where}: ${key} must be a positive integer, got ${JSON.stringify(v)}.`,
      );
    }
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new FormatError(
        'INVALID_METADATA',
        `${where}: ${key} must be a positive number, got ${JSON.stringify(v)}.`,
      );
    return v;
  };
  const tokenId = (key: string, fallback: number): number => {
    let v = c[key];
    if (Array.isArray(v)) v = v[0]; // some configs list several EOS ids; the first is the canonical one
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new FormatError(
        'INVALID_METADATA',
        `${where}: ${key} must be a token id, got ${JSON.stringify(v)}.`,
      );
    return v;
  };
  const dim = int('hidden_size');
  const heads = int('num_attention_heads');
  const tied = c.tie_word_embeddings ?? false;
  if (typeof tied !== 'boolean')
    throw new FormatError('INVALID_METADATA', `${where}: tie_word_embeddings must be a boolean.`);
  if (c.head_dim === undefined && dim % heads !== 0) {
    throw new FormatError(
      'INVALID_METADATA',
      `${where}: hidden_size ${dim} is not a multiple of num_attention_heads ${heads} and head_dim is not given.`,
    );
  }
  const vocabSize = int('vocab_size');
  const config: LlamaConfig = {
    dim,
    hiddenDim: int('intermediate_size'),
    layers: int('num_hidden_layers'),
    heads,
    kvHeads: int('num_key_value_heads', heads),
    headDim: int('head_dim', dim / heads),
    vocabSize,
    contextLength: int('max_position_embeddings', 2048),
    normEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeLayout: 'rotate-half',
    tiedEmbeddings: tied,
    bosId: tokenId('bos_token_id', 1),
    eosId: tokenId('eos_token_id', 2),
  };
  try {
    return validateLlamaConfig({
      ...config,
      bosId: config.bosId < vocabSize ? config.bosId : -1,
      eosId: config.eosId < vocabSize ? config.eosId : -1,
    });
  } catch (error) {
    throw new FormatError('INVALID_METADATA', `${where}: ${(error as Error).message}`, { cause: error });
  }
}
