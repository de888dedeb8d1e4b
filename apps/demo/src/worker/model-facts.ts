import { DBF_KEYS, openDbf, openSafetensors } from '@dbf/core';
import type { LoadedModel, ModelFiles } from '@dbf/llm';
import type { ModelFacts } from '../protocol';

/**
 * The facts the page shows about a model: its shape from config.json, and its size read from the weight
 * files' headers (no tensor data is read again): file bytes, bits per weight of the compressed linears,
 * the DBF middle dimension k per layer, and what the same parameters take as float32.
 */
export async function describeModel(
  model: LoadedModel,
  files: ModelFiles,
  label: string,
): Promise<ModelFacts> {
  const c = model.config;
  let fileBytes = 0;
  let parameters = 0;
  let compressedWeights = 0;
  let compressedBytes = 0;
  let rankMin = Number.POSITIVE_INFINITY;
  let rankMax = 0;
  let envelopeRank = 0;
  const kinds = new Set<string>();
  const plainDtypes = new Set<string>();
  for (const name of model.files.filter((f) => f.endsWith('.safetensors'))) {
    const source = await files.open(name);
    if (!source) continue;
    try {
      fileBytes += source.size;
      const container = await openSafetensors(source);
      if (Object.hasOwn(container.metadata, DBF_KEYS.format)) {
        const dbf = await openDbf(source);
        parameters += dbf.bits.parameters;
        compressedWeights += dbf.bits.compressedWeights;
        compressedBytes += dbf.bits.compressedBytes;
        for (const layer of dbf.layers) {
          rankMin = Math.min(rankMin, layer.rank);
          rankMax = Math.max(rankMax, layer.rank);
          envelopeRank = Math.max(envelopeRank, layer.envelopeRank);
          kinds.add(layer.kind);
        }
        for (const t of dbf.plainTensors) plainDtypes.add(t.dtype);
      } else {
        for (const t of container.tensors) {
          parameters += t.elementCount;
          plainDtypes.add(t.dtype);
        }
      }
    } finally {
      await source.close?.();
    }
  }
  const compressed = model.compressed.length > 0;
  return {
    label,
    format: model.format,
    layers: c.layers,
    dim: c.dim,
    hiddenDim: c.hiddenDim,
    heads: c.heads,
    vocabSize: c.vocabSize,
    contextLength: c.contextLength,
    parameters,
    fileBytes,
    fp32Bytes: 4 * parameters,
    compressedLinears: model.compressed.length,
    // Seven linears per decoder layer, plus the classifier unless it shares the embedding.
    totalLinears: 7 * c.layers + (c.tiedEmbeddings ? 0 : 1),
    ...(compressed
      ? {
          compressedBitsPerWeight: (8 * compressedBytes) / compressedWeights,
          rank: { min: rankMin, max: rankMax },
          envelopeRank,
          method: [...kinds].join('+').toUpperCase(),
        }
      : {}),
    overallBitsPerWeight: parameters > 0 ? (8 * fileBytes) / parameters : 0,
    plainDtypes: [...plainDtypes].sort(),
    hasTokenizer: model.tokenizer !== undefined,
  };
}
