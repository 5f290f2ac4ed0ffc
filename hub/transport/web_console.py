"""The web console: `GET /` (index.html) and `GET /web/<file>` from hub/web/.

Only plain file names with a known suffix are served, looked up in that one
directory: no sub-paths, no directory listing, and nothing outside hub/web/ can
be named (a `..` or `/` in the name is simply not a file name here).
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
NAME = re.compile(r"[A-Za-z0-9_-]+\.(html|js|css)")

# The page talks only to its own hub, and runs only its own scripts.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # the files change with the hub's version; always ask (cheap on loopback, tiny files)
    "Cache-Control": "no-cache",
}


class WebConsole:
    def __init__(self, directory: Path = WEB_DIR) -> None:
        self.directory = directory

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/web/{name:.*}", self.file)

    async def index(self, request: web.Request) -> web.Response:
        return self._serve("index.html")

    async def file(self, request: web.Request) -> web.Response:
        return self._serve(request.match_info["name"])

    def _serve(self, name: str) -> web.Response:
        if not NAME.fullmatch(name):
            raise web.HTTPNotFound(text="not found")
        path = self.directory / name
        try:
            body = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise web.HTTPNotFound(text="not found") from None
        response = web.Response(body=body, headers=HEADERS)
        response.headers["Content-Type"] = CONTENT_TYPES[path.suffix]
        return response
