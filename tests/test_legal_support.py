"""Helpers shared by the legal plugin's tests: a settable clock, issuing and staff calls over HTTP.

Imported by the other ``test_legal_*`` files; the one test here checks the clock helper itself.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kiosk import visitors

SHENZHEN = ZoneInfo("Asia/Shanghai")
#: A Monday morning in Shenzhen.
MONDAY_10 = datetime(2024, 5, 6, 10, 0, tzinfo=SHENZHEN)


class Clock:
    """A clock the test moves by hand; installed as the app's "now" (:func:`kiosk.clock.set_clock`)."""

    def __init__(self, start: datetime = MONDAY_10):
        self.at = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> datetime:
        self.at += timedelta(**delta)
        return self.at

    def set_local(self, value: datetime) -> None:
        self.at = value.astimezone(UTC)


def install_clock(app, start: datetime = MONDAY_10) -> Clock:
    """Give ``app`` (the core and every plugin) a hand-moved clock."""
    from kiosk.clock import set_clock

    clock = Clock(start)
    set_clock(app, clock)
    return clock


def csrf_token(client) -> str:
    with client.session_transaction() as sess:
        token = sess.get("_csrf")
    if not token:
        client.get("/")
        with client.session_transaction() as sess:
            token = sess.get("_csrf")
    return token


def take_ticket(client, service="consultation", phone="", priority="") -> dict:
    """Take a ticket through the kiosk screens; returns what the issued screen shows."""
    response = client.post(
        f"/k/legal/take/{service}", data={"csrf_token": csrf_token(client), "phone": phone, "priority": priority}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    page = client.get("/k/legal/issued").get_data(as_text=True)
    number = re.search(r'data-testid="ticket-number">([A-Z]\d+)<', page).group(1)
    ahead = re.search(r'data-testid="ahead">(\d+)<', page)
    job = re.search(r'data-print-job="([^"]+)"', page)
    with client.session_transaction() as sess:
        # The ticket just taken is kept with the kiosk's visitor (kiosk.visitors), kind "legal".
        # (on the server: the cookie holds only the turn's random id)
        token = visitors.entries(sess[visitors.SESSION_KEY], client.application)["legal"]["data"]["issued"]["token"]
    return {
        "ticket": number,
        "ahead": int(ahead.group(1)) if ahead else None,
        "html": page,
        "job": job.group(1) if job else None,
        "token": token,
    }


def staff_post(client, path: str, **data):
    """POST a staff action with the CSRF token; returns the response (a redirect)."""
    data["csrf_token"] = csrf_token(client)
    return client.post(path, data=data)


def current_at(client, counter: int) -> str | None:
    """The ticket the counter page shows as called."""
    page = client.get(f"/staff/legal/counter/{counter}").get_data(as_text=True)
    found = re.search(r'data-testid="current-ticket">([A-Z]\d+)<', page)
    return found.group(1) if found else None


def call_next(client, counter: int, service: str | None = None) -> str | None:
    """Press "call next" at a counter; returns the ticket now called there."""
    data = {"service": service} if service else {}
    response = staff_post(client, f"/staff/legal/counter/{counter}/call", **data)
    assert response.status_code == 302
    return current_at(client, counter)


def test_clock_moves_only_when_told():
    clock = Clock()
    first = clock()
    assert clock() == first
    clock.advance(minutes=5)
    assert clock() - first == timedelta(minutes=5)
    clock.set_local(datetime(2024, 5, 7, 0, 1, tzinfo=SHENZHEN))
    assert clock().tzinfo is not None and clock().astimezone(SHENZHEN).day == 7


@pytest.fixture
def legal_app(make_app, database_url):
    """The app with every plugin, ticket printing off, and a hand-moved clock."""
    app = make_app(database_url, PLUGINS={"legal": {"print_tickets": False}})
    app.legal_clock = install_clock(app)
    return app


@pytest.fixture
def sqlite_legal_app(make_app, tmp_path, request):
    """The same app on SQLite only, for tests where the database plays no part (voice, settings)."""
    import shutil

    path = tmp_path / "legal.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    app = make_app("sqlite:///" + str(path), PLUGINS={"legal": {"print_tickets": False}})
    app.legal_clock = install_clock(app)
    return app


def login(app, role="staff", username=None):
    """A new test client of ``app`` logged in with ``role``."""
    from kiosk.testing import Auth

    auth = Auth(app, app.test_client())
    auth.login(role, username=username)
    return auth.client


@pytest.fixture
def legal_staff(legal_app):
    """A counter staff member's browser, logged in."""
    return login(legal_app, "staff")


@pytest.fixture
def legal_admin(legal_app):
    """The station admin's browser, logged in."""
    return login(legal_app, "admin")
