import { GUARD_FLOATS } from './gpu-constants';
import type { GpuContext, GuardedBuffer } from './gpu-context';

/**
 * Growable GPU buffers reused by every plain call (inputs, intermediates, outputs, readback) and host
 * staging arrays. They grow geometrically and are never shrunk, so steady-state calls allocate nothing.
 */
export class Scratch {
  private readonly guarded = new Map<string, GuardedBuffer>();
  private readonly host = new Map<string, Float32Array>();
  private readbackBuffer: GPUBuffer | undefined;

  constructor(private readonly ctx: GpuContext) {}

  /** A guarded buffer with room for `floats` data elements (growth keeps within the binding limit). */
  buffer(name: string, floats: number): GuardedBuffer {
    const current = this.guarded.get(name);
    if (current && current.capacity >= floats) return current;
    const limit = Math.floor(this.ctx.maxBinding / 4) - 2 * GUARD_FLOATS;
    const grown = Math.max(1024, 2 * (current?.capacity ?? 0));
    const capacity = Math.max(floats, Math.min(grown, limit));
    current?.buffer.destroy();
    const next = this.ctx.createGuarded(`dbf scratch ${name}`, capacity);
    this.guarded.set(name, next);
    return next;
  }

  readback(bytes: number): GPUBuffer {
    const current = this.readbackBuffer;
    if (current && current.size >= bytes) return current;
    current?.destroy();
    const size = Math.max(bytes, 2 * (current?.size ?? 0), 4096);
    this.readbackBuffer = this.ctx.readback('dbf readback', Math.ceil(size / 4) * 4);
    return this.readbackBuffer;
  }

  /** A host Float32Array of at least `floats` elements (contents unspecified). */
  staging(name: string, floats: number): Float32Array {
    const current = this.host.get(name);
    if (current && current.length >= floats) return current;
    const next = new Float32Array(Math.max(floats, 2 * (current?.length ?? 0)));
    this.host.set(name, next);
    return next;
  }

  destroy(): void {
    for (const g of this.guarded.values()) g.buffer.destroy();
    this.guarded.clear();
    this.readbackBuffer?.destroy();
    this.readbackBuffer = undefined;
    this.host.clear();
  }
}
