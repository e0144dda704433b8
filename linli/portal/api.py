"""Serves the portal: one page at `/` and its static assets. Everything the page shows comes from the
JSON API with the signed-in user's token, so these routes are public and carry no data themselves."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from linli.platform.errors import NotFound

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_FILES = {"portal.js": "text/javascript", "portal.css": "text/css"}
# Paths served without a permission check (the permission-coverage test allow-lists them).
PUBLIC_PATHS = ("/", "/static/{filename}")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

portal_router = APIRouter(include_in_schema=False)


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def _asset_version() -> str:
    return str(int(max((STATIC_DIR / name).stat().st_mtime for name in STATIC_FILES)))


@portal_router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def portal_index() -> HTMLResponse:
    html = _environment().get_template("index.html").render(version=_asset_version())
    return HTMLResponse(html, headers=SECURITY_HEADERS | {"Cache-Control": "no-cache"})


@portal_router.get("/static/{filename}", include_in_schema=False)
async def portal_static(filename: str) -> FileResponse:
    media_type = STATIC_FILES.get(filename)
    if media_type is None:
        raise NotFound("file")
    return FileResponse(STATIC_DIR / filename, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})
