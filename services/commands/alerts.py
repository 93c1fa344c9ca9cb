"""``livefeed vapid-keys`` (make the alert keys) and ``livefeed alerts test`` (one test alert).

``alerts test`` sends a real, encrypted alert through the subscription's push service, with
the notifier's own sender, and says what the push service answered: the check that alerts
work end to end, for one subscription (``--endpoint`` as the browser has it, or ``--id`` as
``POST /v1/push-subscriptions`` answered it). A 404/410 deletes the subscription, as the
notifier would.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson
from redis.exceptions import RedisError

from shared import alerts
from shared.redis_client import async_client, running_url
from shared.settings import Settings
from shared.vapid import generate_keys

TEST_TAG = "livefeed-test"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``livefeed vapid-keys`` and ``livefeed alerts test``."""
    keys = sub.add_parser("vapid-keys", help="make a VAPID key pair for breaking-news alerts")
    keys.add_argument(
        "--subject", default="mailto:you@example.com", help="contact for push services"
    )
    group = sub.add_parser("alerts", help="breaking-news alerts (Web Push)")
    actions = group.add_subparsers(dest="alerts_command", required=True)
    test = actions.add_parser("test", help="send a test alert to one subscription")
    which = test.add_mutually_exclusive_group(required=True)
    which.add_argument("--endpoint", help="the subscription's push endpoint URL")
    which.add_argument("--id", help="the subscription id POST /v1/push-subscriptions gave")
    test.add_argument("--title", default="Test alert from livefeed")


def vapid_keys(subject: str) -> str:
    """The three settings, as lines for an env file."""
    private, public = generate_keys()
    return (
        f"LIVEFEED_VAPID_PRIVATE_KEY={private}\n"
        f"LIVEFEED_VAPID_PUBLIC_KEY={public}\n"
        f"LIVEFEED_VAPID_SUBJECT={subject}\n"
    )


def alerts_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``livefeed vapid-keys`` / ``livefeed alerts test``: 0 sent, 1 refused, 2 no setup."""
    if args.command == "vapid-keys":
        print(
            "# Breaking-news alerts: put these in the environment of every livefeed service\n"
            "# (.env for compose). Keep the private key secret; changing the keys drops every\n"
            "# reader's subscription.\n" + vapid_keys(args.subject),
            end="",
        )
        return 0
    if not settings.alerts_enabled:
        print(
            "livefeed alerts: set the VAPID settings first (livefeed vapid-keys)", file=sys.stderr
        )
        return 2
    url = running_url(settings)
    if url is None:
        print("livefeed alerts: no Redis (set LIVEFEED_REDIS_URL)", file=sys.stderr)
        return 2
    return asyncio.run(_test(args, settings, url))


async def _test(args: argparse.Namespace, settings: Settings, url: str) -> int:
    from services.notifier.sender import Sender

    sid = args.id or alerts.subscription_id(args.endpoint)
    client = async_client(url, settings)
    sender = Sender(settings)
    try:
        found = await alerts.load(client, [sid])
        sub = found.get(sid)
        if sub is None:
            print(f"livefeed alerts: no subscription {sid}", file=sys.stderr)
            return 1
        message = {
            "type": "alert",
            "tag": TEST_TAG,
            "title": args.title,
            "body": "If you can read this, breaking-news alerts reach this browser.",
            "url": settings.feed_url.rstrip("/") + "/",
        }
        result = await sender.send(sub, orjson.dumps(message), urgency="high", topic=TEST_TAG)
        if result.verdict == "gone":
            await alerts.delete(client, sid)
        print(
            f"{result.verdict}: push service answered {result.status or 'nothing'} "
            f"after {result.attempts} attempt(s) ({sub.filter}, {sid})"
        )
        return 0 if result.verdict == "sent" else 1
    except RedisError as exc:
        print(f"livefeed alerts: Redis is unreachable: {exc}", file=sys.stderr)
        return 2
    finally:
        await sender.close()
        await client.aclose()
