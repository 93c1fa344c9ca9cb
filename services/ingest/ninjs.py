"""IPTC ninjs (2.x, and 1.x where it differs) to native article fields.

The mapping (also in docs/api.md, "Formats"):

=========================================  ===============================================
ninjs                                       article
=========================================  ===============================================
``uri``                                     ``id`` (see :func:`drafts.article_id_for`)
``headlines[]`` (role ``main``, else the    ``title``
first) ``.value``; 1.x ``headline``
``firstcreated`` (else ``versioncreated``)  ``published_at``
``versioncreated``                          ``updated_at``
``version`` (a string of digits)            ``version``
``urgency``                                 ``urgency`` (<= 2: breaking)
``subjects``/1.x ``subject`` names,         ``tags`` (distinct, first 32)
``keywords``
``genres``/1.x ``genre`` names              ``labels`` (slugified, first 8)
``language``                                ``language``
``by``/1.x ``byline``/``bylines[]``         ``byline``
``descriptions[]`` (role summary/abstract,  ``summary`` (plain text, cut to 2000 chars)
else the first); 1.x ``description_text``
or ``description_html``
``embargoed``                               ``embargoed_until``
``ednote``                                   ``correction`` (a correction note, kept and shown)
``pubstatus`` ``canceled``/``withheld``     a retraction of ``id``
=========================================  ===============================================
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from services.ingest.drafts import Draft, labels_from, source_id, summary_from, tags_from
from shared.dates import to_ms

# Keys only ninjs uses; a native article always has "id".
_NINJS_ONLY = frozenset(
    {"uri", "headlines", "headline", "firstcreated", "versioncreated", "pubstatus"}
)
_SUMMARY_ROLES = ("summary", "abstract", "lead", "description")
RETRACTING = frozenset({"canceled", "withheld"})
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses; 16 digits are more
# than any version the model takes (it caps them at 2**53 - 1) yet cheap for int().
_DIGITS = re.compile(r"[0-9]{1,16}")
# Optional lists of names or objects: a value of another type is refused (null is absent).
_NAME_LISTS = ("subjects", "subject", "keywords", "genres", "genre", "bylines")
_TEXTS = ("by", "byline", "description_text", "description_html", "ednote")


def is_ninjs(item: object) -> bool:
    """Whether a posted JSON object is ninjs rather than a native article (no ``id``)."""
    return isinstance(item, dict) and "id" not in item and bool(_NINJS_ONLY & item.keys())


def _check_types(draft: Draft, item: dict[str, Any]) -> None:
    """Reject optional fields whose JSON type the mapping cannot use, naming each one.

    The mapper must never guess with (or crash on) a list where a string belongs: the item is
    rejected with the field named, and nothing of it is stored.
    """
    for name in _NAME_LISTS:
        values = item.get(name)
        if values is None:
            continue
        if not isinstance(values, list):
            draft.reject(name, "must be a list of strings or objects")
            continue
        for i, value in enumerate(values):
            if not isinstance(value, str | dict):
                draft.reject(f"{name}[{i}]", "must be a string or an object")
    for name in ("headlines", "descriptions"):
        values = item.get(name)
        if values is None:
            continue
        if not isinstance(values, list):
            draft.reject(name, 'must be a list of objects such as {"value": "..."}')
            continue
        for i, value in enumerate(values):
            if not isinstance(value, dict):
                draft.reject(f"{name}[{i}]", 'must be an object such as {"value": "..."}')
                continue
            for key in ("value", "role"):
                if value.get(key) is not None and not isinstance(value[key], str):
                    draft.reject(f"{name}[{i}].{key}", "must be a string")
    for name in _TEXTS:
        if item.get(name) is not None and not isinstance(item[name], str):
            draft.reject(name, "must be a string")


def _check_retraction_fields(draft: Draft, item: dict[str, Any]) -> None:
    """What the article model would check, for a retraction (which is never validated as one).

    A cancel with a malformed date or field is refused like any other item, rather than
    retracting on whatever part of it could be read.
    """
    for name in ("headline", "language"):
        if item.get(name) is not None and not isinstance(item[name], str):
            draft.reject(name, "must be a string")
    urgency = item.get("urgency")
    if urgency is not None and (not isinstance(urgency, int) or isinstance(urgency, bool)):
        draft.reject("urgency", "must be an integer")
    for name in ("firstcreated", "versioncreated", "embargoed"):
        value = item.get(name)
        if value is not None and _moment(value) is None:
            draft.reject(name, "must be an RFC 3339 date-time string with an offset")


def _moment(value: object) -> datetime | None:
    """An RFC 3339 date-time with an offset, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _names(values: object, *keys: str) -> list[str]:
    """``[{"name": "Politics"}, "Kyiv"]`` -> ``["Politics", "Kyiv"]`` (first key present)."""
    out: list[str] = []
    if not isinstance(values, list):
        return out
    for value in values:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for key in keys:
                candidate = value.get(key)
                if isinstance(candidate, str) and candidate.strip():
                    out.append(candidate)
                    break
    return out


def _pick(values: object, roles: tuple[str, ...]) -> tuple[int, str] | None:
    """The index and value of the entry with the first preferred role, else the first one."""
    if not isinstance(values, list):
        return None
    entries = [
        (i, v)
        for i, v in enumerate(values)
        if isinstance(v, dict) and isinstance(v.get("value"), str)
    ]
    for role in roles:
        for i, entry in entries:
            if entry.get("role") == role:
                return i, entry["value"]
    return (entries[0][0], entries[0][1]["value"]) if entries else None


def _version(draft: Draft, value: object) -> None:
    # ninjs versions are strings of digits ("2"); native integers are accepted as well.
    if isinstance(value, bool):
        draft.reject("version", 'must be a string of digits such as "2"')
    elif isinstance(value, int):
        draft.fields["version"] = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        draft.fields["version"] = int(value.strip())
    else:
        draft.reject("version", 'must be a string of digits such as "2"')
    draft.names["version"] = "version"


def _retraction_rank(item: dict[str, Any]) -> tuple[int, int] | None:
    """(version, ms) of a canceled item that has both, so an older cancel cannot win.

    Without an explicit version the cancel is unconditional: a missing version must not make
    it look older than a versioned story it is meant to kill.
    """
    raw_version = item.get("version")
    if isinstance(raw_version, str) and _DIGITS.fullmatch(raw_version.strip()):
        version = int(raw_version.strip())
    elif isinstance(raw_version, int) and not isinstance(raw_version, bool):
        version = raw_version
    else:
        return None
    for name in ("versioncreated", "firstcreated"):
        moment = _moment(item.get(name))
        if moment is not None:
            return version, to_ms(moment)
    return None


def from_ninjs(item: dict[str, Any], index: int) -> Draft:
    """One ninjs object as a draft article (or a retraction when canceled or withheld)."""
    draft = Draft(index=index)
    source_id(draft, item.get("uri"), "uri")
    status = item.get("pubstatus", "usable")
    if not isinstance(status, str):
        # Any other JSON type (a list is unhashable) must be a named rejection, not a 500.
        draft.reject("pubstatus", "must be the string usable, withheld or canceled")
    elif status in RETRACTING:
        draft.op = "retract"
        if item.get("version") is not None:
            # A malformed version must not turn a versioned cancel into an unconditional one.
            _version(draft, item["version"])
            if draft.fields.pop("version", 1) < 1:
                draft.reject("version", "must be at least 1")
        _check_types(draft, item)
        _check_retraction_fields(draft, item)
        draft.rank = _retraction_rank(item)
        return draft
    elif status != "usable":
        draft.reject("pubstatus", "must be usable, withheld or canceled")
    _check_types(draft, item)

    picked = _pick(item.get("headlines"), ("main", "headline"))
    if picked is not None:
        draft.fields["title"] = picked[1]
        draft.names["title"] = f"headlines[{picked[0]}].value"
    elif "headline" in item:
        draft.fields["title"] = item["headline"]
        draft.names["title"] = "headline"
    else:
        draft.reject("headlines", "required: headlines[0].value (ninjs 2) or headline (ninjs 1)")

    if "firstcreated" in item:
        draft.fields["published_at"] = item["firstcreated"]
        draft.names["published_at"] = "firstcreated"
    elif "versioncreated" in item:
        draft.fields["published_at"] = item["versioncreated"]
        draft.names["published_at"] = "versioncreated"
    else:
        draft.reject("firstcreated", "required: firstcreated or versioncreated")
    if "versioncreated" in item:
        draft.fields["updated_at"] = item["versioncreated"]
        draft.names["updated_at"] = "versioncreated"

    if "version" in item:
        _version(draft, item["version"])
    for name in ("urgency", "language"):
        if name in item:
            draft.fields[name] = item[name]
    if "embargoed" in item and item["embargoed"] is not None:
        draft.fields["embargoed_until"] = item["embargoed"]
        draft.names["embargoed_until"] = "embargoed"

    subjects = "subjects" if "subjects" in item else "subject"
    tags = tags_from(
        _names(item.get(subjects), "name", "literal", "code")
        + _names(item.get("keywords"), "name", "value")
    )
    if tags:
        draft.fields["tags"] = tags
        draft.names["tags"] = subjects
    genres = "genres" if "genres" in item else "genre"
    labels = labels_from(_names(item.get(genres), "name", "literal", "code"))
    if labels:
        draft.fields["labels"] = labels
        draft.names["labels"] = genres

    for name in ("by", "byline"):
        if isinstance(item.get(name), str):
            draft.fields["byline"] = item[name]
            draft.names["byline"] = name
            break
    else:
        people = _names(item.get("bylines"), "byline", "name", "value")
        if people:
            draft.fields["byline"] = ", ".join(people)
            draft.names["byline"] = "bylines"

    if isinstance(item.get("ednote"), str) and item["ednote"].strip():
        draft.fields["correction"] = item["ednote"]
        draft.names["correction"] = "ednote"

    description = _pick(item.get("descriptions"), _SUMMARY_ROLES)
    if description is not None:
        draft.fields["summary"] = summary_from(description[1])
        draft.names["summary"] = f"descriptions[{description[0]}].value"
    else:
        for name in ("description_text", "description_html"):
            if isinstance(item.get(name), str):
                draft.fields["summary"] = summary_from(item[name])
                draft.names["summary"] = name
                break
    if draft.fields.get("summary") is None:
        draft.fields.pop("summary", None)
    return draft
