"""The identified visitor: who tapped their card or scanned their code at this kiosk, for a while.

A plugin whose screens belong to one person (a household booking parking, a
rider at the courier station) identifies them once and then asks "who is
it?" on every screen. The answer lives on the server, in the ``kiosk_visitor``
table, one entry per *kind* (by convention the plugin's name, e.g.
``"parking"``), and lapses after ``max_age`` seconds without use. The
session cookie (signed, not encrypted: anyone holding it can read it) carries
only a random id of the row, never a phone number, plate or name (issue 17);
the table keeps the SHA-256 of that id, so a copy of the database opens no
kiosk session. Lapsed rows are deleted by the retention job
(:mod:`kiosk.retention`, kind ``kiosk.visitors``)::

    from kiosk import visitors

    visitors.identify("parking", household.id, via="card", max_age=300)
    household_id = visitors.identified("parking")   # None once forgotten or lapsed
    visitors.remember("parking", plate=plate.id)     # more of this visitor's turn
    visitors.forget("parking")                       # "Done"

Nothing is shown to the next visitor: the kiosk forgets every kind when the
idle timer runs out (``POST /reset``), when the language is changed and when
anyone goes to the home screen, whatever button took them there. A visitor
belongs to the terminal (:mod:`kiosk.terminals`) that identified them: a
browser holding another terminal's credential, or none, sees nobody. Anything a plugin keeps about the
visitor's turn (a chosen plate, a message for the next screen, the phone
number an unknown rider typed before registering) belongs in
:func:`remember`, so it goes with them.

A card tap or a code scan arrives through the reader hub, outside the page's
request, so it cannot touch the session. The plugin hands the page a
short-lived signed token instead (:func:`sign`) that the page posts or
follows back, and checks it with :func:`unsign`. Tokens are signed with the
app's ``SECRET_KEY`` and a salt of their own per kind: a parking token is
worthless to courier_rest and to the session cookie.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import after_this_request, current_app, g, has_app_context, has_request_context, session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import JSON, Index, Integer, String, Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, after_commit, session_for

__all__ = [
    "DEFAULT_MAX_AGE",
    "TOKEN_MAX_AGE",
    "Visitor",
    "entries",
    "forget",
    "identified",
    "identify",
    "recall",
    "remember",
    "sign",
    "unsign",
    "visitor",
]

#: How long an identified visitor is kept without a tap, unless the plugin says otherwise.
DEFAULT_MAX_AGE = 10 * 60
#: How long a reader token is good for: long enough for a page to follow it, too short to reuse.
TOKEN_MAX_AGE = 60

#: The one session entry: the random id of this kiosk session's row of visitors (no personal data).
SESSION_KEY = "kiosk_visit"
#: A turn's last use is written again only after this many seconds: a page of ten
#: look-ups is one write at most, and a turn of minutes loses at most this much.
TOUCH_SECONDS = 15
#: How often a process deletes lapsed turns on the way (besides the daily retention job).
SWEEP_SECONDS = 300

log = logging.getLogger("kiosk.visitors")


class VisitorRow(Base):
    """Every kind's visitor of one kiosk session: what the cookie's random id points to.

    ``key`` is the SHA-256 of the cookie's id; ``data`` the entries by kind;
    ``expires_at`` when the last of them lapses (the retention job deletes the
    row after it).
    """

    __tablename__ = "kiosk_visitor"
    __table_args__ = (Index("ix_kiosk_visitor_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Visitor:
    """Who is identified for one kind, how, since when, and what the plugin remembered of their turn."""

    kind: str
    #: The plugin's id for them (a household id, a rider id); None before they are identified.
    id: Any
    #: How they identified: ``card``, ``qr``, ``phone``… (the plugin's words).
    via: str
    #: When they identified (seconds since the epoch).
    since: float
    data: dict = field(default_factory=dict)


def _now() -> float:
    return time.time()


def _kind(kind: str) -> str:
    if not isinstance(kind, str) or not kind:
        raise ValueError("a visitor kind is a non-empty string, by convention the plugin's name")
    return kind


@lru_cache(maxsize=256)
def _row_key(token: str) -> str:
    # Asked twice by a request that reads and writes its visitor: hashed once (a few kiosks' ids kept).
    return hashlib.sha256(token.encode()).hexdigest()


_TABLE: Table = VisitorRow.__table__  # type: ignore[assignment]
#: Built once: the same statement object every time (SQLAlchemy's compiled cache by identity, no re-coercion).
_READ = select(_TABLE.c.data, _TABLE.c.expires_at).where(_TABLE.c.key == bindparam("row_key"))
_UPDATE = (
    update(_TABLE)
    .where(_TABLE.c.key == bindparam("row_key"))
    .values(
        data=bindparam("new_data", type_=_TABLE.c.data.type),
        expires_at=bindparam("new_expires_at", type_=_TABLE.c.expires_at.type),
        terminal_id=bindparam("new_terminal_id", type_=_TABLE.c.terminal_id.type),
    )
)
_DELETE = delete(_TABLE).where(_TABLE.c.key == bindparam("row_key"))


def _load(token: str) -> dict:
    """The live entries of the row of ``token`` (a lapsed or missing row: none).

    One Core statement of the two columns wanted, not the ORM's load of a row
    object: it runs on every request a visitor's screen makes. Inside a
    :func:`kiosk.db.write_transaction` block it reads through that block's
    session (no second connection, and it sees what the block wrote).
    """
    writer = g.get("kiosk_write_session") if has_app_context() else None
    if writer is not None:
        found = writer.execute(_READ, {"row_key": _row_key(token)}).first()
    else:
        with session_for(current_app) as db:
            found = db.execute(_READ, {"row_key": _row_key(token)}).first()
    if found is None or found.expires_at.timestamp() <= _now():
        return {}
    return dict(found.data or {})


def entries(token: str, app=None) -> dict:
    """The live entries by kind kept for the session id ``token`` (the cookie's ``kiosk_visit``).

    For tests and support tools that look at what a kiosk session holds: a
    plugin asks through :func:`identified`, :func:`visitor` and :func:`recall`.
    """
    with (app or current_app).app_context():
        return _load(token) if isinstance(token, str) and token else {}


def _store() -> dict:
    """This request's entries by kind, read from the database once per request."""
    request_g = g._get_current_object()  # type: ignore[attr-defined]
    if "kiosk_visitor_store" not in request_g:
        token = session.get(SESSION_KEY)
        request_g.kiosk_visitor_token = token = token if isinstance(token, str) and token else None
        store = _load(token) if token else {}
        if store and any(isinstance(e, dict) and e.get("terminal") != _terminal_id() for e in store.values()):
            # A cookie carried from another terminal (or to a browser that is none): its
            # turns are not this screen's, and what this screen does starts a row of its own.
            request_g.kiosk_visitor_token, store = None, {}
        request_g.kiosk_visitor_store = store
    return dict(request_g.kiosk_visitor_store)


def _save(store: dict) -> None:
    """Keep ``store`` as this request's entries; written to the database as the response leaves."""
    _store()  # the token and stored entries of this request are known before they change
    request_g = g._get_current_object()  # type: ignore[attr-defined]
    request_g.kiosk_visitor_store = saved = dict(store)
    if store and not request_g.kiosk_visitor_token:
        request_g.kiosk_visitor_token = secrets.token_urlsafe(32)
    token = request_g.kiosk_visitor_token
    if token and store:
        # Setting the same id again would mark the session changed and re-sign its cookie.
        if session.get(SESSION_KEY) != token:
            session[SESSION_KEY] = token
    elif not store:
        session.pop(SESSION_KEY, None)
    if not request_g.get("kiosk_visitor_flush"):
        request_g.kiosk_visitor_flush = True
        after_this_request(_flush)
    writer = request_g.get("kiosk_write_session")
    if writer is not None and token:
        # The request writes anyway (a ticket and its receipt): the visitor's entries go in
        # the same transaction, not a second one as the response leaves. Kept for good
        # only once it commits; if it is rolled back, the response's flush writes them.
        _write(writer, token, saved)
        after_commit(writer, lambda: setattr(request_g, "kiosk_visitor_written", (token, saved)))


def _write(db, token: str, store: dict) -> None:
    """Write ``store`` as the row of ``token`` in ``db``'s transaction (no entries: delete the row)."""
    key = _row_key(token)
    if not store:
        db.execute(_DELETE, {"row_key": key})
    else:
        until = max(float(e.get("at", 0)) + float(e.get("ttl", DEFAULT_MAX_AGE)) for e in store.values())
        expires_at, terminal_id = datetime.fromtimestamp(until, UTC), _one_terminal(store)
        # No read first (the request read the row as it began): an update, and an
        # insert only when there was no row to update (a new id, or one deleted meanwhile).
        updated = db.execute(
            _UPDATE,
            {"row_key": key, "new_data": store, "new_expires_at": expires_at, "new_terminal_id": terminal_id},
        ).rowcount
        if not updated:
            db.execute(insert(_TABLE).values(key=key, data=store, expires_at=expires_at, terminal_id=terminal_id))
    _sweep_lapsed(db)


def _flush(response):
    """Write this request's entries (or delete the row when none are left), after the view's own commit.

    Nothing to do when the view's write transaction already committed them as they are now.
    """
    request_g = g._get_current_object()  # type: ignore[attr-defined]
    token = request_g.get("kiosk_visitor_token")
    kept = request_g.get("kiosk_visitor_store")
    if not token:
        return response
    written = request_g.get("kiosk_visitor_written")
    if written is not None and written[0] == token and written[1] is kept:
        return response
    store = kept or {}
    try:
        with session_for(current_app, write=True) as db:
            _write(db, token, store)
            db.commit()
    except Exception:
        # The visitor is not kept (nor forgotten) this time; the page itself was answered.
        log.exception("could not keep the kiosk's visitor on the server")
    return response


def _one_terminal(store: dict) -> int | None:
    """The terminal every entry was made at, or None when they differ."""
    terminals = {e.get("terminal") for e in store.values()}
    return terminals.pop() if len(terminals) == 1 else None


def _sweep_lapsed(db) -> None:
    """Now and then, delete turns that lapsed (a typed phone number of a rider who walked away).

    The daily retention job deletes them too; this keeps one from lying in the
    table for up to a day. At most once per :data:`SWEEP_SECONDS` per process,
    inside a write this request makes anyway.
    """
    state = current_app.extensions.setdefault("kiosk_visitors", {"swept": 0.0})
    if time.monotonic() - state["swept"] < SWEEP_SECONDS:
        return
    state["swept"] = time.monotonic()
    db.execute(delete(VisitorRow).where(VisitorRow.expires_at < datetime.now(UTC)))


def _terminal_id() -> int | None:
    """The id of this request's terminal, or None (a phone, a staff browser)."""
    from kiosk.terminals import current_terminal

    terminal = current_terminal()
    return terminal.id if terminal is not None else None


def _entry(kind: str) -> dict | None:
    """The live entry of ``kind`` made at this request's terminal, or None; a lapsed one is removed on the way."""
    store = _store()
    entry = store.get(_kind(kind))
    if not isinstance(entry, dict):
        return None
    if entry.get("terminal") != _terminal_id():
        # Made at another terminal (or at none): not this screen's visitor.
        store.pop(kind, None)
        _save(store)
        return None
    if _now() - float(entry.get("at", 0)) > float(entry.get("ttl", DEFAULT_MAX_AGE)):
        store.pop(kind, None)
        _save(store)
        return None
    return entry


def _touch(kind: str, entry: dict, *, changed: bool = True) -> None:
    if not changed and _now() - float(entry.get("at", 0)) < TOUCH_SECONDS:
        return  # only the time of use would change, and it changed moments ago
    store = _store()
    store[kind] = {**entry, "at": _now()}
    _save(store)


def identify(kind: str, subject_id: Any, *, via: str = "", max_age: int = DEFAULT_MAX_AGE) -> None:
    """Start a visitor's turn: this kiosk session now belongs to ``subject_id`` for ``kind``.

    Whatever was remembered for ``kind`` before (another visitor's turn, an
    unknown rider's phone number) is dropped. ``subject_id`` must be plain
    JSON (an int or a string); ``max_age`` is in seconds and counts from the
    last use, not from the tap.
    """
    if subject_id is None:
        raise ValueError("identify() needs the visitor's id; use forget() to end a turn")
    store = _store()
    store[_kind(kind)] = {
        "id": subject_id,
        "via": str(via or ""),
        "since": _now(),
        "at": _now(),
        "ttl": int(max_age),
        "data": {},
        "terminal": _terminal_id(),
    }
    _save(store)


def identified(kind: str) -> Any:
    """The id of the visitor identified for ``kind``, or None; each call keeps the turn alive."""
    entry = _entry(kind)
    if entry is None or entry.get("id") is None:
        return None
    _touch(kind, entry, changed=False)
    return entry["id"]


def visitor(kind: str) -> Visitor | None:
    """The whole turn of ``kind``'s visitor (id, how, since, what was remembered), or None."""
    entry = _entry(kind)
    if entry is None or entry.get("id") is None:
        return None
    _touch(kind, entry, changed=False)
    return Visitor(
        kind=kind,
        id=entry["id"],
        via=entry.get("via", ""),
        since=float(entry.get("since", 0)),
        data=dict(entry.get("data") or {}),
    )


def remember(kind: str, **values: Any) -> None:
    """Keep ``values`` (plain JSON) with ``kind``'s visitor and keep the turn alive; ``None`` removes a value.

    Works before the visitor is identified too (what an unknown rider typed
    on the way to registering): it is still forgotten with them, at the
    latest after :data:`DEFAULT_MAX_AGE`.
    """
    entry = _entry(kind) or {
        "id": None,
        "via": "",
        "since": _now(),
        "ttl": DEFAULT_MAX_AGE,
        "data": {},
        "terminal": _terminal_id(),
    }
    data = {**(entry.get("data") or {}), **values}
    entry["data"] = {key: value for key, value in data.items() if value is not None}
    _touch(kind, entry)


def recall(kind: str, name: str, default: Any = None, *, pop: bool = False) -> Any:
    """A value remembered for ``kind``'s visitor (identified or not yet), or ``default``.

    ``pop=True`` takes it out (a message shown once).
    """
    entry = _entry(kind)
    if entry is None:
        return default
    data = entry.get("data") or {}
    if name not in data:
        return default
    value = data[name]
    if pop:
        entry["data"] = {k: v for k, v in data.items() if k != name}
        _touch(kind, entry)
    return value


def forget(kind: str | None = None) -> None:
    """End ``kind``'s visitor's turn and drop all it remembered; every kind when ``kind`` is None.

    The kiosk calls ``forget()`` on the idle reset and on the home screen;
    a plugin calls ``forget(kind)`` on its own "Done" or check-out.
    """
    if not has_request_context():
        return
    if kind is None:
        if session.get(SESSION_KEY) or g.get("kiosk_visitor_store"):
            _save({})
        return
    store = _store()
    if _kind(kind) in store:
        store.pop(kind)
        _save(store)


def _serializer(kind: str) -> URLSafeTimedSerializer:
    # A salt per kind: a token made for one plugin never verifies for another,
    # nor as the session cookie (Flask salts that "cookie-session").
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"kiosk.visitors.{_kind(kind)}")


def sign(kind: str, value: Any) -> str:
    """A URL-safe token carrying ``value`` (plain JSON, not None) for ``kind``, signed and time-stamped.

    Put only ids or a card number the page must hand back in it: the token is
    signed, not encrypted, and shows in the address bar.
    """
    if value is None:
        raise ValueError("sign() needs a value; None is what unsign() answers for a bad token")
    return _serializer(kind).dumps(value)


def unsign(kind: str, token: str | None, max_age: int = TOKEN_MAX_AGE) -> Any:
    """The value of a token :func:`sign` made for ``kind`` less than ``max_age`` seconds ago.

    None when the token is missing, forged, made for another kind, damaged or
    too old: the page should ask the visitor to tap or scan again.
    """
    if not token or not isinstance(token, str):
        return None
    try:
        return _serializer(kind).loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
