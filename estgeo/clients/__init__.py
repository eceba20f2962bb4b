"""Clients of an estgeo server: the QGIS project (`qgis_project`) and its styles (`qgis_styles`)."""
