import { FormatError } from '@dbf/core';
import { UnsupportedModelError } from '../errors';
import type { PieceType, TokenizerModel } from './tokenizer';

/** `ModelProto.SentencePiece.Type` values, 1-based as in sentencepiece_model.proto. */
const TYPES: Record<number, PieceType> = {
  1: 'normal',
  2: 'unknown',
  3: 'control',
  4: 'user-defined',
  5: 'unused',
  6: 'byte',
};

/**
 * Parses a SentencePiece `tokenizer.model` (a serialized `ModelProto`) into a `TokenizerModel`: pieces,
 * scores and types; unk/bos/eos ids, the model type and `byte_fallback` from the trainer spec; and
 * `add_dummy_prefix` / `remove_extra_whitespaces` from the normalizer spec (proto2 defaults when absent).
 * Only BPE models with the identity normalizer are supported; other models throw `UnsupportedModelError`,
 * a damaged file `FormatError('INVALID_HEADER')`.
 */
export function parseSentencePieceModel(bytes: Uint8Array, where = 'tokenizer.model'): TokenizerModel {
  if (!(bytes instanceof Uint8Array)) throw new FormatError('INVALID_HEADER', `${where}: expected bytes.`);
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: PieceType[] = [];
  let trainer: Uint8Array | undefined;
  let normalizer: Uint8Array | undefined;
  const top = new ProtoReader(bytes, where);
  while (top.more()) {
    const { field, wire } = top.tag();
    if (field === 1 && wire === 2) {
      const piece = parsePiece(top.bytes(), where, pieces.length);
      pieces.push(piece.piece);
      scores.push(piece.score);
      types.push(piece.type);
    } else if (field === 2 && wire === 2) trainer = top.bytes();
    else if (field === 3 && wire === 2) normalizer = top.bytes();
    else top.skip(wire);
  }
  if (pieces.length === 0) throw new FormatError('INVALID_HEADER', `${where}: the model has no pieces.`);

  // TrainerSpec defaults (sentencepiece_model.proto): UNIGRAM, unk 0, bos 1, eos 2.
  let modelType = 1;
  let byteFallback = false;
  let unkId = 0;
  let bosId = 1;
  let eosId = 2;
  let suffixWhitespace = false;
  if (trainer) {
    const r = new ProtoReader(trainer, where);
    while (r.more()) {
      const { field, wire } = r.tag();
      if (wire !== 0) {
        r.skip(wire);
        continue;
      }
      const value = r.varint();
      if (field === 3) modelType = value;
      else if (field === 35) byteFallback = value !== 0;
      else if (field === 24) suffixWhitespace = value !== 0;
      else if (field === 40) unkId = int32(value);
      else if (field === 41) bosId = int32(value);
      else if (field === 42) eosId = int32(value);
    }
  }
  if (modelType !== 2) {
    const name = { 1: 'UNIGRAM', 3: 'WORD', 4: 'CHAR' }[modelType] ?? `type ${modelType}`;
    throw new UnsupportedModelError(
      `${where}: a ${name} SentencePiece model; only BPE models are supported.`,
    );
  }
  if (suffixWhitespace)
    throw new UnsupportedModelError(`${where}: treat_whitespace_as_suffix is not supported.`);

  // NormalizerSpec defaults: add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces all true.
  let addDummyPrefix = true;
  let removeExtraWhitespaces = true;
  let escapeWhitespaces = true;
  let charsmap = 0;
  let ruleName = '';
  if (normalizer) {
    const r = new ProtoReader(normalizer, where);
    while (r.more()) {
      const { field, wire } = r.tag();
      if (field === 1 && wire === 2) ruleName = new TextDecoder().decode(r.bytes());
      else if (field === 2 && wire === 2) charsmap = r.bytes().byteLength;
      else if (wire === 0 && field >= 3 && field <= 5) {
        const on = r.varint() !== 0;
        if (field === 3) addDummyPrefix = on;
        else if (field === 4) removeExtraWhitespaces = on;
        else escapeWhitespaces = on;
      } else r.skip(wire);
    }
  }
  if (charsmap > 0) {
    throw new UnsupportedModelError(
      `${where}: the normalizer ${JSON.stringify(ruleName)} uses a character map; only the identity normalizer is supported.`,
    );
  }
  if (!escapeWhitespaces)
    throw new UnsupportedModelError(`${where}: escape_whitespaces = false is not supported.`);
  const checkId = (name: string, id: number) => {
    if (id >= pieces.length)
      throw new FormatError(
        'INVALID_HEADER',
        `${where}: ${name} ${id} is outside the ${pieces.length} pieces.`,
      );
    return id < 0 ? -1 : id;
  };
  return {
    pieces,
    scores: Float32Array.from(scores),
    types,
    unkId: checkId('unk_id', unkId),
    bosId: checkId('bos_id', bosId),
    eosId: checkId('eos_id', eosId),
    byteFallback,
    addDummyPrefix,
    removeExtraWhitespaces,
  };
}

function parsePiece(
  bytes: Uint8Array,
  where: string,
  index: number,
): { piece: string; score: number; type: PieceType } {
  const r = new ProtoReader(bytes, where);
  let piece: string | undefined;
  let score = 0;
  let type: PieceType = 'normal';
  while (r.more()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) {
      try {
        piece = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes());
      } catch (error) {
        throw new FormatError('INVALID_HEADER', `${where}: piece ${index} is not valid UTF-8.`, {
          cause: error,
        });
      }
    } else if (field === 2 && wire === 5) score = r.float32();
    else if (field === 3 && wire === 0) {
      const value = r.varint();
      const t = TYPES[value];
      if (!t) throw new FormatError('INVALID_HEADER', `${where}: piece ${index} has unknown type ${value}.`);
      type = t;
    } else r.skip(wire);
  }
  if (piece === undefined || piece.length === 0)
    throw new FormatError('INVALID_HEADER', `${where}: piece ${index} has no text.`);
  if (!Number.isFinite(score))
    throw new FormatError('INVALID_HEADER', `${where}: piece ${index} has score ${score}.`);
  return { piece, score, type };
}

/** proto2 int32 fields are sign-extended to 64 bits on the wire. */
function int32(value: number): number {
  return value >= 2 ** 63 ? -1 : value > 0x7fffffff ? value - 2 ** 64 : value;
}

/** The protobuf wire format, just enough of it: varints, fixed32/64 and length-delimited fields. */
class ProtoReader {
  #pos = 0;
  readonly #view: DataView;

  constructor(
    readonly buf: Uint8Array,
    readonly where: string,
  ) {
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  more(): boolean {
    return this.#pos < this.buf.byteLength;
  }

  tag(): { field: number; wire: number } {
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field === 0) this.#fail('field number 0');
    return { field, wire: key % 8 };
  }

  /** An unsigned varint as a number (exact below 2^53, which covers every field read here). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.buf.byteLength) this.#fail('a varint runs past the end');
      const b = this.buf[this.#pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    return this.#fail('a varint longer than 10 bytes');
  }

  bytes(): Uint8Array {
    const length = this.varint();
    if (length > this.buf.byteLength - this.#pos) this.#fail(`a ${length}-byte field runs past the end`);
    const out = this.buf.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return out;
  }

  float32(): number {
    this.#need(4);
    const v = this.#view.getFloat32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.#advance(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.#advance(4);
    else this.#fail(`unsupported wire type ${wire}`);
  }

  #advance(n: number): void {
    this.#need(n);
    this.#pos += n;
  }

  #need(n: number): void {
    if (this.#pos + n > this.buf.byteLength) this.#fail('a field runs past the end');
  }

  #fail(what: string): never {
    throw new FormatError(
      'INVALID_HEADER',
      `${this.where} is not a valid SentencePiece model: ${what} (byte ${this.#pos}).`,
    );
  }
}
