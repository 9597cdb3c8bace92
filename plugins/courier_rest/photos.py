"""Checking and cleaning a hazard photo sent from a rider's phone.

Phone photos carry EXIF: the GPS position of where the rider stood, the phone
model, the time. The photo is decoded and drawn onto a fresh image, so nothing
but the pixels survives, then saved as JPEG at a sensible size.
"""

from __future__ import annotations

import io
import os
import secrets

#: What phones send (MPO is the JPEG variant some cameras write).
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}
MAX_PIXELS = 50_000_000
MAX_SIDE = 2000


class PhotoRejected(Exception):
    """The upload cannot be used; ``code`` is ``empty``, ``too_large`` or ``not_image``."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def clean_jpeg(data: bytes, max_bytes: int) -> bytes:
    """Validate an uploaded image and return it re-encoded as JPEG without any metadata."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # loaded with the first photo, not at start

    if not data:
        raise PhotoRejected("empty")
    if len(data) > max_bytes:
        raise PhotoRejected("too_large")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ACCEPTED_FORMATS:
                raise PhotoRejected("not_image")
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoRejected("too_large")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            # Turn the pixels the way the camera meant before the orientation tag is dropped.
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except PhotoRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PhotoRejected("not_image") from None
    upright.thumbnail((MAX_SIDE, MAX_SIDE))
    clean = Image.new("RGB", upright.size, "white")
    clean.paste(upright)
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def save(folder: str, data: bytes) -> str:
    """Write cleaned JPEG bytes under ``folder`` with an unguessable name; returns the name."""
    os.makedirs(folder, exist_ok=True)
    name = secrets.token_hex(12) + ".jpg"
    with open(os.path.join(folder, name), "wb") as fh:
        fh.write(data)
    return name
