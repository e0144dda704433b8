"""QR codes as SVG, served as their own responses so pages show them with the bearer token (patrol
checkpoints, passes, activity check-in codes)."""

from __future__ import annotations

import io
from typing import Any

import segno

SVG = "image/svg+xml"
# For the `responses=` of an endpoint that returns a QR code, so the OpenAPI says what comes back.
SVG_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {SVG: {}}}}


def qr_svg(payload: str, *, title: str | None = None) -> str:
    """`payload` as an SVG QR code at medium error correction (survives a smudged print)."""
    out = io.BytesIO()
    segno.make(payload, error="m").save(out, kind="svg", scale=8, border=2, title=title)
    return out.getvalue().decode()
