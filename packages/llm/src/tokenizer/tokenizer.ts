import { InvalidArgumentError } from '@dbf/core';

/** SentencePiece piece types (the `ModelProto.SentencePiece.Type` enum). */
export type PieceType = 'normal' | 'unknown' | 'control' | 'user-defined' | 'unused' | 'byte';

/** Everything a SentencePiece BPE tokenizer needs, whichever file it came from. */
export interface TokenizerModel {
  /** Piece strings by id; a space is written '▁' (U+2581), byte pieces '<0xNN>'. */
  readonly pieces: readonly string[];
  /** Merge priority of each piece: a higher score merges first. */
  readonly scores: ArrayLike<number>;
  readonly types: readonly PieceType[];
  /** -1 when the vocabulary has none. */
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Characters outside the vocabulary become their UTF-8 bytes `<0xNN>` instead of `<unk>`. */
  readonly byteFallback: boolean;
  /** Prefix the text with a space (SentencePiece `add_dummy_prefix`). */
  readonly addDummyPrefix: boolean;
  /** Drop leading and trailing spaces and collapse runs of spaces (SentencePiece `remove_extra_whitespaces`). */
  readonly removeExtraWhitespaces: boolean;
}

export interface EncodeOptions {
  /** Prepend the BOS id. Default false. */
  readonly bos?: boolean;
  /** Append the EOS id. Default false. */
  readonly eos?: boolean;
}

/** Incremental decoding for streamed tokens: `push` returns the text each id adds (possibly ''). */
export interface TokenStreamDecoder {
  push(id: number): string;
  /** Text held back (an incomplete UTF-8 sequence of byte pieces), as U+FFFD; resets the decoder. */
  flush(): string;
}

const SPACE = '\u2581';
const UNK_SURFACE = ' \u2047 ';
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
const MERGEABLE: ReadonlySet<PieceType> = new Set(['normal', 'user-defined', 'unused']);
const PIECE_TYPES: ReadonlySet<string> = new Set([
  'normal',
  'unknown',
  'control',
  'user-defined',
  'unused',
  'byte',
]);

/**
 * A SentencePiece-compatible BPE tokenizer with byte fallback. `encode` reproduces
 * `SentencePieceProcessor.encode` for BPE models with the identity normalizer: the text is normalized
 * (dummy prefix, extra spaces removed, spaces as '▁'), split into characters (user-defined pieces kept
 * whole), and adjacent symbols are merged greedily, always the pair whose merged piece has the highest
 * score (the leftmost on ties), which is also llama2.c's `encode` rule. Symbols left outside the vocabulary
 * become byte pieces (or `<unk>`).
 */
export class Tokenizer {
  readonly vocabSize: number;
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly model: TokenizerModel;
  readonly #mergeable = new Map<string, number>();
  readonly #byteIds = new Int32Array(256).fill(-1);
  /** Byte value of each byte piece, -1 for other pieces. */
  readonly #byteOf: Int16Array;
  readonly #scores: Float64Array;
  readonly #userDefined: readonly string[];
  readonly #encoder = new TextEncoder();

  constructor(model: TokenizerModel) {
    checkModel(model);
    this.model = model;
    const n = model.pieces.length;
    this.vocabSize = n;
    this.unkId = model.unkId;
    this.bosId = model.bosId;
    this.eosId = model.eosId;
    this.#scores = Float64Array.from(model.scores as ArrayLike<number>);
    this.#byteOf = new Int16Array(n).fill(-1);
    const user: string[] = [];
    for (let id = 0; id < n; id++) {
      const piece = model.pieces[id]!;
      const type = model.types[id]!;
      if (MERGEABLE.has(type) && !this.#mergeable.has(piece)) this.#mergeable.set(piece, id);
      if (type === 'user-defined') user.push(piece);
      if (type === 'byte') {
        const match = BYTE_PIECE.exec(piece);
        if (!match) {
          throw new InvalidArgumentError(
            `Piece ${id} has type 'byte' but is ${JSON.stringify(piece)}; byte pieces are written <0xNN>.`,
          );
        }
        const value = Number.parseInt(match[1]!, 16);
        this.#byteOf[id] = value;
        if (this.#byteIds[value] === -1) this.#byteIds[value] = id;
      }
    }
    if (model.byteFallback) {
      const missing = this.#byteIds.indexOf(-1);
      if (missing >= 0) {
        throw new InvalidArgumentError(
          `byteFallback is on but the vocabulary has no byte piece <0x${missing.toString(16).toUpperCase().padStart(2, '0')}>.`,
        );
      }
    }
    this.#userDefined = user.sort((a, b) => b.length - a.length);
  }

  /** The piece string of `id` ('▁' for spaces). */
  piece(id: number): string {
    this.#checkId(id);
    return this.model.pieces[id]!;
  }

  /** The id of a mergeable (normal, user-defined or unused) piece, or undefined. */
  pieceId(piece: string): number | undefined {
    return this.#mergeable.get(piece);
  }

  /** The text SentencePiece's normalizer turns `text` into before segmentation. */
  normalize(text: string): string {
    if (typeof text !== 'string') throw new InvalidArgumentError('text must be a string.');
    let t = text;
    if (this.model.removeExtraWhitespaces) {
      t = t.replace(/^ +/, '');
      if (t.length === 0) return '';
      t = t.replace(/ {2,}/g, ' ');
    } else if (t.length === 0) return '';
    let out = (this.model.addDummyPrefix ? SPACE : '') + t.replaceAll(' ', SPACE);
    // SentencePiece strips trailing space symbols after escaping, so a literal '▁' goes too.
    if (this.model.removeExtraWhitespaces) out = out.replace(/\u2581+$/, '');
    return out;
  }

  /** Token ids of `text` (no BOS unless asked). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    if (options.bos) {
      if (this.bosId < 0) throw new InvalidArgumentError('This vocabulary has no BOS token.');
      ids.push(this.bosId);
    }
    const normalized = this.normalize(text);
    if (normalized.length > 0) this.#segment(normalized, ids);
    if (options.eos) {
      if (this.eosId < 0) throw new InvalidArgumentError('This vocabulary has no EOS token.');
      ids.push(this.eosId);
    }
    return ids;
  }

  /** Text of a token sequence, as SentencePiece decodes it (control tokens vanish, byte pieces are UTF-8). */
  decode(ids: ArrayLike<number>): string {
    const decoder = this.createDecoder();
    let text = '';
    for (let i = 0; i < ids.length; i++) text += decoder.push(ids[i]!);
    return text + decoder.flush();
  }

  /**
   * A decoder for ids that arrive one at a time: byte pieces are buffered until they form UTF-8
   * characters, and the dummy-prefix space of the first piece is dropped, as in `decode`.
   */
  createDecoder(): TokenStreamDecoder {
    const { pieces, types, addDummyPrefix } = this.model;
    const byteOf = this.#byteOf;
    let utf8 = new TextDecoder('utf-8');
    let pendingBytes = false;
    let atStart = true;
    const one = new Uint8Array(1);
    return {
      push: (id) => {
        this.#checkId(id);
        const type = types[id]!;
        if (type === 'byte') {
          one[0] = byteOf[id]!;
          pendingBytes = true;
          atStart = false;
          return utf8.decode(one, { stream: true });
        }
        let text = '';
        if (pendingBytes) {
          text = utf8.decode();
          pendingBytes = false;
        }
        if (type === 'control') return text;
        if (type === 'unknown') {
          atStart = false;
          return text + UNK_SURFACE;
        }
        let piece = pieces[id]!;
        if (atStart && addDummyPrefix && piece.startsWith(SPACE)) piece = piece.slice(1);
        atStart = false;
        return text + piece.replaceAll(SPACE, ' ');
      },
      flush: () => {
        const text = pendingBytes ? utf8.decode() : '';
        utf8 = new TextDecoder('utf-8');
        pendingBytes = false;
        atStart = true;
        return text;
      },
    };
  }

  #checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
      throw new InvalidArgumentError(`Token id ${id} is outside the vocabulary (0..${this.vocabSize - 1}).`);
  }

  /** BPE over one normalized string, appending ids to `out`. */
  #segment(text: string, out: number[]): void {
    // Symbols tile `text`: symbol s covers [start[s], end[s]); merged-away symbols have end = -1.
    const capacity = text.length;
    const start = new Int32Array(capacity);
    const end = new Int32Array(capacity);
    const prev = new Int32Array(capacity);
    const next = new Int32Array(capacity);
    const frozen = new Uint8Array(capacity);
    let count = 0;
    const user = this.#userDefined;
    for (let i = 0; i < text.length; ) {
      let length = 0;
      for (const piece of user) {
        if (text.startsWith(piece, i)) {
          length = piece.length;
          frozen[count] = 1;
          break;
        }
      }
      if (length === 0) {
        const c = text.charCodeAt(i);
        length = c >= 0xd800 && c < 0xdc00 && i + 1 < text.length ? 2 : 1;
      }
      start[count] = i;
      end[count] = i + length;
      prev[count] = count - 1;
      next[count] = i + length < text.length ? count + 1 : -1;
      count++;
      i += length;
    }

    const heap = new PairHeap(count);
    const scores = this.#scores;
    const types = this.model.types;
    const mergeable = this.#mergeable;
    let revMerge: Map<string, [string, string]> | undefined;
    const consider = (left: number, right: number) => {
      if (left < 0 || right < 0 || frozen[left] || frozen[right]) return;
      const piece = text.slice(start[left]!, end[right]!);
      const id = mergeable.get(piece);
      if (id === undefined) return;
      heap.push(scores[id]!, left, right, piece.length);
      if (types[id] === 'unused') {
        revMerge ??= new Map();
        revMerge.set(piece, [text.slice(start[left]!, end[left]!), text.slice(start[right]!, end[right]!)]);
      }
    };
    for (let s = 1; s < count; s++) consider(s - 1, s);
    while (heap.size > 0) {
      const left = heap.topLeft();
      const right = heap.topRight();
      const size = heap.topSize();
      heap.pop();
      // Stale entry: one side was merged away or has grown since the pair was queued.
      if (end[left] === -1 || end[right] === -1) continue;
      if (end[left]! - start[left]! + end[right]! - start[right]! !== size) continue;
      end[left] = end[right]!;
      end[right] = -1;
      const after = next[right]!;
      next[left] = after;
      if (after >= 0) prev[after] = left;
      consider(prev[left]!, left);
      consider(left, after);
    }

    const emit = (piece: string) => {
      const id = mergeable.get(piece);
      if (id !== undefined && types[id] === 'unused' && revMerge?.has(piece)) {
        const [a, b] = revMerge.get(piece)!;
        emit(a);
        emit(b);
        return;
      }
      if (id !== undefined) {
        out.push(id);
        return;
      }
      if (this.model.byteFallback) {
        for (const byte of this.#encoder.encode(piece)) out.push(this.#byteIds[byte]!);
        return;
      }
      if (this.unkId < 0)
        throw new InvalidArgumentError(
          `The text has ${JSON.stringify(piece)}, which this vocabulary cannot represent (no <unk>, no byte fallback).`,
        );
      out.push(this.unkId);
    };
    for (let s = count > 0 ? 0 : -1; s >= 0; s = next[s]!) emit(text.slice(start[s]!, end[s]!));
  }
}

/** A binary max-heap of candidate merges, ordered by score, then by leftmost position. */
class PairHeap {
  size = 0;
  #score: Float64Array;
  #left: Int32Array;
  #right: Int32Array;
  #length: Int32Array;

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.#score = new Float64Array(c);
    this.#left = new Int32Array(c);
    this.#right = new Int32Array(c);
    this.#length = new Int32Array(c);
  }

  topLeft(): number {
    return this.#left[0]!;
  }
  topRight(): number {
    return this.#right[0]!;
  }
  topSize(): number {
    return this.#length[0]!;
  }

  push(score: number, left: number, right: number, length: number): void {
    if (this.size === this.#score.length) this.#grow();
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(score, left, parent)) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#set(i, score, left, right, length);
  }

  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    const score = this.#score[last]!;
    const left = this.#left[last]!;
    const right = this.#right[last]!;
    const length = this.#length[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.#childFirst(child + 1, this.#score[child]!, this.#left[child]!)) child++;
      if (!this.#childFirst(child, score, left)) break;
      this.#move(child, i);
      i = child;
    }
    this.#set(i, score, left, right, length);
  }

  /** Whether the entry at `child` comes before (score, left): higher score, or leftmost on ties. */
  #childFirst(child: number, score: number, left: number): boolean {
    const s = this.#score[child]!;
    return s > score || (s === score && this.#left[child]! < left);
  }

  /** Whether (score, left) comes before the entry at `at`. */
  #before(score: number, left: number, at: number): boolean {
    const s = this.#score[at]!;
    return score > s || (score === s && left < this.#left[at]!);
  }

  #move(from: number, to: number): void {
    this.#score[to] = this.#score[from]!;
    this.#left[to] = this.#left[from]!;
    this.#right[to] = this.#right[from]!;
    this.#length[to] = this.#length[from]!;
  }

  #set(i: number, score: number, left: number, right: number, length: number): void {
    this.#score[i] = score;
    this.#left[i] = left;
    this.#right[i] = right;
    this.#length[i] = length;
  }

  #grow(): void {
    const c = this.#score.length * 2;
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.#score = grow(this.#score, (n) => new Float64Array(n));
    this.#left = grow(this.#left, (n) => new Int32Array(n));
    this.#right = grow(this.#right, (n) => new Int32Array(n));
    this.#length = grow(this.#length, (n) => new Int32Array(n));
  }
}

function checkModel(model: TokenizerModel): void {
  if (typeof model !== 'object' || model === null)
    throw new InvalidArgumentError('A tokenizer needs a TokenizerModel object.');
  const { pieces, scores, types } = model;
  if (
    !Array.isArray(pieces) ||
    pieces.length === 0 ||
    !pieces.every((p) => typeof p === 'string' && p.length > 0)
  )
    throw new InvalidArgumentError('model.pieces must be a non-empty array of non-empty strings.');
  if (scores?.length !== pieces.length)
    throw new InvalidArgumentError(`model.scores must have ${pieces.length} entries (one per piece).`);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i]))
      throw new InvalidArgumentError(`model.scores[${i}] is ${scores[i]}; scores must be finite.`);
  }
  if (!Array.isArray(types) || types.length !== pieces.length || !types.every((t) => PIECE_TYPES.has(t)))
    throw new InvalidArgumentError(
      `model.types must have ${pieces.length} entries among ${[...PIECE_TYPES].join(', ')}.`,
    );
  for (const key of ['unkId', 'bosId', 'eosId'] as const) {
    const id = model[key];
    if (!Number.isInteger(id) || id < -1 || id >= pieces.length)
      throw new InvalidArgumentError(`model.${key} must be -1 or a piece id, got ${String(id)}.`);
  }
  for (const key of ['byteFallback', 'addDummyPrefix', 'removeExtraWhitespaces'] as const) {
    if (typeof model[key] !== 'boolean') throw new InvalidArgumentError(`model.${key} must be a boolean.`);
  }
}
