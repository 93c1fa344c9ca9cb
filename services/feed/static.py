"""``GET /static/<name>``: the page's scripts and styles, read and gzipped once at start-up.

Each file is a ``Rendered`` (caching.py) made when the app is created: ETag (its content's
hash), Last-Modified (the file's), 304s, and the gzip copy kept beside the plain bytes for the
requests that accept it. Only the files directly in ``static/`` are served, by exact name.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from services.feed.caching import Rendered, respond, static_view
from shared.starlette_glue import ProblemError

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class StaticFiles:
    """The files of one directory, in memory with their compressed copies."""

    def __init__(self, directory: Path) -> None:
        self.files: dict[str, Rendered] = {}
        for path in sorted(directory.iterdir()):
            media_type = MEDIA_TYPES.get(path.suffix)
            if media_type is None or not path.is_file():
                continue
            self.files[path.name] = static_view(
                path.read_bytes(),
                media_type,
                {"X-Content-Type-Options": "nosniff"},
                last_modified_ms=int(path.stat().st_mtime * 1000),
            )

    def routes(self, prefix: str) -> list[BaseRoute]:
        """``<prefix>/<name>`` (GET and HEAD)."""
        return [Route(prefix + "/{name}", self.endpoint, methods=["GET", "HEAD"])]

    async def endpoint(self, request: Request) -> Response:
        """One file, plain or gzipped as the request accepts, or 304."""
        view = self.files.get(request.path_params["name"])
        if view is None:
            raise ProblemError(404, "no such file")
        return respond(request, view)
