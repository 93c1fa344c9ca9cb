"""The tokens as written (a ``#`` inside a token, a ``:`` inside an env token, a line that does not
parse) and token guessing throttled per client address: against real ingest and feed processes.

Client addresses come from ``X-Forwarded-For``: the test connects from 127.0.0.1, which uvicorn
trusts as a proxy by default (``FORWARDED_ALLOW_IPS``), as ingest trusts the shipped nginx.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.helpers import article, eventually, minute_with_time_left
from tests.procs import Service, Stack, free_port

CMS = "cms-token-1234567"
HASHED = "abcdefghij#klm"  # a token with a '#' in it, scoped to sport
COLON = "word:tok-12345678"  # a token with a ':' in it, given a name in the env
DESK = "desk-token-1234567"
LIMIT = 10  # LIVEFEED_AUTH_FAILURES_PER_MINUTE's default


def write_tokens(path: Path, text: str) -> None:
    """Replace the tokens file atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


GOOD_FILE = f"# newsroom tokens\nwire {HASHED} sport   # the wire, sport only\ndesk {DESK}\n"


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[Stack, Path]]:
    """ingest and feed with a tokens file and named env tokens (no worker: nothing is applied)."""
    workdir = short_tmpdir()
    path = workdir / "tokens"
    write_tokens(path, GOOD_FILE)
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            workdir,
            extra_env={
                "LIVEFEED_INGEST_TOKENS": f"cms:{CMS},pass:{COLON}",
                "LIVEFEED_TOKENS_FILE": str(path),
                "LIVEFEED_INGEST_RATE_LIMIT": "0",
            },
        )
        for name in ("ingest", "feed", "push", "worker"):
            stack.ports.setdefault(name, free_port())
        try:
            for name in ("ingest", "feed"):
                stack.start_service(name)
            for name in ("ingest", "feed"):
                stack.wait_healthy(name)
            yield stack, path
        finally:
            stack.stop()


def bearer(token: str, address: str = "192.0.2.1") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}


async def post(
    http: httpx.AsyncClient, stack: Stack, token: str, section: str, address: str = "192.0.2.1"
) -> httpx.Response:
    return await http.post(
        f"{stack.url('ingest')}/v1/articles",
        json=article(f"t-{section}", section=section),
        headers=bearer(token, address),
    )


async def test_a_hash_inside_a_token_is_part_of_it_and_its_sections_hold(
    guarded: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, _path = guarded
    assert (await post(http, stack, HASHED, "sport", "192.0.2.11")).status_code == 202
    # The sections after it still apply: this is not an unscoped token 'abcdefghij'.
    outside = await post(http, stack, HASHED, "world", "192.0.2.11")
    assert outside.status_code == 403, outside.text
    assert outside.json()["results"][0]["errors"][0]["field"] == "section"
    cut = await post(http, stack, "abcdefghij", "world", "192.0.2.11")
    assert cut.status_code == 403
    assert "section" not in cut.text  # refused as a token, not for its section


async def test_a_token_holding_a_colon_is_given_a_name_and_never_cut(
    guarded: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, _path = guarded
    assert (await post(http, stack, COLON, "world", "192.0.2.12")).status_code == 202
    # The part after the token's own ':' is not a token; the whole env entry is refused, saying
    # how it was read.
    assert (await post(http, stack, "tok-12345678", "world", "192.0.2.12")).status_code == 403
    whole = await post(http, stack, f"pass:{COLON}", "world", "192.0.2.12")
    assert whole.status_code == 403
    assert "whole 'name:token' entry" in whole.json()["detail"]


@pytest.mark.parametrize(
    ("tokens", "names"),
    [
        ("abcdefghij:k", "entry 1"),  # a name and a 1-character token: not a bare token
        ("cms:cms-token-1234567,bad name:token-long-enough", "entry 2"),
        (":token-long-enough", "entry 1"),
    ],
)
def test_an_env_entry_with_a_colon_that_is_not_name_and_token_stops_start_up(
    guarded: tuple[Stack, Path], tokens: str, names: str
) -> None:
    stack, _path = guarded
    env = stack.env(LIVEFEED_INGEST_TOKENS=tokens, LIVEFEED_INGEST_PORT=str(free_port()))
    del env["LIVEFEED_TOKENS_FILE"]
    service = Service("ingest", env, stack.workdir / "ingest-env.log").start()
    assert service.process is not None
    assert service.process.wait(timeout=30) != 0
    log = service.log_path.read_text(errors="replace")
    service.log_path.unlink()
    assert f"LIVEFEED_INGEST_TOKENS {names}" in log, log
    assert tokens not in log  # the entry (a secret) is never echoed


def test_a_tokens_file_line_that_does_not_parse_stops_start_up_naming_it(
    guarded: tuple[Stack, Path],
) -> None:
    stack, path = guarded
    bad = path.with_name("bad-tokens")
    bad.write_text(f"# tokens\ncms {CMS}\n\nwire {HASHED} sport colour=blue\n")
    service = stack.start_service(
        "ingest",
        key="ingest-bad",
        LIVEFEED_TOKENS_FILE=str(bad),
        LIVEFEED_INGEST_PORT=str(free_port()),
    )
    assert service.process is not None
    assert service.process.wait(timeout=30) != 0
    log = service.log_path.read_text(errors="replace")
    assert f"{bad} line 4: unknown field 'colour'" in log, log


async def test_a_bad_re_read_keeps_the_previous_tokens_and_logs_the_line(
    guarded: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, path = guarded
    log = stack.workdir / "ingest.log"
    write_tokens(path, f"desk {DESK}\nwire {HASHED} sport\nnewdesk new-desk-token-123 Sport\n")

    async def reported() -> bool:
        # The file is looked at on requests; each still passes with the kept tokens.
        kept = await post(http, stack, HASHED, "sport", "192.0.2.13")
        assert kept.status_code == 202, kept.text
        return f"{path} line 3: section 'Sport'" in log.read_text(errors="replace")

    await eventually(reported, 5, "the bad line reported", interval=0.2)
    assert (await post(http, stack, "new-desk-token-123", "sport", "192.0.2.13")).status_code == 403
    assert (await post(http, stack, HASHED, "world", "192.0.2.13")).status_code == 403
    write_tokens(path, GOOD_FILE)


async def _guess(
    http: httpx.AsyncClient, url: str, address: str, count: int, method: str = "POST"
) -> list[httpx.Response]:
    answers = []
    for n in range(count):
        answers.append(
            await http.request(
                method, url, json=article("g-1"), headers=bearer(f"guess-{n:08d}", address)
            )
        )
    return answers


def _assert_throttled(answers: list[httpx.Response]) -> None:
    """The first LIMIT wrong tokens are 403, then 429 (a new minute may allow LIMIT more)."""
    statuses = [a.status_code for a in answers]
    assert statuses[:LIMIT] == [403] * LIMIT, statuses
    assert set(statuses) == {403, 429}, statuses
    assert LIMIT <= statuses.index(429) <= 2 * LIMIT, statuses
    assert statuses.count(403) <= 2 * LIMIT, statuses
    refused = answers[statuses.index(429)]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert refused.json()["errors"][0]["field"] == "authorization"


async def test_guessing_tokens_on_ingest_is_throttled_per_address(
    guarded: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, _path = guarded
    url = f"{stack.url('ingest')}/v1/articles"
    await minute_with_time_left(10)
    _assert_throttled(await _guess(http, url, "198.51.100.7", 300))
    # Once throttled, the address is refused whatever it sends (a hit would otherwise get in).
    assert (await post(http, stack, CMS, "world", "198.51.100.7")).status_code == 429
    # Another address is not: not even one in the same IPv4 /24.
    assert (await post(http, stack, CMS, "world", "198.51.100.8")).status_code == 202
    # An IPv6 client is counted by its /64: rotating inside it does not reset the count.
    sixes = [
        await http.post(url, json=article("g-6"), headers=bearer("nope-nope-1", f"2001:db8::{n}"))
        for n in range(1, 2 * LIMIT)
    ]
    assert 429 in [a.status_code for a in sixes]
    assert (await post(http, stack, CMS, "world", "2001:db8:0:1::1")).status_code == 202
    # No token at all is not a guess (401, never counted).
    for _ in range(2 * LIMIT):
        bare = await http.post(url, json=article("g-2"), headers={"X-Forwarded-For": "192.0.2.99"})
        assert bare.status_code == 401
    # Logged once (this minute) for the address, never with the tokens tried.
    log = (stack.workdir / "ingest.log").read_text(errors="replace")
    lines = [line for line in log.splitlines() if "failed token checks from 198.51.100.7" in line]
    assert 1 <= len(lines) <= 2, lines
    assert "guess-0" not in log


async def test_guessing_tokens_on_the_feeds_history_is_throttled_too(
    guarded: tuple[Stack, Path], http: httpx.AsyncClient
) -> None:
    stack, _path = guarded
    url = f"{stack.url('feed')}/v1/articles/g-1/history"
    await minute_with_time_left(10)
    _assert_throttled(await _guess(http, url, "198.51.100.20", 300, method="GET"))
    shut = await http.get(url, headers=bearer(CMS, "198.51.100.20"))
    assert shut.status_code == 429
    # One count for every service: ingest's first wrong token from that address is a 429, and
    # from then on ingest refuses it even a right one (it has now seen it fail this minute).
    assert (await post(http, stack, "nope-nope-nope", "world", "198.51.100.20")).status_code == 429
    assert (await post(http, stack, CMS, "world", "198.51.100.20")).status_code == 429
    assert (await http.get(url, headers=bearer(CMS, "198.51.100.21"))).status_code == 404
