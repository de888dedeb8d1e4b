import {
  BackendError,
  InvalidArgumentError,
  type KernelBackend,
  type LinearLayer,
  type ResidentLinear,
} from '@dbf/core';
import type { LlamaConfig } from '../config/llama-config';
import { advanceCache, KvCache } from './kv-cache';
import {
  checkLinear,
  HEAD_NAME,
  LINEAR_ROLES,
  type LinearRole,
  type LlamaWeights,
  linearName,
  linearShape,
  parseLinearName,
  validateLlamaWeights,
} from './llama-weights';
import {
  type AttentionScratch,
  addInPlace,
  applyRope,
  attention,
  type RopeTables,
  rmsNorm,
  ropeTables,
  swiglu,
} from './ops';

/**
 * Sees every linear layer's input and output as the model runs, by HF name (`model.layers.3.mlp.up_proj`,
 * `lm_head`): the hook for calibration statistics. Arrays are `batch × features` row-major views of
 * reused buffers: read or copy them during the call, do not keep them. q/k/v (and gate/up) share an input.
 */
export interface LinearObserver {
  onInput?(name: string, input: Float32Array, batch: number): void | Promise<void>;
  onOutput?(name: string, output: Float32Array, batch: number): void | Promise<void>;
}

export interface ForwardOptions {
  /** Logits of the last token (default), of every token (`T × vocab`), or none (only fills the cache). */
  readonly logits?: 'last' | 'all' | 'none';
  readonly observer?: LinearObserver;
}

export interface RunLayerOptions {
  readonly observer?: LinearObserver;
  /** Resident layers to use instead of the model's own for some roles (e.g. a candidate compression). */
  readonly linears?: Partial<Record<LinearRole, ResidentLinear>>;
}

const NO_LOGITS = new Float32Array(0);

type Buffers = Record<'x' | 'xb' | 'q' | 'k' | 'v' | 'att' | 'proj' | 'gate' | 'up', Float32Array>;

/** Activation buffers for up to `rows` tokens, with views sized to the current token count. */
class Workspace {
  rows = 0;
  tokens = -1;
  base: Buffers | undefined;
  view = {} as Buffers;
  logits = new Float32Array(0);
  scratch: AttentionScratch;

  constructor(private readonly config: LlamaConfig) {
    this.scratch = { scores: new Float64Array(config.contextLength), acc: new Float64Array(config.headDim) };
  }

  /** Makes every view `tokens` rows long, growing the buffers if needed. */
  ensure(tokens: number): void {
    if (tokens === this.tokens) return;
    const c = this.config;
    const widths: Record<keyof Buffers, number> = {
      x: c.dim,
      xb: c.dim,
      q: c.heads * c.headDim,
      k: c.kvHeads * c.headDim,
      v: c.kvHeads * c.headDim,
      att: c.heads * c.headDim,
      proj: c.dim,
      gate: c.hiddenDim,
      up: c.hiddenDim,
    };
    if (!this.base || tokens > this.rows) {
      this.rows = Math.max(tokens, 2 * this.rows);
      this.base = Object.fromEntries(
        Object.entries(widths).map(([k, w]) => [k, new Float32Array(this.rows * w)]),
      ) as Buffers;
    }
    const base = this.base;
    this.view = Object.fromEntries(
      Object.entries(widths).map(([k, w]) => [k, base[k as keyof Buffers].subarray(0, tokens * w)]),
    ) as Buffers;
    this.tokens = tokens;
  }

  /** Scores for attention over `positions` keys. */
  ensurePositions(positions: number): void {
    if (this.scratch.scores.length < positions) this.scratch.scores = new Float64Array(positions);
  }

  #logitsView = new Float32Array(0);

  /** A `rows × vocab` view of the logits buffer (the same object while `rows` does not change). */
  logitsView(rows: number, vocab: number): Float32Array {
    const length = rows * vocab;
    if (this.#logitsView.length === length && this.#logitsView.buffer === this.logits.buffer)
      return this.#logitsView;
    if (this.logits.length < length) this.logits = new Float32Array(length);
    this.#logitsView = this.logits.length === length ? this.logits : this.logits.subarray(0, length);
    return this.#logitsView;
  }
}

/**
 * A llama-family decoder on a kernel backend. Every linear layer (q, k, v, o, gate, up, down and the
 * classifier) runs through `backend.linear`, dense ones included; attention, RMSNorm, RoPE and SwiGLU run
 * here in TypeScript. A prompt is one batched call per linear (batch = its token count); decoding is one
 * token per call. The model does not own the backend: `dispose()` frees only the layers it uploaded.
 */
export class LlamaModel {
  readonly config: LlamaConfig;
  readonly backend: KernelBackend;
  readonly #embedding: Float32Array;
  readonly #attentionNorms: Float32Array[];
  readonly #mlpNorms: Float32Array[];
  readonly #finalNorm: Float32Array;
  readonly #host = new Map<string, LinearLayer>();
  /** `#resident[layer][roleIndex]`. */
  readonly #resident: ResidentLinear[][];
  #head: ResidentLinear;
  #rope: RopeTables;
  readonly #ws: Workspace;
  /** `#names[layer][roleIndex]`: HF names, built once so that observers cost nothing when absent. */
  readonly #names: string[][];
  #disposed = false;

  private constructor(
    weights: LlamaWeights,
    backend: KernelBackend,
    resident: ResidentLinear[][],
    head: ResidentLinear,
  ) {
    const c = weights.config;
    this.config = c;
    this.backend = backend;
    this.#embedding = weights.embedding;
    this.#attentionNorms = weights.layers.map((l) => l.attentionNorm);
    this.#mlpNorms = weights.layers.map((l) => l.mlpNorm);
    this.#finalNorm = weights.finalNorm;
    weights.layers.forEach((layer, l) => {
      for (const role of LINEAR_ROLES) this.#host.set(linearName(l, role), layer.linears[role]);
    });
    this.#host.set(HEAD_NAME, weights.head);
    this.#resident = resident;
    this.#head = head;
    this.#rope = ropeTables(c.headDim, c.ropeTheta, c.contextLength);
    this.#ws = new Workspace(c);
    this.#names = weights.layers.map((_, l) => LINEAR_ROLES.map((role) => linearName(l, role)));
  }

  /** Validates `weights` and uploads every linear layer to `backend`. */
  static async create(weights: LlamaWeights, backend: KernelBackend): Promise<LlamaModel> {
    validateLlamaWeights(weights);
    if (typeof backend !== 'object' || backend === null || typeof backend.linear !== 'function')
      throw new InvalidArgumentError('backend must be a KernelBackend (for example `await cpu().create()`).');
    const uploaded: ResidentLinear[] = [];
    try {
      const resident: ResidentLinear[][] = [];
      for (const layer of weights.layers) {
        const row: ResidentLinear[] = [];
        for (const role of LINEAR_ROLES) {
          const r = await backend.uploadLinear(layer.linears[role]);
          uploaded.push(r);
          row.push(r);
        }
        resident.push(row);
      }
      const head = await backend.uploadLinear(weights.head);
      uploaded.push(head);
      return new LlamaModel(weights, backend, resident, head);
    } catch (error) {
      for (const r of uploaded) r.dispose();
      throw error;
    }
  }

  /** A KV cache for one sequence of up to `capacity` tokens (default: the model's context length). */
  createCache(capacity: number = this.config.contextLength): KvCache {
    return new KvCache(this.config.layers, this.config.kvHeads * this.config.headDim, capacity);
  }

  /**
   * Runs `ids` at positions `cache.length …` in one pass (a prompt prefill when there are several, a
   * decode step for one), appends their keys/values to `cache`, and returns logits: `vocab` values for
   * the last token, or `T × vocab` with `logits: 'all'`. The returned array is a view of a reused buffer,
   * valid until the next call on this model: copy it to keep it.
   */
  async forward(ids: ArrayLike<number>, cache: KvCache, options: ForwardOptions = {}): Promise<Float32Array> {
    this.#assertLive();
    const c = this.config;
    const tokens = this.#checkIds(ids);
    if (!(cache instanceof KvCache) || cache.layers !== c.layers || cache.kvDim !== c.kvHeads * c.headDim)
      throw new InvalidArgumentError("cache must be a KvCache from this model's createCache().");
    const mode = options.logits ?? 'last';
    if (mode !== 'last' && mode !== 'all' && mode !== 'none')
      throw new InvalidArgumentError(`logits must be 'last', 'all' or 'none', got ${JSON.stringify(mode)}.`);
    const startPos = cache.length;
    if (tokens > cache.remaining) {
      throw new InvalidArgumentError(
        `The cache holds ${cache.capacity} positions and ${startPos} are filled; ${tokens} more do not fit.`,
      );
    }
    const ws = this.#ws;
    ws.ensure(tokens);
    this.#ensureRope(startPos + tokens);
    ws.ensurePositions(startPos + tokens);
    this.#embedInto(ids, tokens, ws.view.x);
    for (let l = 0; l < c.layers; l++) {
      await this.#decoderLayer(l, ws.view.x, tokens, startPos, this.#resident[l]!, options.observer, cache);
    }
    advanceCache(cache, tokens);
    if (mode === 'none') return NO_LOGITS;
    if (mode === 'all' || tokens === 1) return this.#logits(ws.view.x, tokens, options.observer);
    return this.#logits(ws.view.x.subarray((tokens - 1) * c.dim), 1, options.observer);
  }

  /** Token embeddings of `ids` (`T × dim`), into `out` when given. */
  embed(ids: ArrayLike<number>, out?: Float32Array): Float32Array {
    this.#assertLive();
    const tokens = this.#checkIds(ids);
    const length = tokens * this.config.dim;
    if (out !== undefined && (!(out instanceof Float32Array) || out.length !== length))
      throw new InvalidArgumentError(`out must be a Float32Array of ${length} values.`);
    const dest = out ?? new Float32Array(length);
    this.#embedInto(ids, tokens, dest);
    return dest;
  }

  /**
   * Runs decoder layer `index` alone on `hidden` (`tokens × dim`, the residual stream of one sequence at
   * positions 0 … tokens−1), updating it in place. For layer-by-layer pipelines: feed it teacher and
   * student activations, observe its linears, or try candidate layers through `options.linears`.
   */
  async runLayer(
    index: number,
    hidden: Float32Array,
    tokens: number,
    options: RunLayerOptions = {},
  ): Promise<void> {
    this.#assertLive();
    const c = this.config;
    if (!Number.isSafeInteger(index) || index < 0 || index >= c.layers)
      throw new InvalidArgumentError(`index must be a layer index in [0, ${c.layers}), got ${index}.`);
    if (!Number.isSafeInteger(tokens) || tokens < 1)
      throw new InvalidArgumentError(`tokens must be a positive integer, got ${tokens}.`);
    if (!(hidden instanceof Float32Array) || hidden.length !== tokens * c.dim)
      throw new InvalidArgumentError(
        `hidden must be a Float32Array of tokens × dim = ${tokens * c.dim} values.`,
      );
    let linears = this.#resident[index]!;
    if (options.linears !== undefined) {
      linears = linears.slice();
      for (const [role, r] of Object.entries(options.linears)) {
        const at = LINEAR_ROLES.indexOf(role as LinearRole);
        if (at < 0)
          throw new InvalidArgumentError(`options.linears has an unknown role ${JSON.stringify(role)}.`);
        const [n, m] = linearShape(c, role as LinearRole);
        if (r?.outFeatures !== n || r.inFeatures !== m)
          throw new InvalidArgumentError(`options.linears.${role} must be a resident ${n}×${m} layer.`);
        linears[at] = r;
      }
    }
    const ws = this.#ws;
    ws.ensure(tokens);
    this.#ensureRope(tokens);
    ws.ensurePositions(tokens);
    await this.#decoderLayer(index, hidden, tokens, 0, linears, options.observer, undefined);
  }

  /**
   * Final RMSNorm and classifier on `rows` hidden states (`rows × dim`): `rows × vocab` logits, in a reused
   * buffer valid until the next call.
   */
  async computeLogits(hidden: Float32Array, rows: number, observer?: LinearObserver): Promise<Float32Array> {
    this.#assertLive();
    if (!Number.isSafeInteger(rows) || rows < 1)
      throw new InvalidArgumentError(`rows must be a positive integer, got ${rows}.`);
    if (!(hidden instanceof Float32Array) || hidden.length !== rows * this.config.dim)
      throw new InvalidArgumentError(
        `hidden must be a Float32Array of rows × dim = ${rows * this.config.dim} values.`,
      );
    this.#ws.ensure(rows);
    return this.#logits(hidden, rows, observer);
  }

  /** The linear layer (dense or compressed) the model runs under `name` (`lm_head` for the classifier). */
  getLinear(name: string): LinearLayer {
    const layer = this.#host.get(name);
    if (!layer)
      throw new InvalidArgumentError(`The model has no linear layer named ${JSON.stringify(name)}.`);
    return layer;
  }

  /** The backend-resident form of linear `name`. */
  getResident(name: string): ResidentLinear {
    this.#assertLive();
    if (name === HEAD_NAME) return this.#head;
    const parsed = parseLinearName(name);
    if (!parsed || parsed.layer >= this.config.layers)
      throw new InvalidArgumentError(`The model has no linear layer named ${JSON.stringify(name)}.`);
    return this.#resident[parsed.layer]![LINEAR_ROLES.indexOf(parsed.role)]!;
  }

  /** Uploads `layer` (dense, DBF or MDBF, same shape) and runs it as linear `name` from now on. */
  async replaceLinear(name: string, layer: LinearLayer): Promise<void> {
    this.#assertLive();
    const parsed = name === HEAD_NAME ? undefined : parseLinearName(name);
    if (name !== HEAD_NAME && (!parsed || parsed.layer >= this.config.layers))
      throw new InvalidArgumentError(`The model has no linear layer named ${JSON.stringify(name)}.`);
    checkLinear(name, layer, linearShape(this.config, parsed ? parsed.role : HEAD_NAME));
    const resident = await this.backend.uploadLinear(layer);
    let old: ResidentLinear;
    if (parsed) {
      const row = this.#resident[parsed.layer]!;
      const at = LINEAR_ROLES.indexOf(parsed.role);
      old = row[at]!;
      row[at] = resident;
    } else {
      old = this.#head;
      this.#head = resident;
    }
    this.#host.set(name, layer);
    old.dispose();
  }

  /** Frees the layers this model uploaded (not the backend). Later calls throw `DISPOSED`. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const row of this.#resident) for (const r of row) r.dispose();
    this.#head.dispose();
  }

  #assertLive(): void {
    if (this.#disposed)
      throw new BackendError(this.backend.id, 'DISPOSED', 'This LlamaModel has been disposed.');
  }

  #checkIds(ids: ArrayLike<number>): number {
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number' || ids.length < 1)
      throw new InvalidArgumentError('ids must be a non-empty array of token ids.');
    const vocab = this.config.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new InvalidArgumentError(`ids[${i}] = ${id} is not a token id in [0, ${vocab}).`);
    }
    return ids.length;
  }

  #embedInto(ids: ArrayLike<number>, tokens: number, out: Float32Array): void {
    const dim = this.config.dim;
    const table = this.#embedding;
    for (let t = 0; t < tokens; t++) {
      const from = ids[t]! * dim;
      const to = t * dim;
      for (let i = 0; i < dim; i++) out[to + i] = table[from + i]!;
    }
  }

  #ensureRope(positions: number): void {
    if (positions > this.#rope.positions) {
      const c = this.config;
      this.#rope = ropeTables(c.headDim, c.ropeTheta, Math.max(positions, 2 * this.#rope.positions));
    }
  }

  async #linear(
    name: string,
    weights: ResidentLinear,
    input: Float32Array,
    batch: number,
    output: Float32Array,
    observer: LinearObserver | undefined,
  ): Promise<void> {
    if (observer?.onInput) await observer.onInput(name, input, batch);
    await this.backend.linear({ weights, input, batch, output });
    if (observer?.onOutput) await observer.onOutput(name, output, batch);
  }

  /**
   * One decoder layer on `x` (`tokens × dim`, updated in place) at positions `startPos …`. With a cache,
   * the new keys/values (RoPE applied) are appended to it and attention reads positions 0 … of the cache;
   * without one, the sequence starts at position 0 and attention reads the workspace's own k/v rows.
   */
  async #decoderLayer(
    l: number,
    x: Float32Array,
    tokens: number,
    startPos: number,
    linears: readonly ResidentLinear[],
    observer: LinearObserver | undefined,
    cache: KvCache | undefined,
  ): Promise<void> {
    const c = this.config;
    const v = this.#ws.view;
    const [nq, nk, nv, no, ng, nu, nd] = this.#names[l] as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const [wq, wk, wv, wo, wg, wu, wd] = linears as [
      ResidentLinear,
      ResidentLinear,
      ResidentLinear,
      ResidentLinear,
      ResidentLinear,
      ResidentLinear,
      ResidentLinear,
    ];
    rmsNorm(x, this.#attentionNorms[l]!, tokens, c.dim, c.normEps, v.xb);
    await this.#linear(nq, wq, v.xb, tokens, v.q, observer);
    await this.#linear(nk, wk, v.xb, tokens, v.k, observer);
    await this.#linear(nv, wv, v.xb, tokens, v.v, observer);
    const interleaved = c.ropeLayout === 'interleaved';
    applyRope(v.q, tokens, c.heads, c.headDim, startPos, this.#rope, interleaved);
    applyRope(v.k, tokens, c.kvHeads, c.headDim, startPos, this.#rope, interleaved);
    let keys = v.k;
    let values = v.v;
    if (cache) {
      keys = cache.keys[l]!;
      values = cache.values[l]!;
      keys.set(v.k, startPos * cache.kvDim);
      values.set(v.v, startPos * cache.kvDim);
    }
    attention(v.q, keys, values, tokens, startPos, c.heads, c.kvHeads, c.headDim, this.#ws.scratch, v.att);
    await this.#linear(no, wo, v.att, tokens, v.proj, observer);
    addInPlace(x, v.proj, tokens * c.dim);
    rmsNorm(x, this.#mlpNorms[l]!, tokens, c.dim, c.normEps, v.xb);
    await this.#linear(ng, wg, v.xb, tokens, v.gate, observer);
    await this.#linear(nu, wu, v.xb, tokens, v.up, observer);
    swiglu(v.gate, v.up, tokens * c.hiddenDim);
    await this.#linear(nd, wd, v.gate, tokens, v.proj, observer);
    addInPlace(x, v.proj, tokens * c.dim);
  }

  async #logits(
    hidden: Float32Array,
    rows: number,
    observer: LinearObserver | undefined,
  ): Promise<Float32Array> {
    const c = this.config;
    const xb = this.#ws.view.xb;
    const normed = xb.length === rows * c.dim ? xb : xb.subarray(0, rows * c.dim);
    rmsNorm(hidden, this.#finalNorm, rows, c.dim, c.normEps, normed);
    const logits = this.#ws.logitsView(rows, c.vocabSize);
    await this.#linear(HEAD_NAME, this.#head, normed, rows, logits, observer);
    return logits;
  }
}
