"""Breaking-news alerts at scale: one breaking story to N Web Push subscriptions.

N subscriptions (real P-256 keys and auth secrets, made here) are stored in Redis, all on a
local push service (tests/pushstub.py, in this process: it checks every VAPID JWT and decrypts
every payload, as a real one would). ingest, worker and notifier run as ``livefeed`` processes.
One breaking article is posted; measured: from the POST until the push service has accepted
the alert for the last subscription ("served"), the spread of per-subscription latencies,
and how many connections the notifier opened (reuse).

    .venv/bin/python -m bench.webpush --n 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import redis

from bench import harness
from bench.common import bench_redis
from bench.procstat import CpuMeters
from bench.stack import TOKEN, Stack
from shared import keys
from shared.alerts import BREAKING, subscription_id
from shared.vapid import generate_keys
from tests.pushstub import PushServiceStub


def run_once(n: int, label: str) -> dict[str, Any]:
    """One story to ``n`` subscriptions; returns a result row."""
    private, public = generate_keys()
    stub = PushServiceStub(public).start()
    try:
        with bench_redis("no") as srv:
            client = redis.Redis.from_url(srv.url)
            pipe = client.pipeline(transaction=False)
            for _ in range(n):
                sub = stub.subscription()
                sid = subscription_id(sub.endpoint)
                pipe.hset(
                    keys.alert_subscription(sid),
                    mapping={"endpoint": sub.endpoint, "p256dh": sub.p256dh, "auth": sub.auth,
                             "filter": BREAKING, "created": "0"},
                )  # fmt: skip
                pipe.sadd(keys.alert_filter(BREAKING), sid)
            pipe.execute()
            client.close()
            env = {
                "LIVEFEED_VAPID_PRIVATE_KEY": private,
                "LIVEFEED_VAPID_PUBLIC_KEY": public,
                "LIVEFEED_VAPID_SUBJECT": "mailto:bench@example.com",
                "LIVEFEED_PUSH_SERVICES": stub.origin,
                "LIVEFEED_PUSH_ALERTS_PER_HOUR": "100",
            }
            services = ("ingest", "worker", "notifier")
            with Stack(srv.url, services=services, extra_env=env) as stack:
                notifier = f"http://127.0.0.1:{stack.ports['notifier']}"
                deadline = time.time() + 30
                while httpx.get(notifier + "/readyz").status_code != 200:
                    assert time.time() < deadline, "notifier not ready"
                    time.sleep(0.05)
                cpu = CpuMeters(server=[stack.pid("notifier")], client=[os.getpid()])
                cpu.start()
                item = {
                    "id": f"bench-{time.time_ns()}",
                    "title": "Breaking: benchmark story",
                    "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "urgency": 1,
                    "url": "https://news.example/bench",
                }
                posted = time.time()
                response = httpx.post(
                    f"http://127.0.0.1:{stack.ports['ingest']}/v1/articles",
                    json=item,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert response.status_code == 202, response.text
                print(f"{label} one breaking story to {n} subscriptions", flush=True)
                subs = list(stub.subscriptions.values())
                deadline = posted + 120
                while sum(len(s.received) for s in subs) < n and time.time() < deadline:
                    time.sleep(0.05)
                cpu_pct = cpu.stop()
    finally:
        stub.stop()
    arrivals = sorted(r.at - posted for s in subs for r in s.received)
    served = len(arrivals)
    row = {
        "n": n,
        "served": served,
        "lost": n - served,
        "served_s": arrivals[-1] if served == n else float("nan"),
        "p50_s": arrivals[len(arrivals) // 2] if arrivals else float("nan"),
        "p99_s": arrivals[int(len(arrivals) * 0.99) - 1] if arrivals else float("nan"),
        "rejected": len(stub.rejected),
        "connections": len(stub.connections),
        "requests": stub.requests,
        **{f"{name}_cpu_pct": value for name, value in cpu_pct.items()},
    }
    print(
        f"{label} served {served}/{n} in {row['served_s']:.2f} s (p50 {row['p50_s']:.2f} s, "
        f"p99 {row['p99_s']:.2f} s), {row['connections']} connections, "
        f"rejected {row['rejected']}, CPU notifier {cpu_pct['server']:.0f}% "
        f"stub {cpu_pct['client']:.0f}% other {cpu_pct['other']:.0f}%",
        flush=True,
    )
    return row


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the webpush step."""
    p.add_argument("--n", type=int, default=10_000)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """``--repeats`` runs; medians in ``summary``."""
    rows = harness.repeat(args.repeats, f"webpush N={args.n}", partial(run_once, args.n))
    summary: dict[str, Any] = {"n": args.n, "repeats": args.repeats}
    summary |= harness.medians(
        rows, ("served_s", "p50_s", "p99_s", "connections", "server_cpu_pct", "client_cpu_pct")
    )
    summary["worst_served_s"] = max(r["served_s"] for r in rows)
    summary["max_lost"] = max(r["lost"] for r in rows)
    summary["max_rejected"] = max(r["rejected"] for r in rows)
    return {"summary": summary, "runs": rows}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "webpush"))
