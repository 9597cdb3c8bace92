"""Structured log lines with the station id, and no personal data in them.

Every line is one JSON object: time, level, logger, station, message (and the
exception, if any). A filter masks what looks like personal data — mainland
mobile numbers, ID card numbers, licence plates — in case a message ever
carries one; code must not log it in the first place.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

from flask import g, has_app_context, has_request_context

from kiosk.privacy import mask_in_text

_PROCESS_STATION: dict[str, str | None] = {"code": None}


def scrub(text: str) -> str:
    """Mask phone numbers, ID numbers and plates in ``text``, however they are grouped."""
    return mask_in_text(text)


def set_process_station(code: str) -> None:
    """The station this process serves, for lines logged outside a request."""
    _PROCESS_STATION["code"] = code


def _station() -> str | None:
    if has_request_context():
        station = g.get("station")
        if station is not None:
            return station.code
    if has_app_context():
        from flask import current_app

        station = current_app.config.get("STATION") or {}
        return station.get("code") or _PROCESS_STATION["code"]
    return _PROCESS_STATION["code"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "station": getattr(record, "station", None),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class ScrubFilter(logging.Filter):
    """Adds the station id and masks personal data in the message and exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.station = _station()
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = str(exc)
            if scrub(text) != text:
                record.exc_text = scrub(self._format_exc(record))
        return True

    @staticmethod
    def _format_exc(record) -> str:
        return logging.Formatter().formatException(record.exc_info)


class PrinterLibraryChatter(logging.Filter):
    """Drops python-escpos's notes below WARNING.

    It logs "Closing Network connection" on the root logger after every
    receipt: a line per ticket that tells the station nothing (the print queue
    logs faults itself). Its warnings and errors still come through.
    """

    _PACKAGE = os.sep + "escpos" + os.sep

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or self._PACKAGE not in (record.pathname or "")


def configure(level: str | None = None, stream=None) -> None:
    """Send the root logger's lines, as JSON, to stderr (or ``stream``)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubFilter())
    if (level or os.environ.get("KIOSK_LOG_LEVEL", "INFO")) != "DEBUG":
        handler.addFilter(PrinterLibraryChatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_kiosk", False):
            root.removeHandler(existing)
    setattr(handler, "_kiosk", True)  # noqa: B010  (marks our handler for the next call)
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("KIOSK_LOG_LEVEL", "INFO"))
