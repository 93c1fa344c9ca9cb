"""``livefeed post FILE|-``: send a JSON, ninjs, RSS or Atom document to ingest."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings


def detect_content_type(body: bytes) -> str:
    """Guess the media type from the document itself."""
    head = body.lstrip()[:2048].lower()
    if head.startswith((b"{", b"[")):
        return "application/json"
    if b"<rss" in head or b"<rdf:rdf" in head:
        return "application/rss+xml"
    if b"<feed" in head:
        return "application/atom+xml"
    return "application/json"


def _print_results(response: httpx.Response) -> int:
    """Print one line per item; return how many were rejected."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        print(f"{response.status_code}: {response.text[:500]}", file=sys.stderr)
        return 1
    if response.status_code >= 400:
        print(
            f"{response.status_code} {body.get('title', '')}: {body.get('detail', '')}",
            file=sys.stderr,
        )
        for error in body.get("errors", []):
            print(f"  {error.get('field')}: {error.get('reason')}", file=sys.stderr)
        return 1
    rejected = 0
    for result in body.get("results", []):
        status = result.get("status")
        line = f"{status:<9} {result.get('id')}"
        if status == "rejected":
            rejected += 1
            reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in result.get("errors", []))
            line = f"{line}  ({reasons})"
        print(line)
    print(f"job {body.get('job_id')}  accepted {body.get('accepted')}  rejected {rejected}")
    return rejected


def post_command(args: argparse.Namespace, settings: Settings) -> int:
    """Post the document; exit 0 only when every item was accepted."""
    token = args.token or os.environ.get("LIVEFEED_TOKEN")
    if not token:
        print("livefeed post: give --token or set LIVEFEED_TOKEN", file=sys.stderr)
        return 2
    body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    base = (args.url or f"http://{settings.host}:{settings.ingest_port}").rstrip("/")
    content_type = args.content_type or detect_content_type(body)
    try:
        response = httpx.post(
            f"{base}/v1/articles",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        print(f"livefeed post: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    return 1 if _print_results(response) else 0
