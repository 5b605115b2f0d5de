// The Access tokens page (src/web) is built by Vite into dist/web: the server serves
// dist/web/index.html on every page URL and dist/web/assets/* (hashed names) under /account/assets/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'src/web',
  base: '/account/',
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
});
