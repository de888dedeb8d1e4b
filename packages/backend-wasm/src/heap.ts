import { BackendError } from '@dbf/core';

const PAGE = 65536;
const ALIGN = 64;

interface Block {
  start: number;
  size: number;
}

/**
 * A first-fit allocator over the kernel module's linear memory, run from JS (the kernels never
 * allocate). Blocks are 64-byte aligned (a cache line; v128 loads stay aligned); freed blocks merge
 * with their neighbours and are reused before the memory grows. The memory grows on demand and
 * never shrinks (WebAssembly cannot shrink a memory); everything goes when the memory is dropped.
 */
export class Heap {
  private readonly memory: WebAssembly.Memory;
  private readonly maxBytes: number;
  /** Free blocks below `top`, sorted by address, never adjacent to each other. */
  private readonly free: Block[] = [];
  private readonly used = new Map<number, number>();
  private top: number;
  private buffer: ArrayBufferLike | undefined;
  private f32View = new Float32Array(0);
  private i32View = new Int32Array(0);
  private u8View = new Uint8Array(0);

  constructor(memory: WebAssembly.Memory, base: number, maxBytes: number) {
    this.memory = memory;
    this.top = roundUp(base, ALIGN);
    this.maxBytes = maxBytes;
  }

  /** Bytes currently allocated. */
  get allocatedBytes(): number {
    let total = 0;
    for (const size of this.used.values()) total += size;
    return total;
  }

  /** Current size of the linear memory. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Allocates `bytes` (rounded up to 64), growing the memory if no free block fits. */
  alloc(bytes: number): number {
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i]!;
      if (block.size < size) continue;
      const start = block.start;
      if (block.size === size) this.free.splice(i, 1);
      else {
        block.start += size;
        block.size -= size;
      }
      this.used.set(start, size);
      return start;
    }
    const start = this.top;
    const end = start + size;
    if (end > this.maxBytes) {
      throw new BackendError(
        'wasm',
        'BACKEND_FAILURE',
        `Out of WebAssembly memory: ${size} more bytes would exceed the ${this.maxBytes}-byte limit (${this.allocatedBytes} bytes in use). Dispose unused layers or raise maxMemoryBytes.`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      // Grow by at least 1/8 of the current size, so that a sequence of uploads grows geometrically.
      const want = Math.min(Math.max(end, have + (have >>> 3)), this.maxBytes);
      try {
        this.memory.grow(Math.ceil((want - have) / PAGE));
      } catch (error) {
        throw new BackendError(
          'wasm',
          'BACKEND_FAILURE',
          `Could not grow WebAssembly memory to ${want} bytes: ${String(error)}`,
          {
            cause: error,
          },
        );
      }
    }
    this.top = end;
    this.used.set(start, size);
    return start;
  }

  /** Size of an allocated block (its request rounded up to 64 bytes). */
  sizeOf(ptr: number): number {
    const size = this.used.get(ptr);
    if (size === undefined) throw new Error(`heap: unknown pointer ${ptr}`);
    return size;
  }

  /** Returns a block to the free list. Unknown pointers are a programming error. */
  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new Error(`heap: double free or foreign pointer ${ptr}`);
    this.used.delete(ptr);
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.free[mid]!.start < ptr) lo = mid + 1;
      else hi = mid;
    }
    const block: Block = { start: ptr, size };
    this.free.splice(lo, 0, block);
    // Merge with the next block, then with the previous one.
    const next = this.free[lo + 1];
    if (next && block.start + block.size === next.start) {
      block.size += next.size;
      this.free.splice(lo + 1, 1);
    }
    const prev = this.free[lo - 1];
    if (prev && prev.start + prev.size === block.start) {
      prev.size += block.size;
      this.free.splice(lo, 1);
    }
    // A free block that ends at `top` gives its space back to `top`.
    const last = this.free[this.free.length - 1];
    if (last && last.start + last.size === this.top) {
      this.top = last.start;
      this.free.pop();
    }
  }

  private refresh(): void {
    const buffer = this.memory.buffer;
    if (buffer === this.buffer) return;
    this.buffer = buffer;
    this.f32View = new Float32Array(buffer);
    this.i32View = new Int32Array(buffer);
    this.u8View = new Uint8Array(buffer);
  }

  /** Whole-memory views, refreshed after the memory grew. */
  get f32(): Float32Array {
    this.refresh();
    return this.f32View;
  }
  get i32(): Int32Array {
    this.refresh();
    return this.i32View;
  }
  get u8(): Uint8Array {
    this.refresh();
    return this.u8View;
  }

  writeF32(ptr: number, values: Float32Array): void {
    this.f32.set(values, ptr >>> 2);
  }

  readF32(ptr: number, into: Float32Array): void {
    into.set(this.f32.subarray(ptr >>> 2, (ptr >>> 2) + into.length));
  }
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
