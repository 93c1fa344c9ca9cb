"""The deployment files: the compose file is valid and has the promised topology, the proxy
routes each path (and method) to the right service, and the image's health check works.

No container engine runs here, so the compose file is checked with ``docker-compose config``
and the proxy with the real nginx (from Debian, installed by .ci/run) pointed at real services.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
import yaml
from pydantic import ValidationError

from shared import keys
from shared.addresses import address_group
from shared.settings import Settings
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article, long_id_articles, subscribe
from tests.nginx import VARNISH_ADDRESS, Nginx, service_address
from tests.procs import REPO, Stack, free_port, missing_tool

LIVEFEED_SERVICES = ("ingest", "worker", "feed", "push", "purger", "notifier")


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    """``docker-compose config`` of the repo's file, with .env made from .env.example."""
    binary = shutil.which("docker-compose")
    if binary is None:
        missing_tool("docker-compose")
    project = short_tmpdir()
    for name in ("docker-compose.yml", "Dockerfile", "deploy"):
        (project / name).symlink_to(REPO / name)
    shutil.copy(REPO / ".env.example", project / ".env")
    check = subprocess.run(
        [binary, "config", "-q"], cwd=project, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    resolved = subprocess.run(
        [binary, "config"], cwd=project, capture_output=True, text=True, check=True
    )
    config: dict[str, Any] = yaml.safe_load(resolved.stdout)
    return config


def test_compose_runs_the_promised_topology(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert set(services) == {"redis", *LIVEFEED_SERVICES, "varnish", "proxy"}
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync always" in command
    assert any(v.startswith("redis-data:/data") for v in redis["volumes"])
    assert "redis-data" in compose_config["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"]
    for name in LIVEFEED_SERVICES:
        service = services[name]
        assert service["command"] == [name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["environment"]["LIVEFEED_REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["LIVEFEED_HOST"] == "0.0.0.0"  # noqa: S104 - in containers
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["push"]["deploy"]["replicas"] == 2
    purger = services["purger"]
    assert purger["command"] == ["purger"]
    assert purger["environment"]["LIVEFEED_PURGE_VARNISH"] == "http://varnish:80/"
    varnish = services["varnish"]
    assert varnish["image"].startswith("varnish:")
    # Varnish admits the purger's PURGE by the secret both are given (deploy/varnish/default.vcl).
    secret = purger["environment"]["LIVEFEED_PURGE_SECRET"]
    assert len(secret) >= 16
    assert varnish["environment"]["LIVEFEED_PURGE_SECRET"] == secret
    assert any(v.endswith("/etc/varnish/default.vcl:ro") for v in varnish["volumes"])
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx")
    assert any(v.endswith("/etc/nginx/nginx.conf:ro") for v in proxy["volumes"])
    assert [p["target"] for p in proxy["ports"]] == [8080]


def test_env_example_names_only_real_settings() -> None:
    fields = {f"LIVEFEED_{name.upper()}" for name in Settings.model_fields}
    names = set(_env_example())
    unknown = {n for n in names if n.startswith("LIVEFEED_")} - fields
    assert not unknown, f".env.example sets variables no service reads: {unknown}"
    assert "LIVEFEED_INGEST_TOKENS" in names


def test_dockerfile_builds_one_non_root_image_with_a_health_check() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages == ["python:3.11-slim", "python:3.11-slim"]
    assert "requirements.lock" in text
    assert re.search(r"^USER livefeed$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text
    assert 'ENTRYPOINT ["livefeed"]' in text


def test_the_image_health_check_reads_each_services_healthz(stack: Stack) -> None:
    """The HEALTHCHECK command, run against real services (and a port where nothing listens)."""
    for service in LIVEFEED_SERVICES:
        if service in ("notifier", "purger"):  # not in the session stack: tests/alerts and
            continue  # tests/edge run their own
        env = stack.env()
        done = subprocess.run(
            [sys.executable, "-m", "services.commands.healthcheck", service],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (service, done.stdout, done.stderr)
    nobody = stack.env(LIVEFEED_FEED_PORT=str(free_port()))
    down = subprocess.run(
        [sys.executable, "-m", "services.commands.healthcheck", "feed"],
        cwd=REPO, env=nobody, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert down.returncode == 1


# -- the proxy, for real --------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(stack: Stack) -> Iterator[str]:
    """nginx with deploy/nginx.conf, its upstream names pointed at the test stack's ports."""
    upstreams = {service_address(name): stack.ports[name] for name in ("feed", "ingest", "push")}
    # Reads go to Varnish in compose; here straight to feed (tests/edge chains the real Varnish).
    upstreams[VARNISH_ADDRESS] = stack.ports["feed"]
    nginx = Nginx(upstreams).start()
    try:
        yield nginx.url
    finally:
        nginx.stop()


async def test_the_proxy_gives_one_origin_routing_by_path_and_method(
    proxy: str, fresh: Stack, http: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"Bearer {fresh.token}"}
    posted = await http.post(
        f"{proxy}/v1/articles", json=article("proxied"), headers=auth
    )  # POST -> ingest
    assert posted.status_code == 202, posted.text
    # The proxy's request id reached ingest and came back.
    assert re.fullmatch(r"[0-9a-f]{32}", posted.headers["x-request-id"])
    job = await http.get(f"{proxy}{posted.json()['status_url']}", headers=auth)  # -> ingest
    assert job.status_code == 200
    await Ingest(fresh, http).wait_applied(posted)

    one = await http.get(f"{proxy}/v1/articles/proxied")  # GET -> feed
    assert one.status_code == 200
    assert one.json()["id"] == "proxied"
    timeline = await http.get(f"{proxy}/v1/timeline")  # -> feed
    assert [i["id"] for d in timeline.json()["days"] for i in d["items"]] == ["proxied"]
    assert (await http.get(f"{proxy}/metrics")).status_code == 404  # scraped inside only

    ws_url = proxy.replace("http://", "ws://") + "/v1/stream"
    async with subscribe(ws_url) as stream:  # upgrade -> push
        assert (await stream.next())["type"] == "hello"
        put = await http.put(
            f"{proxy}/v1/articles/proxied",
            json=article("proxied", title="Proxied, updated", version=2),
            headers=auth,
        )  # PUT -> ingest
        assert put.status_code == 202, put.text
        updated = await stream.next()
        assert updated["type"] == "updated"
        assert updated["headline"]["title"] == "Proxied, updated"
        deleted = await http.delete(f"{proxy}/v1/articles/proxied", headers=auth)  # -> ingest
        assert deleted.status_code == 202
        assert (await stream.next())["type"] == "retracted"
    history = await http.get(f"{proxy}/v1/articles/proxied/history", headers=auth)  # -> ingest
    assert history.status_code == 200, history.text
    assert "retracted" in history.text


async def test_the_heaviest_views_pass_the_proxy_without_their_edge_keys(
    proxy: str, fresh: Stack, http: httpx.AsyncClient
) -> None:
    """200 headlines with 200-character ids, feed straight behind nginx (no Varnish to strip
    the keys): the headers fit nginx's buffers, and the reader never sees the edge's keys."""
    items = long_id_articles(200)
    await Ingest(fresh, http).apply({"articles": items})
    for path in ("/?limit=200", "/v1/timeline?limit=200", "/feed.rss?limit=200"):
        response = await http.get(proxy + path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        assert items[-1]["title"] in response.text
        for name in ("surrogate-key", "cache-tag", "xkey", "surrogate-control"):
            assert name not in response.headers, (path, name)


async def test_the_proxy_passes_on_the_address_it_saw_which_no_header_can_forge(
    proxy: str, fresh: Stack, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    """Failed token checks are counted per the address nginx saw (here 127.0.0.1), not per an
    X-Forwarded-For the client made up: inventing one per guess escapes no throttle."""

    def counted(address: str) -> list[bytes]:
        digest = hashlib.sha256(address_group(address).encode()).hexdigest()[:24]
        return list(redis_client.scan_iter(match=keys.auth_failures(digest, 0)[:-1] + "*"))

    guess = await http.post(
        f"{proxy}/v1/articles",
        json=article("forged"),
        headers={"Authorization": "Bearer nope-nope-nope", "X-Forwarded-For": "203.0.113.5"},
    )
    assert guess.status_code == 403
    assert counted("127.0.0.1")
    assert not counted("203.0.113.5")


async def test_server_sent_events_pass_the_proxy_unbuffered(
    proxy: str, fresh: Stack, http: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"Bearer {fresh.token}"}

    async def read_until(lines: AsyncIterator[str], marker: str) -> str:
        async for line in lines:
            if marker in line:
                return line
        raise AssertionError(f"stream ended before {marker!r}")

    async with http.stream("GET", f"{proxy}/v1/events") as response:  # -> push
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        await asyncio.wait_for(read_until(lines, '"type":"hello"'), 10)
        posted = await http.post(f"{proxy}/v1/articles", json=article("via-sse"), headers=auth)
        assert posted.status_code == 202
        # One small event must come through at once, not when a proxy buffer fills up.
        line = await asyncio.wait_for(read_until(lines, "via-sse"), 10)
        assert '"type":"published"' in line


def _compose_outcome(
    *files: str, env_file: bool = False, env_lines: str = ""
) -> subprocess.CompletedProcess[str]:
    """``docker-compose -f … config`` in a copy of the project (``.env`` only if asked: the
    example's, and ``env_lines`` after it)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        missing_tool("docker-compose")
    project = short_tmpdir()
    for name in (*files, "Dockerfile", "deploy"):
        (project / name).symlink_to(REPO / name)
    if env_file:
        (project / ".env").write_text((REPO / ".env.example").read_text() + env_lines)
    args = [binary, *(a for f in files for a in ("-f", f)), "config"]
    return subprocess.run(args, cwd=project, capture_output=True, text=True, check=False)


def _compose(*files: str, env_file: bool = False, env_lines: str = "") -> dict[str, Any]:
    """The resolved configuration; compose must accept it."""
    done = _compose_outcome(*files, env_file=env_file, env_lines=env_lines)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_refuses_to_start_without_an_env_file() -> None:
    """No .env: compose stops and says which setting to put there (no public default token)."""
    outcome = _compose_outcome("docker-compose.yml")
    assert outcome.returncode != 0
    assert "set LIVEFEED_INGEST_TOKENS in .env" in outcome.stderr


def test_compose_with_the_example_env_runs_services_that_refuse_its_tokens() -> None:
    services = _compose("docker-compose.yml", env_file=True)["services"]
    example = _env_example()
    assert (
        services["ingest"]["environment"]["LIVEFEED_LOG_FORMAT"] == example["LIVEFEED_LOG_FORMAT"]
    )
    for name in LIVEFEED_SERVICES:
        environment = {
            k.removeprefix("LIVEFEED_").lower(): v for k, v in services[name]["environment"].items()
        }
        assert "embed_origins" in environment  # passed on from .env
        with pytest.raises(ValidationError, match="public example"):
            Settings.model_validate(environment)
        # With real secrets in .env, every value is one the services accept.
        environment["ingest_tokens"] = "cms:" + "k" * 24
        if "purge_secret" in environment:
            environment["purge_secret"] = "s" * 24
        if "session_secret" in environment:
            environment["session_secret"] = "d" * 32
        Settings.model_validate(environment)
    # The desk's cookies are signed with the .env's secret, the same across redeploys (a secret
    # made in a container's data dir would be new each time, signing every editor out).
    desk = services["ingest"]["environment"]
    assert desk["LIVEFEED_SESSION_SECRET"] == example["LIVEFEED_SESSION_SECRET"]
    assert "LIVEFEED_SESSION_SECRET" not in services["feed"]["environment"]


def test_a_service_started_with_the_example_token_says_what_to_do() -> None:
    env = {**os.environ, "LIVEFEED_INGEST_TOKENS": _env_example()["LIVEFEED_INGEST_TOKENS"]}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "ingest"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "LIVEFEED_INGEST_TOKENS: Value error, LIVEFEED_INGEST_TOKENS still holds" in done.stderr
    assert "set your own in .env" in done.stderr
    assert env["LIVEFEED_INGEST_TOKENS"] not in done.stderr  # a secret is never echoed


def test_ha_override_runs_a_primary_a_replica_and_three_sentinels() -> None:
    config = _compose("docker-compose.yml", "docker-compose.ha.yml", env_file=True)
    services = config["services"]
    sentinels = [f"sentinel-{i}" for i in (1, 2, 3)]
    assert {"redis", "redis-replica", *sentinels} <= set(services)
    replica = " ".join(services["redis-replica"]["command"])
    assert "--replicaof redis 6379" in replica
    assert "--appendfsync always" in replica
    for name in sentinels:
        script = " ".join(services[name]["command"])
        assert "--sentinel" in script
        assert "sentinel monitor livefeed redis 6379 2" in script
        assert "down-after-milliseconds livefeed 2000" in script
    for name in LIVEFEED_SERVICES:
        environment = services[name]["environment"]
        values = {k.removeprefix("LIVEFEED_").lower(): v for k, v in environment.items()}
        values["ingest_tokens"] = "cms:" + "k" * 24  # as an operator's .env has it
        if "purge_secret" in values:
            values["purge_secret"] = "s" * 24
        if "session_secret" in values:
            values["session_secret"] = "d" * 32
        settings = Settings.model_validate(values)
        assert settings.sentinel_addresses == [(s, 26379) for s in sentinels]
        assert settings.redis_sentinel_service == "livefeed"
    # The base file's own settings survive the override (push keeps its per-address cap).
    assert services["push"]["environment"]["LIVEFEED_MAX_CONNECTIONS_PER_IP"] == "20000"


GRIP_FILES = ("docker-compose.yml", "docker-compose.grip.yml")


def test_grip_with_ha_the_publisher_follows_the_sentinels_as_feed_does() -> None:
    """docker-compose.ha.yml cannot name grip-publisher (without the GRIP file it would be a
    service with no image): docker-compose.grip-ha.yml gives it the same sentinel settings."""
    files = (
        "docker-compose.yml",
        "docker-compose.ha.yml",
        "docker-compose.grip.yml",
        "docker-compose.grip-ha.yml",
    )
    key = "operator-grip-key-" + "g" * 24
    services = _compose(*files, env_file=True, env_lines=f"LIVEFEED_GRIP_KEY={key}\n")["services"]
    found = {}
    for name in ("feed", "grip-publisher"):
        values = {
            k.removeprefix("LIVEFEED_").lower(): v for k, v in services[name]["environment"].items()
        }
        values["ingest_tokens"] = "cms:" + "k" * 24  # as an operator's .env has it
        settings = Settings.model_validate(values)
        found[name] = (
            settings.sentinel_addresses,
            settings.redis_sentinel_service,
            settings.redis_url,
        )
    assert found["grip-publisher"] == found["feed"]
    assert found["feed"][0] == [(f"sentinel-{i}", 26379) for i in (1, 2, 3)]
    # Without it, the publisher would stay on the first primary after a failover.
    plain = _compose(*files[:3], env_file=True, env_lines=f"LIVEFEED_GRIP_KEY={key}\n")
    assert "LIVEFEED_REDIS_SENTINELS" not in plain["services"]["grip-publisher"]["environment"]


def test_grip_overlay_refuses_to_start_without_a_grip_key() -> None:
    """The example .env has no GRIP key: with the overlay compose stops and says where to set it
    (Pushpin and feed would otherwise share a public key, or none)."""
    outcome = _compose_outcome(*GRIP_FILES, env_file=True)
    assert outcome.returncode != 0
    assert "set LIVEFEED_GRIP_KEY in .env" in outcome.stderr
    # Its example line, uncommented as it stands: compose runs, feed refuses the public value.
    [line] = [x for x in (REPO / ".env.example").read_text().splitlines() if "GRIP_KEY=" in x]
    example = line.removeprefix("# ")
    services = _compose(*GRIP_FILES, env_file=True, env_lines=example + "\n")["services"]
    values = {
        k.removeprefix("LIVEFEED_").lower(): v for k, v in services["feed"]["environment"].items()
    }
    values["ingest_tokens"] = "cms:" + "k" * 24
    with pytest.raises(ValidationError, match="LIVEFEED_GRIP_KEY still holds the public example"):
        Settings.model_validate(values)
    Settings.model_validate({**values, "grip_key": "operator-grip-key-" + "g" * 24})


def _ini_value(text: str, key: str) -> str:
    [value] = re.findall(rf"^{key}=(.*)$", text, re.MULTILINE)
    return value


def test_grip_overlay_puts_pushpin_in_front_of_feed_with_the_routes_and_a_publisher() -> None:
    key = "operator-grip-key-" + "g" * 24
    services = _compose(*GRIP_FILES, env_file=True, env_lines=f"LIVEFEED_GRIP_KEY={key}\n")[
        "services"
    ]
    assert {"redis", *LIVEFEED_SERVICES, "varnish", "proxy", "pushpin", "grip-publisher"} == set(
        services
    )
    pushpin, feed, publisher = services["pushpin"], services["feed"], services["grip-publisher"]
    # Upstream Pushpin at a pinned version, started with deploy/pushpin (config, routes, key).
    assert re.fullmatch(r"fanout/pushpin:\d+\.\d+\.\d+", pushpin["image"])
    [mount] = pushpin["volumes"]
    source, target, mode = mount.rsplit(":", 2)
    assert source.endswith("/deploy/pushpin")
    assert (target, mode) == ("/etc/livefeed-pushpin", "ro")
    assert pushpin["command"] == ["sh", "/etc/livefeed-pushpin/start.sh"]
    conf = (REPO / "deploy" / "pushpin" / "pushpin.conf").read_text()
    assert [p["target"] for p in pushpin["ports"]] == [int(_ini_value(conf, "http_port"))]
    # Pushpin signs with the key feed checks; feed answers with GRIP.
    assert pushpin["environment"]["LIVEFEED_GRIP_KEY"] == key
    assert feed["environment"]["LIVEFEED_GRIP_KEY"] == key
    assert feed["environment"]["LIVEFEED_GRIP"] == "true"
    # The page names Pushpin's address for its streams.
    assert feed["environment"]["LIVEFEED_PUBLIC_FEED_URL"] == "http://localhost:7999"
    # The routes send /v1/stream over HTTP to feed and the rest to feed, at feed's port.
    routes = [
        line.split()
        for line in (REPO / "deploy" / "pushpin" / "routes").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert routes == [
        ["*,path_beg=/v1/stream", "feed:8002,over_http"],
        ["*", "feed:8002"],
    ]
    assert "8002" in feed["expose"]
    # One publisher, to Pushpin's publish endpoint, on the same Redis as feed.
    publish_port = _ini_value(conf, "push_in_http_port")
    assert publisher["command"] == ["grip-publisher"]
    assert publisher["image"] == feed["image"]
    assert publisher["environment"]["LIVEFEED_GRIP_PUBLISH"] == f"http://pushpin:{publish_port}"
    assert publish_port in pushpin["expose"]
    # Reachable from the publisher (only inside the compose network: 7999 alone is published).
    assert _ini_value(conf, "push_in_http_addr") == "0.0.0.0"  # noqa: S104
    for name in (
        "LIVEFEED_REDIS_URL",
        "LIVEFEED_HOST",
        "LIVEFEED_LOG_FORMAT",
        "LIVEFEED_LOG_LEVEL",
    ):
        assert publisher["environment"][name] == feed["environment"][name], name
    assert publisher["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "deploy" not in publisher  # one publisher: each event published once per channel
