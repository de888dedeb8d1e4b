import { describe, expect, it } from 'vitest';
import {
  DbfError,
  type FormatErrorCode,
  findDuplicateKey,
  float32ToBfloat16,
  float32ToFloat16,
  memorySource,
  openSafetensors,
  parseStrictJson,
  readHeaderLength,
} from '../src/index';
import { rawFile, recordingSource } from './format-helpers';

/** The safetensors README example: one I32 tensor [2, 2] with data_offsets [0, 16]. */
const I32_EXAMPLE = Uint8Array.of(
  ...[0x59, 0, 0, 0, 0, 0, 0, 0],
  ...new TextEncoder().encode(
    '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"foo":"bar"}}',
  ),
  ...[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
);

async function codeOf(bytes: Uint8Array, options = {}): Promise<string> {
  try {
    await openSafetensors(memorySource(bytes), options);
  } catch (error) {
    if (DbfError.isInstance(error)) return error.code;
    throw error;
  }
  return 'OK';
}

const u8 = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

describe('openSafetensors', () => {
  it('reads a hand-written byte literal: header, metadata, lazy typed data', async () => {
    expect(I32_EXAMPLE.byteLength).toBe(8 + 0x59 + 16);
    const source = recordingSource(I32_EXAMPLE);
    const file = await openSafetensors(source);
    // Opening reads the 8-byte length and the header, nothing else.
    expect(source.reads).toEqual([
      { offset: 0, length: 8 },
      { offset: 8, length: 0x59 },
    ]);
    expect(file.metadata).toEqual({ foo: 'bar' });
    expect(file.names).toEqual(['test']);
    expect(file.info('test')).toMatchObject({
      dtype: 'I32',
      shape: [2, 2],
      dataOffsets: [0, 16],
      byteLength: 16,
      fileOffset: 97,
    });
    expect(Array.from((await file.readTyped('test')) as Int32Array)).toEqual([1, 2, 3, -1]);
    expect(source.reads.at(-1)).toEqual({ offset: 97, length: 16 });
    await expect(file.readFloat32('test')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() => file.info('nope')).toThrow(expect.objectContaining({ code: 'TENSOR_NOT_FOUND' }));
  });

  it('returns zero-copy views when aligned and copies when not', async () => {
    const words = Uint32Array.of(0xdeadbeef, 7);
    const bytes = rawFile(
      '{"w":{"dtype":"U32","shape":[2],"data_offsets":[0,8]}}',
      new Uint8Array(words.buffer),
      true,
    );
    const file = await openSafetensors(memorySource(bytes));
    const view = await file.readUint32('w');
    expect(Array.from(view)).toEqual([0xdeadbeef, 7]);
    expect(view.buffer).toBe(bytes.buffer);
    // Unpadded header of odd length: the data buffer is misaligned, so the reader must copy.
    const odd = rawFile(
      '{"w":{"dtype":"U32","shape":[2],"data_offsets":[0,8]}} ',
      new Uint8Array(words.buffer),
    );
    expect((8 + odd.byteLength - 8) % 4).not.toBe(0);
    const copy = await (await openSafetensors(memorySource(odd))).readUint32('w');
    expect(Array.from(copy)).toEqual([0xdeadbeef, 7]);
    expect(copy.buffer).not.toBe(odd.buffer);
  });

  it('converts F64, F32, F16 and BF16 to float32, and reads every dtype as its typed array', async () => {
    const f64 = new Uint8Array(Float64Array.of(1.5, -2).buffer);
    const f32 = new Uint8Array(Float32Array.of(0.25, 3).buffer);
    const f16 = new Uint8Array(Uint16Array.of(float32ToFloat16(-0.5), float32ToFloat16(65504)).buffer);
    const bf16 = new Uint8Array(Uint16Array.of(float32ToBfloat16(2), float32ToBfloat16(-(2 ** 100))).buffer);
    const i64 = new Uint8Array(BigInt64Array.of(-5n, 2n ** 40n).buffer);
    const data = new Uint8Array([...f64, ...i64, ...f32, ...f16, ...bf16, 0xff, 1]);
    const header =
      '{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"i":{"dtype":"I64","shape":[2],"data_offsets":[16,32]},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[32,40]},"c":{"dtype":"F16","shape":[2],"data_offsets":[40,44]},' +
      '"d":{"dtype":"BF16","shape":[1,2],"data_offsets":[44,48]},"e":{"dtype":"I8","shape":[2],"data_offsets":[48,50]}}';
    const file = await openSafetensors(memorySource(rawFile(header, data, true)));
    expect(Array.from(await file.readFloat32('a'))).toEqual([1.5, -2]);
    expect(Array.from(await file.readFloat32('b'))).toEqual([0.25, 3]);
    expect(Array.from(await file.readFloat32('c'))).toEqual([-0.5, 65504]);
    expect(Array.from(await file.readFloat32('d'))).toEqual([2, -(2 ** 100)]);
    expect(Array.from((await file.readTyped('i')) as BigInt64Array)).toEqual([-5n, 2n ** 40n]);
    expect(Array.from((await file.readTyped('e')) as Int8Array)).toEqual([-1, 1]);
    await expect(file.readUint32('a')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('accepts rank-0 and zero-size tensors, an empty header and trailing-space padding', async () => {
    const file = await openSafetensors(
      memorySource(
        rawFile(
          '{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"z":{"dtype":"U8","shape":[0,3],"data_offsets":[4,4]}}   ',
          new Uint8Array(Float32Array.of(7).buffer),
        ),
      ),
    );
    expect(Array.from(await file.readFloat32('s'))).toEqual([7]);
    expect((await file.readBytes('z')).byteLength).toBe(0);
    expect(await codeOf(rawFile('{}'))).toBe('OK');
    expect(await codeOf(rawFile('{"__metadata__":{}}        '))).toBe('OK');
  });

  it('treats names like __proto__ and constructor as ordinary keys', async () => {
    const file = await openSafetensors(
      memorySource(
        rawFile(
          '{"__metadata__":{"__proto__":"p","constructor":"c"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' +
            '"constructor":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
          Uint8Array.of(5, 6),
        ),
      ),
    );
    expect(file.names).toEqual(['__proto__', 'constructor']);
    expect(Object.hasOwn(file.metadata, '__proto__')).toBe(true);
    expect(file.metadata.constructor).toBe('c');
    expect(Array.from(await file.readBytes('__proto__'))).toEqual([5]);
    expect(file.has('toString')).toBe(false);
  });

  const cases: [string, FormatErrorCode, Uint8Array][] = [
    ['a file shorter than 8 bytes', 'HEADER_TOO_SMALL', u8(7)],
    ['a header length below 2', 'HEADER_TOO_SMALL', Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0x7b)],
    [
      'a header length beyond the file',
      'HEADER_TOO_LARGE',
      Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d),
    ],
    [
      'a header length with the high word set',
      'HEADER_TOO_LARGE',
      Uint8Array.of(2, 0, 0, 0, 1, 0, 0, 0, 0x7b, 0x7d),
    ],
    ['a header not starting with {', 'INVALID_HEADER', rawFile(' {}')],
    ['invalid UTF-8', 'INVALID_HEADER', Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x22, 0xc3, 0x22)],
    ['a UTF-8 BOM', 'INVALID_HEADER', Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0, 0xef, 0xbb, 0xbf, 0x7b, 0x7d)],
    ['trailing garbage after the JSON', 'INVALID_HEADER', rawFile('{}x')],
    [
      'duplicate tensor names',
      'DUPLICATE_KEY',
      rawFile(
        '{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}',
      ),
    ],
    [
      'a duplicate key spelled with an escape',
      'DUPLICATE_KEY',
      rawFile('{"__metadata__":{"k":"1","\\u006b":"2"}}'),
    ],
    ['a non-object entry', 'INVALID_TENSOR_INFO', rawFile('{"a":[1]}')],
    [
      'a fractional dimension',
      'INVALID_TENSOR_INFO',
      rawFile('{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}}'),
    ],
    [
      'three data offsets',
      'INVALID_TENSOR_INFO',
      rawFile('{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0,0]}}'),
    ],
    ['a numeric dtype', 'INVALID_TENSOR_INFO', rawFile('{"a":{"dtype":4,"shape":[0],"data_offsets":[0,0]}}')],
    [
      'an unknown dtype',
      'UNSUPPORTED_DTYPE',
      rawFile('{"a":{"dtype":"F4","shape":[0],"data_offsets":[0,0]}}'),
    ],
    [
      'a dimension above 2^53',
      'VALIDATION_OVERFLOW',
      rawFile('{"a":{"dtype":"U8","shape":[1e16],"data_offsets":[0,0]}}'),
    ],
    [
      'a byte size above 2^53',
      'VALIDATION_OVERFLOW',
      rawFile(`{"a":{"dtype":"F64","shape":[${2 ** 51}],"data_offsets":[0,0]}}`),
    ],
    [
      'offsets past the buffer',
      'INVALID_OFFSET',
      rawFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}', u8(1)),
    ],
    [
      'end before begin',
      'INVALID_OFFSET',
      rawFile('{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}', u8(1)),
    ],
    [
      'shape × dtype ≠ span',
      'SIZE_MISMATCH',
      rawFile('{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,2]}}', u8(2)),
    ],
    [
      'overlapping ranges',
      'OVERLAPPING_TENSORS',
      rawFile(
        '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
        u8(3),
      ),
    ],
    [
      'a zero-size tensor inside another',
      'OVERLAPPING_TENSORS',
      rawFile(
        '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[0],"data_offsets":[1,1]}}',
        u8(2),
      ),
    ],
    [
      'a hole at the start',
      'BUFFER_HOLE',
      rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', u8(2)),
    ],
    ['bytes and no tensors', 'BUFFER_HOLE', rawFile('{}', u8(1))],
    ['__metadata__ as an array', 'INVALID_METADATA', rawFile('{"__metadata__":["a"]}')],
    ['a null metadata value', 'INVALID_METADATA', rawFile('{"__metadata__":{"a":null}}')],
  ];
  for (const [what, code, bytes] of cases) {
    it(`rejects ${what} with ${code}`, async () => {
      expect(await codeOf(bytes)).toBe(code);
    });
  }

  it('bounds the header by a configurable limit, before reading it', async () => {
    const bytes = rawFile(`{"__metadata__":{"a":"${'x'.repeat(100)}"}}`);
    expect(await codeOf(bytes)).toBe('OK');
    const source = recordingSource(bytes);
    await expect(openSafetensors(source, { maxHeaderSize: 64 })).rejects.toMatchObject({
      code: 'HEADER_TOO_LARGE',
    });
    expect(source.reads).toEqual([{ offset: 0, length: 8 }]);
    expect(() => readHeaderLength(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x80), 2 ** 40)).toThrow(
      /9223372036854775808 exceeds/,
    );
    // Lengths above 2^32 are decoded exactly (the high word counts) when a caller raises the limit.
    expect(readHeaderLength(Uint8Array.of(5, 0, 0, 0, 1, 0, 0, 0), 2 ** 34, { maxHeaderSize: 2 ** 33 })).toBe(
      2 ** 32 + 5,
    );
    await expect(openSafetensors(memorySource(bytes), { maxHeaderSize: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('reports source failures as IO_ERROR and checks the source contract', async () => {
    const failing = {
      size: I32_EXAMPLE.byteLength,
      read: async () => Promise.reject(new Error('disk gone')),
    };
    await expect(openSafetensors(failing)).rejects.toMatchObject({ code: 'IO_ERROR' });
    const short = { size: I32_EXAMPLE.byteLength, read: async () => new Uint8Array(3) };
    await expect(openSafetensors(short)).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(openSafetensors({ size: -1, read: async () => new Uint8Array(0) })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('strict JSON', () => {
  it('finds duplicates at any depth, after unescaping, and ignores equal keys in different objects', () => {
    expect(findDuplicateKey('{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}')).toBeUndefined();
    expect(findDuplicateKey('{"a":{"x":1,"y":[1,{"z":1,"z":2}]}}')).toBe('z');
    expect(findDuplicateKey('{"a\\"b":1,"a\\u0022b":2}')).toBe('a"b');
    expect(findDuplicateKey('{"k":"a,\\"k\\":1","k2":"}"}')).toBeUndefined();
    expect(findDuplicateKey(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBeUndefined();
    expect(() => parseStrictJson('{"a":1,"a":1}', 'INVALID_HEADER', 'x')).toThrow(
      expect.objectContaining({ code: 'DUPLICATE_KEY' }),
    );
    expect(() => parseStrictJson('{', 'INVALID_LAYER', 'x')).toThrow(
      expect.objectContaining({ code: 'INVALID_LAYER' }),
    );
  });
});
