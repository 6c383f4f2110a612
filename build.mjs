// Bundles the TypeScript entry points in static/src into static/build with esbuild (no CDN).
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";

const entryPoints = readdirSync("static/src")
  .filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts") && !name.startsWith("_"))
  .map((name) => `static/src/${name}`);

const options = {
  entryPoints,
  bundle: true,
  format: "esm",
  target: ["es2020"],
  outdir: "static/build",
  sourcemap: true,
  minify: !process.argv.includes("--watch"),
  logLevel: "warning",
};

if (process.argv.includes("--watch")) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
