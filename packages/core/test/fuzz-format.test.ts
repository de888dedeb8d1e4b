import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createRng,
  DbfError,
  FORMAT_ERROR_CODES,
  openDbf,
  type Rng,
  validateDbf,
  validateLayer,
} from '../src/index';
import { readVector, recordingSource, VECTORS } from './format-helpers';

const ALLOWED = new Set<string>([...FORMAT_ERROR_CODES, 'NOT_DBF']);
const ATTEMPTS_PER_FILE = 2000;
// Bytes that change JSON structure or numbers: mutating header text with these reaches deeper rules than random bytes.
const JSON_BYTES = new TextEncoder().encode('{}[]":,0123456789-.e ');

function mutate(rng: Rng, file: Uint8Array): Uint8Array {
  const headerEnd = Math.min(
    file.byteLength,
    8 + new DataView(file.buffer, file.byteOffset).getUint32(0, true),
  );
  const pos = (limit = file.byteLength) => rng.int(limit);
  const inHeader = () => 8 + rng.int(Math.max(1, headerEnd - 8));
  const out = file.slice();
  switch (rng.int(9)) {
    case 0: {
      // Flip 1 to 4 random bits anywhere.
      for (let i = rng.int(4) + 1; i > 0; i--) out[pos()]! ^= 1 << rng.int(8);
      return out;
    }
    case 1: {
      for (let i = rng.int(3) + 1; i > 0; i--) out[pos()] = rng.int(256);
      return out;
    }
    case 2: {
      // A JSON-significant byte in the header text.
      out[inHeader()] = JSON_BYTES[rng.int(JSON_BYTES.length)]!;
      return out;
    }
    case 3: {
      // A digit replaced by another digit: shapes, offsets, k, l change while the JSON stays valid.
      const digits: number[] = [];
      for (let i = 8; i < headerEnd; i++) if (file[i]! >= 0x30 && file[i]! <= 0x39) digits.push(i);
      if (digits.length) out[digits[rng.int(digits.length)]!] = 0x30 + rng.int(10);
      return out;
    }
    case 4: {
      // Insert 1–8 bytes (the header length no longer matches, or the data buffer grows).
      const at = pos(file.byteLength + 1);
      const inserted = Uint8Array.from({ length: rng.int(8) + 1 }, () =>
        rng.int(2) ? JSON_BYTES[rng.int(JSON_BYTES.length)]! : rng.int(256),
      );
      const grown = new Uint8Array(file.byteLength + inserted.byteLength);
      grown.set(file.subarray(0, at));
      grown.set(inserted, at);
      grown.set(file.subarray(at), at + inserted.byteLength);
      return grown;
    }
    case 5: {
      const at = pos();
      const len = Math.min(rng.int(8) + 1, file.byteLength - at);
      const shrunk = new Uint8Array(file.byteLength - len);
      shrunk.set(file.subarray(0, at));
      shrunk.set(file.subarray(at + len), at);
      return shrunk;
    }
    case 6:
      return file.slice(0, pos());
    case 7: {
      // The header length: a small change, or a huge value in any byte.
      const view = new DataView(out.buffer);
      if (rng.int(2)) view.setUint32(0, view.getUint32(0, true) + rng.int(17) - 8, true);
      else out[rng.int(8)] = rng.int(256);
      return out;
    }
    default: {
      // Data buffer only: sign padding bits, scale bytes (NaN / Inf patterns).
      if (headerEnd >= file.byteLength) return out;
      const at = headerEnd + rng.int(file.byteLength - headerEnd);
      out[at] = rng.int(2) ? 0xff : out[at]! | (1 << rng.int(8));
      return out;
    }
  }
}

describe('fuzzing the reader', () => {
  const files = readdirSync(VECTORS)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();

  it(`ends every full validation of ${ATTEMPTS_PER_FILE} mutations per golden file in success or a FormatError, reading no more than the file`, async () => {
    const rng = createRng(20240601);
    const outcomes = new Map<string, number>();
    const failures: string[] = [];
    for (const name of files) {
      const original = readVector(name);
      for (let attempt = 0; attempt < ATTEMPTS_PER_FILE; attempt++) {
        const bytes = mutate(rng, original);
        const source = recordingSource(bytes);
        let outcome = 'OK';
        try {
          await validateDbf(source);
          // Anything the reader accepts must be a layer the kernels accept.
          const dbf = await openDbf(source);
          for (const l of dbf.layers) validateLayer(await dbf.loadLayer(l.name), l.name);
        } catch (error) {
          if (!DbfError.isInstance(error) || !ALLOWED.has(error.code) || error.name !== 'FormatError') {
            failures.push(`${name} attempt ${attempt}: ${String(error)}`);
            continue;
          }
          outcome = error.code;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (source.maxRequested() > bytes.byteLength)
          failures.push(`${name} attempt ${attempt}: read of ${source.maxRequested()} bytes`);
        if (outcome !== 'OK' && source.totalRequested() > bytes.byteLength) {
          failures.push(
            `${name} attempt ${attempt}: ${source.totalRequested()} bytes read from a ${bytes.byteLength}-byte file`,
          );
        }
      }
    }
    expect(failures).toEqual([]);
    // The mutations reach deep rules, not only JSON syntax errors.
    for (const code of [
      'OK',
      'INVALID_HEADER',
      'HEADER_TOO_LARGE',
      'SIZE_MISMATCH',
      'BUFFER_HOLE',
      'TENSOR_MISMATCH',
      'NONZERO_PADDING',
      'INVALID_LAYER',
    ]) {
      expect(outcomes.get(code) ?? 0, `${code} in ${JSON.stringify([...outcomes])}`).toBeGreaterThan(0);
    }
  });
});
