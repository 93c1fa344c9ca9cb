"""The sizes README states, measured: ``make docs`` (``python -m docs.sizes --write``).

- install: the bytes on disk of every distribution a lock file pins (and pip, which ``make``
  installs in .venv too), summed from their installed file lists (RECORD), in the venv that
  runs this script: what ``make run`` (requirements.lock) and ``make test``
  (requirements-dev.lock) put in ``.venv``, without the interpreter's own links;
- embed: the ``<livefeed-column>`` module as the feed builds it with the default settings,
  raw and as the feed serves it gzipped (the same bytes: ``Assets.gzipped_size``).

``--write`` replaces README's block between the ``sizes`` markers; ``--check`` exits 1 when
its embed line differs from the measurement (tests/test_docs.py does the same).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
START, END = "<!-- sizes:start -->", "<!-- sizes:end -->"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==", re.MULTILINE)


def installed_bytes(lock: Path) -> tuple[int, list[str]]:
    """Bytes of the lock's distributions (and pip) as installed here; names not installed."""
    total, missing = 0, []
    for name in [*_PIN.findall(lock.read_text()), "pip"]:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        for file in files:
            path = Path(str(file.locate()))
            if path.is_file():
                total += path.stat().st_size
    return total, missing


def embed_line() -> str:
    """README's embed sentence, from the module the feed serves with the default settings."""
    for name in [name for name in os.environ if name.startswith("LIVEFEED_")]:
        del os.environ[name]
    from services.feed.column import Assets
    from shared.settings import Settings

    assets = Assets(Settings())
    raw, packed = len(assets.module), assets.gzipped_size
    return (
        f"The embed module (`/embed.js`, no dependencies) is {raw / 1000:.1f} KB, "
        f"{packed / 1000:.1f} KB as the feed serves it (gzipped)."
    )


def block() -> str:
    """The whole README block: install sizes, then the embed line."""
    runtime, missing = installed_bytes(REPO / "requirements.lock")
    dev, dev_missing = installed_bytes(REPO / "requirements-dev.lock")
    if missing or dev_missing:
        raise SystemExit(f"not installed here: {', '.join(missing + dev_missing)} (make test)")
    return "\n".join(
        [
            START,
            f"- `make run` installs {runtime / 1e6:.0f} MB of packages in `.venv` "
            f"(requirements.lock); `make test`, `make lint` and `make bench` add "
            f"requirements-dev.lock, {dev / 1e6:.0f} MB in all.",
            f"- {embed_line()}",
            END,
        ]
    )


def readme_block(text: str) -> str:
    """The block as README has it ("" without markers)."""
    start, end = text.find(START), text.find(END)
    return text[start : end + len(END)] if 0 <= start < end else ""


def main(argv: list[str]) -> int:
    """Print the sizes; ``--write`` puts them in README; ``--check`` compares the embed line."""
    text = README.read_text(encoding="utf-8")
    if "--check" in argv:
        if embed_line() not in readme_block(text):
            print(f"README's embed size is out of date: run `make docs` ({embed_line()})")
            return 1
        return 0
    new = block()
    print(new)
    if "--write" in argv:
        old = readme_block(text)
        if not old:
            print(f"README.md has no {START} … {END} block", file=sys.stderr)
            return 1
        README.write_text(text.replace(old, new), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
