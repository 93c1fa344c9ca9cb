"""Redis memory per 1,000 articles, measured on the real path (ingest → RQ → worker → Lua).

    .venv/bin/python -m bench.memory [--n 1000] [--batch 1 100] [--repeats 1]

Starts an embedded Redis (AOF, appendfsync always, as in production) and the services as
real processes, posts N realistic articles (title, URL, summary, byline, section, labels,
tags), ``--batch`` per request, waits until every job has finished, then reports
``INFO memory`` before/after and ``MEMORY USAGE`` summed per key group. RQ keeps each finished
job (its payload and result) for 24 h, so that share falls as requests carry more items.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis

from bench import harness
from bench.common import bench_redis
from bench.stack import TOKEN, Stack

WORDS = ["Kyiv", "parliament", "budget", "energy", "grid", "drone", "strike", "talks", "summit",
         "minister", "Europe", "ceasefire", "election", "court", "ruling", "markets", "inflation",
         "front", "line", "sanctions", "aid", "package", "winter", "harvest", "exports", "port",
         "Odesa", "Kharkiv", "reform", "bureau", "investigation"]  # fmt: skip
SECTIONS = ("news", "politics", "economy", "world", "sport", "culture")
LABELS = ("exclusive", "opinion", "updated", "review", "video", "analysis")


def realistic_article(n: int, rng: random.Random) -> dict[str, Any]:
    """An article shaped like the seed page's, with the optional fields newsrooms send."""
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))).capitalize()
    slug = "-".join(title.lower().split()[:8])
    published = datetime.now(UTC) - timedelta(minutes=n * 7)
    return {
        "id": f"espreso:{published:%Y-%m-%d}:{n:05d}",
        "title": title,
        "published_at": published.isoformat(timespec="seconds"),
        "url": f"https://global.espreso.tv/news-{slug}-{n}",
        "section": rng.choice(SECTIONS),
        "labels": rng.sample(LABELS, rng.randint(0, 2)),
        "tags": rng.sample(WORDS, 3),
        "summary": " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 40))).capitalize(),
        "byline": "Espreso Global newsroom",
        "language": "en",
    }


def key_group(key: str) -> str:
    """Which part of livefeed (or RQ) a key belongs to."""
    for prefix, group in (
        ("lf:article:", "lf:article:* (hashes)"),
        ("lf:section:", "lf:section:* (indexes)"),
        ("lf:label:", "lf:label:* (indexes)"),
        ("rq:job:", "rq:job:* (finished jobs, 24 h)"),
        ("rq:results:", "rq:results:* (job results, 24 h)"),
    ):
        if key.startswith(prefix):
            return group
    if key.startswith("rq:"):
        return "rq: other (queues, registries, workers)"
    return key


def usage_by_group(client: redis.Redis) -> dict[str, dict[str, int]]:
    """MEMORY USAGE (exact: SAMPLES 0) summed per key group, with key counts."""
    groups: dict[str, dict[str, int]] = defaultdict(lambda: {"keys": 0, "bytes": 0})
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        size = client.memory_usage(key, samples=0) or 0
        groups[key_group(key)]["keys"] += 1
        groups[key_group(key)]["bytes"] += int(size)
    return dict(sorted(groups.items()))


def used_memory(client: redis.Redis) -> int:
    """``used_memory`` from INFO memory."""
    info: dict[str, Any] = client.info("memory")
    return int(info["used_memory"])


async def post_all(stack: Stack, articles: list[dict[str, Any]], batch: int) -> None:
    """Post every article, ``batch`` per request, 16 requests at a time."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    chunks = [articles[i : i + batch] for i in range(0, len(articles), batch)]
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=30) as http:

        async def post(chunk: list[dict[str, Any]]) -> None:
            body = chunk[0] if batch == 1 else {"articles": chunk}
            async with gate:
                response = await http.post(
                    f"{stack.ingest_url}/v1/articles", json=body, headers=auth
                )
            response.raise_for_status()

        await asyncio.gather(*(post(c) for c in chunks))


def measure_one(n: int, batch: int) -> dict[str, Any]:
    """One run on a fresh Redis and fresh services."""
    rng = random.Random(7)
    articles = [realistic_article(i, rng) for i in range(n)]
    limits = {"LIVEFEED_MAX_ITEMS": str(n * 2)}
    with (
        bench_redis("always") as server,
        Stack(server.url, services=("ingest", "worker"), extra_env=limits) as stack,
    ):
        client = redis.Redis.from_url(server.url)
        try:
            before = used_memory(client)
            started = time.monotonic()
            asyncio.run(post_all(stack, articles, batch))
            deadline = time.monotonic() + 120
            while client.zcard("lf:timeline") < n:
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker did not apply every article in time")
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            after = used_memory(client)
            groups = usage_by_group(client)
        finally:
            client.close()
    requests = (n + batch - 1) // batch
    return {
        "articles": n,
        "per_request": batch,
        "requests": requests,
        "seconds": round(elapsed, 2),
        "used_memory_before": before,
        "used_memory_after": after,
        "used_memory_delta": after - before,
        "groups": groups,
        "article_json_bytes": sum(len(json.dumps(a)) for a in articles),
    }


def table(runs: list[dict[str, Any]]) -> str:
    """A markdown table of the runs."""
    lines = [
        "| articles per request | used_memory Δ | lf:* (timeline, articles, indexes, events) "
        "| rq:* (jobs kept 24 h) |",
        "|---|---|---|---|",
    ]
    for run in runs:
        lf = sum(g["bytes"] for k, g in run["groups"].items() if k.startswith("lf:"))
        rq = sum(g["bytes"] for k, g in run["groups"].items() if k.startswith("rq:"))
        lines.append(
            f"| {run['per_request']} | {run['used_memory_delta'] / 1e6:.2f} MB "
            f"| {lf / 1e6:.2f} MB | {rq / 1e6:.2f} MB |"
        )
    return "\n".join(lines)


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the memory step."""
    p.add_argument("--n", type=int, default=1000, help="articles per run")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 100], help="articles per request")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """One run per ``--batch`` on a fresh Redis and fresh services (``--repeats`` is ignored)."""
    runs = [measure_one(args.n, batch) for batch in args.batch]
    print(table(runs))
    for run in runs:
        print(f"\n{run['per_request']} per request:")
        for group, figures in run["groups"].items():
            print(f"  {group:<45} {figures['keys']:>6} keys {figures['bytes'] / 1e3:>10.1f} kB")
    return {"runs": runs}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "memory"))
