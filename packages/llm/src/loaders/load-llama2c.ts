import { type ByteSource, FormatError, HOST_IS_LITTLE_ENDIAN, type LinearLayer } from '@dbf/core';
import { type LlamaConfig, type RopeLayout, validateLlamaConfig } from '../config/llama-config';
import { UnsupportedModelError } from '../errors';
import {
  LINEAR_ROLES,
  type LinearRole,
  type LlamaLayerWeights,
  type LlamaWeights,
  linearShape,
} from '../runtime/llama-weights';
import { type Llama2cTokenizerOptions, parseLlama2cTokenizer } from '../tokenizer/llama2c-tokenizer';
import { parseSentencePieceModel } from '../tokenizer/sentencepiece-model';
import { Tokenizer } from '../tokenizer/tokenizer';
import { checkTokenizerFits } from './load-hf-model';
import type { LoadedModel } from './loaded-model';
import { readAll, toByteSource } from './model-files';

export interface Llama2cLoadOptions {
  /** The tokenizer: a llama2.c `tokenizer.bin`, or a SentencePiece `tokenizer.model` (told apart by content). */
  readonly tokenizer?: Uint8Array | ArrayBuffer | Blob | ByteSource;
  readonly tokenizerOptions?: Llama2cTokenizerOptions;
  /**
   * `'rotate-half'` (default) permutes the q/k rows of each head into Hugging Face order, so the weights,
   * layer names and any compressed copy match an HF export of the same model. `'interleaved'` keeps the
   * file's order and applies RoPE to adjacent pairs as run.c does. Both give the same logits.
   */
  readonly ropeLayout?: RopeLayout;
  /** Names for messages. */
  readonly name?: string;
  readonly tokenizerName?: string;
}

const HEADER_BYTES = 28;
/** "ak42": the magic of llama2.c's version 1 and 2 exports (export.py --version 1/2). */
const VERSIONED_MAGIC = 0x616b3432;

/**
 * Loads a llama2.c checkpoint in the legacy (version 0) format: seven int32 (dim, hidden_dim, n_layers,
 * n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means an unshared classifier), then the
 * float32 tensors in run.c's order, the unused RoPE tables, and the classifier when unshared. The file
 * size must match exactly. RMSNorm eps is 1e-5 and RoPE theta 10000, as run.c hard-codes them.
 */
export async function loadLlama2cModel(
  checkpoint: Uint8Array | ArrayBuffer | Blob | ByteSource,
  options: Llama2cLoadOptions = {},
): Promise<LoadedModel> {
  const name = options.name ?? 'checkpoint';
  const source = toByteSource(checkpoint, 'checkpoint');
  const tokenizerSource =
    options.tokenizer === undefined ? undefined : toByteSource(options.tokenizer, 'tokenizer');
  try {
    const { config, shared } = await readHeader(source, name, options.ropeLayout ?? 'rotate-half');
    const weights = await readTensors(source, config, shared);
    let tokenizer: Tokenizer | undefined;
    const files = [name];
    if (tokenizerSource) {
      const tokName = options.tokenizerName ?? 'tokenizer';
      const bytes = await readAll(tokenizerSource);
      tokenizer = new Tokenizer(
        looksLikeSentencePiece(bytes)
          ? parseSentencePieceModel(bytes, tokName)
          : parseLlama2cTokenizer(
              bytes,
              { vocabSize: config.vocabSize, ...options.tokenizerOptions },
              tokName,
            ),
      );
      checkTokenizerFits(tokenizer, config, tokName);
      files.push(tokName);
    }
    return { format: 'llama2c', config, weights, tokenizer, compressed: [], files };
  } finally {
    await source.close?.();
    await tokenizerSource?.close?.();
  }
}

/**
 * A serialized ModelProto starts with a piece message: tag 0x0a, its length, then the piece's own tag 0x0a.
 * A tokenizer.bin starts with a small little-endian int32, so its third byte is 0.
 */
function looksLikeSentencePiece(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 3 && bytes[0] === 0x0a && bytes[1] !== 0 && bytes[2] === 0x0a;
}

async function readHeader(
  source: ByteSource,
  name: string,
  ropeLayout: RopeLayout,
): Promise<{ config: LlamaConfig; shared: boolean }> {
  if (source.size < HEADER_BYTES)
    throw new FormatError('HEADER_TOO_SMALL', `${name} has ${source.size} bytes; a llama2.c header has 28.`);
  const header = await source.read(0, HEADER_BYTES);
  const view = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
  if (view.getUint32(0, true) === VERSIONED_MAGIC) {
    throw new UnsupportedModelError(
      `${name} is a llama2.c version ${view.getInt32(4, true)} export; only the legacy version 0 format (export.py --version 0) is supported.`,
    );
  }
  const [dim, hiddenDim, layers, heads, kvHeads, vocab, seqLen] = Array.from({ length: 7 }, (_, i) =>
    view.getInt32(4 * i, true),
  ) as [number, number, number, number, number, number, number];
  const fields = {
    dim,
    hidden_dim: hiddenDim,
    n_layers: layers,
    n_heads: heads,
    n_kv_heads: kvHeads,
    seq_len: seqLen,
  };
  for (const [key, value] of Object.entries(fields)) {
    if (value < 1 || value > 1 << 20)
      throw new FormatError(
        'INVALID_HEADER',
        `${name}: header field ${key} is ${value}; this is not a llama2.c checkpoint.`,
      );
  }
  if (vocab === 0 || Math.abs(vocab) > 1 << 22)
    throw new FormatError('INVALID_HEADER', `${name}: header field vocab_size is ${vocab}.`);
  if (dim % heads !== 0 || heads % kvHeads !== 0 || (dim / heads) % 2 !== 0) {
    throw new FormatError(
      'INVALID_HEADER',
      `${name}: dim ${dim}, n_heads ${heads} and n_kv_heads ${kvHeads} do not form a valid attention layout.`,
    );
  }
  const config = validateLlamaConfig({
    dim,
    hiddenDim,
    layers,
    heads,
    kvHeads,
    headDim: dim / heads,
    vocabSize: Math.abs(vocab),
    contextLength: seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeLayout,
    tiedEmbeddings: vocab > 0,
    bosId: 1,
    eosId: 2,
  });
  const expected = HEADER_BYTES + 4 * floatCount(config, vocab > 0);
  if (source.size !== expected) {
    throw new FormatError(
      'SIZE_MISMATCH',
      `${name} has ${source.size} bytes; a version-0 llama2.c checkpoint with this header (dim ${dim}, hidden ${hiddenDim}, ${layers} layers, ${heads}/${kvHeads} heads, vocab ${vocab}, seq_len ${seqLen}) has ${expected}.`,
    );
  }
  return { config, shared: vocab > 0 };
}

function floatCount(c: LlamaConfig, shared: boolean): number {
  const kv = c.kvHeads * c.headDim;
  const perLayer = 2 * c.dim + 2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hiddenDim;
  return (
    c.vocabSize * c.dim +
    c.layers * perLayer +
    c.dim +
    c.contextLength * c.headDim +
    (shared ? 0 : c.vocabSize * c.dim)
  );
}

async function readTensors(source: ByteSource, config: LlamaConfig, shared: boolean): Promise<LlamaWeights> {
  let offset = HEADER_BYTES;
  const next = async (count: number): Promise<Float32Array> => {
    const bytes = await source.read(offset, 4 * count);
    offset += 4 * count;
    return toFloat32(bytes);
  };
  const { dim, layers: L, vocabSize, hiddenDim } = config;
  const kv = config.kvHeads * config.headDim;
  const embedding = await next(vocabSize * dim);
  const attentionNorms = await next(L * dim);
  const wq = await next(L * dim * dim);
  const wk = await next(L * kv * dim);
  const wv = await next(L * kv * dim);
  const wo = await next(L * dim * dim);
  const mlpNorms = await next(L * dim);
  const w1 = await next(L * hiddenDim * dim);
  const w2 = await next(L * dim * hiddenDim);
  const w3 = await next(L * hiddenDim * dim);
  const finalNorm = await next(dim);
  offset += 4 * config.contextLength * config.headDim; // freq_cis_real and freq_cis_imag: recomputed instead
  const classifier = shared ? embedding : await next(vocabSize * dim);

  const permute = config.ropeLayout === 'rotate-half';
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const slice = (all: Float32Array, role: LinearRole): LinearLayer => {
      const [n, m] = linearShape(config, role);
      let weight = all.subarray(l * n * m, (l + 1) * n * m);
      if (permute && (role === 'q_proj' || role === 'k_proj'))
        weight = interleavedToRotateHalf(weight, n, m, config.headDim);
      return { kind: 'dense', outFeatures: n, inFeatures: m, weight };
    };
    const linears = {} as Record<LinearRole, LinearLayer>;
    const sources: Record<LinearRole, Float32Array> = {
      q_proj: wq,
      k_proj: wk,
      v_proj: wv,
      o_proj: wo,
      gate_proj: w1,
      up_proj: w3,
      down_proj: w2,
    };
    for (const role of LINEAR_ROLES) linears[role] = slice(sources[role], role);
    layers.push({
      attentionNorm: attentionNorms.subarray(l * dim, (l + 1) * dim),
      mlpNorm: mlpNorms.subarray(l * dim, (l + 1) * dim),
      linears,
    });
  }
  return {
    config,
    embedding,
    layers,
    finalNorm,
    head: { kind: 'dense', outFeatures: vocabSize, inFeatures: dim, weight: classifier },
  };
}

/**
 * Reorders the rows of a q or k projection (`n × m`, heads of `headDim` rows) from Meta's interleaved RoPE
 * pairs `(2i, 2i+1)` to Hugging Face's rotate-half pairs `(i, i + headDim/2)`: the inverse of the
 * `permute` in HF's convert_llama_weights_to_hf.py.
 */
export function interleavedToRotateHalf(
  weight: Float32Array,
  n: number,
  m: number,
  headDim: number,
): Float32Array {
  const out = new Float32Array(n * m);
  const half = headDim / 2;
  for (let h = 0; h < n / headDim; h++) {
    for (let i = 0; i < half; i++) {
      for (let p = 0; p < 2; p++) {
        const from = (h * headDim + 2 * i + p) * m;
        const to = (h * headDim + p * half + i) * m;
        out.set(weight.subarray(from, from + m), to);
      }
    }
  }
  return out;
}

/** Little-endian float32 bytes as a Float32Array (a view when aligned on a little-endian host). */
function toFloat32(bytes: Uint8Array): Float32Array {
  const count = bytes.byteLength / 4;
  if (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0)
    return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}
