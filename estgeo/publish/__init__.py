"""Publishing built layers over OGC APIs with pygeoapi.

`pygeoapi_config` turns config/ + layers/ into a pygeoapi configuration, `provider` is our
read-only GeoPackage feature provider (pygeoapi's own GeoPackage/OGR providers need
mod_spatialite or GDAL bindings and silently ignore CQL2 `filter`), `tiles` encodes the
vector tiles at build time and `tile_provider` serves them, `coverage_provider` serves the
rasters, and `serve` runs the result under granian.
"""
