import { readFileSync } from 'node:fs';
import { type DbfError, FormatError } from '@dbf/core';
import { describe, expect, it } from 'vitest';
import {
  parseLlama2cTokenizer,
  parseSentencePieceModel,
  Tokenizer,
  type TokenizerModel,
  UnsupportedModelError,
} from '../src/index';
import { sentencePieceModel } from './helpers/protobuf';
import { readShared, sharedPath, sotuText } from './helpers/shared';

const sotuModel = () =>
  new Tokenizer(parseSentencePieceModel(readShared('models', 'sotu-3m', 'tokenizer.model')));
const sotuBin = () => new Tokenizer(parseLlama2cTokenizer(readShared('models', 'sotu-3m', 'tokenizer.bin')));

/** A toy vocabulary: ids 0–2 special, then the pieces given, no byte pieces. */
function toy(pieces: [string, number][], overrides: Partial<TokenizerModel> = {}): Tokenizer {
  return new Tokenizer({
    pieces: ['<unk>', '<s>', '</s>', ...pieces.map((p) => p[0])],
    scores: [0, 0, 0, ...pieces.map((p) => p[1])],
    types: ['unknown', 'control', 'control', ...pieces.map(() => 'normal' as const)],
    unkId: 0,
    bosId: 1,
    eosId: 2,
    byteFallback: false,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    ...overrides,
  });
}

describe('SentencePiece BPE tokenizer', () => {
  it('merges the highest-scoring pair first, the leftmost on ties (hand-worked vocabulary)', () => {
    // ids: 3 ▁, 4 a, 5 b, 6 c, 7 ab, 8 bc, 9 abc, 10 aa, 11 ▁a
    const t = toy([
      ['▁', -10],
      ['a', -10],
      ['b', -10],
      ['c', -10],
      ['ab', -2],
      ['bc', -1],
      ['abc', -3],
      ['aa', -4],
      ['▁a', -5],
    ]);
    // "▁abc": bc (−1) beats ab (−2) and ▁a (−5); then a+bc = abc (−3) beats ▁a (−5): [▁, abc].
    expect(t.encode('abc')).toEqual([3, 9]);
    // "▁aaa": aa (−4) beats ▁a (−5), and of the two aa pairs the leftmost merges: [▁, aa, a].
    expect(t.encode('aaa')).toEqual([3, 10, 4]);
    // "▁ab": ab (−2) before ▁a (−5), and ▁+ab is no piece: [▁, ab].
    expect(t.encode('ab')).toEqual([3, 7]);
    // "▁cab": ab (−2) merges; ▁ + c and c + ab are not pieces.
    expect(t.encode('cab')).toEqual([3, 6, 7]);
    // Unknown characters become <unk> without byte fallback.
    expect(t.encode('ax')).toEqual([11, 0]);
  });

  it('normalizes like SentencePiece: dummy prefix, collapsed and stripped spaces', () => {
    const t = toy([
      ['▁', -10],
      ['a', -10],
    ]);
    expect(t.normalize('  a   a  ')).toBe('▁a▁a');
    expect(t.normalize('   ')).toBe('');
    expect(t.normalize('a\n a')).toBe('▁a\n▁a');
    const raw = toy([['▁', -10]], { removeExtraWhitespaces: false });
    expect(raw.normalize(' a  a ')).toBe('▁▁a▁▁a▁');
    const noPrefix = toy([['▁', -10]], { addDummyPrefix: false });
    expect(noPrefix.normalize('a a')).toBe('a▁a');
  });

  it('reproduces the sotu-3m probe ids of SOURCE.md from tokenizer.model and from tokenizer.bin', () => {
    const probe = 'The state of the Union is strong.';
    const expected = [355, 992, 269, 262, 1000, 334, 1264, 4032];
    expect(sotuModel().encode(probe)).toEqual(expected);
    expect(sotuBin().encode(probe)).toEqual(expected);
    expect(sotuModel().encode(probe, { bos: true, eos: true })).toEqual([1, ...expected, 2]);
    expect(sotuModel().decode(expected)).toBe(probe);
  });

  it('reproduces the stories260K encoding of SOURCE.md (tok512.bin, run.c rules)', () => {
    const t = new Tokenizer(
      parseLlama2cTokenizer(readShared('models', 'stories260K', 'tok512.bin'), { vocabSize: 512 }),
    );
    expect(t.vocabSize).toBe(512);
    expect(t.encode('Once upon a time')).toEqual([403, 407, 261, 378]);
  });

  it('gives the same ids from tokenizer.model and tokenizer.bin on real text', () => {
    const a = sotuModel();
    const b = sotuBin();
    const sotu = sotuText().slice(0, 6000);
    const wiki = readFileSync(sharedPath('data', 'wikitext-2', 'wiki.test.raw'), 'utf8').slice(0, 6000);
    for (const text of [sotu, wiki]) {
      const ids = a.encode(text);
      expect(ids.length).toBeGreaterThan(1000);
      expect(b.encode(text)).toEqual(ids);
    }
    // The vocabularies agree piece by piece, with llama2.c's ' ' and "\n<s>\n" undone.
    expect(b.model.pieces).toEqual(a.model.pieces);
    expect(Array.from(b.model.scores)).toEqual(Array.from(a.model.scores));
    expect(b.model.types).toEqual(a.model.types);
  });

  it('tokenizes the whole held-out SOTU file to the token count of SOURCE.md', () => {
    const text = sotuText();
    const ids = sotuModel().encode(text);
    expect(ids.length).toBe(193_122);
    // Decoding returns the text up to SentencePiece's whitespace normalization.
    const normalized = text.replace(/^ +/, '').replace(/ {2,}/g, ' ').replace(/ +$/, '');
    expect(sotuModel().decode(ids)).toBe(normalized);
  });

  it('falls back to UTF-8 byte pieces for characters outside the vocabulary and decodes them back', () => {
    const t = sotuModel();
    const text = 'Llamas 🦙 say 你好 ok';
    const ids = t.encode(text);
    const byteIds = ids.filter((id) => t.model.types[id] === 'byte');
    // 🦙 is F0 9F A6 99 in UTF-8, 你好 E4 BD A0 E5 A5 BD.
    expect(byteIds.map((id) => t.piece(id)).join('')).toBe(
      '<0xF0><0x9F><0xA6><0x99><0xE4><0xBD><0xA0><0xE5><0xA5><0xBD>',
    );
    expect(t.decode(ids)).toBe(text);
  });

  it('streams multi-byte characters once all their bytes have arrived', () => {
    const t = sotuModel();
    const ids = t.encode('🦙!');
    const decoder = t.createDecoder();
    const pieces = ids.map((id) => decoder.push(id));
    // ▁ (dropped at the start), then three bytes that complete nothing, then the fourth completes the llama.
    const firstByte = ids.findIndex((id) => t.model.types[id] === 'byte');
    expect(pieces.slice(firstByte, firstByte + 3)).toEqual(['', '', '']);
    expect(pieces[firstByte + 3]).toBe('🦙');
    expect(pieces.join('') + decoder.flush()).toBe('🦙!');
    // An incomplete sequence at the end flushes as U+FFFD.
    const cut = t.createDecoder();
    cut.push(ids[firstByte]!);
    expect(cut.flush()).toBe('\uFFFD');
  });

  it('keeps extra spaces in run.c mode and drops control tokens when decoding', () => {
    const run = new Tokenizer(
      parseLlama2cTokenizer(readShared('models', 'sotu-3m', 'tokenizer.bin'), {
        removeExtraWhitespaces: false,
      }),
    );
    const text = 'We the  people';
    expect(run.encode(text).length).toBeGreaterThan(sotuBin().encode(text).length);
    expect(run.decode([1, ...run.encode(text), 2])).toBe(text);
  });

  it('reads types, ids and normalizer flags from a hand-built tokenizer.model', () => {
    const bytes = sentencePieceModel(
      [
        { piece: '<unk>', type: 'unknown' },
        { piece: '<s>', type: 'control' },
        { piece: '</s>', type: 'control' },
        { piece: '<sep>', type: 'user-defined' },
        { piece: '▁', score: -1 },
        { piece: 'x', score: -2 },
        { piece: '▁x', score: -0.5 },
        { piece: 'xx', score: -0.25, type: 'unused' },
      ],
      [
        { field: 3, varint: 2 },
        { field: 41, varint: 1 },
        { field: 42, varint: 2 },
      ],
      [
        { field: 1, bytes: 'identity' },
        { field: 3, varint: 0 },
        { field: 4, varint: 0 },
      ],
    );
    const model = parseSentencePieceModel(bytes);
    expect(model.types).toEqual([
      'unknown',
      'control',
      'control',
      'user-defined',
      'normal',
      'normal',
      'normal',
      'unused',
    ]);
    expect(model.addDummyPrefix).toBe(false);
    expect(model.removeExtraWhitespaces).toBe(false);
    expect(model.byteFallback).toBe(false);
    const t = new Tokenizer(model);
    // <sep> stays whole; "xx" is unused, so it is split back into x + x; " x" merges to ▁x.
    expect(t.encode('x<sep> x')).toEqual([5, 3, 6]);
    expect(t.encode('xx')).toEqual([5, 5]);
  });

  it('rejects damaged and unsupported tokenizer files with typed errors', () => {
    const good = readShared('models', 'sotu-3m', 'tokenizer.model');
    expect(() => parseSentencePieceModel(good.subarray(0, 1000))).toThrow(FormatError);
    try {
      parseSentencePieceModel(good.subarray(0, 1000));
    } catch (error) {
      expect((error as DbfError).code).toBe('INVALID_HEADER');
    }
    const unigram = sentencePieceModel([{ piece: '<unk>', type: 'unknown' }], [{ field: 3, varint: 1 }]);
    expect(() => parseSentencePieceModel(unigram)).toThrow(UnsupportedModelError);
    expect(() => parseSentencePieceModel(unigram)).toThrow(/UNIGRAM/);
    const nfkc = sentencePieceModel(
      [{ piece: '<unk>', type: 'unknown' }],
      [{ field: 3, varint: 2 }],
      [
        { field: 1, bytes: 'nmt_nfkc' },
        { field: 2, bytes: new Uint8Array([1, 2, 3]) },
      ],
    );
    expect(() => parseSentencePieceModel(nfkc)).toThrow(/identity normalizer/);

    const bin = readShared('models', 'sotu-3m', 'tokenizer.bin');
    expect(() => parseLlama2cTokenizer(bin, { vocabSize: 512 })).toThrow(/4096|bytes are left/);
    const padded = new Uint8Array(bin.length + 3);
    padded.set(bin);
    expect(() => parseLlama2cTokenizer(padded)).toThrow(FormatError);
    expect(() => parseLlama2cTokenizer(bin.subarray(0, 2))).toThrow(/shorter/);
  });

  it('validates its inputs', () => {
    const t = toy([['▁', -1]]);
    expect(() => t.decode([99])).toThrow(/outside the vocabulary/);
    expect(() => toy([['▁', Number.NaN]])).toThrow(/finite/);
    expect(() => toy([['▁', -1]], { byteFallback: true })).toThrow(/<0x00>/);
    expect(() => t.encode(42 as unknown as string)).toThrow(/string/);
  });
});
