"""The build: from the store to a published build folder, audited, switched atomically.

`estgeo.build.run` orchestrates (lock, builders in order, writing, the privacy audit,
the atomic switch), `estgeo.build.tiles` writes the vector tiles, `estgeo.build.postgis_layers`
loads a build into PostGIS, and `estgeo.build.audit` plays the attacker against the
public part of a build folder (`estgeo privacy audit`). The builders themselves are in
`estgeo.layers`: pure data in, data out. See docs/architecture.md.
"""
