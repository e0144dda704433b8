"""Serves the built web front end (`portal/`, built by Vite into `portal/dist`): the staff console at `/`
and the residents' app at `/app/{slug}/`. Everything the pages show comes from the JSON API with the
signed-in user's token, so these routes are public and carry no data themselves."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from linli.platform.errors import NotFound, ServiceUnavailable

DIST_DIR = Path(__file__).resolve().parents[2] / "portal" / "dist"
ASSETS_DIR = DIST_DIR / "assets"
# Vite names every built asset `<name>-<hash>.<ext>`: a name is all an asset request may carry.
ASSET_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.(js|css|woff2?|ttf|svg|png|jpg|webp|ico)$")
# Paths served without a permission check (the permission-coverage test allow-lists them).
PUBLIC_PATHS = ("/", "/assets/{filename}", "/app/{slug}/")
SECURITY_HEADERS = {
    # Vue sets styles through the CSSOM, which style-src does not govern; photos preview as blob: URLs.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob:; font-src 'self' data:; manifest-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "geolocation=(self), camera=(self), microphone=()",
}
IMMUTABLE = "public, max-age=31536000, immutable"

portal_router = APIRouter(include_in_schema=False)


NOT_BUILT = "the web front end is not built: run scripts/bootstrap (it runs `npm ci` and `npm run build` in portal/)"


def _page(name: str) -> FileResponse:
    path = DIST_DIR / name
    if not path.is_file():
        raise ServiceUnavailable(NOT_BUILT, code="portal_not_built")
    return FileResponse(path, media_type="text/html", headers=SECURITY_HEADERS | {"Cache-Control": "no-cache"})


@portal_router.get("/", include_in_schema=False)
async def console_page() -> FileResponse:
    return _page("index.html")


@portal_router.get("/app/{slug}/", include_in_schema=False)
async def resident_app_page(slug: str) -> FileResponse:
    # The page is the same for every tenant: it reads its branding from /app/v1/{slug}/config.
    return _page("app.html")


@portal_router.get("/assets/{filename}", include_in_schema=False)
async def asset(filename: str) -> FileResponse:
    path = ASSETS_DIR / filename
    if not ASSET_NAME.match(filename) or not path.is_file():
        raise NotFound("file")
    return FileResponse(path, headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"})
