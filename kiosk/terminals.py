"""Terminals: the named screens of a station (kiosk screens, calling displays, counter consoles).

A station node serves several screens: three all-in-one kiosks in the hall, a
calling display on the wall, counters. Each is a :class:`Terminal` row of the
station. An operator adds one (``kiosk terminals add hall-1 --kind kiosk`` or
the admin page ``/admin/terminals``) and gets a one-time enrolment link; the
screen's browser opens it once and from then on holds a long-lived, httpOnly
cookie with the terminal's credential (``<terminal id>.<secret>``; only a hash
of the secret is stored). :func:`current_terminal` tells a request which
terminal it comes from, or None for anything else: a phone, a staff browser,
a browser whose credential was forged, has expired or was revoked.

Why it matters: card taps and scans are delivered only to the terminal they
were made at (:mod:`kiosk.readers`), what a read hands the page is bound to
that terminal, and an identified visitor (:mod:`kiosk.visitors`) belongs to
the terminal that identified them. The hub has no terminals: screens talk to
their own station node.

A plugin reads the terminal of a request with :func:`current_terminal`::

    from kiosk.terminals import current_terminal

    terminal = current_terminal()
    if terminal is not None and terminal.kind == "kiosk":
        ...
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context, request
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow

__all__ = [
    "KINDS",
    "Terminal",
    "current_terminal",
]

log = logging.getLogger("kiosk.terminals")

#: What a terminal is: a resident's touch screen, a calling display on the wall, a staff counter.
KINDS = ("kiosk", "display", "counter")
#: A terminal's name: short, lower case, safe in a URL, a file name and the station file.
NAME_RE = re.compile(r"[a-z0-9-]{1,32}\Z")
#: The cookie holding a terminal's credential in its browser.
COOKIE = "kiosk_terminal"
#: How long an enrolment link can be opened.
ENROL_SECONDS = 24 * 3600
#: How long a credential is good for: the life of the appliance.
CREDENTIAL_DAYS = 3650
#: last_seen_at is written at most this often per terminal, not on every request.
SEEN_EVERY_SECONDS = 60
#: The terminal the station file's own ``[devices]`` belong to unless ``[devices] terminal`` names another.
DEFAULT_TERMINAL = "kiosk-1"


class Terminal(Base):
    """One screen of a station: a kiosk, a calling display or a counter, and its credential."""

    __tablename__ = "kiosk_terminal"
    __table_args__ = (
        UniqueConstraint("station_id", "name", name="uq_kiosk_terminal_station_name"),
        Index("ix_kiosk_terminal_enrol_token_hash", "enrol_token_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    name: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="kiosk")
    label: Mapped[str] = mapped_column(String(100), default="")
    # sha256 of the secret part of "<id>.<secret>"; None until enrolled.
    credential_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    credential_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # sha256 of the one-time enrolment token; None once used.
    enrol_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enrol_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def active(self) -> bool:
        """Enrolled and not revoked: a browser may hold its credential."""
        return self.revoked_at is None and self.credential_hash is not None

    @property
    def state(self) -> str:
        """``revoked``, ``enrolled`` or ``waiting`` (link issued, not opened yet)."""
        if self.revoked_at is not None:
            return "revoked"
        return "enrolled" if self.credential_hash is not None else "waiting"


class ReaderClaim(Base):
    """What a card or scanner read handed one terminal's page, claimed back once within seconds.

    The page sees only ``rc_<random>``; the value (a signed card token, a
    booking code, an identification link) stays here. The database holds it,
    not process memory, because the page's next request may reach another
    worker of the station node.
    """

    __tablename__ = "kiosk_reader_claim"
    __table_args__ = (Index("ix_kiosk_reader_claim_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_hash: Mapped[str] = mapped_column(String(64), unique=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("kiosk_terminal.id"))
    # sha256 of the page's session (its CSRF token) when the read was delivered; "" for none.
    session_hash: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def digest(secret: str) -> str:
    """The stored form of a secret (credentials, tokens, claims are long random strings: sha256 is enough)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def valid_name(name) -> bool:
    return isinstance(name, str) and bool(NAME_RE.fullmatch(name))


def local_terminal_name(app=None) -> str:
    """The terminal the station file's ``[devices]`` (its printer and readers) belong to."""
    app = app or current_app
    name = (app.config.get("DEVICES") or {}).get("terminal") or DEFAULT_TERMINAL
    return str(name)


def _now() -> datetime:
    return utcnow()


def _refuse(reason: str, detail: str) -> None:
    """Remember why this request's credential was refused (for the 403 page) and log it once."""
    g.kiosk_terminal_refused = reason
    log.warning(
        "terminal credential refused (%s) on %s %s from %s: %s",
        reason,
        request.method,
        request.path,
        request.remote_addr,
        detail,
    )


def current_terminal() -> Terminal | None:
    """The enrolled terminal this request comes from, or None (a phone, a staff browser, a refused credential).

    Read once per request from the terminal cookie and cached. A forged,
    expired or revoked credential is refused and logged: the browser is then
    treated as not a terminal. The hub has no terminals. Notes the terminal
    as seen at most once a minute.
    """
    if not has_request_context():
        return None
    if "kiosk_terminal" in g:
        return g.kiosk_terminal
    g.kiosk_terminal = None
    if current_app.config.get("ROLE") == "hub":
        return None
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    terminal = _check_credential(raw)
    g.kiosk_terminal = terminal
    if terminal is not None:
        _seen(terminal)
    return terminal


def _check_credential(raw: str) -> Terminal | None:
    from kiosk.db import get_session

    ident, _, secret = raw.partition(".")
    if not ident.isdigit() or len(ident) > 12 or not secret or len(secret) > 200:
        _refuse("forged", "not a terminal credential")
        return None
    session = get_session()
    terminal = session.get(Terminal, int(ident))
    station_id = current_app.extensions["kiosk_station_id"]
    if terminal is None or terminal.station_id != station_id or terminal.credential_hash is None:
        _refuse("forged", f"no enrolled terminal {ident} at this station")
        return None
    if not hmac.compare_digest(terminal.credential_hash, digest(secret)):
        _refuse("forged", f"wrong secret for terminal {terminal.name}")
        return None
    if terminal.revoked_at is not None:
        _refuse("revoked", f"terminal {terminal.name} was revoked at {terminal.revoked_at.isoformat()}")
        return None
    if terminal.credential_expires_at is not None and terminal.credential_expires_at <= _now():
        _refuse("expired", f"the credential of terminal {terminal.name} expired")
        return None
    return terminal


def _seen(terminal: Terminal) -> None:
    """Note that the terminal was seen, at most once a minute (a separate short write)."""
    now = _now()
    if terminal.last_seen_at is not None and now - terminal.last_seen_at < timedelta(seconds=SEEN_EVERY_SECONDS):
        return
    from kiosk.db import session_for

    try:
        with session_for(current_app._get_current_object(), write=True) as session:
            session.execute(update(Terminal).where(Terminal.id == terminal.id).values(last_seen_at=now))
            session.commit()
        terminal.last_seen_at = now
    except Exception as exc:  # a busy database must not cost the screen its page
        log.warning("could not note terminal %s as seen: %s", terminal.name, exc)


# ---- Managing terminals (CLI and admin page) ---------------------------------


class TerminalError(ValueError):
    """A terminal cannot be added, renamed or revoked as asked; the message says why."""


def terminals_of(session, station_id: int) -> list[Terminal]:
    return list(session.scalars(select(Terminal).where(Terminal.station_id == station_id).order_by(Terminal.name)))


def find(session, station_id: int, name: str) -> Terminal | None:
    return session.scalar(select(Terminal).where(Terminal.station_id == station_id, Terminal.name == name))


def _check_name(session, station_id: int, name: str) -> str:
    name = (name or "").strip()
    if not valid_name(name):
        raise TerminalError(f"a terminal name is 1 to 32 of a-z, 0-9 and '-', like hall-1, not {name!r}")
    if find(session, station_id, name) is not None:
        raise TerminalError(f"this station already has a terminal named {name}")
    return name


def _new_enrolment(terminal: Terminal) -> str:
    token = secrets.token_urlsafe(24)
    terminal.enrol_token_hash = digest(token)
    terminal.enrol_expires_at = _now() + timedelta(seconds=ENROL_SECONDS)
    return token


def add(session, station_id: int, name: str, kind: str = "kiosk", label: str = "") -> tuple[Terminal, str]:
    """A new terminal of the station and its one-time enrolment token; the caller commits."""
    name = _check_name(session, station_id, name)
    if kind not in KINDS:
        raise TerminalError(f"a terminal's kind is one of {', '.join(KINDS)}, not {kind!r}")
    label = (label or "").strip()
    if len(label) > 100:
        raise TerminalError("a terminal's label is at most 100 characters")
    terminal = Terminal(station_id=station_id, name=name, kind=kind, label=label)
    token = _new_enrolment(terminal)
    session.add(terminal)
    session.flush()
    return terminal, token


def new_link(session, terminal: Terminal) -> str:
    """A fresh enrolment token for a terminal (a replaced PC); the old credential works until it is used."""
    if terminal.revoked_at is not None:
        raise TerminalError(f"terminal {terminal.name} is revoked; add a new one")
    return _new_enrolment(terminal)


def rename(session, terminal: Terminal, new_name: str) -> None:
    """Rename a terminal; its browser keeps its credential (it names the terminal's id, not its name)."""
    if new_name == terminal.name:
        return
    terminal.name = _check_name(session, terminal.station_id, new_name)


def revoke(session, terminal: Terminal) -> None:
    """Revoke a terminal: its credential and any unused link stop working on their next request."""
    if terminal.revoked_at is None:
        terminal.revoked_at = _now()
    terminal.enrol_token_hash = None
    terminal.enrol_expires_at = None


def enrol(session, token: str) -> tuple[Terminal, str] | None:
    """Use an enrolment token once: the terminal and its new credential, or None (unknown, used, expired)."""
    if not token or len(token) > 200:
        return None
    terminal = session.scalar(select(Terminal).where(Terminal.enrol_token_hash == digest(token)))
    if terminal is None or terminal.revoked_at is not None:
        return None
    if terminal.enrol_expires_at is None or terminal.enrol_expires_at <= _now():
        return None
    secret = secrets.token_urlsafe(32)
    terminal.credential_hash = digest(secret)
    terminal.credential_expires_at = _now() + timedelta(days=CREDENTIAL_DAYS)
    terminal.enrolled_at = _now()
    terminal.enrol_token_hash = None
    terminal.enrol_expires_at = None
    return terminal, f"{terminal.id}.{secret}"


def enrolment_path(token: str) -> str:
    return f"/terminal/enrol/{token}"
