"""Offline handwriting recognition (手写输入) for the on-screen keyboard: Zinnia through ctypes.

Residents who cannot spell pinyin write a character with a finger on the
keyboard's pad; the strokes come here and Zinnia (``libzinnia0``) with the
Tegaki Simplified Chinese model (``tegaki-zinnia-simplified-chinese``) ranks
the characters they could be. Nothing leaves the machine.

The library is driven through its C API with :mod:`ctypes` (no Python
binding is packaged for Debian). A model is opened once per process and
shared by every request (:func:`recognizer`); Zinnia's classifier keeps
scratch state in the recognizer, so calls are serialised by a lock; one
classification takes a few milliseconds.

Input is bounded before it reaches C: at most :data:`MAX_STROKES` strokes of
at most :data:`MAX_POINTS_PER_STROKE` points, :data:`MAX_POINTS` in all,
coordinates within the pad (:func:`parse_strokes`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Where Debian's tegaki-zinnia-simplified-chinese puts its model.
DEFAULT_MODEL = "/usr/share/tegaki/models/zinnia/handwriting-zh_CN.model"
#: The shared library of Debian's libzinnia0.
LIBRARY_NAMES = ("libzinnia.so.0", "zinnia")

#: 龘 has 48 strokes; a pad with more than this is scribbled on, not written.
MAX_STROKES = 64
#: A finger stroke sampled at 60 Hz for 4 s; the pad thins its points to a few dozen.
MAX_POINTS_PER_STROKE = 256
MAX_POINTS = 2048
#: Largest pad side accepted (CSS pixels of a 4K screen).
MAX_SIDE = 4096
#: Candidates asked of Zinnia at most.
MAX_CANDIDATES = 20


class Unavailable(Exception):
    """Handwriting cannot work here: the library or the model is missing or unreadable."""


@dataclass(frozen=True, slots=True)
class Guess:
    """One character the strokes could be, with Zinnia's score (higher is likelier)."""

    text: str
    score: float

    def as_json(self) -> dict:
        """The guess as the endpoint sends it."""
        return {"text": self.text, "score": round(self.score, 4)}


def _load_library() -> ctypes.CDLL:
    """Open libzinnia and declare the functions used, or raise :class:`Unavailable`."""
    errors = []
    for name in LIBRARY_NAMES:
        path = ctypes.util.find_library(name) if "." not in name else name
        if not path:
            continue
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as exc:
            errors.append(str(exc))
    else:
        raise Unavailable("libzinnia is not installed (apt-get install libzinnia0)" + (f": {errors}" if errors else ""))
    pointer, size, integer = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "zinnia_recognizer_new": (pointer, []),
        "zinnia_recognizer_open": (integer, [pointer, ctypes.c_char_p]),
        "zinnia_recognizer_strerror": (ctypes.c_char_p, [pointer]),
        "zinnia_recognizer_classify": (pointer, [pointer, pointer, size]),
        "zinnia_recognizer_destroy": (None, [pointer]),
        "zinnia_character_new": (pointer, []),
        "zinnia_character_set_width": (None, [pointer, size]),
        "zinnia_character_set_height": (None, [pointer, size]),
        "zinnia_character_add": (integer, [pointer, size, integer, integer]),
        "zinnia_character_destroy": (None, [pointer]),
        "zinnia_result_value": (ctypes.c_char_p, [pointer, size]),
        "zinnia_result_score": (ctypes.c_float, [pointer, size]),
        "zinnia_result_size": (size, [pointer]),
        "zinnia_result_destroy": (None, [pointer]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


class Recognizer:
    """One Zinnia recognizer with its model open; :meth:`classify` may be called from any thread."""

    def __init__(self, model: str | Path) -> None:
        """Open ``model``; raise :class:`Unavailable` saying why it cannot be used."""
        self.model = str(model)
        if not Path(self.model).is_file():
            raise Unavailable(
                f"the handwriting model {self.model} is missing (apt-get install tegaki-zinnia-simplified-chinese)"
            )
        self._lib = _load_library()
        self._lock = threading.Lock()
        handle = self._lib.zinnia_recognizer_new()
        if not handle:
            raise Unavailable("zinnia_recognizer_new failed")
        if not self._lib.zinnia_recognizer_open(handle, self.model.encode()):
            reason = (self._lib.zinnia_recognizer_strerror(handle) or b"").decode("utf-8", "replace")
            self._lib.zinnia_recognizer_destroy(handle)
            raise Unavailable(f"the handwriting model {self.model} cannot be opened: {reason}")
        self._handle: int | None = handle

    def classify(self, strokes: list[list[tuple[int, int]]], width: int, height: int, limit: int = 10) -> list[Guess]:
        """Rank the characters ``strokes`` (checked by :func:`parse_strokes`) could be, best first."""
        limit = max(1, min(limit, MAX_CANDIDATES))
        lib = self._lib
        with self._lock:
            if self._handle is None:
                raise Unavailable("the handwriting recognizer is closed")
            character = lib.zinnia_character_new()
            if not character:
                raise MemoryError("zinnia_character_new failed")
            try:
                lib.zinnia_character_set_width(character, width)
                lib.zinnia_character_set_height(character, height)
                for number, stroke in enumerate(strokes):
                    for x, y in stroke:
                        lib.zinnia_character_add(character, number, x, y)
                result = lib.zinnia_recognizer_classify(self._handle, character, limit)
            finally:
                lib.zinnia_character_destroy(character)
            if not result:
                return []
            try:
                guesses = []
                for i in range(lib.zinnia_result_size(result)):
                    value = (lib.zinnia_result_value(result, i) or b"").decode("utf-8", "replace")
                    if value:
                        guesses.append(Guess(value, float(lib.zinnia_result_score(result, i))))
                return guesses
            finally:
                lib.zinnia_result_destroy(result)

    def close(self) -> None:
        """Free the recognizer (tests; a server keeps it for its life)."""
        with self._lock:
            if self._handle is not None:
                self._lib.zinnia_recognizer_destroy(self._handle)
                self._handle = None


_lock = threading.Lock()
_recognizers: dict[str, Recognizer | Unavailable] = {}


def recognizer(model: str | Path = DEFAULT_MODEL) -> Recognizer:
    """The process's recognizer for ``model``, opened on first use; raise :class:`Unavailable` if it cannot be.

    A failure is remembered too: a station without the packages does not try
    to open the model again on every stroke (installing them needs a restart).
    """
    key = str(model)
    found = _recognizers.get(key)
    if found is None:
        with _lock:
            found = _recognizers.get(key)
            if found is None:
                try:
                    found = Recognizer(key)
                except Unavailable as exc:
                    log.warning("handwriting input is off: %s", exc)
                    found = exc
                _recognizers[key] = found
    if isinstance(found, Unavailable):
        raise found
    return found


def status(model: str | Path = DEFAULT_MODEL) -> tuple[bool, str]:
    """``(True, where)`` if handwriting works with ``model``, else ``(False, what to install)``."""
    try:
        found = recognizer(model)
    except Unavailable as exc:
        return False, str(exc)
    return True, f"Zinnia with {found.model}"


class BadStrokes(ValueError):
    """The strokes sent are not a drawing the pad could have made; ``reason`` says which rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_strokes(payload: Any) -> tuple[list[list[tuple[int, int]]], int, int]:
    """Check ``{"width": w, "height": h, "strokes": [[[x, y], ...], ...]}``; return strokes, width, height.

    :raises BadStrokes: with ``reason`` one of ``"shape"`` (not that form),
        ``"size"`` (a side outside 1..:data:`MAX_SIDE`), ``"empty"`` (no points),
        ``"too_many"`` (beyond the stroke or point bounds).
    """
    if not isinstance(payload, dict):
        raise BadStrokes("shape")
    width, height, strokes = payload.get("width"), payload.get("height"), payload.get("strokes")
    if not (isinstance(width, int) and isinstance(height, int) and _is_int(width) and _is_int(height)):
        raise BadStrokes("shape")
    if not isinstance(strokes, list):
        raise BadStrokes("shape")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise BadStrokes("size")
    if len(strokes) > MAX_STROKES:
        raise BadStrokes("too_many")
    parsed: list[list[tuple[int, int]]] = []
    total = 0
    for stroke in strokes:
        if not isinstance(stroke, list):
            raise BadStrokes("shape")
        if len(stroke) > MAX_POINTS_PER_STROKE:
            raise BadStrokes("too_many")
        total += len(stroke)
        if total > MAX_POINTS:
            raise BadStrokes("too_many")
        points = []
        for point in stroke:
            if not (isinstance(point, list) and len(point) == 2 and all(_is_int(v) for v in point)):
                raise BadStrokes("shape")
            # A finger may slide past the pad's edge: keep it on the edge.
            points.append((min(max(point[0], 0), width), min(max(point[1], 0), height)))
        if points:
            parsed.append(points)
    if not parsed:
        raise BadStrokes("empty")
    return parsed, width, height


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**31) < value < 2**31


def api_description() -> dict:
    """The pad's endpoints (:mod:`kiosk.handwriting_views`) for ``/api/openapi.json``.

    Here, not beside the views, so that kiosk.openapi need not import the views (which import the
    rate limits, which import kiosk.openapi).
    """

    def answer(schema: dict, text: str) -> dict:
        return {"description": text, "content": {"application/json": {"schema": schema}}}

    error = {"$ref": "#/components/schemas/Error"}
    point = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    most = MAX_CANDIDATES
    return {
        "endpoints": {
            "handwriting.status": {
                "get": {
                    "summary": "Whether handwriting input works here, and the pad's labels in the user's language",
                    "responses": {
                        "200": answer(
                            {
                                "type": "object",
                                "required": ["available", "message", "labels"],
                                "properties": {
                                    "available": {"type": "boolean"},
                                    "message": {"type": "string"},
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                },
                            },
                            "available false: the pad is shown switched off, with the message",
                        )
                    },
                }
            },
            "handwriting.candidates": {
                "post": {
                    "summary": "Characters the strokes drawn on the pad could be (the on-screen keyboard's 手写)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["width", "height", "strokes"],
                                    "properties": {
                                        "width": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
                                        "height": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
                                        "strokes": {
                                            "type": "array",
                                            "maxItems": MAX_STROKES,
                                            "items": {
                                                "type": "array",
                                                "maxItems": MAX_POINTS_PER_STROKE,
                                                "items": point,
                                            },
                                        },
                                        "limit": {"type": "integer", "minimum": 1, "maximum": most},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": answer(
                            {
                                "type": "object",
                                "required": ["candidates"],
                                "properties": {
                                    "candidates": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["text", "score"],
                                            "properties": {"text": {"type": "string"}, "score": {"type": "number"}},
                                        },
                                    }
                                },
                            },
                            "Candidates, most likely first",
                        ),
                        "400": answer(error, "No strokes, too many, or not that shape (the error is for the user)"),
                        "503": answer(error, "Zinnia or its model is not installed on this station"),
                    },
                }
            },
        }
    }
