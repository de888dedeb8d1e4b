import { InvalidArgumentError, NoBackendAvailableError } from '../errors';
import type { BackendFactory, BackendId, KernelBackend } from './kernel-backend';

/** `'auto'` (best available by priority), one backend id, or an ordered list of ids to try. */
export type BackendChoice = 'auto' | BackendId | readonly BackendId[];

export interface SelectBackendOptions {
  readonly backends: readonly BackendFactory[];
  readonly device?: BackendChoice;
  /** Options passed to `create()` of the backend with that id. */
  readonly createOptions?: Readonly<Record<string, unknown>>;
}

/**
 * Resolves `device` against the given factories and returns the first backend that is available and
 * initialises. `'auto'` tries every factory with priority ≥ 0, highest first. When none works, throws
 * `NoBackendAvailableError` listing each candidate and why it could not be used.
 */
export async function selectBackend(options: SelectBackendOptions): Promise<KernelBackend> {
  const { backends, device = 'auto', createOptions = {} } = options;
  if (!Array.isArray(backends))
    throw new InvalidArgumentError('backends must be an array of backend factories.');
  const byId = new Map<string, BackendFactory>();
  for (const factory of backends) {
    if (typeof factory?.id !== 'string' || typeof factory.create !== 'function') {
      throw new InvalidArgumentError(
        'Every entry of backends must be a BackendFactory (id, priority, isAvailable, create).',
      );
    }
    if (byId.has(factory.id)) throw new InvalidArgumentError(`Backend '${factory.id}' was given twice.`);
    byId.set(factory.id, factory);
  }

  let candidates: BackendFactory[];
  const reasons: { id: string; reason: string }[] = [];
  if (device === 'auto') {
    candidates = [...backends].filter((f) => f.priority >= 0).sort((x, y) => y.priority - x.priority);
    for (const f of backends)
      if (f.priority < 0)
        reasons.push({ id: f.id, reason: 'never chosen automatically (negative priority)' });
  } else {
    const ids = typeof device === 'string' ? [device] : device;
    if (!Array.isArray(ids) || ids.length === 0) {
      throw new InvalidArgumentError(`device must be 'auto', a backend id or a non-empty list of ids.`);
    }
    candidates = [];
    for (const id of ids) {
      const factory = byId.get(id);
      if (factory) candidates.push(factory);
      else
        reasons.push({
          id,
          reason: `not among the given backends (${[...byId.keys()].join(', ') || 'none'})`,
        });
    }
  }

  for (const factory of candidates) {
    try {
      const availability = await factory.isAvailable();
      if (!availability.available) {
        reasons.push({ id: factory.id, reason: availability.reason });
        continue;
      }
      return await factory.create(createOptions[factory.id]);
    } catch (error) {
      reasons.push({
        id: factory.id,
        reason: `failed to initialise: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
  throw new NoBackendAvailableError(reasons, typeof device === 'string' ? device : device.join(', '));
}
