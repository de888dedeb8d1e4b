import { assertInteger, InvalidArgumentError } from '@dbf/core';

/** Options of `webgpu(defaults)` and of `factory.create(options)` (the latter override the former). */
export interface WebGpuBackendOptions {
  /**
   * The WebGPU entry point: `navigator.gpu` in browsers (the default), or in Node the object returned by
   * `create([])` from the `webgpu` package.
   */
  readonly gpu?: GPU;
  /** An adapter to request the device from, instead of `gpu.requestAdapter()`. */
  readonly adapter?: GPUAdapter;
  /**
   * A device to run on. The backend then never destroys it (the caller owns it); it uses `subgroups`
   * only if the device was created with that feature.
   */
  readonly device?: GPUDevice;
  /** Passed to `requestAdapter`. */
  readonly powerPreference?: GPUPowerPreference;
  /**
   * Accept a software fallback adapter (SwiftShader, WARP). Default false: such adapters are slower than
   * the WASM backend, so `isAvailable()` reports them as unavailable and `'auto'` moves on.
   */
  readonly allowFallbackAdapter?: boolean;
  /**
   * `'auto'` (default) reduces with `subgroupAdd` when the adapter has the `subgroups` feature and a
   * startup probe confirms its layout; `'off'` always reduces through workgroup memory; `'require'`
   * fails with UNSUPPORTED_OPERATION when subgroups cannot be used.
   */
  readonly subgroups?: 'auto' | 'off' | 'require';
  /**
   * Lowers the storage-binding size the backend assumes (bytes, ≥ 1024, a multiple of 4). Matrices
   * larger than the limit are split into row blocks; this option lets tests exercise the splitting.
   */
  readonly maxStorageBufferBindingSize?: number;
  /** Extra device features to request when the backend creates the device (e.g. `'timestamp-query'`). */
  readonly requiredFeatures?: readonly GPUFeatureName[];
  /**
   * Check the guard words around every GPU output region after each call (default true). A shader
   * writing out of bounds then fails the call with BACKEND_FAILURE instead of corrupting memory silently.
   */
  readonly checkGuards?: boolean;
}

const KEYS = new Set([
  'gpu',
  'adapter',
  'device',
  'powerPreference',
  'allowFallbackAdapter',
  'subgroups',
  'maxStorageBufferBindingSize',
  'requiredFeatures',
  'checkGuards',
]);

/** Validates options (unknown keys included, so typos fail loudly) and merges them over the defaults. */
export function resolveOptions(defaults: unknown, overrides: unknown): WebGpuBackendOptions {
  const a = checkOptions('webgpu() defaults', defaults);
  const b = checkOptions('create() options', overrides);
  return { ...a, ...b };
}

function checkOptions(name: string, value: unknown): WebGpuBackendOptions {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new InvalidArgumentError(`${name} must be an object.`);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KEYS.has(key)) {
      throw new InvalidArgumentError(`${name}: unknown option '${key}' (known: ${[...KEYS].join(', ')}).`);
    }
  }
  for (const key of ['gpu', 'adapter', 'device'] as const) {
    if (o[key] !== undefined && (typeof o[key] !== 'object' || o[key] === null)) {
      throw new InvalidArgumentError(
        `${name}: ${key} must be a WebGPU ${key === 'gpu' ? 'GPU' : key} object.`,
      );
    }
  }
  if (o.subgroups !== undefined && !['auto', 'off', 'require'].includes(o.subgroups as string)) {
    throw new InvalidArgumentError(
      `${name}: subgroups must be 'auto', 'off' or 'require', got ${String(o.subgroups)}.`,
    );
  }
  if (o.maxStorageBufferBindingSize !== undefined) {
    const v = assertInteger(`${name}: maxStorageBufferBindingSize`, o.maxStorageBufferBindingSize, 1024);
    if (v % 4 !== 0)
      throw new InvalidArgumentError(
        `${name}: maxStorageBufferBindingSize must be a multiple of 4, got ${v}.`,
      );
  }
  for (const key of ['allowFallbackAdapter', 'checkGuards'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean')
      throw new InvalidArgumentError(`${name}: ${key} must be a boolean.`);
  }
  if (o.requiredFeatures !== undefined && !Array.isArray(o.requiredFeatures)) {
    throw new InvalidArgumentError(`${name}: requiredFeatures must be an array of feature names.`);
  }
  return o as WebGpuBackendOptions;
}

/** `navigator.gpu` when the host has one. */
export function defaultGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}
