"""Named, optionally section-scoped bearer tokens: what ``LIVEFEED_INGEST_TOKENS`` and
``LIVEFEED_TOKENS_FILE`` say, parsed in one place.

- ``LIVEFEED_INGEST_TOKENS=cms:<token>,wire:<token>``: a name, a colon, the token. An entry
  without a colon is a bare token, named ``token-1``, ``token-2``… by position. An entry with a
  colon is always ``name:token``, split at its first colon: the name must be 1-64 letters,
  digits, ``.``, ``_`` or ``-`` and the token long enough, or start-up stops naming the entry
  (never silently read as a bare token, nor a bare token silently cut in two). So a token
  that contains ``:`` is given with a name: ``cms:ab:cd…`` is the token ``ab:cd…``.
- ``LIVEFEED_TOKENS_FILE``: one ``name token [section…] [key=value…]`` per line; blank lines
  are skipped, and ``#`` starts a comment only at the start of a line or after whitespace
  (``wire abc#def sport`` is the token ``abc#def``). Sections (slugs) limit what the token may
  post, update or retract. Trailing ``key=value`` fields are settings of the token
  (``TOKEN_FIELDS``): ``role=contributor`` or ``role=editor`` (the default, so tokens written
  before roles existed keep their power). A line that does not parse stops start-up with its
  number; a re-read keeps the previous tokens (``shared.auth``).

Roles: an editor publishes, edits, corrects, pins, embargoes and retracts; a contributor's
writes are drafts (``services/ingest/roles.py`` has the rules). ``LIVEFEED_INGEST_TOKENS``
tokens are editors.

Names are what the article history records; tokens never leave this module's callers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from shared.models import SLUG_RULE, is_slug

MIN_TOKEN_CHARS = 8
NAME_RULE = "1-64 letters, digits, '.', '_' or '-'"
NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"
_NAME = re.compile(NAME_PATTERN)


def is_token_name(text: str) -> bool:
    """Whether ``text`` can be a token's name (``NAME_RULE``)."""
    return _NAME.fullmatch(text) is not None


Role = Literal["editor", "contributor"]
ROLES: tuple[Role, ...] = ("editor", "contributor")


@dataclass(frozen=True)
class NamedToken:
    """One bearer token, the name changes are recorded under, its sections (empty: all) and
    its role (an editor publishes; a contributor writes drafts)."""

    name: str
    token: str
    sections: frozenset[str] = frozenset()
    role: Role = "editor"

    @property
    def is_editor(self) -> bool:
        """Whether this token may publish, correct, pin, retract (every power but drafts')."""
        return self.role == "editor"

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
    """``["cms:abcdefgh", "plaintoken"]`` → named tokens (``plaintoken`` is ``token-2``).

    An entry with a colon is ``name:token`` (split at the first colon) or an error: a bare
    token containing ``:`` must be given a name, ``cms:ab:cdefgh``.
    """
    out: list[NamedToken] = []
    for position, entry in enumerate(entries, start=1):
        where = f"LIVEFEED_INGEST_TOKENS entry {position}"
        name, sep, token = entry.partition(":")
        if not sep:
            out.append(NamedToken(f"token-{position}", _token(entry, where)))
            continue
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{where}: 'name:token' needs a name of {NAME_RULE} before the first ':' "
                "(a token that contains ':' is written with a name: 'cms:ab:cd…')"
            )
        out.append(NamedToken(name, _token(token, where)))
    return unique(out)


# A ``#`` at the start of a line or after whitespace starts a comment; elsewhere it is text.
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def _role(value: str) -> str:
    if value not in ROLES:
        raise ValueError(f"{value[:40]!r} is not a role: use {' or '.join(ROLES)}")
    return value


# ``key=value`` settings a tokens-file line may end with: key -> a check that returns the value
# to keep or raises ValueError with the reason.
TOKEN_FIELDS: dict[str, Callable[[str], str]] = {"role": _role}


def _line_fields(rest: list[str], where: str) -> tuple[list[str], dict[str, str]]:
    """The sections and then the ``key=value`` fields after ``name token`` on one line."""
    sections: list[str] = []
    options: dict[str, str] = {}
    for part in rest:
        key, eq, value = part.partition("=")
        if eq:
            check = TOKEN_FIELDS.get(key)
            if check is None:
                known = ", ".join(sorted(TOKEN_FIELDS)) or "none yet"
                raise ValueError(f"{where}: unknown field {key[:40]!r} (known: {known})")
            if key in options:
                raise ValueError(f"{where}: {key!r} is given twice")
            try:
                options[key] = check(value)
            except ValueError as exc:
                raise ValueError(f"{where}: {key}: {exc}") from exc
            continue
        if options:
            raise ValueError(f"{where}: sections come before the key=value fields")
        if not is_slug(part):
            raise ValueError(f"{where}: section {part[:40]!r} must be {SLUG_RULE}")
        sections.append(part)
    return sections, options


def from_file(text: str, source: str = "tokens file") -> list[NamedToken]:
    """The lines of a tokens file; raises ValueError naming the first bad line by number."""
    out: list[NamedToken] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        parts = line.split()
        where = f"{source} line {number}"
        if len(parts) < 2:
            raise ValueError(f"{where}: expected 'name token [section…]'")
        name, token = parts[0], parts[1]
        if not _NAME.fullmatch(name):
            raise ValueError(f"{where}: the name must be {NAME_RULE}")
        sections, options = _line_fields(parts[2:], where)
        role: Role = "contributor" if options.get("role") == "contributor" else "editor"
        out.append(NamedToken(name, _token(token, where), frozenset(sections), role))
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
