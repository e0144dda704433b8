"""Photos for tests: real images (the server decodes and re-encodes every upload), one as a phone takes it."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825


def png(rgb: tuple[int, int, int] = (46, 125, 50), width: int = 96, height: int = 72) -> bytes:
    """A viewable PNG of one colour, so previews and screenshots show a photo."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(out, format="PNG", optimize=True)  # as the server re-encodes
    return out.getvalue()


def jpeg_with_gps(color: str = "red") -> bytes:
    """A photo as a phone takes it: EXIF naming the camera and where it stood."""
    image = Image.new("RGB", (64, 48), color)
    exif = Image.Exif()
    exif[0x010F] = "LinliCam"
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (22.0, 33.0, 1.0), 3: "E", 4: (114.0, 7.0, 2.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    exif = Image.open(io.BytesIO(data)).getexif()
    return bool(exif.get_ifd(GPS_IFD)) or 0x010F in exif
