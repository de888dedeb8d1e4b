#!/usr/bin/env node
// Runs every workspace package's tests through turbo (continuing past failures), then prints the plain
// summary line CI reads: "N passed, N failed, N skipped". Exits non-zero when anything failed, when a
// package produced no report, or when no test ran at all.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const packages = [];
for (const group of ['packages', 'apps', '.']) {
  const dirs =
    group === '.'
      ? ['benchmarks', 'tooling']
      : existsSync(join(root, group))
        ? readdirSync(join(root, group))
        : [];
  for (const dir of dirs) {
    const path = group === '.' ? join(root, dir) : join(root, group, dir);
    const manifest = join(path, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    if (pkg.scripts?.test) packages.push({ name: pkg.name, path });
  }
}
for (const { path } of packages) rmSync(join(path, 'test-results.json'), { force: true });

const extra = process.argv.slice(2);
const turbo = spawnSync('pnpm', ['exec', 'turbo', 'run', 'test', '--continue', ...extra], {
  stdio: 'inherit',
  cwd: root,
});

let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const { name, path } of packages) {
  const report = join(path, 'test-results.json');
  if (!existsSync(report)) {
    missing.push(name);
    continue;
  }
  const result = JSON.parse(readFileSync(report, 'utf8'));
  passed += result.numPassedTests ?? 0;
  failed += result.numFailedTests ?? 0;
  skipped += (result.numPendingTests ?? 0) + (result.numTodoTests ?? 0);
  // A suite that failed to load counts as a failure even if it contributed no test.
  failed += (result.testResults ?? []).filter(
    (s) => s.status === 'failed' && (s.assertionResults ?? []).length === 0,
  ).length;
}
if (missing.length)
  console.error(`No test report from: ${missing.join(', ')} (the package's test run crashed?)`);
console.log(`${passed} passed, ${failed + missing.length} failed, ${skipped} skipped`);
const ok = turbo.status === 0 && failed === 0 && missing.length === 0 && passed > 0;
process.exit(ok ? 0 : 1);
