import { AbortedError } from '../errors';
import type { KernelBackend } from '../kernel/kernel-backend';
import { CholeskySolver } from '../linalg/cholesky';
import type { Rng } from '../util/random';
import { type EnvelopeFactors, EnvelopeProjector } from './projection';

/**
 * The alternating-ADMM engine shared by DBF (l = 1) and MDBF (l ≥ 1): the reference's `factorizef` outer
 * loop around `find_other2` (algorithms.md §1.5, §2.5), on an inner problem `Wn ≈ (A·diag(1/c))·B`.
 *
 * Layout: the inner matrix `Wn` is p×q; both factors are stored with the middle dimension k first:
 * `zA` = Aᵀ (k×p) and `zB` = B (k×q), with their dual variables `uA`, `uB` of the same shapes. Every
 * half-step is then the same problem `min_Z ‖X·Z − Y‖² s.t. Z ∈ Π_l`, with `X̃ᵀ` = the other factor with
 * unit rows (k×w), `G = X̃ᵀX̃` and `C = X̃ᵀY` computed by backend GEMMs.
 */
export interface AdmmProblem {
  readonly backend: KernelBackend;
  readonly p: number;
  readonly q: number;
  readonly k: number;
  /** Envelope rank of the projection (1 = DBF's SVID). */
  readonly l: number;
  /** p×q */
  readonly wn: Float32Array;
  /** q×p (the transpose of wn, kept so that both half-steps are plain GEMMs). */
  readonly wnT: Float32Array;
  /** Initial Aᵀ (k×p) and B (k×q); overwritten with the result. */
  readonly zA: Float32Array;
  readonly zB: Float32Array;
  readonly iterations: number;
  readonly innerIterations: number;
  /** Relative ridge: G + ridge·mean(diag G)·I (0.03). */
  readonly ridge: number;
  readonly powerIterations: number;
  /** ρ0 = floor + (1 − floor)·min(1, t/(T−3))³: 0 for DBF, 0.03 for MDBF. */
  readonly rhoFloor: number;
  readonly rng: Rng;
  readonly signal?: AbortSignal;
  /** Called after outer iteration `t` (0-based) when `progressInterval` divides t+1, and after the last one. */
  readonly onProgress?: (iteration: number, relativeError: number) => void;
  readonly progressInterval: number;
}

export interface AdmmResult {
  readonly zA: Float32Array;
  readonly zB: Float32Array;
  /** Envelope factors of the final projections: |zA| = leftA·rightAᵀ, |zB| = leftB·rightBᵀ. */
  readonly factorsA: EnvelopeFactors;
  readonly factorsB: EnvelopeFactors;
  /** c = row norms of zA (+1e-12) used in the last B half-step: Wn ≈ (zAᵀ·diag(1/c))·zB. */
  readonly colNorms: Float64Array;
}

/** How often (at most) the loop yields to the event loop, so that timers and abort signals can fire. */
const YIELD_EVERY_MS = 25;

export async function runAdmm(problem: AdmmProblem): Promise<AdmmResult> {
  const { backend, p, q, k, l, wn, wnT, zA, zB, iterations: T, signal } = problem;
  const w = Math.max(p, q);
  const uA = new Float32Array(k * p);
  const uB = new Float32Array(k * q);
  const xs = new Float32Array(k * w);
  const c = new Float32Array(k * w);
  const bh = new Float32Array(k * w);
  const t = new Float32Array(k * w);
  const gram = new Float32Array(k * k);
  const norms = new Float64Array(k);
  const solverStart = new CholeskySolver(backend, k);
  const solverOne = new CholeskySolver(backend, k);
  const projA = new EnvelopeProjector(backend, l, problem.powerIterations, problem.rng, k, p);
  const projB = new EnvelopeProjector(backend, l, problem.powerIterations, problem.rng, k, q);
  const residual = problem.onProgress ? new Float32Array(p * q) : undefined;
  const wnNorm = residual ? Math.sqrt(sumSquares(wn)) : 0;

  /** One half-step: the fixed factor's normalised rows are in xs (k×other); the unknown is k×width. */
  const step = async (
    width: number,
    other: number,
    y: Float32Array,
    z: Float32Array,
    u: Float32Array,
    proj: EnvelopeProjector,
    rho0: number,
  ) => {
    const cw = c.subarray(0, k * width);
    const bw = bh.subarray(0, k * width);
    const tw = t.subarray(0, k * width);
    await backend.gemm({
      a: xs.subarray(0, k * other),
      b: xs.subarray(0, k * other),
      m: k,
      n: k,
      k: other,
      transposeB: true,
      c: gram,
    });
    await backend.gemm({ a: xs.subarray(0, k * other), b: y, m: k, n: width, k: other, c: cw });
    const trace = diagonalSum(gram, k);
    // The ridge keeps G SPD even when X̃ has fewer rows than k (k > p or q): 0.03·mean(diag G)·I.
    const ridge = problem.ridge * (trace > 0 ? trace / k : 1);
    await solverStart.factor(gram, ridge + rho0, 'the ADMM normal matrix');
    const solver = rho0 === 1 ? solverStart : solverOne;
    if (rho0 !== 1) await solverOne.factor(gram, ridge + 1, 'the ADMM normal matrix');
    // B = (G + ρ0·I)⁻¹ (C + ρ0·(Z − U))
    startRhs(bw, cw, z, u, rho0);
    await solverStart.solve(bw, width);
    for (let inner = 0; inner < problem.innerIterations; inner++) {
      const last = inner === problem.innerIterations - 1;
      // Z = Π(B + U); U = U + B − Z; and (unless last) the next right-hand side C + (Z − U), fused.
      addInto(tw, bw, u);
      await proj.projectAdmm(tw, k, width, z, u, last ? undefined : { c: cw, rhs: bw });
      if (last) break;
      // B = (G + I)⁻¹ (C + (Z − U))
      await solver.solve(bw, width);
    }
  };

  let lastYield = now();
  for (let it = 0; it < T; it++) {
    if (signal?.aborted) throw abortError(signal);
    if (now() - lastYield > YIELD_EVERY_MS) {
      await yieldToEventLoop();
      lastYield = now();
      if (signal?.aborted) throw abortError(signal);
    }
    const ramp = Math.min(1, it / Math.max(1, T - 3));
    const rho0 = problem.rhoFloor + (1 - problem.rhoFloor) * ramp ** 3;
    // Half-step A: X̃ = (B / rownorms(B))ᵀ, Y = Wnᵀ, unknown Aᵀ (k×p).
    normalizeRows(zB, k, q, xs, norms);
    await step(p, q, wnT, zA, uA, projA, rho0);
    // Half-step B: X̃ = A / colnorms(A), Y = Wn, unknown B (k×q).
    normalizeRows(zA, k, p, xs, norms);
    await step(q, p, wn, zB, uB, projB, rho0);
    const report = problem.onProgress && ((it + 1) % problem.progressInterval === 0 || it === T - 1);
    if (report && residual) {
      // Wn − X̃·B with X̃ = A/c (xs still holds zA's normalised rows): one p×q×k GEMM.
      residual.set(wn);
      await backend.gemm({
        a: xs.subarray(0, k * p),
        b: zB,
        m: p,
        n: q,
        k,
        transposeA: true,
        alpha: -1,
        beta: 1,
        c: residual,
      });
      const r2 = sumSquares(residual);
      problem.onProgress!(it, wnNorm > 0 ? Math.sqrt(r2) / wnNorm : 0);
    }
  }
  // `norms` holds the row norms of zA from the last B half-step (the reference's `mid`).
  return {
    zA,
    zB,
    factorsA: await projA.factors(),
    factorsB: await projB.factors(),
    colNorms: Float64Array.from(norms),
  };
}

/** xs[i,:] = z[i,:] / (‖z[i,:]‖ + 1e-12); the norms (+1e-12) go to `norms`. */
function normalizeRows(z: Float32Array, k: number, w: number, xs: Float32Array, norms: Float64Array): void {
  for (let i = 0; i < k; i++) {
    const base = i * w;
    let s = 0;
    for (let j = 0; j < w; j++) s += z[base + j]! * z[base + j]!;
    const norm = Math.sqrt(s) + 1e-12;
    norms[i] = norm;
    const inv = 1 / norm;
    for (let j = 0; j < w; j++) xs[base + j] = z[base + j]! * inv;
  }
}

const setImmediateFn = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;

/**
 * Lets the event loop run (timers, I/O, abort signals). `setImmediate` where there is one (Node): a
 * `setTimeout(0)` costs at least 1 ms there, which adds up over thousands of yields.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => {
    if (setImmediateFn) setImmediateFn(resolve);
    else setTimeout(resolve, 0);
  });
}

/** Σ diag of the row-major k×k `g`. */
function diagonalSum(g: Float32Array, k: number): number {
  let trace = 0;
  for (let i = 0; i < k; i++) trace += g[i * k + i]!;
  return trace;
}

/** rhs = c + ρ·(z − u). */
function startRhs(rhs: Float32Array, c: Float32Array, z: Float32Array, u: Float32Array, rho: number): void {
  for (let i = 0; i < rhs.length; i++) rhs[i] = c[i]! + rho * (z[i]! - u[i]!);
}

function sumSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

/** out = x + y. */
function addInto(out: Float32Array, x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = x[i]! + y[i]!;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function abortError(signal: AbortSignal): AbortedError {
  const reason = signal.reason;
  return new AbortedError(
    `Factorization aborted${reason instanceof Error ? `: ${reason.message}` : reason !== undefined ? `: ${String(reason)}` : '.'}`,
    { cause: reason },
  );
}
