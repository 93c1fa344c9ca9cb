"""The ingest service's OpenAPI 3.1 document, built from the Article model."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from services.ingest.desk_api import MAX_LIST
from services.ingest.intake import STATUSES
from services.ingest.patching import PATCH_TYPES
from shared.audience import MAX_MINUTES
from shared.clicks import MAX_TOP
from shared.drafts import MAX_NOTE_CHARS
from shared.models import MAX_CORRECTION_CHARS, MAX_RAW_TEXT_CHARS, MAX_SLUG_CHARS, Article
from shared.summary import MAX_LIVE_SUMMARY_CHARS
from shared.tokens import NAME_PATTERN

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _responses(*statuses: int) -> dict[str, Any]:
    described = {
        "400": "Body is not valid JSON or well-formed, entity-free XML; bad Idempotency-Key or "
        "If-Match; an unknown or bad query parameter (the problem names it)",
        "401": "No bearer token",
        "403": "Token not allowed: a section outside its scope (the problem names `section`), "
        "or what its role may not do (names `role`: a contributor may write drafts only)",
        # PUT/DELETE: Starlette's path matcher stops at a line break, so such an id matches
        # no route at all (other bad ids are a 422 naming `id`).
        "404": "Unknown job, or a URL that names no article (an id with a line break); PATCH: "
        "no live or embargoed article with this id (unknown, retracted or expired), nor a "
        "draft; publish/return/GET: no draft (or article) with this id",
        "409": "A request with this Idempotency-Key is still being processed",
        "413": "Body or batch too large",
        "415": "Unsupported content type",
        "422": "Invalid field(s)",
        "429": "This token's requests per minute are used up, or this address failed too many "
        "token checks this minute (LIVEFEED_AUTH_FAILURES_PER_MINUTE); see Retry-After",
        "503": "Redis unreachable: nothing accepted",
    }
    return {
        str(code): {
            "description": described[str(code)],
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
        for code in statuses
    }


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """``prop``, or null (a merge patch's "remove this field")."""
    if {"type": "null"} in prop.get("anyOf", []):
        return prop
    return {"anyOf": [prop, {"type": "null"}]}


_TEXT = {"type": "string"}
_DATE = {"type": "string", "format": "date-time"}
_ROLE_VALUES = {
    "type": "array",
    "items": {"type": "object", "properties": {"role": _TEXT, "value": _TEXT}},
}
_NAMED = {"type": "array", "items": {"anyOf": [_TEXT, {"type": "object"}]}}
# The ninjs fields ingest reads (ninjs 2.x, and 1.x where it differs), with the JSON types it
# takes: a value of another type is a named rejection. Any other ninjs field is ignored.
_NINJS_ITEM: dict[str, Any] = {
    "type": "object",
    "description": "IPTC ninjs 2.x (or 1.x) item; see docs/api.md, Formats",
    "required": ["uri"],
    "properties": {
        "uri": {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": r"\S"},
        "headlines": _ROLE_VALUES,
        "headline": _TEXT,
        "firstcreated": _DATE,
        "versioncreated": _DATE,
        "version": {
            "oneOf": [
                {"type": "string", "pattern": "^ *[0-9]{1,16} *$"},
                {"type": "integer", "minimum": 1},
            ]
        },
        "pubstatus": {"enum": ["usable", "withheld", "canceled"]},
        "urgency": {"type": "integer", "minimum": 1, "maximum": 9},
        "language": _TEXT,
        "embargoed": {"type": ["string", "null"], "format": "date-time"},
        **{name: _NAMED for name in ("subjects", "subject", "keywords", "genres", "genre")},
        "bylines": _NAMED,
        "by": _TEXT,
        "byline": _TEXT,
        "descriptions": _ROLE_VALUES,
        "description_text": _TEXT,
        "description_html": _TEXT,
        "ednote": _TEXT,
    },
}


_NULLABLE_TEXT = {"type": ["string", "null"]}
# A summary's scope in the query: each optional, empty is absent (every section / edition).
_SCOPE_QUERY = [
    {
        "name": "section",
        "in": "query",
        "required": False,
        "description": "The section's summary (absent: the whole feed's)",
        "schema": {
            "type": "string",
            "pattern": "^(|[a-z0-9]+(-[a-z0-9]+)*)$",
            "maxLength": MAX_SLUG_CHARS,
        },
    },
    {
        "name": "lang",
        "in": "query",
        "required": False,
        "description": "The edition's summary, a language tag (absent: every edition's)",
        "schema": {"type": "string", "pattern": "^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)?$"},
    },
]
_SCOPE_BODY = {
    "section": {"type": "string", "description": "A section slug (absent: the whole feed)"},
    "lang": {"type": "string", "description": "A language tag (absent: every edition)"},
}
_SUMMARY = {
    "type": "object",
    "required": ["text", "updated_at", "by", "section", "lang"],
    "properties": {
        "text": _TEXT,
        "updated_at": _DATE,
        "by": _TEXT,
        "section": _NULLABLE_TEXT,
        "lang": _NULLABLE_TEXT,
    },
}


def _summary_paths(security: list[dict[str, list[str]]]) -> dict[str, Any]:
    """``/v1/summary`` (PUT, DELETE) and ``/v1/summary/history`` (GET)."""
    changed = {
        "200": {
            "description": "Done at once (changed false: it already was so; nothing was sent)",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/SummaryChange"}}
            },
        }
    }
    return {
        "/v1/summary": {
            "put": {
                "summary": "Set the live summary of the feed, a section or an edition",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["text"],
                                "properties": {
                                    "text": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": MAX_RAW_TEXT_CHARS,
                                        "description": "Plain text in paragraphs (a blank line "
                                        f"between two): 1-{MAX_LIVE_SUMMARY_CHARS} characters "
                                        "once markup is stripped",
                                    },
                                    **_SCOPE_BODY,
                                },
                            }
                        }
                    },
                },
                "responses": {**changed, **_responses(400, 401, 403, 413, 422, 429, 503)},
            },
            "delete": {
                "summary": "Remove the live summary of a scope (in the query, or as a body)",
                "security": security,
                "parameters": _SCOPE_QUERY,
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": _SCOPE_BODY}
                        }
                    },
                },
                "responses": {**changed, **_responses(400, 401, 403, 413, 422, 429, 503)},
            },
        },
        "/v1/summary/history": {
            "get": {
                "summary": "The summaries a scope has had, oldest first, and the current one",
                "security": security,
                "parameters": _SCOPE_QUERY,
                "responses": {
                    "200": {
                        "description": "The scope's history",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SummaryHistory"}
                            }
                        },
                    },
                    **_responses(400, 401, 403, 429, 503),
                },
            }
        },
    }


def _summary_schemas() -> dict[str, Any]:
    scope = {"section": _NULLABLE_TEXT, "lang": _NULLABLE_TEXT}
    return {
        "Summary": _SUMMARY,
        "SummaryChange": {
            "type": "object",
            "required": ["section", "lang", "changed", "event_id", "summary"],
            "properties": {
                **scope,
                "changed": {"type": "boolean"},
                "event_id": _NULLABLE_TEXT,
                "summary": {"anyOf": [{"$ref": "#/components/schemas/Summary"}, {"type": "null"}]},
                "request_id": _TEXT,
            },
        },
        "SummaryHistory": {
            "type": "object",
            "required": ["section", "lang", "summary", "history"],
            "properties": {
                **scope,
                "summary": {"anyOf": [{"$ref": "#/components/schemas/Summary"}, {"type": "null"}]},
                "history": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["at", "by", "action"],
                        "properties": {
                            "at": _DATE,
                            "by": _NULLABLE_TEXT,
                            "action": {"enum": ["set", "deleted"]},
                            "text": _TEXT,
                            "request_id": _TEXT,
                        },
                    },
                },
            },
        },
    }


_VERSION_RULE = '^((W/)?"[1-9][0-9]{0,14}"|[1-9][0-9]{0,14})$'  # roles.IF_MATCH
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The version (`"3"`) of the record this write started from: the draft\'s '
    "for a draft, else the article's (GET /v1/articles/{id}: `version`, ETag). If it changed "
    "since, the write changes nothing and its item is `stale` with `current` (who changed it, "
    "when, its title); send it again without If-Match to overwrite.",
    "schema": {"type": "string", "pattern": _VERSION_RULE},
}
_CURRENT = {
    "type": ["object", "null"],
    "description": "A conflict (If-Match, or the draft version reviewed): the record as it is "
    "now; null when there is none",
    "required": ["version", "by", "at", "title"],
    "properties": {
        "version": {"type": ["integer", "null"]},
        "by": {"type": ["string", "null"]},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "title": {"type": ["string", "null"]},
    },
}
_RETURNED = {
    "type": ["object", "null"],
    "required": ["note", "by", "at"],
    "properties": {"note": _TEXT, "by": {"type": ["string", "null"]}, "at": _DATE},
}
_DRAFT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "title", "version", "author", "updated_at", "returned", "article"],
    "properties": {
        "id": _TEXT,
        "title": _TEXT,
        "url": {"type": ["string", "null"]},
        "section": {"type": ["string", "null"]},
        "labels": {"type": "array", "items": _TEXT},
        "language": {"type": ["string", "null"]},
        "urgency": {"type": ["integer", "null"]},
        "pinned": {"type": "boolean"},
        "embargoed_until": {"type": ["string", "null"]},
        "published_at": {"type": ["string", "null"]},
        "version": {"type": "integer", "description": "The draft's version: +1 per save"},
        "author": {"type": ["string", "null"], "description": "The token that first saved it"},
        "by": {"type": ["string", "null"], "description": "The token that changed it last"},
        "updated_at": {"type": "string", "format": "date-time"},
        "returned": _RETURNED,
        "state": {
            "type": ["string", "null"],
            "description": "The id's article record (a draft of a live article), or null",
        },
        "article": {"type": "object", "description": "Every field as posted"},
    },
}


def _drafts_paths(
    security: list[dict[str, list[str]]], id_param: dict[str, Any], accepted: dict[str, Any]
) -> dict[str, Any]:
    """``GET /v1/drafts``, publish, return, and ``GET /v1/articles/{id}`` (issue 25)."""
    version_body = {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**53,
        "description": "The draft version reviewed (GET /v1/drafts): if the draft changed "
        "since, nothing happens and the item is `stale` with `current`",
    }
    return {
        "/v1/drafts": {
            "get": {
                "summary": "The drafts, newest change first (any token; a section-scoped token "
                "sees its sections)",
                "security": security,
                "parameters": [
                    {
                        "name": "section",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "pattern": "^(|[a-z0-9]+(-[a-z0-9]+)*)$",
                            "maxLength": MAX_SLUG_CHARS,
                        },
                    },
                    {
                        "name": "author",
                        "in": "query",
                        "required": False,
                        "description": "The name of the token that first saved it",
                        "schema": {"type": "string", "pattern": f"^(|{NAME_PATTERN})$"},
                    },
                    _count_param("limit", MAX_LIST),
                ],
                "responses": {
                    "200": {
                        "description": "`event_id`: the newest record of the desk's stream "
                        "this list reflects",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["drafts", "event_id"],
                                    "properties": {
                                        "drafts": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Draft"},
                                        },
                                        "event_id": _TEXT,
                                    },
                                }
                            }
                        },
                    },
                    **_responses(400, 401, 403, 429, 503),
                },
            }
        },
        "/v1/articles/{article_id}/publish": {
            "post": {
                "summary": "Publish a draft (editor): its article as a write, with the usual "
                "version and embargo rules; dated now unless the article is live or embargoed",
                "security": security,
                "parameters": [id_param],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"version": version_body}}
                        }
                    },
                },
                "responses": {
                    **accepted,
                    **_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
                },
            }
        },
        "/v1/articles/{article_id}/return": {
            "post": {
                "summary": "Send a draft back to its author with a note (editor); it stays a draft",
                "security": security,
                "parameters": [id_param],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["note"],
                                "properties": {
                                    "note": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": MAX_RAW_TEXT_CHARS,
                                        "description": "Plain text, 1-"
                                        f"{MAX_NOTE_CHARS} characters once markup is stripped",
                                    },
                                    "version": version_body,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    **accepted,
                    **_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
                },
            }
        },
    }


def _count_param(name: str, maximum: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum},
    }


def _bad_query(names: str) -> dict[str, Any]:
    return {
        "400": {
            "description": f"{names} out of range, or an unknown query parameter (the problem "
            "names it)",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
    }


_COUNT = {"type": "integer", "minimum": 0}
_STATS: dict[str, Any] = {
    "type": "object",
    "required": ["id", "clicks", "readers_at_publication", "click_through"],
    "properties": {
        "id": _TEXT,
        "clicks": {
            "type": "object",
            "required": ["total", "per_minute"],
            "properties": {
                "total": _COUNT,
                "per_minute": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["at", "clicks"],
                        "properties": {"at": _DATE, "clicks": _COUNT},
                    },
                },
            },
        },
        "readers_at_publication": {"type": ["integer", "null"], "minimum": 0},
        "click_through": {"type": ["number", "null"], "minimum": 0},
    },
}
_TOP: dict[str, Any] = {
    "type": "object",
    "required": ["minutes", "since", "top"],
    "properties": {
        "minutes": {"type": "integer"},
        "since": _DATE,
        "top": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "title", "url", "section", "published_at", "clicks"],
                "properties": {
                    "id": _TEXT,
                    "title": _TEXT,
                    "url": {"type": ["string", "null"]},
                    "section": {"type": ["string", "null"]},
                    "published_at": _DATE,
                    "clicks": _COUNT,
                },
            },
        },
    },
}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """OpenAPI description of ``/v1/articles``, ``/v1/summary`` and ``/v1/jobs``."""
    article_schema = Article.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = article_schema.pop("$defs", {})
    accepted = {
        "202": {
            "description": "Queued durably; one result per item",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
        },
        "200": {
            "description": "Nothing needed queuing (job_id null): every item unchanged, stale, "
            "expired or rejected",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
        },
    }
    idempotency_key = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "A retry with the same key and request gets the first answer (kept 24 h)",
        # printable ASCII without spaces (400 otherwise)
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
    }
    xml_document = {"schema": {"type": "string", "description": "An RSS 2.0 or Atom document"}}
    security: list[dict[str, list[str]]] = [{"bearer": []}]
    body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Article"},
                        {"$ref": "#/components/schemas/Batch"},
                    ]
                }
            },
            "application/ninjs+json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/NinjsItem"},
                        {
                            "type": "object",
                            "required": ["articles"],
                            "properties": {
                                "articles": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"$ref": "#/components/schemas/NinjsItem"},
                                }
                            },
                        },
                    ]
                }
            },
            "application/rss+xml": xml_document,
            "application/atom+xml": xml_document,
        },
    }
    # A merge patch: any of the article's fields, each null (remove it) or a value of its type.
    merge_patch = {
        "schema": {
            "type": "object",
            "properties": {
                name: _nullable(prop)
                for name, prop in article_schema["properties"].items()
                if name != "id"
            }
            | {"id": article_schema["properties"]["id"]},
        }
    }
    patch_types = sorted(PATCH_TYPES)
    id_param = {
        "name": "article_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": article_schema["properties"]["id"]["pattern"]},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "livefeed ingest", "version": "1"},
        "paths": {
            "/v1/articles": {
                "post": {
                    "summary": "Post one article, a batch, ninjs, or an RSS/Atom document",
                    "security": security,
                    "parameters": [idempotency_key],
                    "requestBody": body,
                    "responses": {
                        **accepted,
                        **_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
                    },
                }
            },
            **_drafts_paths(security, id_param, accepted),
            "/v1/articles/{article_id}": {
                "get": {
                    "summary": "The stored article and its draft, to edit, with the version "
                    "If-Match names (also as ETag)",
                    "security": security,
                    "parameters": [id_param],
                    "responses": {
                        "200": {
                            "description": "`state`: the article record's (null: a draft only)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Stored"}
                                }
                            },
                        },
                        **_responses(401, 403, 404, 422, 429, 503),
                    },
                },
                "put": {
                    "summary": "Create or replace an article (`status: draft`: its draft)",
                    "security": security,
                    "parameters": [id_param, idempotency_key, _IF_MATCH],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ArticlePut"}
                            }
                        },
                    },
                    "responses": {
                        **accepted,
                        **_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
                    },
                },
                "patch": {
                    "summary": "Change some fields of a stored article (JSON Merge Patch, RFC "
                    "7396): a member replaces the field, null removes it; the result is checked "
                    "and applied as a PUT of it. A contributor's patch (or an editor's with "
                    "`status: draft`, or of an id with a draft and no live article) changes the "
                    "draft",
                    "security": security,
                    "parameters": [id_param, idempotency_key, _IF_MATCH],
                    "requestBody": {
                        "required": True,
                        "content": {t: merge_patch for t in patch_types},
                    },
                    "responses": {
                        **accepted,
                        **_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
                    },
                },
                "delete": {
                    "summary": "Retract an article (optional body: the reason, kept in history)",
                    "security": security,
                    "parameters": [id_param, idempotency_key],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "reason": {
                                            "type": ["string", "null"],
                                            "minLength": 1,
                                            "maxLength": MAX_RAW_TEXT_CHARS,
                                            "description": "Plain text: at most "
                                            f"{MAX_CORRECTION_CHARS} characters once markup "
                                            "and control characters are stripped (null, "
                                            "like no body: no reason).",
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        **accepted,
                        **_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
                    },
                },
            },
            "/v1/articles/{article_id}/history": {
                "get": {
                    "summary": "Who changed the article, what and when (also once retracted)",
                    "security": security,
                    "parameters": [id_param],
                    "responses": {
                        "200": {
                            "description": "Every recorded change, oldest first",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/History"}
                                }
                            },
                        },
                        **_responses(401, 403, 404, 422, 429, 503),
                    },
                }
            },
            **_summary_paths(security),
            "/v1/articles/{article_id}/stats": {
                "get": {
                    "summary": "How often readers opened the headline (the last 48 hours)",
                    "security": security,
                    "parameters": [id_param, _count_param("minutes", MAX_MINUTES)],
                    "responses": {
                        "200": {
                            "description": "Opens in all and per minute (the last `minutes`)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Stats"}
                                }
                            },
                        },
                        **_responses(401, 403, 404, 422, 429, 503),
                        **_bad_query("minutes"),
                    },
                }
            },
            "/v1/clicks/top": {
                "get": {
                    "summary": "The live headlines opened most in the last minutes",
                    "security": security,
                    "parameters": [
                        _count_param("minutes", MAX_MINUTES),
                        _count_param("limit", MAX_TOP),
                    ],
                    "responses": {
                        "200": {
                            "description": "Most opened first",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Top"}}
                            },
                        },
                        **_responses(401, 403, 429, 503),
                        **_bad_query("minutes or limit"),
                    },
                }
            },
            "/v1/jobs/{job_id}": {
                "get": {
                    "summary": "Where a queued request is, and each item's outcome",
                    "security": security,
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The job",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_responses(401, 403, 404, 429, 503),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **defs,
                "Article": article_schema,
                # The URL names the article: its body may leave `id` out (or repeat it).
                "ArticlePut": {
                    **article_schema,
                    "required": [r for r in article_schema["required"] if r != "id"],
                },
                **_summary_schemas(),
                "Batch": {
                    "type": "object",
                    "required": ["articles"],
                    "properties": {
                        "articles": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Article"},
                        }
                    },
                },
                "NinjsItem": _NINJS_ITEM,
                "Draft": _DRAFT,
                "Stored": {
                    "type": "object",
                    "required": ["id", "state", "version", "by", "at", "article", "draft"],
                    "properties": {
                        "id": _TEXT,
                        "state": {
                            "enum": ["live", "embargoed", "retracted", "expired", None],
                        },
                        "version": {"type": ["integer", "null"]},
                        "by": {"type": ["string", "null"]},
                        "at": {"type": ["string", "null"], "format": "date-time"},
                        "article": {"type": ["object", "null"]},
                        "draft": {
                            "anyOf": [{"$ref": "#/components/schemas/Draft"}, {"type": "null"}]
                        },
                    },
                },
                "Stats": _STATS,
                "Top": _TOP,
                "History": {
                    "type": "object",
                    "required": ["id", "history"],
                    "properties": {
                        "id": {"type": "string"},
                        "history": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["at", "by", "action", "version", "fields"],
                                "properties": {
                                    "at": {"type": "string", "format": "date-time"},
                                    "by": {"type": ["string", "null"]},
                                    "action": {
                                        "enum": [
                                            "published",
                                            "updated",
                                            "corrected",
                                            "embargoed",
                                            "released",
                                            "unpinned",
                                            "retracted",
                                            "expired",
                                            "drafted",
                                            "returned",
                                            "discarded",
                                        ]
                                    },
                                    "version": {"type": ["integer", "null"]},
                                    "fields": {"type": "array", "items": {"type": "string"}},
                                    "correction": {"type": "string"},
                                    "reason": {"type": "string"},
                                    "request_id": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["request_id", "format", "job_id", "status_url", "results"],
                    "properties": {
                        "request_id": {"type": "string"},
                        "format": {"enum": ["json", "ninjs", "mixed", "rss", "atom"]},
                        # null when nothing needed queuing (the 200 answer)
                        "job_id": {"type": ["string", "null"]},
                        "status_url": {"type": ["string", "null"]},
                        **{count: {"type": "integer", "minimum": 0} for count in STATUSES},
                        "results": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Result"},
                        },
                    },
                },
                "Result": {
                    "type": "object",
                    "required": ["index", "id", "status"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "id": {"type": ["string", "null"]},
                        "source_id": {"type": "string"},
                        "status": {"enum": list(STATUSES)},
                        "action": {"enum": ["retract", "publish", "return"]},
                        "current": _CURRENT,
                        "job_id": {"type": "string"},
                        "reason": {"type": "string"},
                        "errors": {"$ref": "#/components/schemas/FieldErrors"},
                    },
                },
                "FieldErrors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "reason"],
                        "properties": {
                            "field": {"type": "string"},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {"$ref": "#/components/schemas/FieldErrors"},
                    },
                },
            },
        },
    }
