"""The ``livefeed`` command: one service each, ``up`` for all of them, ``post`` and ``tail``."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx
from pydantic import ValidationError

from shared.devmode import client_env, dev_token, dev_vapid_env
from shared.logs import configure_logging
from shared.redis_client import is_sentinel, running_url
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings, get_settings

log = logging.getLogger("livefeed")

SERVICES = ("ingest", "worker", "feed", "push", "purger", "notifier")
# Run alone, and by `livefeed up` only when configured (LIVEFEED_GRIP_PUBLISH).
OPTIONAL_SERVICES = ("grip-publisher",)
# The port each service binds (its API, or /metrics + /healthz for those without one).
PORTS = {
    "ingest": "ingest_port",
    "worker": "worker_metrics_port",
    "feed": "feed_port",
    "push": "push_port",
    "purger": "purger_port",
    "notifier": "notifier_port",
    "grip-publisher": "grip_publisher_port",
}
# What `livefeed <service> --help` lists: its port, then the settings it is most often run with.
SERVICE_SETTINGS = {
    "ingest": (
        "ingest_tokens",
        "tokens_file",
        "ingest_workers",
        "max_body_bytes",
        "session_secret",
        "session_hours",
    ),
    "worker": ("window_days", "max_items", "timezone", "job_timeout"),
    "feed": (
        "feed_workers",
        "timezone",
        "embed_origins",
        "section_names",
        "public_feed_url",
        "public_push_url",
    ),
    "push": ("allowed_origins", "embed_origins", "max_connections", "max_connections_per_ip"),
    "purger": ("purge_varnish", "purge_webhook", "websub_hubs"),
    "notifier": ("vapid_private_key", "vapid_public_key", "vapid_subject"),
    "grip-publisher": ("grip_publish",),
}
COMMON_SETTINGS = ("host", "redis_url", "redis_sentinels", "data_dir", "log_level")
# Commands that talk to a running livefeed: they find what `livefeed up` keeps in the data dir.
CLIENT_COMMANDS = {"post", "tail", "demo", "alerts", "jobs", "reset"}
READY_TIMEOUT_S = 60.0


@contextmanager
def redis_for(settings: Settings) -> Iterator[str]:
    """The Redis URL to use: the configured one, a running embedded one, or a new embedded one."""
    url = running_url(settings)
    if url is not None:
        yield url
        return
    with EmbeddedRedis(settings.data_dir) as embedded:
        yield embedded.url


def _run_workers(service: str, count: int, port: int, redis_url: str) -> None:
    """``count`` processes of ``service`` (ingest or feed) accepting on one socket (uvicorn's
    supervisor restarts a worker that dies, and passes SIGTERM on for each to finish its
    requests): ``LIVEFEED_INGEST_WORKERS`` / ``LIVEFEED_FEED_WORKERS``."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    settings = get_settings()
    metrics_dir = tempfile.mkdtemp(prefix=f"livefeed-{service}-metrics-")
    # Each worker is a new interpreter reading its environment: the Redis this process resolved
    # (maybe the embedded one it started), and where prometheus_client keeps every worker's
    # counts so that any worker's /metrics can add them up.
    if not is_sentinel(redis_url):  # with sentinels the workers find the primary themselves
        os.environ["LIVEFEED_REDIS_URL"] = redis_url
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        config = uvicorn.Config(
            f"services.{service}.app:worker_app",
            factory=True,
            workers=count,
            host=settings.host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=10,
            backlog=4096,
        )
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(service: str, settings: Settings) -> None:
    import uvicorn

    with redis_for(settings) as url:
        if service == "ingest" and settings.ingest_workers > 1:
            _run_workers("ingest", settings.ingest_workers, settings.ingest_port, url)
            return
        if service == "feed" and settings.feed_workers > 1:
            _run_workers("feed", settings.feed_workers, settings.feed_port, url)
            return
        if service == "ingest":
            from services.ingest import app as ingest_app

            app, port = ingest_app.create_app(settings, url), settings.ingest_port
        else:
            from services.feed import app as feed_app

            app, port = feed_app.create_app(settings, url), settings.feed_port
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=10,
            backlog=4096,
        )
        uvicorn.Server(config).run()


def run_service(service: str) -> int:
    """Run one service in the foreground until SIGTERM/SIGINT."""
    settings = get_settings()
    configure_logging(settings, service)
    busy = busy_port_message(settings, [service])
    if busy:
        print(busy, file=sys.stderr)
        return 2
    if service in {"ingest", "feed"}:
        _run_uvicorn(service, settings)
    elif service == "worker":
        from services.feed.worker import run_worker

        with redis_for(settings) as url:
            run_worker(settings, url)
    elif service == "purger":
        from services.purger.main import run_purger

        with redis_for(settings) as url:
            asyncio.run(run_purger(settings, url))
    elif service == "push":
        import uvloop

        from services.push.server import serve_push

        with redis_for(settings) as url:
            # uvloop's transports write and accept faster: the fan-out is one long write loop.
            uvloop.run(serve_push(settings, url))
    elif service == "notifier":
        if not settings.alerts_enabled:
            # Not an error: a site without alerts. (Half-made VAPID settings never get here.)
            log.warning(
                "alerts are off: set LIVEFEED_VAPID_PRIVATE_KEY, LIVEFEED_VAPID_PUBLIC_KEY and "
                "LIVEFEED_VAPID_SUBJECT (from `livefeed vapid-keys`) to send them; exiting"
            )
            return 0
        from services.notifier.main import run_notifier

        with redis_for(settings) as url:
            asyncio.run(run_notifier(settings, url))
    elif service == "grip-publisher":
        if not settings.grip_publish:
            log.error("set LIVEFEED_GRIP_PUBLISH to the GRIP proxies' publish URLs")
            return 2
        from services.grip.main import run_grip_publisher

        with redis_for(settings) as url:
            asyncio.run(run_grip_publisher(settings, url))
    return 0


def configuration_errors(exc: ValidationError) -> str:
    """One line per bad setting, naming its variable; never echoing the value (a secret)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        names = [env_name(str(part)) for part in error["loc"]] or ["settings"]
        lines.append(f"  {', '.join(names)}: {error['msg']}")
    return "\n".join(lines)


def env_name(field: str) -> str:
    """The environment variable of a Settings field."""
    return f"LIVEFEED_{field.upper()}"


def _port_busy(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def busy_port_message(settings: Settings, services: Sequence[str]) -> str | None:
    """A message naming the variable to change when a service's port is taken, else None."""
    for service in services:
        field = PORTS[service]
        port = getattr(settings, field)
        if port and _port_busy(settings.host, port):
            return (
                f"livefeed: port {port} on {settings.host} is already in use, so {service} "
                f"cannot start: stop what uses it, or set {env_name(field)} to a free port"
            )
    return None


def _reach(host: str) -> str:
    """An address to reach a service bound to ``host`` from this machine."""
    if host in {"0.0.0.0", ""}:  # noqa: S104 - a comparison
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def wait_until_answering(
    settings: Settings, services: Sequence[str], children: dict[str, subprocess.Popen[bytes]]
) -> str | None:
    """Wait until every service answers ``/healthz``; the name of one that exited, if any."""
    pending = {
        name: f"http://{_reach(settings.host)}:{getattr(settings, PORTS[name])}/healthz"
        for name in services
    }
    deadline = time.monotonic() + READY_TIMEOUT_S
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll
    with httpx.Client(timeout=1.0) as client:
        while pending and time.monotonic() < deadline:
            for name, child in children.items():
                if child.poll() is not None:
                    return name
            for name, url in list(pending.items()):
                try:
                    if client.get(url).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass  # not listening yet: asked again on the next round
            time.sleep(0.1)
    if pending:
        log.warning("still not answering after %.0f s: %s", READY_TIMEOUT_S, ", ".join(pending))
    return None


def up_services(settings: Settings) -> tuple[str, ...]:
    """What `livefeed up` runs: every service, and the grip-publisher when it has somewhere
    to publish."""
    return SERVICES + (("grip-publisher",) if settings.grip_publish else ())


def up() -> int:
    """Embedded Redis (unless LIVEFEED_REDIS_URL is set) and every service, until Ctrl-C."""
    settings = get_settings()
    configure_logging(settings, "up")
    services = up_services(settings)
    busy = busy_port_message(settings, services)
    if busy:
        print(busy, file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["LIVEFEED_DEV"] = "1"
    token = None
    if not settings.ingest_tokens and settings.tokens_file is None:
        token = dev_token(settings)  # kept in the data dir: the same token after a restart
        env["LIVEFEED_INGEST_TOKENS"] = f"dev:{token}"
    if not settings.alerts_enabled:
        env.update(dev_vapid_env(settings))
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    with redis_for(settings) as url:
        env["LIVEFEED_REDIS_URL"] = url
        children = {
            name: subprocess.Popen(
                [sys.executable, "-m", "services.cli", name],
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
            )
            for name in services
        }
        failed = wait_until_answering(settings, services, children)
        if failed is None and not stop_requested:
            _print_banner(settings, url, token)
        while not stop_requested and failed is None:
            for name, child in children.items():
                if child.poll() is not None:
                    failed = name
                    break
            time.sleep(0.2)
        if failed:
            log.error("%s exited with %s; stopping everything", failed, children[failed].returncode)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, child in children.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                child.kill()
                child.wait()
    log.info("stopped")
    return 1 if failed else 0


def _command_path() -> str:
    """How to run ``livefeed`` from this shell: bare when on PATH, else the venv's script."""
    script = Path(sys.executable).parent / "livefeed"
    on_path = shutil.which("livefeed")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "livefeed"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _print_banner(settings: Settings, redis_url: str, token: str | None) -> None:
    ingest = f"http://{settings.host}:{settings.ingest_port}"
    command = _command_path()
    lines = [
        "",
        "livefeed is up (every service answers)",
        f"  live page   {settings.feed_url}/",
        f"  timeline    {settings.feed_url}/v1/timeline",
        f"  ingest      {ingest}/v1/articles",
        f"  desk        {settings.ingest_url}/desk  (sign in with a token)",
        f"  stream      {settings.push_url}/v1/stream",
        f"  events      {settings.push_http_url}/v1/events  (SSE)",
        f"  embed       {settings.feed_url}/embed.js  (<livefeed-column>)",
        f"  alerts      {settings.feed_url}/alerts  (Web Push; notifier metrics on "
        f"{settings.host}:{settings.notifier_port})",
        f"  redis       {redis_url}" + ("" if settings.redis_url else "  (embedded)"),
    ]
    if token:
        lines.append(f"  dev token   {token}  (kept in {settings.data_dir}/; commands find it)")
    lines.append(f"  try         {command} demo    (in another terminal: a live column in seconds)")
    lines.append("  Ctrl-C stops everything")
    print("\n".join(lines), flush=True)


def _service_epilog(service: str) -> str:
    """The port and main settings of one service, for its ``--help``."""
    fields = Settings.model_fields
    names = (PORTS[service], *SERVICE_SETTINGS[service], *COMMON_SETTINGS)
    lines = ["settings (environment variables; docs/configuration.md lists all of them):"]
    for name in names:
        info = fields[name]
        default = info.get_default(call_default_factory=True)
        if isinstance(default, dict):
            shown = ",".join(f"{k}={v}" for k, v in default.items()) or "unset"
        elif isinstance(default, list):
            shown = ",".join(str(part) for part in default) or "unset"
        else:
            shown = "unset" if default in (None, "") else str(default)
        lines.append(f"  {env_name(name)} (default {shown})")
        if info.description:
            lines.append(f"      {info.description}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="livefeed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run everything (embedded Redis unless LIVEFEED_REDIS_URL is set)")
    for name in SERVICES + OPTIONAL_SERVICES:
        sub.add_parser(
            name,
            help=f"run the {name} service alone",
            description=f"Run the {name} service alone, in the foreground, until SIGTERM.",
            epilog=_service_epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    post = sub.add_parser("post", help="post JSON, ninjs, RSS or Atom to ingest")
    post.add_argument("file", help="a file, or - for standard input")
    post.add_argument("--token", help="bearer token (default: $LIVEFEED_TOKEN)")
    post.add_argument("--url", help="ingest base URL (default: from the settings)")
    post.add_argument("--content-type", help="override format detection")
    post.add_argument("--idempotency-key", help="send Idempotency-Key: a retry is not queued twice")
    from services.commands.tail import add_parser as add_tail_parser

    add_tail_parser(sub)
    from services.commands.jobs import add_parser as add_jobs_parser

    add_jobs_parser(sub)
    from services.commands.alerts import add_parsers as add_alerts_parsers

    add_alerts_parsers(sub)
    from services.commands.demo import add_parser as add_demo_parser

    add_demo_parser(sub)
    from services.commands.reset import add_parser as add_reset_parser

    add_reset_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``livefeed`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "vapid-keys":  # works whatever the (maybe half-made) configuration
        from services.commands.alerts import vapid_keys

        print(vapid_keys(args.subject), end="")
        return 0
    try:
        settings = get_settings()
        if args.command in CLIENT_COMMANDS:
            found = client_env(settings)
            if found:  # what `livefeed up` keeps in the data dir, where nothing else is set
                os.environ.update(found)
                get_settings.cache_clear()
                get_settings()
    except ValidationError as exc:
        print(f"livefeed: bad configuration:\n{configuration_errors(exc)}", file=sys.stderr)
        return 2
    if args.command == "up":
        return up()
    if args.command in SERVICES + OPTIONAL_SERVICES:
        return run_service(args.command)
    if args.command == "post":
        from services.commands.post import post_command

        return post_command(args, get_settings())
    if args.command == "tail":
        from services.commands.tail import tail_command

        return tail_command(args, get_settings())
    if args.command == "jobs":
        from services.commands.jobs import jobs_command

        return jobs_command(args, get_settings())
    if args.command == "demo":
        from services.commands.demo import demo_command

        return demo_command(args, get_settings())
    if args.command == "reset":
        from services.commands.reset import reset_command

        with redis_for(get_settings()) as url:
            return reset_command(args, get_settings(), url)
    if args.command in {"alerts", "vapid-keys"}:
        from services.commands.alerts import alerts_command

        return alerts_command(args, get_settings())
    return 2


if __name__ == "__main__":
    sys.exit(main())
