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

// Bootstrap's stylesheet for the server's HTML pages (estgeo.publish.pages), without the
// source-map comment (the map is not shipped, and a browser's tools would ask for it).
const bs = JSON.parse(readFileSync("node_modules/bootstrap/package.json", "utf8"));
const bsTarget = "static/vendor/bootstrap";
mkdirSync(bsTarget, { recursive: true });
const css = readFileSync("node_modules/bootstrap/dist/css/bootstrap.min.css", "utf8").replace(/\n?\/\*# sourceMappingURL=.*?\*\/\s*$/, "\n");
writeFileSync(`${bsTarget}/bootstrap.min.css`, css);
copyFileSync("node_modules/bootstrap/LICENSE", `${bsTarget}/LICENSE`);
writeFileSync(`${bsTarget}/VERSION`, `${bs.version}\n`);
console.log(`vendored bootstrap ${bs.version} into ${bsTarget}`);
