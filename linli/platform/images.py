"""Photos people upload: decoded and written anew without their metadata (EXIF with its GPS position,
XMP, text chunks), turned upright first as their EXIF orientation said. Only JPEG, PNG and WebP."""

from __future__ import annotations

import asyncio
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from linli.platform.errors import UnsupportedMediaType

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# A photo a phone takes has ~12-50 megapixels; beyond this it is a decompression bomb, not a photo.
MAX_PIXELS = 60_000_000


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _refuse(message: str = "only JPEG, PNG and WebP photos are accepted") -> UnsupportedMediaType:
    return UnsupportedMediaType(message, code="unsupported_image")


def strip_metadata(data: bytes) -> CleanPhoto:
    """The photo re-encoded without metadata (blocking: call `clean_photo` from async code)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise _refuse()
            if image.width * image.height > MAX_PIXELS:
                raise _refuse("the photo has too many pixels")
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise _refuse() from exc
    fmt = str(image.format)
    upright = ImageOps.exif_transpose(image)
    if fmt == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
        upright = upright.convert("RGB")
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 90} if fmt in ("JPEG", "WEBP") else {"optimize": True}
    upright.save(out, format=fmt, **options)  # no exif=, pnginfo= or xmp=: nothing of the original's metadata
    content_type, extension = FORMATS[fmt]
    return CleanPhoto(out.getvalue(), content_type, extension, upright.width, upright.height)


async def clean_photo(data: bytes) -> CleanPhoto:
    return await asyncio.to_thread(strip_metadata, data)
