#!/usr/bin/env node
// Puts the demo's bundled models under public/models (git-ignored), so that Vite serves them in dev and
// copies them into dist/ on build:
//   public/models/sotu-3m/      the repo's default model (models/sotu-3m), copied as is: the fp32 reference
//   public/models/sotu-3m-dbf/  the same model compressed at build time by `dbf compress`
// Compression is skipped when its output is newer than the source and was made with the same settings
// (a stamp file records them), so repeated builds cost nothing. `--force` recompresses.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const demo = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(demo, '../../models/sotu-3m');
const cli = join(demo, '../cli/bin/dbf.js');
const out = join(demo, 'public/models');
const reference = join(out, 'sotu-3m');
const compressed = join(out, 'sotu-3m-dbf');
const stampFile = join(compressed, '.prepared.json');
const FILES = ['config.json', 'model.safetensors', 'tokenizer.model'];
// Few iterations and a small calibration set (used for the drift report): the bundled model is tiny, and
// the build must stay well under a minute or two on a 2-core machine.
const COMPRESS_ARGS = [
  '--bpw',
  '1.5',
  '--iters',
  '40',
  '--backend',
  'wasm',
  '--seed',
  '0',
  '--calib-sequences',
  '8',
  '--calib-length',
  '64',
];

const force = process.argv.includes('--force');
const log = (text) => console.log(`[prepare-models] ${text}`);

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : -1;
}

function copyReference() {
  mkdirSync(reference, { recursive: true });
  for (const name of FILES) {
    const from = join(source, name);
    const to = join(reference, name);
    if (!existsSync(from))
      throw new Error(`${from} is missing: the bundled model is part of the repository.`);
    if (mtime(to) >= mtime(from) && statSync(to).size === statSync(from).size) continue;
    copyFileSync(from, to);
  }
  log(`fp32 reference ready in ${relative(demo, reference)}`);
}

function compressedIsFresh() {
  if (force || !existsSync(stampFile)) return false;
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return false;
  }
  if (JSON.stringify(stamp.args) !== JSON.stringify(COMPRESS_ARGS)) return false;
  const newestSource = Math.max(...FILES.map((name) => mtime(join(source, name))));
  return FILES.every((name) => mtime(join(compressed, name)) >= newestSource);
}

function compress() {
  if (compressedIsFresh()) {
    log(`compressed model up to date in ${relative(demo, compressed)}`);
    return;
  }
  // A half-written folder must never look ready: remove it first, write the stamp last.
  rmSync(compressed, { recursive: true, force: true });
  // --force: discard an unfinished run (<out>.partial) left by an interrupted build.
  const args = [cli, 'compress', source, ...COMPRESS_ARGS, '--out', compressed, '--force'];
  log(`node ${args.map((a) => relative(demo, a) || a).join(' ')}`);
  const started = Date.now();
  const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (run.status !== 0) {
    rmSync(compressed, { recursive: true, force: true });
    throw new Error(
      `dbf compress failed (exit ${run.status ?? run.signal}); build the CLI first (pnpm build builds it before the demo).`,
    );
  }
  for (const name of FILES) {
    if (!existsSync(join(compressed, name)))
      throw new Error(`dbf compress wrote no ${name} in ${compressed}.`);
  }
  writeFileSync(stampFile, `${JSON.stringify({ args: COMPRESS_ARGS }, null, 2)}\n`);
  log(`compressed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

try {
  copyReference();
  compress();
} catch (error) {
  console.error(`[prepare-models] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
