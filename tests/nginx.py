"""The real nginx (Debian's) running the repository's deploy/nginx.conf, its upstream names
(``feed:8002``, ``varnish:80``, ...) pointed at test ports: tests/ops/test_deploy.py sends it
straight to the services, tests/edge chains it to a real Varnish."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import Settings
from tests.conftest import short_tmpdir
from tests.procs import REPO, free_port, missing_tool, wait_for

CONF = REPO / "deploy" / "nginx.conf"
VARNISH_ADDRESS = "varnish:80"  # as docker-compose.yml names it in deploy/nginx.conf


def service_address(name: str) -> str:
    """``feed:8002``: how deploy/nginx.conf names a livefeed service (its compose name and
    default port)."""
    port = Settings.model_fields[f"{name}_port"].default
    assert isinstance(port, int)
    return f"{name}:{port}"


@dataclass
class Nginx:
    """nginx in the foreground on a free port; ``upstreams`` maps each address deploy/nginx.conf
    names (``service_address``, ``VARNISH_ADDRESS``) to a test port."""

    upstreams: Mapping[str, int]
    prefix: Path = field(default_factory=short_tmpdir)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
        if nginx is None:
            missing_tool("nginx")
        conf = CONF.read_text()
        for address, port in self.upstreams.items():
            assert address in conf, f"deploy/nginx.conf names no {address}"
            conf = conf.replace(address, f"127.0.0.1:{port}")
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("/tmp/nginx", str(self.prefix / "nginx"))
        path = self.prefix / "nginx.conf"
        path.write_text(conf)
        test = subprocess.run(
            [nginx, "-t", "-p", str(self.prefix), "-c", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert test.returncode == 0, test.stderr
        with (self.prefix / "nginx.out").open("wb") as log:
            self.process = subprocess.Popen(
                [nginx, "-p", str(self.prefix), "-c", str(path), "-g", "daemon off;"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        wait_for(lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What nginx wrote (access and error log) so far."""
        return (self.prefix / "nginx.out").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
