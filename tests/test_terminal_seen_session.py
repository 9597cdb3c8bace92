"""A terminal's last-seen note is a write of its own: it leaves nothing pending in the request's session.

The note used to set ``last_seen_at`` on the request session's Terminal row
after writing it through another session, which marked that row dirty. The
next read on the request session (any autoflush) then tried to write it
again; inside a ticket's write transaction on SQLite that is a second writer
in the same thread, and the resident got a 500 (seen once by an outside
check: the first ticket of an enrolled kiosk after a minute's quiet, when the
hub-address cache had also just expired).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

import kiosk.urls
from kiosk.db import get_session, session_for, utcnow
from kiosk.terminals import Terminal, current_terminal
from kiosk.testing import csrf_of, enrol_terminal


def _seen_long_ago(app, name: str) -> None:
    with session_for(app, write=True) as session:
        session.execute(
            update(Terminal).where(Terminal.name == name).values(last_seen_at=utcnow() - timedelta(minutes=5))
        )
        session.commit()


def test_noting_a_terminal_seen_leaves_the_request_session_clean(app):
    browser = app.test_client()
    enrol_terminal(browser, app, "hall-1")
    _seen_long_ago(app, "hall-1")
    cookie = browser.get_cookie("kiosk_terminal").value
    with app.test_request_context("/", headers={"Cookie": f"kiosk_terminal={cookie}"}):
        terminal = current_terminal()
        assert terminal is not None and terminal.name == "hall-1"
        assert terminal.last_seen_at > utcnow() - timedelta(minutes=1)  # the note was made ...
        assert not get_session().dirty  # ... and nothing is left for the request's session to write


def test_an_enrolled_kiosk_takes_a_ticket_when_its_seen_note_is_due(app, monkeypatch):
    # Every read of the hub's address goes to the database, as when its cache has just expired.
    monkeypatch.setattr(kiosk.urls, "HUB_URL_CACHE_SECONDS", 0.0)
    browser = app.test_client()
    enrol_terminal(browser, app, "hall-1")
    browser.get("/k/legal/")
    token = csrf_of(browser)
    _seen_long_ago(app, "hall-1")
    response = browser.post("/k/legal/take/consultation", data={"csrf_token": token, "phone": "", "priority": ""})
    assert response.status_code == 302 and response.headers["Location"].endswith("/k/legal/issued")
