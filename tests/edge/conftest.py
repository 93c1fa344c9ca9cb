"""A real Varnish (deploy/varnish/default.vcl) in front of a real feed, a real purger, and a
webhook backend (a real HTTP server in the test process) that records what it is sent; and the
shipped edge as a whole: the real nginx (deploy/nginx.conf) in front of that Varnish."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from shared.redis_server import EmbeddedRedis
from tests.conftest import short_tmpdir
from tests.nginx import VARNISH_ADDRESS, Nginx, service_address
from tests.procs import REPO, QuietHandler, Stack, ThreadServer, free_port, missing_tool, wait_for

VCL = REPO / "deploy" / "varnish" / "default.vcl"
PURGE_SECRET = "test-purge-secret-0123456789"  # LIVEFEED_PURGE_SECRET: purger's and Varnish's


@dataclass
class Varnish:
    """``varnishd`` in the foreground on a free port, the repository's VCL pointed at ``feed``."""

    feed_port: int
    workdir: Path
    # LIVEFEED_PURGE_SECRET in varnishd's environment, as docker-compose.yml puts it (None: unset)
    purge_secret: str | None = PURGE_SECRET
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Varnish:
        varnishd = shutil.which("varnishd") or (
            "/usr/sbin/varnishd" if Path("/usr/sbin/varnishd").exists() else None
        )
        if varnishd is None:
            missing_tool("varnishd (packages varnish, varnish-modules)")
        vcl = VCL.read_text().replace('.host = "feed";', '.host = "127.0.0.1";')
        vcl = vcl.replace('.port = "8002";', f'.port = "{self.feed_port}";')
        path = self.workdir / "test.vcl"
        path.write_text(vcl)
        log = (self.workdir / "varnishd.log").open("ab")
        self.process = subprocess.Popen(
            [
                varnishd, "-F", "-j", "none", "-T", "none",
                "-a", f"127.0.0.1:{self.port}", "-f", str(path),
                "-n", str(self.workdir / "n"), "-s", "malloc,64m",
                # Varnish's default header limits, as docker-compose.yml runs it.
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self._env(),
        )  # fmt: skip
        wait_for(lambda: httpx.get(self.url + "/healthz", timeout=1).status_code == 200, 30)
        return self

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "LIVEFEED_PURGE_SECRET"}
        if self.purge_secret is not None:
            env["LIVEFEED_PURGE_SECRET"] = self.purge_secret
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Webhook(ThreadServer):
    """A purge webhook: records each POSTed JSON body; answers ``status`` (503: failing)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.forms: list[dict[str, list[str]]] = []  # form posts (a WebSub hub's pings)
        self.refused = 0
        self.status = 200
        self.lock = threading.Lock()
        hook = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hook.lock:
                    status = hook.status
                    if status == 200 and self.headers["Content-Type"] == "application/json":
                        hook.received.append(json.loads(body))
                    elif status == 200:
                        hook.forms.append(parse_qs(body.decode()))
                    else:
                        hook.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/purge"

    def all_keys(self) -> set[str]:
        """Every key received so far."""
        with self.lock:
            return {key for body in self.received for key in body["surrogate_keys"]}

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


@dataclass
class Edge:
    stack: Stack
    varnish: Varnish
    webhook: Webhook
    hub: Webhook  # a WebSub hub

    @property
    def purger_metrics(self) -> str:
        return f"http://127.0.0.1:{self.stack.ports['purger']}/metrics"


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    """ingest, worker, feed, push and purger on a Redis of their own; Varnish before feed."""
    server = EmbeddedRedis(short_tmpdir())
    server.start()
    webhook, hub = Webhook(), Webhook()
    stack = Stack(server.url, short_tmpdir())
    for name in ("ingest", "feed", "push", "worker", "purger"):
        stack.ports.setdefault(name, free_port())
    varnish = Varnish(stack.ports["feed"], short_tmpdir())
    stack.extra_env.update(
        LIVEFEED_PURGER_PORT=str(stack.ports["purger"]),
        LIVEFEED_PURGE_VARNISH=varnish.url + "/",
        LIVEFEED_PURGE_SECRET=PURGE_SECRET,
        LIVEFEED_PURGE_WEBHOOK=webhook.url,
        LIVEFEED_EDGE_MAX_AGE="3600",
        LIVEFEED_WEBSUB_HUBS=hub.url,
        LIVEFEED_PUBLIC_FEED_URL="https://news.example",
    )
    try:
        for name in ("ingest", "worker", "feed", "push", "purger"):
            stack.start_service(name)
        for name in ("ingest", "feed", "push", "purger"):
            stack.wait_healthy(name)
        varnish.start()
        yield Edge(stack, varnish, webhook, hub)
    finally:
        varnish.stop()
        stack.stop()
        webhook.close()
        hub.close()
        server.stop()


@pytest.fixture(scope="module")
def proxy(edge: Edge) -> Iterator[Nginx]:
    """The shipped edge: nginx (deploy/nginx.conf) -> Varnish -> feed, ingest and push direct."""
    upstreams = {
        service_address(name): edge.stack.ports[name] for name in ("feed", "ingest", "push")
    }
    upstreams[VARNISH_ADDRESS] = edge.varnish.port
    nginx = Nginx(upstreams).start()
    try:
        yield nginx
    finally:
        nginx.stop()
