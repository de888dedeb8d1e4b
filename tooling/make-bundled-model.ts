/**
 * Builds the bundled default model, models/sotu-3m: ../shared/models/sotu-3m converted to F16 safetensors
 * (half the bytes; the perplexity moves by less than 0.1%), with its config.json and tokenizer.model.
 * Run: pnpm --filter @dbf/tooling bundled-model [--check]. `--check` rebuilds in memory and compares.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  encodedToBytes,
  encodeFloat16Array,
  encodeSafetensors,
  memorySource,
  openSafetensors,
} from '@dbf/core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = resolve(root, '../shared/models/sotu-3m');
const target = join(root, 'models/sotu-3m');
const check = process.argv.includes('--check');

const sourceBytes = readFileSync(join(source, 'model.safetensors'));
const file = await openSafetensors(memorySource(sourceBytes));
const tensors = [];
for (const info of file.tensors) {
  if (info.dtype !== 'F32') throw new Error(`${info.name}: expected F32, found ${info.dtype}`);
  const values = await file.readFloat32(info.name);
  tensors.push({
    name: info.name,
    dtype: 'F16' as const,
    shape: info.shape,
    data: encodeFloat16Array(values),
  });
}
const bytes = encodedToBytes(
  encodeSafetensors(tensors, {
    metadata: {
      format: 'pt',
      source: 'sotu-3m (../shared/models/sotu-3m/model.safetensors), F32 rounded to F16',
      source_sha256: createHash('sha256').update(sourceBytes).digest('hex'),
    },
  }),
);

if (check) {
  const committed = readFileSync(join(target, 'model.safetensors'));
  if (!committed.equals(bytes)) throw new Error('models/sotu-3m/model.safetensors differs from a rebuild');
  console.log('models/sotu-3m/model.safetensors matches a rebuild');
} else {
  mkdirSync(target, { recursive: true });
  const temp = join(target, '.model.safetensors.tmp');
  writeFileSync(temp, bytes);
  renameSync(temp, join(target, 'model.safetensors'));
  for (const name of ['config.json', 'tokenizer.model']) copyFileSync(join(source, name), join(target, name));
  console.log(`wrote ${target}/model.safetensors (${bytes.length} bytes, ${tensors.length} tensors)`);
}
