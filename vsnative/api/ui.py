"""The browser UI: `web/` served at `/` as static files (no build step), with a strict content policy."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from vsnative.api.keys import SERVICES
from vsnative.api.spec import ApiRoutes, Content

routes = ApiRoutes()
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _file(request: web.Request, name: str) -> web.FileResponse:
    folder: Path = request.app[SERVICES].settings.web_dir.resolve()
    path = (folder / name).resolve()
    if path.parent != folder or path.suffix not in TYPES or not path.is_file():
        raise web.HTTPNotFound(text=f"no UI file {name!r}")
    response = web.FileResponse(path, headers={"Content-Type": f"{TYPES[path.suffix]}; charset=utf-8"})
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


@routes.get("/", "the browser UI", answers={200: Content("text/html", "the browser UI")}, public=True)
async def index(request: web.Request) -> web.FileResponse:
    return _file(request, "index.html")


@routes.get(
    "/web/{name}",
    "a file of the browser UI (html, js, css, svg)",
    answers={200: Content("*/*", "the file")},
    errors=(404,),
    public=True,
)
async def asset(request: web.Request) -> web.FileResponse:
    return _file(request, request.match_info["name"])
