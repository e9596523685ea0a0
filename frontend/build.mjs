// Bundle the browser assets into src/kefu/web/static/build (no CDN at run time).
import { build } from "esbuild";
import { mkdirSync } from "node:fs";

const outdir = "src/kefu/web/static/build";
mkdirSync(outdir, { recursive: true });

await build({
  entryPoints: {
    app: "frontend/app.js",
    charts: "frontend/charts.js",
    "app-style": "frontend/app.css",
    workorders: "frontend/workorders.js",
    "workorders-style": "frontend/workorders.css",
    alerts: "frontend/alerts.js",
    "alerts-style": "frontend/alerts.css",
    desktop: "frontend/desktop.js",
    wallboard: "frontend/wallboard.js",
    "calls-style": "frontend/calls.css",
  },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "iife",
  target: ["es2020"],
  outdir,
  entryNames: "[name]",
  logLevel: "info",
  legalComments: "none",
});
