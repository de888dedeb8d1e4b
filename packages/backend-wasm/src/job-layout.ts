/**
 * Byte offsets of the control block and stage records shared with the kernel module; they mirror
 * assembly/layout.ts (the tests exercise every field through every stage kind).
 */
export const CTRL = {
  /** The job id; bumped to publish a job. */
  seq: 0,
  cmd: 4,
  threads: 16,
  stages: 20,
  spin: 24,
  /** Per stage: next chunk to claim, tagged with the job id (`job << 20`). */
  claim0: 32,
  /** Per stage: chunks finished. */
  done0: 48,
  stage0: 64,
  stageBytes: 128,
  /** Room for this many stage records. */
  maxStages: 4,
  /** Vector constants of the int8 kernels, after the stage records (see assembly/layout.ts). */
  consts: 64 + 4 * 128,
} as const;

/** Bits of the job id kept in the claim words. */
export const JOB_TAG_MASK = 0xfff;

/** Bytes reserved for the control block: the stage records, then 48 bytes of kernel constants. */
export const CTRL_BYTES = CTRL.consts + 48;

/** Writes the kernels' vector constants (assembly/layout.ts CTRL_CONSTS) into the control block. */
export function writeKernelConstants(memory: ArrayBufferLike, ctrl: number): void {
  const base = ctrl + CTRL.consts;
  new Uint8Array(memory, base, 16).fill(0x0f);
  new Uint8Array(memory, base + 16, 16).fill(0x80);
  const view = new DataView(memory, base + 32, 16);
  for (let i = 0; i < 16; i += 4) view.setUint32(i, 0x4b400000, true);
}

export const CMD_RUN = 1;
export const CMD_EXIT = 2;

export const KIND = { signInt8: 1, signF32: 2, dense: 3, gemm: 4 } as const;

/** Fields of the two sign stage kinds (byte offsets). */
export const SIGN = {
  weights: 4,
  rows: 8,
  cols: 12,
  wordsPerRow: 16,
  input: 20,
  batch: 24,
  inScale: 28,
  terms: 32,
  output: 36,
  outScale: 40,
  bias: 44,
  scratch: 48,
  scratchStride: 52,
  lut: 56,
} as const;

export const DENSE = { weight: 4, rows: 8, cols: 12, input: 20, batch: 24, output: 36, bias: 44 } as const;

export const GEMM = {
  a: 4,
  b: 8,
  c: 12,
  m: 16,
  n: 20,
  k: 24,
  transposeA: 28,
  transposeB: 32,
  alpha: 36,
  ldc: 40,
  scratch: 48,
  scratchStride: 52,
} as const;

/** Columns per int8 table scale (assembly SCALE_BLOCK_BYTES · 8). */
export const SCALE_BLOCK_COLUMNS = 128;
/** GEMM blocking (assembly GEMM_*): micro-tile rows and columns, and the packing buffers' floats. */
export const GEMM_MR = 4;
export const GEMM_NR = 8;
export const GEMM_SCRATCH_FLOATS = 128 * 256 + 256 * 1024;
