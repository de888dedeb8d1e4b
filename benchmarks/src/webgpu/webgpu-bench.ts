/**
 * The WebGPU backend's benchmark (issue 5): per shape (4096×4096 and 4096×11008, out × in) and batch
 * (1 and 8), the time of
 * - the backend's DBF linear at 1, 1.5 and 2 bpw (two fused sign-matmul dispatches per call),
 * - the backend's dense f32 linear of a weight of the same shape (the WGSL dense GEMV at batch 1, the
 *   tiled f32 GEMM at batch 8),
 * - a WGSL buffer-copy kernel over as many bytes as the DBF layer's packed signs: the bandwidth probe,
 *   reported as read + write traffic (STREAM "copy" convention, 2 × bytes / time).
 *
 * GPU work is timed as a host sees it in a model runtime: `reps` calls recorded back to back into one
 * command submission (a `WebGpuChain` for the layers), wall time from submit to completion divided by
 * `reps` — the sequential-dispatch method, which includes per-dispatch overhead but not one readback
 * per call. On discrete GPUs the weights rotate through enough replicas to exceed the L2 cache.
 *
 * Rows use the kernel benchmark's format (`ratio = baseline median / this median`, > 1 = faster), with
 * `gbps` added: weight bytes per second for layer rows, copy traffic for copy rows. A software adapter
 * (SwiftShader) runs everything, but its figures say nothing about GPU performance.
 */
import { describeAdapter, type WebGpuBackend, webgpu } from '@dbf/backend-webgpu';
import { bitsPerWeight, createRng, largestRankForBpw, type ResidentLinear } from '@dbf/core';
import { create } from 'webgpu';
import type { BenchHooks, BenchRow } from '../kernel-bench';
import { type MeasureOptions, measure, type Variant } from '../measure';
import { dbfSignBytes, randomDbf, randomUniform } from '../random-layers';

export const WEBGPU_SHAPES: readonly (readonly [number, number])[] = [
  [4096, 4096],
  [4096, 11008],
];
export const WEBGPU_QUICK_SHAPES: readonly (readonly [number, number])[] = [
  [256, 256],
  [256, 640],
];
export const WEBGPU_BPWS = [1, 1.5, 2] as const;
export const WEBGPU_BATCHES = [1, 8] as const;

/** Each timed submission should last about this long, so host overhead per submission is amortised. */
const TARGET_SUBMISSION_MS = 20;
const MAX_REPS = 512;
/** Weights per variant are replicated up to this many bytes on non-fallback adapters (beyond any L2). */
const ROTATION_BYTES = 256 * 2 ** 20;

export interface WebGpuBenchOptions {
  readonly quick: boolean;
  /** WebGPU entry point; default: `create([])` from the `webgpu` package (Dawn). */
  readonly gpu?: GPU;
  readonly shapes?: readonly (readonly [number, number])[];
  /** Default 1, 1.5 and 2; only 2 on a software fallback adapter, where one call takes seconds. */
  readonly bpws?: readonly number[];
  readonly batches?: readonly number[];
}

export interface WebGpuBenchRow extends BenchRow {
  /** GB/s: weight bytes / time for layer rows, 2 × bytes / time (read + write) for copy rows. */
  readonly gbps: number;
}

const FULL_TIMING: MeasureOptions = {
  budgetMs: 4000,
  minRounds: 5,
  maxRounds: 40,
  warmupMs: 300,
  minSampleMs: 0,
};
const QUICK_TIMING: MeasureOptions = {
  budgetMs: 200,
  minRounds: 3,
  maxRounds: 8,
  warmupMs: 20,
  minSampleMs: 0,
};

/** One line per fact about the adapter: printed before the figures, so every result names its GPU. */
export function describeWebGpuBackend(backend: WebGpuBackend): string[] {
  const info = backend.adapterInfo;
  const l = backend.device.limits;
  const lines = [
    `adapter: ${describeAdapter(info)} (vendor '${info.vendor}', architecture '${info.architecture}', device '${info.device}', description '${info.description}')`,
    `subgroups: ${backend.usesSubgroups ? `used (sizes ${info.subgroupMinSize ?? '?'}–${info.subgroupMaxSize ?? '?'})` : 'not used'}; features: ${[...backend.device.features].sort().join(', ')}`,
    `limits: maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, maxBufferSize ${l.maxBufferSize}, maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}`,
    `backend: ${backend.capabilities.description}`,
  ];
  if (info.isFallbackAdapter)
    lines.push('NOTE: software fallback adapter: these figures are CPU emulation, not GPU performance.');
  return lines;
}

const COPY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = g.x + g.y * n.x * 256u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}
`;

/** The copy probe: `reps` copies of `bytes` in one submission, rotating through `replicas` sources. */
class CopyProbe {
  private readonly buffers: GPUBuffer[] = [];
  private readonly groups: GPUBindGroup[] = [];
  private readonly grid: [number, number];

  constructor(
    private readonly device: GPUDevice,
    private readonly pipeline: GPUComputePipeline,
    bytes: number,
    replicas: number,
  ) {
    const size = Math.ceil(bytes / 16) * 16;
    const dst = device.createBuffer({ size, usage: 0x80 });
    this.buffers.push(dst);
    for (let r = 0; r < replicas; r++) {
      const src = device.createBuffer({ size, usage: 0x80 | 0x08 });
      device.queue.writeBuffer(src, 0, new Uint8Array(size).fill(r + 1));
      this.buffers.push(src);
      this.groups.push(
        device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: src } },
            { binding: 1, resource: { buffer: dst } },
          ],
        }),
      );
    }
    const workgroups = Math.ceil(size / 16 / 256);
    const y = Math.ceil(workgroups / 65_535);
    this.grid = [Math.ceil(workgroups / y), y];
  }

  async run(reps: number): Promise<void> {
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.pipeline);
    for (let i = 0; i < reps; i++) {
      pass.setBindGroup(0, this.groups[i % this.groups.length]!);
      pass.dispatchWorkgroups(this.grid[0], this.grid[1]);
    }
    pass.end();
    this.device.queue.submit([encoder.finish()]);
    await this.device.queue.onSubmittedWorkDone();
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}

/** `reps` calls of `linear` in one chain, rotating through the given resident replicas. */
function layerChain(
  backend: WebGpuBackend,
  replicas: readonly ResidentLinear[],
  batch: number,
  reps: number,
) {
  const chain = backend.chain();
  const x = chain.input(replicas[0]!.inFeatures, batch);
  for (let i = 0; i < reps; i++) chain.linear(replicas[i % replicas.length]!, x);
  return chain;
}

interface Timed {
  readonly name: string;
  /** A layer (seconds per call on a software adapter) rather than the copy probe. */
  readonly layer: boolean;
  /** Bytes for the GB/s figure. */
  readonly bytes: number;
  readonly traffic: number;
  /** One call with `reps` repetitions; resolves when the GPU is done. */
  readonly run: (reps: number) => Promise<void>;
  readonly dispose: () => void;
}

function layerVariant(
  backend: WebGpuBackend,
  name: string,
  replicas: readonly ResidentLinear[],
  batch: number,
  bytes: number,
  input: Float32Array,
): Timed {
  const chains = new Map<number, ReturnType<typeof layerChain>>();
  return {
    name,
    layer: true,
    bytes,
    traffic: bytes,
    run: async (reps) => {
      let chain = chains.get(reps);
      if (!chain) {
        chain = layerChain(backend, replicas, batch, reps);
        chains.set(reps, chain);
      }
      await chain.run([input]);
    },
    // The resident replicas outlive the variant: they serve every batch of the shape.
    dispose: () => {
      for (const c of chains.values()) c.dispose();
    },
  };
}

/** Repetitions per submission so that one submission lasts about TARGET_SUBMISSION_MS. */
async function calibrate(variant: Timed): Promise<number> {
  await variant.run(1); // compile and allocate
  const start = performance.now();
  await variant.run(1);
  const ms = performance.now() - start;
  return Math.max(1, Math.min(MAX_REPS, Math.round(TARGET_SUBMISSION_MS / Math.max(ms, 1e-3))));
}

/** Runs the benchmark; `hooks.log` receives the adapter description and progress lines. */
export async function runWebGpuKernelBench(
  options: WebGpuBenchOptions,
  hooks: BenchHooks,
): Promise<WebGpuBenchRow[]> {
  const gpu = options.gpu ?? create([]);
  const factory = webgpu({ gpu, allowFallbackAdapter: true });
  const availability = await factory.isAvailable();
  if (!availability.available) {
    throw new Error(
      `WebGPU is not available: ${availability.reason} (on a machine without a GPU, export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json after apt-get install chromium libvulkan1).`,
    );
  }
  const backend = await factory.create();
  const fallback = backend.adapterInfo.isFallbackAdapter;
  for (const line of describeWebGpuBackend(backend)) hooks.log(`[webgpu] ${line}`);
  const timing = { ...(options.quick ? QUICK_TIMING : FULL_TIMING), ...hooks.timing };
  // A software adapter takes seconds per 4096-wide call: one timed call per variant after a warm-up.
  const smoke = fallback && !options.quick;
  if (smoke)
    hooks.log(
      '[webgpu] software adapter: 2 bpw only, one timed call per variant after a warm-up (figures show the code runs, nothing more)',
    );
  const module = backend.device.createShaderModule({ code: COPY_WGSL });
  const copyPipeline = await backend.device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module, entryPoint: 'main' },
  });
  const rows: WebGpuBenchRow[] = [];
  try {
    const shapes = options.shapes ?? (options.quick ? WEBGPU_QUICK_SHAPES : WEBGPU_SHAPES);
    for (const [n, m] of shapes) {
      const rng = createRng(n * 65_537 + m);
      const shape = `${n}x${m}`;
      const replicasFor = (bytes: number) =>
        fallback || options.quick ? 1 : Math.max(1, Math.ceil(ROTATION_BYTES / bytes));
      const denseBytes = 4 * n * m;
      const dense: ResidentLinear[] = [];
      for (let r = 0; r < replicasFor(denseBytes); r++) {
        dense.push(
          await backend.uploadLinear({
            kind: 'dense',
            outFeatures: n,
            inFeatures: m,
            weight: randomUniform(rng, n * m),
          }),
        );
      }
      const dbf = [] as { bpw: number; rank: number; bytes: number; replicas: ResidentLinear[] }[];
      for (const bpw of options.bpws ?? (smoke ? [2] : WEBGPU_BPWS)) {
        const rank = largestRankForBpw(
          { kind: 'dbf', outFeatures: n, inFeatures: m, scaleDtype: 'F16' },
          bpw,
          'stored',
        );
        const bytes = dbfSignBytes(n, m, rank);
        const replicas: ResidentLinear[] = [];
        // Replicas share sign words (uploads are the slow part); each is its own set of GPU buffers.
        const layer = randomDbf(rng, n, m, rank);
        for (let r = 0; r < replicasFor(bytes); r++) replicas.push(await backend.uploadLinear(layer));
        dbf.push({ bpw, rank, bytes, replicas });
      }
      for (const batch of options.batches ?? WEBGPU_BATCHES) {
        const input = randomUniform(rng, batch * m);
        const variants: Timed[] = [
          layerVariant(backend, 'webgpu-dense-linear', dense, batch, denseBytes, input),
          ...dbf.map((d) => layerVariant(backend, `webgpu-dbf-${d.bpw}`, d.replicas, batch, d.bytes, input)),
          ...dbf.map((d) => {
            const probe = new CopyProbe(backend.device, copyPipeline, d.bytes, replicasFor(d.bytes));
            return {
              name: `webgpu-copy-${d.bpw}`,
              layer: false,
              bytes: d.bytes,
              traffic: 2 * d.bytes,
              run: (reps: number) => probe.run(reps),
              dispose: () => probe.destroy(),
            };
          }),
        ];
        const reps = [] as number[];
        for (const v of variants) reps.push(smoke && v.layer ? await warmOnce(v) : await calibrate(v));
        hooks.log(
          `[webgpu] ${shape} batch ${batch}: timing ${variants.length} variants, ${reps.join('/')} calls per submission`,
        );
        const timed: Variant[] = variants.map((v, i) => ({ name: v.name, run: () => v.run(reps[i]!) }));
        const medians = smoke
          ? await sampleOnce(timed)
          : (await measure(timed, timing)).map((mm) => mm.medianMs);
        const perCall = medians.map((ms, i) => ms / reps[i]!);
        const gbps = (i: number) => variants[i]!.traffic / (perCall[i]! * 1e6);
        const row = (op: string, bpw: number, i: number, baseline: number | null): WebGpuBenchRow => ({
          backend: 'webgpu',
          op,
          shape,
          bpw,
          batch,
          threads: backend.capabilities.threads,
          median_ms: perCall[i]!,
          baseline: baseline === null ? null : variants[baseline]!.name,
          ratio: baseline === null ? null : perCall[baseline]! / perCall[i]!,
          gbps: gbps(i),
        });
        rows.push(row('dense-linear', 32, 0, null));
        hooks.log(`  dense f32: ${perCall[0]!.toFixed(4)} ms, ${gbps(0).toPrecision(3)} GB/s of weights`);
        dbf.forEach((d, j) => {
          const i = 1 + j;
          const c = 1 + dbf.length + j;
          rows.push(row('copy', d.bpw, c, null));
          rows.push(row('dbf-linear', d.bpw, i, 0));
          rows.push(row('dbf-linear', d.bpw, i, c));
          const stored = bitsPerWeight(
            { kind: 'dbf', outFeatures: n, inFeatures: m, rank: d.rank, scaleDtype: 'F16' },
            'stored',
          );
          hooks.log(
            `  dbf ${d.bpw} bpw (rank ${d.rank}, ${stored.toFixed(3)} bpw stored, ${(d.bytes / 2 ** 20).toFixed(2)} MiB of signs): ${perCall[i]!.toFixed(4)} ms, ${gbps(i).toPrecision(3)} GB/s = ${((100 * gbps(i)) / gbps(c)).toFixed(1)}% of the copy kernel's ${gbps(c).toPrecision(3)} GB/s; ${(perCall[0]! / perCall[i]!).toFixed(2)}× the dense f32 layer`,
          );
        });
        for (const v of variants) v.dispose();
      }
      for (const r of dense) r.dispose();
      for (const d of dbf) for (const r of d.replicas) r.dispose();
    }
  } finally {
    await backend.dispose();
  }
  return rows;
}

/** One call with a single repetition (compiles and allocates); returns 1 repetition per submission. */
async function warmOnce(variant: Timed): Promise<number> {
  await variant.run(1);
  return 1;
}

/** One timed call per variant (a smoke figure, not a measurement). */
async function sampleOnce(variants: readonly Variant[]): Promise<number[]> {
  const times: number[] = [];
  for (const v of variants) {
    const start = performance.now();
    await v.run();
    times.push(performance.now() - start);
  }
  return times;
}
