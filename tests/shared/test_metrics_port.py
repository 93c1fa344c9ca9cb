"""The small /metrics + health port of the worker, the purger and the notifier."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.metrics_port import serve_metrics


def _ready() -> tuple[int, dict[str, Any]]:
    return 503, {"status": "starting"}


@pytest.mark.parametrize(("host", "url_host"), [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_the_port_answers_on_ipv4_and_ipv6_with_problems_for_the_unknown(
    host: str, url_host: str
) -> None:
    server = serve_metrics(host, 0, {"/readyz": _ready})
    try:
        base = f"http://{url_host}:{server.server_port}"
        ready = httpx.get(f"{base}/readyz")
        assert (ready.status_code, ready.json()) == (503, {"status": "starting"})
        assert httpx.get(f"{base}/metrics").status_code == 200
        missing = httpx.get(f"{base}/nope")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert httpx.post(f"{base}/metrics").status_code == 405
    finally:
        server.shutdown()
        server.server_close()
