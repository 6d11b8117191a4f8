// Builds the console into the server crate, where `build.rs` embeds it. The output is
// committed and must be reproducible: `scripts/test` rebuilds it and fails on any difference.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    outDir: '../crates/pyth-on-server/console-dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // No data: URLs (the CSP allows images from this origin only) and no source maps.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    // The polyfill would be inline-able code for old browsers; every target supports modulepreload.
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
});
