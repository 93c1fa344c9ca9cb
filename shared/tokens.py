"""Named, optionally section-scoped bearer tokens: what ``LIVEFEED_INGEST_TOKENS`` and
``LIVEFEED_TOKENS_FILE`` say, parsed in one place.

- ``LIVEFEED_INGEST_TOKENS=cms:<token>,wire:<token>``: a name, a colon, the token. A bare token
  (no ``name:`` prefix) keeps working and is named ``token-1``, ``token-2``… by position.
- ``LIVEFEED_TOKENS_FILE``: one ``name token [section…]`` per line; blank lines and ``#``
  comments are skipped. Sections (slugs) limit what the token may post, update or retract.

Names are what the article history records; tokens never leave this module's callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.models import SLUG_RULE, is_slug

MIN_TOKEN_CHARS = 8
NAME_RULE = "1-64 letters, digits, '.', '_' or '-'"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class NamedToken:
    """One bearer token, the name changes are recorded under, and its sections (empty: all)."""

    name: str
    token: str
    sections: frozenset[str] = frozenset()

    def allows(self, section: str | None) -> bool:
        """Whether this token may touch an article in ``section`` (None: no section)."""
        return not self.sections or (section is not None and section in self.sections)

    def refusal(self, section: str | None, tombstone_scope: frozenset[str] | None) -> str | None:
        """Why this token may not change a stored record (None: it may); the rule the apply
        script (``services/feed/lua/apply.lua``, ``refusal``) enforces, answered early.

        A record belongs to sections: an article's record (live, embargoed, retracted or
        expired) to its ``section`` ('': none); a tombstone a scoped token left for an id
        without an article to that token's sections (``tombstone_scope``); any other tombstone
        to every section. A scoped token may change only records of its own sections.
        """
        if not self.sections:
            return None
        if section is not None:
            if section in self.sections:
                return None
            return (
                f"the article is in section {section!r}"
                if section
                else ("the article, which has no section")
            )
        if tombstone_scope is not None:
            outside = sorted(tombstone_scope - self.sections)
            return f"the id is retracted in section {outside[0]!r}" if outside else None
        return "the id is retracted for every section"

    def scope_text(self) -> str:
        """``world, sport``: the sections named in a refusal."""
        return ", ".join(sorted(self.sections))


def _token(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"{where}: each ingest token needs at least {MIN_TOKEN_CHARS} characters")
    return token


def from_env(entries: list[str]) -> list[NamedToken]:
    """``["cms:abcdefgh", "plaintoken"]`` → named tokens (``plaintoken`` is ``token-2``)."""
    out: list[NamedToken] = []
    for position, entry in enumerate(entries, start=1):
        name, sep, token = entry.partition(":")
        if sep and _NAME.fullmatch(name) and len(token) >= MIN_TOKEN_CHARS:
            out.append(NamedToken(name, token))
        else:
            out.append(NamedToken(f"token-{position}", _token(entry, f"token {position}")))
    return unique(out)


def from_file(text: str, source: str = "tokens file") -> list[NamedToken]:
    """The lines of a tokens file; raises ValueError naming the first bad line."""
    out: list[NamedToken] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{source} line {number}"
        if len(parts) < 2:
            raise ValueError(f"{where}: expected 'name token [section…]'")
        name, token, sections = parts[0], parts[1], parts[2:]
        if not _NAME.fullmatch(name):
            raise ValueError(f"{where}: the name must be {NAME_RULE}")
        for section in sections:
            if not is_slug(section):
                raise ValueError(f"{where}: section {section[:40]!r} must be {SLUG_RULE}")
        out.append(NamedToken(name, _token(token, where), frozenset(sections)))
    return unique(out)


def unique(tokens: list[NamedToken]) -> list[NamedToken]:
    """Refuse two tokens of one name (history could not tell them apart) or one token twice."""
    names: set[str] = set()
    values: set[str] = set()
    for named in tokens:
        if named.name in names:
            raise ValueError(f"two ingest tokens are named {named.name!r}")
        if named.token in values:
            raise ValueError(f"the token named {named.name!r} is listed twice")
        names.add(named.name)
        values.add(named.token)
    return tokens
