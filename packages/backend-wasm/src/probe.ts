import { assertInteger, InvalidArgumentError } from '@dbf/core';
import { instantiateKernels, kernelModule } from './kernel-module';

export interface StreamingReadProbeOptions {
  /** Bytes read per `run()` (rounded up to 64), e.g. a layer's packed sign bytes. */
  readonly bytes: number;
  /** Distinct buffers `run()` rotates through; default: enough for `minTotalBytes`. */
  readonly copies?: number;
  /** Default 256 MiB: several times any last-level cache, so reads come from DRAM. */
  readonly minTotalBytes?: number;
}

/** A memory-roofline probe: each `run()` streams `bytes` through v128 loads in the kernel module. */
export interface StreamingReadProbe {
  readonly bytes: number;
  readonly copies: number;
  /** Reads the next buffer; returns a checksum (so the work cannot be skipped). */
  run(): number;
  dispose(): void;
}

/**
 * Creates a streaming-read probe on its own (single-threaded) WebAssembly memory: `copies` buffers
 * of `bytes`, filled with data so their pages are real, read round-robin. Timing `run()` gives the
 * time to stream that many bytes from memory in this runtime: the floor for a bandwidth-bound kernel
 * reading the same number of bytes.
 */
export async function createStreamingReadProbe(
  options: StreamingReadProbeOptions,
): Promise<StreamingReadProbe> {
  const bytes = Math.ceil(assertInteger('bytes', options.bytes, 1) / 64) * 64;
  const minTotal = assertInteger('minTotalBytes', options.minTotalBytes ?? 256 * 2 ** 20, 0);
  const copies = assertInteger('copies', options.copies ?? Math.max(2, Math.ceil(minTotal / bytes)), 1);
  const total = bytes * copies + 65536;
  if (total > 2 ** 32 - 65536)
    throw new InvalidArgumentError(
      `bytes·copies = ${bytes * copies} does not fit a 4 GiB WebAssembly memory.`,
    );
  const pages = Math.ceil(total / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const kernels = instantiateKernels(await kernelModule('strict', false), memory);
  const base = 65536;
  const words = new Uint32Array(memory.buffer, base, (bytes * copies) / 4);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 0x9e3779b1) >>> 0;
  let next = 0;
  let live = true;
  return {
    bytes,
    copies,
    run() {
      if (!live) throw new InvalidArgumentError('This probe has been disposed.');
      const ptr = base + next * bytes;
      next = (next + 1) % copies;
      return kernels.probe_read(ptr, bytes);
    },
    dispose() {
      live = false;
    },
  };
}
