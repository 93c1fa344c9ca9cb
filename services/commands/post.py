"""``livefeed post FILE|-``: send a JSON, ninjs, RSS or Atom document to ingest.

Prints one line per item (``accepted``, ``unchanged``, ``stale``, ``expired`` with the
reason, or ``rejected`` with the field and the reason) and a summary. Exit status: 0 when no
item was rejected and something posted will show or was already there (``unchanged``/``stale``
are answers, not failures, so a poller may re-post a feed); 1 when any item was rejected, when
nothing posted will show (every item ``expired``: older than ``LIVEFEED_WINDOW_DAYS``), or the
service refused the request or could not be reached; 2 for usage errors (no token, no such
file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def detect_content_type(body: bytes) -> str:
    """Guess the media type from the document itself (ingest also detects ninjs by shape)."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096].lower()
    if head.startswith((b"{", b"[")):
        return "application/json"
    if b"<rss" in head or b"<rdf:rdf" in head:
        return "application/rss+xml"
    if b"<feed" in head:
        return "application/atom+xml"
    if head.startswith(b"<"):
        return "application/xml"
    return "application/json"


def _result_line(result: dict[str, Any]) -> str:
    status = str(result.get("status"))
    line = f"{status:<9} {result.get('id') or '-'}"
    if result.get("action") == "retract":
        line += "  (retraction)"
    if status == "rejected":
        reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in result.get("errors", []))
        line += f"  ({reasons})"
    elif status in {"unchanged", "stale", "expired"}:
        line += f"  ({result.get('reason', '')})"
    return line


def print_results(response: httpx.Response) -> int:
    """Print one line per item and a summary; return the exit status."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        print(f"livefeed post: {response.status_code}: {response.text[:500]}", file=sys.stderr)
        return EXIT_FAILED
    for result in body.get("results", []):
        print(_result_line(result))
    if response.status_code >= 400:
        print(
            f"livefeed post: {response.status_code} {body.get('title', '')}: "
            f"{body.get('detail', '')}",
            file=sys.stderr,
        )
        if not body.get("results"):
            for error in body.get("errors", []):
                print(f"  {error.get('field')}: {error.get('reason')}", file=sys.stderr)
        return EXIT_FAILED
    counts = "  ".join(
        f"{name} {body.get(name, 0)}"
        for name in ("accepted", "unchanged", "stale", "expired", "rejected")
    )
    job = body.get("job_id") or "none (nothing to queue)"
    print(f"{body.get('format', 'json')}: job {job}  {counts}")
    if body.get("rejected"):
        return EXIT_FAILED
    expired = body.get("expired", 0)
    if expired and expired == len(body.get("results", [])):
        print(
            "livefeed post: nothing will show: every item is older than the rolling window "
            "(LIVEFEED_WINDOW_DAYS). Widen it (0: no age limit) and restart, then post again; "
            "or try `livefeed demo` for headlines dated now",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def post_command(args: argparse.Namespace, settings: Settings) -> int:
    """Post the document; see the module docstring for the exit status."""
    token = args.token or settings.token
    if not token:
        print("livefeed post: give --token or set LIVEFEED_TOKEN", file=sys.stderr)
        return EXIT_USAGE
    try:
        body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"livefeed post: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    base = (args.url or f"http://{settings.host}:{settings.ingest_port}").rstrip("/")
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": args.content_type or detect_content_type(body),
    }
    if getattr(args, "idempotency_key", None):
        headers["Idempotency-Key"] = args.idempotency_key
    try:
        response = httpx.post(f"{base}/v1/articles", content=body, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        print(f"livefeed post: cannot reach {base}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return print_results(response)
