// The maps of the server's HTML pages (estgeo.publish.pages): MapLibre from the package,
// the page's own GeoJSON, the municipality's outline from this server, and no tile from
// anywhere else. A page marks its map with <div id="estgeo-map" data-maplibre=… data-root=…
// data-items=…> and puts the GeoJSON in <script id="estgeo-map-data" type="application/json">.
const el = document.getElementById("estgeo-map");
if (el) {
  const data = JSON.parse(document.getElementById("estgeo-map-data").textContent);
  const maplibregl = await import(el.dataset.maplibre);
  const features = Array.isArray(data) ? data : data.type === "FeatureCollection" ? data.features : [data];
  // MapLibre keeps only numeric feature ids: the item's own id rides along as a property.
  const collection = { type: "FeatureCollection", features: features.filter((f) => f && f.geometry)
    .map((f) => ({ ...f, properties: { ...(f.properties || {}), __id: f.id } })) };
  const map = new maplibregl.Map({
    container: el,
    style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#f3f2ee" } }] },
    center: [15, 62], zoom: 3, attributionControl: false, dragRotate: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  const bounds = new maplibregl.LngLatBounds();
  const extend = (c) => (typeof c[0] === "number" ? bounds.extend([c[0], c[1]]) : c.forEach(extend));
  collection.features.forEach((f) => (f.geometry.type === "GeometryCollection" ? f.geometry.geometries : [f.geometry])
    .forEach((g) => extend(g.coordinates)));
  map.on("load", async () => {
    try {
      const r = await fetch(`${el.dataset.root}/collections/municipality/items?f=json&limit=10`);
      if (r.ok) {
        map.addSource("municipality", { type: "geojson", data: await r.json() });
        map.addLayer({ id: "municipality", type: "line", source: "municipality", paint: { "line-color": "#666", "line-width": 1.5, "line-dasharray": [3, 2] } });
      }
    } catch (e) { /* the outline is a courtesy: the items are drawn without it */ }
    if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 24, maxZoom: 16, duration: 0 });
    if (el.dataset.streets !== "false") {
      // The streets around, from this server's own base map, for orientation.
      const b = map.getBounds();
      try {
        const r = await fetch(`${el.dataset.root}/collections/basemap-streets/items?f=json&limit=2000`
          + `&bbox=${[b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",")}`);
        if (r.ok) {
          map.addSource("streets", { type: "geojson", data: await r.json() });
          map.addLayer({ id: "streets", type: "line", source: "streets", paint: { "line-color": "#c9c6bd", "line-width": 1.2 } });
        }
      } catch (e) { /* orientation only */ }
    }
    map.addSource("items", { type: "geojson", data: collection });
    const polygon = ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false];
    map.addLayer({ id: "fill", type: "fill", source: "items", filter: polygon, paint: { "fill-color": "#0072B2", "fill-opacity": 0.25 } });
    map.addLayer({ id: "line", type: "line", source: "items", filter: ["!=", ["geometry-type"], "Point"], paint: { "line-color": "#0072B2", "line-width": 1.5 } });
    map.addLayer({ id: "point", type: "circle", source: "items", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-color": "#0072B2", "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5 } });
    if (el.dataset.items) {
      for (const layer of ["fill", "point"]) {
        map.on("click", layer, (e) => {
          const f = e.features[0];
          const link = document.createElement("a");
          link.href = `${el.dataset.items}/${encodeURIComponent(f.properties.__id)}?f=html`;
          link.textContent = String(f.properties.__id);
          new maplibregl.Popup({ closeButton: true, maxWidth: "260px" }).setLngLat(e.lngLat).setDOMContent(link).addTo(map);
        });
        map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
        map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
      }
    }
    // Ready when drawn, not when asked to draw (a screenshot must show the map).
    map.once("idle", () => { el.dataset.ready = "true"; });
  });
}
