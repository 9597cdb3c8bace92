"""What the core saves per request (issue 22): the station row from the process's copy, the
visitor's row in one statement each way, no re-signed cookie when the session did not change;
and every change still seen at once."""

from __future__ import annotations

from sqlalchemy import event, update

from kiosk.models import Station
from kiosk.visitors import VisitorRow

PATH = "/k/legal/take/consultation"


class Statements:
    """The SQL statements the app's engine sends while inside the block."""

    def __init__(self, app):
        self.engine = app.extensions["db"].engine
        self.sent: list[str] = []

    def _count(self, _conn, _cursor, statement, *_args):
        self.sent.append(" ".join(statement.split()).lower())

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def touching(self, table: str) -> list[str]:
        return [s for s in self.sent if f"from {table} " in s + " " or f"update {table} " in s or f"into {table} " in s]


def _cached_long(monkeypatch) -> None:
    """Keep the process's copies of the station row and the hub's address for the whole test: on a loaded
    machine two seconds can pass between the warm-up ticket and the counted one, and a copy that lapsed
    is read again (right, but not what these tests count)."""
    import kiosk.stations
    import kiosk.urls

    monkeypatch.setattr(kiosk.stations, "STATION_CACHE_SECONDS", 600.0)
    monkeypatch.setattr(kiosk.urls, "HUB_URL_CACHE_SECONDS", 600.0)


def _token(client) -> str:
    assert client.get(PATH).status_code == 200
    with client.session_transaction() as sess:
        return sess["_csrf"]


def test_a_ticket_reads_no_station_row_and_writes_the_visitor_once(app, client, monkeypatch):
    _cached_long(monkeypatch)
    token = _token(client)
    assert client.post(PATH, data={"csrf_token": token}).status_code in (200, 302, 303)
    with Statements(app) as sql:
        response = client.post(PATH, data={"csrf_token": token})
    assert response.status_code in (200, 302, 303)
    assert sql.touching("station") == [], sql.touching("station")
    visitor = sql.touching("kiosk_visitor")
    # One read as the request begins, one update as it ends: no second read, no insert.
    assert len(visitor) == 2, visitor
    assert visitor[0].startswith("select") and visitor[1].startswith("update"), visitor
    # The same visitor id as before: the session did not change, its cookie is not sent again.
    cookie = app.config["SESSION_COOKIE_NAME"] + "="
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith(cookie)]
    with app.extensions["db"].Session() as s:
        assert s.query(VisitorRow).count() == 1


def test_a_station_change_through_this_process_is_seen_by_the_next_request(app, client):
    token = _token(client)
    assert client.post(PATH, data={"csrf_token": token}).status_code in (200, 302, 303)
    here = app.extensions["kiosk_station_id"]
    with app.extensions["db"].Session() as s:
        s.get(Station, here).disabled_plugins = ["legal"]  # as the admin page switches a plugin off
        s.commit()
    assert client.get(PATH).status_code == 404
    with app.extensions["db"].Session() as s:
        s.get(Station, here).disabled_plugins = []
        s.commit()
    assert client.get(PATH).status_code == 200


def test_a_change_by_another_process_is_seen_once_the_copy_is_old(app, client, monkeypatch):
    import kiosk.stations

    _cached_long(monkeypatch)
    assert client.get(PATH).status_code == 200
    here = app.extensions["kiosk_station_id"]
    with app.extensions["db"].engine.begin() as conn:  # a command's write: no ORM event in this process
        conn.execute(update(Station.__table__).where(Station.id == here).values(disabled_plugins=["legal"]))
    assert client.get(PATH).status_code == 200  # the copy is fresh: served from memory
    monkeypatch.setattr(kiosk.stations, "STATION_CACHE_SECONDS", 0.0)
    assert client.get(PATH).status_code == 404


def test_a_ticket_reads_no_sync_state_and_an_enrolment_here_is_seen_at_once(app, client, monkeypatch):
    _cached_long(monkeypatch)
    from kiosk import sync
    from kiosk.db import session_for
    from kiosk.urls import public_url

    token = _token(client)
    assert client.post(PATH, data={"csrf_token": token}).status_code in (200, 302, 303)
    with Statements(app) as sql:
        assert client.post(PATH, data={"csrf_token": token}).status_code in (200, 302, 303)
    assert sql.touching("sync_state") == [], sql.touching("sync_state")
    with app.test_request_context("/"):
        assert not public_url(path="/m/x").startswith("https://district.example.gov.cn")
    with app.app_context(), session_for(app, write=True) as session:  # what `kiosk sync join` leaves
        sync.state(session, app.extensions["kiosk_station_id"]).hub_public_url = "https://district.example.gov.cn"
        session.commit()
    with app.test_request_context("/"):
        assert public_url(path="/m/x").startswith("https://district.example.gov.cn/m/x?station=")
