"""What ``livefeed up`` keeps for a laptop without configuration, and how commands find it.

``livefeed up`` with no tokens configured makes a dev token once and keeps it in the data dir
(``dev-token``), and with no alert keys it makes dev VAPID keys once (``vapid-dev.env``): a
restart keeps both, so a token pasted into a tool and a browser subscribed to alerts keep
working. The desk's sessions are signed with a secret kept there the same way
(``session-secret``) when ``LIVEFEED_SESSION_SECRET`` is unset. The client commands (``post``,
``tail``, ``demo``, ``alerts test``, ``jobs``) read them
from the same data dir when the environment does not say otherwise.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from shared.settings import Settings

DEV_TOKEN_FILE = "dev-token"  # noqa: S105 - a file name
DEV_VAPID_FILE = "vapid-dev.env"
DEV_TOKEN_PREFIX = "dev-"  # noqa: S105 - a prefix, not a secret
SESSION_SECRET_FILE = "session-secret"  # noqa: S105 - a file name


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def read_dev_token(data_dir: Path) -> str | None:
    """The dev token ``livefeed up`` keeps in ``data_dir``, if it made one."""
    try:
        token = (data_dir / DEV_TOKEN_FILE).read_text().strip()
    except OSError:
        return None
    return token or None


def dev_token(settings: Settings) -> str:
    """The kept dev token, made on first use."""
    token = read_dev_token(settings.data_dir)
    if token is None:
        token = f"{DEV_TOKEN_PREFIX}{secrets.token_urlsafe(18)}"
        _write_private(settings.data_dir / DEV_TOKEN_FILE, token + "\n")
    return token


def session_secret(settings: Settings) -> str:
    """``LIVEFEED_SESSION_SECRET``, or the one kept in the data dir (made once, mode 0600, by
    whichever ingest process comes first: the others read the same file)."""
    if settings.session_secret:
        return settings.session_secret
    path = settings.data_dir / SESSION_SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _kept_secret(path)
    secret = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret


def _kept_secret(path: Path) -> str:
    for _ in range(50):  # another process made it a moment ago: wait for its line
        kept = path.read_text().strip()
        if kept:
            return kept
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it to have a new session secret made")


def read_dev_vapid(data_dir: Path) -> dict[str, str]:
    """The dev VAPID settings ``livefeed up`` keeps in ``data_dir`` (empty when none)."""
    try:
        lines = (data_dir / DEV_VAPID_FILE).read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def dev_vapid_env(settings: Settings) -> dict[str, str]:
    """VAPID settings for ``livefeed up`` without any: made once, kept in the data dir, so a
    browser subscribed in one run still gets alerts in the next."""
    from shared.vapid import generate_keys

    kept = read_dev_vapid(settings.data_dir)
    if kept:
        return kept
    private, public = generate_keys()
    env = {
        "LIVEFEED_VAPID_PRIVATE_KEY": private,
        "LIVEFEED_VAPID_PUBLIC_KEY": public,
        "LIVEFEED_VAPID_SUBJECT": "mailto:dev@localhost",
    }
    text = "".join(f"{name}={value}\n" for name, value in env.items())
    _write_private(settings.data_dir / DEV_VAPID_FILE, text)
    return env


def client_env(settings: Settings) -> dict[str, str]:
    """Environment a client command adds from the data dir: the dev token as
    ``LIVEFEED_TOKEN`` and the dev VAPID keys, each only where nothing is configured."""
    env: dict[str, str] = {}
    token = read_dev_token(settings.data_dir)
    if token and not settings.token:
        env["LIVEFEED_TOKEN"] = token
    if not (settings.vapid_private_key or settings.vapid_public_key or settings.vapid_subject):
        env.update(read_dev_vapid(settings.data_dir))
    return env
