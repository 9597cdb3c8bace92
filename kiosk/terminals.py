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

What a read hands a page (a signed card token in ``fill``, an identification
link in ``redirect``) is swapped for a claim ``rc_<random>`` kept in
:class:`ReaderClaim`: a posted field holding a claim is swapped back before
the view runs, and ``/r/<claim>`` redirects to the link, only for the same
terminal and browser session, within :data:`CLAIM_SECONDS`, once. Otherwise
the field arrives empty (the plugin answers its usual "tap again") and the
link shows a page saying so. Plugins change nothing for this.

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

from flask import Blueprint, abort, current_app, g, has_request_context, redirect, render_template, request, url_for
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from kiosk.db import Base, UTCDateTime, utcnow
from kiosk.i18n import N_, _, localized

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
    request_g = g._get_current_object()  # type: ignore[attr-defined]
    if "kiosk_terminal" in request_g:
        return request_g.kiosk_terminal
    request_g.kiosk_terminal = None
    if current_app.config.get("ROLE") == "hub":
        return None
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    terminal = _check_credential(raw)
    request_g.kiosk_terminal = terminal
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
        with session_for(current_app._get_current_object(), write=True) as session:  # type: ignore[attr-defined]
            session.execute(update(Terminal).where(Terminal.id == terminal.id).values(last_seen_at=now))
            session.commit()
        # The row says so now; the request's copy learns it without becoming a change of its own,
        # which the request's next read would flush (inside a ticket's write: a second writer).
        set_committed_value(terminal, "last_seen_at", now)
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


# ---- Reader claims: what a read hands a page, bound to its terminal ---------------

#: What a claim looks like in a form field or a link: the page never sees the value itself.
CLAIM_PREFIX = "rc_"
#: How long a page has to post or follow what a read handed it.
CLAIM_SECONDS = 30
#: Keys of a reader action whose string value is a link the page follows.
LINK_KEYS = ("redirect", "go", "link")
#: Claims are deleted this long after they expired (kept a little for the log's sake).
CLAIM_KEEP_SECONDS = 300
_CLAIM_RE = re.compile(r"rc_[A-Za-z0-9_-]{20,64}\Z")


def session_binding() -> str:
    """The hash that binds a claim to the browser session it was handed to ("" outside a session)."""
    from flask import session

    token = session.get("_csrf") if has_request_context() else None
    return digest(token) if isinstance(token, str) and token else ""


def bind_action(db_session, action: dict, terminal_id: int, session_hash: str = "") -> dict:
    """``action`` with each string in ``fill`` and each link replaced by a claim for ``terminal_id``.

    The caller commits. A link becomes ``/r/<claim>``; a fill value becomes
    the claim itself, swapped back when the page posts it.
    """
    expires = _now() + timedelta(seconds=CLAIM_SECONDS)

    def claim(value: str) -> str:
        token = CLAIM_PREFIX + secrets.token_urlsafe(24)
        db_session.add(
            ReaderClaim(
                claim_hash=digest(token),
                terminal_id=terminal_id,
                session_hash=session_hash,
                value=value,
                expires_at=expires,
            )
        )
        return token

    bound = dict(action)
    fill = action.get("fill")
    if isinstance(fill, dict):
        bound["fill"] = {name: claim(value) if isinstance(value, str) else value for name, value in fill.items()}
    for key in LINK_KEYS:
        value = action.get(key)
        if isinstance(value, str) and value:
            bound[key] = "/r/" + claim(value)
    return bound


def prune_claims(db_session) -> None:
    """Delete claims long expired; the caller commits."""
    from sqlalchemy import delete

    cutoff = _now() - timedelta(seconds=CLAIM_KEEP_SECONDS)
    db_session.execute(delete(ReaderClaim).where(ReaderClaim.expires_at < cutoff))


def take_claim(claim: str) -> str | None:
    """The value behind ``claim`` if this request is the terminal and session it was made for, in time, once.

    Taking it marks it used. Otherwise None, logged with the reason; a refused
    attempt (another screen replaying it) leaves it to the screen it was made for.
    """
    from kiosk.db import write_transaction

    if not isinstance(claim, str) or not _CLAIM_RE.fullmatch(claim):
        return None
    terminal = current_terminal()
    now = _now()
    with write_transaction() as db_session:
        row = db_session.scalar(select(ReaderClaim).where(ReaderClaim.claim_hash == digest(claim)).with_for_update())
        if row is None:
            reason = "unknown"
        elif row.used_at is not None:
            reason = "already used"
        elif row.expires_at <= now:
            reason = "expired"
        elif terminal is None or row.terminal_id != terminal.id:
            reason = "made for another terminal"
        elif row.session_hash and not hmac.compare_digest(row.session_hash, session_binding()):
            reason = "made for another session"
        else:
            row.used_at = now
            return row.value
    log.warning("reader claim refused (%s) on %s %s from %s", reason, request.method, request.path, request.remote_addr)
    return None


def _swap_claims() -> None:
    """Before a view: every posted ``rc_…`` field becomes its value, or empty when it may not be taken."""
    req = request._get_current_object()  # type: ignore[attr-defined]
    if req.method in ("GET", "HEAD", "OPTIONS") or current_app.config.get("ROLE") == "hub":
        return
    if req.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return
    form = req.form
    if not any(isinstance(v, str) and _CLAIM_RE.fullmatch(v) for _name, v in form.items(multi=True)):
        return
    from werkzeug.datastructures import ImmutableMultiDict

    items = []
    for name, value in form.items(multi=True):
        if isinstance(value, str) and _CLAIM_RE.fullmatch(value):  # what a resident typed is left alone
            value = take_claim(value) or ""
        items.append((name, value))
    req.__dict__["form"] = ImmutableMultiDict(items)
    req.__dict__.pop("values", None)


# ---- Pages: enrolment, claimed links, the admin page ------------------------------

bp = Blueprint("terminals", __name__)

_REFUSED = {
    "terminal": N_(
        "This screen is not an enrolled terminal of this station, or its enrolment was revoked. "
        "Ask the station's administrator to enrol it again."
    ),
    "enrol": N_(
        "This enrolment link has been used already, has expired or was revoked. "
        "Nothing was changed. Ask the station's administrator for a new link."
    ),
    "claim": N_("This card or code read has expired or belongs to another screen. Please tap or scan again."),
}
_THREE = ("zh_Hans", "zh_Hant", "en")


def _three_languages(message: str) -> list[tuple[str, str]]:
    """``message`` in Chinese (simplified, traditional) and English: the screen has no language chosen yet."""
    return [(locale, localized(message, locale=locale)) for locale in _THREE]


def refuse_not_terminal():
    """Abort with 403 and a clear message: this request is not from an enrolled terminal."""
    g.user_message = _(_REFUSED["terminal"])
    abort(403)


def start_page(terminal: Terminal) -> str:
    """Where a terminal's browser starts: the kiosk home, the calling display, the staff login."""
    if terminal.kind == "counter":
        return url_for("auth.login")
    if terminal.kind == "display":
        for endpoint in DISPLAY_ENDPOINTS:
            if endpoint in current_app.view_functions:
                return url_for(endpoint)
    return url_for("shell.home")


#: Calling displays a display terminal opens, the first one installed wins.
DISPLAY_ENDPOINTS = ("legal_display.board",)


@bp.route("/terminal/enrol/<token>")
def enrol_view(token: str):
    """Open once on the terminal's screen: it receives its credential and goes to its start page."""
    from kiosk.audit import record
    from kiosk.db import write_transaction

    if current_app.config.get("ROLE") == "hub":
        abort(404)  # screens are enrolled at their own station node
    with write_transaction() as db_session:
        done = enrol(db_session, token)
        if done is not None:
            terminal, credential = done
            record(
                "terminal.enrolled",
                {"terminal": terminal.name, "kind": terminal.kind},
                station_id=terminal.station_id,
                session=db_session,
                commit=False,
            )
    if done is None:
        already = current_terminal()
        if already is not None:
            # The appliance's browser opened its used link again (a restart before the
            # unit's address was set back): it is enrolled, so it goes to its start page.
            return redirect(start_page(already))
        log.warning("terminal enrolment refused: unknown, used or expired link, from %s", request.remote_addr)
        page = render_template("terminal_message.html", messages=_three_languages(_REFUSED["enrol"]))
        return page, 410
    log.info("terminal %s (%s) enrolled from %s", terminal.name, terminal.kind, request.remote_addr)
    response = redirect(start_page(terminal))
    response.set_cookie(
        COOKIE,
        credential,
        max_age=CREDENTIAL_DAYS * 24 * 3600,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/",
    )
    return response


@bp.route("/r/<claim>")
def follow_claim(claim: str):
    """A link a card or code read handed this screen: followed once, by this screen, within seconds."""
    target = take_claim(claim)
    if target is None or not target.startswith("/") or target.startswith("//"):
        page = render_template("terminal_message.html", messages=_three_languages(_REFUSED["claim"]))
        return page, 410
    return redirect(target)


def _context() -> dict:
    try:
        terminal = current_terminal()
    except Exception:  # the database is down: error pages still render
        terminal = None
    return {"kiosk_terminal": terminal}


def init_app(app) -> None:
    """The enrolment page, the claim swap before every view, the terminal in every template.

    The admin page is :mod:`kiosk.terminals_admin` (it reads agents' states, which
    need the agent and doctor modules, which need this one).
    """
    app.register_blueprint(bp)
    app.before_request(_swap_claims)
    app.context_processor(_context)
