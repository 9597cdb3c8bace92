"""The calling display for the wall TV, and the spoken calls it plays.

``/k/legal/display`` is a full-screen page without the kiosk shell (no idle
reset, no buttons). It listens to ``/events/stream?channel=legal`` and, on
each call, shows "请 A012 号到 3 号窗口" and plays the WAVs from
``/k/legal/voice/<voice>/<ticket>/<counter>.wav``. It shows ticket numbers
and counters only: never a phone number or a name.
"""

from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, jsonify, render_template, send_file
from sqlalchemy import select

from kiosk import clock
from kiosk.db import get_session
from kiosk.i18n import _, current_locale
from kiosk.stations import current_station
from kiosk_plugins.legal import estimates, voice
from kiosk_plugins.legal.models import Ticket
from kiosk_plugins.legal.runtime import settings

bp = Blueprint("legal_display", __name__)


def recent_calls(session, station, limit: int) -> list[dict]:
    """Today's last calls, newest first: ticket, counter and queue name only."""
    cfg = settings()
    rows = session.execute(
        select(Ticket.code, Ticket.counter, Ticket.service, Ticket.called_at)
        .where(
            Ticket.station_id == station.id,
            Ticket.day == clock.today(station),
            Ticket.called_at.is_not(None),
            Ticket.counter.is_not(None),
        )
        .order_by(Ticket.called_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    out = []
    for code, counter, service_key, called_at in rows:
        service = cfg.service(service_key)
        out.append(
            {
                "ticket": code,
                "counter": counter,
                "service": service.text(current_locale()) if service else service_key,
                "at": clock.hhmm(station, called_at),
            }
        )
    return out


def board_state() -> dict:
    """What the board shows: recent calls and how many wait per queue."""
    station = current_station()
    session = get_session()
    loads = estimates.loads(session, station)
    return {
        "calls": recent_calls(session, station, settings().display_rows),
        "waiting": [
            {"service": load.service.text(current_locale()), "key": key, "count": load.waiting}
            for key, load in loads.items()
        ],
    }


@bp.route("/display")
def board():
    """The full-screen calling board."""
    cfg = settings()
    labels = {s.key: s.text(current_locale()) for s in cfg.queues()}
    return render_template(
        "legal/display.html",
        state=board_state(),
        voices=list(cfg.voices),
        repeat=cfg.voice_repeat,
        labels=labels,
        rows=cfg.display_rows,
        call_template=_("Ticket %(ticket)s, please go to counter %(counter)s", ticket="{ticket}", counter="{counter}"),
    )


@bp.route("/display/state.json")
def state():
    """The board's state as JSON, fetched after each pushed event."""
    return jsonify(board_state())


@bp.route("/voice/<voice_key>/<code>/<int:counter>.wav")
def speech(voice_key: str, code: str, counter: int):
    """The spoken call as WAV, made offline by espeak-ng on first use and cached.

    Anonymous (the wall display has no login), so only a call made today at
    this station is spoken: any other ticket, counter or voice is a 404.
    """
    if not voice.is_real_call(get_session(), current_station(), voice_key, code, counter):
        abort(404)
    folder = os.path.join(current_app.instance_path, "legal-voice")
    for _attempt in range(2):
        try:
            path = voice.audio_file(folder, voice_key, code, counter, max_bytes=voice.cache_limit())
            # Opened here: a file the bound removes after this still plays to its end.
            response = send_file(path, mimetype="audio/wav", max_age=86400)
            break
        except voice.VoiceUnavailable as exc:
            current_app.logger.warning("legal display voice unavailable: %s", exc)
            abort(503)
        except FileNotFoundError:
            continue  # pruned by another worker between the check and the open: make it again
    else:
        abort(503)
    # The same call always sounds the same: let the display cache it.
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
