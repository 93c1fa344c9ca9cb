"""Structured logs: JSON lines, one per request, a request id that reaches the worker, no token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article
from tests.procs import Stack, wait_for

SECRET = "s3cret-token-never-logged-7f2c"
WRONG = "wrong-token-also-never-logged-91ab"


@pytest.fixture(scope="module")
def json_stack() -> Iterator[Stack]:
    """A stack logging JSON, with a token we can look for."""
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url, short_tmpdir(), token=SECRET, extra_env={"LIVEFEED_LOG_FORMAT": "json"}
        ).start()
        try:
            yield stack
        finally:
            stack.stop()


def _lines(path: Path) -> list[dict[str, Any]]:
    entries = []
    for raw in path.read_text().splitlines():
        if raw.strip():
            entries.append(json.loads(raw))  # every line is one JSON object
    return entries


async def test_a_request_id_travels_from_ingest_to_the_worker_and_no_token_is_logged(
    json_stack: Stack,
) -> None:
    rid = "trace-4b1d-ops"
    async with httpx.AsyncClient(timeout=10) as http:
        ingest = Ingest(json_stack, http)
        response = await ingest.post(article("logged-1"), **{"X-Request-ID": rid})
        assert response.headers["x-request-id"] == rid
        assert (await ingest.wait_applied(response))[0]["outcome"] == "published"
        refused = await http.post(
            f"{ingest.base}/v1/articles",
            json=article("logged-2"),
            headers={"Authorization": f"Bearer {WRONG}"},
        )
        assert refused.status_code == 403
        # A token in the query string is not a credential here, and must not be logged either.
        await http.get(f"{json_stack.url('feed')}/v1/timeline?token={SECRET}")

    logs = {name: json_stack.workdir / f"{name}.log" for name in ("ingest", "worker", "feed")}

    def worker_logged_the_job() -> bool:
        return any(e.get("request_id") == rid for e in _lines(logs["worker"]))

    wait_for(worker_logged_the_job)
    ingest_lines = _lines(logs["ingest"])
    request_line = next(
        e for e in ingest_lines if e.get("request_id") == rid and "POST" in e["message"]
    )
    assert request_line["service"] == "ingest"
    assert request_line["route"] == "/v1/articles"
    assert "ms" in request_line
    # Exactly one line per request.
    assert sum(1 for e in ingest_lines if e.get("request_id") == rid) == 1
    job_line = next(e for e in _lines(logs["worker"]) if e.get("request_id") == rid)
    assert job_line["service"] == "worker"
    assert job_line["outcomes"] == "published:1"
    # RQ's own bookkeeping (five lines a job, two per maintenance pass) stays out at INFO.
    assert not any("cleaning registries" in e["message"] for e in _lines(logs["worker"]))
    assert not any("Job OK" in e["message"] for e in _lines(logs["worker"]))

    for path in json_stack.workdir.glob("*.log"):
        text = path.read_text()
        _lines(path)  # structured all the way: every line parses
        assert SECRET not in text, f"{path.name} logged the token"
        assert WRONG not in text, f"{path.name} logged a presented token"
