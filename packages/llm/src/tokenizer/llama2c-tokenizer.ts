import { FormatError } from '@dbf/core';
import type { PieceType, TokenizerModel } from './tokenizer';

export interface Llama2cTokenizerOptions {
  /** Expected number of tokens (the checkpoint's vocab_size); the file must hold exactly that many. */
  readonly vocabSize?: number;
  /**
   * The normalizer options, which tokenizer.bin does not store. Default: SentencePiece's defaults
   * (`addDummyPrefix` and `removeExtraWhitespaces` true), so that ids equal those of the tokenizer.model
   * the file was exported from. llama2.c's run.c keeps extra spaces: pass `removeExtraWhitespaces: false`
   * to reproduce it exactly.
   */
  readonly addDummyPrefix?: boolean;
  readonly removeExtraWhitespaces?: boolean;
}

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

/**
 * Parses a llama2.c `tokenizer.bin`: int32 max_token_length, then per token a float32 score, an int32
 * byte length and the UTF-8 bytes. The export wrote '▁' as ' ' and BOS/EOS as "\n<s>\n" / "\n</s>\n";
 * this undoes both and infers the piece types (0 = unknown, BOS/EOS = control, <0xNN> = byte) the
 * export dropped, with llama2.c's fixed ids unk 0, bos 1, eos 2.
 */
export function parseLlama2cTokenizer(
  bytes: Uint8Array,
  options: Llama2cTokenizerOptions = {},
  where = 'tokenizer.bin',
): TokenizerModel {
  if (!(bytes instanceof Uint8Array)) throw new FormatError('INVALID_HEADER', `${where}: expected bytes.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string): never => {
    throw new FormatError('INVALID_HEADER', `${where} is not a llama2.c tokenizer: ${what}.`);
  };
  if (bytes.byteLength < 4) fail('it is shorter than its 4-byte header');
  const maxLength = view.getInt32(0, true);
  if (maxLength < 1 || maxLength > 1024) fail(`max_token_length is ${maxLength}`);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const scores: number[] = [];
  let pos = 4;
  while (pos < bytes.byteLength && (options.vocabSize === undefined || pieces.length < options.vocabSize)) {
    if (pos + 8 > bytes.byteLength) fail(`token ${pieces.length} is cut off`);
    const score = view.getFloat32(pos, true);
    const length = view.getInt32(pos + 4, true);
    pos += 8;
    if (!Number.isFinite(score)) fail(`token ${pieces.length} has score ${score}`);
    if (length < 1 || length > maxLength || pos + length > bytes.byteLength)
      fail(`token ${pieces.length} has length ${length} (max_token_length ${maxLength})`);
    let text: string;
    try {
      text = utf8.decode(bytes.subarray(pos, pos + length));
    } catch {
      return fail(`token ${pieces.length} is not valid UTF-8`);
    }
    pos += length;
    pieces.push(text);
    scores.push(score);
  }
  if (options.vocabSize !== undefined && pieces.length !== options.vocabSize)
    fail(`it has ${pieces.length} tokens, the model expects ${options.vocabSize}`);
  if (pos !== bytes.byteLength)
    fail(`${bytes.byteLength - pos} bytes are left after ${pieces.length} tokens`);
  if (pieces.length < 3) fail(`it has only ${pieces.length} tokens`);

  const types: PieceType[] = pieces.map((p, id) => {
    if (id === 0) return 'unknown';
    if (id === 1 || id === 2) return 'control';
    return BYTE_PIECE.test(p) ? 'byte' : 'normal';
  });
  const normalized = pieces.map((p, id) => {
    if (id === 1 || id === 2) return p.trim();
    return types[id] === 'normal' ? p.replaceAll(' ', '\u2581') : p;
  });
  const byteCount = types.filter((t) => t === 'byte').length;
  return {
    pieces: normalized,
    scores: Float32Array.from(scores),
    types,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    byteFallback: byteCount === 256,
    addDummyPrefix: options.addDummyPrefix ?? true,
    removeExtraWhitespaces: options.removeExtraWhitespaces ?? true,
  };
}
