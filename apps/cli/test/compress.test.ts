import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, runCli, sharedDir } from './run-cli';

const stories = join(sharedDir, 'models', 'stories260K', 'stories260K.bin');

describe('dbf compress', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbf-compress-'));
  const calib = join(dir, 'calib.txt');
  writeFileSync(
    calib,
    readFileSync(join(sharedDir, 'data', 'sotu', 'sotu-2001-2021.txt'), 'utf8').slice(0, 30_000),
  );
  const common = [
    '--bpw',
    '2',
    '--iters',
    '3',
    '--calib',
    calib,
    '--calib-sequences',
    '2',
    '--calib-length',
    '64',
    '--backend',
    'cpu',
  ];

  it('writes a complete folder that validates, inspects and runs', async () => {
    const out = join(dir, 'out');
    const { code, stdout, stderr } = await run('compress', stories, '--out', out, ...common, '--json');
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ method: 'dbf', layers: 35 });
    expect(summary.bpw).toBeLessThanOrEqual(2);
    expect(summary.file_bytes).toBeLessThan(summary.fp32_bytes / 3);
    expect(readdirSync(out).sort()).toEqual([
      'README.md',
      'config.json',
      'model.safetensors',
      'tokenizer.bin',
    ]);
    expect(existsSync(`${out}.partial`)).toBe(false);
    // One progress line per layer and one drift line per decoder layer on stderr.
    expect(stderr.match(/^\[\d+\/35\] model\.layers/gm)).toHaveLength(35);
    expect(stderr.match(/^decoder layer \d: drift/gm)).toHaveLength(5);

    const card = readFileSync(join(out, 'README.md'), 'utf8');
    expect(card).toContain(`${summary.bpw.toFixed(3)} bpw`);
    expect(card).toMatch(/dbf compress .*stories260K\.bin --out/);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config).toMatchObject({
      quant_method: 'dbf',
      method: 'dbf',
    });

    expect((await run('validate', join(out, 'model.safetensors'))).code).toBe(0);
    const inspect = JSON.parse((await run('inspect', join(out, 'model.safetensors'), '--json')).stdout);
    expect(inspect.layers).toHaveLength(35);
    const gen = await run(
      'generate',
      out,
      '--prompt',
      'Once upon a time',
      '-n',
      '5',
      '--temperature',
      '0',
      '--backend',
      'cpu',
    );
    expect(gen.code, gen.stderr).toBe(0);
  });

  it('refuses to overwrite without --force, and replaces with it', async () => {
    const out = join(dir, 'existing');
    expect((await run('compress', stories, '--out', out, ...common)).code).toBe(0);
    const before = readFileSync(join(out, 'model.safetensors'));
    const again = await run('compress', stories, '--out', out, ...common, '--seed', '5');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists\. Pass --force/);
    expect(readFileSync(join(out, 'model.safetensors')).equals(before)).toBe(true);
    const forced = await run('compress', stories, '--out', out, ...common, '--seed', '5', '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(out, 'model.safetensors')).equals(before)).toBe(false);
  });

  it('resumes an interrupted run from its checkpoint, giving the same file as an uninterrupted one', async () => {
    const whole = join(dir, 'whole');
    expect((await run('compress', stories, '--out', whole, ...common)).code).toBe(0);

    const out = join(dir, 'resumed');
    const controller = new AbortController();
    let done = 0;
    const first = await runCli(['compress', stories, '--out', out, ...common], {
      signal: controller.signal,
      onErr: (line) => {
        if (/^\[\d+\/35\]/.test(line) && ++done === 12) controller.abort();
      },
    });
    expect(first.code).toBe(130);
    expect(first.stderr).toMatch(/run the same command with --resume/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(`${out}.partial`, 'layers')).length).toBeGreaterThanOrEqual(12);

    const refused = await run('compress', stories, '--out', out, ...common);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Pass --resume to continue it/);
    const mismatch = await run(
      'compress',
      stories,
      '--out',
      out,
      ...common.slice(0, -2),
      '--backend',
      'cpu',
      '--seed',
      '9',
      '--resume',
    );
    expect(mismatch.stderr).toMatch(/another model, options or calibration/);

    const resumed = await run('compress', stories, '--out', out, ...common, '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/Resuming: \d+ layers already done/);
    expect(resumed.stderr.match(/\(from checkpoint\)/g)!.length).toBeGreaterThanOrEqual(12);
    expect(
      readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(whole, 'model.safetensors'))),
    ).toBe(true);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('explains bad input in one line', async () => {
    const noBpw = await run('compress', stories, '--out', join(dir, 'x'));
    expect(noBpw.code).toBe(1);
    expect(noBpw.stderr).toBe(
      'error [INVALID_ARGUMENT]: --bpw is required with --method dbf (for example --bpw 1.5).',
    );
    const role = await run(
      'compress',
      stories,
      '--out',
      join(dir, 'x'),
      '--bpw',
      '1',
      '--roles',
      'q_proj,nope',
    );
    expect(role.stderr).toMatch(/unknown role "nope"/);
    const missing = await run('compress', join(dir, 'nothing.bin'), '--out', join(dir, 'x'), '--bpw', '1');
    expect(missing.stderr).toMatch(/^error \[IO_ERROR\]: .*nothing\.bin does not exist/);
    const backend = await run('compress', stories, '--out', join(dir, 'x'), '--bpw', '1', '--backend', 'tpu');
    expect(backend.stderr).toMatch(/--backend must be one of auto, cpu, wasm, webgpu/);
  });
});

describe('dbf demo', () => {
  it('compresses, scores before and after, and generates from both models', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbf-demo-'));
    const text = join(dir, 'held-out.txt');
    writeFileSync(
      text,
      readFileSync(join(sharedDir, 'data', 'sotu', 'sotu-2001-2021.txt'), 'utf8').slice(0, 8000),
    );
    const out = join(dir, 'out');
    const r = await run(
      'demo',
      '--model',
      stories,
      '--out',
      out,
      '--iters',
      '2',
      '--text',
      text,
      '--calib-sequences',
      '2',
      '--eval-tokens',
      '1024',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^1\/3 {2}Compressing .*stories260K\.bin to 1\.5 bpw/m);
    const ppl = /original ([\d.]+) → compressed ([\d.]+)/.exec(r.stdout);
    expect(ppl).not.toBeNull();
    // Two iterations at 1.5 bpw on a 260K-parameter model: clearly worse than the original.
    expect(Number(ppl![2])).toBeGreaterThan(Number(ppl![1]));
    expect(
      r.stdout.match(/^ {5}(original|compressed) +\(\d+ tok\/s on \w+\): The state of the Union is/gm),
    ).toHaveLength(2);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });
});
