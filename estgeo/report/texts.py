"""The report's words and number formats in Swedish (default) and English.

Labels of codes (categories, groups, statuses, lamp types) come from config/taxonomy.yml
like everywhere else; this module holds the report's own sentences. Swedish numbers use
a space between thousands and a decimal comma ("1 234", "12,5 %"), English "1,234", "12.5%".
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass
from typing import Any

from estgeo.config import Settings

LANGUAGES = ("sv", "en")

STRINGS: dict[str, dict[str, str]] = {
    "sv": {
        "title": "Lägesbild",
        "subtitle": "{municipality} kommun · {period}",
        "profile_public": "Offentlig version — innehåller bara det som de öppna lagren visar.",
        "profile_internal": "Intern version — innehåller uppgifter som inte publiceras. Får inte spridas.",
        "generated": "Skapad {when} från lagren som publicerades {built}.",
        "area_all": "Hela kommunen",
        "area": "Område: {area}",
        "period_kind_lagesbild": "lägesbildsperiod",
        "period_kind_week": "vecka",
        "period_kind_month": "månad",
        "period_range": "{first} – {last}",
        "period_starting_lagesbild": "lägesbildsperioden som började {start}",
        "period_starting_week": "veckan som började {start}",
        "period_starting_month": "månaden som började {start}",
        "toc": "Innehåll",
        "law_note": (
            "Underlag för kommunens lägesbild enligt lag (2023:196) om kommuners ansvar för brottsförebyggande "
            "arbete, 4 §: kartläggning av brottsligheten, dess omfattning och konsekvenser (avsnitt {mapping}), annan "
            "relevant information (avsnitt {other}) och en analys av kartläggningen (avsnitt {analysis})."
        ),
        "s_summary": "Sammanfattning",
        "summary_intro": (
            "Händelser i perioden jämfört med föregående period ({previous}) och samma period förra året ({last_year}), "
            "per kategorigrupp och ljusförhållande. p är sannolikheten för en minst lika stor skillnad om takten inte "
            "ändrats (exakt test), justerad med Holms metod för att tabellen prövar många grupper samtidigt; "
            "fetstil: p < 0,05 (se Metod)."
        ),
        "col_what": "Grupp",
        "col_current": "Perioden",
        "col_previous": "Föregående",
        "col_last_year": "I fjol",
        "col_change": "Förändring",
        "col_p": "p",
        "row_total": "Alla händelser",
        "light_heading": "Ljusförhållande",
        "withheld_note": (
            "* Summan av publicerade värden. {n} cellvärden under sekretessgränsen ({min} händelser) publiceras inte och "
            "ingår inte."
        ),
        "no_data": "–",
        "series_title": "Händelser per {kind}, senaste året",
        "s_maps": "Kartor",
        "map_density": "Händelsetäthet ({period})",
        "map_density_text": (
            "Antal händelser per H3-cell (upplösning {res}, cirka {area} per cell).{withheld} Klasserna är desamma i "
            "webbkartan och QGIS. Infälld: hela kommunen (upplösning {overview_res})."
        ),
        "map_density_withheld": " Grå, streckade celler har för få händelser för att visas.",
        "map_hotspots": "Hot spots (Getis-Ord Gi*)",
        "map_hotspots_text": (
            "Celler där händelserna samlas mer (hot spot) eller mindre (cold spot) än slumpen förklarar, med "
            "FDR-korrigerad signifikans 90/95/99 %."
        ),
        "map_hotspots_multi": "Antal av periodens {n} delperioder då cellen var en hot spot (minst 90 % signifikans).",
        "map_emerging": "Framväxande hot spots",
        "map_emerging_text": (
            "Klass över de {n} hela perioderna fram till {last} (Mann-Kendall-trend på Gi* z): ny, i följd, ökande, "
            "ihållande, avtagande, sporadisk, växlande, historisk."
        ),
        "map_light": "Dagsljus och mörker",
        "map_light_text": "Händelser i dagsljus och i mörker (solens höjd vid händelsens tid och plats) per cell.",
        "daylight": "Dagsljus",
        "darkness": "Mörker",
        "legend_count": "Antal",
        "legend_withheld": "Färre än {min}",
        "legend_hot_periods": "Perioder som hot spot",
        "s_heatmap": "Veckodag och timme",
        "heatmap_text": "Händelser per veckodag och timme (lokal tid) i perioden, för händelser med känd tidpunkt ({unknown} utan).",
        "heatmap_public": (
            "Tabellen veckodag × timme bygger på enskilda händelsers tidpunkter och publiceras inte som lager; den finns "
            "bara i den interna versionen. Fördelningen på dagsljus och mörker ovan bygger på publicerade data."
        ),
        "s_top": "Cellerna med flest händelser",
        "top_text": (
            "De tio cellerna (upplösning {res}) med flest händelser i perioden, förändring mot föregående period och "
            "de vanligaste kategorierna."
        ),
        "top_public_note": "Celler vars antal inte publiceras är inte med.",
        "col_cell": "Cell (närmaste gata)",
        "col_count": "Antal",
        "col_dominant": "Vanligast",
        "col_hot": "Gi* (z)",
        "s_places": "Otrygga platser",
        "places_text": (
            "Platser från trygghetsvandringar. Öppna och försenade räknas vid periodens slut ({end}); nya är "
            "vandringar i perioden, åtgärdade platser med åtgärdsdatum i perioden."
        ),
        "places_new": "Nya",
        "places_open": "Öppna",
        "places_overdue": "Försenade",
        "places_resolved": "Åtgärdade",
        "places_overdue_list": "Försenade platser (längst öppna först)",
        "col_place": "Plats",
        "col_walk": "Vandring",
        "col_problems": "Problem",
        "col_status": "Status",
        "col_target": "Måldatum",
        "col_days_open": "Dagar öppen",
        "col_nearby": "Händelser inom 100 m (mörker)",
        # The public collection's counts: the density's cells the 100 m circle touches (estgeo.layers.cellsums).
        "col_nearby_cells": "Händelser i cellerna inom 100 m (mörker)",
        "col_proposal": "Förslag",
        "col_responsible": "Ansvarig",
        "s_lamps": "Släckta lampor nära hot spots",
        "lamps_text": (
            "Lampor som är släckta eller har fel inom {radius} m från någon av periodens {n} hot spot-celler, i "
            "belysningsarbetslistans ordning (händelser i mörker inom lampans räckvidd) när den finns, annars närmast "
            "först. Totalt är {total} lampor släckta eller har fel."
        ),
        "lamps_none": "Inga hot spots i perioden, eller inga släckta lampor.",
        "col_lamp": "Lampa",
        "col_lamp_type": "Armatur",
        "col_distance": "Avstånd (m)",
        "col_owner": "Ägare",
        "col_rank": "Prio",
        "col_rank_reason": "Skäl",
        "s_interventions": "Uppföljning av åtgärder",
        "interventions_text": (
            "Händelser i åtgärdens målområde lika lång tid före och efter ({weeks} hela veckor före och efter veckan då "
            "den blev klar). p: exakt test av lika takt före och efter."
        ),
        "col_intervention": "Åtgärd",
        "col_type": "Typ",
        "col_start": "Start",
        "col_before": "Före",
        "col_after": "Efter",
        "col_note": "Kommentar",
        "col_org": "Organisation",
        "col_outcome": "Utfall",
        "s_analysis": "Analys",
        "analysis_intro": (
            "Vad som har ändrats mer än slumpen förklarar (p < {alpha} efter Holm-korrigering inom varje tabell). "
            "Förändringar utan stöd nämns inte som förändringar."
        ),
        "finding_up": "{what} ökade från {b} till {a} ({pct}) jämfört med {against}; ökningen är statistiskt säkerställd (p = {p}, takt × {rr}, 95 % KI {lo}–{hi}).",
        "finding_down": "{what} minskade från {b} till {a} ({pct}) jämfört med {against}; minskningen är statistiskt säkerställd (p = {p}, takt × {rr}, 95 % KI {lo}–{hi}).",
        "finding_none": "Ingen kategorigrupp ändrades statistiskt säkerställt jämfört med {against}.",
        "finding_moved": "{what} ändrades jämfört med {against} ({b} → {a}), men inom slumpens variation (p = {p}).",
        "finding_dark": (
            "Andelen händelser i mörker, av dem med känt ljusförhållande, var {share_a} mot {share_b} {against} "
            "(p = {p}{sig}); {unknown} händelser i perioden har okänt ljusförhållande och är inte med."
        ),
        "finding_dark_sig": ", statistiskt säkerställt",
        "finding_hot": "{n} celler var hot spots med minst 95 % signifikans i perioden ({n_prev} föregående period); {new} är nya.",
        "finding_emerging": "Framväxande hot spots: {classes}.",
        "finding_cell": "Cell {cell}: {b} → {a} händelser, statistiskt säkerställd {direction} (p = {p}).",
        "finding_intervention": "Åtgärd {id} ({type}): {b} → {a} händelser i målområdet, {direction} (p = {p}).",
        "up": "ökning",
        "down": "minskning",
        "against_previous": "föregående period",
        "against_last_year": "samma period i fjol",
        "s_sources": "Datakällor och täckning",
        "sources_text": "Inläsningar per källa (senaste versionen av varje fil) och vad som lades i karantän.",
        "col_source": "Källa",
        "col_kind": "Slag",
        "col_files": "Filer",
        "col_read": "Rader",
        "col_ingested": "Inlästa",
        "col_quarantined": "Karantän",
        "col_reason": "Orsak",
        "quarantine_none": "Inga rader i karantän.",
        "orgs_title": "Rapporter i perioden per organisation",
        "layers_title": "Publicerade lager",
        "places_more": "… och {n} försenade platser till (se lagret Otrygga platser).",
        "places_map": "Otrygga platser efter status",
        "places_map_legend": "Status",
        "places_map_text": "Alla platser från trygghetsvandringarna i kartans utsnitt, färgade efter status (samma färger som webbkartan och QGIS).",
        "lamps_map": "Släckta lampor och fel",
        "lamps_map_hot": "Periodens hot spots",
        "lamps_map_text": "Lampor som är släckta eller har fel, och periodens hot spot-celler (röd kant).",
        "kind_incidents": "Händelser",
        "kind_walks": "Trygghetsvandringar",
        "kind_lights": "Belysningspunkter",
        "kind_interventions": "Åtgärder",
        "col_layer": "Lager",
        "col_features": "Objekt",
        "s_method": "Metod och sekretess",
        "method_text": (
            "Händelser räknas per H3-cell och period efter mitten av händelsens tidsfönster. {privacy} Förändringar prövas med ett exakt villkorat test för lika Poisson-takt (binomialtest "
            "givet summan, med hänsyn till periodernas längd), andelar med Fishers exakta test; p-värden inom en tabell "
            "justeras med Holms metod. Hot spots är Getis-Ord Gi* med FDR-korrigering; framväxande hot spots följer "
            "Esris definitioner med Mann-Kendall-trend."
        ),
        "privacy_suppression": (
            "Antal under {min} publiceras inte (och inte heller värden som skulle avslöja dem), så i den offentliga "
            "versionen är summor summor av publicerade värden."
        ),
        "privacy_cell_key": (
            "Varje publicerat antal är flyttat med en liten fast störning (cell key-metoden, som SCB använder): samma "
            "händelser ger alltid samma värde, och inget litet antal går att veta exakt. Summor i den offentliga "
            "versionen är summor av publicerade värden och kan därför skilja några enheter från summan av delarna."
        ),
        "weekdays": "mån,tis,ons,tor,fre,lör,sön",
        "gi_bins": "Kall 99 %,Kall 95 %,Kall 90 %,Ej signifikant,Het 90 %,Het 95 %,Het 99 %",
        "hours": "Timme",
        "page": "Sida",
        "yes": "ja",
        "no": "nej",
    },
    "en": {
        "title": "Situation report (lägesbild)",
        "subtitle": "{municipality} Municipality · {period}",
        "profile_public": "Public version — holds only what the open layers show.",
        "profile_internal": "Internal version — holds information that is not published. Not for distribution.",
        "generated": "Generated {when} from the layers published {built}.",
        "area_all": "The whole municipality",
        "area": "Area: {area}",
        "period_kind_lagesbild": "lägesbild period",
        "period_kind_week": "week",
        "period_kind_month": "month",
        "period_range": "{first} – {last}",
        "period_starting_lagesbild": "the lägesbild period that began on {start}",
        "period_starting_week": "the week that began on {start}",
        "period_starting_month": "the month that began on {start}",
        "toc": "Contents",
        "law_note": (
            "Basis for the municipality's situation report under the Act (2023:196) on municipal responsibility for "
            "crime prevention, section 4: a mapping of crime, its extent and consequences (sections {mapping}), other relevant "
            "information (sections {other}) and an analysis of the mapping (section {analysis})."
        ),
        "s_summary": "Summary",
        "summary_intro": (
            "Incidents in the period compared with the previous period ({previous}) and the same period last year "
            "({last_year}), by category group and light condition. p is the probability of a difference at least as large "
            "if the rate had not changed (exact test), adjusted with Holm's method because the table tests many groups at "
            "once; bold: p < 0.05 (see Method)."
        ),
        "col_what": "Group",
        "col_current": "Period",
        "col_previous": "Previous",
        "col_last_year": "Last year",
        "col_change": "Change",
        "col_p": "p",
        "row_total": "All incidents",
        "light_heading": "Light condition",
        "withheld_note": (
            "* Sum of published values. {n} cell values below the privacy threshold ({min} incidents) are not published "
            "and not included."
        ),
        "no_data": "–",
        "series_title": "Incidents per {kind}, last year",
        "s_maps": "Maps",
        "map_density": "Incident density ({period})",
        "map_density_text": (
            "Incidents per H3 cell (resolution {res}, about {area} per cell).{withheld} The classes are those of the web "
            "map and QGIS. Inset: the whole municipality (resolution {overview_res})."
        ),
        "map_density_withheld": " Grey hatched cells have too few incidents to be shown.",
        "map_hotspots": "Hot spots (Getis-Ord Gi*)",
        "map_hotspots_text": (
            "Cells where incidents cluster more (hot spot) or less (cold spot) than chance explains, with FDR-corrected "
            "significance 90/95/99 %."
        ),
        "map_hotspots_multi": "Number of the period's {n} sub-periods in which the cell was a hot spot (at least 90 % significance).",
        "map_emerging": "Emerging hot spots",
        "map_emerging_text": (
            "Class over the {n} complete periods up to {last} (Mann-Kendall trend of Gi* z): new, consecutive, "
            "intensifying, persistent, diminishing, sporadic, oscillating, historical."
        ),
        "map_light": "Daylight and darkness",
        "map_light_text": "Incidents in daylight and in darkness (sun altitude at the incident's time and place) per cell.",
        "daylight": "Daylight",
        "darkness": "Darkness",
        "legend_count": "Count",
        "legend_withheld": "Fewer than {min}",
        "legend_hot_periods": "Periods as hot spot",
        "s_heatmap": "Weekday and hour",
        "heatmap_text": "Incidents per weekday and hour (local time) in the period, for incidents with a known time ({unknown} without).",
        "heatmap_public": (
            "The weekday × hour table is built from single incidents' times and is not published as a layer; it is only "
            "in the internal version. The split by daylight and darkness above is built from published data."
        ),
        "s_top": "The cells with the most incidents",
        "top_text": (
            "The ten cells (resolution {res}) with the most incidents in the period, the change against the previous "
            "period and the most frequent categories."
        ),
        "top_public_note": "Cells whose counts are not published are left out.",
        "col_cell": "Cell (nearest street)",
        "col_count": "Count",
        "col_dominant": "Most frequent",
        "col_hot": "Gi* (z)",
        "s_places": "Unsafe places",
        "places_text": (
            "Places from safety walks. Open and overdue are counted at the end of the period ({end}); new are walks in "
            "the period, resolved are places with a resolution date in the period."
        ),
        "places_new": "New",
        "places_open": "Open",
        "places_overdue": "Overdue",
        "places_resolved": "Resolved",
        "places_overdue_list": "Overdue places (longest open first)",
        "col_place": "Place",
        "col_walk": "Walk",
        "col_problems": "Problems",
        "col_status": "Status",
        "col_target": "Target date",
        "col_days_open": "Days open",
        "col_nearby": "Incidents within 100 m (dark)",
        "col_nearby_cells": "Incidents in the cells within 100 m (dark)",
        "col_proposal": "Proposal",
        "col_responsible": "Responsible",
        "s_lamps": "Lamps out near hot spots",
        "lamps_text": (
            "Lamps that are out or faulty within {radius} m of one of the period's {n} hot spot cells, in the order of the "
            "lighting work list (incidents in darkness within the lamp's reach) where it is published, else nearest "
            "first. In all, {total} lamps are out or faulty."
        ),
        "lamps_none": "No hot spots in the period, or no lamps out.",
        "col_lamp": "Lamp",
        "col_lamp_type": "Lamp type",
        "col_distance": "Distance (m)",
        "col_owner": "Owner",
        "col_rank": "Rank",
        "col_rank_reason": "Reason",
        "s_interventions": "Intervention follow-up",
        "interventions_text": (
            "Incidents in the intervention's target area for equal windows before and after ({weeks} whole weeks before "
            "and after the week it was completed). p: exact test of equal rates before and after."
        ),
        "col_intervention": "Intervention",
        "col_type": "Type",
        "col_start": "Start",
        "col_before": "Before",
        "col_after": "After",
        "col_note": "Note",
        "col_org": "Organisation",
        "col_outcome": "Outcome",
        "s_analysis": "Analysis",
        "analysis_intro": (
            "What changed more than chance explains (p < {alpha} after Holm correction within each table). Changes "
            "without support are not reported as changes."
        ),
        "finding_up": "{what} rose from {b} to {a} ({pct}) against {against}; the rise is statistically significant (p = {p}, rate × {rr}, 95 % CI {lo}–{hi}).",
        "finding_down": "{what} fell from {b} to {a} ({pct}) against {against}; the fall is statistically significant (p = {p}, rate × {rr}, 95 % CI {lo}–{hi}).",
        "finding_none": "No category group changed significantly against {against}.",
        "finding_moved": "{what} changed against {against} ({b} → {a}), but within chance variation (p = {p}).",
        "finding_dark": (
            "The share of incidents in darkness, of those with a known light condition, was {share_a} against {share_b} "
            "{against} (p = {p}{sig}); {unknown} incidents in the period have an unknown light condition and are left out."
        ),
        "finding_dark_sig": ", statistically significant",
        "finding_hot": "{n} cells were hot spots at 95 % significance or more in the period ({n_prev} in the previous period); {new} are new.",
        "finding_emerging": "Emerging hot spots: {classes}.",
        "finding_cell": "Cell {cell}: {b} → {a} incidents, a significant {direction} (p = {p}).",
        "finding_intervention": "Intervention {id} ({type}): {b} → {a} incidents in the target area, {direction} (p = {p}).",
        "up": "rise",
        "down": "fall",
        "against_previous": "the previous period",
        "against_last_year": "the same period last year",
        "s_sources": "Data sources and coverage",
        "sources_text": "Ingests per source (the latest version of each file) and what was quarantined.",
        "col_source": "Source",
        "col_kind": "Kind",
        "col_files": "Files",
        "col_read": "Rows",
        "col_ingested": "Ingested",
        "col_quarantined": "Quarantined",
        "col_reason": "Reason",
        "quarantine_none": "No rows quarantined.",
        "orgs_title": "Reports in the period per organisation",
        "layers_title": "Published layers",
        "places_more": "… and {n} more overdue places (see the layer Unsafe places).",
        "places_map": "Unsafe places by status",
        "places_map_legend": "Status",
        "places_map_text": "Every place from the safety walks in the map's extent, coloured by status (the colours of the web map and QGIS).",
        "lamps_map": "Lamps out and faults",
        "lamps_map_hot": "The period's hot spots",
        "lamps_map_text": "Lamps that are out or faulty, and the period's hot spot cells (red outline).",
        "kind_incidents": "Incidents",
        "kind_walks": "Safety walks",
        "kind_lights": "Lighting points",
        "kind_interventions": "Interventions",
        "col_layer": "Layer",
        "col_features": "Features",
        "s_method": "Method and privacy",
        "method_text": (
            "Incidents are counted per H3 cell and period by the middle of their time window. {privacy} "
            "Changes are tested with the exact conditional test of equal Poisson rates (binomial test given the sum, "
            "allowing for the periods' lengths), shares with Fisher's exact test; p-values within a table are adjusted "
            "with Holm's method. Hot spots are Getis-Ord Gi* with FDR correction; emerging hot spots follow Esri's "
            "definitions with a Mann-Kendall trend."
        ),
        "privacy_suppression": (
            "Counts below {min} are not published (nor values that would reveal them), so in the public version sums "
            "are sums of published values."
        ),
        "privacy_cell_key": (
            "Every published count is moved by a small fixed perturbation (the cell key method, as Statistics Sweden "
            "uses): the same incidents always give the same value, and no small count can be known exactly. Sums in the "
            "public version are sums of published values and may differ by a few from the sum of their parts."
        ),
        "weekdays": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
        "gi_bins": "Cold 99 %,Cold 95 %,Cold 90 %,Not significant,Hot 90 %,Hot 95 %,Hot 99 %",
        "hours": "Hour",
        "page": "Page",
        "yes": "yes",
        "no": "no",
    },
}

LIGHT_LABELS = {
    "sv": {"daylight": "Dagsljus", "twilight": "Skymning", "darkness": "Mörker", "unknown": "Okänt"},
    "en": {"daylight": "Daylight", "twilight": "Twilight", "darkness": "Darkness", "unknown": "Unknown"},
}

EMERGING_LABELS = {
    "sv": {"new": "ny", "consecutive": "i följd", "intensifying": "ökande", "persistent": "ihållande",
           "diminishing": "avtagande", "sporadic": "sporadisk", "oscillating": "växlande", "historical": "historisk",
           "hot": "het", "cold": "kall", "none": "inget mönster"},
    "en": {"new": "new", "consecutive": "consecutive", "intensifying": "intensifying", "persistent": "persistent",
           "diminishing": "diminishing", "sporadic": "sporadic", "oscillating": "oscillating", "historical": "historical",
           "hot": "hot", "cold": "cold", "none": "no pattern"},
}


@dataclass(frozen=True)
class Texts:
    lang: str
    settings: Settings

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            raise ValueError(f"language {self.lang!r}: expected one of {', '.join(LANGUAGES)}")

    def __call__(self, key: str, **values: Any) -> str:
        return STRINGS[self.lang][key].format(**values)

    def code(self, code_list: str, code: str) -> str:
        return self.settings.code_lists[code_list].label(str(code), self.lang)

    def column(self, column: str) -> str:
        """Label of a count column: count, grp_<group>, cat_<category>, light_<condition>."""
        if column == "count":
            return self("row_total")
        prefix, _, code = column.partition("_")
        if prefix == "grp":
            return self.code("category_groups", code)
        if prefix == "cat":
            return self.code("categories", code)
        if prefix == "light":
            return LIGHT_LABELS[self.lang][code]
        return column

    def emerging(self, cls: str) -> str:
        if cls in ("none", "", None):
            return EMERGING_LABELS[self.lang]["none"]
        rule, _, kind = str(cls).rpartition("_")
        return f"{EMERGING_LABELS[self.lang][rule]} ({EMERGING_LABELS[self.lang][kind]})"

    def list(self, key: str) -> list[str]:
        return STRINGS[self.lang][key].split(",")

    # Numbers -------------------------------------------------------------------------
    def int(self, value: Any) -> str:
        if _missing(value):
            return self("no_data")
        text = f"{int(round(float(value))):,}"
        return text.replace(",", "\u00a0") if self.lang == "sv" else text

    def signed(self, value: Any) -> str:
        if _missing(value):
            return self("no_data")
        text = self.int(abs(value))
        return ("+" if value > 0 else "−" if value < 0 else "±") + text

    def decimal(self, value: Any, digits: builtins.int = 1) -> str:
        if _missing(value):
            return self("no_data")
        text = f"{float(value):,.{digits}f}"
        return text.replace(",", "\u00a0").replace(".", ",") if self.lang == "sv" else text

    def pct(self, value: Any, signed: bool = True) -> str:
        if _missing(value):
            return self("no_data")
        sign = ("+" if value > 0 else "−" if value < 0 else "±") if signed else ""
        number = self.decimal(abs(value) if signed else value, 1)
        return f"{sign}{number}\u00a0%" if self.lang == "sv" else f"{sign}{number}%"

    def p(self, value: Any) -> str:
        if _missing(value):
            return self("no_data")
        if value < 0.001:
            return "< " + self.decimal(0.001, 3)
        return self.decimal(value, 3)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
