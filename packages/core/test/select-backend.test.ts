import { describe, expect, it } from 'vitest';
import {
  type BackendFactory,
  type KernelBackend,
  NoBackendAvailableError,
  selectBackend,
} from '../src/index';

function fake(
  id: string,
  priority: number,
  behaviour: 'ok' | 'unavailable' | 'throws' = 'ok',
): BackendFactory {
  return {
    id,
    priority,
    async isAvailable() {
      return behaviour === 'unavailable'
        ? { available: false, reason: `${id} needs a GPU` }
        : { available: true };
    },
    async create(options?: unknown) {
      if (behaviour === 'throws') throw new Error(`${id} device lost`);
      return { id, options } as unknown as KernelBackend;
    },
  };
}

describe('selectBackend', () => {
  it("'auto' picks the highest priority that works and skips negative priorities", async () => {
    const backends = [
      fake('cpu', 1),
      fake('wasm', 2, 'throws'),
      fake('webgpu', 3, 'unavailable'),
      fake('exp', -1),
    ];
    expect((await selectBackend({ backends })).id).toBe('cpu');
    expect((await selectBackend({ backends: [...backends, fake('fast', 5)] })).id).toBe('fast');
  });

  it('honours an explicit id or ordered list and passes create options', async () => {
    const backends = [fake('cpu', 1), fake('wasm', 2), fake('exp', -1)];
    const chosen = await selectBackend({ backends, device: 'exp', createOptions: { exp: { threads: 2 } } });
    expect(chosen.id).toBe('exp');
    expect((chosen as unknown as { options: unknown }).options).toEqual({ threads: 2 });
    expect((await selectBackend({ backends, device: ['nope', 'cpu', 'wasm'] })).id).toBe('cpu');
  });

  it('lists why every candidate was unavailable', async () => {
    const backends = [fake('wasm', 2, 'throws'), fake('webgpu', 3, 'unavailable')];
    const error = await selectBackend({ backends, device: ['webgpu', 'wasm', 'tpu'] }).catch((e) => e);
    expect(error).toBeInstanceOf(NoBackendAvailableError);
    expect(error.code).toBe('NO_BACKEND_AVAILABLE');
    expect(error.reasons).toEqual([
      { id: 'tpu', reason: 'not among the given backends (wasm, webgpu)' },
      { id: 'webgpu', reason: 'webgpu needs a GPU' },
      { id: 'wasm', reason: 'failed to initialise: wasm device lost' },
    ]);
    expect(error.message).toContain('[webgpu] webgpu needs a GPU');
  });

  it('rejects malformed arguments', async () => {
    await expect(selectBackend({ backends: [fake('cpu', 1), fake('cpu', 2)] })).rejects.toThrow(
      /given twice/,
    );
    await expect(selectBackend({ backends: [fake('cpu', 1)], device: [] })).rejects.toThrow(/non-empty list/);
    await expect(selectBackend({ backends: [{} as BackendFactory] })).rejects.toThrow(/BackendFactory/);
  });
});
