"""Photos from a resident's phone: checked, then re-encoded so no metadata survives.

What is checked before anything is stored: the size in bytes, that Pillow
recognises the bytes as a JPEG, PNG or WebP picture (the file name and the
browser's content type are ignored), and the pixel count (a small file can
decode to a huge picture).

What is kept: the pixels only. The picture is turned upright from its EXIF
orientation, shrunk to at most ``max_side`` pixels on its long side, and saved
as a fresh JPEG with no EXIF, XMP or ICC data, so the camera model, the time
and above all the GPS position are gone from the file.

Location: only when the resident ticks "share the place of the photo" do we
read the GPS latitude and longitude, round them to 4 decimal places (about
11 m, enough to find a broken lamp post, not a flat) and keep them in the
database (``petitions_photo.lat/lon``), never in the file. Altitude, GPS time,
direction and every other tag are dropped in every case.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

from kiosk.i18n import N_

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
GPS_IFD = 0x8825
LOCATION_DECIMALS = 4


class PhotoError(ValueError):
    """A photo was refused; ``message`` is a message id to translate for the resident."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class CleanPhoto:
    """A re-encoded photo ready to store, and the location kept (if the resident allowed it)."""

    data: bytes
    width: int
    height: int
    lat: float | None = None
    lon: float | None = None


def _rational(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return float(value[0]) / float(value[1])


def _degrees(dms) -> float:
    degrees, minutes, seconds = (_rational(x) for x in dms)
    return degrees + minutes / 60.0 + seconds / 3600.0


def gps_location(image: Image.Image) -> tuple[float, float] | None:
    """The photo's GPS latitude and longitude in decimal degrees, rounded; None if absent or nonsense."""
    try:
        gps = image.getexif().get_ifd(GPS_IFD)
        lat = _degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return round(lat, LOCATION_DECIMALS), round(lon, LOCATION_DECIMALS)


def clean(data: bytes, *, keep_location: bool, max_bytes: int, max_pixels: int, max_side: int = 2048) -> CleanPhoto:
    """Check one uploaded photo and re-encode it without metadata; raises :class:`PhotoError`."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # loaded with the first photo, not at start

    if not data:
        raise PhotoError(N_("The photo is empty. Please choose the photo again."))
    if len(data) > max_bytes:
        raise PhotoError(N_("The photo is too large. Please choose a smaller photo (at most %(mb)s MB)."))
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError):
        raise PhotoError(N_("This file is not a photo. Please choose a JPEG or PNG picture.")) from None
    if image.format not in ALLOWED_FORMATS:
        raise PhotoError(N_("This file is not a photo. Please choose a JPEG or PNG picture."))
    width, height = image.size
    if width * height > max_pixels:
        raise PhotoError(N_("The photo is too large. Please choose a smaller photo (at most %(mb)s MB)."))
    location = gps_location(image) if keep_location else None
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError):
        raise PhotoError(N_("The photo could not be read. It may be damaged; please take it again.")) from None
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    # A new image object carries no info dict, so nothing but pixels is written.
    Image.frombytes("RGB", image.size, image.tobytes()).save(out, format="JPEG", quality=85, optimize=True)
    return CleanPhoto(out.getvalue(), image.size[0], image.size[1],
                      *(location if location else (None, None)))


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
    return os.path.join(instance_path, "uploads", "petitions", str(station_id), filename)


def inside_uploads(instance_path: str, path: str) -> bool:
    """Whether ``path`` is a file inside the app's uploads folder (for files other plugins hand us)."""
    root = os.path.realpath(os.path.join(instance_path, "uploads"))
    real = os.path.realpath(path)
    return real.startswith(root + os.sep) and os.path.isfile(real)
