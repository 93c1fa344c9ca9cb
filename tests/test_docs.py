"""The docs a newcomer reads stay true: short README, generated pages current, links that land.

No services needed: these read the repository's files and the Settings model.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docs import sizes
from shared import settings_doc
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 300

_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r'<a (?:id|name)="([^"]+)"')


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _code_blocks(text: str, languages: set[str]) -> list[str]:
    """The lines of fenced blocks in one of *languages*."""
    lines: list[str] = []
    language: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line.strip())
        if match:
            language = line.strip()[3:].strip() if language is None else None
            continue
        if language in languages:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    found: set[str] = set(_HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for line in _prose(text):
        match = _HEADING.match(line)
        if match:
            slug = _slug(match.group(2))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_configuration_page_is_generated_from_the_settings() -> None:
    page = settings_doc.PAGE.read_text(encoding="utf-8")
    assert page == settings_doc.render(), (
        "docs/configuration.md is out of date with shared/settings.py: run `make docs`"
    )


def test_every_setting_is_on_the_configuration_page() -> None:
    page = settings_doc.PAGE.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`{settings_doc.env_name(name, field)}`" in page, name


def test_readme_fits_on_a_few_screens() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move the detail to docs/"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_lands(page: Path) -> None:
    broken = []
    for line in _prose(page.read_text(encoding="utf-8")):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{target}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{target}: no heading or anchor #{anchor} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_readme_sizes_are_measured() -> None:
    """The embed module's size in README is what docs/sizes.py measures from the source."""
    block = sizes.readme_block(README.read_text(encoding="utf-8"))
    assert block, "README.md lost its sizes block (<!-- sizes:start --> … <!-- sizes:end -->)"
    assert sizes.embed_line() in block, "README's embed size is out of date: run `make docs`"


def test_security_limits_name_real_settings_and_their_defaults() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Security limits", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert rows, "README's Security limits table is empty"
    fields = {settings_doc.env_name(n, f): f for n, f in Settings.model_fields.items()}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for name in re.findall(r"`(LIVEFEED_[A-Z0-9_]+)`", cells[1]):
            assert name in fields, f"{name} is not a setting"
            default = settings_doc.default_text(fields[name]).strip("`")
            shown = re.search(rf"(?<![\w.]){re.escape(default)}(?![\w.])", cells[2])
            assert shown, f"{name}: default {default}, README says {cells[2]}"


# A page that says this (operations.md: commands run in the image) may write `livefeed` bare.
ACTIVATED = "Commands written `livefeed …` run"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shell_commands_run_in_a_fresh_shell(page: Path) -> None:
    """`livefeed` is not on PATH after `make run`: shell blocks say .venv/bin/livefeed, unless
    the block activates the virtualenv first or the page says its commands assume it."""
    text = page.read_text(encoding="utf-8")
    if ACTIVATED in text:
        return
    bare, activated = [], False
    for line in _code_blocks(text, {"sh", "bash", "shell", "console"}):
        command = line.split(" #", 1)[0].removeprefix("$ ")
        if "source .venv/bin/activate" in command:
            activated = True
        if command.lstrip().startswith("#") or activated:
            continue
        if re.search(r"(^|[;&|(]\s*)\s*livefeed\b", command):
            bare.append(line.strip())
    assert not bare, f"{page.name}: write .venv/bin/livefeed (or say to activate): {bare}"
