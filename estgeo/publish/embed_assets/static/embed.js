// estgeo's embeddable map. The server writes the page's configuration into
// <script id="estgeo-config"> (estgeo/publish/embed.py): the layers with their tile or
// GeoJSON sources, the density's periods and class breaks, texts and code labels.
// Colours are readable with colour-vision deficiencies: reversed viridis for counts,
// PuOr (diverging) for change, RdBu for hot/cold spots, Okabe–Ito for categories.

const cfg = JSON.parse(document.getElementById("estgeo-config").textContent);
const timings = { script: performance.now() };
const maplibregl = await import(cfg.maplibre);
timings.maplibre = performance.now();
const T = cfg.messages;
const L = cfg.labels;

// Palettes -------------------------------------------------------------------------------
// From the one style source (layers/*.yml `style:`, estgeo/styles.py), as the QGIS
// project and the report colour the same properties.
const colours = (style) => Object.fromEntries(Object.entries(style.categories).map(([code, spec]) => [code, spec.colour]));
const VIRIDIS_R = cfg.styles.count.palette;
const PUOR = cfg.styles.change.palette;
const HOTSPOT = colours(cfg.styles.gi_bin);
const SUPPRESSED = cfg.styles.count.withheld;
const WALK_STATUS = colours(cfg.styles.walk_status);
const LAMP_STATUS = colours(cfg.styles.lamp_status);
const GENERIC = "#7570b3";
const CIVIDIS_R = ["#fee838", "#c8b866", "#948e77", "#4f5b6e", "#00224e"];
const INDEX_BREAKS = [20, 40, 60, 80];
const GAP_CAUSE = colours(cfg.styles.gap_cause);
const DRAW_ORDER = ["outline", "streets", "lighting-insecurity", "density", "dark-gaps", "hotspots", "walks", "generic",
  "street-lights", "lamps-out", "unsafe-places"];

// Helpers --------------------------------------------------------------------------------
const absolute = (path) => location.origin + cfg.base + path; // keeps {z}/{x}/{y} unescaped
const text = (key, vars = {}) => (T[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
};
const LOCALE = cfg.lang === "sv" ? "sv-SE" : "en-GB";
const number = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
const isNumber = (name) => ["==", ["typeof", ["get", name]], "number"];

// State ----------------------------------------------------------------------------------
const density = cfg.density;
const periods = density ? density.periods : {};
const kinds = Object.keys(periods);
const state = {
  visible: Object.fromEntries(cfg.layers.map((layer) => [layer.id, true])),
  periodKind: kinds.includes(cfg.period_kind) ? cfg.period_kind : kinds[0],
  period: null,
  light: cfg.light,
  group: "all",
  mode: "count",
  resolution: density ? density.resolutions.includes(9) ? 9 : density.resolutions[0] : null,
  basemap: cfg.basemap ? "trying" : "none",
};
const defaultPeriod = (kind) => {
  const list = periods[kind] || [];
  return (list.find((p) => p.complete) || list[0] || {}).period ?? null;
};
state.period = defaultPeriod(state.periodKind);
// The view in the URL: what the query string says (the server reads `period`, `light` and
// `layers` for the first view; `at`, `mode` and `hidden` are the page's own) and where
// the map is in the hash (#view=zoom/lat/lon, MapLibre's), so a link shows the same map.
const asked = new URLSearchParams(location.search);
// Read before the map exists: MapLibre writes its own view into the hash at once.
const linkedView = /(^|[#&])view=/.test(location.hash);
if ((periods[state.periodKind] || []).some((p) => p.period === asked.get("at"))) state.period = asked.get("at");
if (asked.get("mode") === "change") state.mode = "change";
if ((density?.groups || []).includes(asked.get("group"))) state.group = asked.get("group");
for (const id of (asked.get("hidden") || "").split(",")) if (id in state.visible) state.visible[id] = false;
function writeUrl() {
  const url = new URL(location.href);
  const q = url.searchParams;
  if (state.periodKind) q.set("period", state.periodKind);
  if (state.period && state.period !== defaultPeriod(state.periodKind)) q.set("at", state.period); else q.delete("at");
  if (state.light !== "all") q.set("light", state.light); else q.delete("light");
  if (state.mode === "change") q.set("mode", "change"); else q.delete("mode");
  if (state.group !== "all") q.set("group", state.group); else q.delete("group");
  const hidden = Object.keys(state.visible).filter((id) => !state.visible[id]);
  if (hidden.length) q.set("hidden", hidden.join(",")); else q.delete("hidden");
  history.replaceState(history.state, "", url);
}
// What the density is coloured by: one category group's counts, or all incidents in a light.
const measure = () => state.group !== "all" ? `grp_${state.group}`
  : ({ all: "count", daylight: "light_daylight", darkness: "light_darkness" })[state.light] || "count";

// Map ------------------------------------------------------------------------------------
const locale = Object.fromEntries(Object.entries(T).filter(([k]) => k.startsWith("ml.")).map(([k, v]) => [k.slice(3), v]));
const style = { version: 8, sources: {}, glyphs: `${location.origin}${cfg.base}/embed/glyphs/{fontstack}/{range}.pbf`, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0ec" } }] };
if (cfg.basemap) {
  style.sources.basemap = { type: "raster", tiles: [cfg.basemap.url], tileSize: 256, attribution: cfg.basemap.attribution };
  style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
}
const map = new maplibregl.Map({
  container: "map",
  style,
  center: cfg.center,
  zoom: cfg.zoom,
  locale,
  attributionControl: { compact: true, customAttribution: `© ${cfg.municipality} · estgeo` },
  maxPitch: 0,
  dragRotate: false,
  hash: "view",
});
map.touchZoomRotate.disableRotation();
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
map.addControl(new maplibregl.FullscreenControl(), "top-right");
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
map.getCanvas().setAttribute("aria-label", text("map_label"));

window.estgeo = { map, state, timings, config: cfg, ready: false };

// Sources and style layers ----------------------------------------------------------------
const entries = [...cfg.context, ...cfg.layers].sort((a, b) => DRAW_ORDER.indexOf(a.kind) - DRAW_ORDER.indexOf(b.kind));
const styleLayers = {}; // embed layer id → {tiles|json: its MapLibre layer ids}
const interactive = {}; // MapLibre layer id → embed layer

function geojsonUrl(layer) {
  let url = layer.kind === "hotspots" && layer.source.period_items ? layer.source.period_items : layer.source.items;
  if (["density", "hotspots"].includes(layer.kind) && state.period) {
    url += `&period_kind=${encodeURIComponent(state.periodKind)}&period=${encodeURIComponent(state.period)}`;
  }
  return absolute(url);
}

// Tiles hold the latest complete period of each kind; any other period of the density is
// read as GeoJSON from /items, and so are its hot spots (the density's Gi* bins of that
// period), so the hot spots follow the period picked. Each variant has its own source
// and style layers.
const periodic = (layer) => layer.kind === "density" || (layer.kind === "hotspots" && Boolean(layer.source.period_items));
const tiled = (layer) => Boolean(layer.source.tiles) && (!periodic(layer) || state.period === defaultPeriod(state.periodKind));
const variantsOf = (layer) => layer.source.tiles ? (periodic(layer) ? ["tiles", "json"] : ["tiles"]) : ["json"];
const activeVariant = (layer) => tiled(layer) ? "tiles" : "json";
const emptyCollection = { type: "FeatureCollection", features: [] };

function addSource(layer, variant) {
  const id = `src-${layer.id}-${variant}`;
  if (variant === "tiles") {
    const { minzoom, maxzoom, bounds } = layer.source;
    map.addSource(id, { type: "vector", tiles: [absolute(layer.source.tiles)], minzoom, maxzoom, ...(bounds ? { bounds } : {}) });
  } else {
    map.addSource(id, { type: "geojson", data: activeVariant(layer) === "json" ? geojsonUrl(layer) : emptyCollection });
  }
  return id;
}

function countColour() {
  const m = measure();
  const byResolution = (res) => {
    const breaks = density?.breaks?.[state.periodKind]?.[res]?.[m] || [];
    if (!breaks.length) return VIRIDIS_R[0]; // one class: every published count alike
    const expr = ["step", ["get", m], VIRIDIS_R[0]];
    breaks.slice(0, VIRIDIS_R.length - 1).forEach((b, i) => expr.push(b, VIRIDIS_R[i + 1]));
    return expr;
  };
  return ["case", ["!", isNumber(m)], SUPPRESSED, ["<=", ["get", m], 0], "rgba(0,0,0,0)", perResolution(byResolution)];
}

function changeColour() {
  const byResolution = (res) => {
    const [b, c] = density?.breaks?.[state.periodKind]?.[res]?.change || [2, 3];
    return ["step", ["get", "change"], PUOR[0], -c + 1, PUOR[1], -b + 1, PUOR[2], 0, PUOR[3], 1, PUOR[4], b, PUOR[5], c, PUOR[6]];
  };
  return ["case", ["!", isNumber("change")], "rgba(0,0,0,0)", perResolution(byResolution)];
}

function perResolution(build) {
  const resolutions = density?.resolutions || [9];
  if (resolutions.length === 1) return build(resolutions[0]);
  const expr = ["match", ["to-number", ["get", "resolution"]]];
  for (const res of resolutions) expr.push(res, build(res));
  expr.push(build(state.resolution ?? resolutions[0]));
  return expr;
}

// Withheld cells stay faint: they say "something, but fewer than the threshold".
const densityOpacity = () => ["case", ["!", isNumber(state.mode === "change" ? "change" : measure())], 0.3, 0.82];
const periodFilter = () => ["all", ["==", ["get", "period_kind"], state.periodKind], ["==", ["get", "period"], state.period ?? ""]];
const hotspotFilter = () => ["all", ["==", ["get", "period_kind"], state.periodKind], ["!=", ["to-number", ["get", "gi_bin"], 0], 0]];
// Over the density, hot spots are outlines only (two fills would mix their colours).
const hotspotFillOpacity = () => cfg.layers.some((l) => l.kind === "density" && state.visible[l.id]) ? 0 : 0.45;
const hotspotColour = ["match", ["to-number", ["get", "gi_bin"], 0], ...Object.entries(HOTSPOT).flatMap(([k, v]) => [Number(k), v]), "rgba(0,0,0,0)"];

function layersFor(layer, source, variant) {
  const base = { source, ...(variant === "tiles" ? { "source-layer": layer.source.layer } : {}) };
  const id = (suffix) => `${layer.id}-${variant}-${suffix}`;
  switch (layer.kind) {
    case "outline":
      return [{ id: id("line"), type: "line", ...base, paint: { "line-color": "#4d4d4d", "line-width": 1.6, "line-dasharray": [4, 2] } }];
    case "streets": {
      const vis = { visibility: state.basemap === "ok" ? "none" : "visible" };
      return [
        { id: id("casing"), type: "line", ...base, filter: ["!=", ["get", "kind"], "gcvag"], layout: { ...vis, "line-join": "round" },
          paint: { "line-color": "#c4c4bc", "line-width": ["interpolate", ["linear"], ["zoom"], 12, 1.5, 16, 7] } },
        { id: id("line"), type: "line", ...base, filter: ["!=", ["get", "kind"], "gcvag"], layout: { ...vis, "line-join": "round" },
          paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 12, ["match", ["get", "kind"], "huvudgata", 1.2, 0.6], 16, ["match", ["get", "kind"], "huvudgata", 5, 3.5]] } },
        { id: id("path"), type: "line", ...base, filter: ["==", ["get", "kind"], "gcvag"], layout: vis,
          paint: { "line-color": "#8c8c84", "line-width": 1, "line-dasharray": [2, 2] } },
      ];
    }
    case "density":
      return [
        { id: id("fill"), type: "fill", ...base, filter: periodFilter(), paint: { "fill-color": state.mode === "change" ? changeColour() : countColour(), "fill-opacity": densityOpacity() } },
        { id: id("edge"), type: "line", ...base, filter: periodFilter(), paint: { "line-color": "rgba(255,255,255,0.7)", "line-width": 0.5 } },
      ];
    case "hotspots":
      return [
        { id: id("fill"), type: "fill", ...base, filter: hotspotFilter(), paint: { "fill-color": hotspotColour, "fill-opacity": hotspotFillOpacity() } },
        { id: id("line"), type: "line", ...base, filter: hotspotFilter(), layout: { "line-join": "round" }, paint: { "line-color": hotspotColour, "line-width": 2.5 } },
      ];
    case "unsafe-places":
      return [{
        id: id("circle"), type: "circle", ...base,
        layout: { "circle-sort-key": ["case", ["to-boolean", ["get", "open"]], 1, 0] },
        paint: {
          "circle-color": ["match", ["get", "status"], ...Object.entries(WALK_STATUS).flat(), GENERIC],
          "circle-radius": ["case", ["to-boolean", ["get", "lighting_problem"]], 8, 5.5],
          "circle-stroke-color": "#1a1a1a",
          "circle-stroke-width": ["case", ["to-boolean", ["get", "lighting_problem"]], 2, 1],
        },
      }];
    case "street-lights":
      return [
        { id: id("lit"), type: "circle", ...base, minzoom: 14, filter: ["==", ["get", "status"], "tand"],
          paint: { "circle-color": LAMP_STATUS.tand, "circle-radius": 2.5, "circle-stroke-color": "#4d4d4d", "circle-stroke-width": 0.6 } },
        { id: id("out"), type: "circle", ...base, filter: ["!=", ["get", "status"], "tand"],
          layout: { "circle-sort-key": ["match", ["get", "status"], "slackt", 2, 1] },
          paint: {
            "circle-color": ["match", ["get", "status"], "slackt", LAMP_STATUS.slackt, LAMP_STATUS.fel],
            "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 2.5, 15, ["match", ["get", "status"], "slackt", 6, 4.5]],
            "circle-stroke-color": "#000000", "circle-stroke-width": 1,
          } },
      ];
    case "lighting-insecurity": {
      const colour = ["step", ["to-number", ["get", "index"], 0], CIVIDIS_R[0], ...INDEX_BREAKS.flatMap((b, i) => [b, CIVIDIS_R[i + 1]])];
      return [{ id: id("fill"), type: "fill", ...base, paint: { "fill-color": ["case", isNumber("index"), colour, SUPPRESSED],
        "fill-opacity": ["case", ["!", isNumber("index")], 0.3, ["<", ["get", "index"], INDEX_BREAKS[0]], 0.3, 0.78] } }];
    }
    case "dark-gaps":
      return [
        { id: id("fill"), type: "fill", ...base, paint: { "fill-color": ["match", ["get", "cause"], ...Object.entries(GAP_CAUSE).flat(), GENERIC], "fill-opacity": 0.8 } },
        { id: id("line"), type: "line", ...base, paint: { "line-color": "#000000", "line-width": 0.8 } },
      ];
    case "lamps-out":
      return [{ id: id("circle"), type: "circle", ...base,
        layout: { "circle-sort-key": ["-", 0, ["to-number", ["get", "rank"], 9999]] },
        paint: { "circle-color": LAMP_STATUS.slackt, "circle-stroke-color": "#000000", "circle-stroke-width": 1,
          "circle-radius": ["step", ["to-number", ["get", "rank"], 9999], 8, 11, 6, 51, 4] } }];
    case "walks":
      return [{ id: id("line"), type: "line", ...base, paint: { "line-color": "#333333", "line-width": 1.5, "line-dasharray": [3, 2] } },
        { id: id("fill"), type: "fill", ...base, paint: { "fill-color": "#333333", "fill-opacity": 0.05 } }];
    default:
      return [
        { id: id("fill"), type: "fill", ...base, filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": GENERIC, "fill-opacity": 0.35 } },
        { id: id("line"), type: "line", ...base, filter: ["!=", ["geometry-type"], "Point"], paint: { "line-color": GENERIC, "line-width": 1.2 } },
        { id: id("circle"), type: "circle", ...base, filter: ["==", ["geometry-type"], "Point"],
          paint: { "circle-color": GENERIC, "circle-radius": 5, "circle-stroke-color": "#1a1a1a", "circle-stroke-width": 1 } },
      ];
  }
}

const POPUP_FIELDS = {
  density: ["period", "count", "light_daylight", "light_twilight", "light_darkness", "light_unknown", "prev_count", "change", "change_pct", "gi_bin"],
  hotspots: ["period", "count", "gi_bin", "gi_z", "hotspot_class"],
  "unsafe-places": ["walk_id", "walk_date", "light_condition", "problems", "status", "target_date", "resolved_at", "days_open",
    "overdue", "lamps_out_nearby", "nearest_lamp_m", "incidents_nearby", "incidents_nearby_dark"],
  "street-lights": ["id", "status", "lamp_type", "power_w", "flux_lm", "pole_height_m", "owner", "installed_year", "last_inspected"],
  "lighting-insecurity": ["index", "rank", "lux_mean", "lux_p10", "lux_mean_repaired", "dark_area_share", "lamps", "lamps_out",
    "dark_incidents", "dark_share", "lighting_reports_open"],
  "dark-gaps": ["rank", "cause", "area_m2", "street_length_m", "lux_mean", "lux_mean_repaired", "lamps_out", "dark_incidents",
    "lighting_reports"],
  "lamps-out": ["rank", "id", "status", "lamp_type", "dark_incidents", "lighting_reports", "lamps_out_nearby", "lux_now",
    "lux_repaired", "rank_reason"],
};
const CODE_LISTS = {
  "unsafe-places": { status: "walk_statuses", light_condition: "walk_light_conditions" },
  "street-lights": { status: "lamp_statuses", lamp_type: "lamp_types", owner: "lamp_owners" },
  "lamps-out": { status: "lamp_statuses", lamp_type: "lamp_types" },
};
const HIDDEN = new Set(["h3", "resolution", "period_kind", "period_start", "period_end", "complete", "suppressed"]);

function addLayers() {
  for (const layer of entries) {
    styleLayers[layer.id] = {};
    for (const variant of variantsOf(layer)) {
      const specs = layersFor(layer, addSource(layer, variant), variant);
      styleLayers[layer.id][variant] = specs.map((spec) => spec.id);
      for (const spec of specs) {
        spec.layout = { ...(spec.layout || {}) };
        if (spec.layout.visibility === undefined) spec.layout.visibility = shown(layer, variant) ? "visible" : "none";
        map.addLayer(spec);
        if (["fill", "circle"].includes(spec.type) && !["outline", "streets", "walks"].includes(layer.kind)) interactive[spec.id] = layer;
      }
    }
  }
  // Street names over everything else: they say where a hexagon is. Glyphs come from this
  // server (estgeo/publish/glyphs.py), drawn from DejaVu Sans.
  for (const layer of entries.filter((l) => l.kind === "streets")) {
    const variant = variantsOf(layer)[0];
    const base = { source: `src-${layer.id}-${variant}`, ...(variant === "tiles" ? { "source-layer": layer.source.layer } : {}) };
    const spec = { id: `${layer.id}-${variant}-name`, type: "symbol", ...base, minzoom: 14, filter: ["has", "namn"],
      layout: { visibility: state.basemap === "ok" ? "none" : "visible", "symbol-placement": "line", "text-field": ["get", "namn"],
        "text-font": ["DejaVu Sans"], "text-size": ["interpolate", ["linear"], ["zoom"], 14, 10, 17, 13], "text-max-angle": 30,
        "symbol-spacing": 350 },
      paint: { "text-color": "#333333", "text-halo-color": "rgba(255,255,255,0.95)", "text-halo-width": 1.6 } };
    map.addLayer(spec);
    styleLayers[layer.id][variant].push(spec.id);
  }
}

const shown = (layer, variant) => (state.visible[layer.id] ?? true) && variant === activeVariant(layer);
const allStyleLayers = (layer) => Object.values(styleLayers[layer.id] || {}).flat();
const fillLayers = (kind) => cfg.layers.filter((l) => l.kind === kind).flatMap((l) =>
  Object.entries(styleLayers[l.id] || {}).filter(([v]) => v === activeVariant(l)).flatMap(([, ids]) => ids.filter((id) => id.endsWith("-fill"))));

function applyVisibility(layer) {
  for (const [variant, ids] of Object.entries(styleLayers[layer.id] || {})) {
    for (const id of ids) {
      if (layer.kind === "streets") continue;
      map.setLayoutProperty(id, "visibility", shown(layer, variant) ? "visible" : "none");
    }
  }
}

// Controls -------------------------------------------------------------------------------
const controls = document.getElementById("controls");
controls.addEventListener("submit", (e) => e.preventDefault());
const legendItems = document.getElementById("legend-items");

function radioGroup(name, legendText, options, current, onChange) {
  return el("fieldset", {}, el("legend", {}, legendText), options.map(([value, label]) =>
    el("label", {}, el("input", { type: "radio", name, value, checked: value === current, onchange: () => onChange(value) }), label)));
}

const dayMonth = new Intl.DateTimeFormat(LOCALE, { day: "numeric", month: "short", year: "numeric" });
const monthYear = new Intl.DateTimeFormat(LOCALE, { month: "long", year: "numeric" });
const noon = (iso) => new Date(`${iso}T12:00:00`);

function periodLabel(kind, p) {
  let label;
  if (kind === "month") label = monthYear.format(noon(p.start));
  else {
    label = dayMonth.formatRange(noon(p.start), noon(p.end));
    const week = /W(\d+)$/.exec(p.period);
    if (kind === "week" && week) label = `${text("week_short")} ${Number(week[1])}: ${label}`;
  }
  // A period the data do not cover to its end (they run to the last ingest) says so; it
  // may well be over in the calendar, so it is not "ongoing".
  const dataEnd = periods.all?.[0]?.end;
  return p.complete ? label : `${label} (${text("partial", { date: dataEnd ? dayMonth.format(noon(dataEnd)) : "" })})`;
}

// The period on show, as the period picker names it.
const periodName = () => {
  const found = (periods[state.periodKind] || []).find((p) => p.period === state.period);
  return found ? periodLabel(state.periodKind, found) : "";
};

function periodOptions(select) {
  select.replaceChildren(...(periods[state.periodKind] || []).map((p) =>
    el("option", { value: p.period, selected: p.period === state.period }, periodLabel(state.periodKind, p))));
}

function buildControls() {
  controls.append(el("fieldset", { id: "layer-toggles" }, el("legend", {}, text("layers")), cfg.layers.map((layer) =>
    el("label", {}, el("input", { type: "checkbox", name: "layer", value: layer.id, checked: state.visible[layer.id],
      onchange: (e) => setVisible(layer.id, e.target.checked) }), layer.title))));
  if (kinds.length && cfg.layers.some((l) => ["density", "hotspots"].includes(l.kind))) {
    const periodSelect = el("select", { id: "period", onchange: (e) => { state.period = e.target.value; refreshDensity(); } });
    const kindSelect = el("select", { id: "period-kind", onchange: (e) => {
      state.periodKind = e.target.value;
      state.period = defaultPeriod(state.periodKind);
      periodOptions(periodSelect);
      refreshDensity();
    } }, kinds.map((k) => el("option", { value: k, selected: k === state.periodKind }, text(`period_kind_${k}`))));
    periodOptions(periodSelect);
    controls.append(el("fieldset", {}, el("legend", {}, text("period")),
      el("label", { for: "period-kind", class: "visually-hidden" }, text("period_kind")), kindSelect,
      el("label", { for: "period", class: "visually-hidden" }, text("period")), periodSelect));
  }
  if (cfg.layers.some((l) => l.kind === "density")) {
    // One category group at a time; the published counts per group are not split by light,
    // so the light switch rests while a group is chosen.
    const groups = density?.groups || [];
    if (groups.length) {
      const groupSelect = el("select", { id: "group", onchange: (e) => {
        state.group = e.target.value;
        for (const input of document.querySelectorAll("input[name=light]")) input.disabled = state.group !== "all";
        refreshDensity();
      } }, [el("option", { value: "all", selected: state.group === "all" }, text("group_all")),
        ...groups.map((g) => el("option", { value: g, selected: g === state.group }, L.category_groups?.[g] ?? g))]);
      controls.append(el("fieldset", {}, el("legend", {}, text("group")),
        el("label", { for: "group", class: "visually-hidden" }, text("group")), groupSelect));
    }
    controls.append(radioGroup("light", text("light"), [["all", text("light_all")], ["daylight", text("light_daylight")],
      ["darkness", text("light_darkness")]], state.light, (v) => { state.light = v; refreshDensity(); }));
    for (const input of controls.querySelectorAll("input[name=light]")) input.disabled = state.group !== "all";
    controls.append(radioGroup("mode", text("show"), [["count", text("mode_count")], ["change", text("mode_change")]],
      state.mode, (v) => { state.mode = v; refreshDensity(); }));
  }
  const toggle = document.getElementById("panel-toggle");
  const body = document.getElementById("panel-body");
  const setOpen = (open) => { toggle.setAttribute("aria-expanded", String(open)); body.hidden = !open; };
  toggle.addEventListener("click", () => setOpen(body.hidden));
  // In the snippet's 520 px frame and on a phone the panel starts folded, so the map and
  // the legend (its own box) are what a reader sees first.
  if (window.innerWidth < 600 || window.innerHeight < 640) setOpen(false);
  const legendToggle = document.getElementById("legend-toggle");
  const legendBody = document.getElementById("legend-body");
  legendToggle.setAttribute("title", text("legend_toggle"));
  legendToggle.addEventListener("click", () => {
    legendBody.hidden = !legendBody.hidden;
    legendToggle.setAttribute("aria-expanded", String(!legendBody.hidden));
  });
  renderAbout();
  buildSearch();
  // The panel (top left) ends above the legend (bottom left) and scrolls, so neither
  // covers the other in a small frame; the legend's height changes with the layers.
  const fitPanel = () => {
    const room = document.getElementById("legend").getBoundingClientRect().top - document.getElementById("panel").getBoundingClientRect().top - 8;
    document.getElementById("panel").style.maxHeight = `${Math.max(room, 40)}px`;
  };
  new ResizeObserver(fitPanel).observe(document.getElementById("legend"));
  window.addEventListener("resize", fitPanel);
  fitPanel();
}

// Place search: the streets of the published basemap (/embed/places), as one types.
function buildSearch() {
  const form = document.getElementById("search");
  const input = document.getElementById("search-input");
  const list = document.getElementById("search-results");
  let found = [];
  let timer = null;
  const show = (places, query) => {
    found = places;
    list.replaceChildren(...(places.length || !query ? places.map((p) => el("li", {}, el("button", { type: "button", onclick: () => go(p) }, p.name)))
      : [el("li", { class: "none" }, text("search_none"))]));
    list.hidden = !places.length && !query;
  };
  const go = (place) => {
    const [w, s, e, n] = place.bbox;
    map.fitBounds([[w, s], [e, n]], { padding: clearPadding(), maxZoom: 17, duration: 0 });
    input.value = place.name;
    show([], "");
    document.getElementById("announcer").textContent = text("search_found", { name: place.name });
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const query = input.value.trim();
      if (!query) return show([], "");
      const response = await fetch(absolute(`/embed/places?q=${encodeURIComponent(query)}`));
      if (input.value.trim() === query) show(response.ok ? (await response.json()).places : [], query);
    }, 150);
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); if (found[0]) go(found[0]); });
  input.addEventListener("keydown", (e) => { if (e.key === "Escape") show([], ""); });
}

// "Om kartan": what a hexagon is, why some are grey, what a hot spot is, data up to when.
const CELL_AREA = { 7: "5 km²", 8: "0,7 km²", 9: "0,1 km²", 10: "0,015 km²" };
function renderAbout() {
  const all = periods.all?.[0];
  const area = (CELL_AREA[state.resolution] || CELL_AREA[9]).replace(",", cfg.lang === "sv" ? "," : ".");
  const paragraphs = [text("about_hexagon", { area }), text(cfg.perturbed ? "about_noise" : "about_grey", { n: cfg.min_count })];
  if (cfg.layers.some((l) => l.kind === "hotspots")) paragraphs.push(text("about_hotspot"));
  if (all) paragraphs.push(text("about_data", { date: dayMonth.format(noon(all.end)) }));
  document.getElementById("about-text").replaceChildren(...paragraphs.map((p) => el("p", {}, p)));
}

function setVisible(id, visible) {
  state.visible[id] = visible;
  applyVisibility(cfg.layers.find((l) => l.id === id));
  for (const layer of cfg.layers.filter((l) => l.kind === "hotspots")) {
    for (const fill of allStyleLayers(layer).filter((i) => i.endsWith("-fill"))) map.setPaintProperty(fill, "fill-opacity", hotspotFillOpacity());
  }
  renderLegend();
  refreshPopup();
  writeUrl();
}

function refreshDensity() {
  for (const layer of cfg.layers) {
    if (layer.kind === "density") {
      if (activeVariant(layer) === "json") map.getSource(`src-${layer.id}-json`).setData(geojsonUrl(layer));
      for (const id of allStyleLayers(layer)) map.setFilter(id, periodFilter());
      for (const id of allStyleLayers(layer).filter((i) => i.endsWith("-fill"))) {
        map.setPaintProperty(id, "fill-color", state.mode === "change" ? changeColour() : countColour());
        map.setPaintProperty(id, "fill-opacity", densityOpacity());
      }
      applyVisibility(layer);
    } else if (layer.kind === "hotspots") {
      if (periodic(layer) && activeVariant(layer) === "json") map.getSource(`src-${layer.id}-json`).setData(geojsonUrl(layer));
      for (const id of allStyleLayers(layer)) map.setFilter(id, hotspotFilter());
      applyVisibility(layer);
    }
  }
  renderLegend();
  refreshPopup();
  writeUrl();
}

// Legend ---------------------------------------------------------------------------------
const item = (swatchClass, colour, label, outline = false) =>
  el("div", { class: "legend-item" }, el("span", { class: `swatch ${swatchClass}`, style: outline ? `border-color:${colour}` : `background:${colour}`, "aria-hidden": "true" }), el("span", {}, label));

function countLegend() {
  const breaks = density?.breaks?.[state.periodKind]?.[state.resolution]?.[measure()] || [];
  // Cell-key publishes small counts too (perturbed, never blank): the first class starts at 1
  // and there is no "withheld" class; with suppression counts below the threshold are blank.
  const lows = [cfg.first_class, ...breaks];
  const rows = lows.map((low, i) => {
    const high = i + 1 < lows.length ? lows[i + 1] - 1 : null;
    const label = high === null ? `≥ ${number.format(low)}` : low === high ? number.format(low) : `${number.format(low)}–${number.format(high)}`;
    return item("", VIRIDIS_R[Math.min(i, VIRIDIS_R.length - 1)], label);
  });
  if (!cfg.perturbed) rows.push(item("hatched", SUPPRESSED, text("suppressed", { n: cfg.min_count })));
  return rows;
}

function changeLegend() {
  const [b, c] = density?.breaks?.[state.periodKind]?.[state.resolution]?.change || [2, 3];
  // Ranges read from the lower number up: −8 … −4, +4 … +8.
  const span = (low, high, sign) => (low === high ? `${sign}${low}` : sign === "−" ? `−${high} … −${low}` : `+${low} … +${high}`);
  const labels = [`≤ −${c}`, span(b, c - 1, "−"), span(1, b - 1, "−"), text("no_change"), span(1, b - 1, "+"), span(b, c - 1, "+"), `≥ +${c}`];
  return [...labels.map((label, i) => item("", PUOR[i], label)), el("p", { class: "note" }, `${text("decrease")} ← → ${text("increase")}`)];
}

function renderLegend() {
  const parts = [];
  for (const layer of cfg.layers) {
    if (!state.visible[layer.id]) continue;
    const heading = el("h3", {}, layer.title);
    if (layer.kind === "density") {
      const lightLabel = state.group !== "all" ? ` (${L.category_groups?.[state.group] ?? state.group})`
        : state.light === "all" ? "" : ` (${text(`light_${state.light}`).toLowerCase()})`;
      parts.push(el("h3", {}, `${layer.title}${lightLabel}`), ...(state.mode === "change" ? changeLegend() : countLegend()));
    } else if (layer.kind === "hotspots") {
      parts.push(heading, ...["hot_3", "hot_2", "hot_1", "cold_1", "cold_2", "cold_3"].map((key) =>
        item("outline", HOTSPOT[key.startsWith("hot") ? key.slice(4) : `-${key.slice(5)}`], text(key), true)),
      el("p", { class: "note" }, text("hotspot_period", { period: periodName() })));
    } else if (layer.kind === "unsafe-places") {
      parts.push(heading, ...Object.entries(WALK_STATUS).map(([code, colour]) => item("dot", colour, L.walk_statuses?.[code] ?? code)),
        el("p", { class: "note" }, text("lighting_problem_note")));
    } else if (layer.kind === "street-lights") {
      parts.push(heading, item("dot", LAMP_STATUS.slackt, L.lamp_statuses?.slackt ?? "slackt"), item("dot", LAMP_STATUS.fel, L.lamp_statuses?.fel ?? "fel"),
        item("dot small", LAMP_STATUS.tand, L.lamp_statuses?.tand ?? "tand"), el("p", { class: "note" }, text("lamps_lit_note")));
    } else if (layer.kind === "lighting-insecurity") {
      const lows = [0, ...INDEX_BREAKS];
      parts.push(heading, ...lows.map((low, i) => item("", CIVIDIS_R[i], `${low}–${i + 1 < lows.length ? lows[i + 1] : 100}`)),
        el("p", { class: "note" }, text("index_note")));
    } else if (layer.kind === "dark-gaps") {
      parts.push(heading, ...Object.entries(GAP_CAUSE).map(([cause, colour]) => item("", colour, text(`cause_${cause}`))));
    } else if (layer.kind === "lamps-out") {
      parts.push(heading, item("dot", LAMP_STATUS.slackt, text("work_list_note")));
    } else if (layer.kind === "walks") {
      parts.push(item("outline", "#333333", layer.title, true));
    } else {
      parts.push(item("", GENERIC, layer.title));
    }
  }
  if (cfg.context.some((c) => c.kind === "outline")) parts.push(el("h3", {}, " "), item("line", "#4d4d4d", text("outline")));
  if (state.basemap === "failed") parts.push(el("p", { class: "note", id: "basemap-note" }, text("basemap_unavailable")));
  legendItems.replaceChildren(...parts);
}

// Pop-ups --------------------------------------------------------------------------------
function formatValue(layer, name, value, props) {
  if (value === null || value === undefined || value === "") {
    return props.suppressed && ["count", "light_daylight", "light_twilight", "light_darkness", "change", "prev_count", "change_pct"].includes(name)
      ? text("suppressed", { n: cfg.min_count }) : "–";
  }
  if (name === "period") {  // "LB 2026-10-19" is a code: the dates, as the period picker says them
    const kind = props.period_kind || state.periodKind;
    const known = (periods[kind] || []).find((p) => p.period === value);
    if (known) return periodLabel(kind, known);
  }
  if (typeof value === "boolean" || value === "true" || value === "false") return (value === true || value === "true") ? text("yes") : text("no");
  if (name === "problems") {  // the layer's text is Swedish; the flags per problem say it in the page's language
    const codes = Object.keys(L.walk_problems || {}).filter((code) => [true, "true", 1].includes(props[`problem_${code}`]));
    if (codes.length) return codes.map((code) => L.walk_problems[code]).join(", ");
  }
  const list = CODE_LISTS[layer.kind]?.[name];
  if (list) return L[list]?.[value] ?? String(value);
  if (name === "cause") return text(`cause_${value}`);
  if (name.endsWith("_share")) return `${number.format(100 * Number(value))} %`;
  if (name === "gi_bin") {
    const bin = Number(value);
    return bin === 0 ? text("not_significant") : text(bin > 0 ? `hot_${bin}` : `cold_${-bin}`);
  }
  if (name === "hotspot_class") {
    const [rule, kind] = String(value).split("_");
    return rule === "none" ? text("hotspot_class_none") : `${text(`hotspot_class_${rule}`)} ${text(kind)}`;
  }
  if (name.endsWith("_year")) return String(value);  // a year, not a quantity: 2012, never "2 012"
  if (name === "change" && typeof value === "number" && value > 0) return `+${number.format(value)}`;
  if (typeof value === "number") return number.format(value);
  return String(value);
}

const fieldLabel = (name) => name.startsWith("grp_") ? (L.category_groups?.[name.slice(4)] ?? name) : (T[`field_${name}`] ?? name);

function featureSection(layer, feature) {
  const props = feature.properties || {};
  let fields = POPUP_FIELDS[layer.kind] || Object.keys(props).filter((k) => !HIDDEN.has(k));
  if (layer.kind === "density" && state.group !== "all") fields = [fields[0], measure(), ...fields.slice(1)];
  if (cfg.lang === "en") fields = fields.map((name) => (name === "rank_reason" && "rank_reason_en" in props ? "rank_reason_en" : name));
  const rows = fields.filter((name) => name in props || name === "count").flatMap((name) => [
    el("dt", {}, fieldLabel(name)), el("dd", {}, formatValue(layer, name, props[name], props))]);
  const section = [el("h3", {}, layer.title), el("dl", {}, rows)];
  if (layer.kind === "density" && props.h3 && state.periodKind !== "all") section.push(trendBox(props));
  return section;
}

// A trend per cell: the cell's published counts over every period of the kind on show,
// read once per cell from its resolution's collection (a cheap request: no filter
// expression, no sorting — the page sorts), drawn as a line with the period on show marked.
const trends = new Map();
function trendRows(res, h3, kind, name) {
  const key = [res, h3, kind, name].join("/");
  if (!trends.has(key)) {
    const query = new URLSearchParams({ f: "json", skipGeometry: "true", limit: "1000", properties: `period,period_start,${name}`,
      period_kind: kind, h3 });
    trends.set(key, fetch(absolute(`/collections/incident-density-r${res}/items?${query}`))
      .then((r) => (r.ok ? r.json() : { features: [] }))
      .then((page) => (page.features || []).map((f) => f.properties).sort((a, b) => String(a.period_start).localeCompare(String(b.period_start))))
      .catch(() => []));
  }
  return trends.get(key);
}

function trendBox(props) {
  const name = measure();
  const box = el("figure", { class: "trend" });
  trendRows(props.resolution, props.h3, state.periodKind, name).then((rows) => {
    const values = rows.map((r) => (typeof r[name] === "number" ? r[name] : null));
    const known = values.filter((v) => v !== null);
    if (rows.length < 2 || !known.length) return;
    const W = 220, H = 40, pad = 3;
    const top = Math.max(...known, 1);
    const x = (i) => pad + (i * (W - 2 * pad)) / (rows.length - 1);
    const y = (v) => H - pad - (v * (H - 2 * pad)) / top;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", String(W));
    svg.setAttribute("height", String(H));
    svg.setAttribute("role", "img");
    const current = rows.findIndex((r) => r.period === props.period);
    const label = text("trend_label", { kind: text(`period_kind_${state.periodKind}`).toLowerCase(), n: rows.length,
      min: number.format(Math.min(...known)), max: number.format(Math.max(...known)) });
    svg.setAttribute("aria-label", label);
    let path = "";
    values.forEach((v, i) => { if (v !== null) path += `${path && values[i - 1] !== null ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`; });
    const line = document.createElementNS("http://www.w3.org/2000/svg", "path");
    line.setAttribute("d", path);
    line.setAttribute("class", "trend-line");
    svg.append(line);
    if (current >= 0 && values[current] !== null) {
      const dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      dot.setAttribute("cx", x(current).toFixed(1));
      dot.setAttribute("cy", y(values[current]).toFixed(1));
      dot.setAttribute("r", "3");
      dot.setAttribute("class", "trend-now");
      svg.append(dot);
    }
    box.replaceChildren(svg, el("figcaption", {}, label));
    keepInView();
  });
  return box;
}

let popup = null;
function showInfo(point, lngLat, fromKeyboard = false) {
  const layerIds = Object.keys(interactive).filter((id) => map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none");
  const found = map.queryRenderedFeatures(point, { layers: layerIds });
  const seen = new Set();
  const sections = [];
  for (const feature of found) {
    const layer = interactive[feature.layer.id];
    if (!layer || seen.has(layer.id)) continue;
    if (layer.kind === "density" && state.mode === "count" && feature.properties[measure()] === 0) continue;
    seen.add(layer.id);
    sections.push(...featureSection(layer, feature));
    if (seen.size === 3) break;
  }
  closePopup();
  const content = sections.length ? el("div", { class: "feature-info" }, sections) : el("p", {}, text("no_features"));
  if (!sections.length && !fromKeyboard) return;
  popup = new maplibregl.Popup({ closeButton: true, maxWidth: "min(300px, calc(100vw - 24px))", focusAfterOpen: false })
    .setLngLat(lngLat).setDOMContent(content).addTo(map);
  const opened = popup;
  popupAt = lngLat;
  popup.on("close", () => { if (popup === opened) { popup = null; popupAt = null; } });
  keepInView();
  document.getElementById("announcer").textContent = content.textContent;
}

let popupAt = null;
function closePopup() {
  const open = popup;
  popup = null;
  open?.remove();
}

// MapLibre puts a pop-up on the side of its point with room, but a pop-up wider than
// half a phone, or taller than the room left, still ran past the edge: pan the map
// until the whole pop-up is inside the frame (8 px margin).
function keepInView() {
  if (!popup) return;
  const box = popup.getElement().getBoundingClientRect();
  const margin = 8;
  let dx = 0;
  let dy = 0;
  if (box.right > window.innerWidth - margin) dx = box.right - (window.innerWidth - margin);
  if (box.left - dx < margin) dx = box.left - margin;
  if (box.bottom > window.innerHeight - margin) dy = box.bottom - (window.innerHeight - margin);
  if (box.top - dy < margin) dy = box.top - margin;
  if (dx || dy) map.panBy([dx, dy], { duration: 0 });
}

// A pop-up follows what the map shows: after a change of period, light, mode or layers it
// is asked again at its place once the map has drawn the change (or closed when nothing
// is there any more), never left with the numbers of before.
function refreshPopup() {
  if (!popup || !popupAt) return;
  const at = popupAt;
  map.once("idle", () => {
    if (!popup || popupAt !== at) return;
    showInfo(map.project(at), at, false);
  });
}

map.on("click", (e) => showInfo(e.point, e.lngLat));
for (const event of ["mousemove"]) {
  map.on(event, (e) => {
    const ids = Object.keys(interactive).filter((id) => map.getLayer(id));
    const hit = ids.length && map.queryRenderedFeatures(e.point, { layers: ids }).length;
    map.getCanvas().style.cursor = hit ? "pointer" : "";
  });
}
const canvas = map.getCanvas();
canvas.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    const centre = map.getCenter();
    showInfo(map.project(centre), centre, true);
  } else if (e.key === "Escape") {
    closePopup();
  }
});
canvas.addEventListener("focus", () => { if (canvas.matches(":focus-visible")) document.getElementById("map").classList.add("keyboard"); });
canvas.addEventListener("blur", () => document.getElementById("map").classList.remove("keyboard"));

// Base map: use it while it answers, else the municipality's own streets -----------------
function basemapFailed() {
  if (state.basemap !== "trying") return;
  state.basemap = "failed";
  map.setLayoutProperty("basemap", "visibility", "none");
  setStreets(true);
  renderLegend();
}
function setStreets(visible) {
  for (const layer of cfg.context) {
    if (layer.kind === "streets") for (const id of allStyleLayers(layer)) map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
  }
}
map.on("error", (e) => {
  if (e.sourceId === "basemap") {
    basemapFailed();
    return;
  }
  console.error(e.error || e);
});
map.on("sourcedata", (e) => {
  if (timings.firstTile === undefined && e.tile && e.sourceId.startsWith(`src-${cfg.layers.find((l) => l.kind === "density")?.id}-`)) {
    timings.firstTile = performance.now();
  }
  if (e.sourceId === "basemap" && e.tile && state.basemap === "trying" && e.tile.state === "loaded") {
    state.basemap = "ok";
    setStreets(false);
  }
});

// Readiness and timings (read by the tests and benchmarks/embed.py) ----------------------
function densityRendered() {
  const ids = fillLayers("density").filter((id) => map.getLayer(id));
  return ids.length > 0 && map.queryRenderedFeatures({ layers: ids }).some((f) => typeof f.properties[measure()] === "number");
}
map.on("render", () => {
  if (timings.firstDensity === undefined && densityRendered()) timings.firstDensity = performance.now();
});
map.on("idle", () => {
  const ids = fillLayers("density").filter((id) => map.getLayer(id));
  const found = ids.length ? map.queryRenderedFeatures({ layers: ids }) : [];
  const res = found.length ? Number(found[0].properties.resolution) : state.resolution;
  if (res && res !== state.resolution) {
    state.resolution = res;
    renderLegend();
    renderAbout();
  }
  if (!window.estgeo.ready) {
    timings.idle = performance.now();
    window.estgeo.ready = true;
  }
});

// The room the panel and the legend leave, as fitBounds padding: beside the open panel on
// a wide frame, below the folded one, above the legend where it spans most of a narrow frame.
function clearPadding() {
  const panel = document.getElementById("panel").getBoundingClientRect();
  const legend = document.getElementById("legend").getBoundingClientRect();
  const open = !document.getElementById("panel-body").hidden;
  const left = open && panel.right < window.innerWidth / 2 ? panel.right + 10 : 20;
  const top = open ? 20 : Math.min(panel.bottom + 10, window.innerHeight / 3);
  const bottom = legend.width > window.innerWidth / 2 ? Math.min(legend.height + 20, window.innerHeight / 2) : 30;
  return { top, bottom, left, right: 50 };
}

// The first view shows the data: the box of the drawn layers (the density's cells, else
// any layer's), clear of the panel when it is open, unless the link says where to look.
function fitToData() {
  if (linkedView) return;
  const boxes = cfg.layers.filter((l) => l.source.bounds).sort((a, b) => (b.kind === "density") - (a.kind === "density"));
  const box = boxes[0]?.source.bounds;
  if (!box) return;
  map.fitBounds([[box[0], box[1]], [box[2], box[3]]], { padding: clearPadding(), duration: 0, maxZoom: 15 });
}

map.on("load", () => {
  timings.load = performance.now();
  addLayers();
  if (state.basemap === "trying") setTimeout(() => { if (state.basemap === "trying") basemapFailed(); }, 5000);
  renderLegend();
});
buildControls();
renderLegend();
fitToData();
