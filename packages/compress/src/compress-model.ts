import {
  AbortedError,
  assertInteger,
  type DenseMatrix,
  InvalidArgumentError,
  type KernelBackend,
  type LinearLayer,
  largestRankForBpw,
  type ResidentLinear,
} from '@dbf/core';
import {
  LINEAR_ROLES,
  type LinearRole,
  type LlamaLayerWeights,
  LlamaModel,
  type LlamaWeights,
  linearName,
  linearShape,
  logSumExp,
  parseLinearName,
  validateLlamaWeights,
} from '@dbf/llm';
import {
  type AllocationLayer,
  allocateRanks,
  type CurvePoint,
  type LayerCurve,
  maxRank,
  uniformRanks,
} from './allocation';
import { type CalibrationSet, type InputMoments, momentsObserver } from './calibration';
import {
  COMPRESSION_METHODS,
  type CompressedLinear,
  type CompressionMethod,
  compressLinear,
  type LinearTarget,
} from './compress-linear';

export type AllocationMode = 'uniform' | 'nonuniform';

/** Saves finished work so that an interrupted run can resume; the CLI keeps it in files. */
export interface CompressionCheckpoint {
  loadLayer(name: string): Promise<CompressedLinear | undefined>;
  saveLayer(name: string, layer: CompressedLinear): Promise<void>;
  loadAllocation(): Promise<AllocationRecord | undefined>;
  saveAllocation(record: AllocationRecord): Promise<void>;
}

/** The outcome of the allocation step (kept in the checkpoint: measuring curves takes a while). */
export interface AllocationRecord {
  readonly mode: AllocationMode;
  readonly ranks: Readonly<Record<string, number>>;
  /** Non-uniform only: the measured curves and sensitivities behind the ranks. */
  readonly curves?: readonly {
    readonly name: string;
    readonly points: readonly CurvePoint[];
    readonly referenceRank: number;
    readonly sensitivity: number;
  }[];
}

export type CompressEvent =
  | { readonly type: 'stage'; readonly stage: 'statistics' | 'curves' | 'sensitivity' | 'layers' }
  | { readonly type: 'curve'; readonly name: string; readonly done: number; readonly total: number }
  | { readonly type: 'sensitivity'; readonly name: string; readonly done: number; readonly total: number }
  | {
      readonly type: 'layer-start';
      readonly name: string;
      readonly index: number;
      readonly total: number;
      readonly target: LinearTarget;
      readonly iterations: number;
    }
  | {
      readonly type: 'layer-progress';
      readonly name: string;
      readonly iteration: number;
      readonly iterations: number;
      readonly relativeError: number;
    }
  | {
      readonly type: 'layer-done';
      readonly name: string;
      readonly index: number;
      readonly total: number;
      readonly result: CompressedLinear;
      readonly resumed: boolean;
    }
  | { readonly type: 'block-done'; readonly layer: number; readonly drift: number };

export interface CompressModelOptions {
  /** The model to compress, dense (as loaded from a Hugging Face folder or a llama2.c file). */
  readonly weights: LlamaWeights;
  /** Runs the model and the factorization's GEMMs. */
  readonly backend: KernelBackend;
  readonly calibration: CalibrationSet;
  readonly method: CompressionMethod;
  /**
   * DBF/MDBF: the total stored bits per weight over the compressed linears. RTN: the integer bits of its
   * grid (default 2). SVID: not used (always ≈1 bpw).
   */
  readonly bpw?: number;
  /** MDBF envelope rank l (default 2). */
  readonly envelopeRank?: number;
  /** MDBF: minimise the activation-weighted error with the full input Gram matrix `E[x xᵀ]`. */
  readonly activationAware?: boolean;
  /** DBF/MDBF: one rank rule for every layer, or ranks chosen per layer (default 'uniform'). */
  readonly allocation?: AllocationMode;
  /** The linear roles to compress (default all seven); the others stay dense. */
  readonly roles?: readonly LinearRole[];
  /**
   * After factorizing a linear, rescale each of its output channels by least squares so that, on the
   * student stream's inputs, it reproduces the original layer's output on the teacher stream's inputs
   * (DBF/MDBF only; one scalar per output, folded into `a` / the output envelope). Default false: it
   * lowers the error on text like the calibration set (sotu-3m, 1.5 bpw, in-domain perplexity 99.5 → 95.2)
   * but can raise it on other text (WikiText-2 +5%; stories260K on SOTU text ×4), so it is opt-in.
   */
  readonly refitOutputs?: boolean;
  /** Factorization outer iterations (default 260, as the reference). */
  readonly iterations?: number;
  readonly seed?: number;
  /** Non-uniform: iterations of the short factorizations that measure error curves (default 20). */
  readonly curveIterations?: number;
  /** Non-uniform: curve points, as multiples of the target bpw (default [0.5, 1, 2]). */
  readonly curveBpwFactors?: readonly number[];
  /** Non-uniform: calibration sequences used to measure each layer's sensitivity (default 4). */
  readonly sensitivitySequences?: number;
  readonly checkpoint?: CompressionCheckpoint;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: CompressEvent) => void;
}

/** One compressed linear in the result. */
export interface LayerReport extends CompressedLinear {
  readonly name: string;
  readonly role: LinearRole;
  readonly block: number;
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** Loaded from the checkpoint instead of computed. */
  readonly resumed: boolean;
}

export interface CompressModelResult {
  /** The model with its compressed linears in place (the rest shared with the input). */
  readonly weights: LlamaWeights;
  readonly layers: readonly LayerReport[];
  readonly allocation: AllocationRecord;
  /** Per decoder layer: `‖student − teacher‖/‖teacher‖` of its output on the calibration set. */
  readonly drift: readonly number[];
  /** Totals over the compressed linears: weights, bits (method's own format) and bpw. */
  readonly totals: { readonly weights: number; readonly bits: number; readonly bitsPerWeight: number };
  readonly seconds: number;
}

/** Compression order within a decoder layer: linears that read the same input share one statistics pass. */
const GROUPS: readonly (readonly LinearRole[])[] = [
  ['q_proj', 'k_proj', 'v_proj'],
  ['o_proj'],
  ['gate_proj', 'up_proj'],
  ['down_proj'],
];

/**
 * Compresses every selected linear of a llama model, decoder layer by decoder layer, as the DBF reference
 * pipeline does (algorithms.md §1.6), minus its gradient-based fine-tuning:
 * - two activation streams over the calibration set: the teacher (original layers) and the student (every
 *   layer compressed so far);
 * - in each decoder layer, the linears are compressed in order (q/k/v, o, gate/up, down), each with the
 *   input second moments `E[x_j²]` measured on the student stream just before it, so that later layers see
 *   the errors of earlier ones (the objective `‖(W − Ŵ)·diag(√E[x²])‖_F`; output-gradient moments need a
 *   backward pass and are not used, `o_norm = 1`);
 * - after each decoder layer, both streams advance and their gap (drift) is reported.
 * Deterministic for a seed; resumable through `checkpoint`.
 */
export async function compressModel(options: CompressModelOptions): Promise<CompressModelResult> {
  const start = performance.now();
  const s = resolveOptions(options);
  const { weights, backend, calibration } = s;
  const config = weights.config;
  const emit = options.onEvent ?? (() => {});
  const model = await LlamaModel.create(weights, backend);
  try {
    const selected = selectedLinears(s);
    // 1. Ranks: uniform from the budget, or measured curves + sensitivities.
    const allocation = await allocate(s, model, selected, emit);

    // 2. Sequential compression with teacher and student streams.
    emit({ type: 'stage', stage: 'layers' });
    const teacher = calibration.sequences.map((ids) => model.embed(ids));
    const student = teacher.map((h) => h.slice());
    const reports: LayerReport[] = [];
    const drift: number[] = [];
    const newLayers: LlamaLayerWeights[] = [];
    const T = calibration.sequenceLength;
    let index = 0;
    for (let block = 0; block < config.layers; block++) {
      const compressed: Partial<Record<LinearRole, LinearLayer>> = {};
      const resident: Partial<Record<LinearRole, ResidentLinear>> = {};
      try {
        for (const group of GROUPS) {
          const roles = group.filter((role) => s.roles.includes(role));
          if (roles.length === 0) continue;
          const moments = await studentMoments(model, block, student, T, roles, resident, s);
          const refit = s.refitOutputs && (s.method === 'dbf' || s.method === 'mdbf');
          const inputs = refit
            ? await groupInputs(model, block, teacher, student, T, roles[0]!, resident)
            : undefined;
          for (const role of roles) {
            checkAbort(s.signal);
            const name = linearName(block, role);
            const source = weights.layers[block]!.linears[role];
            if (source.kind !== 'dense')
              throw new InvalidArgumentError(`${name} is already compressed; give the dense model.`);
            const target = targetOf(s, name, allocation);
            emit({
              type: 'layer-start',
              name,
              index,
              total: selected.length,
              target,
              iterations: s.iterations,
            });
            let result = await s.checkpoint?.loadLayer(name);
            const resumed = result !== undefined;
            if (!result) {
              const m = moments.get(role)!;
              result = await compressLinear(
                { data: source.weight, rows: source.outFeatures, cols: source.inFeatures },
                target,
                {
                  backend,
                  iterations: s.iterations,
                  seed: s.seed,
                  inputImportance: m.secondMoment(),
                  ...(s.activationAware ? { gram: m.gram() } : {}),
                  ...(s.signal ? { signal: s.signal } : {}),
                  onProgress: (p) => emit({ type: 'layer-progress', name, ...p }),
                },
              );
              if (inputs)
                result = {
                  ...result,
                  layer: await refitOutputs(backend, model.getResident(name), result.layer, inputs, T),
                };
              await s.checkpoint?.saveLayer(name, result);
            }
            compressed[role] = result.layer;
            resident[role] = await backend.uploadLinear(result.layer);
            reports.push({
              ...result,
              name,
              role,
              block,
              outFeatures: source.outFeatures,
              inFeatures: source.inFeatures,
              resumed,
            });
            emit({ type: 'layer-done', name, index, total: selected.length, result, resumed });
            index++;
          }
        }
        // Advance both streams through this decoder layer.
        let diff = 0;
        let norm = 0;
        for (let q = 0; q < teacher.length; q++) {
          await model.runLayer(block, teacher[q]!, T);
          await model.runLayer(block, student[q]!, T, { linears: resident });
          const a = teacher[q]!;
          const b = student[q]!;
          for (let i = 0; i < a.length; i++) {
            diff += (a[i]! - b[i]!) ** 2;
            norm += a[i]! ** 2;
          }
        }
        drift.push(Math.sqrt(diff / Math.max(norm, 1e-30)));
        emit({ type: 'block-done', layer: block, drift: drift[block]! });
        // The teacher never returns to this layer: swap its dense copies on the backend for the compressed
        // layers, so that backend memory shrinks as the compression advances.
        for (const [role, layer] of Object.entries(compressed))
          await model.replaceLinear(linearName(block, role as LinearRole), layer);
      } finally {
        for (const r of Object.values(resident)) r.dispose();
      }
      const original = weights.layers[block]!;
      newLayers.push({ ...original, linears: { ...original.linears, ...compressed } });
    }
    const out: LlamaWeights = { ...weights, layers: newLayers };
    let weightCount = 0;
    let bits = 0;
    for (const r of reports) {
      weightCount += r.outFeatures * r.inFeatures;
      bits += r.bitsPerWeight * r.outFeatures * r.inFeatures;
    }
    return {
      weights: out,
      layers: reports,
      allocation,
      drift,
      totals: { weights: weightCount, bits, bitsPerWeight: weightCount ? bits / weightCount : 0 },
      seconds: (performance.now() - start) / 1000,
    };
  } finally {
    model.dispose();
  }
}

type Resolved = Required<
  Pick<
    CompressModelOptions,
    | 'iterations'
    | 'seed'
    | 'curveIterations'
    | 'curveBpwFactors'
    | 'sensitivitySequences'
    | 'allocation'
    | 'envelopeRank'
    | 'activationAware'
    | 'refitOutputs'
  >
> &
  Pick<CompressModelOptions, 'weights' | 'backend' | 'calibration' | 'method' | 'signal' | 'checkpoint'> & {
    readonly roles: readonly LinearRole[];
    readonly bpw: number;
  };

function resolveOptions(o: CompressModelOptions): Resolved {
  if (typeof o !== 'object' || o === null)
    throw new InvalidArgumentError('compressModel needs an options object.');
  validateLlamaWeights(o.weights);
  if (typeof o.backend !== 'object' || o.backend === null || typeof o.backend.gemm !== 'function')
    throw new InvalidArgumentError('backend must be a KernelBackend (for example `await wasm().create()`).');
  if (!COMPRESSION_METHODS.includes(o.method))
    throw new InvalidArgumentError(
      `method must be one of ${COMPRESSION_METHODS.join(', ')}, got ${JSON.stringify(o.method)}.`,
    );
  const cal = o.calibration;
  if (!cal || !Array.isArray(cal.sequences) || cal.sequences.length === 0)
    throw new InvalidArgumentError('calibration must hold at least one token sequence.');
  const T = assertInteger(
    'calibration.sequenceLength',
    cal.sequenceLength,
    1,
    o.weights.config.contextLength,
  );
  for (const [i, seq] of cal.sequences.entries()) {
    if (!(seq instanceof Int32Array) || seq.length !== T)
      throw new InvalidArgumentError(`calibration.sequences[${i}] must be an Int32Array of ${T} token ids.`);
  }
  const roles = o.roles ?? LINEAR_ROLES;
  for (const role of roles) {
    if (!LINEAR_ROLES.includes(role))
      throw new InvalidArgumentError(
        `Unknown linear role ${JSON.stringify(role)}; use ${LINEAR_ROLES.join(', ')}.`,
      );
  }
  if (roles.length === 0) throw new InvalidArgumentError('roles is empty: nothing would be compressed.');
  const allocation = o.allocation ?? 'uniform';
  if (allocation !== 'uniform' && allocation !== 'nonuniform')
    throw new InvalidArgumentError(
      `allocation must be 'uniform' or 'nonuniform', got ${JSON.stringify(allocation)}.`,
    );
  if (allocation === 'nonuniform' && (o.method === 'svid' || o.method === 'rtn'))
    throw new InvalidArgumentError(`Non-uniform allocation chooses DBF/MDBF ranks; ${o.method} has none.`);
  const defaultBpw = o.method === 'rtn' ? 2 : o.method === 'svid' ? 1 : undefined;
  const bpw = o.bpw ?? defaultBpw;
  if (typeof bpw !== 'number' || !Number.isFinite(bpw) || bpw <= 0)
    throw new InvalidArgumentError(`bpw must be a positive number, got ${o.bpw}.`);
  if (o.method === 'rtn') assertInteger('bpw (RTN bits)', bpw, 1, 8);
  if (o.activationAware && o.method !== 'mdbf')
    throw new InvalidArgumentError('activationAware applies to the mdbf method only.');
  const factors = o.curveBpwFactors ?? [0.5, 1, 2];
  if (!Array.isArray(factors) || factors.length < 2 || factors.some((f) => !(f > 0)))
    throw new InvalidArgumentError('curveBpwFactors must hold at least two positive multiples of bpw.');
  return {
    weights: o.weights,
    backend: o.backend,
    calibration: cal,
    method: o.method,
    signal: o.signal,
    checkpoint: o.checkpoint,
    roles,
    bpw,
    allocation,
    envelopeRank: assertInteger('envelopeRank', o.envelopeRank ?? 2, 1),
    activationAware: o.activationAware ?? false,
    refitOutputs: o.refitOutputs ?? false,
    iterations: assertInteger('iterations', o.iterations ?? 260, 1),
    seed: assertInteger('seed', o.seed ?? 0, 0),
    curveIterations: assertInteger('curveIterations', o.curveIterations ?? 20, 1),
    curveBpwFactors: [...factors].sort((a, b) => a - b),
    sensitivitySequences: assertInteger('sensitivitySequences', o.sensitivitySequences ?? 4, 1),
  };
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('Compression was aborted.', { cause: signal.reason });
}

/** Every linear to compress, in compression order, with its allocation facts. */
function selectedLinears(s: Resolved): AllocationLayer[] {
  const out: AllocationLayer[] = [];
  for (let block = 0; block < s.weights.config.layers; block++) {
    for (const group of GROUPS) {
      for (const role of group) {
        if (!s.roles.includes(role)) continue;
        const [n, m] = linearShape(s.weights.config, role);
        out.push({
          name: linearName(block, role),
          outFeatures: n,
          inFeatures: m,
          kind: s.method === 'mdbf' ? 'mdbf' : 'dbf',
          envelopeRank: s.method === 'mdbf' ? s.envelopeRank : 1,
        });
      }
    }
  }
  return out;
}

function targetOf(s: Resolved, name: string, allocation: AllocationRecord): LinearTarget {
  switch (s.method) {
    case 'svid':
      return { method: 'svid' };
    case 'rtn':
      return { method: 'rtn', bits: s.bpw };
    default: {
      const rank = allocation.ranks[name];
      if (rank === undefined) throw new InvalidArgumentError(`The allocation has no rank for ${name}.`);
      return { method: s.method, rank, ...(s.method === 'mdbf' ? { envelopeRank: s.envelopeRank } : {}) };
    }
  }
}

/** One linear's inputs on both streams: what the original saw (teacher) and what the compressed one sees. */
interface StreamInputs {
  readonly teacher: Float32Array[];
  readonly student: Float32Array[];
}

/** The input of linear `role` of decoder layer `block` on every calibration sequence, on both streams. */
async function groupInputs(
  model: LlamaModel,
  block: number,
  teacher: readonly Float32Array[],
  student: readonly Float32Array[],
  tokens: number,
  role: LinearRole,
  resident: Partial<Record<LinearRole, ResidentLinear>>,
): Promise<StreamInputs> {
  const name = linearName(block, role);
  const capture = async (
    stream: readonly Float32Array[],
    linears?: Partial<Record<LinearRole, ResidentLinear>>,
  ) => {
    const out: Float32Array[] = [];
    const observer = {
      onInput(n: string, input: Float32Array) {
        if (n === name) out.push(input.slice());
      },
    };
    for (const h of stream)
      await model.runLayer(block, h.slice(), tokens, { observer, ...(linears ? { linears } : {}) });
    return out;
  };
  return { teacher: await capture(teacher), student: await capture(student, resident) };
}

/**
 * Per output channel i, the scalar c_i minimising Σ_t (c_i·z_ti − y_ti)², where z is the compressed layer on
 * the student inputs and y the original layer on the teacher inputs; returns the layer with c folded into
 * its output scales (clamped to [0.5, 2]: a correction, not a new fit).
 */
async function refitOutputs(
  backend: KernelBackend,
  original: ResidentLinear,
  layer: LinearLayer,
  inputs: StreamInputs,
  tokens: number,
): Promise<LinearLayer> {
  if (layer.kind === 'dense') return layer;
  const n = layer.outFeatures;
  const zy = new Float64Array(n);
  const zz = new Float64Array(n);
  const compressed = await backend.uploadLinear(layer);
  try {
    for (let q = 0; q < inputs.student.length; q++) {
      const z = await backend.linear({ weights: compressed, input: inputs.student[q]!, batch: tokens });
      const y = await backend.linear({ weights: original, input: inputs.teacher[q]!, batch: tokens });
      for (let t = 0; t < tokens; t++) {
        for (let i = 0; i < n; i++) {
          const zi = z[t * n + i]!;
          zy[i]! += zi * y[t * n + i]!;
          zz[i]! += zi * zi;
        }
      }
    }
  } finally {
    compressed.dispose();
  }
  const c = Float32Array.from(zy, (v, i) => (zz[i]! > 0 ? Math.min(2, Math.max(0.5, v / zz[i]!)) : 1));
  if (layer.kind === 'dbf') return { ...layer, scaleA: Float32Array.from(layer.scaleA, (a, i) => a * c[i]!) };
  const l = layer.envelopeRank;
  return { ...layer, envA: Float32Array.from(layer.envA, (a, j) => a * c[Math.floor(j / l)]!) };
}

/** Input moments of `roles` in decoder layer `block`, measured on the student stream. */
async function studentMoments(
  model: LlamaModel,
  block: number,
  student: readonly Float32Array[],
  tokens: number,
  roles: readonly LinearRole[],
  resident: Partial<Record<LinearRole, ResidentLinear>>,
  s: Resolved,
): Promise<Map<LinearRole, InputMoments>> {
  const features = new Map<string, number>();
  for (const role of roles) features.set(linearName(block, role), linearShape(s.weights.config, role)[1]);
  const gram = new Set(s.activationAware ? features.keys() : []);
  const { observer, moments } = momentsObserver(features, gram);
  for (const h of student) {
    checkAbort(s.signal);
    // runLayer updates its input in place: run on a copy, the stream advances later.
    await model.runLayer(block, h.slice(), tokens, { observer, linears: resident });
  }
  return new Map(roles.map((role) => [role, moments.get(linearName(block, role))!]));
}

async function allocate(
  s: Resolved,
  model: LlamaModel,
  layers: readonly AllocationLayer[],
  emit: (e: CompressEvent) => void,
): Promise<AllocationRecord> {
  if (s.method === 'svid' || s.method === 'rtn') return { mode: 'uniform', ranks: {} };
  if (s.allocation === 'uniform')
    return { mode: 'uniform', ranks: Object.fromEntries(uniformRanks(layers, s.bpw)) };
  const saved = await s.checkpoint?.loadAllocation();
  if (saved) return saved;
  const record = await measureAndAllocate(s, model, layers, emit);
  await s.checkpoint?.saveAllocation(record);
  return record;
}

/**
 * Non-uniform allocation, measured: (1) input moments of every linear on the original model; (2) each
 * layer's objective error at a few ranks around the target, with short factorizations; (3) its sensitivity:
 * the KL divergence from the original model's next-token distribution when that layer alone is replaced by
 * its reference-rank factorization; then `allocateRanks`.
 */
async function measureAndAllocate(
  s: Resolved,
  model: LlamaModel,
  layers: readonly AllocationLayer[],
  emit: (e: CompressEvent) => void,
): Promise<AllocationRecord> {
  const T = s.calibration.sequenceLength;
  emit({ type: 'stage', stage: 'statistics' });
  const features = new Map(layers.map((l) => [l.name, l.inFeatures]));
  const { observer, moments } = momentsObserver(features);
  const cache = model.createCache(T);
  for (const ids of s.calibration.sequences) {
    checkAbort(s.signal);
    cache.reset();
    await model.forward(ids, cache, { logits: 'none', observer });
  }

  emit({ type: 'stage', stage: 'curves' });
  const references = new Map<string, LinearLayer>();
  const curves: LayerCurve[] = [];
  for (const [i, layer] of layers.entries()) {
    checkAbort(s.signal);
    const source = denseWeight(s.weights, layer.name);
    const ranks = [...new Set(s.curveBpwFactors.map((f) => rankAt(layer, f * s.bpw)))].sort((a, b) => a - b);
    const referenceRank = rankAt(layer, s.bpw);
    const points: CurvePoint[] = [];
    for (const rank of ranks) {
      const r = await compressLinear(
        source,
        { method: s.method, rank, ...(s.method === 'mdbf' ? { envelopeRank: s.envelopeRank } : {}) },
        {
          backend: s.backend,
          iterations: s.curveIterations,
          seed: s.seed,
          inputImportance: moments.get(layer.name)!.secondMoment(),
          ...(s.signal ? { signal: s.signal } : {}),
        },
      );
      points.push({ rank, error: Math.max(r.objectiveError ** 2, 1e-12) });
      if (rank === referenceRank) references.set(layer.name, r.layer);
    }
    curves.push({ layer, points, referenceRank, sensitivity: 0 });
    emit({ type: 'curve', name: layer.name, done: i + 1, total: layers.length });
  }

  emit({ type: 'stage', stage: 'sensitivity' });
  const sensitivity = await measureSensitivity(s, model, layers, references, emit);
  // A layer whose measured effect is within noise of zero still costs something: floor at 1% of the median.
  const sorted = [...sensitivity.values()].sort((a, b) => a - b);
  const floor = 0.01 * (sorted[Math.floor(sorted.length / 2)] ?? 0);
  const measured = curves.map((c) => ({
    ...c,
    sensitivity: Math.max(floor, sensitivity.get(c.layer.name) ?? 0),
  }));
  const ranks = allocateRanks(measured, s.bpw);
  return {
    mode: 'nonuniform',
    ranks: Object.fromEntries(ranks),
    curves: measured.map((c) => ({
      name: c.layer.name,
      points: c.points,
      referenceRank: c.referenceRank,
      sensitivity: c.sensitivity,
    })),
  };
}

/** The largest rank whose stored bpw fits `bpw` (within `maxRank`); rank 1 when even that does not. */
function rankAt(layer: AllocationLayer, bpw: number): number {
  try {
    return Math.min(largestRankForBpw(layer, bpw), maxRank(layer));
  } catch {
    return 1;
  }
}

function denseWeight(weights: LlamaWeights, name: string): DenseMatrix {
  const [block, role] = blockAndRole(name, weights.config.layers);
  const w = weights.layers[block]!.linears[role];
  if (w.kind !== 'dense')
    throw new InvalidArgumentError(`${name} is already compressed; give the dense model.`);
  return { data: w.weight, rows: w.outFeatures, cols: w.inFeatures };
}

/**
 * KL(original ‖ one layer replaced), nats per predicted token, on the first `sensitivitySequences`
 * calibration sequences. The original's hidden states at each decoder layer's input are kept, so each
 * replacement only reruns the layers from its own on.
 */
async function measureSensitivity(
  s: Resolved,
  model: LlamaModel,
  layers: readonly AllocationLayer[],
  references: ReadonlyMap<string, LinearLayer>,
  emit: (e: CompressEvent) => void,
): Promise<Map<string, number>> {
  const c = s.weights.config;
  const T = s.calibration.sequenceLength;
  const sequences = s.calibration.sequences.slice(0, s.sensitivitySequences);
  // inputs[q][block]: the original model's residual stream entering `block`.
  const inputs: Float32Array[][] = [];
  const logProbs: Float32Array[] = [];
  for (const ids of sequences) {
    const h = model.embed(ids);
    const perBlock: Float32Array[] = [];
    for (let block = 0; block < c.layers; block++) {
      perBlock.push(h.slice());
      await model.runLayer(block, h, T);
    }
    inputs.push(perBlock);
    logProbs.push(logSoftmaxRows(await model.computeLogits(h, T), T, c.vocabSize));
  }
  const out = new Map<string, number>();
  for (const [i, layer] of layers.entries()) {
    checkAbort(s.signal);
    const [block, role] = blockAndRole(layer.name, c.layers);
    const resident = await s.backend.uploadLinear(references.get(layer.name)!);
    try {
      let kl = 0;
      let count = 0;
      for (const [q, perBlock] of inputs.entries()) {
        const h = perBlock[block]!.slice();
        await model.runLayer(block, h, T, { linears: { [role]: resident } });
        for (let b = block + 1; b < c.layers; b++) await model.runLayer(b, h, T);
        const logits = await model.computeLogits(h, T);
        kl += klRows(logProbs[q]!, logits, T, c.vocabSize);
        count += T;
      }
      out.set(layer.name, kl / count);
    } finally {
      resident.dispose();
    }
    emit({ type: 'sensitivity', name: layer.name, done: i + 1, total: layers.length });
  }
  return out;
}

function blockAndRole(name: string, blocks: number): [number, LinearRole] {
  const parsed = parseLinearName(name);
  if (!parsed || parsed.layer >= blocks)
    throw new InvalidArgumentError(`The model has no linear named ${name}.`);
  return [parsed.layer, parsed.role];
}

function logSoftmaxRows(logits: Float32Array, rows: number, vocab: number): Float32Array {
  const out = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const lse = logSumExp(logits, o, vocab);
    for (let j = 0; j < vocab; j++) out[o + j] = logits[o + j]! - lse;
  }
  return out;
}

/** Σ over rows of KL(p ‖ softmax(logits)), with p given as log-probabilities. */
function klRows(logP: Float32Array, logits: Float32Array, rows: number, vocab: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const lse = logSumExp(logits, o, vocab);
    let kl = 0;
    for (let j = 0; j < vocab; j++) {
      const lp = logP[o + j]!;
      kl += Math.exp(lp) * (lp - (logits[o + j]! - lse));
    }
    total += kl;
  }
  return total;
}
