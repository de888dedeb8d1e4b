import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { kernelConformanceCases } from '@dbf/conformance';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageResults } from './browser/page';

// The conformance suite again, in real headless Chromium with navigator.gpu (SwiftShader): the page is
// bundled with esbuild, served from 127.0.0.1 (a secure context) and driven by playwright-core.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI)
  throw new Error(
    `The browser test must run in CI, but ${CHROMIUM} does not exist (apt-get install chromium, or set CHROMIUM_PATH).`,
  );

const ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
];

const CHAIN_CASE = 'chain/two layers in one submission match plain calls';

async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./browser/page.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@dbf/source'],
    logLevel: 'silent',
    plugins: [
      {
        // @dbf/conformance's vitest front end is not used by the page; keep vitest out of the bundle.
        name: 'stub-vitest',
        setup(b) {
          b.onResolve({ filter: /^vitest$/ }, () => ({ path: 'vitest', namespace: 'stub' }));
          b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
            contents:
              'const fail = () => { throw new Error("vitest is not available in the page"); }; export const describe = fail, it = fail, beforeAll = fail, afterAll = fail;',
          }));
        },
      },
    ],
  });
  return result.outputFiles[0]!.text;
}

function serve(script: string): Promise<Server> {
  const html =
    '<!doctype html><meta charset="utf-8"><title>dbf webgpu conformance</title><script type="module" src="/page.js"></script>';
  const server = createServer((request, response) => {
    if (request.url === '/page.js')
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (request.url === '/') response.writeHead(200, { 'content-type': 'text/html' }).end(html);
    else response.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!haveChromium)(
  `kernel conformance in headless Chromium${haveChromium ? '' : ` [skipped: ${CHROMIUM} not found]`}`,
  () => {
    let browser: Browser | undefined;
    let server: Server | undefined;
    let page: PageResults;
    const logs: string[] = [];

    beforeAll(async () => {
      const [script, started] = await Promise.all([
        bundlePage(),
        chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS }),
      ]);
      browser = started;
      server = await serve(script);
      const tab = await browser.newPage();
      tab.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
      tab.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
      await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await tab.waitForFunction(
        () => (window as unknown as { __dbfResults?: unknown }).__dbfResults !== undefined,
        undefined,
        { timeout: 170_000 },
      );
      page = await tab.evaluate(() => (window as unknown as { __dbfResults: PageResults }).__dbfResults);
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    });

    it('the page gets a WebGPU adapter through navigator.gpu and runs to the end', () => {
      expect(page.fatal, `page crashed; console:\n${logs.join('\n')}`).toBeUndefined();
      expect(page.availability).toEqual({ available: true });
      expect(page.description).toMatch(/^WebGPU on /);
      expect(page.results.map((r) => r.name)).toEqual([
        ...kernelConformanceCases().map((c) => c.name),
        CHAIN_CASE,
      ]);
    });

    for (const name of [...kernelConformanceCases().map((c) => c.name), CHAIN_CASE]) {
      it(name, () => {
        const result = page.results.find((r) => r.name === name);
        if (!result) throw new Error(`no result for ${name} (the page stopped early?)`);
        if (result.status !== 'pass') throw new Error(result.error ?? result.status);
      });
    }
  },
);
