"""Photos uploaded from a phone: checked, turned upright, re-encoded with nothing but pixels.

Every plugin that takes a photo (a petition's picture, a rider's hazard
report, an attendant photographing a QR code) goes through
:func:`clean_photo` or :func:`open_photo`, so there is one set of rules:

- the size in bytes is checked first (``max_bytes``);
- the bytes must be a JPEG (or MPO, the JPEG variant some phones write), PNG
  or WebP picture as Pillow reads them; the file name and the browser's
  content type are ignored, so SVG, PDF, GIF, HEIC and anything else is
  refused;
- the pixel count is checked from the header before anything is decoded (a
  small file can decode to a huge picture: a "decompression bomb");
- the file must decode completely (a damaged or truncated file is refused);
- the picture is turned upright from its EXIF orientation, shrunk to at most
  ``max_side`` pixels on its long side and drawn onto a fresh image, which is
  saved without EXIF, XMP, ICC or text chunks: the camera model, the time
  and above all the GPS position are gone from the file.

A refusal raises :class:`PhotoRefused`, whose :attr:`~PhotoRefused.text` is
a message for the resident in their language, saying what to do.

Location: only when a plugin asks (``keep_location=True``, after the resident
agreed) is the GPS latitude and longitude read, rounded to 4 decimal places
(about 11 m: enough to find a broken lamp post, not a flat) and handed back
beside the photo, never in the file. Altitude, GPS time, direction and every
other tag are dropped in every case.

Pillow is imported with the first photo, not when the kiosk starts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kiosk.i18n import N_, gettext

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "CleanPhoto",
    "PhotoRefused",
    "clean_photo",
    "open_photo",
]

#: What Pillow must recognise the bytes as (MPO is the JPEG some cameras write).
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
#: The only readers Pillow may try: no other format's parser ever sees an upload.
_OPENERS = ("JPEG", "PNG", "WEBP")
#: The largest upload taken unless the plugin says otherwise (a phone photo is 2–6 MB).
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
#: The most pixels decoded (a 48-megapixel phone photo is just over 48 million).
DEFAULT_MAX_PIXELS = 50_000_000
#: The long side of a stored photo: plenty to see a pothole, small to keep.
DEFAULT_MAX_SIDE = 2048
#: What each output format is saved as.
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

GPS_IFD = 0x8825
LOCATION_DECIMALS = 4

#: Why a photo was refused → the message for the resident (``%(mb)s`` is the byte limit in MB).
MESSAGES = {
    "empty": N_("The photo is empty. Please choose the photo again."),
    "too_large": N_("The photo is too large. Please choose a smaller photo (at most %(mb)s MB)."),
    "too_many_pixels": N_(
        "The photo is too large to process. Please choose a smaller photo or take it at a lower resolution."
    ),
    "not_a_photo": N_("This file is not a photo. Please choose a JPEG or PNG picture."),
    "damaged": N_("The photo could not be read. It may be damaged; please take it again."),
}


class PhotoRefused(ValueError):
    """A photo the kiosk will not take.

    ``reason`` is one of ``empty``, ``too_large``, ``too_many_pixels``,
    ``not_a_photo`` or ``damaged``; :attr:`text` is the message for the
    resident in the current language (use it inside a request); ``str(exc)``
    is the same message in English, for logs.
    """

    def __init__(self, reason: str, **params):
        self.reason = reason
        #: The message id (English), translated by :attr:`text`.
        self.message = MESSAGES[reason]
        self.params = params
        super().__init__(self.message % params if params else self.message)

    @property
    def text(self) -> str:
        """The message in the visitor's language (the plugin's catalog first, then the core's)."""
        return gettext(self.message, **self.params)


@dataclass(frozen=True)
class CleanPhoto:
    """A re-encoded photo ready to store: its bytes, type and size, and the location if asked for."""

    data: bytes
    mime: str
    width: int
    height: int
    #: ``(latitude, longitude)`` rounded to 4 decimals, only with ``keep_location=True`` and a sane GPS tag.
    location: tuple[float, float] | None = field(default=None)

    @property
    def lat(self) -> float | None:
        """The kept latitude, or None."""
        return self.location[0] if self.location else None

    @property
    def lon(self) -> float | None:
        """The kept longitude, or None."""
        return self.location[1] if self.location else None

    @property
    def extension(self) -> str:
        """The file name extension for :attr:`mime` (``.jpg``, ``.png``, ``.webp``)."""
        return {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}[self.mime]


def _megabytes(count: int) -> str:
    """A size for people: ``5`` or ``0.05`` (MB)."""
    return f"{round(count / (1024 * 1024), 2):g}"


def _rational(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return float(value[0]) / float(value[1])


def _degrees(dms) -> float:
    degrees, minutes, seconds = (_rational(x) for x in dms)
    return degrees + minutes / 60.0 + seconds / 3600.0


def _location(image: Image.Image) -> tuple[float, float] | None:
    """The GPS latitude and longitude in decimal degrees, rounded; None if absent or nonsense."""
    try:
        gps = image.getexif().get_ifd(GPS_IFD)
        lat = _degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError, AttributeError, OSError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return round(lat, LOCATION_DECIMALS), round(lon, LOCATION_DECIMALS)


def _check(data: bytes, max_bytes: int, max_pixels: int) -> None:
    """Everything that can be said before decoding: size, format, pixel count, file integrity."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise PhotoRefused("empty")
    if len(data) > max_bytes:
        raise PhotoRefused("too_large", mb=_megabytes(max_bytes))
    try:
        with Image.open(io.BytesIO(data), formats=_OPENERS) as probe:
            if probe.format not in ACCEPTED_FORMATS:
                raise PhotoRefused("not_a_photo")
            if probe.width * probe.height > max_pixels:
                raise PhotoRefused("too_many_pixels")
            # verify() reads the whole file (PNG checksums, truncation) without decoding pixels.
            probe.verify()
    except PhotoRefused:
        raise
    except Image.DecompressionBombError:
        raise PhotoRefused("too_many_pixels") from None
    except UnidentifiedImageError:
        raise PhotoRefused("not_a_photo") from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError):
        raise PhotoRefused("damaged") from None


def _decode(data: bytes, keep_location: bool) -> tuple[Image.Image, tuple[float, float] | None]:
    """The checked bytes decoded and turned upright, and the location when asked for."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=_OPENERS) as image:
            location = _location(image) if keep_location else None
            image.load()
            # Turn the pixels the way the camera meant before the orientation tag is dropped.
            upright = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise PhotoRefused("too_many_pixels") from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError):
        raise PhotoRefused("damaged") from None
    return upright, location


def _pixels_only(image: Image.Image, output: str) -> Image.Image:
    """A fresh image of the same pixels: no info dict, so nothing but pixels can be written."""
    from PIL import Image

    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha and output != "JPEG":
        rgba = image.convert("RGBA")
        return Image.frombytes("RGBA", rgba.size, rgba.tobytes())
    if has_alpha:
        # JPEG has no transparency: lay the picture on white, as a printed page would.
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    rgb = image.convert("RGB")
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def open_photo(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Check an uploaded photo and decode it upright, as a Pillow image with no metadata.

    For a plugin that reads the picture (a QR code in it) rather than storing
    it. The image is RGB, or RGBA when the photo has transparency. Raises
    :class:`PhotoRefused` under the same rules as :func:`clean_photo`.
    """
    _check(data, max_bytes, max_pixels)
    upright, _location_unused = _decode(data, keep_location=False)
    return _pixels_only(upright, "PNG")


def clean_photo(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    output: str = "JPEG",
    quality: int = 85,
    keep_location: bool = False,
) -> CleanPhoto:
    """Check one uploaded photo and re-encode it without any metadata.

    :param data: the uploaded bytes; read at most ``max_bytes + 1`` of the
        upload so an oversized one is recognised without reading it all.
    :param max_bytes: the largest upload taken, in bytes.
    :param max_pixels: the most pixels (width × height) decoded.
    :param max_side: the long side of the stored picture, in pixels.
    :param output: ``"JPEG"`` (transparency laid on white), ``"PNG"`` or ``"WEBP"``.
    :param quality: JPEG/WebP quality.
    :param keep_location: read the GPS position (rounded to 4 decimals) into
        :attr:`CleanPhoto.location`; only when the resident agreed. The file
        never keeps it.
    :raises PhotoRefused: empty, too large, not a photo, too many pixels, damaged.
    """
    output = output.upper()
    if output not in MIME_TYPES:
        raise ValueError(f"clean_photo: output must be one of {sorted(MIME_TYPES)}, not {output!r}")
    _check(data, max_bytes, max_pixels)
    upright, location = _decode(data, keep_location)
    upright.thumbnail((max_side, max_side))
    clean = _pixels_only(upright, output)
    out = io.BytesIO()
    if output == "PNG":
        clean.save(out, format="PNG", optimize=True)
    else:
        clean.save(out, format=output, quality=quality, **({"optimize": True} if output == "JPEG" else {}))
    return CleanPhoto(out.getvalue(), MIME_TYPES[output], clean.width, clean.height, location)
