"""``livefeed up``: everything from one command, with an embedded Redis, stopped cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import short_tmpdir
from tests.procs import REPO, free_port, wait_for

EXAMPLES = REPO / "examples" / "seed.json"


def _start_up(data_dir: Path, ports: dict[str, int]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEFEED_")}
    env.update(
        LIVEFEED_DATA_DIR=str(data_dir),
        LIVEFEED_INGEST_PORT=str(ports["ingest"]),
        LIVEFEED_FEED_PORT=str(ports["feed"]),
        LIVEFEED_PUSH_PORT=str(ports["push"]),
        LIVEFEED_NOTIFIER_PORT=str(ports["notifier"]),
        LIVEFEED_WINDOW_DAYS="0",
        PYTHONUNBUFFERED="1",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_runs_everything_prints_a_token_and_stops_cleanly(stop_signal: int) -> None:
    data_dir = short_tmpdir()
    ports = {name: free_port() for name in ("ingest", "feed", "push", "notifier")}
    up = _start_up(data_dir, ports)
    try:
        assert up.stdout is not None
        banner = ""
        while "Ctrl-C" not in banner:
            line = up.stdout.readline()
            assert line, f"up exited early: {banner}"
            banner += line
        token = re.search(r"dev token\s+(\S+)", banner)
        assert token, banner
        for port in ports.values():
            wait_for(lambda p=port: httpx.get(f"http://127.0.0.1:{p}/healthz").status_code == 200)
        # The printed token works: post the seed and see it in the timeline.
        post = subprocess.run(
            [sys.executable, "-m", "services.cli", "post", str(EXAMPLES),
             "--url", f"http://127.0.0.1:{ports['ingest']}", "--token", token.group(1)],
            cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert post.returncode == 0, post.stdout + post.stderr
        assert "accepted 40" in post.stdout
        # Alerts run too, with dev VAPID keys kept in the data dir for the next run.
        assert f"{ports['feed']}/alerts" in banner
        assert (data_dir / "vapid-dev.env").read_text().count("LIVEFEED_VAPID_") == 3
        page = httpx.get(f"http://127.0.0.1:{ports['feed']}/").text
        assert 'id="alerts"' in page

        def timeline_full() -> bool:
            body = httpx.get(f"http://127.0.0.1:{ports['feed']}/v1/timeline?limit=100").json()
            return sum(len(day["items"]) for day in body["days"]) == 40

        wait_for(timeline_full)
        assert (data_dir / "livefeed.aof").exists() or any(data_dir.glob("*.aof*"))
    finally:
        up.send_signal(stop_signal)
        code = up.wait(30)
    assert code == 0
    for port in ports.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_post_exits_non_zero_when_items_are_rejected(stack: object) -> None:
    from tests.procs import Stack

    assert isinstance(stack, Stack)
    bad = short_tmpdir() / "bad.json"
    bad.write_text(
        '{"articles": [{"id": "ok-1", "title": "Fine", '
        '"published_at": "2024-10-24T10:00:00Z"}, {"id": "no title"}]}'
    )
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "post", str(bad),
         "--url", stack.url("ingest"), "--token", stack.token],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "rejected" in result.stdout
    no_token = subprocess.run(
        [sys.executable, "-m", "services.cli", "post", str(bad), "--url", stack.url("ingest")],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
        env={k: v for k, v in os.environ.items() if k != "LIVEFEED_TOKEN"},
    )  # fmt: skip
    assert no_token.returncode == 2


def test_bad_configuration_fails_loudly() -> None:
    env = {**os.environ, "LIVEFEED_TIMEZONE": "Mars/Olympus", "LIVEFEED_WINDOW_DAYS": "-1"}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "feed"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "timezone" in result.stderr
    assert "window_days" in result.stderr
