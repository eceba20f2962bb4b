"""Load an estgeo server in headless QGIS and report what QGIS sees, as JSON on stdout.

Run by tests/clients/test_clients.py with Debian's /usr/bin/python3 (python3-qgis is built for
the system Python, not for estgeo's). Nothing is asserted here: the test compares the
report with what the server says.

    python3 qgis_check.py REQUEST.json

REQUEST: {"base": url, "collections": [ids], "samples": {id: feature id},
          "tiles": [{"collection", "layer", "geometry", "extent_3857", "empty_extent_3857"}],
          "coverages": {name: {"uri", "samples": {label: [lon, lat]}}}}
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsFeatureRequest,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsSymbol,
    QgsVectorLayer,
    QgsVectorTileBasicRenderer,
    QgsVectorTileBasicRendererStyle,
    QgsVectorTileLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

SWEREF = QgsCoordinateReferenceSystem("EPSG:3006")
MERCATOR = QgsCoordinateReferenceSystem("EPSG:3857")


def vector_collection(base: str, collection: str, sample: str | None) -> dict:
    """Load one collection through the OAPIF provider and read every feature."""
    started = time.monotonic()
    uri = f"url='{base}' typename='{collection}' restrictToRequestBBOX='0'"
    layer = QgsVectorLayer(uri, collection, "OAPIF")
    report: dict = {"valid": layer.isValid(), "crs": layer.crs().authid()}
    if not layer.isValid():
        return report
    report["feature_count"] = layer.featureCount()
    to_sweref = QgsCoordinateTransform(layer.crs(), SWEREF, QgsProject.instance())
    ids = set()
    read = 0
    request = QgsFeatureRequest()
    for feature in layer.getFeatures(request):
        read += 1
        fid = feature["id"] if "id" in feature.fields().names() else None
        ids.add(fid)
        if sample is not None and fid == sample:
            geometry = feature.geometry()
            point = geometry.centroid().asPoint() if geometry.type() != QgsWkbTypes.PointGeometry else geometry.asPoint()
            swept = to_sweref.transform(point)
            report["sample"] = {"id": fid, "layer_xy": [point.x(), point.y()], "sweref_en": [swept.x(), swept.y()]}
    report["features_read"] = read
    report["distinct_ids"] = len(ids)
    report["seconds"] = round(time.monotonic() - started, 2)
    return report


def vector_tiles(base: str, spec: dict) -> dict:
    """Load a tile set through the vectortile provider and render two extents: one with
    features (pixels drawn) and one without (nothing drawn)."""
    url = f"{base}/collections/{spec['collection']}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt"
    ds = QgsDataSourceUri()
    ds.setParam("type", "xyz")
    ds.setParam("url", url)
    ds.setParam("zmin", str(spec.get("zmin", 10)))
    ds.setParam("zmax", str(spec.get("zmax", 16)))
    layer = QgsVectorTileLayer(bytes(ds.encodedUri()).decode(), spec["collection"])
    report: dict = {"valid": layer.isValid(), "crs": layer.crs().authid(),
                    "zoom": [layer.sourceMinZoom(), layer.sourceMaxZoom()]}
    if not layer.isValid():
        return report
    geometry = {"point": QgsWkbTypes.PointGeometry, "polygon": QgsWkbTypes.PolygonGeometry}[spec["geometry"]]
    symbol = QgsSymbol.defaultSymbol(geometry)
    symbol.setColor(QColor(255, 0, 0))
    if geometry == QgsWkbTypes.PointGeometry:
        symbol.symbolLayer(0).setSize(4)
    style = QgsVectorTileBasicRendererStyle(spec["layer"], spec["layer"], geometry)
    style.setSymbol(symbol)
    style.setMinZoomLevel(-1)
    style.setMaxZoomLevel(-1)
    renderer = QgsVectorTileBasicRenderer()
    renderer.setStyles([style])
    layer.setRenderer(renderer)
    report["red_pixels"] = _red_pixels(layer, spec["extent_3857"])
    report["red_pixels_empty_area"] = _red_pixels(layer, spec["empty_extent_3857"])
    return report


def _red_pixels(layer: QgsVectorTileLayer, extent: list[float]) -> int:
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(MERCATOR)
    settings.setExtent(QgsRectangle(*extent))
    settings.setOutputSize(QSize(256, 256))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            colour = QColor(image.pixel(x, y))
            if colour.red() > 200 and colour.green() < 80 and colour.blue() < 80:
                count += 1
    return count


def coverage(spec: dict) -> dict:
    """Open a coverage through QGIS's GDAL provider (GDAL's OGC API driver)."""
    layer = QgsRasterLayer(spec["uri"], "coverage", "gdal")
    report: dict = {"valid": layer.isValid()}
    if not layer.isValid():
        report["error"] = layer.error().summary()
        return report
    provider = layer.dataProvider()
    report.update(crs=layer.crs().authid(), width=layer.width(), height=layer.height(),
                  extent=[layer.extent().xMinimum(), layer.extent().yMinimum(), layer.extent().xMaximum(), layer.extent().yMaximum()])
    samples = {}
    for name, (x, y) in spec.get("samples", {}).items():
        value, ok = provider.sample(_point(x, y), 1)
        samples[name] = value if ok else None
    report["samples"] = samples
    return report


def _point(x: float, y: float):
    from qgis.core import QgsPointXY

    return QgsPointXY(x, y)


def main() -> None:
    request = json.loads(open(sys.argv[1], encoding="utf-8").read())
    app = QgsApplication([], False)
    app.initQgis()
    report: dict = {"qgis": __import__("qgis.core").core.Qgis.QGIS_VERSION, "collections": {}, "tiles": {}}
    for collection in request.get("collections", []):
        report["collections"][collection] = vector_collection(request["base"], collection, request.get("samples", {}).get(collection))
    for spec in request.get("tiles", []):
        report["tiles"][spec["collection"]] = vector_tiles(request["base"], spec)
    report["coverages"] = {name: coverage(spec) for name, spec in request.get("coverages", {}).items()}
    print(json.dumps(report))
    app.exitQgis()


if __name__ == "__main__":
    main()
