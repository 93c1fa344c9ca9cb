"""A real Pushpin (Debian's ``pushpin`` 1.36) for tests, run with the shipped configuration.

``Pushpin`` starts ``/usr/bin/pushpin`` with deploy/pushpin/pushpin.conf and deploy/pushpin/routes,
changing only what one test instance must own, so that test runs and pytest-xdist workers on one
machine never share anything:

- a directory of its own for the config, the routes and the logs (under ``tmp_path``) and a short
  one for the runtime sockets (unix socket paths are limited to ~100 bytes), with a unique
  ``ipc_prefix`` besides;
- a free port for every TCP listener: the HTTP port readers use, the HTTP publish endpoint
  (``push_in_http_port``), and the ZeroMQ publish and command sockets (``push_in_spec``,
  ``push_in_sub_specs``, ``command_spec``); every other socket (condure, zurl, the proxy and
  handler links, stats) is an ipc socket in the runtime directory. Prometheus ports stay unset;
- the routes pointed at the origin on 127.0.0.1 instead of compose's ``feed:8002``, after one
  route of the harness's own (``PROBE_PATH`` to a tiny GRIP origin in the test process): ``start``
  waits until a request held through it reaches the handler, never touching the origin;
- ``sig_key`` from the argument: Pushpin is then started by deploy/pushpin/start.sh, as compose
  starts it, which writes the key into the running config, and every service logs into the
  runner's log (``None``: pushpin is started directly, sends no ``Grip-Sig``, and each service
  logs to a file of its own). ``log_text()`` returns them all.

Usage (tests/grip/test_pushpin_harness.py)::

    pushpin = Pushpin(tmp_path, origin_port, sig_key="k" * 32).start()
    httpx.get(pushpin.url + "/v1/events")            # readers come in here
    httpx.post(pushpin.publish_url + "/publish/", json={"items": [...]})  # the publisher
    pushpin.restart()                                 # same ports: clients reconnect
    pushpin.stop()
"""

from __future__ import annotations

import configparser
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import httpx

from tests.procs import REPO, QuietHandler, ThreadServer, free_port, missing_tool, wait_for

DEPLOY = REPO / "deploy" / "pushpin"
CONFIG = DEPLOY / "pushpin.conf"
ROUTES = DEPLOY / "routes"
START = DEPLOY / "start.sh"
# The origin as compose names it in deploy/pushpin/routes.
COMPOSE_ORIGIN = "feed:8002"


# Routed (first) to the probe origin: how ``start`` sees Pushpin hold a request.
PROBE_PATH = "/.pushpin-harness-probe"


class _ProbeOrigin(ThreadServer):
    """A GRIP origin of the harness's own: ``PROBE_PATH`` holds a stream after a first line."""

    def __init__(self) -> None:
        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = b"ready\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Grip-Hold", "stream")
                self.send_header("Grip-Channel", "pushpin-harness-probe")
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def pushpin_binary() -> str:
    """Debian's runner, or skip (fail under CI: .ci/run installs it)."""
    binary = shutil.which("pushpin")
    if binary is None:
        missing_tool("pushpin")
    return binary


class Pushpin:
    """One Pushpin in front of ``http://127.0.0.1:<origin_port>``, on ports of its own."""

    def __init__(
        self,
        tmp_path: Path,
        origin_port: int,
        sig_key: str | None = None,
    ) -> None:
        self.binary = pushpin_binary()
        self.probe = _ProbeOrigin()
        self.origin_port = origin_port
        self.sig_key = sig_key
        self.dir = tmp_path / f"pushpin-{secrets.token_hex(3)}"
        self.logdir = self.dir / "log"
        self.ipc_prefix = f"lf{os.getpid()}-{secrets.token_hex(3)}-"
        self.rundir: Path | None = None
        self.http_port = free_port()
        self.publish_port = free_port()  # push_in_http_port
        self.push_in_port = free_port()  # ZeroMQ PULL
        self.push_in_sub_port = free_port()  # ZeroMQ SUB
        self.command_port = free_port()  # ZeroMQ REP (commands such as "recover")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """Where readers connect: ``http://127.0.0.1:<http_port>``."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def publish_url(self) -> str:
        """The publish base (LIVEFEED_GRIP_PUBLISH): the publisher POSTs ``<it>/publish/``."""
        return f"http://127.0.0.1:{self.publish_port}"

    @property
    def command_spec(self) -> str:
        """The handler's ZeroMQ command socket (REP)."""
        return f"tcp://127.0.0.1:{self.command_port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "pushpin.conf"

    def _write_config(self, rundir: Path) -> None:
        """The shipped pushpin.conf and routes with this instance's ports, paths and key."""
        config = configparser.ConfigParser(interpolation=None, strict=True)
        config.optionxform = str  # type: ignore[assignment,method-assign]  # keys as written
        config.read_string(CONFIG.read_text())
        config["global"].update(rundir=str(rundir), ipc_prefix=self.ipc_prefix)
        config["runner"].update(http_port=str(self.http_port), logdir=str(self.logdir))
        # No key: no issuer either, so Pushpin sends no Grip-Sig (with an empty key it would
        # still sign, with the empty key).
        config["proxy"]["routesfile"] = "routes"
        if self.sig_key is None:
            config["proxy"].update(sig_iss="", sig_key="")
        # else: deploy/pushpin/start.sh fills sig_key in from LIVEFEED_GRIP_KEY.
        config["handler"].update(
            push_in_http_addr="127.0.0.1",
            push_in_http_port=str(self.publish_port),
            push_in_spec=f"tcp://127.0.0.1:{self.push_in_port}",
            push_in_sub_specs=f"tcp://127.0.0.1:{self.push_in_sub_port}",
            command_spec=self.command_spec,
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.config_path.open("w") as out:
            config.write(out, space_around_delimiters=False)
        routes = ROUTES.read_text()
        assert COMPOSE_ORIGIN in routes, "deploy/pushpin/routes no longer names feed:8002"
        origin = f"127.0.0.1:{self.origin_port}"
        probe = f"*,path_beg={PROBE_PATH} 127.0.0.1:{self.probe.port}\n"
        (self.dir / "routes").write_text(probe + routes.replace(COMPOSE_ORIGIN, origin))

    def start(self, timeout: float = 20.0) -> Pushpin:
        """Start Pushpin and wait until both its HTTP port and its publish endpoint answer."""
        assert self.process is None or self.process.poll() is not None, "already running"
        # Short: condure's and zurl's unix sockets live here (paths are limited to ~100 bytes).
        self.rundir = Path(tempfile.mkdtemp(prefix="pp-"))
        self._write_config(self.rundir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with (self.logdir / f"runner-{self.starts}.log").open("ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                cwd=self.dir,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group: a runner that will not stop is killed with its
                # children (condure, zurl, pushpin-proxy, pushpin-handler), and only them.
                start_new_session=True,
            )
        try:
            wait_for(self._answers, timeout)
        except AssertionError as err:
            log_text = self.log_text()
            self._stop_pushpin()
            raise AssertionError(f"Pushpin did not come up within {timeout}s\n{log_text}") from err
        return self

    def _command(self) -> list[str]:
        if self.sig_key is None:
            return [self.binary, f"--config={self.config_path}"]
        # The running config (with the key) goes next to the template, in the test's dir.
        return ["sh", str(START), str(self.dir), str(self.dir / "running")]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "LIVEFEED_GRIP_KEY"}
        if self.sig_key is not None:
            env["LIVEFEED_GRIP_KEY"] = self.sig_key
        return env

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"Pushpin exited with {self.process.returncode}")
        # The publish endpoint answers, and a GRIP hold made through Pushpin (the probe origin's,
        # never the origin under test) is handed to the handler: before the handler's link to
        # the proxy is up, Pushpin answers 500 "Accept service unavailable".
        httpx.get(self.publish_url + "/", timeout=1)
        with httpx.stream("GET", self.url + PROBE_PATH, timeout=2) as held:
            if held.status_code != 200:
                return False
            return next(held.iter_lines(), None) == "ready"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop Pushpin (and the probe origin)."""
        self._stop_pushpin(timeout)
        self.probe.close()

    def _stop_pushpin(self, timeout: float = 15.0) -> None:
        """Stop the runner and every process it started; remove the runtime directory."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process is not None:
            # The runner waits for its children; any left behind by a SIGKILL go too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.rundir is not None:
            shutil.rmtree(self.rundir, ignore_errors=True)
            self.rundir = None

    def restart(self) -> Pushpin:
        """Stop and start again on the same ports: clients reconnect to the same address."""
        self._stop_pushpin()
        return self.start()

    def log_text(self) -> str:
        """Every log Pushpin wrote (the runner's and each service's), for failure messages."""
        if not self.logdir.exists():
            return ""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.logdir.glob("*.log"))
        )
