import { readFileSync } from 'node:fs';

/** One weight matrix of a checkpoint: row-major [out, in]. */
export interface NamedMatrix {
  readonly model: string;
  /** The llama2.c name, e.g. `layers.0.w1` (as in reference-results.md). */
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

/**
 * Reads the linear-layer weights of a llama2.c version-0 checkpoint: a header of 7 int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size (negative = untied classifier), seq_len), then float32 tensors
 * token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, ...
 */
export function readLlama2c(path: string, model: string): NamedMatrix[] {
  const bytes = readFileSync(path);
  const header = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 28));
  const [dim, hidden, layers, heads, kvHeads, vocab] = Array.from(header) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const kvDim = (dim * kvHeads) / heads;
  const floats = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset + 28, bytes.byteOffset + bytes.byteLength),
  );
  let offset = Math.abs(vocab) * dim + layers * dim; // token_embedding, rms_att
  const out: NamedMatrix[] = [];
  const take = (kind: string, rows: number, cols: number) => {
    for (let l = 0; l < layers; l++) {
      out.push({
        model,
        name: `layers.${l}.${kind}`,
        rows,
        cols,
        data: floats.slice(offset, offset + rows * cols),
      });
      offset += rows * cols;
    }
  };
  take('wq', dim, dim);
  take('wk', kvDim, dim);
  take('wv', kvDim, dim);
  take('wo', dim, dim);
  offset += layers * dim; // rms_ffn
  take('w1', hidden, dim);
  take('w2', dim, hidden);
  take('w3', hidden, dim);
  if (offset > floats.length) throw new Error(`${path} is shorter than its header says.`);
  return out;
}

export interface ReferenceRow {
  readonly model: string;
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  readonly bpw: number;
  readonly k: number;
  /** Median over seeds (stories260K) or the single seed-0 value (sotu-3m). */
  readonly relError: number;
  readonly perSeed: readonly number[];
  readonly seconds: number;
}

/** Parses the tables of reference-results.md (sections `## stories260K` and `## sotu-3m`). */
export function readReference(path: string): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  let model = '';
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const section = /^## (\S+)/.exec(line);
    if (section) model = section[1]!;
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 8 || !/^layers\.\d+\.\w+$/.test(cells[1] ?? '')) continue;
    const [r, c] = cells[2]!.split('×').map(Number) as [number, number];
    const perSeed = cells.length > 8 ? cells[6]!.split(',').map(Number) : [Number(cells[5])];
    rows.push({
      model,
      name: cells[1]!,
      rows: r,
      cols: c,
      bpw: Number(cells[3]),
      k: Number(cells[4]),
      relError: Number(cells[5]),
      perSeed,
      seconds: Number(cells[cells.length - 2]),
    });
  }
  return rows;
}
