import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AllocationRecord,
  type CompressedLinear,
  type CompressionCheckpoint,
  decodeCheckpointLayer,
  encodeCheckpointLayer,
} from '@dbf/compress';
import { FormatError } from '@dbf/core';
import { writeFileAtomic } from '@dbf/node';

const STATE = 'state.json';

/**
 * The work folder of an unfinished `dbf compress` (`<out>.partial/`): `state.json` (the run's fingerprint),
 * `allocation.json` and one file per finished linear in `layers/`. Every file is written atomically, so a
 * crash or Ctrl-C at any moment leaves only complete checkpoints behind.
 */
export class CheckpointStore implements CompressionCheckpoint {
  private constructor(
    readonly dir: string,
    private readonly onSaved: (name: string) => void,
  ) {}

  /**
   * Opens (`resume`) or starts the work folder for a run with `fingerprint`. Resuming a folder made by a
   * different run (other model, options or calibration) is refused, as is starting over a folder that
   * already holds work without `discard`.
   */
  static async open(
    dir: string,
    fingerprint: Record<string, unknown>,
    options: { resume: boolean; discard: boolean; onSaved?: (name: string) => void },
  ): Promise<{ store: CheckpointStore; resumedLayers: number }> {
    const statePath = join(dir, STATE);
    const existing = await readFile(statePath, 'utf8').catch(() => undefined);
    const wanted = JSON.stringify(fingerprint);
    if (existing !== undefined && !options.discard) {
      if (!options.resume) {
        throw new FormatError(
          'IO_ERROR',
          `${dir} holds the checkpoint of an unfinished run. Pass --resume to continue it, or --force to discard it and start over.`,
        );
      }
      if (existing.trim() !== wanted) {
        throw new FormatError(
          'IO_ERROR',
          `${dir} was made by a run with another model, options or calibration; it cannot be resumed with these. Run the original command with --resume, or pass --force to start over.`,
        );
      }
    } else if (existing !== undefined || options.discard) {
      await rm(dir, { recursive: true, force: true });
    }
    await mkdir(join(dir, 'layers'), { recursive: true });
    if (existing === undefined || options.discard)
      await writeFileAtomic(statePath, new TextEncoder().encode(wanted));
    const store = new CheckpointStore(dir, options.onSaved ?? (() => {}));
    const resumedLayers = (await readdir(join(dir, 'layers'))).filter((n) =>
      n.endsWith('.safetensors'),
    ).length;
    return { store, resumedLayers };
  }

  #layerPath(name: string): string {
    return join(this.dir, 'layers', `${name}.safetensors`);
  }

  async loadLayer(name: string): Promise<CompressedLinear | undefined> {
    const bytes = await readFile(this.#layerPath(name)).catch(() => undefined);
    if (bytes === undefined) return undefined;
    return decodeCheckpointLayer(name, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  async saveLayer(name: string, layer: CompressedLinear): Promise<void> {
    await writeFileAtomic(this.#layerPath(name), encodeCheckpointLayer(name, layer));
    this.onSaved(name);
  }

  async loadAllocation(): Promise<AllocationRecord | undefined> {
    const text = await readFile(join(this.dir, 'allocation.json'), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as AllocationRecord);
  }

  async saveAllocation(record: AllocationRecord): Promise<void> {
    await writeFileAtomic(
      join(this.dir, 'allocation.json'),
      new TextEncoder().encode(JSON.stringify(record)),
    );
  }

  /** Removes the work folder once the output is complete. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
