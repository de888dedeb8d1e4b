import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ByteSource, memorySource } from '../src/index';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const VECTORS = join(REPO_ROOT, 'spec/vectors/format');

export function readVector(path: string): Uint8Array {
  return new Uint8Array(readFileSync(join(VECTORS, path)));
}

/** A memory source that records every read: count, total bytes and the largest single request. */
export interface RecordingSource extends ByteSource {
  readonly reads: { offset: number; length: number }[];
  totalRequested(): number;
  maxRequested(): number;
}

export function recordingSource(bytes: Uint8Array): RecordingSource {
  const inner = memorySource(bytes);
  const reads: { offset: number; length: number }[] = [];
  return {
    size: inner.size,
    reads,
    read(offset, length) {
      reads.push({ offset, length });
      return inner.read(offset, length);
    },
    totalRequested: () => reads.reduce((s, r) => s + r.length, 0),
    maxRequested: () => reads.reduce((s, r) => Math.max(s, r.length), 0),
  };
}

/** A safetensors file from a header string (not padded unless asked) and data bytes. */
export function rawFile(header: string, data: Uint8Array = new Uint8Array(0), padTo8 = false): Uint8Array {
  let json = new TextEncoder().encode(header);
  if (padTo8 && json.byteLength % 8) {
    const padded = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** An independent minimal safetensors parser (DataView + JSON.parse), used to check files are stock safetensors. */
export function independentParse(bytes: Uint8Array): {
  headerLength: number;
  headerText: string;
  metadata: Record<string, string>;
  tensors: Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number]; bytes: Uint8Array }
  >;
} {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  const header = JSON.parse(headerText) as Record<string, unknown>;
  const data = bytes.subarray(8 + headerLength);
  const tensors: ReturnType<typeof independentParse>['tensors'] = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors[name] = { ...e, bytes: data.subarray(e.data_offsets[0], e.data_offsets[1]) };
  }
  return {
    headerLength,
    headerText,
    metadata: (header.__metadata__ ?? {}) as Record<string, string>,
    tensors,
  };
}
