import { defineConfig } from "vite";

export default defineConfig({
  // `vite dev` pre-bundles dependencies into one file, which would lose the wasm file next
  // to webkad.js (it is loaded with `new URL("webkad_bg.wasm", import.meta.url)`).
  optimizeDeps: { exclude: ["webkad"] },
  server: {
    host: "127.0.0.1",
    // Under `vite dev`, /api/ goes to a node running `webkad serve --http 127.0.0.1:8080`.
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  build: { target: "es2022" },
});
