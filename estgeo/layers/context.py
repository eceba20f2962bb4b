"""What a layer builder gets to work with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from estgeo.config import Settings

if TYPE_CHECKING:
    from estgeo.layers.disclosure import Disclosure


@dataclass
class BuildContext:
    """Settings, a reader for the store and the folder of the build in progress.

    `read` returns a DataFrame of one kind from the store (see `estgeo.store.Store.read`):
    columns x, y in EPSG:3006 plus the canonical fields, datetimes tz-aware in UTC.
    `built` holds the collections already built in this run, so a later builder (hot
    spots, lighting insecurity) can use an earlier one's output without re-reading files.
    """

    settings: Settings
    read: Callable[[str], pd.DataFrame]
    out_dir: Path
    built: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str], None] = lambda message: None
    _disclosure: Any = field(default=None, repr=False)

    @property
    def disclosure(self) -> Disclosure:
        """How counts are published (`privacy.method`, `estgeo.layers.disclosure`), one per build."""
        if self._disclosure is None:
            from estgeo.layers import disclosure

            self._disclosure = disclosure.from_settings(self.settings)
        return self._disclosure
