"""The handwriting pad's endpoints: is handwriting available here, and which characters are these strokes.

``GET /handwriting/status`` tells the keyboard whether to offer its pad, with
the pad's labels in the user's language. ``POST /handwriting/candidates``
takes ``{"width": w, "height": h, "strokes": [[[x, y], ...], ...]}`` (JSON,
with the page's CSRF token in ``X-CSRF-Token`` as every kiosk post) and
answers ``{"candidates": [{"text": "社", "score": 0.93}, ...]}`` best first.
Bad input is a 400 with ``error`` in the user's language; a station without
the Zinnia packages answers 503 and the pad shows itself switched off.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from kiosk import handwriting, json_input
from kiosk.i18n import _
from kiosk.ratelimit import limited

bp = Blueprint("handwriting", __name__, url_prefix="/handwriting")

#: Largest request body read: the point bounds need about 30 KB of JSON.
MAX_BODY = 64 * 1024
DEFAULT_LIMIT = 10


def model_path() -> str:
    """The model this app uses (``handwriting_model`` in the station file)."""
    return str(current_app.config.get("HANDWRITING_MODEL") or handwriting.DEFAULT_MODEL)


def _unavailable_text() -> str:
    return _("Handwriting is not available on this kiosk. Please type pinyin, or ask staff for help.")


def _bad(reason: str):
    messages = {
        "empty": _("Write a character on the pad first."),
        "too_many": _("That is too much writing for one character. Clear the pad and write one character."),
    }
    text = messages.get(reason) or _("The writing could not be read. Clear the pad and try again.")
    return jsonify(error=text), 400


@bp.get("/status")
def status():
    """Whether the pad works here, and its labels."""
    available, _detail = handwriting.status(model_path())
    return jsonify(
        available=available,
        message="" if available else _unavailable_text(),
        labels={
            "handwriting": _("Handwriting"),
            "pinyin": _("Pinyin"),
            "undo": _("Undo"),
            "clear": _("Clear"),
            "hint": _("Write one character in the box"),
        },
    )


@bp.post("/candidates")
@limited(300, 300)
def candidates():
    """Characters the posted strokes could be, best first."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _bad("too_many")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        return _bad("too_many")
    try:
        payload = json_input.loads(raw or b"null")
    except ValueError:
        return _bad("shape")
    try:
        strokes, width, height = handwriting.parse_strokes(payload)
    except handwriting.BadStrokes as exc:
        return _bad(exc.reason)
    limit = payload.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= handwriting.MAX_CANDIDATES:
        return _bad("shape")
    try:
        recognizer = handwriting.recognizer(model_path())
    except handwriting.Unavailable:
        return jsonify(error=_unavailable_text(), available=False), 503
    guesses = recognizer.classify(strokes, width, height, limit)
    return jsonify(candidates=[guess.as_json() for guess in guesses])
