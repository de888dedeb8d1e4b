import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  type DemoServer,
  launchChromium,
  nodeGeneratedIds,
  screenshotPath,
  servedModel,
  startPreview,
} from './harness';

// End to end: the built page in headless Chromium (SwiftShader for WebGPU), driven like a user would.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI)
  throw new Error(
    `The demo's browser tests must run in CI, but ${CHROMIUM} does not exist (apt-get install chromium).`,
  );

const PROMPT = 'Once upon a time';
/** Tokens per run: fewer on WebGPU, which runs on SwiftShader (a CPU emulation of a GPU) here. */
const TOKENS: Record<BackendId, number> = { cpu: 24, wasm: 24, webgpu: 8 };
type BackendId = 'webgpu' | 'wasm' | 'cpu';
type Slot = 'compressed' | 'reference';
/** Temperature sampling with a seed; the page always samples with top-p 0.9. */
const SAMPLING = { temperature: 0.8, topP: 0.9, seed: 7 };

describe.skipIf(!haveChromium)(
  `the demo page in headless Chromium${haveChromium ? '' : ' [skipped: no chromium]'}`,
  () => {
    let server: DemoServer | undefined;
    let browser: Browser | undefined;
    let page: Page;
    const logs: string[] = [];
    /** Node's greedy ids per slot and token count. */
    const expected = new Map<string, number[]>();
    const expectedIds = (slot: Slot, tokens: number) => {
      const ids = expected.get(`${slot}/${tokens}`);
      if (!ids) throw new Error(`no Node expectation for ${slot} with ${tokens} tokens`);
      return ids;
    };
    let available: Record<BackendId, boolean>;
    const scratch = mkdtempSync(join(tmpdir(), 'dbf-demo-test-'));

    const consoleTail = () => `\n--- browser console (last 30 lines) ---\n${logs.slice(-30).join('\n')}`;

    /** Waits for the page's own state attributes; on timeout the message carries the console output. */
    async function waitFor(selector: string, timeout = 60_000): Promise<void> {
      try {
        await page.waitForSelector(selector, { timeout, state: 'attached' });
      } catch (error) {
        await page.screenshot({ path: screenshotPath('timeout') }).catch(() => undefined);
        throw new Error(`${selector} did not appear: ${(error as Error).message}${consoleTail()}`);
      }
    }

    async function useBackend(id: BackendId | 'auto'): Promise<string> {
      await waitFor('#backend-picker:not(.busy)');
      await page.click(`label[data-backend="${id}"]`);
      await waitFor('#active-backend[data-state="ready"], #active-backend[data-state="error"]', 120_000);
      const status = page.locator('#active-backend');
      expect(
        await status.getAttribute('data-state'),
        `${id} failed: ${await page.textContent('#banner')}`,
      ).toBe('ready');
      return (await status.getAttribute('data-id'))!;
    }

    /**
     * Fills the prompt form (greedy by default), runs the compressed model and, with `compare`, the fp32
     * original after it, and returns the ids each column shows.
     */
    async function run(
      tokens: number,
      compare = true,
      sampling = { temperature: 0, seed: 0 },
    ): Promise<{ compressed: number[]; reference: number[] }> {
      await page.fill('#prompt', PROMPT);
      await page.fill('#max-tokens', String(tokens));
      await page.fill('#temperature', String(sampling.temperature));
      await page.fill('#seed', String(sampling.seed));
      await page.setChecked('#compare', compare);
      await waitFor('#run:not([disabled])');
      await page.click('#run');
      await waitFor('#run:not([disabled])', 180_000);
      const ids = async (slot: Slot) => {
        if (slot === 'reference' && !compare) return [];
        const output = page.locator(`.output[data-slot="${slot}"]`);
        const state = await output.getAttribute('data-state');
        if (state !== 'done')
          throw new Error(`${slot} run ended in ${state}: ${await output.textContent()}${consoleTail()}`);
        const text = (await output.getAttribute('data-ids')) ?? '';
        return text === '' ? [] : text.split(',').map(Number);
      };
      return { compressed: await ids('compressed'), reference: await ids('reference') };
    }

    beforeAll(async () => {
      const [started, launched] = await Promise.all([startPreview(), launchChromium()]);
      server = started;
      browser = launched;
      for (const tokens of new Set([...Object.values(TOKENS), 4])) {
        expected.set(`compressed/${tokens}`, await nodeGeneratedIds('sotu-3m-dbf', PROMPT, tokens));
        expected.set(`reference/${tokens}`, await nodeGeneratedIds('sotu-3m', PROMPT, tokens));
      }
      expected.set('sampled', await nodeGeneratedIds('sotu-3m-dbf', PROMPT, 24, SAMPLING));
      page = await browser.newPage({ viewport: { width: 1180, height: 1100 } });
      page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
      await page.goto(`${server.url}?debug`);
      await waitFor('#active-backend[data-state="ready"]', 120_000);
      await waitFor('.model-card[data-slot="compressed"][data-state="ready"]', 120_000);
      await waitFor('.model-card[data-slot="reference"][data-state="ready"]', 120_000);
      available = { webgpu: false, wasm: false, cpu: false };
      for (const id of ['webgpu', 'wasm', 'cpu'] as const)
        available[id] = (await page.locator(`#backend-${id}`).getAttribute('disabled')) === null;
    }, 300_000);

    afterAll(async () => {
      await browser?.close().catch(() => undefined);
      await server?.close().catch(() => undefined);
      rmSync(scratch, { recursive: true, force: true });
    });

    it('loads: cross-origin isolated, backends probed, both bundled models with their facts', async () => {
      expect(await page.getAttribute('#env', 'data-isolated')).toBe('true');
      expect(await page.locator('#backend-picker label').count()).toBe(4);
      // The JS backend runs everywhere and WASM SIMD in any current Chromium.
      expect(available.cpu && available.wasm).toBe(true);
      // With SwiftShader, WebGPU is there (headless Debian chromium + --enable-unsafe-webgpu); CI must have it.
      if (process.env.CI)
        expect(available.webgpu, `${await page.textContent('[data-backend="webgpu"]')}`).toBe(true);
      const compressedFacts = await page.textContent('.model-card[data-slot="compressed"] .facts');
      expect(compressedFacts).toMatch(/6 layers/);
      expect(compressedFacts).toMatch(/42 of 42 · DBF · k = \d+/);
      expect(compressedFacts).toMatch(/\d\.\d\d in compressed linears/);
      expect(await page.textContent('.model-card[data-slot="reference"] .facts')).toMatch(/42 dense/);
      expect(await page.textContent('.model-card[data-slot="compressed"] .size-label')).toMatch(/% of fp32/);
      expect(await page.locator('.error').count()).toBe(0);
      await page.screenshot({ path: screenshotPath('01-loaded'), fullPage: true });
    });

    it('auto picks the best usable backend and says which', async () => {
      const id = await useBackend('auto');
      // A software GPU adapter is not "best": auto goes to WASM then.
      expect(['webgpu', 'wasm']).toContain(id);
      expect(await page.textContent('#active-backend')).toContain('auto chose');
    });

    for (const id of ['cpu', 'wasm', 'webgpu'] as const) {
      it(`${id}: greedy tokens of both models match the Node runtime's`, async (context) => {
        if (!available[id]) {
          if (process.env.CI && id !== 'webgpu') throw new Error(`${id} should be available in CI`);
          context.skip();
        }
        expect(expectedIds('compressed', TOKENS[id])).toHaveLength(TOKENS[id]);
        expect(await useBackend(id)).toBe(id);
        const got = await run(TOKENS[id]);
        expect(got.compressed).toEqual(expectedIds('compressed', TOKENS[id]));
        expect(got.reference).toEqual(expectedIds('reference', TOKENS[id]));
        const stats = await page.textContent('.output[data-slot="compressed"] .stats');
        expect(stats).toMatch(/time to first token/);
        expect(stats).toMatch(/tokens\/s/);
        if (id === 'wasm') {
          // Cross-origin isolated: the WASM backend runs on worker threads (when the machine has 2+ cores).
          const cores = await page.evaluate(() => navigator.hardwareConcurrency);
          if (cores > 1) expect(await page.textContent('#active-backend')).toMatch(/\d+ threads/);
        }
        await page.screenshot({ path: screenshotPath(`02-${id}`), fullPage: true });
      });
    }

    it('a lost WebGPU device is reported with a way to recover', async (context) => {
      if (!available.webgpu) context.skip();
      await useBackend('webgpu');
      await page.click('#simulate-device-loss');
      await waitFor('#banner:not([hidden])');
      expect(await page.getAttribute('#banner', 'data-kind')).toBe('device-lost');
      expect(await page.textContent('#banner')).toMatch(/device was lost/i);
      expect(await page.getAttribute('#active-backend', 'data-state')).toBe('error');
      await page.screenshot({ path: screenshotPath('03-device-lost'), fullPage: true });
      await page.click('#banner button:has-text("Re-create")');
      await waitFor('#active-backend[data-state="ready"][data-id="webgpu"]', 120_000);
      expect((await run(4, false)).compressed).toEqual(expectedIds('compressed', 4));
    });

    it("sampling with a temperature and seed gives the Node runtime's tokens (JS backend)", async () => {
      expect(await useBackend('cpu')).toBe('cpu');
      const got = await run(24, false, { temperature: SAMPLING.temperature, seed: SAMPLING.seed });
      const sampled = expected.get('sampled')!;
      expect(got.compressed).toEqual(sampled);
      // Not the greedy continuation: the seed and temperature reached the sampler.
      expect(sampled).not.toEqual(expectedIds('compressed', 24));
    });

    it('switches backends back and forth without reloading, with the same tokens', async () => {
      for (const id of ['wasm', 'cpu', 'wasm'] as const) {
        expect(await useBackend(id)).toBe(id);
        expect(await page.textContent('#active-backend')).not.toContain('auto chose');
        const got = await run(TOKENS[id], false);
        expect(got.compressed).toEqual(expectedIds('compressed', TOKENS[id]));
        expect(await page.getAttribute('.output[data-slot="reference"]', 'data-state')).toBe('idle');
        expect(await page.textContent('.output[data-slot="compressed"] .stats')).toMatch(
          new RegExp({ cpu: 'JS', wasm: 'WASM', webgpu: 'WebGPU' }[id]),
        );
      }
    });

    it('a broken model file shows an error message, not a blank page', async () => {
      const files = servedModel('sotu-3m-dbf');
      const dir = join(scratch, 'broken');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), files['config.json']!);
      writeFileSync(join(dir, 'tokenizer.model'), files['tokenizer.model']!);
      // A truncated file: a valid start, but its header promises more bytes than there are.
      writeFileSync(join(dir, 'model.safetensors'), files['model.safetensors']!.subarray(0, 4096));
      await page.setInputFiles(
        '#pick-files-compressed',
        ['config.json', 'model.safetensors', 'tokenizer.model'].map((n) => join(dir, n)),
      );
      await waitFor('.model-card[data-slot="compressed"][data-state="error"]');
      const card = page.locator('.model-card[data-slot="compressed"] .error');
      expect(await card.isVisible()).toBe(true);
      const text = (await card.textContent()) ?? '';
      expect(text).toContain('could not be loaded');
      expect(text).toContain('model.safetensors');
      // The rest of the page is still there and usable; generation waits for a model.
      expect(await page.locator('.model-card[data-slot="reference"][data-state="ready"]').count()).toBe(1);
      expect(await page.locator('#run').isDisabled()).toBe(true);
      await page.screenshot({ path: screenshotPath('04-broken-model'), fullPage: true });

      // A folder without config.json is explained too.
      rmSync(join(dir, 'config.json'));
      await page.setInputFiles('#pick-files-compressed', [join(dir, 'tokenizer.model')]);
      await waitFor('.model-card[data-slot="compressed"][data-state="error"]');
      expect(await card.textContent()).toContain('config.json');
    });

    it('loads a model folder the user picks', async () => {
      // The compressed model, picked as a folder (webkitdirectory) from a copy on disk.
      const dir = join(scratch, 'picked-model');
      mkdirSync(dir, { recursive: true });
      for (const [name, bytes] of Object.entries(servedModel('sotu-3m-dbf')))
        writeFileSync(join(dir, name), bytes);
      await useBackend('wasm');
      await page.setInputFiles('#pick-folder-compressed', dir);
      await waitFor('.model-card[data-slot="compressed"][data-state="ready"]');
      expect(await page.textContent('.model-card[data-slot="compressed"] .source')).toContain('picked-model');
      expect(await page.textContent('.model-card[data-slot="compressed"] .facts')).toMatch(/42 of 42/);
      expect((await run(TOKENS.wasm, false)).compressed).toEqual(expectedIds('compressed', TOKENS.wasm));
    });
  },
);
