"""Builder `lighting`: where missing light and insecurity meet.

From the lighting inventory, the incidents and the safety-walk observations it makes

* ``modelled-light`` and ``modelled-light-repaired`` — Cloud Optimized GeoTIFFs of modelled
  ground illuminance (lux) now (lamps out and faulty give nothing) and if every lamp were
  repaired; the model is in `estgeo.layers.illuminance`, the writing in `estgeo.layers.cog`;
* ``lighting-insecurity`` — per H3 cell (default resolution): modelled light on the streets,
  lamps and lamps out, incidents in darkness and their share, lighting reports, and a
  composite index published together with each of its components;
* ``dark-gaps`` — polygons on streets and paths where the modelled light is below the dark
  threshold and incidents in darkness or open lighting reports are near;
* ``lamps-out`` — every lamp out or faulty, ranked by the incidents in darkness and the
  lighting reports within its reach, with the reason in words (Swedish and English).

Definitions
-----------
*Street pixels* are the raster's pixels within `street_buffer_m` of a street or path of the
basemap (`streets`, a file in the workspace) that some lamp of the inventory reaches (the
raster has a value there). Without a street file, the pixels within `lamp_buffer_m` of a lamp
stand in for the streets: lamps stand along streets and paths. Streets no lamp reaches at all
are outside this analysis (they are not a *gap* in the lighting but unlit by design).

*Dark* means a modelled illuminance below `dark_threshold_lux`. The default, 0.4 lx, is the
minimum illuminance E_min of class P6, the lowest of the EN 13201-2 P-classes for footways,
cycle paths and residential streets (P1–P6: E_min 3.0, 2.0, 1.5, 1.0, 0.6, 0.4 lx): a place
darker than that meets no lighting class. A municipality that designs its paths to P4 or P5
can set 1.0 or 0.6.

*Incidents in darkness* are incidents whose light condition (sun altitude at their time and
place, `estgeo.layers.sun`) is one of `dark_conditions`; their *share* is taken of the
incidents whose light condition is known. *Lighting reports* are safety-walk observations
with a problem marked ``lighting: true`` in config/taxonomy.yml; *open* ones have a status in
`open_report_statuses`. Only open reports count as evidence and in scores.

What is published
-----------------
*lighting-insecurity* (one row per H3 cell with street pixels or lamps): ``lux_mean``,
``lux_p10`` (numpy's linear percentile) and their ``_repaired`` twins over the cell's street
pixels, ``dark_area_share``, ``lamps``, ``lamps_out``, ``dark_incidents``,
``incidents_light_known``, ``dark_share``, ``lighting_reports`` (all) and
``lighting_reports_open``; the components ``c_*`` in [0, 1], ``index`` = 100 × Σ w·c / Σ w
with the weights of the layer's `index.weights`, and ``rank`` (by index, then cell).

*dark-gaps*: ``area_m2``, ``street_length_m`` (of the street file inside the gap),
``lux_mean``, ``lux_max``, ``lux_mean_repaired``, ``repair_fixes_share`` (share of the gap
above the threshold with every lamp lit) and ``cause`` (``lamps_out`` when that share is at
least `gaps.repair_share`, else ``missing_lighting``), ``lamps_out`` and ``lamps_out_ids``
(lamps out whose work-list reach touches the gap), ``dark_incidents`` and open
``lighting_reports`` within `gaps.evidence_radius_m`, ``score`` and ``rank``.

*lamps-out*: the lamp's inventory fields and model inputs, ``reach_m``, ``dark_incidents`` —
incidents in darkness within the reach *at spots the model now lights below the threshold*
(an outage matters where it leaves the place dark, not where other lamps still light it),
``lighting_reports`` (open, within the reach), ``lamps_out_nearby``, ``dark_gap`` (best-ranked
gap within the reach), ``lux_now`` and ``lux_repaired`` at the pole, ``score`` =
w_incident × dark_incidents + w_report × lighting_reports, ``rank`` (score, then gap rank,
lamps out nearby, light lost at the pole, id — the same input always gives the same order)
and ``rank_reason`` / ``rank_reason_en`` spelling that out.

Privacy: incident counts from 1 to `privacy.min_count` − 1 are published as null with
``suppressed = true``; in the lighting-insecurity cells, a darkness count the incident-density
layer withholds for the same cell is withheld here too, so the two layers cannot be
differenced. Scores and indexes are computed from what is published — a withheld count counts
as `min_count` / 2 — so no score gives a withheld count away. Nothing about a single
incident is published.
"""

from estgeo.layers.lighting.params import DEFAULTS, merged_params
from estgeo.layers.lighting.run import build

__all__ = ["DEFAULTS", "build", "merged_params"]
