"""Fuzzing the whole OpenAPI document with schemathesis.

Every operation the public server documents — and, with an API key, every operation of
the internal profile, writes included — is called with cases schemathesis generates from
the document: valid and invalid parameters, bodies and paths. No answer may be a 5xx, and
every answer must match the response schema the document gives for its status code.
`ESTGEO_FUZZ_EXAMPLES` sets the cases per operation (default 5; the benchmark run uses more).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_workspace import demo_workspace
from live_server import live_server

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # any 5xx fails, and a shared machine can turn a slow answer into a 503
EXAMPLES = int(os.environ.get("ESTGEO_FUZZ_EXAMPLES", "5"))
KEY = "fuzz-test-key-0123456789abcdefghijkl"
#: Operations that do heavy work per valid case get fewer cases.
EXPENSIVE = ("/processes/", "/coverage")


def fuzz(base: str, headers: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run every operation; return the number of cases and the failures."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_url(f"{base}/openapi?f=json", headers=headers or {})
    cases = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        heavy = any(part in operation.path for part in EXPENSIVE)

        @settings(max_examples=2 if heavy else EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            nonlocal cases
            cases += 1
            response = case.call(headers=headers or {}, timeout=120)
            try:
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            except AssertionError as exc:  # schemathesis' failure groups are AssertionErrors
                failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:500]}")

        run()
    return cases, failures


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace = demo_workspace()
    keys = workspace / "secrets" / "api-keys.txt"
    keys.parent.mkdir(exist_ok=True)
    keys.write_text(f"fuzz: {KEY}\n", encoding="utf-8")
    return workspace


@pytest.fixture(scope="module")
def public(workspace: Path) -> Iterator[str]:
    with live_server(workspace, workers=2) as (base, _):
        yield base


def test_public_openapi_fuzz(public: str) -> None:
    cases, failures = fuzz(public)
    print(f"fuzz (public): {cases} cases, {len(failures)} failures")
    assert cases > 100
    assert not failures, "\n".join(failures[:10])


def test_internal_openapi_fuzz(workspace: Path) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    with live_server(workspace, profile="internal", headers=headers) as (base, _):
        cases, failures = fuzz(base, headers)
    print(f"fuzz (internal): {cases} cases, {len(failures)} failures")
    assert cases > 100
    assert not failures, "\n".join(failures[:10])
