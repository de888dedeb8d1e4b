import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpu } from '@dbf/backend-cpu';
import { evaluatePerplexity, LlamaModel, loadLlama2cModel } from '@dbf/llm';
import { describe, expect, it } from 'vitest';
import { run, sharedDir } from './run-cli';

const shared = sharedDir;
const sotu = join(shared, 'models', 'sotu-3m');

describe('dbf eval', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbf-eval-'));
  const textFile = join(dir, 'sotu-head.txt');
  const text = readFileSync(join(shared, 'data', 'sotu', 'sotu-2001-2021.txt'), 'utf8').slice(0, 6000);
  writeFileSync(textFile, text);

  it('--json prints exactly {perplexity, tokens, predicted, seconds}, equal to the library on the same ids', async () => {
    const { code, stdout, stderr } = await run(
      'eval',
      sotu,
      '--text',
      textFile,
      '--max-tokens',
      '300',
      '--json',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(Object.keys(report)).toEqual(['perplexity', 'tokens', 'predicted', 'seconds']);
    // 300 tokens: a window of 256 and one of 44, each scoring all but its first token.
    expect(report).toMatchObject({ tokens: 300, predicted: 298 });
    expect(report.seconds).toBeGreaterThan(0);

    // The llama2.c copy of the model, with its tokenizer.bin, gives the same figure.
    const loaded = await loadLlama2cModel(readFileSync(join(sotu, 'model.bin')), {
      tokenizer: readFileSync(join(sotu, 'tokenizer.bin')),
    });
    const backend = await cpu().create();
    const model = await LlamaModel.create(loaded.weights, backend);
    const expected = await evaluatePerplexity(model, loaded.tokenizer!.encode(text), { maxTokens: 300 });
    expect(report.perplexity).toBeCloseTo(expected.perplexity, 3);
    await backend.dispose();
  });

  it('prints a readable report and honours --ctx and --stride on a llama2.c checkpoint', async () => {
    const { code, stdout } = await run(
      'eval',
      join(sotu, 'model.bin'),
      '--text',
      textFile,
      '--ctx',
      '64',
      '--stride',
      '32',
      '--max-tokens',
      '200',
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/llama2\.c checkpoint, dim 192, 6 layers/);
    expect(stdout).toMatch(
      /perplexity \d+\.\d{3} over 199 predicted tokens \(200 tokens, 6 windows of 64, stride 32\)/,
    );
  });

  it('turns bad input into one readable error line', async () => {
    const missing = await run('eval', join(dir, 'no-model'), '--text', textFile);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error \[IO_ERROR\]: .*no-model does not exist/);
    const tooLong = await run('eval', sotu, '--text', textFile, '--ctx', '1000');
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: ctx must be an integer in \[2, 256\]/);
    const noText = await run('eval', sotu, '--text', join(dir, 'missing.txt'));
    expect(noText.stderr).toMatch(/^error \[IO_ERROR\]: Cannot read/);
    expect((await run('eval', sotu, '--text', textFile, '--stride', '0')).code).toBe(2);
    expect((await run('eval', sotu)).code).toBe(2);
    const backend = await run('eval', sotu, '--text', textFile, '--backend', 'webgpu');
    expect(backend.stderr).toMatch(/^error \[NO_BACKEND_AVAILABLE\]/);
  });
});
