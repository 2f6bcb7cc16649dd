// No framework plugin: esbuild compiles the JSX for Preact (tsconfig's jsxImportSource), and the console
// reads its settings at run time from /config.json, so one build serves every deployment.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig } from "vite";

// `npm run dev` serves the file `effekt up` writes (or EFFEKT_CONSOLE_CONFIG) as /config.json.
const devConfig = process.env.EFFEKT_CONSOLE_CONFIG ?? resolve(__dirname, "../../.effekt/partner-console.json");

export default defineConfig({
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 5173, strictPort: true },
  build: { target: "es2022", assetsInlineLimit: 0 },
  plugins: [
    {
      name: "effekt-dev-config",
      configureServer(server) {
        server.middlewares.use("/config.json", (_req, res) => {
          try {
            res.setHeader("Content-Type", "application/json");
            res.end(readFileSync(devConfig));
          } catch {
            res.statusCode = 404;
            res.end(JSON.stringify({ error: `no ${devConfig}: run \`effekt up\` first` }));
          }
        });
      },
    },
  ],
});
