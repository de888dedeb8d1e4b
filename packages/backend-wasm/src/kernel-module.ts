import { BackendError } from '@dbf/core';
import { RELAXED_MODULE_BASE64, STRICT_MODULE_BASE64 } from './kernel-module.generated';

/** Which SIMD flavour of the kernels to load. */
export type SimdFlavor = 'strict' | 'relaxed';

// (module (func (result i32) v128.const i32x4 0 0 0 0  i32x4.extract_lane 0))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 10, 25, 1, 23, 0, 253, 12, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 27, 0, 11,
]);
// (module (func (result v128) v128.const 0 … i8x16.relaxed_swizzle))
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 43, 1, 41, 0, 253, 12, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 128, 2, 11,
]);

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** Whether this engine runs WebAssembly SIMD128 (`undefined` reason when it does). */
export function simdUnavailableReason(): string | undefined {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') {
    return 'WebAssembly is not available in this JavaScript environment.';
  }
  if (!validates(SIMD_PROBE)) {
    return 'This engine does not support WebAssembly SIMD (v128); it needs Chrome 91+, Firefox 89+, Safari 16.4+ or Node 16.4+.';
  }
  return undefined;
}

/** Whether relaxed SIMD (`i8x16.relaxed_swizzle`) validates here (Chrome 114+, Node 22+). */
export function relaxedSimdSupported(): boolean {
  return validates(RELAXED_PROBE);
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function readLeb(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    if (byte === undefined) throw new Error('truncated LEB128');
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7;
  }
}

/**
 * The module declares its imported memory shared. For a single-threaded backend (no
 * SharedArrayBuffer needed, e.g. a page without cross-origin isolation) this returns a copy with the
 * memory import's shared flag cleared: the limits keep their length, so nothing else moves.
 */
export function withUnsharedMemory(module: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const bytes = module.slice();
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at]!;
    const [size, body] = readLeb(bytes, at + 1);
    if (id === 2) {
      let [count, p] = readLeb(bytes, body);
      while (count-- > 0) {
        for (let name = 0; name < 2; name++) {
          const [length, next] = readLeb(bytes, p);
          p = next + length;
        }
        const kind = bytes[p++];
        if (kind === 2) {
          bytes[p] = bytes[p]! & ~0x02;
          return bytes;
        }
        if (kind === 0) p = readLeb(bytes, p)[1];
        else if (kind === 1) p = skipLimits(bytes, p + 1);
        else if (kind === 3) p += 2;
        else break;
      }
    }
    at = body + size;
  }
  throw new Error('kernel module has no memory import');
}

function skipLimits(bytes: Uint8Array, at: number): number {
  const flags = bytes[at]!;
  let p = readLeb(bytes, at + 1)[1];
  if (flags & 1) p = readLeb(bytes, p)[1];
  return p;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** Compiles (once per flavour and memory kind) the embedded kernel module. */
export function kernelModule(flavor: SimdFlavor, sharedMemory: boolean): Promise<WebAssembly.Module> {
  const key = `${flavor}/${sharedMemory ? 'shared' : 'unshared'}`;
  let module = compiled.get(key);
  if (!module) {
    const bytes = decodeBase64(flavor === 'relaxed' ? RELAXED_MODULE_BASE64 : STRICT_MODULE_BASE64);
    module = WebAssembly.compile(sharedMemory ? bytes : withUnsharedMemory(bytes)).catch((error: unknown) => {
      compiled.delete(key);
      throw new BackendError(
        'wasm',
        'BACKEND_FAILURE',
        `Could not compile the ${flavor} SIMD kernel module: ${String(error)}`,
        {
          cause: error,
        },
      );
    });
    compiled.set(key, module);
  }
  return module;
}

/** The kernel module's exports. */
export interface KernelExports {
  run_job(ctrl: number, tid: number, canBlock: number, job: number): void;
  probe_read(ptr: number, bytes: number): number;
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
