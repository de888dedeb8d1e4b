import type { LlamaWeights } from '../../src/index';

/**
 * An independent float64 llama forward pass for tests: one token at a time, Hugging Face rotate-half
 * RoPE, written straight from the architecture's definition with no batching, no blocking and no
 * backend. Returns the logits of every position (`T × vocab`, float64).
 */
export function referenceLogits(weights: LlamaWeights, ids: readonly number[]): Float64Array[] {
  const c = weights.config;
  if (c.ropeLayout !== 'rotate-half') throw new Error('the reference implements rotate-half RoPE only');
  const dense = (w: LlamaWeights['head']) => {
    if (w.kind !== 'dense') throw new Error('the reference runs dense layers only');
    return w.weight;
  };
  const matvec = (w: Float32Array, x: Float64Array, n: number, m: number) => {
    const y = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += w[r * m + j]! * x[j]!;
      y[r] = s;
    }
    return y;
  };
  const norm = (x: Float64Array, w: Float32Array) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + c.normEps);
    return x.map((v, i) => v * inv * w[i]!);
  };
  const rope = (x: Float64Array, heads: number, pos: number) => {
    const half = c.headDim / 2;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const angle = pos / c.ropeTheta ** ((2 * i) / c.headDim);
        const a = h * c.headDim + i;
        const b = a + half;
        const [x0, x1] = [x[a]!, x[b]!];
        x[a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
        x[b] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
      }
    }
  };
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const keys: Float64Array[][] = weights.layers.map(() => []);
  const values: Float64Array[][] = weights.layers.map(() => []);
  const out: Float64Array[] = [];
  ids.forEach((id, pos) => {
    const x = Float64Array.from(weights.embedding.subarray(id * c.dim, (id + 1) * c.dim));
    weights.layers.forEach((layer, l) => {
      const h = norm(x, layer.attentionNorm);
      const q = matvec(dense(layer.linears.q_proj), h, qDim, c.dim);
      const k = matvec(dense(layer.linears.k_proj), h, kvDim, c.dim);
      const v = matvec(dense(layer.linears.v_proj), h, kvDim, c.dim);
      rope(q, c.heads, pos);
      rope(k, c.kvHeads, pos);
      keys[l]!.push(k);
      values[l]!.push(v);
      const att = new Float64Array(qDim);
      for (let head = 0; head < c.heads; head++) {
        const kvHead = Math.floor(head / (c.heads / c.kvHeads));
        const scores = keys[l]!.map((key) => {
          let s = 0;
          for (let i = 0; i < c.headDim; i++) s += q[head * c.headDim + i]! * key[kvHead * c.headDim + i]!;
          return s / Math.sqrt(c.headDim);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const total = e.reduce((a, b) => a + b, 0);
        values[l]!.forEach((value, p) => {
          for (let i = 0; i < c.headDim; i++)
            att[head * c.headDim + i]! += (e[p]! / total) * value[kvHead * c.headDim + i]!;
        });
      }
      const o = matvec(dense(layer.linears.o_proj), att, c.dim, qDim);
      for (let i = 0; i < c.dim; i++) x[i]! += o[i]!;
      const h2 = norm(x, layer.mlpNorm);
      const g = matvec(dense(layer.linears.gate_proj), h2, c.hiddenDim, c.dim);
      const u = matvec(dense(layer.linears.up_proj), h2, c.hiddenDim, c.dim);
      const a = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]!);
      const d = matvec(dense(layer.linears.down_proj), a, c.dim, c.hiddenDim);
      for (let i = 0; i < c.dim; i++) x[i]! += d[i]!;
    });
    out.push(matvec(dense(weights.head), norm(x, weights.finalNorm), c.vocabSize, c.dim));
  });
  return out;
}

/** Σ −log softmax(logits[j−1])[ids[j]] for j ≥ 1, in float64. */
export function referenceNll(logits: readonly Float64Array[], ids: readonly number[]): number {
  let nll = 0;
  for (let j = 1; j < ids.length; j++) {
    const row = logits[j - 1]!;
    const max = Math.max(...row);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    nll += max + Math.log(sum) - row[ids[j]!]!;
  }
  return nll;
}
