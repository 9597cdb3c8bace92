"""What the station tells residents before they tap, and residents calling staff (issue 19 points 8 and 10).

Notices: staff write a short notice in each station language (closed on a
holiday, a lawyer on duty this afternoon); the home screen shows the ones not
yet expired. Calls for staff: 呼叫工作人员 on every kiosk screen records a
call, pushes ``staff_calls.called`` to the staff pages and the calling
display, and tells the resident 工作人员马上就来; a member of staff
acknowledges it. A call holds the kiosk's name and the screen it came from,
never anything the resident typed.

Also the home screen's "now at this station": how many wait per service (the
``register_home_status`` hook) and today's opening hours (``[station] hours``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import JSON

from kiosk import audit, clock, events
from kiosk.auth import form_next_or_home, login_required, safe_next
from kiosk.db import Base, UTCDateTime, get_session, utcnow
from kiosk.i18n import DEFAULT_LOCALE, LOCALE_NAMES, _, current_locale, localized
from kiosk.plugins import PluginError
from kiosk.ratelimit import limited
from kiosk.stations import current_station

bp = Blueprint("notices", __name__)

#: The channel of the call-for-staff events (staff pages and the calling display listen).
CHANNEL = "staff_calls"
#: A second press at the same kiosk within this time joins the open call instead of making another.
JOIN_OPEN_CALL = timedelta(minutes=10)
#: Longest notice text, per language: it has to fit the home screen.
MAX_NOTICE = 200
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Notice(Base):
    """A notice staff set for the home screen: ``texts`` is language → text; shown until ``expires_at``."""

    __tablename__ = "kiosk_notice"
    __table_args__ = (Index("ix_kiosk_notice_station_expires", "station_id", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    texts: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class StaffCall(Base):
    """A resident pressed 呼叫工作人员 at ``terminal`` on ``screen``; open until acknowledged."""

    __tablename__ = "kiosk_staff_call"
    __table_args__ = (Index("ix_kiosk_staff_call_station_open", "station_id", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    terminal: Mapped[str] = mapped_column(String(64), default="")
    screen: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


# -- notices ----------------------------------------------------------------------------------------
def _languages() -> list[str]:
    return list(current_app.config["STATION"]["languages"])


def active_notices(station, now: datetime | None = None) -> list[Notice]:
    """The station's notices not yet expired, newest first."""
    now = now or clock.now()
    rows = get_session().scalars(
        select(Notice)
        .where(Notice.station_id == station.id, (Notice.expires_at.is_(None)) | (Notice.expires_at > now))
        .order_by(Notice.updated_at.desc(), Notice.id.desc())
    )
    return list(rows)


def notice_text(notice: Notice, locale: str | None = None) -> str:
    """The notice in the reader's language, else the station's first language, else any."""
    texts = notice.texts or {}
    locale = locale or current_locale()
    first = _languages()[0] if _languages() else DEFAULT_LOCALE
    return texts.get(locale) or texts.get(first) or next((t for t in texts.values() if t), "")


# -- opening hours ----------------------------------------------------------------------------------
def _day_range(spec: str) -> list[int]:
    first, _sep, last = spec.partition("-")
    a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    return list(range(a, b + 1)) if a <= b else list(range(a, 7)) + list(range(0, b + 1))


def hours_on(day: date, hours: list[str] | tuple[str, ...]) -> list[tuple[str, str]] | None:
    """Opening times on ``day`` from ``[station] hours``: ``[("09:00", "12:00"), …]``, ``[]`` closed, None unknown.

    A later item overrides an earlier one for the same weekday ("mon-sun 09:00-18:00", then "sun closed").
    """
    found: list[tuple[str, str]] | None = None
    for item in hours:
        days, _sep, times = item.strip().partition(" ")
        if day.weekday() not in _day_range(days):
            continue
        times = times.strip()
        found = [] if times == "closed" else [tuple(span.split("-", 1)) for span in times.split(",")]  # type: ignore[misc]
    return found


# -- what the home screen shows ---------------------------------------------------------------------
@dataclass
class ServiceStatus:
    """One service's line on the home screen (from ``register_home_status``)."""

    plugin: str
    key: str
    label: object
    waiting: int | None = None
    wait_minutes: int | None = None
    counters: tuple = ()
    order: int = 100
    text: str = field(default="")


def service_status(station) -> list[ServiceStatus]:
    """Every plugin's ``register_home_status`` lines, in order; a plugin that fails is left out and charged."""
    plugins = current_app.extensions["kiosk_plugins"]
    collected: list[ServiceStatus] = []

    def per_plugin(name):
        def register(key, label, waiting=None, wait_minutes=None, counters=(), order=100):
            if not key or not label:
                raise PluginError("a home status line needs key and label")
            collected.append(
                ServiceStatus(
                    plugin=name,
                    key=f"{name}.{key}",
                    label=label,
                    waiting=None if waiting is None else max(0, int(waiting)),
                    wait_minutes=None if wait_minutes is None else max(0, int(wait_minutes)),
                    counters=tuple(int(c) for c in counters),
                    order=int(order),
                )
            )

        return {"register": register}

    plugins.call("register_home_status", station=station, per_plugin=per_plugin)
    for line in collected:
        line.text = localized(line.label, domain=line.plugin)
    return sorted(collected, key=lambda s: (s.order, s.key))


def home_context(station) -> dict:
    """Everything the home screen's lower half shows."""
    today = clock.today(station)
    return {
        "services": service_status(station),
        "hours_today": hours_on(today, current_app.config["STATION"].get("hours") or ()),
        "notices": [notice_text(n) for n in active_notices(station)],
    }


# -- calls for staff --------------------------------------------------------------------------------
def open_calls(station) -> list[StaffCall]:
    """Calls nobody has acknowledged yet, oldest first."""
    return list(
        get_session().scalars(
            select(StaffCall)
            .where(StaffCall.station_id == station.id, StaffCall.acknowledged_at.is_(None))
            .order_by(StaffCall.created_at, StaffCall.id)
        )
    )


def _call_payload(call: StaffCall, station) -> dict:
    return {
        "id": call.id,
        "terminal": call.terminal,
        "screen": call.screen,
        "at": clock.hhmm(station, call.created_at),
        "open": len(open_calls(station)),
    }


def _terminal_name() -> str:
    from kiosk.terminals import current_terminal

    terminal = current_terminal()
    return terminal.name[:64] if terminal is not None else ""


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.is_json


@bp.route("/call-staff", methods=["POST"])
@limited(4, 600)
def call_staff():
    """A resident asks for help: record the call (or join this kiosk's open one) and alert staff."""
    station = current_station()
    screen = re.sub(r"[^a-z0-9_.-]", "", (request.form.get("screen") or "").lower())[:100]
    terminal = _terminal_name()
    session = get_session()
    now = clock.now()
    call = session.scalars(
        select(StaffCall).where(
            StaffCall.station_id == station.id,
            StaffCall.terminal == terminal,
            StaffCall.acknowledged_at.is_(None),
            StaffCall.created_at > now - JOIN_OPEN_CALL,
        )
    ).first()
    joined = call is not None
    if call is None:
        call = StaffCall(station_id=station.id, terminal=terminal, screen=screen, created_at=now)
        session.add(call)
        session.flush()
        audit.record(
            "staff_call.called",
            {"call": call.id, "terminal": terminal, "screen": screen},
            station_id=station.id,
            session=session,
            commit=False,
            anonymous=True,
        )
        events.emit("staff_calls.called", _call_payload(call, station), channel=CHANNEL, session=session)
    session.commit()
    message = _("Staff are on their way. Please wait here.")
    if _wants_json():
        return jsonify({"ok": True, "call": call.id, "joined": joined, "message": message})
    flash(message)
    return redirect(form_next_or_home())


@bp.route("/call-staff/state.json")
def call_staff_state():
    """How many calls wait for an answer: a count only, for wall displays catching up after a reconnect."""
    return jsonify({"open": len(open_calls(current_station()))})


@bp.route("/staff/calls")
@login_required("staff")
def staff_calls():
    """Open calls and today's answered ones."""
    station = current_station()
    since = clock.now() - timedelta(hours=12)
    answered = get_session().scalars(
        select(StaffCall)
        .where(
            StaffCall.station_id == station.id,
            StaffCall.acknowledged_at.is_not(None),
            StaffCall.created_at > since,
        )
        .order_by(StaffCall.created_at.desc())
        .limit(50)
    )
    return render_template("staff/notices_calls.html", calls=open_calls(station), answered=list(answered))


@bp.route("/staff/calls/banner")
@login_required("staff")
def staff_calls_banner():
    """The open-calls banner alone, for staff pages to refresh when a call is pushed."""
    return render_template("staff/_notices_calls_banner.html", staff_calls=open_calls(current_station()))


@bp.route("/staff/calls/<int:call_id>/ack", methods=["POST"])
@login_required("staff")
def acknowledge(call_id: int):
    """A member of staff is on the way: the call closes, the banners and the display clear."""
    station = current_station()
    session = get_session()
    call = session.get(StaffCall, call_id)
    if call is None or call.station_id != station.id:
        abort(404)
    if call.acknowledged_at is None:
        call.acknowledged_at = clock.now()
        call.acknowledged_by = g.user.id
        session.flush()
        audit.record("staff_call.acknowledged", {"call": call.id}, session=session, commit=False)
        events.emit("staff_calls.acknowledged", _call_payload(call, station), channel=CHANNEL, session=session)
        session.commit()
        flash(_("Thank you: the resident's call is answered."))
    else:
        flash(_("Someone already answered this call."))
    target = safe_next(request.form.get("next"))
    if target is not None and target.startswith("/staff"):
        return redirect(target)
    return redirect(url_for("notices.staff_calls"))


# -- staff pages for notices ------------------------------------------------------------------------
def _read_notice_form() -> tuple[dict, datetime | None, str | None]:
    """The texts and expiry from the form, or an error message in the reader's language."""
    langs = _languages()
    texts = {lang: (request.form.get(f"text_{lang}") or "").strip() for lang in langs}
    if not texts.get(langs[0]):
        return texts, None, _("Please write the notice at least in the first language.")
    if any(len(t) > MAX_NOTICE for t in texts.values()):
        return texts, None, _("A notice can be at most %(n)s characters in each language.", n=MAX_NOTICE)
    raw = (request.form.get("expires_on") or "").strip()
    if not raw:
        return texts, None, None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return texts, None, _("Please give the last day as a date, like 2026-12-31.")
    station = current_station()
    if day < clock.today(station):
        return texts, None, _("The last day is already past. Please choose today or a later day.")
    # Shown through the whole last day, in the station's time.
    expires = clock.at_local(station, day + timedelta(days=1), datetime.min.time())
    return {k: v for k, v in texts.items() if v}, expires, None


@bp.route("/staff/notices", methods=["GET", "POST"])
@login_required("staff")
def notice_list():
    """The station's notices: add one, edit, end."""
    station = current_station()
    error = None
    form = {}
    if request.method == "POST":
        texts, expires, error = _read_notice_form()
        form = request.form
        if error is None:
            session = get_session()
            now = clock.now()
            notice = Notice(
                station_id=station.id,
                texts=texts,
                expires_at=expires,
                created_at=now,
                updated_at=now,
                user_id=g.user.id,
            )
            session.add(notice)
            session.flush()
            audit.record("notice.created", {"notice": notice.id}, session=session, commit=False)
            session.commit()
            flash(_("The notice is on the home screen now."))
            return redirect(url_for("notices.notice_list"))
    return _list_page(station, error, form, 400 if error else 200)


def _list_page(station, error, form, status):
    now = clock.now()
    rows = list(
        get_session().scalars(
            select(Notice).where(Notice.station_id == station.id).order_by(Notice.updated_at.desc()).limit(100)
        )
    )
    return (
        render_template(
            "staff/notices.html",
            current=[n for n in rows if n.expires_at is None or n.expires_at > now],
            ended=[n for n in rows if n.expires_at is not None and n.expires_at <= now][:20],
            languages=_languages(),
            language_names=LOCALE_NAMES,
            error=error,
            form=form,
            notice_text=notice_text,
            last_day=lambda n: (
                clock.local(station, n.expires_at - timedelta(seconds=1)).date().isoformat() if n.expires_at else ""
            ),
        ),
        status,
    )


def _own_notice(notice_id: int) -> Notice:
    notice = get_session().get(Notice, notice_id)
    if notice is None or notice.station_id != current_station().id:
        abort(404)
    return notice


@bp.route("/staff/notices/<int:notice_id>", methods=["GET", "POST"])
@login_required("staff")
def notice_edit(notice_id: int):
    """Change a notice's texts or last day."""
    station = current_station()
    notice = _own_notice(notice_id)
    error = None
    if request.method == "POST":
        texts, expires, error = _read_notice_form()
        if error is None:
            notice.texts = texts
            notice.expires_at = expires
            notice.updated_at = clock.now()
            notice.user_id = g.user.id
            session = get_session()
            audit.record("notice.updated", {"notice": notice.id}, session=session, commit=False)
            session.commit()
            flash(_("The notice is changed."))
            return redirect(url_for("notices.notice_list"))
    last_day = ""
    if notice.expires_at is not None:
        last_day = clock.local(station, notice.expires_at - timedelta(seconds=1)).date().isoformat()
    form = (
        request.form
        if request.method == "POST"
        else {
            **{f"text_{k}": v for k, v in (notice.texts or {}).items()},
            "expires_on": last_day,
        }
    )
    return (
        render_template(
            "staff/notices_edit.html",
            notice=notice,
            languages=_languages(),
            language_names=LOCALE_NAMES,
            error=error,
            form=form,
        ),
        400 if error else 200,
    )


@bp.route("/staff/notices/<int:notice_id>/end", methods=["POST"])
@login_required("staff")
def notice_end(notice_id: int):
    """Take a notice off the home screen now (it stays in the list of ended ones)."""
    notice = _own_notice(notice_id)
    session = get_session()
    now = clock.now()
    if notice.expires_at is None or notice.expires_at > now:
        notice.expires_at = now
        notice.updated_at = now
        audit.record("notice.ended", {"notice": notice.id}, session=session, commit=False)
        session.commit()
    flash(_("The notice is off the home screen."))
    return redirect(url_for("notices.notice_list"))


@bp.app_context_processor
def staff_calls_context():
    """``staff_calls_open()`` for the banner on staff pages: nothing for anyone not logged in as staff."""

    def staff_calls_open() -> list[StaffCall]:
        user = g.get("user")
        if user is None or not user.can("staff"):
            return []
        try:
            return open_calls(current_station())
        except Exception:  # the database is down: the page still renders
            return []

    def call_time(at: datetime | None) -> str:
        return clock.hhmm(current_station(), at) if at else ""

    return {"staff_calls_open": staff_calls_open, "call_time": call_time, "call_screen": screen_label}


def screen_label(screen: str) -> str:
    """Where the resident was, in words: the service's tile label ("法律咨询"), or the home screen.

    A call keeps the screen's key (``legal.take``); staff read the service, not the key.
    """
    if not screen or screen == "home" or screen.startswith("shell."):
        return _("Home screen")
    plugin = re.split(r"[._]", screen, maxsplit=1)[0]
    from kiosk.tiles import tiles_for

    try:
        tiles = tiles_for(current_station())
    except Exception:  # a tile that fails is the plugin's fault: say the screen anyway
        tiles = []
    for tile in tiles:
        if tile.plugin == plugin:
            return tile.text
    return _("Another screen")


def init_app(app) -> None:
    """Register the blueprint (called when the shell's blueprint is registered)."""
    app.register_blueprint(bp)
