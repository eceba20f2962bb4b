"""Every change estgeo makes to pygeoapi's own modules, in one place, behind one version check.

pygeoapi is pinned to 0.24 in pyproject.toml (`pygeoapi>=0.24,<0.25`) because these
patches reach into its internals; `check_version()` refuses any other version at start-up
instead of letting a patch silently miss. Each patch is idempotent, so building the app a
second time in one process (a test, a reload) applies nothing twice. What each fixes
(docs/architecture.md §5 lists the pitfalls):

* `conformance(profile)` — honest `/conformance`: pygeoapi 0.24 claims OGC API Features
  Part 4 (create/replace/delete) for every feature collection; only the internal profile's
  editable collections have it. Our coverages have no time axis, so `coverage-datetime`
  is withdrawn too. The lists are module globals: one process serves one profile, and
  `estgeo.publish.app.build_app` sets them for the profile it builds.
* `cached_bbox_transform()` — pygeoapi transforms a `bbox-crs` box for every request,
  even CRS84 to CRS84, at ~30 ms each; `estgeo.publish.crs.transform_bbox` caches the
  transformer and densifies the edges.
* `random_job_ids()` — job ids are `uuid.uuid1()` (time and host, guessable from one's own);
  the manager module's `uuid` is swapped for one whose uuid1 is uuid4.
"""

from __future__ import annotations

import uuid
from typing import Any

import pygeoapi

SUPPORTED = "0.24."
PART4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"
COVERAGE_DATETIME = "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-datetime"


def check_version() -> None:
    if not pygeoapi.__version__.startswith(SUPPORTED):
        raise ImportError(f"estgeo.publish.compat patches pygeoapi {SUPPORTED}x internals; this is pygeoapi "
                          f"{pygeoapi.__version__} (pyproject.toml pins the supported range)")


def conformance(profile: str) -> None:
    """Part 4 only where collections are editable (internal); never coverage-datetime."""
    from pygeoapi.api import coverages, itemtypes

    features = itemtypes.CONFORMANCE_CLASSES_FEATURES
    while PART4 in features:
        features.remove(PART4)
    if profile == "internal":
        features.append(PART4)
    while COVERAGE_DATETIME in coverages.CONFORMANCE_CLASSES:
        coverages.CONFORMANCE_CLASSES.remove(COVERAGE_DATETIME)


def cached_bbox_transform() -> None:
    from pygeoapi.api import itemtypes

    from estgeo.publish.crs import transform_bbox

    itemtypes.transform_bbox = transform_bbox


class _RandomIds:
    uuid1 = staticmethod(uuid.uuid4)

    def __getattr__(self, name: str) -> Any:
        return getattr(uuid, name)


def random_job_ids() -> None:
    import pygeoapi.process.manager.base as manager_base

    if not isinstance(manager_base.uuid, _RandomIds):
        manager_base.uuid = _RandomIds()  # type: ignore[assignment]


def apply(profile: str) -> None:
    """Every patch, for an app serving `profile` (public or internal)."""
    check_version()
    conformance(profile)
    cached_bbox_transform()
    random_job_ids()
