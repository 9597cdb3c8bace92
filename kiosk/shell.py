"""The touch UI shell: the home screen with plugin tiles, language, large text, reset."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from kiosk import notices, visitors
from kiosk.auth import form_next_or_home
from kiosk.i18n import LOCALE_NAMES, current_locale
from kiosk.stations import current_station
from kiosk.tiles import tiles_for

bp = Blueprint("shell", __name__)
# Notices and calls for staff come with the shell: the home screen shows them.
bp.record_once(lambda state: notices.init_app(state.app))


@bp.route("/")
def home():
    """The home screen; whoever was identified for any plugin is forgotten here (issue 19, 首页).

    The hub shows no kiosk screens: touch screens stand at stations and talk to their station node.
    """
    if current_app.config.get("ROLE") == "hub":
        abort(404)
    visitors.forget()
    station = current_station()
    return render_template(
        "home.html", tiles=tiles_for(station), station=station, screen="home", **notices.home_context(station)
    )


@bp.route("/lang", methods=["POST"])
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["STATION"]["languages"]:
        if lang != current_locale() and _at_a_kiosk_terminal():
            visitors.forget()  # a new language at a kiosk screen is the next person (issue 16); a phone keeps its own
        session["lang"] = lang
        g.pop("locale", None)
    return redirect(form_next_or_home())


@bp.route("/large-text", methods=["POST"])
def toggle_large_text():
    session["large_text"] = not session.get("large_text", False)
    return redirect(form_next_or_home())


@bp.route("/reset", methods=["POST"])
def reset():
    """The idle timer's end: forget everything the last user entered or chose."""
    station_code = session.get("station")
    visitors.forget()
    session.clear()
    if station_code and current_app.config.get("ROLE") == "hub":
        session["station"] = station_code  # the phone page stays in the station its QR code named
    return redirect(url_for("shell.home"))


def _at_a_kiosk_terminal() -> bool:
    from kiosk.terminals import current_terminal

    terminal = current_terminal()
    return terminal is not None and terminal.kind == "kiosk"


@bp.app_context_processor
def shell_context():
    try:
        station = current_station()
    except Exception:  # the database is down: error pages still render
        station = None
    return {
        "station": station,
        "large_text": session.get("large_text", False),
        "station_languages": [(code, LOCALE_NAMES[code]) for code in current_app.config["STATION"]["languages"]],
        "idle_seconds": current_app.config["IDLE_SECONDS"],
        "idle_countdown": current_app.config["IDLE_COUNTDOWN_SECONDS"],
    }
