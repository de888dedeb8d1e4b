import { InvalidArgumentError, type LinearLayer } from '@dbf/core';
import { type LlamaConfig, validateLlamaConfig } from '../config/llama-config';

/** The seven linear layers of a decoder layer, by their Hugging Face module names. */
export const LINEAR_ROLES = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;
export type LinearRole = (typeof LINEAR_ROLES)[number];

/** The classifier's name (Hugging Face `lm_head`). */
export const HEAD_NAME = 'lm_head';

/** `model.layers.<layer>.self_attn.q_proj`, `model.layers.<layer>.mlp.up_proj`...: the HF module name. */
export function linearName(layer: number, role: LinearRole): string {
  const block = role === 'gate_proj' || role === 'up_proj' || role === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${block}.${role}`;
}

/** Every linear's name in forward order (q, k, v, o, gate, up, down per layer), then `lm_head`. */
export function linearNames(config: Pick<LlamaConfig, 'layers'>): string[] {
  const names: string[] = [];
  for (let l = 0; l < config.layers; l++) for (const role of LINEAR_ROLES) names.push(linearName(l, role));
  names.push(HEAD_NAME);
  return names;
}

/** `[layer, role]` of a decoder linear's name, or undefined for other names (such as `lm_head`). */
export function parseLinearName(name: string): { layer: number; role: LinearRole } | undefined {
  const match = /^model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)$/.exec(name);
  if (!match) return undefined;
  const role = match[3] as LinearRole;
  if (!LINEAR_ROLES.includes(role) || linearName(Number(match[1]), role) !== name) return undefined;
  return { layer: Number(match[1]), role };
}

/** `[outFeatures, inFeatures]` of each linear role. */
export function linearShape(config: LlamaConfig, role: LinearRole | typeof HEAD_NAME): [number, number] {
  const q = config.heads * config.headDim;
  const kv = config.kvHeads * config.headDim;
  switch (role) {
    case 'q_proj':
      return [q, config.dim];
    case 'k_proj':
    case 'v_proj':
      return [kv, config.dim];
    case 'o_proj':
      return [config.dim, q];
    case 'gate_proj':
    case 'up_proj':
      return [config.hiddenDim, config.dim];
    case 'down_proj':
      return [config.dim, config.hiddenDim];
    case HEAD_NAME:
      return [config.vocabSize, config.dim];
  }
}

export interface LlamaLayerWeights {
  /** RMSNorm weight before attention (`input_layernorm`). */
  readonly attentionNorm: Float32Array;
  /** RMSNorm weight before the MLP (`post_attention_layernorm`). */
  readonly mlpNorm: Float32Array;
  readonly linears: Readonly<Record<LinearRole, LinearLayer>>;
}

/**
 * A llama model's parameters in host memory. Linears are `LinearLayer`s (dense, DBF or MDBF) laid out as
 * the config's `ropeLayout` says; the embedding stays a plain matrix because it is a lookup table.
 */
export interface LlamaWeights {
  readonly config: LlamaConfig;
  /** `vocabSize × dim`, row-major. */
  readonly embedding: Float32Array;
  readonly layers: readonly LlamaLayerWeights[];
  readonly finalNorm: Float32Array;
  /** The classifier; with tied embeddings, a dense layer over `embedding`. */
  readonly head: LinearLayer;
}

/** Checks every shape against the config; throws `InvalidArgumentError` naming the first bad tensor. */
export function validateLlamaWeights(weights: LlamaWeights): void {
  if (typeof weights !== 'object' || weights === null)
    throw new InvalidArgumentError('weights must be a LlamaWeights object.');
  const config = validateLlamaConfig(weights.config);
  const vector = (name: string, v: unknown, length: number) => {
    if (!(v instanceof Float32Array) || v.length !== length)
      throw new InvalidArgumentError(`${name} must be a Float32Array of ${length} values.`);
  };
  vector('embedding', weights.embedding, config.vocabSize * config.dim);
  vector('finalNorm', weights.finalNorm, config.dim);
  if (!Array.isArray(weights.layers) || weights.layers.length !== config.layers)
    throw new InvalidArgumentError(`weights.layers must have ${config.layers} entries.`);
  weights.layers.forEach((layer, l) => {
    vector(`layers[${l}].attentionNorm`, layer.attentionNorm, config.dim);
    vector(`layers[${l}].mlpNorm`, layer.mlpNorm, config.dim);
    for (const role of LINEAR_ROLES)
      checkLinear(linearName(l, role), layer.linears?.[role], linearShape(config, role));
  });
  checkLinear(HEAD_NAME, weights.head, linearShape(config, HEAD_NAME));
}

/** Throws unless `layer` is a linear layer of shape `[out, in]`. */
export function checkLinear(
  name: string,
  layer: LinearLayer | undefined,
  [out, inp]: [number, number],
): void {
  if (typeof layer !== 'object' || layer === null || !['dense', 'dbf', 'mdbf'].includes(layer.kind))
    throw new InvalidArgumentError(`${name} must be a dense, dbf or mdbf LinearLayer.`);
  if (layer.outFeatures !== out || layer.inFeatures !== inp) {
    throw new InvalidArgumentError(
      `${name} is ${layer.outFeatures}×${layer.inFeatures}, the config needs ${out}×${inp}.`,
    );
  }
}
