"""What a headless Chromium driven by selenium asked for — shared by the browser tests of
the embed and of the server's pages (not a test module)."""

from __future__ import annotations

import json
from typing import Any


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked for since the last call, from Chromium's performance log
    (`goog:loggingPrefs` {"performance": "ALL"}): requests blocked or served from cache count too."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
