"""The served app in-process: `estgeo.publish.app.build_app` behind Flask's test client,
for the tests where a real socket adds nothing (no second worker, no raw request line,
no client that needs a URL it can reach).

Not a test module (imported by its name, like live_server). `AppClient` answers
`get`/`head`/`post`/`options` as `requests` does — the response has `status_code`,
`headers`, `content`, `text` and `json()` — and formats as its base URL, so a test that
builds URLs with `f"{server}/collections"` reads the same against either server. The app
is the one `estgeo serve` runs: every middleware of `MIDDLEWARE`, the same pygeoapi files.
"""

from __future__ import annotations

import json
from typing import Any

from estgeo.config import Settings
from estgeo.publish.app import build_app

#: The address the app puts in its links; requests to it are answered in-process.
BASE = "http://estgeo.test"


class Response:
    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.status_code = raw.status_code
        self.headers = raw.headers
        self.content = raw.get_data()

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> Any:
        return json.loads(self.content)


class AppClient:
    def __init__(self, settings: Settings, profile: str = "public") -> None:
        self.app = build_app(settings, profile, write=True, url=BASE)
        self.client = self.app.test_client()
        self.base = BASE

    def __str__(self) -> str:
        return self.base

    def __format__(self, spec: str) -> str:
        return format(self.base, spec)

    def request(self, method: str, url: str, params: Any = None, headers: dict[str, str] | None = None,
                timeout: float | None = None, **kwargs: Any) -> Response:
        if not url.startswith(self.base):
            raise ValueError(f"{url}: an in-process app answers only {self.base}")
        path = url[len(self.base):] or "/"
        return Response(self.client.open(path, method=method, query_string=params, headers=headers, **kwargs))

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> Response:
        return self.request("OPTIONS", url, **kwargs)
