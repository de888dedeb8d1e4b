import {
  createRng,
  type KernelBackend,
  type LinearLayer,
  memorySource,
  openDbf,
  type PackedSigns,
  validateLayer,
} from '@dbf/core';
import { decodeBase64 } from '../base64';
import { ConformanceError } from '../conformance-error';
import { referenceLinear, referenceSignMatMul } from '../reference';
import { expectExact, expectGolden } from './assertions';
import { guardedLinear, guardedSignMatMul } from './kernel-checks';

/** One layer of a golden file: `y = W·x (+ bias)` for `batch` integer-valued input vectors. */
export interface GoldenLinearLayer {
  readonly name: string;
  readonly batch: number;
  /** `batch × inFeatures`, row-major. */
  readonly x: readonly number[];
  /** `batch × outFeatures`, row-major. */
  readonly y: readonly number[];
  /** The dense `outFeatures × inFeatures` weight the layer represents (bias excluded). */
  readonly w: readonly number[];
}

/** A small DBF file (base64 of its bytes) with the exact outputs of some of its layers. */
export interface GoldenLinearVector {
  readonly name: string;
  readonly file: string;
  readonly layers: readonly GoldenLinearLayer[];
}

/** What the golden checks need from an opened DBF file. */
export interface GoldenFile {
  loadLayer(layerName: string): Promise<LinearLayer>;
  close?(): Promise<void>;
}

/** Opens the decoded bytes of a golden file. Defaults to `openDbf(memorySource(bytes))` from @dbf/core. */
export type GoldenOpener = (bytes: Uint8Array) => Promise<GoldenFile>;

/** Core's reader over the bytes in memory. */
export const openGoldenFile: GoldenOpener = (bytes) => openDbf(memorySource(bytes));

/**
 * Golden check of one layer: the bundled exact outputs, on the compressed layer and on its dense
 * weight `w`; then `signMatMul` of both sign matrices on integer inputs. Exact for f64/f32
 * accumulation, within `nmseTolerance` otherwise.
 */
export async function checkGoldenLayer(
  backend: KernelBackend,
  vector: GoldenLinearVector,
  golden: GoldenLinearLayer,
  open: GoldenOpener = openGoldenFile,
): Promise<void> {
  const label = `golden ${vector.name}/${golden.name}`;
  const file = await open(decodeBase64(vector.file));
  let layer: LinearLayer;
  try {
    layer = await file.loadLayer(golden.name);
  } finally {
    await file.close?.();
  }
  validateLayer(layer, golden.name);
  const { outFeatures: n, inFeatures: m } = layer;
  const { batch } = golden;
  if (
    !Number.isInteger(batch) ||
    batch < 1 ||
    golden.x.length !== batch * m ||
    golden.y.length !== batch * n ||
    golden.w.length !== n * m
  ) {
    throw new ConformanceError(
      `${label}: the golden record does not fit the ${n}x${m} layer (batch ${batch}, |x| ${golden.x.length}, |y| ${golden.y.length}, |w| ${golden.w.length}); the bundled vectors are corrupt.`,
    );
  }
  const x = Float32Array.from(golden.x);
  // The suite's own reference must agree first, or the file and the record disagree (not the backend's fault).
  try {
    expectExact(`${label}: float64 reference`, Float32Array.from(referenceLinear(layer, x, batch)), golden.y);
  } catch (error) {
    throw new ConformanceError(
      `${label}: the golden output disagrees with the float64 reference on the loaded layer, so the bundled vector or @dbf/core's reader is wrong, not the backend. ${(error as Error).message}`,
    );
  }

  const compressed = await backend.uploadLinear(layer);
  try {
    expectGolden(
      `${label}: linear`,
      await guardedLinear(backend, compressed, x, batch, `${label}: linear`),
      golden.y,
      backend.capabilities,
    );
  } finally {
    compressed.dispose();
  }

  const dense = await backend.uploadLinear({
    kind: 'dense',
    outFeatures: n,
    inFeatures: m,
    weight: Float32Array.from(golden.w),
    ...(layer.bias ? { bias: layer.bias } : {}),
  });
  try {
    const label2 = `${label}: linear on the dense weight w`;
    expectGolden(
      label2,
      await guardedLinear(backend, dense, x, batch, label2),
      golden.y,
      backend.capabilities,
    );
  } finally {
    dense.dispose();
  }

  if (layer.kind !== 'dense') {
    await checkGoldenSigns(backend, layer.signA, `${label}: signMatMul on signA`, batch);
    await checkGoldenSigns(backend, layer.signB, `${label}: signMatMul on signB`, batch);
  }
}

/** `signMatMul` on integer inputs in [−4, 4] is exact in float32 for any shape below 2²¹ columns. */
async function checkGoldenSigns(
  backend: KernelBackend,
  signs: PackedSigns,
  label: string,
  batch: number,
): Promise<void> {
  const rng = createRng(signs.rows * 65_537 + signs.cols);
  const input = Float32Array.from({ length: batch * signs.cols }, () => rng.int(9) - 4);
  const resident = await backend.uploadSigns(signs);
  try {
    const actual = await guardedSignMatMul(backend, resident, input, batch, label);
    expectGolden(label, actual, referenceSignMatMul(signs, input, batch), backend.capabilities);
  } finally {
    resident.dispose();
  }
}
