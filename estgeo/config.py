"""Loading the project configuration (`config/`) and the layer declarations (`layers/`).

Everything a municipality may change is data; this module only finds and reads it, so
the rest of the code can take a `Settings` object and never open a YAML file itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from estgeo.errors import EstgeoError

#: The repository's own config/ and layers/, used when no other folder is given.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


#: The ways public counts may be protected (`privacy.method`, see estgeo.layers.disclosure).
PRIVACY_METHODS = ("cell-key", "suppression")


class ConfigError(EstgeoError):
    """A configuration file is missing or wrong; the message names the file and key."""


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def normalise_label(text: str) -> str:
    """Fold a label so that 'Hot/Våld', 'hot_vald' and 'HOT VALD' compare equal.

    Real exports vary in case, in å/ä/ö (often lost on the way through old systems)
    and in punctuation, so matching happens on this folded form.
    """
    text = unicodedata.normalize("NFKD", str(text).strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


@dataclass(frozen=True)
class CodeList:
    """One code list of the taxonomy (categories, lamp statuses, …)."""

    name: str
    entries: dict[str, dict[str, Any]]
    #: Further spellings per code (config/vocabulary.yml, a source's `vocabulary:`).
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    #: Numeric codes by range, [(first, last, code)] (the police's brottskoder).
    ranges: tuple[tuple[int, int, str], ...] = ()

    @cached_property
    def lookup(self) -> dict[str, str]:
        """Folded code, label, alias or synonym → code."""
        table: dict[str, str] = {}
        for code, entry in self.entries.items():
            names = [code, entry.get("sv", ""), entry.get("en", ""), *entry.get("aliases", []),
                     *self.synonyms.get(code, [])]
            for name in names:
                if name:
                    table.setdefault(normalise_label(name), code)
        return table

    def by_number(self, folded: str) -> str | None:
        """The code a numeric code ("1201", a brottskod) falls under, or None."""
        if not self.ranges or not folded.isdigit():
            return None
        number = int(folded)
        return next((code for first, last, code in self.ranges if first <= number <= last), None)

    def with_synonyms(self, extra: dict[str, str] | None) -> CodeList:
        """This list with a source's own words ({label: code}) first."""
        if not extra:
            return self
        for label, code in extra.items():
            if code not in self.entries:
                raise ConfigError(f"vocabulary: '{label}' maps to '{code}', which is not a code of {self.name} "
                                  f"(codes: {', '.join(self.entries)})")
        own = CodeList(self.name, self.entries, self.synonyms, self.ranges)
        table = {normalise_label(label): str(code) for label, code in extra.items()}
        table.update({k: v for k, v in self.lookup.items() if k not in table})
        own.__dict__["lookup"] = table  # the source's words win over the shared vocabulary
        return own

    def label(self, code: str, lang: str = "sv") -> str:
        return str(self.entries.get(code, {}).get(lang, code))


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one estgeo instance."""

    config_dir: Path
    layers_dir: Path
    workspace: Path
    project: dict[str, Any] = field(repr=False)
    municipality: dict[str, Any] = field(repr=False)
    taxonomy: dict[str, Any] = field(repr=False)
    model: dict[str, Any] = field(repr=False)

    @cached_property
    def column_names(self) -> dict[str, Any]:
        """config/columns.yml: the names partners' columns go by (estgeo.ingest.recognise)."""
        path = self.config_dir / "columns.yml"
        return _read_yaml(path) if path.exists() else {}

    @cached_property
    def vocabulary(self) -> dict[str, Any]:
        """config/vocabulary.yml: the words partners use, per code list (optional file)."""
        path = self.config_dir / "vocabulary.yml"
        return _read_yaml(path) if path.exists() else {}

    @cached_property
    def code_lists(self) -> dict[str, CodeList]:
        """The taxonomy's code lists with config/vocabulary.yml's synonyms and code ranges."""
        vocabulary = self.vocabulary
        ranges = vocabulary.get("crime_codes") or {}
        out = {}
        for name, entries in self.taxonomy.items():
            synonyms = {code: [str(w) for w in words] for code, words in (vocabulary.get(name) or {}).items()}
            unknown = sorted(set(synonyms) - set(entries))
            if unknown:
                raise ConfigError(f"{self.config_dir / 'vocabulary.yml'}: {name}: {', '.join(unknown)} "
                                  f"is not a code of {name} (codes: {', '.join(entries)})")
            spans = tuple((int(r["from"]), int(r["to"]), str(r["code"])) for r in ranges.get(name) or [])
            out[name] = CodeList(name, entries, synonyms, spans)
        return out

    @property
    def time_zone(self) -> str:
        return str(self.project.get("time_zone", "Europe/Stockholm"))

    @property
    def storage_crs(self) -> str:
        return str(self.project.get("storage_crs", "EPSG:3006"))

    @property
    def extent_3006(self) -> tuple[float, float, float, float]:
        return tuple(self.municipality["extent_3006"])  # type: ignore[return-value]

    @property
    def sweden_extent_3006(self) -> tuple[float, float, float, float]:
        return tuple(self.project["ingest"]["sweden_extent_3006"])  # type: ignore[return-value]

    @property
    def privacy_min_count(self) -> int:
        return int(self.project.get("privacy", {}).get("min_count", 5))

    @property
    def privacy_method(self) -> str:
        """How public counts are protected (`privacy.method`): "cell-key" (the default) or
        "suppression" — read here once, for the builders, the audit, the styles and the report."""
        value = str((self.project.get("privacy") or {}).get("method", "cell-key"))
        if value not in PRIVACY_METHODS:
            raise ConfigError(f"config/estgeo.yml: privacy.method is {value!r}; use one of {', '.join(PRIVACY_METHODS)}")
        return value

    @property
    def h3_resolutions(self) -> list[int]:
        return [int(r) for r in self.project["h3"]["resolutions"]]

    @property
    def server(self) -> dict[str, Any]:
        return dict(self.project.get("server", {}))

    @cached_property
    def sources(self) -> list[dict[str, Any]]:
        """Column mappings per source organisation (config/sources/*.yml)."""
        found = []
        for path in sorted((self.config_dir / "sources").glob("*.yml")):
            source = _read_yaml(path)
            source.setdefault("name", path.stem)
            if source.get("kind") not in self.model:
                raise ConfigError(f"{path}: kind must be one of {', '.join(self.model)}")
            source["_path"] = str(path)
            found.append(source)
        return found

    @cached_property
    def layers(self) -> list[dict[str, Any]]:
        """Layer declarations (layers/*.yml), each with its builder and collections."""
        found = []
        for path in sorted(self.layers_dir.glob("*.yml")):
            layer = _read_yaml(path)
            layer.setdefault("name", path.stem)
            if "builder" not in layer:
                raise ConfigError(f"{path}: 'builder' is required")
            layer["_path"] = str(path)
            found.append(layer)
        return found

    @property
    def collections(self) -> list[dict[str, Any]]:
        """Every published collection declared by any layer."""
        return [c for layer in self.layers for c in layer.get("collections", [])]

    # Workspace layout -------------------------------------------------------------
    @property
    def inbox(self) -> Path:
        return self.workspace / "inbox"

    @property
    def store_path(self) -> Path:
        return self.workspace / "store.sqlite"

    @property
    def store_url(self) -> str:
        """Where the records are kept: `embedded` (the workspace's SQLite file, the
        default) or a PostGIS URL, `postgresql://user@host/db?schema=estgeo`; the
        environment variable ESTGEO_STORE overrides `store:` of config/estgeo.yml. A
        `{workspace}` in the URL (`?schema={workspace}`) becomes a schema name of its own
        for each workspace folder, so several installations can share one database."""
        url = str(os.environ.get("ESTGEO_STORE") or self.project.get("store") or "embedded")
        # "{workspace}" in a URL gives every workspace its own schema in one database.
        return url.replace("{workspace}", "ws_" + hashlib.sha1(str(self.workspace.resolve()).encode()).hexdigest()[:12])

    @property
    def quarantine_dir(self) -> Path:
        return self.workspace / "quarantine"

    @property
    def published_dir(self) -> Path:
        return self.workspace / "published"

    @property
    def workspace_group(self) -> str | None:
        """The group that may read the workspace (config/estgeo.yml `workspace_group`), or
        None: private to the service's user."""
        group = self.project.get("workspace_group")
        return str(group) if group else None

    def workspace_umask(self) -> int:
        """The umask for everything the service writes: 0o077 (files 0600, folders 0700),
        or 0o027 (group-readable) with `workspace_group`."""
        return 0o027 if self.workspace_group else 0o077

    def ensure_workspace(self) -> None:
        """Make the workspace and its folders, private to the service's user.

        The workspace holds raw incident records with free text and exact positions
        (the store, the quarantine, the inbox), which were created world-readable
        (0644/0755). The workspace folder itself is set to 0700 — 0750 and the
        configured group with `workspace_group` — so nothing inside it can be reached
        by anyone else, whatever the modes of the files within; new files are 0600 by
        the umask the command line sets (`workspace_umask`)."""
        mode = 0o750 if self.workspace_group else 0o700
        self.workspace.mkdir(parents=True, exist_ok=True, mode=mode)
        _restrict(self.workspace, mode, self.workspace_group)
        for folder in (self.inbox, self.quarantine_dir, self.published_dir):
            if not folder.exists():
                folder.mkdir(parents=True, exist_ok=True, mode=mode)
                _restrict(folder, mode, self.workspace_group)


def _restrict(folder: Path, mode: int, group: str | None) -> None:
    """chmod (and chgrp) a folder we own; a folder owned by someone else is left alone."""
    import grp

    try:
        if group:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError as exc:
                raise ConfigError(f"config/estgeo.yml workspace_group: there is no group '{group}'") from exc
            os.chown(folder, -1, gid)
        os.chmod(folder, mode)
    except PermissionError:
        pass


def load_settings(
    workspace: str | os.PathLike[str] | None = None,
    config_dir: str | os.PathLike[str] | None = None,
    layers_dir: str | os.PathLike[str] | None = None,
) -> Settings:
    """Read config/ and layers/ into one `Settings`.

    The workspace comes from the argument, else ESTGEO_HOME, else ./var; config and
    layers from the argument, else ESTGEO_CONFIG / ESTGEO_LAYERS, else the repository's.
    """
    ws = Path(workspace or os.environ.get("ESTGEO_HOME") or "var").resolve()
    cdir = Path(config_dir or os.environ.get("ESTGEO_CONFIG") or PACKAGE_ROOT / "config")
    ldir = Path(layers_dir or os.environ.get("ESTGEO_LAYERS") or PACKAGE_ROOT / "layers")
    return Settings(
        config_dir=cdir,
        layers_dir=ldir,
        workspace=ws,
        project=_read_yaml(cdir / "estgeo.yml"),
        municipality=_read_yaml(cdir / "municipality.yml"),
        taxonomy=_read_yaml(cdir / "taxonomy.yml"),
        model=_read_yaml(cdir / "model.yml"),
    )
