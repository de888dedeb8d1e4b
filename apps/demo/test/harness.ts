import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpu } from '@dbf/backend-cpu';
import { generate, LlamaModel, loadHfModel, memoryFiles } from '@dbf/llm';
import { type Browser, chromium } from 'playwright-core';
import { preview } from 'vite';

export const DEMO_DIR = fileURLToPath(new URL('..', import.meta.url));
export const OUTPUT_DIR = join(DEMO_DIR, 'test-output');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Flags from toolchain.md §3b: WebGPU needs --enable-unsafe-webgpu in headless Debian chromium. */
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

export interface DemoServer {
  readonly url: string;
  close(): Promise<void>;
}

/** `vite preview` of the built page on a free loopback port (loopback counts as a secure context). */
export async function startPreview(): Promise<DemoServer> {
  const server = await preview({
    root: DEMO_DIR,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false },
  });
  const address = server.httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () => server.close(),
  };
}

export async function launchChromium(): Promise<Browser> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  // SwiftShader's Vulkan driver ships with Debian's chromium; point the loader at it when it is there.
  if (!env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, env, timeout: 60_000 });
}

export function screenshotPath(name: string): string {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  return join(OUTPUT_DIR, `${name}.png`);
}

/** The files of a served model folder (what the page fetches), from the build output. */
export function servedModel(folder: string): Record<string, Uint8Array> {
  const dir = join(DEMO_DIR, 'dist/models', folder);
  const files: Record<string, Uint8Array> = {};
  for (const name of ['config.json', 'model.safetensors', 'tokenizer.model'])
    files[name] = new Uint8Array(readFileSync(join(dir, name)));
  return files;
}

/**
 * The reference the page must reproduce: generation in this Node process with @dbf/llm on the CPU
 * backend, from the same files the page is served. An independent path: no browser, no worker, no
 * WebGPU/WASM kernels. Greedy unless `sampling` is given (the page samples with top-p 0.9).
 */
export async function nodeGeneratedIds(
  folder: string,
  prompt: string,
  maxTokens: number,
  sampling: { temperature: number; topP: number; seed: number } = { temperature: 0, topP: 1, seed: 0 },
): Promise<number[]> {
  const loaded = await loadHfModel(memoryFiles(servedModel(folder), folder));
  const backend = await cpu().create();
  try {
    const model = await LlamaModel.create(loaded.weights, backend);
    const result = await generate(model, loaded.tokenizer!, prompt, { maxTokens, ...sampling });
    model.dispose();
    return result.ids;
  } finally {
    await backend.dispose();
  }
}
