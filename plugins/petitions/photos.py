"""Where a petition's photos are kept, once :func:`kiosk.photos.clean_photo` has cleaned them.

The core checks every upload (size, JPEG/PNG/WebP only, pixel count) and
re-encodes it as a JPEG with nothing but the pixels: no camera model, time or
GPS position survives in the file. Only when the resident ticks "share the
place of the photo" does the petition ask the core for the position, rounded
to about 11 m, and keep it in the database (``petitions_photo.lat/lon``).

Files live under ``<instance>/uploads/petitions/<station id>/`` with random
names, served by token only.
"""

from __future__ import annotations

import os
import secrets

from kiosk.photos import CleanPhoto


def folder(instance_path: str, station_id: int) -> str:
    """Where a station's petition photos are stored."""
    path = os.path.join(instance_path, "uploads", "petitions", str(station_id))
    os.makedirs(path, exist_ok=True)
    return path


def store(instance_path: str, station_id: int, photo: CleanPhoto) -> tuple[str, str]:
    """Write a cleaned photo under a random name; returns (token, file name)."""
    token = secrets.token_urlsafe(24)
    name = token + ".jpg"
    with open(os.path.join(folder(instance_path, station_id), name), "wb") as fh:
        fh.write(photo.data)
    return token, name


def path_of(instance_path: str, station_id: int, filename: str) -> str:
    """The full path of a stored photo."""
    return os.path.join(instance_path, "uploads", "petitions", str(station_id), filename)


def inside_uploads(instance_path: str, path: str) -> bool:
    """Whether ``path`` is a file inside the app's uploads folder (for files other plugins hand us)."""
    root = os.path.realpath(os.path.join(instance_path, "uploads"))
    real = os.path.realpath(path)
    return real.startswith(root + os.sep) and os.path.isfile(real)
