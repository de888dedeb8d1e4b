/**
 * Writes the format golden vectors to spec/vectors/format and the conformance module
 * packages/conformance/src/golden.generated.ts. Run: `pnpm vectors` (or `tsx generate-vectors.ts` here).
 * `--check` compares instead of writing and exits 1 on any difference.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFormatVectors, CONFORMANCE_MODULE_PATH, VECTORS_DIR } from './vectors/format-vectors';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out;
}

async function main(): Promise<void> {
  const vectors = buildFormatVectors();
  const vectorsDir = join(root, VECTORS_DIR);
  const wanted = new Map<string, Uint8Array>();
  for (const [path, bytes] of vectors.files) wanted.set(join(vectorsDir, path), bytes);
  wanted.set(join(root, CONFORMANCE_MODULE_PATH), new TextEncoder().encode(vectors.conformanceModule));

  const stale = (await listFiles(vectorsDir)).filter((p) => !wanted.has(p));
  const differing: string[] = [];
  for (const [path, bytes] of wanted) {
    const current = await readFile(path).catch(() => undefined);
    if (!current || Buffer.compare(current, bytes) !== 0) differing.push(path);
  }
  if (check) {
    for (const p of [...differing, ...stale]) console.error(`out of date: ${relative(root, p)}`);
    if (differing.length || stale.length) process.exit(1);
    console.log(`${wanted.size} files up to date.`);
    return;
  }
  for (const p of stale) await rm(p);
  for (const path of differing) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, wanted.get(path)!);
  }
  console.log(
    `${vectors.valid.length} valid and ${vectors.invalid.length} invalid vectors; wrote ${differing.length} file(s), removed ${stale.length}.`,
  );
}

await main();
