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

// Swagger UI and ReDoc for the API description pages (/openapi?f=html, &ui=redoc), which
// pygeoapi's templates load from unpkg and jsDelivr; without the source-map comments.
const strip = (text) => text.replace(/\n?\/\/# sourceMappingURL=.*\s*$/, "\n").replace(/\n?\/\*# sourceMappingURL=.*?\*\/\s*$/, "\n");
const sw = JSON.parse(readFileSync("node_modules/swagger-ui-dist/package.json", "utf8"));
const swTarget = "static/vendor/swagger-ui";
mkdirSync(swTarget, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"]) {
  writeFileSync(`${swTarget}/${file}`, strip(readFileSync(`node_modules/swagger-ui-dist/${file}`, "utf8")));
}
copyFileSync("node_modules/swagger-ui-dist/LICENSE", `${swTarget}/LICENSE`);
writeFileSync(`${swTarget}/VERSION`, `${sw.version}\n`);
console.log(`vendored swagger-ui-dist ${sw.version} into ${swTarget}`);
const rd = JSON.parse(readFileSync("node_modules/redoc/package.json", "utf8"));
const rdTarget = "static/vendor/redoc";
mkdirSync(rdTarget, { recursive: true });
// ReDoc's "powered by" footer shows a logo from cdn.redoc.ly: an empty image instead.
const BLANK = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
writeFileSync(`${rdTarget}/redoc.standalone.js`,
  strip(readFileSync("node_modules/redoc/bundles/redoc.standalone.js", "utf8")).replaceAll("https://cdn.redoc.ly/redoc/logo-mini.svg", BLANK));
copyFileSync("node_modules/redoc/LICENSE", `${rdTarget}/LICENSE`);
writeFileSync(`${rdTarget}/VERSION`, `${rd.version}\n`);
console.log(`vendored redoc ${rd.version} into ${rdTarget}`);
