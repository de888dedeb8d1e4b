import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, sharedDir } from './run-cli';

const run = (stream: boolean, ...argv: string[]) => runCli(argv, { stream });

const shared = sharedDir;
const sotu = join(shared, 'models', 'sotu-3m');

describe('dbf generate', () => {
  it('streams the greedy continuation of BOS token by token and reports tokens/s on stderr', async () => {
    const { code, chunks, stderr } = await run(true, 'generate', sotu, '--temperature', '0', '-n', '32');
    expect(code).toBe(0);
    // The (empty) prompt, 32 token texts, the tail, the final newline.
    expect(chunks.length).toBe(1 + 32 + 2);
    expect(chunks.join('')).toBe(
      'of the Government. The Government has been in the present session, and the people of the United States have been in the present session. The Congress has been made\n',
    );
    expect(stderr).toMatch(
      /^32 tokens \(stop: length\); prompt 1 tokens in [\d.]+ ms .*time to first token [\d.]+ ms; decode [\d.]+ tokens\/s/,
    );
  });

  it('continues a prompt, reproducibly for a seed, through a context without raw writes', async () => {
    const args = [
      'generate',
      join(sotu, 'model.bin'),
      '--prompt',
      'The state of the Union',
      '-n',
      '20',
      '--seed',
      '7',
      '--temperature',
      '0.9',
      '--top-p',
      '0.95',
    ];
    const a = await run(false, ...args);
    const b = await run(false, ...args);
    expect(a.code).toBe(0);
    expect(a.stdout.startsWith('The state of the Union')).toBe(true);
    expect(a.stdout.length).toBeGreaterThan('The state of the Union'.length + 20);
    expect(b.stdout).toBe(a.stdout);
    expect(a.stderr).toMatch(/seed 7/);
    const c = await run(false, ...args.slice(0, -6), '--seed', '8', '--temperature', '0.9');
    expect(c.stdout).not.toBe(a.stdout);
  });

  it('runs stories260K with its tok512.bin found beside the checkpoint', async () => {
    const { code, stdout } = await run(
      false,
      'generate',
      join(shared, 'models', 'stories260K', 'stories260K.bin'),
      '--prompt',
      'Once upon a time',
      '--temperature',
      '0',
      '-n',
      '12',
    );
    expect(code).toBe(0);
    expect(stdout).toBe('Once upon a time, there was a little girl named Lily. She');
  });

  it('rejects bad options', async () => {
    expect((await run(false, 'generate', sotu, '--top-p', '1.5')).code).toBe(2);
    expect((await run(false, 'generate', sotu, '--temperature', '-1')).code).toBe(2);
    const noTokenizer = await run(
      false,
      'generate',
      join(shared, 'models', 'stories260K', 'stories260K.bin'),
      '--tokenizer',
      join(sotu, 'missing.bin'),
    );
    expect(noTokenizer.code).toBe(1);
    expect(noTokenizer.stderr).toMatch(/^error \[IO_ERROR\]/);
  });
});
