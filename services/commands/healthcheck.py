"""``python -m services.commands.healthcheck [SERVICE]``: exit 0 when the service is healthy.

The container image's HEALTHCHECK. Without SERVICE it reads which service this container runs
from PID 1's command line (``livefeed push`` → push), so one image serves every service.
Each service answers ``GET /healthz`` on its own port; the worker and the purger on their
metrics ports.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from shared.settings import Settings, get_settings

SERVICES = ("ingest", "worker", "feed", "push", "purger", "notifier")
TIMEOUT_S = 3.0


def health_port(service: str, settings: Settings) -> int:
    """The port on which ``service`` answers ``/healthz``."""
    ports = {
        "ingest": settings.ingest_port,
        "feed": settings.feed_port,
        "push": settings.push_port,
        "worker": settings.worker_metrics_port,
        "purger": settings.purger_port,
        "notifier": settings.notifier_port,
        "up": settings.feed_port,  # everything in one container: the page readers open
    }
    return ports[service]


def service_of(cmdline: bytes) -> str | None:
    """The livefeed service named in a NUL-separated command line, if any."""
    for arg in cmdline.split(b"\0"):
        name = arg.decode(errors="replace")
        if name in (*SERVICES, "up"):
            return name
    return None


def check(service: str, settings: Settings) -> tuple[bool, str]:
    """Ask the service's ``/healthz``; (healthy, what was seen)."""
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host  # noqa: S104
    url = f"http://{host}:{health_port(service, settings)}/healthz"
    try:
        response = httpx.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return False, f"{url}: {exc}"
    return response.status_code == 200, f"{url}: {response.status_code} {response.text[:200]}"


def main(argv: Sequence[str]) -> int:
    """Exit 0 when healthy, 1 when not, 2 when the service cannot be told."""
    if argv:
        service: str | None = argv[0]
    else:
        try:
            service = service_of(Path("/proc/1/cmdline").read_bytes())
        except OSError:
            service = None
    if service not in (*SERVICES, "up"):
        print(f"healthcheck: name the service ({', '.join(SERVICES)})", file=sys.stderr)
        return 2
    healthy, seen = check(service, get_settings())
    print(seen)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
