"""Shared fixtures: a fresh workspace per test, with the repository's config and layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from estgeo.config import Settings, load_settings
from estgeo.store import Store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(workspace=tmp_path / "ws")
    s.ensure_workspace()
    return s


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings.store_path, settings.model)
