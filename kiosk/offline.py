"""The kiosk never shows a browser error page (issue 19.3): a service worker and the offline page it keeps.

``/sw.js`` is served from the root so that its scope is the whole kiosk. It keeps
``/offline`` and the few files that page needs in the browser's cache; a tap
whose page cannot be fetched (the server restarting, the network down, a proxy's
502/504) shows that page instead of Chromium's error page. The offline page says
"reconnecting" in every language of the station, asks ``/healthz`` every few
seconds and goes to the home screen as soon as the kiosk answers again.

The worker's text carries a version made from everything it caches, so a new
release or a renamed station replaces the cached page at the next start.
"""

from __future__ import annotations

import hashlib
import os

from flask import Blueprint, Response, current_app, g, render_template, url_for

from kiosk import __version__
from kiosk.i18n import N_, localized

bp = Blueprint("offline", __name__)

HERE = os.path.dirname(__file__)
#: The worker's source; ``__VERSION__`` and ``__ASSETS__`` are filled in per request.
WORKER = os.path.join(HERE, "static", "js", "sw.js")
#: Static files the offline page uses, cached with it.
ASSETS = ("css/kiosk.css", "css/offline.css", "js/offline.js")
#: Seconds between the offline page's questions to /healthz.
RETRY_SECONDS = 2

TITLE = N_("Reconnecting…")
TEXT = N_("The service is interrupted for a moment. This screen returns to the home page by itself.")
BUTTON = N_("Try the home screen now")


def _station_name_and_languages() -> tuple[str, list[str]]:
    languages = list(current_app.config["STATION"]["languages"]) or ["zh_Hans"]
    try:
        from kiosk.stations import current_station

        name = current_station().name
    except Exception:  # the database is down: the page still renders, without a name
        name = ""
    return name, languages


def _version(name: str, languages: list[str]) -> str:
    digest = hashlib.sha256(f"{__version__}\n{name}\n{','.join(languages)}\n{RETRY_SECONDS}".encode())
    template = os.path.join(HERE, "templates", "kiosk", "offline.html")
    for path in [template, *(os.path.join(HERE, "static", a) for a in ASSETS)]:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


@bp.route("/sw.js")
def service_worker():
    """The service worker, scoped to the whole site (it is served from the root)."""
    name, languages = _station_name_and_languages()
    with open(WORKER, encoding="utf-8") as f:
        source = f.read()
    assets = [url_for("offline.page"), *(url_for("static", filename=a) for a in ASSETS)]
    source = source.replace("__VERSION__", _version(name, languages)).replace(
        '"__ASSETS__"', ", ".join(f'"{a}"' for a in assets)
    )
    response = Response(source, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    # The browser checks for a new worker at each start; never from a stale copy.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/offline")
def page():
    """The page the service worker shows when the kiosk cannot be reached: every station language."""
    name, languages = _station_name_and_languages()
    g.locale = languages[0]  # the page's own language; the others follow it
    texts = [
        {
            "lang": lang,
            "title": localized(TITLE, locale=lang),
            "text": localized(TEXT, locale=lang),
            "button": localized(BUTTON, locale=lang),
        }
        for lang in languages
    ]
    return render_template(
        "kiosk/offline.html",
        texts=texts,
        station_name=name,
        health_url=url_for("health.healthz"),
        home_url=url_for("shell.home"),
        retry_ms=RETRY_SECONDS * 1000,
    )
