"""``livefeed reset``: empty the store and start again.

Removes every headline, tombstone, change history, the event log, stored idempotency answers
and the jobs still queued; readers' alert subscriptions stay. Connected readers are told to
reload (the stream's ``reset``) and see an empty column. Asks first unless ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import redis
from rq import Queue

from shared import keys
from shared.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reset`` to the ``livefeed`` command line."""
    reset = sub.add_parser(
        "reset",
        help="empty the store: every headline, history and event (asks first)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reset.add_argument("--yes", action="store_true", help="do not ask")


def doomed_keys(client: redis.Redis) -> list[bytes]:
    """Every key livefeed keeps, but readers' alert subscriptions."""
    keep = keys.ALERTS_PREFIX.encode()
    return [
        key
        for key in client.scan_iter(match=f"{keys.PREFIX}*", count=1000)
        if not key.startswith(keep)
    ]


def reset_store(client: redis.Redis, settings: Settings) -> int:
    """Empty the store; the number of keys removed (queued jobs included)."""
    queue = Queue(settings.queue_name, connection=client)
    queued = queue.count
    queue.empty()  # type: ignore[no-untyped-call]
    doomed = doomed_keys(client)
    for start in range(0, len(doomed), 1000):
        client.delete(*doomed[start : start + 1000])
    return len(doomed) + queued


def reset_command(
    args: argparse.Namespace,
    settings: Settings,
    redis_url: str,
    ask: Callable[[str], str] = input,
) -> int:
    """Ask, then empty the store at ``redis_url``."""
    client = redis.Redis.from_url(redis_url, socket_timeout=settings.redis_timeout)
    try:
        count = len(doomed_keys(client))
        if not args.yes:
            if not sys.stdin.isatty():
                print("livefeed reset: not a terminal; give --yes to reset", file=sys.stderr)
                return EXIT_USAGE
            answer = ask(
                f"Remove every headline, history and event ({count} keys) from {redis_url}? [y/N] "
            )
            if answer.strip().lower() not in {"y", "yes"}:
                print("nothing removed")
                return EXIT_FAILED
        removed = reset_store(client, settings)
    except redis.RedisError as exc:
        print(f"livefeed reset: Redis at {redis_url}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        client.close()
    print(f"reset: removed {removed} keys; the column is empty")
    return EXIT_OK
