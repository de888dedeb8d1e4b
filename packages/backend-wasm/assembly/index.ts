// Entry point of the kernel module. The host writes a job (a list of stages) into the control block
// and every thread, the host's included, calls `run_job`. Each stage is cut into chunks (row blocks,
// GEMM column ranges) that threads claim with an atomic counter, so a thread that is descheduled or
// wakes late never holds up the others: whoever is running takes the remaining chunks. The host
// returns once every chunk of the last stage is done; a stage starts once the previous one is done.

import { denseRows } from './dense';
import { gemmColumns } from './gemm';
import {
  CONST_NIBBLE_MASK,
  CTRL_CLAIM0,
  CTRL_CONSTS,
  CTRL_DONE0,
  CTRL_SEQ,
  CTRL_SPIN,
  CTRL_STAGE0,
  CTRL_STAGES,
  CTRL_THREADS,
  D_BATCH,
  D_BIAS,
  D_COLS,
  D_IN,
  D_OUT,
  D_ROWS,
  D_WEIGHT,
  G_A,
  G_ALPHA,
  G_B,
  G_C,
  G_K,
  G_LDC,
  G_M,
  G_N,
  G_SCRATCH,
  G_SCRATCH_STRIDE,
  G_TRANS_A,
  G_TRANS_B,
  GEMM_NR,
  KIND_DENSE,
  KIND_GEMM,
  KIND_SIGN_F32,
  KIND_SIGN_I8,
  S_BATCH,
  S_BIAS,
  S_COLS,
  S_IN,
  S_IN_SCALE,
  S_LUT,
  S_OUT,
  S_OUT_SCALE,
  S_ROWS,
  S_SCRATCH,
  S_SCRATCH_STRIDE,
  S_TERMS,
  S_WEIGHTS,
  S_WPR,
  SCALE_BLOCK_BYTES,
  STAGE_BYTES,
} from './layout';
import { epilogue, laneInput } from './sign-common';
import { exactRow1, exactRow2, exactRow4 } from './sign-f32';
import { buildTables, tmacBlock1, tmacBlock2, tmacBlock4, tmacPair1 } from './sign-int8';

/**
 * Runs job `job` as thread `tid` (0 = the host). `canBlock` = 0 where atomic waits are forbidden (a
 * browser's main thread). The host returns when the whole job is done; workers return when no chunk
 * is left to claim (or the job they woke for is over).
 */
export function run_job(ctrl: usize, tid: i32, canBlock: i32, job: i32): void {
  const threads = load<i32>(ctrl + CTRL_THREADS);
  const stages = load<i32>(ctrl + CTRL_STAGES);
  const tag = job & JOB_MASK;
  let previous = 0;
  for (let s = 0; s < stages; s++) {
    if (s > 0 && !waitDone(ctrl, s - 1, previous, job, canBlock)) return;
    previous = runStage(ctrl, s, tag, tid, threads);
    if (previous < 0) return;
  }
  if (tid === 0) waitDone(ctrl, stages - 1, previous, job, canBlock);
}

/** Sums `bytes` (a multiple of 64) from `ptr` with 16-byte loads: the streaming-read roofline probe. */
export function probe_read(ptr: usize, bytes: i32): i32 {
  let a = i32x4.splat(0);
  let b = i32x4.splat(0);
  let c = i32x4.splat(0);
  let d = i32x4.splat(0);
  const end = ptr + <usize>bytes;
  for (let p = ptr; p < end; p += 64) {
    a = i32x4.add(a, v128.load(p));
    b = i32x4.add(b, v128.load(p, 16));
    c = i32x4.add(c, v128.load(p, 32));
    d = i32x4.add(d, v128.load(p, 48));
  }
  const r = i32x4.add(i32x4.add(a, b), i32x4.add(c, d));
  return (
    i32x4.extract_lane(r, 0) ^ i32x4.extract_lane(r, 1) ^ i32x4.extract_lane(r, 2) ^ i32x4.extract_lane(r, 3)
  );
}

/** Job ids are kept to 12 bits in the claim words (chunk indices get the other 20). */
const JOB_MASK: i32 = 0xfff;
const INDEX_MASK: i32 = 0xfffff;

/** Claims the next chunk of stage `s` for job `tag`: its index, or -1 when none is left (or the job is over). */
function claim(ctrl: usize, s: i32, tag: i32, total: i32): i32 {
  const p = ctrl + CTRL_CLAIM0 + ((<usize>s) << 2);
  let word = atomic.load<i32>(p);
  while (word >>> 20 === tag && (word & INDEX_MASK) < total) {
    const seen = atomic.cmpxchg<i32>(p, word, word + 1);
    if (seen === word) return word & INDEX_MASK;
    word = seen;
  }
  return -1;
}

/** Marks one chunk of stage `s` finished, waking waiters when it was the last. */
function finish(ctrl: usize, s: i32, total: i32): void {
  const p = ctrl + CTRL_DONE0 + ((<usize>s) << 2);
  if (atomic.add<i32>(p, 1) + 1 === total) atomic.notify(p, i32.MAX_VALUE);
}

/**
 * Waits until all `total` chunks of stage `s` are finished: spins, then (where allowed) sleeps. Returns
 * false if the host meanwhile published another job (only a late worker can see that).
 */
function waitDone(ctrl: usize, s: i32, total: i32, job: i32, canBlock: i32): bool {
  const p = ctrl + CTRL_DONE0 + ((<usize>s) << 2);
  let spins = load<i32>(ctrl + CTRL_SPIN);
  let done = atomic.load<i32>(p);
  while (done < total) {
    if (atomic.load<i32>(ctrl + CTRL_SEQ) !== job) return false;
    // Sleep at most 1 ms at a time, so a job that was replaced is noticed.
    if (canBlock !== 0 && spins <= 0) atomic.wait<i32>(p, done, 1_000_000);
    spins--;
    done = atomic.load<i32>(p);
  }
  return true;
}

/** Bytes of int8 tables (all lanes) per column tile: half of a 32 KiB L1 data cache. */
const TILE_TABLE_BYTES: i32 = 16384;
/** Weight bytes × lanes per chunk: ~10–20 µs of work for the int8 kernels, about as long for the exact ones. */
const INT8_CHUNK_BYTES: i32 = 131072;
const EXACT_CHUNK_BYTES: i32 = 16384;

function runStage(ctrl: usize, s: i32, tag: i32, tid: i32, threads: i32): i32 {
  const st = ctrl + CTRL_STAGE0 + <usize>s * STAGE_BYTES;
  const kind = load<i32>(st);
  if (kind === KIND_SIGN_I8) return signInt8(ctrl, s, tag, st, tid);
  if (kind === KIND_SIGN_F32) return signF32(ctrl, s, tag, st, tid);
  if (kind === KIND_DENSE) return dense(ctrl, s, tag, st);
  if (kind === KIND_GEMM) return gemm(ctrl, s, tag, st, tid, threads);
  unreachable();
  return 0;
}

/** Row blocks per chunk: about `bytes` of weight bytes times lanes, even, in [2, 64]. */
function chunkBlocks(blockBytes: i32, lanes: i32, bytes: i32): i32 {
  const blocks = min(64, max(2, (bytes + blockBytes * lanes - 1) / (blockBytes * lanes)));
  return (blocks + 1) & ~1;
}

/** Dense stage: chunks of 32 rows. */
function dense(ctrl: usize, s: i32, tag: i32, st: usize): i32 {
  const rows = load<i32>(st + D_ROWS);
  const total = (rows + 31) >> 5;
  let c = claim(ctrl, s, tag, total);
  while (c >= 0) {
    denseRows(
      load<usize>(st + D_WEIGHT),
      rows,
      load<i32>(st + D_COLS),
      load<usize>(st + D_IN),
      load<i32>(st + D_BATCH),
      load<usize>(st + D_OUT),
      load<usize>(st + D_BIAS),
      c << 5,
      min(rows, (c + 1) << 5),
    );
    finish(ctrl, s, total);
    c = claim(ctrl, s, tag, total);
  }
  return total;
}

/** GEMM stage: chunks of columns (multiples of NR), about two per thread, at least 128 columns. */
function gemm(ctrl: usize, s: i32, tag: i32, st: usize, tid: i32, threads: i32): i32 {
  const ldc = load<i32>(st + G_LDC);
  const panels = ldc / GEMM_NR;
  const per = max(min(16, panels), (panels + 2 * threads - 1) / (2 * threads));
  const total = (panels + per - 1) / per;
  let c = claim(ctrl, s, tag, total);
  while (c >= 0) {
    gemmColumns(
      load<usize>(st + G_A),
      load<usize>(st + G_B),
      load<usize>(st + G_C),
      load<i32>(st + G_M),
      load<i32>(st + G_N),
      load<i32>(st + G_K),
      load<i32>(st + G_TRANS_A),
      load<i32>(st + G_TRANS_B),
      load<f32>(st + G_ALPHA),
      ldc,
      c * per * GEMM_NR,
      min(panels, (c + 1) * per) * GEMM_NR,
      load<usize>(st + G_SCRATCH) + <usize>tid * load<usize>(st + G_SCRATCH_STRIDE),
    );
    finish(ctrl, s, total);
    c = claim(ctrl, s, tag, total);
  }
  return total;
}

/**
 * int8 T-MAC stage, in chunks of row blocks. Per-thread scratch: xs (colsPadded f32) | scales
 * (lanes × blocks f32) | tables (lanes × groups × 16 B) | accumulators (one chunk × lanes × 64 B).
 * A thread builds all lanes' tables (a few microseconds) once it holds its first chunk, so threads
 * never wait on each other inside a stage.
 *
 * Columns are processed in tiles whose tables (all lanes) take 16 KiB, so they stay in L1 while the
 * tile's weights stream: for each tile, each row block of the chunk adds its partial sums to its
 * accumulators; the epilogue runs once all tiles are done.
 */
function signInt8(ctrl: usize, s: i32, tag: i32, st: usize, tid: i32): i32 {
  const rows = load<i32>(st + S_ROWS);
  const wpr = load<i32>(st + S_WPR);
  const batch = load<i32>(st + S_BATCH);
  const terms = load<i32>(st + S_TERMS);
  const lanes = batch * terms;
  const bpr = wpr << 2;
  const rowBlocks = (rows + 15) >> 4;
  const perChunk = chunkBlocks(bpr << 4, lanes, INT8_CHUNK_BYTES);
  const total = (rowBlocks + perChunk - 1) / perChunk;
  let c = claim(ctrl, s, tag, total);
  if (c < 0) return total;

  const w = load<usize>(st + S_WEIGHTS);
  const cols = load<i32>(st + S_COLS);
  const input = load<usize>(st + S_IN);
  const inScale = load<usize>(st + S_IN_SCALE);
  const groups = wpr << 3;
  const colsPadded = wpr << 5;
  const blocks = (bpr + SCALE_BLOCK_BYTES - 1) / SCALE_BLOCK_BYTES;
  const scaleStride = (<usize>blocks) << 2;
  const tableStride = (<usize>groups) << 4;
  const xs = load<usize>(st + S_SCRATCH) + <usize>tid * load<usize>(st + S_SCRATCH_STRIDE);
  const scales = xs + ((<usize>colsPadded) << 2);
  const tables = (scales + <usize>lanes * scaleStride + 15) & ~15;
  const acc = (tables + <usize>lanes * tableStride + 63) & ~63;
  const consts = ctrl + CTRL_CONSTS;
  // Loaded, not a v128.const: see CTRL_CONSTS.
  const m4 = v128.load(consts + CONST_NIBBLE_MASK);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < terms; t++) {
      const lane = <usize>(b * terms + t);
      laneInput(xs, input, inScale, cols, colsPadded, b, t);
      buildTables(xs, groups, tables + lane * tableStride, scales + lane * scaleStride, consts);
    }
  }
  const out = load<usize>(st + S_OUT);
  const outScale = load<usize>(st + S_OUT_SCALE);
  const bias = load<usize>(st + S_BIAS);
  const laneBytes = (<usize>lanes) << 6;
  const blockBytes = (<usize>bpr) << 4;
  // Blocks below `pairedBlocks` are stored in interleaved pairs (see sign-int8.ts); chunks start at
  // even blocks, so a pair never straddles two chunks.
  const pairedBlocks = rowBlocks & ~1;
  // 16 KiB of tables per tile: 512 bytes per row (4096 columns) for one lane, less for more lanes.
  const tileBytes = max(SCALE_BLOCK_BYTES, (TILE_TABLE_BYTES / 32 / lanes) & ~(SCALE_BLOCK_BYTES - 1));
  do {
    const rb0 = c * perChunk;
    const rb1 = min(rowBlocks, rb0 + perChunk);
    memory.fill(acc, 0, <usize>(rb1 - rb0) * laneBytes);
    for (let j0 = 0; j0 < bpr; j0 += tileBytes) {
      const count = min(tileBytes, bpr - j0);
      const tileTables = tables + ((<usize>j0) << 5);
      const tileScales = scales + ((<usize>(j0 / SCALE_BLOCK_BYTES)) << 2);
      let rb = rb0;
      if (lanes === 1) {
        // Single vector: two row blocks per pass share the table loads.
        for (; rb + 2 <= rb1; rb += 2) {
          const wb = w + <usize>rb * blockBytes + ((<usize>j0) << 5);
          tmacPair1(wb, count, tileTables, tileScales, acc + <usize>(rb - rb0) * laneBytes, m4);
        }
      }
      for (; rb < rb1; rb++) {
        const paired = rb < pairedBlocks;
        const step: usize = paired ? 32 : 16;
        const base = paired
          ? <usize>(rb & ~1) * blockBytes + ((<usize>(rb & 1)) << 4)
          : <usize>rb * blockBytes;
        const wb = w + base + <usize>j0 * step;
        const raw = acc + <usize>(rb - rb0) * laneBytes;
        let lane = 0;
        for (; lane < lanes; ) {
          // Lanes in fours, then a pair, then one; each lane's tables, scales and accumulators.
          const l = <usize>lane;
          const t = tileTables + l * tableStride;
          const sc = tileScales + l * scaleStride;
          const r = raw + (l << 6);
          if (lane + 4 <= lanes) {
            tmacBlock4(wb, step, count, t, tableStride, sc, scaleStride, r, m4);
            lane += 4;
          } else if (lane + 2 <= lanes) {
            tmacBlock2(wb, step, count, t, tableStride, sc, scaleStride, r, m4);
            lane += 2;
          } else {
            tmacBlock1(wb, step, count, t, sc, r, m4);
            lane++;
          }
        }
      }
    }
    for (let rb = rb0; rb < rb1; rb++) {
      const row0 = rb << 4;
      const raw = acc + <usize>(rb - rb0) * laneBytes;
      epilogue(raw, row0, min(16, rows - row0), rows, batch, terms, out, outScale, bias);
    }
    finish(ctrl, s, total);
    c = claim(ctrl, s, tag, total);
  } while (c >= 0);
  return total;
}

/**
 * Exact f32 stage, in chunks of 16-row blocks. Per-thread scratch: raw (lanes × 64 B) | xs (lanes ×
 * colsPadded f32).
 */
function signF32(ctrl: usize, s: i32, tag: i32, st: usize, tid: i32): i32 {
  const rows = load<i32>(st + S_ROWS);
  const wpr = load<i32>(st + S_WPR);
  const batch = load<i32>(st + S_BATCH);
  const terms = load<i32>(st + S_TERMS);
  const lanes = batch * terms;
  const rowBlocks = (rows + 15) >> 4;
  const perChunk = chunkBlocks(wpr << 6, lanes, EXACT_CHUNK_BYTES);
  const total = (rowBlocks + perChunk - 1) / perChunk;
  let c = claim(ctrl, s, tag, total);
  if (c < 0) return total;

  const w = load<usize>(st + S_WEIGHTS);
  const cols = load<i32>(st + S_COLS);
  const input = load<usize>(st + S_IN);
  const inScale = load<usize>(st + S_IN_SCALE);
  const lut = load<usize>(st + S_LUT);
  const colsPadded = wpr << 5;
  const raw = load<usize>(st + S_SCRATCH) + <usize>tid * load<usize>(st + S_SCRATCH_STRIDE);
  const xs = raw + ((<usize>lanes) << 6);
  const xsStride = (<usize>colsPadded) << 2;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < terms; t++)
      laneInput(xs + <usize>(b * terms + t) * xsStride, input, inScale, cols, colsPadded, b, t);
  }
  const out = load<usize>(st + S_OUT);
  const outScale = load<usize>(st + S_OUT_SCALE);
  const bias = load<usize>(st + S_BIAS);
  const rowBytes = (<usize>wpr) << 2;
  do {
    const r1 = min(rows, (c + 1) * perChunk * 16);
    for (let r0 = c * perChunk * 16; r0 < r1; r0 += 16) {
      const count = min(16, r1 - r0);
      for (let i = 0; i < count; i++) {
        const words = w + <usize>(r0 + i) * rowBytes;
        const ri = raw + ((<usize>i) << 2);
        let lane = 0;
        for (; lane + 4 <= lanes; lane += 4) {
          exactRow4(words, wpr, lut, xs + <usize>lane * xsStride, xsStride, ri + ((<usize>lane) << 6));
        }
        if (lane + 2 <= lanes) {
          exactRow2(words, wpr, lut, xs + <usize>lane * xsStride, xsStride, ri + ((<usize>lane) << 6));
          lane += 2;
        }
        if (lane < lanes)
          store<f32>(ri + ((<usize>lane) << 6), exactRow1(words, wpr, lut, xs + <usize>lane * xsStride));
      }
      epilogue(raw, r0, count, rows, batch, terms, out, outScale, bias);
    }
    finish(ctrl, s, total);
    c = claim(ctrl, s, tag, total);
  } while (c >= 0);
  return total;
}
