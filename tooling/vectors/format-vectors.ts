/**
 * Builds the format golden vectors (spec/vectors/format) in memory. Deterministic: seeded RNG, no clock,
 * no environment, so `pnpm vectors` reproduces the committed bytes exactly and a test can check that.
 *
 * Expected values are computed here independently of the SDK's dequantize(): a naive float64 evaluation of
 * the formulas of docs/format.md over the dense ±1 sign matrices. Scales are ± powers of two, x is
 * integer, biases are multiples of 0.5, so every value (and every partial sum, in any order) is exact in
 * float32: backends accumulating in f32 must match bit for bit.
 */
import {
  type BiasDtype,
  type CompressedLayer,
  createRng,
  type DbfEntry,
  type DbfTensorEntry,
  type Dtype,
  decodeBfloat16Array,
  decodeFloat16Array,
  type EncodeDbfOptions,
  encodeBfloat16Array,
  encodeDbfToBytes,
  encodeFloat16Array,
  type FormatErrorCode,
  packSigns,
  type Rng,
  type ScaleDtype,
} from '@dbf/core';

export interface GoldenLayerExpectation {
  readonly name: string;
  readonly kind: 'dbf' | 'mdbf';
  /** [n, m] */
  readonly shape: readonly [number, number];
  readonly k: number;
  readonly l: number;
  readonly scaleDtype: ScaleDtype;
  readonly biasDtype: BiasDtype | null;
  readonly bitsPerWeight: number;
  readonly batch: number;
  /** batch × m, row-major. */
  readonly x: readonly number[];
  /** n × m, row-major. */
  readonly w: readonly number[];
  /** batch × n, row-major: y = W·x + bias for each batch row. */
  readonly y: readonly number[];
}

export interface GoldenPlainTensor {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly values: readonly number[];
}

export interface GoldenValidVector {
  readonly name: string;
  readonly file: string;
  readonly description: string;
  readonly layers: readonly GoldenLayerExpectation[];
  readonly plainTensors: readonly GoldenPlainTensor[];
  readonly bits: { readonly compressedBitsPerWeight: number; readonly overallBitsPerWeight: number };
}

export interface GoldenInvalidVector {
  readonly file: string;
  readonly code: FormatErrorCode | 'NOT_DBF';
  /** 'open': openDbf already rejects (header and metadata); 'validate': only a full validateDbf (tensor data) does. */
  readonly stage: 'open' | 'validate';
  readonly description: string;
}

export interface FormatVectors {
  /** Path relative to spec/vectors/format → bytes. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly valid: readonly GoldenValidVector[];
  readonly invalid: readonly GoldenInvalidVector[];
  /** Source of packages/conformance/src/golden.generated.ts. */
  readonly conformanceModule: string;
}

/** Path of the conformance module relative to the repository root. */
export const CONFORMANCE_MODULE_PATH = 'packages/conformance/src/golden.generated.ts';
export const VECTORS_DIR = 'spec/vectors/format';

interface LayerSpec {
  readonly name: string;
  readonly kind: 'dbf' | 'mdbf';
  readonly n: number;
  readonly m: number;
  readonly k: number;
  readonly l?: number;
  readonly scaleDtype: ScaleDtype;
  readonly bias?: BiasDtype;
  readonly provenance?: Record<string, unknown>;
}

interface PlainSpec {
  readonly name: string;
  readonly dtype: 'F32' | 'F16' | 'BF16' | 'I8' | 'U8' | 'BOOL';
  readonly shape: readonly number[];
}

interface ValidSpec {
  readonly name: string;
  readonly description: string;
  readonly seed: number;
  readonly layers: readonly LayerSpec[];
  readonly plain?: readonly PlainSpec[];
  readonly options?: EncodeDbfOptions;
}

const VALID_SPECS: readonly ValidSpec[] = [
  {
    name: '001-tiny-dbf',
    description: 'The worked example of docs/format.md: one DBF layer, n=2, m=3, k=1, F16 scales.',
    seed: 1,
    layers: [{ name: 'layer', kind: 'dbf', n: 2, m: 3, k: 1, scaleDtype: 'F16' }],
  },
  {
    name: '002-dbf-odd-shapes',
    description: 'DBF, n=5, m=7, k=3 (nothing a multiple of 32), F16 scales, no bias.',
    seed: 2,
    layers: [{ name: 'proj', kind: 'dbf', n: 5, m: 7, k: 3, scaleDtype: 'F16' }],
  },
  {
    name: '003-dbf-k1-bias-f32',
    description: 'DBF, n=33, m=37, k=1 (rows just past one 32-bit word), F32 scales, F32 bias.',
    seed: 3,
    layers: [{ name: 'proj', kind: 'dbf', n: 33, m: 37, k: 1, scaleDtype: 'F32', bias: 'F32' }],
  },
  {
    name: '004-dbf-wide-f16-bias',
    description: 'DBF, n=3, m=70, k=40 (several words per sign row), F16 scales, F16 bias.',
    seed: 4,
    layers: [{ name: 'wide', kind: 'dbf', n: 3, m: 70, k: 40, scaleDtype: 'F16', bias: 'F16' }],
  },
  {
    name: '005-mdbf-l1',
    description: 'MDBF with envelope rank l=1, n=6, m=9, k=5, F16 envelopes.',
    seed: 5,
    layers: [{ name: 'mdbf', kind: 'mdbf', n: 6, m: 9, k: 5, l: 1, scaleDtype: 'F16' }],
  },
  {
    name: '006-mdbf-l2-bias-bf16',
    description: 'MDBF, l=2, n=34, m=10, k=33, F32 envelopes, BF16 bias.',
    seed: 6,
    layers: [{ name: 'mdbf', kind: 'mdbf', n: 34, m: 10, k: 33, l: 2, scaleDtype: 'F32', bias: 'BF16' }],
  },
  {
    name: '007-mdbf-l3',
    description: 'MDBF, l=3, n=7, m=33, k=2, F16 envelopes.',
    seed: 7,
    layers: [{ name: 'mdbf', kind: 'mdbf', n: 7, m: 33, k: 2, l: 3, scaleDtype: 'F16' }],
  },
  {
    name: '008-model-with-plain-tensors',
    description:
      'A DBF and an MDBF layer (with bias) next to plain tensors of several dtypes, user metadata and provenance, file-level and per layer.',
    seed: 8,
    layers: [
      {
        name: 'model.layers.0.mlp.up_proj',
        kind: 'dbf',
        n: 8,
        m: 6,
        k: 4,
        scaleDtype: 'F16',
        provenance: { iterations: 10 },
      },
      {
        name: 'model.layers.0.mlp.down_proj',
        kind: 'mdbf',
        n: 6,
        m: 8,
        k: 3,
        l: 2,
        scaleDtype: 'F32',
        bias: 'F32',
      },
    ],
    plain: [
      { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [5, 6] },
      { name: 'model.norm.weight', dtype: 'F16', shape: [6] },
      { name: 'model.norm.bias', dtype: 'BF16', shape: [6] },
      { name: 'model.token_types', dtype: 'I8', shape: [3] },
    ],
    options: {
      metadata: { 'model.architecture': 'tiny-test', 'model.note': 'golden vector' },
      provenance: { algorithm: 'golden-vector', params: { seed: 8 }, seed: 8, source_sha256: '0'.repeat(64) },
    },
  },
  {
    name: '009-edge-tensors',
    description: 'A DBF layer with a rank-0 F32 tensor, a zero-size U8 tensor and a BOOL tensor beside it.',
    seed: 9,
    layers: [{ name: 'proj', kind: 'dbf', n: 4, m: 4, k: 2, scaleDtype: 'F16' }],
    plain: [
      { name: 'scalar', dtype: 'F32', shape: [] },
      { name: 'empty', dtype: 'U8', shape: [0, 4] },
      { name: 'mask', dtype: 'BOOL', shape: [3] },
    ],
  },
];

const BATCH = 2;
const POW2 = [-2, -1, -0.5, 0.5, 1, 2] as const;

interface Generated {
  readonly layer: CompressedLayer;
  readonly expectation: GoldenLayerExpectation;
}

/** Draws a layer with exactly representable values and computes W and y for it with naive float64 loops. */
function generateLayer(rng: Rng, spec: LayerSpec): Generated {
  const { n, m, k, kind } = spec;
  const l = spec.l ?? 1;
  const sign = () => (rng.nextUint32() & 1 ? 1 : -1);
  const pow2 = () => POW2[rng.int(POW2.length)]!;
  const sA = Int8Array.from({ length: n * k }, sign);
  const sB = Int8Array.from({ length: k * m }, sign);
  const vectors = (count: number) => Float32Array.from({ length: count }, pow2);
  const bias = spec.bias ? Float32Array.from({ length: n }, () => (rng.int(17) - 8) / 2) : undefined;
  const x = Array.from({ length: BATCH * m }, () => rng.int(5) - 2);

  // term(r, i, c): the contribution of middle index i to W[r][c], straight from the formulas.
  let term: (r: number, i: number, c: number) => number;
  let layer: CompressedLayer;
  const signA = packSigns(sA, n, k);
  const signB = packSigns(sB, k, m);
  if (kind === 'dbf') {
    const [a, mu, b] = [vectors(n), vectors(k), vectors(m)];
    term = (r, i, c) => a[r]! * sA[r * k + i]! * mu[i]! * sB[i * m + c]! * b[c]!;
    layer = {
      kind,
      outFeatures: n,
      inFeatures: m,
      rank: k,
      signA,
      signB,
      scaleA: a,
      scaleMid: mu,
      scaleB: b,
    };
  } else {
    const [envA, envQU, envQV, envB] = [vectors(n * l), vectors(k * l), vectors(k * l), vectors(m * l)];
    term = (r, i, c) => {
      let left = 0;
      let right = 0;
      for (let p = 0; p < l; p++) left += envA[r * l + p]! * envQU[i * l + p]!;
      for (let q = 0; q < l; q++) right += envQV[i * l + q]! * envB[c * l + q]!;
      return sA[r * k + i]! * left * sB[i * m + c]! * right;
    };
    layer = {
      kind,
      outFeatures: n,
      inFeatures: m,
      rank: k,
      envelopeRank: l,
      signA,
      signB,
      envA,
      envQU,
      envQV,
      envB,
    };
  }
  if (bias) layer = { ...layer, bias };

  const w: number[] = [];
  const wBound: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < m; c++) {
      let sum = 0;
      let bound = 0;
      for (let i = 0; i < k; i++) {
        const t = term(r, i, c);
        sum += t;
        bound += Math.abs(t);
      }
      w.push(sum);
      wBound.push(bound);
    }
  }
  const y: number[] = [];
  for (let bt = 0; bt < BATCH; bt++) {
    for (let r = 0; r < n; r++) {
      let sum = bias ? bias[r]! : 0;
      let bound = Math.abs(sum);
      for (let c = 0; c < m; c++) {
        sum += w[r * m + c]! * x[bt * m + c]!;
        bound += wBound[r * m + c]! * Math.abs(x[bt * m + c]!);
      }
      y.push(sum);
      assertExact(spec.name, sum, bound);
    }
  }
  for (const [i, v] of w.entries()) assertExact(spec.name, v, wBound[i]!);
  const expectation: GoldenLayerExpectation = {
    name: spec.name,
    kind,
    shape: [n, m],
    k,
    l,
    scaleDtype: spec.scaleDtype,
    biasDtype: spec.bias ?? null,
    bitsPerWeight: 0,
    batch: BATCH,
    x,
    w,
    y,
  };
  return { layer, expectation };
}

/**
 * Every term is a multiple of 2^-4 (at most four factors ≥ 1/2, times an integer); if the sum of their
 * magnitudes stays below 2^16, every partial sum in any order is a multiple of 2^-4 below 2^16: exact in
 * float32 (24-bit significand), with bits to spare for intermediate rescaling by the scales.
 */
function assertExact(name: string, value: number, bound: number): void {
  if (!Number.isInteger(value * 16) || bound >= 2 ** 16 || Math.fround(value) !== value) {
    throw new Error(
      `Vector layer ${name}: value ${value} (bound ${bound}) is not exactly representable in every f32 evaluation order.`,
    );
  }
}

function generatePlain(rng: Rng, spec: PlainSpec): { entry: DbfTensorEntry; golden: GoldenPlainTensor } {
  const count = spec.shape.reduce((p, d) => p * d, 1);
  let data: ArrayBufferView;
  let values: number[];
  switch (spec.dtype) {
    case 'F32':
    case 'F16':
    case 'BF16': {
      values = Array.from({ length: count }, () => (rng.int(33) - 16) / 4);
      data =
        spec.dtype === 'F32'
          ? Float32Array.from(values)
          : spec.dtype === 'F16'
            ? encodeFloat16Array(values)
            : encodeBfloat16Array(values);
      // Round trip through the codec, so the recorded values are what a reader decodes.
      if (spec.dtype !== 'F32') {
        const bits = data as Uint16Array;
        values = Array.from(spec.dtype === 'F16' ? decodeFloat16Array(bits) : decodeBfloat16Array(bits));
      }
      break;
    }
    case 'I8':
      values = Array.from({ length: count }, () => rng.int(256) - 128);
      data = Int8Array.from(values);
      break;
    case 'BOOL':
      values = Array.from({ length: count }, () => rng.int(2));
      data = Uint8Array.from(values);
      break;
    default:
      values = Array.from({ length: count }, () => rng.int(256));
      data = Uint8Array.from(values);
  }
  return {
    entry: { name: spec.name, dtype: spec.dtype, shape: spec.shape, data },
    golden: { name: spec.name, dtype: spec.dtype, shape: spec.shape, values },
  };
}

/** The stored bits per weight of a layer, from the tensor sizes the format fixes. */
function layerBpw(spec: LayerSpec): number {
  const words = (cols: number) => Math.ceil(cols / 32);
  const l = spec.l ?? 1;
  const scaleSize = spec.scaleDtype === 'F16' ? 2 : 4;
  const scales = spec.kind === 'dbf' ? spec.n + spec.k + spec.m : l * (spec.n + 2 * spec.k + spec.m);
  const bytes = 4 * (spec.n * words(spec.k) + spec.k * words(spec.m)) + scaleSize * scales;
  return (8 * bytes) / (spec.n * spec.m);
}

function buildValid(spec: ValidSpec): { bytes: Uint8Array; vector: GoldenValidVector } {
  const rng = createRng(spec.seed);
  const entries: DbfEntry[] = [];
  const layers: GoldenLayerExpectation[] = [];
  let compressedBits = 0;
  let compressedWeights = 0;
  let parameters = 0;
  for (const ls of spec.layers) {
    const { layer, expectation } = generateLayer(rng, ls);
    entries.push({
      name: ls.name,
      layer,
      scaleDtype: ls.scaleDtype,
      ...(ls.bias ? { biasDtype: ls.bias } : {}),
      ...(ls.provenance ? { provenance: ls.provenance } : {}),
    });
    const bpw = layerBpw(ls);
    layers.push({ ...expectation, bitsPerWeight: bpw });
    compressedBits += bpw * ls.n * ls.m;
    compressedWeights += ls.n * ls.m;
    parameters += ls.n * ls.m + (ls.bias ? ls.n : 0);
  }
  const plainTensors: GoldenPlainTensor[] = [];
  for (const ps of spec.plain ?? []) {
    const { entry, golden } = generatePlain(rng, ps);
    entries.push(entry);
    plainTensors.push(golden);
    parameters += golden.values.length;
  }
  const bytes = encodeDbfToBytes(entries, spec.options);
  const dataLength = bytes.byteLength - 8 - Number(new DataView(bytes.buffer).getBigUint64(0, true));
  return {
    bytes,
    vector: {
      name: spec.name,
      file: `${spec.name}.safetensors`,
      description: spec.description,
      layers,
      plainTensors,
      bits: {
        compressedBitsPerWeight: compressedWeights ? compressedBits / compressedWeights : 0,
        overallBitsPerWeight: (8 * dataLength) / parameters,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Invalid vectors: a valid base file with exactly one rule broken.

type Json = Record<string, unknown>;
const encoder = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

function lengthPrefix(length: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, length, true);
  return out;
}

/** A file from header bytes and a data buffer; the header is padded with spaces to keep 8-byte alignment. */
function assemble(header: string | Uint8Array, data: Uint8Array, pad = true): Uint8Array {
  let bytes = typeof header === 'string' ? encoder.encode(header) : header;
  if (pad && bytes.byteLength % 8 !== 0)
    bytes = concat(bytes, new Uint8Array(8 - (bytes.byteLength % 8)).fill(0x20));
  return concat(lengthPrefix(BigInt(bytes.byteLength)), bytes, data);
}

function split(file: Uint8Array): { header: Json; data: Uint8Array } {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return {
    header: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Json,
    data: file.slice(8 + n),
  };
}

function metadataOf(header: Json): Record<string, string> {
  return header.__metadata__ as Record<string, string>;
}

function tensorOf(
  header: Json,
  name: string,
): { dtype: string; shape: number[]; data_offsets: [number, number] } {
  return header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
}

function recordOf(header: Json, layer: string): Json {
  return JSON.parse(metadataOf(header)[`dbf.layer.${layer}`]!) as Json;
}

function setRecord(header: Json, layer: string, record: Json): void {
  metadataOf(header)[`dbf.layer.${layer}`] = JSON.stringify(record);
}

interface InvalidCase {
  readonly file: string;
  readonly code: GoldenInvalidVector['code'];
  readonly stage?: 'open' | 'validate';
  readonly description: string;
  readonly build: () => Uint8Array;
}

function invalidCases(base: Uint8Array, twoLayers: Uint8Array): InvalidCase[] {
  // `base`: one DBF layer "layer" (n=2, m=3, k=1, F16). `twoLayers`: layers "a" and "b", the same shapes.
  const edit = (mutate: (header: Json, data: Uint8Array) => string | undefined, from = base) => {
    const { header, data } = split(from);
    const text = mutate(header, data);
    return assemble(text ?? JSON.stringify(header), data);
  };
  const plainHeader = '{"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}';
  const four = Uint8Array.of(1, 2, 3, 4);
  return [
    {
      file: 'HEADER_TOO_SMALL-file-shorter-than-8-bytes.safetensors',
      code: 'HEADER_TOO_SMALL',
      description: 'A 5-byte file: not even the 8-byte header length fits.',
      build: () => Uint8Array.of(2, 0, 0, 0, 0),
    },
    {
      file: 'HEADER_TOO_SMALL-zero-header-length.safetensors',
      code: 'HEADER_TOO_SMALL',
      description: 'The header length is 0; the smallest header "{}" has 2 bytes.',
      build: () => concat(lengthPrefix(0n), encoder.encode('{}      ')),
    },
    {
      file: 'HEADER_TOO_LARGE-length-beyond-file.safetensors',
      code: 'HEADER_TOO_LARGE',
      description: 'The header length (1000) exceeds the bytes that follow the prefix.',
      build: () => concat(lengthPrefix(1000n), encoder.encode('{}      ')),
    },
    {
      file: 'HEADER_TOO_LARGE-over-limit.safetensors',
      code: 'HEADER_TOO_LARGE',
      description: 'The header length is 2^40, above the 100 MB limit (a reader must not allocate it).',
      build: () => concat(lengthPrefix(2n ** 40n), encoder.encode('{}      ')),
    },
    {
      file: 'INVALID_HEADER-not-json.safetensors',
      code: 'INVALID_HEADER',
      description: 'The header starts with "{" but is not JSON.',
      build: () => assemble('{"t": {"dtype": "U8",,}', four),
    },
    {
      file: 'INVALID_HEADER-invalid-utf8.safetensors',
      code: 'INVALID_HEADER',
      description: 'The header contains the byte 0xFF, which is never valid UTF-8.',
      build: () => {
        const bytes = encoder.encode('{"t\u00e9":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}');
        bytes[3] = 0xff;
        return assemble(bytes, four);
      },
    },
    {
      file: 'INVALID_HEADER-leading-space.safetensors',
      code: 'INVALID_HEADER',
      description: 'The header starts with a space instead of "{".',
      build: () => assemble(` ${plainHeader}`, four),
    },
    {
      file: 'INVALID_HEADER-nul-padding.safetensors',
      code: 'INVALID_HEADER',
      description: 'The header is padded with NUL bytes instead of spaces.',
      build: () => {
        const json = encoder.encode(plainHeader);
        return concat(lengthPrefix(BigInt(json.byteLength + 3)), json, new Uint8Array(3), four);
      },
    },
    {
      file: 'DUPLICATE_KEY-tensor-name.safetensors',
      code: 'DUPLICATE_KEY',
      description: 'The tensor "t" is declared twice; JSON.parse would silently keep the second entry.',
      build: () =>
        assemble(
          '{"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"t":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}',
          four,
        ),
    },
    {
      file: 'DUPLICATE_KEY-nested-metadata-key.safetensors',
      code: 'DUPLICATE_KEY',
      description: 'A key appears twice inside __metadata__ of a DBF file.',
      build: () =>
        edit((header) =>
          JSON.stringify(header).replace('"dbf.version":"1"', '"dbf.version":"1","dbf.version":"2"'),
        ),
    },
    {
      file: 'INVALID_TENSOR_INFO-missing-shape.safetensors',
      code: 'INVALID_TENSOR_INFO',
      description: 'A tensor entry without "shape".',
      build: () => assemble('{"t":{"dtype":"U8","data_offsets":[0,4]}}', four),
    },
    {
      file: 'INVALID_TENSOR_INFO-negative-dimension.safetensors',
      code: 'INVALID_TENSOR_INFO',
      description: 'A shape with a negative dimension.',
      build: () => assemble('{"t":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}}', four),
    },
    {
      file: 'INVALID_TENSOR_INFO-unknown-field.safetensors',
      code: 'INVALID_TENSOR_INFO',
      description: 'A tensor entry with a field other than dtype, shape and data_offsets.',
      build: () => assemble('{"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"strides":[1]}}', four),
    },
    {
      file: 'UNSUPPORTED_DTYPE-Q4.safetensors',
      code: 'UNSUPPORTED_DTYPE',
      description: 'The dtype "Q4" is not in the list of docs/format.md §4.',
      build: () => assemble('{"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}}', Uint8Array.of(0x12)),
    },
    {
      file: 'VALIDATION_OVERFLOW-shape-product.safetensors',
      code: 'VALIDATION_OVERFLOW',
      description: 'Each dimension of [2^30, 2^30, 2^30] is fine but their product is above 2^53.',
      build: () =>
        assemble(
          `{"t":{"dtype":"U8","shape":[${2 ** 30},${2 ** 30},${2 ** 30}],"data_offsets":[0,4]}}`,
          four,
        ),
    },
    {
      file: 'SIZE_MISMATCH-shape-vs-offsets.safetensors',
      code: 'SIZE_MISMATCH',
      description: 'scale_b of a DBF layer says F16 [4] (8 bytes) but its data_offsets span 6 bytes.',
      build: () =>
        edit((header) => {
          tensorOf(header, 'layer.scale_b').shape = [4];
          return undefined;
        }),
    },
    {
      file: 'INVALID_OFFSET-end-beyond-buffer.safetensors',
      code: 'INVALID_OFFSET',
      description: 'data_offsets end past the end of the data buffer.',
      build: () => assemble('{"t":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}', four),
    },
    {
      file: 'INVALID_OFFSET-end-before-begin.safetensors',
      code: 'INVALID_OFFSET',
      description: 'data_offsets [4, 0]: the end precedes the begin.',
      build: () => assemble('{"t":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}}', four),
    },
    {
      file: 'OVERLAPPING_TENSORS-shared-bytes.safetensors',
      code: 'OVERLAPPING_TENSORS',
      description: 'Two tensors cover bytes [2, 4) both.',
      build: () =>
        assemble(
          '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}',
          Uint8Array.of(1, 2, 3, 4, 5, 6),
        ),
    },
    {
      file: 'BUFFER_HOLE-gap-between-tensors.safetensors',
      code: 'BUFFER_HOLE',
      description: 'Bytes [4, 6) belong to no tensor (a hole could hide another file format).',
      build: () =>
        assemble(
          '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}',
          Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
        ),
    },
    {
      file: 'BUFFER_HOLE-trailing-bytes.safetensors',
      code: 'BUFFER_HOLE',
      description: 'A valid DBF file followed by 4 extra bytes.',
      build: () => concat(base, Uint8Array.of(0xde, 0xad, 0xbe, 0xef)),
    },
    {
      file: 'INVALID_METADATA-non-string-value.safetensors',
      code: 'INVALID_METADATA',
      description: '__metadata__ holds a number; every value must be a string.',
      build: () => edit((header) => JSON.stringify(header).replace('"dbf.version":"1"', '"dbf.version":1')),
    },
    {
      file: 'INVALID_METADATA-provenance-not-object.safetensors',
      code: 'INVALID_METADATA',
      description: 'dbf.provenance is a JSON array, not an object.',
      build: () =>
        edit((header) => {
          metadataOf(header)['dbf.provenance'] = '["dbf"]';
          return undefined;
        }),
    },
    {
      file: 'NOT_DBF-plain-safetensors.safetensors',
      code: 'NOT_DBF',
      description: 'A valid safetensors file without the dbf.format metadata key.',
      build: () => assemble(plainHeader, four),
    },
    {
      file: 'NOT_DBF-other-format.safetensors',
      code: 'NOT_DBF',
      description: 'dbf.format is "gguf", not "dbf".',
      build: () =>
        edit((header) => {
          metadataOf(header)['dbf.format'] = 'gguf';
          return undefined;
        }),
    },
    {
      file: 'UNSUPPORTED_VERSION-major-2.safetensors',
      code: 'UNSUPPORTED_VERSION',
      description: 'dbf.version "2": a structural change this reader does not know.',
      build: () =>
        edit((header) => {
          metadataOf(header)['dbf.version'] = '2';
          return undefined;
        }),
    },
    {
      file: 'UNSUPPORTED_VERSION-not-an-integer.safetensors',
      code: 'UNSUPPORTED_VERSION',
      description: 'dbf.version "one" is not a positive integer.',
      build: () =>
        edit((header) => {
          metadataOf(header)['dbf.version'] = 'one';
          return undefined;
        }),
    },
    {
      file: 'UNSUPPORTED_VERSION-missing.safetensors',
      code: 'UNSUPPORTED_VERSION',
      description: 'dbf.format is present but dbf.version is not.',
      build: () =>
        edit((header) => {
          delete metadataOf(header)['dbf.version'];
          return undefined;
        }),
    },
    {
      file: 'INVALID_LAYER-unknown-kind.safetensors',
      code: 'INVALID_LAYER',
      description: 'The layer record has kind "tbf".',
      build: () =>
        edit((header) => {
          setRecord(header, 'layer', { ...recordOf(header, 'layer'), kind: 'tbf' });
          return undefined;
        }),
    },
    {
      file: 'INVALID_LAYER-dbf-with-l-2.safetensors',
      code: 'INVALID_LAYER',
      description: 'A "dbf" record with l = 2 (DBF has l = 1).',
      build: () =>
        edit((header) => {
          setRecord(header, 'layer', { ...recordOf(header, 'layer'), l: 2 });
          return undefined;
        }),
    },
    {
      file: 'INVALID_LAYER-record-not-json.safetensors',
      code: 'INVALID_LAYER',
      description: 'The dbf.layer.layer value is not JSON.',
      build: () =>
        edit((header) => {
          metadataOf(header)['dbf.layer.layer'] = 'kind=dbf';
          return undefined;
        }),
    },
    {
      file: 'INVALID_LAYER-missing-role.safetensors',
      code: 'INVALID_LAYER',
      description: 'The record names no scale_mid tensor.',
      build: () =>
        edit((header) => {
          const record = recordOf(header, 'layer');
          const tensors = { ...(record.tensors as Json) };
          delete tensors.scale_mid;
          setRecord(header, 'layer', { ...record, tensors });
          return undefined;
        }),
    },
    {
      file: 'INVALID_LAYER-infinite-scale.safetensors',
      code: 'INVALID_LAYER',
      stage: 'validate',
      description: 'scale_b[0] is +Inf (F16 0x7C00); scales must be finite. Only full validation reads it.',
      build: () =>
        edit((header, data) => {
          const [begin] = tensorOf(header, 'layer.scale_b').data_offsets;
          data[begin] = 0x00;
          data[begin + 1] = 0x7c;
          return undefined;
        }),
    },
    {
      file: 'MISSING_TENSOR-sign-b.safetensors',
      code: 'MISSING_TENSOR',
      description: 'The record names sign_b "layer.signs_b", which the file does not have.',
      build: () =>
        edit((header) => {
          const record = recordOf(header, 'layer');
          setRecord(header, 'layer', {
            ...record,
            tensors: { ...(record.tensors as Json), sign_b: 'layer.signs_b' },
          });
          return undefined;
        }),
    },
    {
      file: 'TENSOR_MISMATCH-scale-dtype.safetensors',
      code: 'TENSOR_MISMATCH',
      description: 'The record says scale_dtype F32 but the scale tensors are F16.',
      build: () =>
        edit((header) => {
          setRecord(header, 'layer', { ...recordOf(header, 'layer'), scale_dtype: 'F32' });
          return undefined;
        }),
    },
    {
      file: 'TENSOR_MISMATCH-sign-shape.safetensors',
      code: 'TENSOR_MISMATCH',
      description: 'The record says k = 2 while sign_b has 1 row (and scale_mid 1 element).',
      build: () =>
        edit((header) => {
          setRecord(header, 'layer', { ...recordOf(header, 'layer'), k: 2 });
          return undefined;
        }),
    },
    {
      file: 'TENSOR_MISMATCH-tensor-in-two-layers.safetensors',
      code: 'TENSOR_MISMATCH',
      description: 'Layers "a" and "b" both claim the tensor "a.sign_a".',
      build: () =>
        edit((header) => {
          const record = recordOf(header, 'b');
          setRecord(header, 'b', { ...record, tensors: { ...(record.tensors as Json), sign_a: 'a.sign_a' } });
          return undefined;
        }, twoLayers),
    },
    {
      file: 'NONZERO_PADDING-sign-a.safetensors',
      code: 'NONZERO_PADDING',
      stage: 'validate',
      description:
        'Bit 5 of sign_a row 1 is set although k = 1: padding bits must be zero. Only full validation reads it.',
      build: () =>
        edit((header, data) => {
          const [begin] = tensorOf(header, 'layer.sign_a').data_offsets;
          data[begin + 4]! |= 1 << 5;
          return undefined;
        }),
    },
  ];
}

// ---------------------------------------------------------------------------------------------------

/** Builds every format vector (valid and invalid), their JSON expectations and the conformance module. */
export function buildFormatVectors(): FormatVectors {
  const files = new Map<string, Uint8Array>();
  const valid: GoldenValidVector[] = [];
  for (const spec of VALID_SPECS) {
    const { bytes, vector } = buildValid(spec);
    files.set(vector.file, bytes);
    files.set(`${spec.name}.json`, encoder.encode(`${prettyJson(vector)}\n`));
    valid.push(vector);
  }

  const base = files.get('001-tiny-dbf.safetensors')!;
  const rng = createRng(100);
  const tiny = (name: string) =>
    generateLayer(rng, { name, kind: 'dbf', n: 2, m: 3, k: 1, scaleDtype: 'F16' }).layer;
  const twoLayers = encodeDbfToBytes([
    { name: 'a', layer: tiny('a') },
    { name: 'b', layer: tiny('b') },
  ]);
  const invalid: GoldenInvalidVector[] = [];
  for (const c of invalidCases(base, twoLayers)) {
    files.set(`invalid/${c.file}`, c.build());
    invalid.push({ file: c.file, code: c.code, stage: c.stage ?? 'open', description: c.description });
  }
  const manifest = {
    description:
      'Each file breaks exactly one rule of docs/format.md. code: the FormatError code a reader must report. stage "open": rejected by openDbf (header and metadata); "validate": only by validateDbf (reads tensor data).',
    vectors: invalid,
  };
  files.set('invalid/manifest.json', encoder.encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return { files, valid, invalid, conformanceModule: conformanceModule(valid, files) };
}

function conformanceModule(
  valid: readonly GoldenValidVector[],
  files: ReadonlyMap<string, Uint8Array>,
): string {
  const lines = [
    '// Generated by tooling/generate-vectors.ts (`pnpm vectors`) from spec/vectors/format. Do not edit.',
    '// Each entry is a golden DBF file (base64) and, per layer, an input x (batch × m), the expected output',
    '// y (batch × n) and the dense weight w (n × m), all exact in float32.',
    'export const GOLDEN_LINEAR_VECTORS: readonly {',
    '  name: string;',
    '  file: string;',
    '  layers: readonly { name: string; batch: number; x: readonly number[]; y: readonly number[]; w: readonly number[] }[];',
    '}[] = [',
  ];
  for (const v of valid) {
    lines.push('  {');
    lines.push(`    name: ${tsString(v.name)},`);
    lines.push(`    file: '${base64(files.get(v.file)!)}',`);
    lines.push('    layers: [');
    for (const l of v.layers) {
      lines.push(
        `      { name: ${tsString(l.name)}, batch: ${l.batch}, x: [${l.x.join(', ')}], y: [${l.y.join(', ')}], w: [${l.w.join(', ')}] },`,
      );
    }
    lines.push('    ],');
    lines.push('  },');
  }
  lines.push('];');
  return `${lines.join('\n')}\n`;
}

/** A single-quoted TypeScript string literal (the repository's quote style). */
function tsString(value: string): string {
  return `'${JSON.stringify(value).slice(1, -1).replace(/'/g, "\\'")}'`;
}

/** JSON with two-space indentation but number arrays kept on one line. */
function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g,
    (_m, inner: string) => `[${inner.split(/,\s+/).join(', ')}]`,
  );
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function base64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const triple = (b0 << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0);
    out += BASE64[(triple >> 18) & 63]! + BASE64[(triple >> 12) & 63]!;
    out += b1 === undefined ? '=' : BASE64[(triple >> 6) & 63]!;
    out += b2 === undefined ? '=' : BASE64[triple & 63]!;
  }
  return out;
}
