"""Access: tokens never reach the logs, the stream checks Origin, ingest binds to localhost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from shared.settings import Settings
from tests.helpers import Ingest, article
from tests.procs import Stack


async def test_tokens_never_appear_in_any_service_log(ingest: Ingest, fresh: Stack) -> None:
    wrong = "wrong-secret-token-5678"
    await ingest.apply(article("logged-1"))
    await ingest.client.post(
        f"{ingest.base}/v1/articles",
        json=article("logged-2"),
        headers={"Authorization": f"Bearer {wrong}"},
    )
    await ingest.client.post(f"{ingest.base}/v1/articles?token={wrong}", content=b"{")
    await ingest.client.delete(f"{ingest.base}/v1/articles/logged-1", headers=ingest.auth)
    logs = "".join(path.read_text(errors="replace") for path in fresh.workdir.glob("*.log"))
    assert "POST /v1/articles" in logs  # the requests were logged ...
    assert fresh.token not in logs  # ... without the good token
    assert wrong not in logs  # ... or a wrong one


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
async def test_stream_refuses_foreign_origins(fresh: Stack, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(fresh.ws_url, origin=origin, open_timeout=5):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    assert refused.value.response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(refused.value.response.body)["errors"][0]["field"] == "origin"


async def test_stream_accepts_the_feed_pages_origin(fresh: Stack) -> None:
    origin = f"http://127.0.0.1:{fresh.ports['feed']}"
    async with websockets.connect(fresh.ws_url, origin=origin, open_timeout=5) as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "hello"


def _listening(port: int) -> set[str]:
    """Local addresses listening on ``port`` (hex, as /proc/net/tcp writes them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_ingest_binds_to_localhost_by_default(fresh: Stack) -> None:
    assert Settings(_env_file=None).host == "127.0.0.1"  # type: ignore[call-arg]
    assert "LIVEFEED_HOST" not in fresh.env()
    # The running ingest (started without LIVEFEED_HOST) listens on 127.0.0.1 only.
    assert _listening(fresh.ports["ingest"]) == {"0100007F"}
