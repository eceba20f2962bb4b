"""The demo municipality: synthetic source files for a Sunne-sized town.

Real EST data is confidential, yet estgeo must be shown, tested and benchmarked end to
end. This module plants a town with known structure — a street network, a lighting
inventory with a few dark clusters, incident hot spots, safety walks and interventions —
and writes it into the inbox *in the organisations' own formats* (police extract in
Windows-1252 with X = northing, the housing company's CSV with BOM and decimal comma, the
EST app's GeoJSON, the asset system's GeoPackage). The real ingest then has to do all of
its work, and the analysis can be checked against the planted truth (`demo-truth.json`).

Everything is drawn from one `numpy.random.default_rng(seed)`, so a seed gives the same
bytes every time, and incidents are generated and written in chunks of whole arrays, so
ten million rows fit in bounded memory.
"""

from estgeo.demo.run import generate_demo
from estgeo.demo.town import DemoResult

__all__ = ["DemoResult", "generate_demo"]
