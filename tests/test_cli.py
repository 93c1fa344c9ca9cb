"""``livefeed up``: everything from one command, with an embedded Redis, stopped cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import short_tmpdir
from tests.procs import REPO, free_port, wait_for

EXAMPLES = REPO / "examples" / "seed.json"


SERVICE_PORTS = ("ingest", "feed", "push", "worker_metrics", "purger", "notifier")


def _free_ports() -> dict[str, int]:
    return {name: free_port() for name in SERVICE_PORTS}


def _env(data_dir: Path, ports: dict[str, int], **extra: str) -> dict[str, str]:
    """A shell without any LIVEFEED_* setting but the data dir and free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEFEED_")}
    env.update({f"LIVEFEED_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env.update(LIVEFEED_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def _start_up(data_dir: Path, ports: dict[str, int], **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        cwd=REPO,
        env=_env(data_dir, ports, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _banner(up: subprocess.Popen[str]) -> str:
    assert up.stdout is not None
    banner = ""
    while "Ctrl-C" not in banner:
        line = up.stdout.readline()
        assert line, f"up exited early: {banner}"
        banner += line
    # The logs go on after the banner: keep reading them so that the pipe never fills.
    threading.Thread(target=up.stdout.read, daemon=True).start()
    return banner


def _cli(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_runs_everything_prints_a_token_and_stops_cleanly(stop_signal: int) -> None:
    data_dir = short_tmpdir()
    ports = _free_ports()
    up = _start_up(data_dir, ports, LIVEFEED_WINDOW_DAYS="0")
    try:
        banner = _banner(up)
        token = re.search(r"dev token\s+(\S+)", banner)
        assert token, banner
        # The banner comes once every service answers: no waiting after it.
        for port in ports.values():
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
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
        # The desk: its address in the banner, the dev token signs in, and push admits the
        # desk's origin for its stream (and no other).
        desk = f"http://127.0.0.1:{ports['ingest']}"
        assert f"{desk}/desk" in banner
        signed = httpx.post(f"{desk}/desk/login", data={"token": token.group(1)},
                            headers={"Origin": desk})  # fmt: skip
        assert signed.status_code == 303, signed.text
        assert "livefeed_session" in signed.cookies
        events = f"http://127.0.0.1:{ports['push']}/v1/events"
        with httpx.stream("GET", events, headers={"Origin": desk}, timeout=5) as stream:
            assert stream.status_code == 200
        foreign = httpx.get(events, headers={"Origin": "http://127.0.0.1:1"}, timeout=5)
        assert foreign.status_code == 403

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
    assert "LIVEFEED_TIMEZONE" in result.stderr
    assert "LIVEFEED_WINDOW_DAYS" in result.stderr


def test_up_keeps_its_dev_token_and_every_client_command_finds_it() -> None:
    data_dir = short_tmpdir()
    ports = _free_ports()
    env = _env(data_dir, ports)
    tokens = []
    for _ in range(2):  # a restart keeps the token a tool was given
        up = _start_up(data_dir, ports)
        try:
            banner = _banner(up)
            found = re.search(r"dev token\s+(\S+)", banner)
            assert found, banner
            tokens.append(found.group(1))
            assert re.search(r"try\s+\S*livefeed demo", banner), banner
        finally:
            up.send_signal(signal.SIGTERM)
            assert up.wait(30) == 0
    assert tokens[0] == tokens[1]
    up = _start_up(data_dir, ports)
    try:
        _banner(up)
        # No --token, no LIVEFEED_TOKEN: post and demo use the kept dev token.
        post = _cli("post", str(EXAMPLES), env=env)
        assert post.returncode in (0, 1), post.stderr  # the 2024 seed may be expired: answered
        assert "give --token" not in post.stderr
        demo = _cli("demo", "--interval", "0.1", "--count", "2", env=env)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "posted the seed: 40 headlines" in demo.stdout
        assert demo.stdout.count("\n+ ") == 2, demo.stdout
        timeline = f"http://127.0.0.1:{ports['feed']}/v1/timeline?limit=100"

        def shown() -> int:
            return sum(len(day["items"]) for day in httpx.get(timeline).json()["days"])

        wait_for(lambda: shown() == 42)
        # alerts test finds the dev VAPID keys: it gets as far as the subscription.
        alerts = _cli("alerts", "test", "--id", "0" * 32, env=env)
        assert "set the VAPID settings" not in alerts.stderr, alerts.stderr
        assert "no subscription" in alerts.stderr, alerts.stderr
        # reset asks first; not on a terminal it needs --yes.
        refused = _cli("reset", env=env)
        assert refused.returncode == 2
        assert "--yes" in refused.stderr
        assert shown() == 42
        reset = _cli("reset", "--yes", env=env)
        assert reset.returncode == 0, reset.stderr
        wait_for(lambda: shown() == 0)
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0


@pytest.mark.parametrize(
    ("command", "taken", "variable"),
    [
        ("feed", "feed", "LIVEFEED_FEED_PORT"),
        ("up", "worker_metrics", "LIVEFEED_WORKER_METRICS_PORT"),
        ("up", "purger", "LIVEFEED_PURGER_PORT"),
    ],
)
def test_a_busy_port_names_the_variable_to_change(command: str, taken: str, variable: str) -> None:
    ports = _free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[taken]))
        squatter.listen()
        done = _cli(command, env=_env(short_tmpdir(), ports))
    assert done.returncode == 2
    assert f"port {ports[taken]} on 127.0.0.1 is already in use" in done.stderr
    assert f"set {variable} to a free port" in done.stderr


def test_service_help_lists_its_port_and_settings() -> None:
    for service, variable in [("push", "LIVEFEED_PUSH_PORT"), ("worker", "LIVEFEED_WORKER_")]:
        done = _cli(service, "--help", env=dict(os.environ))
        assert done.returncode == 0
        assert variable in done.stdout
        assert "LIVEFEED_REDIS_URL" in done.stdout
