/**
 * WebGPU flag values, fixed by the specification. Defined here rather than read from the `GPUBufferUsage`
 * globals, which Node's `webgpu` package only installs when asked to (`Object.assign(globalThis, globals)`).
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const MapMode = { READ: 0x0001 } as const;

export const ShaderStage = { COMPUTE: 0x4 } as const;

/** Threads per workgroup of every kernel (the WebGPU core default limit). */
export const WORKGROUP_SIZE = 256;

/** Largest workgroup count along one dispatch dimension guaranteed by WebGPU. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65_535;

/**
 * Guard elements (f32) before and after every GPU output region. 64 floats = 256 bytes keeps data
 * offsets aligned to `minStorageBufferOffsetAlignment` and to vec4 loads.
 */
export const GUARD_FLOATS = 64;
export const GUARD_BYTES = GUARD_FLOATS * 4;

/** Activation vectors are stored with their length padded to whole 32-bit sign words (zeros in the pad). */
export function paddedFeatures(features: number): number {
  return Math.ceil(features / 32) * 32;
}

/** Dense weight rows are padded to whole vec4s. */
export function paddedVec4(length: number): number {
  return Math.ceil(length / 4) * 4;
}

/** Splits `workgroups` into a 2-D grid (x ≤ 65535) and returns [x, y]. */
export function dispatchGrid(workgroups: number): [number, number] {
  if (workgroups <= MAX_WORKGROUPS_PER_DIMENSION) return [Math.max(workgroups, 1), 1];
  const y = Math.ceil(workgroups / MAX_WORKGROUPS_PER_DIMENSION);
  return [Math.ceil(workgroups / y), y];
}

/**
 * `writeBuffer` accepts views of shared memory too (`[AllowShared]` in the IDL), but @webgpu/types only
 * admits `ArrayBuffer`-backed views; caller arrays may live in a SharedArrayBuffer (worker pools).
 */
export function source(view: Float32Array | Uint32Array): GPUAllowSharedBufferSource {
  return view as unknown as GPUAllowSharedBufferSource;
}
