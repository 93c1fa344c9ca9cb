"""``livefeed demo``: a full column at once, then one that moves.

Posts the seed's headlines (``examples/seed.json``: the "News" column of Espreso Global, 24
October 2024) re-dated so that the newest is now, keeping their order, the clock spacing
between them and their labels; then a new headline every ``--interval`` seconds (10) from a
small built-in list, printing each, until Ctrl-C. Re-dated items keep their ids: running the
demo again moves the same column to now instead of doubling it. Needs ingest to be running
(``livefeed up``) and a token: ``--token``, ``LIVEFEED_TOKEN`` or the dev token ``livefeed up``
keeps in the data dir.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.json"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# What a live column looks like between real stories: short, neutral, obviously made up.
NEW_HEADLINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("City council approves the new tram line after a six-hour debate", ()),
    ("Power restored to 40,000 homes after the overnight storm", ()),
    ("Central bank keeps its key rate unchanged, signals cuts next year", ()),
    ("Interview: the mayor on rebuilding the bridge by spring", ("Exclusive",)),
    ("National team names its squad for the qualifiers", ()),
    ("Why the grain corridor matters for food prices in Africa", ("OPINION",)),
    ("Museum reopens its restored 18th-century gallery", ("Review",)),
    ("Rail operator adds night trains to three border cities", ()),
    ("Parliament passes the budget in a second reading", ()),
    ("Scientists map the river's recovering fish population", ()),
    ("Airport traffic back above pre-war levels for the first time", ()),
    ("Volunteers deliver 12 tonnes of aid to frontline villages", ("Exclusive",)),
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo`` to the ``livefeed`` command line."""
    demo = sub.add_parser(
        "demo",
        help="post the seed re-dated to now, then a new headline every 10 s",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--token", help="bearer token (default: $LIVEFEED_TOKEN or the dev token)")
    demo.add_argument("--url", help="ingest base URL (default: from the settings)")
    demo.add_argument(
        "--interval", type=float, default=10.0, help="seconds between new headlines (10)"
    )
    demo.add_argument("--count", type=int, default=None, help="stop after this many new headlines")


def redated_seed(now: datetime, seed: Path = SEED) -> list[dict[str, Any]]:
    """The seed's articles, moved in time so that the newest is published ``now``."""
    articles: list[dict[str, Any]] = json.loads(seed.read_text())["articles"]
    times = [datetime.fromisoformat(a["published_at"]) for a in articles]
    shift = now - max(times)
    moved = []
    for article, published in zip(articles, times, strict=True):
        when = (published + shift).astimezone(now.tzinfo).isoformat(timespec="seconds")
        moved.append({**article, "published_at": when})
    return moved


def new_headline(number: int, now: datetime) -> dict[str, Any]:
    """The ``number``-th headline of the built-in list (it repeats), published ``now``."""
    title, labels = NEW_HEADLINES[number % len(NEW_HEADLINES)]
    stamp = now.strftime("%Y%m%d%H%M%S")
    return {
        "id": f"demo:{stamp}:{number}",
        "title": title,
        "published_at": now.isoformat(timespec="seconds"),
        "labels": list(labels),
        "section": "news",
        "language": "en",
    }


class RefusedError(Exception):
    """Ingest answered, but not with 202."""


def _post(client: httpx.Client, url: str, articles: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(url, json={"articles": articles})
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code != 202:
        detail = body.get("detail") or body.get("title") or response.text[:300]
        raise RefusedError(f"{response.status_code}: {detail}")
    return body


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo; 0 after Ctrl-C or ``--count``, 1 when ingest refuses, 2 on usage."""
    token = args.token or settings.token
    if not token:
        print(
            "livefeed demo: no token: start `livefeed up` first (it keeps a dev token in "
            f"{settings.data_dir}), or give --token / set LIVEFEED_TOKEN",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not SEED.exists():
        print(f"livefeed demo: the seed file {SEED} is missing", file=sys.stderr)
        return EXIT_USAGE
    base = (args.url or f"http://{settings.host}:{settings.ingest_port}").rstrip("/")
    url = f"{base}/v1/articles"
    zone = settings.zone
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        try:
            seed = redated_seed(datetime.now(zone))
            body = _post(client, url, seed)
            oldest, newest = (datetime.fromisoformat(seed[i]["published_at"]) for i in (-1, 0))
            print(
                f"posted the seed: {len(seed)} headlines from {oldest:%d %b %H:%M} to "
                f"{newest:%d %b %H:%M} (accepted {body.get('accepted', 0)}, unchanged "
                f"{body.get('unchanged', 0)}, rejected {body.get('rejected', 0)})",
                flush=True,
            )
            print(
                f"open {settings.feed_url}/ ; a new headline every {args.interval:g} s, "
                "Ctrl-C stops",
                flush=True,
            )
            numbers = itertools.count() if args.count is None else range(args.count)
            for number in numbers:
                time.sleep(args.interval)
                now = datetime.now(UTC).astimezone(zone)
                article = new_headline(number, now)
                _post(client, url, [article])
                labels = "".join(f"[{label}] " for label in article["labels"])
                print(f"+ {now:%H:%M:%S}  {labels}{article['title']}", flush=True)
        except KeyboardInterrupt:
            print("", flush=True)
            return EXIT_OK
        except httpx.HTTPError as exc:
            print(
                f"livefeed demo: cannot reach ingest at {base} ({exc}): is `livefeed up` running?",
                file=sys.stderr,
            )
            return EXIT_FAILED
        except RefusedError as exc:
            print(f"livefeed demo: ingest refused the demo: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK
