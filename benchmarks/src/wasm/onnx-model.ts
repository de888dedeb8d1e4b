/**
 * Tiny ONNX models for the onnxruntime-web baselines, written with a hand-made protobuf encoder (no
 * Python, no protobuf library): `Y = X · Wᵀ` as one `MatMul` (f32), and the same product as one
 * `com.microsoft.MatMulNBits` with 4-bit weights. Field numbers from onnx.proto (toolchain.md §2):
 *
 * | message    | fields                                                                 |
 * |------------|------------------------------------------------------------------------|
 * | Model      | 1 ir_version, 8 opset_import {1 domain, 2 version}, 7 graph            |
 * | Graph      | 1 node, 2 name, 5 initializer, 11 input, 12 output                     |
 * | Node       | 1 input*, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain           |
 * | Attribute  | 1 name, 3 i, 20 type (2 = INT)                                         |
 * | Tensor     | 1 dims*, 2 data_type (1 f32, 2 u8), 8 name, 9 raw_data                 |
 * | ValueInfo  | 1 name, 2 type {1 tensor {1 elem_type, 2 shape {1 dim {1 dim_value}}}} |
 */

type Field = Uint8Array;

class Writer {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.length += bytes.length;
    return this;
  }

  private varint(value: number): this {
    const bytes: number[] = [];
    let v = value;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    return this.push(Uint8Array.from(bytes));
  }

  /** A varint field (wire type 0). */
  int(field: number, value: number): this {
    return this.varint(field * 8).varint(value);
  }

  /** A length-delimited field (wire type 2): bytes, a string or an encoded sub-message. */
  bytes(field: number, value: Uint8Array | string): this {
    const data = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    return this.varint(field * 8 + 2)
      .varint(data.length)
      .push(data);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

const FLOAT = 1;
const UINT8 = 2;

function tensor(name: string, dataType: number, dims: readonly number[], data: Uint8Array): Field {
  const w = new Writer();
  for (const d of dims) w.int(1, d);
  return w.int(2, dataType).bytes(8, name).bytes(9, data).finish();
}

function valueInfo(name: string, dims: readonly number[]): Field {
  const shape = new Writer();
  for (const d of dims) shape.bytes(1, new Writer().int(1, d).finish());
  const tensorType = new Writer().int(1, FLOAT).bytes(2, shape.finish()).finish();
  return new Writer().bytes(1, name).bytes(2, new Writer().bytes(1, tensorType).finish()).finish();
}

function intAttribute(name: string, value: number): Field {
  return new Writer().bytes(1, name).int(20, 2).int(3, value).finish();
}

function node(
  opType: string,
  inputs: readonly string[],
  output: string,
  domain = '',
  attributes: Field[] = [],
): Field {
  const w = new Writer();
  for (const input of inputs) w.bytes(1, input);
  w.bytes(2, output).bytes(3, `${opType}_0`).bytes(4, opType);
  for (const a of attributes) w.bytes(5, a);
  if (domain) w.bytes(7, domain);
  return w.finish();
}

function model(
  graphNode: Field,
  initializers: Field[],
  input: Field,
  output: Field,
  msDomain: boolean,
): Uint8Array {
  const graph = new Writer().bytes(1, graphNode).bytes(2, 'g');
  for (const init of initializers) graph.bytes(5, init);
  graph.bytes(11, input).bytes(12, output);
  const m = new Writer().int(1, 8).bytes(8, new Writer().bytes(1, '').int(2, 17).finish());
  if (msDomain) m.bytes(8, new Writer().bytes(1, 'com.microsoft').int(2, 1).finish());
  return m.bytes(7, graph.finish()).finish();
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** `Y[batch×n] = X[batch×m] · Wᵀ` with W (n×m, row-major) stored as the initializer `B = Wᵀ` (m×n). */
export function matMulModel(w: Float32Array, n: number, m: number, batch: number): Uint8Array {
  const b = new Float32Array(m * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < m; c++) b[c * n + r] = w[r * m + c]!;
  return model(
    node('MatMul', ['X', 'B'], 'Y'),
    [tensor('B', FLOAT, [m, n], bytesOf(b))],
    valueInfo('X', [batch, m]),
    valueInfo('Y', [batch, n]),
    false,
  );
}

/**
 * The same product as `com.microsoft.MatMulNBits` (bits = 4, symmetric: no zero points, so the
 * default zero point 8), with one f32 scale per `blockSize` weights of a row: 4 + 32/blockSize bits
 * per weight. Returns the model and its bits per weight.
 */
export function matMulNBitsModel(
  w: Float32Array,
  n: number,
  m: number,
  batch: number,
  blockSize = 32,
): { model: Uint8Array; bitsPerWeight: number } {
  if (m % blockSize !== 0)
    throw new RangeError(`MatMulNBits baseline needs inFeatures divisible by ${blockSize}`);
  const blocks = m / blockSize;
  const packed = new Uint8Array(n * blocks * (blockSize / 2));
  const scales = new Float32Array(n * blocks);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      let max = 0;
      for (let i = 0; i < blockSize; i++) max = Math.max(max, Math.abs(w[r * m + b * blockSize + i]!));
      const scale = max / 7 || 1;
      scales[r * blocks + b] = scale;
      const base = (r * blocks + b) * (blockSize / 2);
      for (let i = 0; i < blockSize; i++) {
        const q = Math.max(0, Math.min(15, Math.round(w[r * m + b * blockSize + i]! / scale) + 8));
        packed[base + (i >> 1)]! |= i & 1 ? q << 4 : q;
      }
    }
  }
  const attributes = [
    intAttribute('K', m),
    intAttribute('N', n),
    intAttribute('bits', 4),
    intAttribute('block_size', blockSize),
  ];
  return {
    model: model(
      node('MatMulNBits', ['X', 'B', 'scales'], 'Y', 'com.microsoft', attributes),
      [
        tensor('B', UINT8, [n, blocks, blockSize / 2], packed),
        tensor('scales', FLOAT, [n * blocks], bytesOf(scales)),
      ],
      valueInfo('X', [batch, m]),
      valueInfo('Y', [batch, n]),
      true,
    ),
    bitsPerWeight: 4 + 32 / blockSize,
  };
}
