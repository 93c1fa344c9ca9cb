"""The ``livefeed`` command: one service each, ``up`` for all of them, ``post`` and ``tail``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from pydantic import ValidationError

from shared.logs import configure_logging
from shared.redis_client import is_sentinel, running_url
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings, get_settings

log = logging.getLogger("livefeed")

SERVICES = ("ingest", "worker", "feed", "push", "purger", "notifier")
DEV_VAPID_FILE = "vapid-dev.env"  # `livefeed up` keeps its dev alert keys here (data dir)


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
    return 0


def dev_vapid_env(settings: Settings) -> dict[str, str]:
    """VAPID settings for `livefeed up` without any: made once, kept in the data dir, so a
    browser subscribed in one run still gets alerts in the next."""
    from shared.vapid import generate_keys

    path = settings.data_dir / DEV_VAPID_FILE
    if path.exists():
        pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return {name.strip(): value.strip() for name, value in pairs}
    private, public = generate_keys()
    env = {
        "LIVEFEED_VAPID_PRIVATE_KEY": private,
        "LIVEFEED_VAPID_PUBLIC_KEY": public,
        "LIVEFEED_VAPID_SUBJECT": "mailto:dev@localhost",
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    path.chmod(0o600)
    return env


def up() -> int:
    """Embedded Redis (unless LIVEFEED_REDIS_URL is set) and every service, until Ctrl-C."""
    settings = get_settings()
    configure_logging(settings, "up")
    env = dict(os.environ)
    token = None
    if not settings.ingest_tokens and settings.tokens_file is None:
        token = f"dev-{secrets.token_urlsafe(18)}"
        env["LIVEFEED_INGEST_TOKENS"] = token
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
            for name in SERVICES
        }
        _print_banner(settings, url, token)
        failed = None
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


def _print_banner(settings: Settings, redis_url: str, token: str | None) -> None:
    ingest = f"http://{settings.host}:{settings.ingest_port}"
    lines = [
        "",
        "livefeed is up",
        f"  live page   {settings.feed_url}/",
        f"  timeline    {settings.feed_url}/v1/timeline",
        f"  ingest      {ingest}/v1/articles",
        f"  stream      {settings.push_url}/v1/stream",
        f"  events      {settings.push_http_url}/v1/events  (SSE)",
        f"  embed       {settings.feed_url}/embed.js  (<livefeed-column>)",
        f"  alerts      {settings.feed_url}/alerts  (Web Push; notifier metrics on "
        f"{settings.host}:{settings.notifier_port})",
        f"  redis       {redis_url}" + ("" if settings.redis_url else "  (embedded)"),
    ]
    if token:
        lines.append(f"  dev token   {token}")
        lines.append(f"  try         LIVEFEED_TOKEN={token} livefeed post examples/seed.json")
        if settings.window_days:
            lines.append(
                f"              (its headlines are from 2024, older than the {settings.window_days}"
                "-day window: start with LIVEFEED_WINDOW_DAYS=0 to see them)"
            )
    lines.append("  Ctrl-C stops everything")
    print("\n".join(lines), flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="livefeed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run everything (embedded Redis unless LIVEFEED_REDIS_URL is set)")
    for name in SERVICES:
        sub.add_parser(name, help=f"run the {name} service alone")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``livefeed`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "vapid-keys":  # works whatever the (maybe half-made) configuration
        from services.commands.alerts import vapid_keys

        print(vapid_keys(args.subject), end="")
        return 0
    try:
        get_settings()
    except ValidationError as exc:
        print(f"livefeed: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    if args.command == "up":
        return up()
    if args.command in SERVICES:
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
    if args.command in {"alerts", "vapid-keys"}:
        from services.commands.alerts import alerts_command

        return alerts_command(args, get_settings())
    return 2


if __name__ == "__main__":
    sys.exit(main())
