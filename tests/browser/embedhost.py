"""A news site on an origin of its own, for the embed tests: pages by path, a strict CSP, and
server-side includes done as nginx's SSI does them (``<!--#include virtual="URL" -->``)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx

from tests.procs import free_port

_INCLUDE = re.compile(r'<!--#include virtual="([^"]+)" -->')
HOST_CSS = "body { font: 16px/1.5 Georgia, serif; color: rgb(20, 20, 20); margin: 0 16px; }\n"


@dataclass
class Host:
    """``http://127.0.0.1:<port>``: serves ``pages`` (path → HTML) with ``csp`` as its policy."""

    port: int = field(default_factory=free_port)
    pages: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path → (type, body)
    csp: str = ""
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        """The host page's origin."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Host:
        """Serve in a thread."""
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                host.requests.append(self.path)
                if path in host.pages:
                    body = _INCLUDE.sub(
                        lambda m: httpx.get(m.group(1), timeout=10).text, host.pages[path]
                    ).encode()
                    kind = "text/html; charset=utf-8"
                elif path in host.files:
                    kind, text = host.files[path]
                    body = text.encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                if host.csp and kind.startswith("text/html"):
                    self.send_header("Content-Security-Policy", host.csp)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def article_page(head: str, columns: str, *, title: str = "An article — Espreso Global") -> str:
    """A news article with the column beside it, as the seed page is laid out."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/host.css">
{head}
</head><body>
<header><p>Espreso Global</p></header>
<main><h1>Belarus' entry into war is unfeasible for Russia</h1>
<p id="outside">The article's text, styled by the site alone.</p></main>
{columns}
</body></html>
"""
