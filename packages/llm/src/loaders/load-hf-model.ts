import {
  DBF_KEYS,
  type DbfFile,
  FormatError,
  type LinearLayer,
  openDbf,
  openSafetensors,
  parseStrictJson,
  type SafetensorsFile,
} from '@dbf/core';
import { type LlamaConfig, parseHfLlamaConfig } from '../config/llama-config';
import {
  HEAD_NAME,
  LINEAR_ROLES,
  type LinearRole,
  type LlamaLayerWeights,
  type LlamaWeights,
  linearName,
  linearShape,
} from '../runtime/llama-weights';
import { parseLlama2cTokenizer } from '../tokenizer/llama2c-tokenizer';
import { parseSentencePieceModel } from '../tokenizer/sentencepiece-model';
import { Tokenizer } from '../tokenizer/tokenizer';
import type { LoadedModel } from './loaded-model';
import { type ModelFiles, readAll, readText } from './model-files';

export interface HfLoadOptions {
  /**
   * The safetensors files to read. Default: the shards named by `model.safetensors.index.json`, else
   * `model.safetensors`, else every `*.safetensors` the folder lists.
   */
  readonly weightFiles?: readonly string[];
}

const INDEX_FILE = 'model.safetensors.index.json';

/**
 * Loads a llama-family model folder: `config.json`, safetensors weights (F32/F16/BF16, sharded or not,
 * Hugging Face tensor names) and `tokenizer.model` (or a llama2.c `tokenizer.bin`) when present.
 *
 * A weights file that is a DBF file (`dbf.format` metadata) makes this a compressed folder: each of its
 * compressed layers, named by the HF module name (`model.layers.0.self_attn.q_proj`, `lm_head`), replaces
 * that dense linear, and its plain tensors keep their HF names (`model.embed_tokens.weight`...).
 */
export async function loadHfModel(files: ModelFiles, options: HfLoadOptions = {}): Promise<LoadedModel> {
  const where = (name: string) => `${files.location}/${name}`;
  const configText = await readText(files, 'config.json');
  if (configText === undefined) {
    throw new FormatError(
      'IO_ERROR',
      `${files.location} has no config.json; a Hugging Face or compressed model folder needs one.`,
    );
  }
  const config = parseHfLlamaConfig(
    parseStrictJson(configText, 'INVALID_METADATA', where('config.json')),
    where('config.json'),
  );
  const weightFiles = options.weightFiles ?? (await findWeightFiles(files));
  const store = new TensorStore(files);
  try {
    for (const name of weightFiles) await store.add(name);
    const weights = await readWeights(store, config);
    const tokenizer = await loadFolderTokenizer(files, config);
    const read = ['config.json', ...weightFiles];
    if (tokenizer) read.push(tokenizer.file);
    return {
      format: store.compressedNames.size > 0 ? 'dbf' : 'huggingface',
      config,
      weights,
      tokenizer: tokenizer?.tokenizer,
      compressed: [...store.compressedNames],
      files: read,
    };
  } finally {
    await store.close();
  }
}

async function findWeightFiles(files: ModelFiles): Promise<string[]> {
  const indexText = await readText(files, INDEX_FILE);
  if (indexText !== undefined) {
    const where = `${files.location}/${INDEX_FILE}`;
    const index = parseStrictJson(indexText, 'INVALID_METADATA', where) as { weight_map?: unknown };
    const map = index?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      throw new FormatError('INVALID_METADATA', `${where} has no weight_map object.`);
    const shards = new Set<string>();
    for (const [tensor, file] of Object.entries(map)) {
      if (typeof file !== 'string' || file.length === 0 || file.includes('..'))
        throw new FormatError(
          'INVALID_METADATA',
          `${where}: weight_map[${JSON.stringify(tensor)}] is not a file name.`,
        );
      shards.add(file);
    }
    if (shards.size === 0) throw new FormatError('INVALID_METADATA', `${where}: weight_map is empty.`);
    return [...shards];
  }
  const single = await files.open('model.safetensors');
  if (single) {
    await single.close?.();
    return ['model.safetensors'];
  }
  const listed = files.list ? (await files.list()).filter((n) => n.endsWith('.safetensors')).sort() : [];
  if (listed.length === 0) {
    throw new FormatError(
      'IO_ERROR',
      `${files.location} has no model.safetensors, no ${INDEX_FILE} and no other *.safetensors file.`,
    );
  }
  return listed;
}

/** Every tensor and compressed layer of the weight files, by name. */
class TensorStore {
  readonly plain = new Map<string, { file: SafetensorsFile; where: string }>();
  readonly compressed = new Map<string, { dbf: DbfFile; where: string }>();
  readonly compressedNames = new Set<string>();
  readonly #open: SafetensorsFile[] = [];

  constructor(readonly files: ModelFiles) {}

  async add(name: string): Promise<void> {
    const where = `${this.files.location}/${name}`;
    const source = await this.files.open(name);
    if (!source) throw new FormatError('IO_ERROR', `${where} does not exist.`);
    let file: SafetensorsFile;
    try {
      file = await openSafetensors(source);
    } catch (error) {
      await source.close?.();
      throw prefixError(error, where);
    }
    this.#open.push(file);
    let tensors: readonly { name: string }[] = file.tensors;
    if (Object.hasOwn(file.metadata, DBF_KEYS.format)) {
      let dbf: DbfFile;
      try {
        dbf = await openDbf(source);
      } catch (error) {
        throw prefixError(error, where);
      }
      for (const layer of dbf.layers) {
        this.#claim(layer.name, where);
        this.compressed.set(layer.name, { dbf, where });
      }
      tensors = dbf.plainTensors;
      file = dbf.container;
      this.#open.push(file);
    }
    for (const t of tensors) {
      this.#claim(t.name, where);
      this.plain.set(t.name, { file, where });
    }
  }

  #claim(name: string, where: string): void {
    const other = this.plain.get(name)?.where ?? this.compressed.get(name)?.where;
    if (other !== undefined)
      throw new FormatError('TENSOR_MISMATCH', `${JSON.stringify(name)} is in both ${other} and ${where}.`);
  }

  async float32(name: string, shape: readonly number[]): Promise<Float32Array> {
    const entry = this.plain.get(name);
    if (!entry) {
      throw new FormatError('MISSING_TENSOR', `The weights have no tensor ${JSON.stringify(name)}.`);
    }
    const info = entry.file.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(
        'TENSOR_MISMATCH',
        `${entry.where}: ${JSON.stringify(name)} has shape [${info.shape.join(', ')}], config.json implies [${shape.join(', ')}].`,
      );
    }
    if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) {
      throw new FormatError(
        'TENSOR_MISMATCH',
        `${entry.where}: ${JSON.stringify(name)} has dtype ${info.dtype}; weights must be F32, F16 or BF16.`,
      );
    }
    return entry.file.readFloat32(name);
  }

  /** Linear `module` (HF module name): compressed when the DBF file has it, else dense `<module>.weight`. */
  async linear(module: string, [n, m]: [number, number], denseFallback?: Float32Array): Promise<LinearLayer> {
    const compressed = this.compressed.get(module);
    if (compressed) {
      const info = compressed.dbf.layer(module);
      if (info.outFeatures !== n || info.inFeatures !== m) {
        throw new FormatError(
          'TENSOR_MISMATCH',
          `${compressed.where}: compressed layer ${JSON.stringify(module)} is ${info.outFeatures}×${info.inFeatures}, config.json implies ${n}×${m}.`,
        );
      }
      this.compressedNames.add(module);
      return compressed.dbf.loadLayer(module);
    }
    if (denseFallback) return { kind: 'dense', outFeatures: n, inFeatures: m, weight: denseFallback };
    return {
      kind: 'dense',
      outFeatures: n,
      inFeatures: m,
      weight: await this.float32(`${module}.weight`, [n, m]),
    };
  }

  async close(): Promise<void> {
    const sources = new Set(this.#open.map((f) => f.source));
    for (const source of sources) await source.close?.();
  }
}

async function readWeights(store: TensorStore, config: LlamaConfig): Promise<LlamaWeights> {
  const { dim, vocabSize } = config;
  const embedding = await store.float32('model.embed_tokens.weight', [vocabSize, dim]);
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    const linears = {} as Record<LinearRole, LinearLayer>;
    for (const role of LINEAR_ROLES)
      linears[role] = await store.linear(linearName(l, role), linearShape(config, role));
    layers.push({
      attentionNorm: await store.float32(`model.layers.${l}.input_layernorm.weight`, [dim]),
      mlpNorm: await store.float32(`model.layers.${l}.post_attention_layernorm.weight`, [dim]),
      linears,
    });
  }
  const finalNorm = await store.float32('model.norm.weight', [dim]);
  const head = await store.linear(
    HEAD_NAME,
    linearShape(config, HEAD_NAME),
    config.tiedEmbeddings ? embedding : undefined,
  );
  const unused = [...store.compressed.keys()].filter((name) => !store.compressedNames.has(name));
  if (unused.length > 0) {
    throw new FormatError(
      'TENSOR_MISMATCH',
      `Compressed layer(s) ${unused.map((n) => JSON.stringify(n)).join(', ')} match no linear of the model; name them by the Hugging Face module, e.g. "model.layers.0.self_attn.q_proj".`,
    );
  }
  return { config, embedding, layers, finalNorm, head };
}

async function loadFolderTokenizer(
  files: ModelFiles,
  config: LlamaConfig,
): Promise<{ tokenizer: Tokenizer; file: string } | undefined> {
  for (const file of ['tokenizer.model', 'tokenizer.bin']) {
    const source = await files.open(file);
    if (!source) continue;
    let bytes: Uint8Array;
    try {
      bytes = await readAll(source);
    } finally {
      await source.close?.();
    }
    const where = `${files.location}/${file}`;
    const model =
      file === 'tokenizer.model'
        ? parseSentencePieceModel(bytes, where)
        : parseLlama2cTokenizer(bytes, {}, where);
    const tokenizer = new Tokenizer(model);
    checkTokenizerFits(tokenizer, config, where);
    return { tokenizer, file };
  }
  return undefined;
}

/** A tokenizer may have fewer pieces than the embedding has rows (padded vocabularies), never more. */
export function checkTokenizerFits(tokenizer: Tokenizer, config: LlamaConfig, where: string): void {
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new FormatError(
      'TENSOR_MISMATCH',
      `${where} has ${tokenizer.vocabSize} pieces but the model's vocabulary has ${config.vocabSize} rows.`,
    );
  }
}

function prefixError(error: unknown, where: string): unknown {
  if (error instanceof FormatError) {
    return new FormatError(error.code, `${where}: ${error.message}`, { cause: error });
  }
  return error;
}
