"""``livefeed post``: every format detected, one line per item, exit codes a script can trust."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import short_tmpdir
from tests.helpers import Feed
from tests.procs import REPO, Stack, free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def post(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEFEED_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "post", *args],
        cwd=REPO,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base_env, **(env or {})},
    )


@pytest.mark.parametrize(
    ("name", "detected"),
    [("ninjs2_full.json", "ninjs"), ("ninjs1_item.json", "ninjs")],
)
async def test_all_accepted_exits_0(fresh: Stack, feed: Feed, name: str, detected: str) -> None:
    result = post(
        str(FIXTURES / name), "--url", fresh.url("ingest"), env={"LIVEFEED_TOKEN": fresh.token}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("accepted ")
    assert f"{detected}: job " in result.stdout
    # Posting it again is "unchanged": an answer, not a failure.
    again = post(str(FIXTURES / name), "--url", fresh.url("ingest"), "--token", fresh.token)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("unchanged ")


async def test_feeds_from_stdin_with_rejected_entries_exit_1(fresh: Stack, feed: Feed) -> None:
    for name, kind, rejected in (("rss_feed.xml", "rss", 3), ("atom_feed.xml", "atom", 1)):
        result = post(
            "-",
            "--url",
            fresh.url("ingest"),
            "--token",
            fresh.token,
            stdin=(FIXTURES / name).read_bytes(),
        )
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert sum(line.startswith("rejected ") for line in lines) == rejected
        assert f"{kind}: job " in lines[-1]
        assert f"rejected {rejected}" in lines[-1]
    assert (
        "items[5].pubDate"
        in post(
            str(FIXTURES / "rss_feed.xml"), "--url", fresh.url("ingest"), "--token", fresh.token
        ).stdout
    )


async def test_refusals_exit_1(fresh: Stack) -> None:
    bad = short_tmpdir() / "bad.xml"
    bad.write_bytes(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><rss><channel/></rss>')
    refused = post(str(bad), "--url", fresh.url("ingest"), "--token", fresh.token)
    assert refused.returncode == 1
    assert "400" in refused.stderr
    wrong_token = post(
        str(FIXTURES / "ninjs2_full.json"), "--url", fresh.url("ingest"), "--token", "nope-nope"
    )
    assert wrong_token.returncode == 1
    assert "403" in wrong_token.stderr
    nobody = post(
        str(FIXTURES / "ninjs2_full.json"),
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "--token",
        fresh.token,
    )
    assert nobody.returncode == 1
    assert "cannot reach" in nobody.stderr
    all_bad = post(
        str(FIXTURES / "ninjs2_canceled.json"),
        "--url",
        fresh.url("ingest"),
        "--content-type",
        "text/plain",
        "--token",
        fresh.token,
    )
    assert all_bad.returncode == 1
    assert "415" in all_bad.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    no_token = post(str(FIXTURES / "ninjs2_full.json"), "--url", "http://127.0.0.1:9")
    assert no_token.returncode == 2
    assert "LIVEFEED_TOKEN" in no_token.stderr
    missing = post(str(tmp_path / "nope.json"), "--token", "some-token")
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    no_file = post()
    assert no_file.returncode == 2


async def test_idempotency_key_option(fresh: Stack, feed: Feed) -> None:
    args = (str(FIXTURES / "mixed_batch.json"), "--url", fresh.url("ingest"))
    args += ("--token", fresh.token, "--idempotency-key", "batch-7")
    first = post(*args)
    retry = post(*args)
    assert first.returncode == retry.returncode == 1  # the batch has rejected items
    assert retry.stdout == first.stdout  # the same answer, same job
    assert sum(line.startswith("accepted ") for line in first.stdout.splitlines()) == 2
