import { defaultClientConditions, defineConfig } from 'vite';

/**
 * Cross-origin isolation (COOP + COEP) makes `SharedArrayBuffer` available, which the WASM backend needs
 * for its worker threads. Both the dev server and `vite preview` send the headers; a production host
 * must send them too (see README).
 */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  // Workspace packages are bundled from their TypeScript sources (the `@dbf/source` export condition):
  // edits to a kernel reload the dev page, and the build never depends on another package's dist/.
  resolve: { conditions: ['@dbf/source', ...defaultClientConditions] },
  // No SPA fallback: a missing model file must be a 404, not index.html with status 200.
  appType: 'mpa',
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  // The engine worker imports the backends, which split into chunks: ES module workers allow that.
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 1024 },
});
