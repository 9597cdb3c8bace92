"""Structured log lines with the station id, and no personal data in them.

Every line is one JSON object: ``ts`` (UTC, ISO 8601 with its offset),
``level``, ``logger``, ``station``, ``request_id``, ``msg`` (and ``exc``, the
exception, if any). gunicorn's own lines go through the same formatter
(:func:`gunicorn_logconfig`); its access lines add ``method``, ``route`` (the
URL rule, e.g. ``/m/legal/t/<token>.json``: never the path's tokens nor the
query string), ``status`` and ``duration_ms``.

A request id is taken from a well-formed incoming ``X-Request-ID`` header (an
upstream proxy's) or made, put on every line logged while the request runs and
sent back in the response's ``X-Request-ID`` (:class:`RequestIds`).

A filter masks what looks like personal data — mainland mobile numbers, ID
card numbers, licence plates — in case a message ever carries one; code must
not log it in the first place.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache

from flask import g, has_app_context, has_request_context, request

from kiosk.privacy import mask_in_text

_PROCESS_STATION: dict[str, str | None] = {"code": None}

#: The header a request id comes in and goes back out in.
REQUEST_ID_HEADER = "X-Request-ID"
#: What an incoming request id may be: short, and nothing that could forge or break a log line.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_REQUEST_ID: ContextVar[str | None] = ContextVar("kiosk_request_id", default=None)
#: The fields of every line, in order (access lines add ACCESS_FIELDS).
FIELDS = ("ts", "level", "logger", "station", "request_id", "msg")
ACCESS_FIELDS = ("method", "route", "status", "duration_ms")


def scrub(text: str) -> str:
    """Mask phone numbers, ID numbers and plates in ``text``, however they are grouped."""
    return mask_in_text(text)


@lru_cache(maxsize=512)
def _scrubbed_access(text: str) -> str:
    """:func:`scrub` of an access line's message (``POST /k/legal/take/<service_key> 302``).

    Those messages are a method, a URL rule or a masked path and a status: a few
    hundred distinct ones per process, each scrubbed once instead of on every
    request (the masking was a sixth of the access line's CPU).
    """
    return scrub(text)


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


def current_request_id() -> str | None:
    """The id of the request this thread is serving, if any."""
    return _REQUEST_ID.get()


def request_id_from(header: str | None) -> str:
    """``header`` if it is a well-formed request id, else a new one (32 hex digits)."""
    if header and REQUEST_ID_PATTERN.fullmatch(header):
        return header
    return secrets.token_hex(16)


class RequestIds:
    """WSGI middleware: gives each request an id, for its log lines and its ``X-Request-ID`` response header.

    It also notes the matched URL rule in the environ (``kiosk.route``) for the
    access line, which must not show the path's tokens.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if "kiosk.request_id" in environ:  # wrapped twice: the outer one did it
            return self.app(environ, start_response)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ["kiosk.request_id"] = request_id
        _REQUEST_ID.set(request_id)

        def start(status, headers, exc_info=None):
            if has_request_context() and request.url_rule is not None:
                environ["kiosk.route"] = request.url_rule.rule
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            return _Closing(self.app(environ, start), environ)
        except BaseException:
            _REQUEST_ID.set(None)
            raise


class _Closing:
    """The response's body; once it is closed the thread no longer serves that request."""

    def __init__(self, body, environ):
        self.body, self.environ = body, environ

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if _REQUEST_ID.get() == self.environ.get("kiosk.request_id"):
                _REQUEST_ID.set(None)


#: A path segment that may be a token, a number or a name: left out of a path logged without its rule.
_PRIVATE_SEGMENT = re.compile(r"[^/]*(?:\d|[^\x00-\x7f])[^/]*|[^/]{24,}")


def _safe_path(path: str) -> str:
    return _PRIVATE_SEGMENT.sub("*", path or "")


def _access_fields(record: logging.LogRecord) -> None:
    """Turn gunicorn's access record (its atoms as args) into fields, dropping the raw URL."""
    atoms = record.args
    if not isinstance(atoms, Mapping):
        return
    route = atoms.get("{kiosk.route}e")
    status, micros = str(atoms.get("s", "")), str(atoms.get("D") or 0)
    fields = {
        # gunicorn takes digits in a method: a forged one (a phone number) is not written out.
        "method": _safe_path(str(atoms.get("m") or "")),
        "route": route if route not in (None, "-") else _safe_path(str(atoms.get("U") or "")),
        "status": int(status) if status.isdigit() else status,
        "duration_ms": round(int(micros) / 1000, 1) if micros.isdigit() else None,
    }
    request_id = atoms.get("{kiosk.request_id}e")
    if request_id not in (None, "-"):
        record.request_id = request_id
    record.http = fields
    record.msg, record.args = f"{fields['method']} {fields['route']} {fields['status']}", None


#: Colour codes the development server puts around its lines for a terminal.
_ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")
#: The request in a development server line: ``"GET /m/legal/t/<token>?lang=en HTTP/1.1"``.
_REQUEST_LINE = re.compile(r'"(\S+) (\S+) (HTTP/[0-9.]+)"')


def _development_server_line(record: logging.LogRecord) -> None:
    """A line of werkzeug's development server (``kiosk run``) without colour codes, and its request
    without the query string or the path's tokens and numbers, as ``kiosk serve``'s access lines.

    The development server writes the raw path: a phone's ticket page there carries the ticket's
    token, which is all it takes to follow someone's ticket.
    """

    def request(m: re.Match) -> str:
        return f'"{_safe_path(m.group(1))} {_safe_path(m.group(2).split("?", 1)[0])} {m.group(3)}"'

    record.msg, record.args = _REQUEST_LINE.sub(request, _ANSI_STYLE.sub("", record.getMessage())), None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: :data:`FIELDS`, then the access fields of an access line, then ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "station": getattr(record, "station", None),
            "request_id": getattr(record, "request_id", None),
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "http", None) or {})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class ScrubFilter(logging.Filter):
    """Adds the station and request ids and masks personal data in the message and exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.station = _station()
        if not hasattr(record, "request_id"):
            record.request_id = _REQUEST_ID.get()
        access = record.name == "gunicorn.access"
        if access:
            _access_fields(record)
        elif record.name == "werkzeug":
            _development_server_line(record)
        message = record.getMessage()
        cleaned = _scrubbed_access(message) if access and record.args is None else scrub(message)
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


def _level(level: str | None = None) -> str:
    return (level or os.environ.get("KIOSK_LOG_LEVEL") or "INFO").upper()


def kiosk_handler(level: str | None = None, stream=None) -> logging.Handler:
    """The handler of every line: JSON to stderr (or ``stream``), station and request ids, scrubbed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubFilter())
    if _level(level) != "DEBUG":
        handler.addFilter(PrinterLibraryChatter())
    setattr(handler, "_kiosk", True)  # noqa: B010  (marks our handler for the next call)
    return handler


def configure(level: str | None = None, stream=None) -> None:
    """Send the root logger's lines, as JSON, to stderr (or ``stream``)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_kiosk", False):
            root.removeHandler(existing)
    root.addHandler(kiosk_handler(level, stream))
    root.setLevel(_level(level))
    # Python's warnings and a thread's uncaught exception would otherwise be plain text on stderr.
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception


def _log_thread_exception(args) -> None:
    if args.exc_type is SystemExit:
        return
    logging.getLogger("kiosk.thread").error(
        "uncaught exception in thread %s",
        getattr(args.thread, "name", "?"),
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def gunicorn_logconfig(level: str | None = None) -> dict:
    """gunicorn's ``logconfig_dict``: its error and access lines in the kiosk's JSON, on stderr.

    Both of gunicorn's loggers hand their lines to the root logger, whose one
    handler (:func:`kiosk_handler`) writes every line of the process.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"kiosk": {"()": "kiosk.logs.kiosk_handler", "level": _level(level)}},
        "formatters": {},
        "root": {"level": _level(level), "handlers": ["kiosk"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True, "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True, "qualname": "gunicorn.access"},
        },
    }
