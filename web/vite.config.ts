import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// The portal is served by Latchkey itself under a strict CSP (no inline script or style),
// so the build must emit only external files.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  server: { proxy: { "/v1": "http://127.0.0.1:8080" } },
});
