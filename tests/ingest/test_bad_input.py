"""The bad-input corpus (tests/data/bad): every messy export gets a clear outcome.

For each file of `MANIFEST.yml`: ingest it into a fresh workspace and check that nothing
crashes, that read = ingested + updated + unchanged + quarantined, that each quarantined
row has an entry with field and reason (and a file rejected whole is copied into the
quarantine with its reason), and that the counts and reasons are the expected ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from estgeo.config import Settings
from estgeo.ingest.pipeline import EXCEL_CELL_LIMIT, ingest_file
from estgeo.store import Store

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
MANIFEST: dict[str, dict[str, Any]] = yaml.safe_load((BAD / "MANIFEST.yml").read_text(encoding="utf-8"))


def test_every_file_of_the_corpus_is_in_the_manifest() -> None:
    files = {p.name for p in BAD.iterdir() if p.name != "MANIFEST.yml"}
    assert files == set(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bad_input(settings: Settings, store: Store, name: str) -> None:
    expected = MANIFEST[name]
    summary = ingest_file(settings, store, BAD / name, kind=expected.get("kind", "incidents"), crs=expected.get("crs"))
    assert summary.balanced()
    quarantine = store.read_quarantine()
    if "error" in expected:
        assert expected["error"] in summary.error
        assert summary.ingested == summary.updated == summary.unchanged == 0
        kept = {p.name for p in settings.quarantine_dir.iterdir()}
        assert any(k.endswith(f"_{name}") for k in kept) and any(k.endswith(f"_{name}.reason.txt") for k in kept)
        assert len(quarantine) == 1 and expected["error"] in quarantine["reason"].iloc[0]
        return
    assert not summary.error
    assert [summary.read, summary.ingested, summary.updated, summary.unchanged, summary.quarantined] == expected["counts"]
    assert summary.notes == expected.get("notes", 0)
    # Every quarantined row has at least one entry, and every entry says field and why.
    assert quarantine["row"].nunique() == summary.quarantined
    assert quarantine["field"].str.len().gt(0).all() and quarantine["reason"].str.len().gt(0).all()
    found = [f"{f}: {r}" for f, r in zip(quarantine["field"], quarantine["reason"], strict=True)]
    for reason in expected.get("reasons", []):
        field, _, text = reason.partition(": ")
        assert any(f.startswith(field + ": ") and text in f for f in found), (reason, found)
    for suggestion in expected.get("suggestions", []):
        assert suggestion in set(quarantine["suggestion"])
    if summary.quarantined:
        written = next(settings.quarantine_dir.glob(f"*_{Path(name).stem}.csv")).read_text(encoding="utf-8-sig")
        assert all(len(cell) <= EXCEL_CELL_LIMIT + 100 for line in written.splitlines() for cell in line.split(";"))
        assert ";=" not in written and ";@" not in written and ";-cmd" not in written  # formulas neutralised
    if "same_place" in expected:
        stored = store.read("incidents").set_index("id")
        places = stored.loc[expected["same_place"], ["x", "y"]]
        assert (places.max() - places.min()).max() < 1.0  # metres


def test_reingesting_the_corpus_adds_nothing(settings: Settings, store: Store) -> None:
    """Ingest everything twice: the second run finds every good row unchanged."""
    first = {n: ingest_file(settings, store, BAD / n, kind=e.get("kind", "incidents")) for n, e in MANIFEST.items()}
    second = {n: ingest_file(settings, store, BAD / n, kind=e.get("kind", "incidents")) for n, e in MANIFEST.items()}
    for name in MANIFEST:
        assert second[name].balanced()
        assert second[name].ingested == 0 and second[name].updated == 0
        assert second[name].unchanged == first[name].ingested + first[name].unchanged or first[name].ingested == 0


def test_huge_field_is_whole_in_the_store_and_cut_in_the_csv(settings: Settings, store: Store) -> None:
    ingest_file(settings, store, BAD / "jattefalt.csv", kind="incidents")
    quarantine = store.read_quarantine()
    assert quarantine["record"].str.len().max() > 2_000_000  # nothing lost
    written = next(settings.quarantine_dir.glob("*_jattefalt.csv")).read_text(encoding="utf-8-sig")
    assert "characters in all)" in written and len(written) < 400_000
