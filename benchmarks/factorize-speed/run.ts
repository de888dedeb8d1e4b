/**
 * Factorization speed and quality check (factorizeDbf / factorizeMdbf on real sotu-3m matrices).
 *
 *   cd benchmarks && npx tsx --conditions=@dbf/source factorize-speed/run.ts [options]
 *
 * Options:
 *   --speed            time the speed configurations (default: both speed and quality)
 *   --quality          run the quality cases (260 iterations, seed 0) and the determinism check
 *   --backends a,b     wasm,cpu (default both)
 *   --repeats N        timing repeats per configuration (median reported; default 3)
 *   --record FILE      write the measured figures to FILE (e.g. factorize-speed/before.json)
 *   --baseline FILE    compare against FILE (default factorize-speed/before.json, if present)
 *   --layers 0,3       decoder layers whose q/k/up/down_proj are the quality cases (default 0,3)
 *   --core PATH        load factorizeDbf/factorizeMdbf from PATH instead of @dbf/core
 *   --before-core PATH a copy of the unmodified packages/core/src/index.ts: its speed is measured
 *                      interleaved with the current code in the same process (fair under noisy load)
 *
 * "before" figures: before.json next to this script holds the numbers recorded with the code as it was
 * before the speed work (same script, `--record factorize-speed/before.json`). Quality must agree
 * within ±0.3 % relative on every case; determinism = same seed ⇒ bit-identical layer.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpu } from '@dbf/backend-cpu';
import { wasm } from '@dbf/backend-wasm';
import * as core from '@dbf/core';
import { type DenseMatrix, type KernelBackend, memorySource, openSafetensors } from '@dbf/core';

/** The factorizers under test: @dbf/core, or (--core PATH) a copy of its sources, e.g. the unmodified one. */
type Lib = Pick<typeof core, 'factorizeDbf' | 'factorizeMdbf'>;
let lib: Lib = core;
/** --before-core: the unmodified sources, timed interleaved with `lib` in the same process. */
let beforeLib: Lib | undefined;

let LAYERS = [0, 3];
const here = dirname(fileURLToPath(import.meta.url));
const MODEL = resolve(here, '../../../shared/models/sotu-3m/model.safetensors');

interface Args {
  speed: boolean;
  quality: boolean;
  backends: string[];
  repeats: number;
  record?: string;
  baseline?: string;
  core?: string;
  beforeCore?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { speed: false, quality: false, backends: ['wasm', 'cpu'], repeats: 3 };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === '--speed') a.speed = true;
    else if (x === '--quality') a.quality = true;
    else if (x === '--backends') a.backends = argv[++i]!.split(',');
    else if (x === '--repeats') a.repeats = Number(argv[++i]);
    else if (x === '--record') a.record = argv[++i]!;
    else if (x === '--baseline') a.baseline = argv[++i]!;
    else if (x === '--core') a.core = argv[++i]!;
    else if (x === '--before-core') a.beforeCore = argv[++i]!;
    else if (x === '--layers') LAYERS = argv[++i]!.split(',').map(Number);
    else throw new Error(`unknown option ${x}`);
  }
  if (!a.speed && !a.quality) {
    a.speed = true;
    a.quality = true;
  }
  a.baseline ??= resolve(here, 'before.json');
  return a;
}

async function makeBackend(name: string): Promise<KernelBackend> {
  if (name === 'wasm') return wasm({ threads: 1 }).create();
  if (name === 'cpu') return cpu().create();
  throw new Error(`unknown backend ${name}`);
}

async function loadMatrices(): Promise<Map<string, DenseMatrix>> {
  const file = await openSafetensors(memorySource(readFileSync(MODEL)));
  const out = new Map<string, DenseMatrix>();
  for (const layer of [0, 3]) {
    for (const proj of ['self_attn.q_proj', 'self_attn.k_proj', 'mlp.up_proj', 'mlp.down_proj']) {
      const name = `model.layers.${layer}.${proj}.weight`;
      const info = file.info(name);
      const data = Float32Array.from(await file.readFloat32(name));
      out.set(name, { data, rows: info.shape[0]!, cols: info.shape[1]! });
    }
  }
  return out;
}

/** A fixed pseudo-random 1024×1024 matrix (low-rank structure + noise), independent of the library's RNG. */
function synthetic1024(): DenseMatrix {
  const n = 1024;
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const data = new Float32Array(n * n);
  const r = 16;
  const u = Float32Array.from({ length: n * r }, rand);
  const v = Float32Array.from({ length: n * r }, rand);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let x = 0.3 * rand();
      for (let c = 0; c < r; c++) x += u[i * r + c]! * v[j * r + c]! * 0.2;
      data[i * n + j] = x;
    }
  return { data, rows: n, cols: n };
}

interface SpeedConfig {
  id: string;
  matrix: string;
  method: 'dbf' | 'mdbf';
  opts: { bpw?: number; rank?: number; iterations: number };
}

const SPEED: SpeedConfig[] = [
  {
    id: 'up_proj 512x192 dbf k=209 it=40',
    matrix: 'model.layers.0.mlp.up_proj.weight',
    method: 'dbf',
    opts: { bpw: 1.5, iterations: 40 },
  },
  {
    id: 'q_proj 192x192 dbf k=144 it=40',
    matrix: 'model.layers.0.self_attn.q_proj.weight',
    method: 'dbf',
    opts: { bpw: 1.5, iterations: 40 },
  },
  {
    id: 'k_proj 96x192 dbf k=96 it=40',
    matrix: 'model.layers.0.self_attn.k_proj.weight',
    method: 'dbf',
    opts: { bpw: 1.5, iterations: 40 },
  },
  {
    id: 'up_proj 512x192 mdbf2 it=40',
    matrix: 'model.layers.0.mlp.up_proj.weight',
    method: 'mdbf',
    opts: { bpw: 1.5, iterations: 40 },
  },
  {
    id: 'synthetic 1024x1024 dbf k=512 it=6',
    matrix: 'synthetic1024',
    method: 'dbf',
    opts: { rank: 512, iterations: 6 },
  },
];

async function run(
  backend: KernelBackend,
  w: DenseMatrix,
  method: 'dbf' | 'mdbf',
  opts: { bpw?: number; rank?: number; iterations: number; seed?: number },
  using: Lib = lib,
) {
  const common = { backend, bpwAccounting: 'binary' as const, seed: 0, ...opts };
  return method === 'dbf'
    ? using.factorizeDbf(w, common)
    : using.factorizeMdbf(w, { ...common, envelopeRank: 2 });
}

/** FNV-1a over every typed array of the layer: equal hashes ⇔ (practically) bit-identical layers. */
function layerHash(layer: object): string {
  let h = 0x811c9dc5;
  for (const [, v] of Object.entries(layer).sort(([a], [b]) => a.localeCompare(b))) {
    const arrays: ArrayBufferView[] = [];
    if (ArrayBuffer.isView(v)) arrays.push(v);
    else if (v && typeof v === 'object')
      for (const x of Object.values(v)) if (ArrayBuffer.isView(x)) arrays.push(x);
    for (const a of arrays) {
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    }
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

interface Figures {
  speed: Record<string, { seconds: number; relError: number }>;
  quality: Record<string, number>;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.core) lib = await import(resolve(args.core));
  if (args.beforeCore) beforeLib = await import(resolve(args.beforeCore));
  const matrices = await loadMatrices();
  const baseline: Figures | undefined =
    args.baseline && existsSync(args.baseline) ? JSON.parse(readFileSync(args.baseline, 'utf8')) : undefined;
  const figures: Figures = { speed: {}, quality: {} };
  let failures = 0;
  const pct = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(3)}%`;
  for (const bname of args.backends) {
    const backend = await makeBackend(bname);
    if (args.speed) {
      console.log(`\n== speed (${bname}; median of ${args.repeats}) ==`);
      console.log('config | before s | after s | speed-up | rel err');
      for (const cfg of SPEED) {
        const w = cfg.matrix === 'synthetic1024' ? synthetic1024() : matrices.get(cfg.matrix)!;
        const times: number[] = [];
        const beforeTimes: number[] = [];
        let rel = 0;
        let beforeRel = 0;
        for (let r = 0; r < args.repeats; r++) {
          if (beforeLib) {
            const t0 = performance.now();
            beforeRel = (await run(backend, w, cfg.method, cfg.opts, beforeLib)).relativeError;
            beforeTimes.push((performance.now() - t0) / 1000);
          }
          const t0 = performance.now();
          const res = await run(backend, w, cfg.method, cfg.opts);
          times.push((performance.now() - t0) / 1000);
          rel = res.relativeError;
        }
        const key = `${bname} ${cfg.id}`;
        const sec = median(times);
        figures.speed[key] = { seconds: sec, relError: rel };
        const before = beforeLib
          ? { seconds: median(beforeTimes), relError: beforeRel }
          : baseline?.speed[key];
        console.log(
          `${key} | ${before ? before.seconds.toFixed(3) : '-'} | ${sec.toFixed(3)} | ${
            before ? `${(before.seconds / sec).toFixed(2)}x` : '-'
          } | ${rel.toFixed(5)}${before ? ` (before ${before.relError.toFixed(5)})` : ''}`,
        );
      }
    }
    if (args.quality) {
      console.log(`\n== quality (${bname}; 260 iterations, seed 0, binary accounting) ==`);
      console.log('case | before rel err | after rel err | diff | s');
      for (const [name, w] of matrices) {
        if (!LAYERS.some((l) => name.startsWith(`model.layers.${l}.`))) continue;
        for (const method of ['dbf', 'mdbf'] as const) {
          for (const bpw of [1.0, 2.0]) {
            const t0 = performance.now();
            const res = await run(backend, w, method, { bpw, iterations: 260 });
            const sec = (performance.now() - t0) / 1000;
            const key = `${bname} ${method} bpw${bpw} ${name.replace('model.', '').replace('.weight', '')}`;
            figures.quality[key] = res.relativeError;
            const before = baseline?.quality[key];
            let verdict = '';
            if (before !== undefined) {
              const ok = Math.abs(res.relativeError - before) <= 0.003 * before;
              if (!ok) failures++;
              verdict = ` ${pct(res.relativeError, before)} ${ok ? 'ok' : 'FAIL (> ±0.3%)'}`;
            }
            console.log(
              `${key} | ${before?.toFixed(6) ?? '-'} | ${res.relativeError.toFixed(6)} |${verdict} | ${sec.toFixed(2)}`,
            );
          }
        }
      }
      // Determinism: same seed ⇒ bit-identical layer on the same backend.
      const w = matrices.get('model.layers.0.mlp.up_proj.weight')!;
      for (const method of ['dbf', 'mdbf'] as const) {
        const a = await run(backend, w, method, { bpw: 1.5, iterations: 30 });
        const b = await run(backend, w, method, { bpw: 1.5, iterations: 30 });
        const same = layerHash(a.layer) === layerHash(b.layer);
        if (!same) failures++;
        console.log(`determinism ${bname} ${method}: ${same ? 'bit-identical' : 'DIFFERENT'}`);
      }
    }
    await backend.dispose?.();
  }
  if (args.record) {
    writeFileSync(args.record, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`\nrecorded ${args.record}`);
  }
  if (baseline && args.quality) {
    // Summary against the baseline, and the float-noise floor: the same (old) code on cpu vs wasm.
    const diffs = Object.entries(figures.quality)
      .filter(([key]) => baseline.quality[key] !== undefined)
      .map(([key, v]) => (v - baseline.quality[key]!) / baseline.quality[key]!);
    if (diffs.length) {
      const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
      const rms = Math.sqrt(diffs.reduce((a, b) => a + b * b, 0) / diffs.length);
      const worst = Math.max(...diffs.map(Math.abs));
      console.log(
        `\nrel-error change vs baseline over ${diffs.length} cases: mean ${(mean * 100).toFixed(3)}%, rms ${(rms * 100).toFixed(3)}%, max |.| ${(worst * 100).toFixed(3)}%`,
      );
    }
    const floor: number[] = [];
    for (const [key, v] of Object.entries(baseline.quality)) {
      if (!key.startsWith('cpu ')) continue;
      const w = baseline.quality[`wasm ${key.slice(4)}`];
      if (w !== undefined) floor.push((w - v) / v);
    }
    if (floor.length) {
      const rms = Math.sqrt(floor.reduce((a, b) => a + b * b, 0) / floor.length);
      const worst = Math.max(...floor.map(Math.abs));
      console.log(
        `noise floor (baseline code, wasm vs cpu backend, ${floor.length} cases): rms ${(rms * 100).toFixed(3)}%, max |.| ${(worst * 100).toFixed(3)}%`,
      );
    }
  }
  console.log(failures ? `\n${failures} check(s) FAILED` : '\nall checks passed');
  return failures ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
