import {
  type CompressedLayer,
  encodeDbfToBytes,
  FormatError,
  InvalidArgumentError,
  memorySource,
  openDbf,
  openSafetensors,
} from '@dbf/core';
import { COMPRESSION_METHODS, type CompressedLinear } from './compress-linear';

const RECORD_KEY = 'compress.layer';

/**
 * One finished linear as bytes, for resumable runs: a DBF v1 file holding the layer with F32 scales (so a
 * resumed run continues from exactly the layer it would have had in memory) or, for the baselines, a
 * safetensors file with the dense F32 weight; the report fields ride in the metadata.
 */
export function encodeCheckpointLayer(name: string, result: CompressedLinear): Uint8Array {
  const { layer: _layer, ...fields } = result;
  const metadata = { [RECORD_KEY]: JSON.stringify({ name, ...fields }) };
  const layer = result.layer;
  if (layer.kind === 'dense') {
    return encodeDbfToBytes(
      [
        {
          name: `${name}.weight`,
          dtype: 'F32',
          shape: [layer.outFeatures, layer.inFeatures],
          data: layer.weight,
        },
      ],
      { metadata },
    );
  }
  return encodeDbfToBytes([{ name, layer, scaleDtype: 'F32' }], { metadata });
}

/** Reads `encodeCheckpointLayer`'s bytes back; throws `FormatError` when they are not one. */
export async function decodeCheckpointLayer(name: string, bytes: Uint8Array): Promise<CompressedLinear> {
  const file = await openSafetensors(memorySource(bytes));
  const text = file.metadata[RECORD_KEY];
  if (text === undefined)
    throw new FormatError('NOT_DBF', `The checkpoint of ${name} has no ${RECORD_KEY} record.`);
  let parsed: Omit<CompressedLinear, 'layer'> & { name: string };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FormatError('NOT_DBF', `The checkpoint of ${name} has a malformed ${RECORD_KEY} record.`);
  }
  const { name: stored, ...fields } = parsed;
  if (stored !== name || !COMPRESSION_METHODS.includes(fields.method))
    throw new FormatError('NOT_DBF', `The checkpoint file does not hold layer ${name}.`);
  let layer: CompressedLinear['layer'];
  if (fields.method === 'dbf' || fields.method === 'mdbf') {
    const dbf = await openDbf(memorySource(bytes));
    layer = (await dbf.loadLayer(name)) as CompressedLayer;
  } else {
    const info = file.info(`${name}.weight`);
    const [rows, cols] = info.shape as [number, number];
    layer = {
      kind: 'dense',
      outFeatures: rows,
      inFeatures: cols,
      weight: (await file.readFloat32(`${name}.weight`)).slice(),
    };
  }
  if (!layer) throw new InvalidArgumentError(`The checkpoint of ${name} holds no layer.`);
  return { ...fields, layer };
}
