// Byte offsets inside the control block and the stage records. The JS side mirrors these in
// src/job-layout.ts; a test checks that the two agree by running every stage kind.

/** i32: the job id, bumped by the host to publish a job; workers wait on it. */
export const CTRL_SEQ: usize = 0;
/** i32: 1 = run the published job, 2 = exit. */
export const CTRL_CMD: usize = 4;
/** i32: threads that may take part in the job (1 = the host alone). */
export const CTRL_THREADS: usize = 16;
/** i32: stages in the job, run in order; stage s+1 starts when every chunk of stage s is done. */
export const CTRL_STAGES: usize = 20;
/** i32: spin iterations before a thread that may block goes to sleep. */
export const CTRL_SPIN: usize = 24;
/**
 * i32 per stage: the next unclaimed chunk, tagged with the job id in the top 12 bits, so that a worker
 * that wakes late can never claim a chunk of a later job (the host resets it to `job << 20`).
 */
export const CTRL_CLAIM0: usize = 32;
/** i32 per stage: chunks finished (the host resets it to 0). */
export const CTRL_DONE0: usize = 48;
/** First stage record. */
export const CTRL_STAGE0: usize = 64;
/** Bytes per stage record (32 i32 words). */
export const STAGE_BYTES: usize = 128;
/**
 * Vector constants of the int8 kernels, written once by the host after the (at most 4) stage
 * records: 16 × 0x0f (nibble mask), 16 × 0x80 (table offset), 4 × 0x4b400000 (1.5·2^23, the rounding
 * magic). Loaded from memory rather than written as `v128.const`, because V8 13 (Node 24, seen with
 * --print-wasm-code; V8 12.4 in Node 22 and 11.3 in Node 20 do not) rematerialises such constants at
 * every use inside loops, 3 instructions each, which made the T-MAC inner loop ~40% slower there. A
 * loaded value stays in a register.
 */
export const CTRL_CONSTS: usize = 64 + 4 * 128;
export const CONST_NIBBLE_MASK: usize = 0;
export const CONST_BYTE_OFFSET: usize = 16;
export const CONST_ROUND_MAGIC: usize = 32;

export const KIND_SIGN_I8: i32 = 1;
export const KIND_SIGN_F32: i32 = 2;
export const KIND_DENSE: i32 = 3;
export const KIND_GEMM: i32 = 4;

// Sign stages (both kinds): word offsets ×4.
export const S_WEIGHTS: usize = 4;
export const S_ROWS: usize = 8;
export const S_COLS: usize = 12;
export const S_WPR: usize = 16;
export const S_IN: usize = 20;
export const S_BATCH: usize = 24;
export const S_IN_SCALE: usize = 28;
export const S_TERMS: usize = 32;
export const S_OUT: usize = 36;
export const S_OUT_SCALE: usize = 40;
export const S_BIAS: usize = 44;
export const S_SCRATCH: usize = 48;
export const S_SCRATCH_STRIDE: usize = 52;
export const S_LUT: usize = 56;

// Dense stage.
export const D_WEIGHT: usize = 4;
export const D_ROWS: usize = 8;
export const D_COLS: usize = 12;
export const D_IN: usize = 20;
export const D_BATCH: usize = 24;
export const D_OUT: usize = 36;
export const D_BIAS: usize = 44;

// GEMM stage.
export const G_A: usize = 4;
export const G_B: usize = 8;
export const G_C: usize = 12;
export const G_M: usize = 16;
export const G_N: usize = 20;
export const G_K: usize = 24;
export const G_TRANS_A: usize = 28;
export const G_TRANS_B: usize = 32;
export const G_ALPHA: usize = 36;
export const G_LDC: usize = 40;
export const G_SCRATCH: usize = 48;
export const G_SCRATCH_STRIDE: usize = 52;

/** Bytes of columns per int8 table scale block: 16 bytes = 128 columns = 32 groups of 4. */
export const SCALE_BLOCK_BYTES: i32 = 16;
/** GEMM blocking: micro-tile MR × NR, K block, M block, N block. */
export const GEMM_MR: i32 = 4;
export const GEMM_NR: i32 = 8;
export const GEMM_KC: i32 = 256;
export const GEMM_MC: i32 = 128;
export const GEMM_NC: i32 = 1024;
