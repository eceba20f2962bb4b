// Copy MapLibre GL JS's browser build from node_modules into static/vendor/maplibre-gl,
// where estgeo serves it from (no CDN, no Node on the server). Run after `npm ci`.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync("node_modules/maplibre-gl/package.json", "utf8"));
const target = "static/vendor/maplibre-gl";
mkdirSync(target, { recursive: true });
for (const file of ["dist/maplibre-gl.mjs", "dist/maplibre-gl-worker.mjs", "dist/maplibre-gl.css", "LICENSE.txt"]) {
  copyFileSync(`node_modules/maplibre-gl/${file}`, `${target}/${file.split("/").pop()}`);
}
writeFileSync(`${target}/VERSION`, `${pkg.version}\n`);
console.log(`vendored maplibre-gl ${pkg.version} into ${target}`);
