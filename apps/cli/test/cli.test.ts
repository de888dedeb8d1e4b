import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bitsPerWeight } from '@dbf/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from './run-cli';

describe('dbf CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbf-cli-'));
  const model = join(dir, 'new-folder', 'demo.dbf.safetensors');

  beforeAll(async () => {
    const result = await run('selftest', '--out', model, '--seed', '3', '--batch', '2');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('wrote and validated');
    expect(result.stdout).toMatch(/Outputs match the dense weights/);
  });

  it('inspect --json reports the layers with bpw equal to the bytes on disk', async () => {
    const { code, stdout } = await run('inspect', model, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.file_bytes).toBe(readFileSync(model).length);
    expect(report.layers.map((l: { name: string }) => l.name)).toEqual([
      'block.0.attn.q_proj',
      'block.0.mlp.up_proj',
      'block.0.mlp.down_proj',
    ]);
    const targets = [1.5, 2.0, 1.0];
    report.layers.forEach(
      (
        l: { kind: 'dbf' | 'mdbf'; shape: number[]; k: number; l: number; bpw: number; bytes: number },
        i: number,
      ) => {
        const shape = {
          kind: l.kind,
          outFeatures: l.shape[0]!,
          inFeatures: l.shape[1]!,
          rank: l.k,
          envelopeRank: l.l,
        };
        expect(l.bpw).toBeCloseTo(bitsPerWeight(shape), 12);
        expect(l.bpw).toBeCloseTo((8 * l.bytes) / (l.shape[0]! * l.shape[1]!), 12);
        // k is the largest rank that fits the demo's target for that layer.
        expect(l.bpw).toBeLessThanOrEqual(targets[i]!);
        expect(bitsPerWeight({ ...shape, rank: l.k + 1 })).toBeGreaterThan(targets[i]!);
      },
    );
    expect(report.plain_tensors).toEqual([
      { name: 'embed_tokens.weight', dtype: 'F16', shape: [512, 256], bytes: 512 * 256 * 2 },
    ]);
  });

  it('inspect prints a readable table', async () => {
    const { code, stdout } = await run('inspect', model);
    expect(code).toBe(0);
    expect(stdout).toMatch(/block\.0\.mlp\.up_proj\s+mdbf\s+688×256/);
    expect(stdout).toMatch(/compressed layers: .* bpw; whole file/);
  });

  it('validate exits 0 on a valid file and 1 with the error code on a damaged one', async () => {
    expect((await run('validate', model)).code).toBe(0);
    const bytes = readFileSync(model);
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 3));
    const bad = await run('validate', truncated);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^invalid \[[A-Z_]+\]: /);
    const notDbf = join(dir, 'plain.safetensors');
    const header = Buffer.from('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(notDbf, Buffer.concat([length, header, Buffer.alloc(4)]));
    expect((await run('validate', notDbf)).stderr).toMatch(/^invalid \[NOT_DBF\]/);
  });

  it('turns failures into one readable line, with the stack only under --verbose', async () => {
    const missing = await run('inspect', join(dir, 'nope.safetensors'));
    expect(missing.code).toBe(1);
    expect(missing.stderr.split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^error( \[[A-Z_]+\])?: .*nope\.safetensors/);
    const verbose = await run('--verbose', 'inspect', join(dir, 'nope.safetensors'));
    expect(verbose.stderr.split('\n').length).toBeGreaterThan(1);
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('selftest', '--seed', '-1')).code).toBe(2);
  });
});
