/**
 * The safetensors element types. Every tensor in a DBF file uses one of them; sizes are in bytes and all
 * multi-byte values are little-endian.
 */
export const DTYPE_SIZES = {
  F64: 8,
  I64: 8,
  U64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;

export type Dtype = keyof typeof DTYPE_SIZES;

/** All supported dtypes, largest element first (the order the writer lays tensors out in). */
export const DTYPES: readonly Dtype[] = Object.keys(DTYPE_SIZES) as Dtype[];

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZES, value);
}

/** Bytes per element of `dtype`. */
export function dtypeSize(dtype: Dtype): number {
  return DTYPE_SIZES[dtype];
}

/** True on little-endian hosts (all mainstream ones); big-endian hosts take the copying, byte-swapping paths. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
