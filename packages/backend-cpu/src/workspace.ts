import { GemmWorkspace } from './gemm';
import { TABLE_LENGTH } from './sign-lut';

/**
 * Scratch memory of one backend instance, shared by all its layers. Kernels run synchronously inside
 * each call (no `await` between reading the input and writing the output), so calls never interleave and
 * one set of buffers suffices. Uploads reserve what their layer needs, so the hot path never allocates.
 */
export class Workspace {
  /** Lookup tables for one K tile of the sign kernels. */
  readonly table = new Float64Array(TABLE_LENGTH);
  readonly gemm = new GemmWorkspace();
  #scratch = new Float64Array(0);

  /** Grows the float64 scratch to at least `length` elements. */
  reserve(length: number): void {
    if (this.#scratch.length < length) this.#scratch = new Float64Array(length);
  }

  /** The float64 scratch, at least `length` elements long. */
  scratch(length: number): Float64Array {
    this.reserve(length);
    return this.#scratch;
  }

  get byteLength(): number {
    return this.table.byteLength + this.gemm.byteLength + this.#scratch.byteLength;
  }
}
