"""Storing a hazard photo from a rider's phone, once :func:`kiosk.photos.clean_photo` has cleaned it.

The core checks the upload and re-encodes it as a JPEG with nothing but the
pixels (no GPS position, phone model or time); this module only decides
where the file goes and how many one report may take.
"""

from __future__ import annotations

import os
import secrets


class TooManyPhotos(Exception):
    """The report already has as many photos as it may take."""


def save(folder: str, data: bytes) -> str:
    """Write cleaned JPEG bytes under ``folder`` with an unguessable name; returns the name."""
    os.makedirs(folder, exist_ok=True)
    name = secrets.token_hex(12) + ".jpg"
    with open(os.path.join(folder, name), "wb") as fh:
        fh.write(data)
    return name
