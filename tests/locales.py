"""Locales for tests that run a server under a collation other than "C".

Debian images ship only C and C.UTF-8 compiled; ``localedef`` (libc-bin) compiles another from
the ``locales`` package's sources into a folder of our own, which ``LOCPATH`` points at.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path


@functools.cache
def compiled_locale(name: str) -> Path:
    """A ``LOCPATH`` folder holding ``name`` (e.g. ``en_US.UTF-8``), compiled once per run."""
    localedef = shutil.which("localedef")
    assert localedef, "localedef not found: install libc-bin and the locales package"
    folder = Path(tempfile.mkdtemp(prefix="lf-locale-"))
    language, _, charset = name.partition(".")
    subprocess.run(
        [localedef, "-i", language, "-f", charset or "UTF-8", str(folder / name)],
        check=True,
        capture_output=True,
    )
    return folder
