"""The application factory: configuration order, secret key, security headers, health."""

import os

import pytest

from kiosk.app import create_app
from kiosk.config import ConfigError


def test_the_default_secret_key_builds_an_app_for_commands_but_no_server(tmp_path, monkeypatch):
    # Commands (kiosk db upgrade, users create, doctor) work before a secret is set; `kiosk serve`
    # and `kiosk run` refuse it before any app is built (tests/test_config_schema.py).
    from kiosk.config import secret_problem

    monkeypatch.delenv("KIOSK_SECRET_KEY", raising=False)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "STATION_FILE": "", "START_DEVICES": False})
    assert "KIOSK_SECRET_KEY" in secret_problem(app.config["SECRET_KEY"])
    app.extensions["db"].dispose()


def test_demo_mode_may_use_default_key(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "STATION_FILE": "", "DEMO": True, "START_DEVICES": False})
    assert app.config["DEMO"] is True
    app.extensions["db"].dispose()


def test_config_order_defaults_then_station_file_then_environment(tmp_path, monkeypatch):
    station = tmp_path / "station.toml"
    station.write_text(
        'secret_key = "from-file-0123456789"\nidle_seconds = 45\n'
        '[station]\ncode = "futian-7"\nname = "福保街道益田社区党群服务中心"\nkind = "party_service"\n'
        '[plugins]\ndisabled = ["nothing"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("KIOSK_STATION_FILE", str(station))
    monkeypatch.setenv("KIOSK_IDLE_SECONDS", "30")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "START_DEVICES": False})
    try:
        assert app.config["SECRET_KEY"] == "from-file-0123456789"  # file over default
        assert app.config["IDLE_SECONDS"] == 30  # environment over file
        assert app.config["IDLE_COUNTDOWN_SECONDS"] == 15  # default kept
        assert app.config["STATION"]["name"] == "福保街道益田社区党群服务中心"
        assert app.config["STATION"]["languages"] == ["zh_Hans", "zh_Hant", "en"]  # merged with defaults
        assert os.path.exists(tmp_path / "kiosk.db")  # SQLite in the instance folder by default
        assert os.path.isdir(tmp_path / "receipts") and os.path.isdir(tmp_path / "uploads")
    finally:
        app.extensions["db"].dispose()


def test_bad_station_kind_is_refused_with_a_message(tmp_path):
    with pytest.raises(ConfigError, match="station.kind"):
        create_app({"INSTANCE_PATH": str(tmp_path), "STATION_FILE": "", "TESTING": True, "STATION": {"kind": "shop"}})


def test_broken_toml_names_the_file(tmp_path, monkeypatch):
    station = tmp_path / "station.toml"
    station.write_text("[station\nname=", encoding="utf-8")
    monkeypatch.setenv("KIOSK_STATION_FILE", str(station))
    with pytest.raises(ConfigError, match="station.toml"):
        create_app({"INSTANCE_PATH": str(tmp_path), "TESTING": True})


def test_security_headers_on_every_response(client):
    for path in ("/", "/healthz", "/staff/login", "/no-such-page"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_and_samesite(client):
    response = client.get("/")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_session_signer_is_built_once_and_again_when_the_key_changes(app, client, csrf):
    """The signed session cookie's serializer is kept between requests (Flask builds one per request),
    and a new secret key is still honoured at once: old cookies are refused unless the old key is a
    fallback."""
    interface = app.session_interface
    token = csrf(client)
    assert client.post("/large-text", data={"csrf_token": token}).status_code == 302
    kept = interface.get_signing_serializer(app)
    assert client.get("/").status_code == 200 and interface.get_signing_serializer(app) is kept
    with client.session_transaction() as sess:
        assert sess["large_text"] is True

    app.secret_key = "another-secret-key-for-this-test-only-0123456789"
    assert interface.get_signing_serializer(app) is not kept
    with client.session_transaction() as sess:
        assert "large_text" not in sess  # signed with the old key: a new, empty session

    app.config["SECRET_KEY_FALLBACKS"] = [kept.secret_keys[-1].decode()]
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], kept.dumps({"large_text": True, "_csrf": token}))
    with client.session_transaction() as sess:
        assert sess["large_text"] is True  # the old key, now a fallback, still opens it


def test_no_inline_script_in_pages(client):
    html = client.get("/").get_data(as_text=True)
    import re

    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, tag
    assert " onclick=" not in html and " style=" not in html


def test_healthz_reports_database_plugins_and_devices(client, backend):
    body = client.get("/healthz").get_json()
    assert body["database"]["ok"] is True
    assert body["database"]["dialect"] == backend
    assert body["station"] == "shuibei"
    assert "printer" in body["devices"]
    assert isinstance(body["plugins"], dict)


def test_healthz_tells_anonymous_callers_from_elsewhere_only_whether_it_is_up(app, client):
    # Issue 17 point 10: anonymous callers saw device paths, counts of riders and households, exception texts.
    from kiosk import __version__

    outside = app.test_client()
    outside.environ_base["REMOTE_ADDR"] = "203.0.113.50"
    answer = outside.get("/healthz")
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "status": "ok", "version": __version__}
    # This machine's own monitor, and staff anywhere, get the details.
    assert {"database", "plugins", "devices"} <= set(client.get("/healthz").get_json())
    staff = app.test_client()
    staff.environ_base["REMOTE_ADDR"] = "203.0.113.51"
    from kiosk.testing import Auth

    Auth(app, staff).login("staff")
    assert "plugins" in staff.get("/healthz").get_json()


def test_an_id_too_large_for_any_row_is_a_404_not_a_plugin_fault(app, client):
    # A 20-digit id made the database driver raise: a "plugin fault" that turned /healthz not ok until restart.
    assert client.get("/k/legal/book/slot/99999999999999999999").status_code == 404
    assert client.post("/k/legal/book/slot/-99999999999999999999").status_code in (400, 404)
    plugins = client.get("/healthz").get_json()["plugins"]
    assert plugins["legal"]["faults"] == 0 and plugins["legal"]["ok"]


def test_unknown_page_is_a_friendly_404_in_chinese(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused_and_changes_nothing(client):
    response = client.post("/lang", data={"lang": "en"})
    assert response.status_code == 400
    assert "Welcome" not in client.get("/").get_data(as_text=True)


def test_language_switch_and_large_text(client, csrf):
    client.get("/")
    token = csrf(client)
    client.post("/lang", data={"lang": "en", "csrf_token": token, "next": "/"})
    assert "Welcome! Please choose a service" in client.get("/").get_data(as_text=True)
    client.post("/lang", data={"lang": "zh_Hant", "csrf_token": token})
    html = client.get("/").get_data(as_text=True)
    assert 'lang="zh-HK"' in html
    client.post("/large-text", data={"csrf_token": token})
    assert "large-text" in client.get("/").get_data(as_text=True).split("<body", 1)[1].split(">", 1)[0]


def test_reset_forgets_the_last_users_choices(client, csrf):
    token = csrf(client)
    client.post("/lang", data={"lang": "en", "csrf_token": token})
    client.post("/large-text", data={"csrf_token": token})
    response = client.post("/reset", data={"csrf_token": token})
    assert response.status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and 'data-dirty="no"' in html
    with client.session_transaction() as sess:
        assert "lang" not in sess and "large_text" not in sess


def test_a_request_that_read_then_writes_holds_one_connection(make_app, database_url):
    """Sixteen threads each holding one connection and waiting for a second jam the pool."""
    from sqlalchemy import select, text

    from kiosk.db import get_session, write_transaction
    from kiosk.models import Station

    app = make_app(database_url, DATABASE_CONNECTIONS=2)
    engine = app.extensions["db"].engine
    with app.test_request_context("/"):
        station = get_session().scalar(select(Station))
        assert engine.pool.checkedout() == 1
        with write_transaction() as session:
            session.execute(text("SELECT 1"))
            assert engine.pool.checkedout() == 1
        assert station.name  # what the request read is still usable
        get_session().scalar(select(Station))
        assert engine.pool.checkedout() == 1
        # Handing a receipt to the print queue (which stores it on its own connection) lets go too.
        from kiosk.printing import submit
        from kiosk_hardware.receipt import Receipt

        submit(Receipt(), "test")
        assert not get_session().in_transaction()  # its connection is back in the pool
    assert engine.pool.size() == 2 and engine.pool._max_overflow == 0


@pytest.mark.parametrize("value", [0, 1, "many", True])
def test_database_connections_must_be_a_number_of_at_least_two(tmp_path, value):
    with pytest.raises(ConfigError, match="database_connections"):
        create_app({"INSTANCE_PATH": str(tmp_path), "STATION_FILE": "", "TESTING": True, "DATABASE_CONNECTIONS": value})


def _sqlite_db(make_app, tmp_path):
    """A station on its own SQLite file: its Database, and a function that writes one event."""
    from kiosk.models import KioskEvent

    app = make_app(f"sqlite:///{tmp_path}/writers.db")
    station_id = app.extensions["kiosk_station_id"]

    def write(session, name: str) -> None:
        session.add(KioskEvent(station_id=station_id, channel="t", name=name, payload={}))
        session.flush()

    return app.extensions["db"], write


def test_sqlite_writers_of_one_process_take_turns_on_a_lock_that_every_ending_releases(make_app, tmp_path):
    from sqlalchemy import func, select

    from kiosk.models import KioskEvent

    db, write = _sqlite_db(make_app, tmp_path)
    assert not db.write_lock.locked()
    for ending in ("commit", "rollback", "close"):
        session = db.Session()
        write(session, "t." + ending)
        assert db.write_lock.locked()  # the first write took it (BEGIN IMMEDIATE)
        getattr(session, ending)()
        assert not db.write_lock.locked(), ending
    with db.WriteSession() as session, session.begin():
        session.scalar(select(func.count()).select_from(KioskEvent))
        assert db.write_lock.locked()  # a write transaction takes it at its start, even to read
    assert not db.write_lock.locked()
    with db.Session() as session:
        assert session.scalars(select(KioskEvent.name)).all() == ["t.commit"]  # only the commit stored


def test_a_second_sqlite_writer_waits_for_the_first_and_then_writes(make_app, tmp_path):
    import threading

    from sqlalchemy import select

    from kiosk.models import KioskEvent

    db, write = _sqlite_db(make_app, tmp_path)
    first = db.Session()
    write(first, "t.first")
    order = []

    def second_writer():
        with db.Session() as session:
            write(session, "t.second")
            session.commit()
            order.append("second")

    thread = threading.Thread(target=second_writer)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive() and order == []  # waiting for the first writer
    order.append("first")
    first.commit()
    thread.join(10)
    assert order == ["first", "second"]
    with db.Session() as session:
        names = session.scalars(select(KioskEvent.name).order_by(KioskEvent.id)).all()
    assert names == ["t.first", "t.second"]
    assert not db.write_lock.locked()


def test_a_sqlite_writer_that_cannot_have_the_lock_gets_database_is_locked(make_app, tmp_path, monkeypatch):
    import threading

    from sqlalchemy.exc import OperationalError

    from kiosk import db as kiosk_db

    monkeypatch.setattr(kiosk_db, "SQLITE_WAIT", 0.2)
    db, write = _sqlite_db(make_app, tmp_path)
    holder = db.Session()
    # Another thread: a second session of the holder's own thread fails at once instead
    # (tests/test_db_writers.py).
    thread = threading.Thread(target=write, args=(holder, "t.holder"))
    thread.start()
    thread.join(10)
    assert db.write_lock.locked()
    other = db.Session()
    with pytest.raises(OperationalError, match="database is locked") as caught:
        write(other, "t.other")
    assert kiosk_db.unavailable(caught.value)  # the user gets "try again", not an error page
    other.rollback()
    holder.commit()
    assert not db.write_lock.locked()
