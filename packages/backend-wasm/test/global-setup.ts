import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Compiles the kernel module (a no-op when it is up to date) before any test imports it. */
export default function setup(): void {
  const script = fileURLToPath(new URL('../scripts/build-wasm.mjs', import.meta.url));
  execFileSync(process.execPath, [script], { stdio: 'inherit' });
}
