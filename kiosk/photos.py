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
  small file can decode to a huge picture: a "decompression bomb"), against
  the plugin's ``max_pixels`` and the station's ``photo_max_pixels``,
  whichever is lower;
- a JPEG is decoded already scaled down to the size that will be kept
  (Pillow's ``draft``: 1/2, 1/4 or 1/8 of its pixels); what is then still to
  be decoded may be at most ``photo_decode_pixels`` (PNG and WebP cannot be
  scaled while decoding, so a larger PNG is refused);
- at most ``photo_decode_concurrency`` photos are decoded at once in a
  process, together taking at most ``photo_decode_memory_mb`` (a decode is
  reckoned at twice its decoded size: Pillow holds RGB in 4 bytes a pixel,
  and shrinking keeps a half-shrunk copy; one bigger than the whole budget
  runs alone); an upload that finds no turn within
  ``photo_decode_wait_seconds`` is refused with "busy, try again" rather
  than piling up memory. So what photos take is bounded, whatever arrives;
- the file must decode completely (a damaged or truncated file is refused);
- the picture is shrunk to at most ``max_side`` pixels on its long side,
  turned upright from its EXIF orientation and drawn onto a fresh image,
  which is saved without EXIF, XMP, ICC or text chunks: the camera model,
  the time and above all the GPS position are gone from the file;
- after a large decode the freed memory is handed back to the system
  (``malloc_trim``), so a burst of uploads does not leave the worker big.

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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from flask import current_app, has_app_context

from kiosk.i18n import N_, gettext
from kiosk.memory import release_free_memory

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
#: The long side :func:`open_photo` decodes at most (a QR code in the picture stays readable).
OPEN_MAX_SIDE = 4096
#: The most pixels decoded at once (``photo_decode_pixels``): 8 Mpx, 32 MB as Pillow holds RGB.
#: A phone's JPEG of up to 64 Mpx is decoded scaled down within it; a PNG screenshot is 3–6 Mpx.
DEFAULT_DECODE_PIXELS = 8_000_000
#: Photos decoded at once in a process (``photo_decode_concurrency``).
DEFAULT_DECODE_CONCURRENCY = 2
#: Megabytes that decodes in a process may take together (``photo_decode_memory_mb``).
DEFAULT_DECODE_MEMORY_MB = 96
#: Seconds an upload waits for its turn to be decoded (``photo_decode_wait_seconds``).
DEFAULT_DECODE_WAIT = 10.0
#: Decoded bytes after which the freed memory is handed back to the system.
TRIM_AFTER_BYTES = 8 * 1024 * 1024
#: What each output format is saved as.
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

T = TypeVar("T")

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
    "busy": N_("Many photos are being sent right now. Please wait a minute and send the photo again."),
}


class PhotoRefused(ValueError):
    """A photo the kiosk will not take.

    ``reason`` is one of ``empty``, ``too_large``, ``too_many_pixels``,
    ``not_a_photo``, ``damaged`` or ``busy`` (too many photos being decoded
    in this process right now: nothing is wrong with the photo); :attr:`text` is the message for the
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


@dataclass(frozen=True)
class _Limits:
    """The bounds one decode runs under: the plugin's, lowered by the station's settings."""

    max_pixels: int
    decode_pixels: int
    concurrency: int
    memory: int
    wait: float


def _limits(max_pixels: int) -> _Limits:
    config = current_app.config if has_app_context() else {}
    return _Limits(
        max_pixels=min(max_pixels, int(config.get("PHOTO_MAX_PIXELS") or DEFAULT_MAX_PIXELS)),
        decode_pixels=int(config.get("PHOTO_DECODE_PIXELS") or DEFAULT_DECODE_PIXELS),
        concurrency=int(config.get("PHOTO_DECODE_CONCURRENCY") or DEFAULT_DECODE_CONCURRENCY),
        memory=int(config.get("PHOTO_DECODE_MEMORY_MB") or DEFAULT_DECODE_MEMORY_MB) * 1024 * 1024,
        wait=float(config.get("PHOTO_DECODE_WAIT_SECONDS", DEFAULT_DECODE_WAIT)),
    )


class _Turns:
    """This process's decoding turns: at most ``count`` decodes, together at most ``budget`` bytes.

    A decode that would cost more than the whole budget runs alone.
    """

    def __init__(self, count: int, budget: int):
        self.count, self.budget = count, budget
        self.running, self.used = 0, 0
        self.changed = threading.Condition()

    def take(self, cost: int, wait: float) -> int:
        """Wait up to ``wait`` seconds for a turn of ``cost`` bytes; the cost taken, or PhotoRefused busy."""
        cost = min(cost, self.budget)
        deadline = time.monotonic() + wait
        with self.changed:
            while self.running >= self.count or self.used + cost > self.budget:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhotoRefused("busy")
                self.changed.wait(left)
            self.running += 1
            self.used += cost
        return cost

    def give_back(self, cost: int) -> None:
        with self.changed:
            self.running -= 1
            self.used -= cost
            self.changed.notify_all()


# Process-wide on purpose: memory is the process's, whichever app or thread decodes.
_turns_guard = threading.Lock()
_turns: _Turns | None = None


def _process_turns(count: int, budget: int) -> _Turns:
    global _turns
    with _turns_guard:
        if _turns is None or (_turns.count, _turns.budget) != (count, budget):
            _turns = _Turns(count, budget)
        return _turns


@contextmanager
def _turn(limits: _Limits, cost: int = 0) -> Iterator[None]:
    """A decoding turn for ``cost`` bytes, or :class:`PhotoRefused` ``busy`` after ``limits.wait`` seconds."""
    turns = _process_turns(limits.concurrency, limits.memory)
    taken = turns.take(cost, limits.wait)
    try:
        yield
    finally:
        turns.give_back(taken)


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow holds per pixel: one byte for 1/L/P, two for 16-bit grey, four for the rest (RGB too)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _draft_size(size: tuple[int, int], max_side: int, decode_pixels: int) -> tuple[int, int]:
    """The size to ask Pillow's JPEG decoder for (it decodes at 1/1, 1/2, 1/4 or 1/8 scale).

    The smallest scale that still gives ``max_side`` on the long side; smaller
    again while that would be more than ``decode_pixels`` (a 48 Mpx photo is
    then kept at 2016 rather than 2048 pixels, not refused).
    """
    width, height = size
    scale = 1
    while scale < 8 and max(width, height) // (scale * 2) >= max_side:
        scale *= 2
    while scale < 8 and (width // scale) * (height // scale) > decode_pixels:
        scale *= 2
    return max(1, width // scale), max(1, height // scale)


def _check(data: bytes, max_bytes: int, limits: _Limits) -> None:
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
            if probe.width * probe.height > limits.max_pixels:
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


def _decode(
    data: bytes, keep_location: bool, max_side: int, limits: _Limits, finish: Callable[[Image.Image], T]
) -> tuple[T, tuple[float, float] | None]:
    """Decode the checked bytes at most ``max_side`` on the long side, upright, and ``finish`` them.

    Returns what ``finish(upright image)`` returns, and the location if asked.
    All of it runs in one of the process's decoding turns, re-encoding
    included (eight 2048-pixel pictures being saved at once were 400 MB).
    A JPEG is decoded scaled down already; what is left to decode must fit
    ``decode_pixels``.
    """
    from PIL import Image, ImageOps

    cost = 0
    try:
        with Image.open(io.BytesIO(data), formats=_OPENERS) as image:
            location = _location(image) if keep_location else None
            if image.format in ("JPEG", "MPO"):
                # A 48 Mpx photo kept at 2048 pixels never exists in memory at full size.
                image.draft(None, _draft_size(image.size, max_side, limits.decode_pixels))
            width, height = image.size
            if width * height > limits.decode_pixels:
                raise PhotoRefused("too_many_pixels")
            cost = width * height * _bytes_per_pixel(image.mode)
            shrink = min(1.0, max_side / max(width, height))
            kept = int(width * shrink) * int(height * shrink) * 4
            # The decoded picture and about as much again while it is shrunk (resampling keeps
            # a half-shrunk copy), then the kept picture about three times over while re-encoded.
            with _turn(limits, 2 * cost + 3 * kept):
                image.load()
                # Shrink first, then turn: every copy after the decode is of the small picture.
                image.thumbnail((max_side, max_side))
                # Turn the pixels the way the camera meant before the orientation tag is dropped.
                with ImageOps.exif_transpose(image) as upright:
                    result = finish(upright)
    except PhotoRefused:
        raise
    except Image.DecompressionBombError:
        raise PhotoRefused("too_many_pixels") from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError):
        raise PhotoRefused("damaged") from None
    finally:
        if cost > TRIM_AFTER_BYTES:
            # Pillow allocates a big picture in 16 MB blocks; once glibc has seen such a block freed
            # it keeps the next ones on its heap, so a burst of large photos left a worker holding a
            # gigabyte it no longer used (glibc only; elsewhere nothing happens).
            release_free_memory()
    return result, location


def _pixels_only(image: Image.Image, output: str) -> Image.Image:
    """A fresh image of the same pixels: no info dict, so nothing but pixels can be written."""
    from PIL import Image

    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha and output != "JPEG":
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        fresh = Image.new("RGBA", rgba.size)
        fresh.paste(rgba)
        return fresh
    if has_alpha:
        # JPEG has no transparency: lay the picture on white, as a printed page would.
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    fresh = Image.new("RGB", rgb.size)
    fresh.paste(rgb)
    return fresh


def open_photo(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = OPEN_MAX_SIDE,
) -> Image.Image:
    """Check an uploaded photo and decode it upright, as a Pillow image with no metadata.

    For a plugin that reads the picture (a QR code in it) rather than storing
    it. The image is RGB, or RGBA when the photo has transparency, at most
    ``max_side`` pixels on its long side. Raises :class:`PhotoRefused` under
    the same rules as :func:`clean_photo`.
    """
    limits = _limits(max_pixels)
    _check(data, max_bytes, limits)
    image, _location_unused = _decode(data, False, max_side, limits, lambda upright: _pixels_only(upright, "PNG"))
    return image


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
    :param max_pixels: the most pixels (width × height) the photo may have;
        the station's ``photo_max_pixels`` lowers it, never raises it.
    :param max_side: the long side of the stored picture, in pixels.
    :param output: ``"JPEG"`` (transparency laid on white), ``"PNG"`` or ``"WEBP"``.
    :param quality: JPEG/WebP quality.
    :param keep_location: read the GPS position (rounded to 4 decimals) into
        :attr:`CleanPhoto.location`; only when the resident agreed. The file
        never keeps it.
    :raises PhotoRefused: empty, too large, not a photo, too many pixels, damaged,
        busy (no decoding turn free within ``photo_decode_wait_seconds``).
    """
    output = output.upper()
    if output not in MIME_TYPES:
        raise ValueError(f"clean_photo: output must be one of {sorted(MIME_TYPES)}, not {output!r}")
    limits = _limits(max_pixels)
    _check(data, max_bytes, limits)

    def encode(upright: Image.Image) -> tuple[bytes, int, int]:
        with _pixels_only(upright, output) as clean:
            out = io.BytesIO()
            if output == "PNG":
                clean.save(out, format="PNG", optimize=True)
            else:
                clean.save(out, format=output, quality=quality, **({"optimize": True} if output == "JPEG" else {}))
            return out.getvalue(), clean.width, clean.height

    (encoded, width, height), location = _decode(data, keep_location, max_side, limits, encode)
    return CleanPhoto(encoded, MIME_TYPES[output], width, height, location)
