"""The example plugin examples/venue (场地预约), pip-installed and used through HTTP and a browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from kiosk import catalogs
from kiosk.testing import PG_URL, Auth, LiveServer, app_config, close_app, csrf_of, install_into, save_screenshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "venue")
TZ = ZoneInfo("Asia/Shanghai")
LABELS = {"zh_Hans": "场地预约", "zh_Hant": "場地預約", "en": "Venue booking"}


# -- installing the example for real ---------------------------------------------
@pytest.fixture(scope="session")
def venue_copy(tmp_path_factory) -> str:
    """A copy of examples/venue, so building and testing it leaves no files in the repository."""
    source = tmp_path_factory.mktemp("venue-src") / "venue"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return str(source)


@pytest.fixture(scope="session")
def venue_site(venue_copy, tmp_path_factory) -> str:
    """pip-installs the example into a private folder, as an operator would install it."""
    target = tmp_path_factory.mktemp("site-venue")
    install_into(venue_copy, str(target))
    return str(target)


@pytest.fixture
def venue_installed(venue_site):
    sys.path.insert(0, venue_site)
    try:
        yield venue_site
    finally:
        # Off the path, its entry point is gone for the next app; the module stays
        # imported because its tables are defined on the shared metadata.
        sys.path.remove(venue_site)


@pytest.fixture(scope="session")
def venue_sqlite_template(venue_site, tmp_path_factory) -> str:
    """A SQLite file migrated once with the example installed; SQLite tests copy it."""
    from kiosk.app import create_app

    folder = tmp_path_factory.mktemp("venue-template")
    sys.path.insert(0, venue_site)
    try:
        close_app(create_app(app_config(str(folder), "sqlite:///" + str(folder / "kiosk.db"))))
    finally:
        sys.path.remove(venue_site)
    return str(folder / "kiosk.db")


@pytest.fixture
def venue_url(backend, tmp_path, request) -> str:
    """A database for one test: a copy of the migrated SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        path = tmp_path / "venue.db"
        shutil.copy(request.getfixturevalue("venue_sqlite_template"), path)
        return "sqlite:///" + str(path)
    return request.getfixturevalue("fresh_database_url")


@pytest.fixture
def venue_app(venue_installed, make_app, venue_url):
    app = make_app(venue_url)
    assert app.extensions["kiosk_plugins"].infos["venue"].state == "enabled"
    return app


# -- helpers -------------------------------------------------------------------
def tomorrow() -> str:
    return (datetime.now(TZ).date() + timedelta(days=1)).isoformat()


def staff_client(app):
    client = app.test_client()
    Auth(app, client).login("staff")
    return client


def add_slot(staff, room="crafts", day=None, start="10:00", end="11:30", capacity="1"):
    return staff.post(
        "/staff/venue/slots",
        data={
            "room": room,
            "day": day or tomorrow(),
            "start": start,
            "end": end,
            "capacity": capacity,
            "csrf_token": csrf_of(staff),
        },
    )


def query(app, statement):
    with app.app_context():
        session = app.extensions["db"].Session()
        try:
            return session.execute(statement).all()
        finally:
            session.close()


def slot_ids(app) -> list[int]:
    from kiosk_venue.models import VenueSlot

    return [r[0] for r in query(app, select(VenueSlot.id).order_by(VenueSlot.id))]


def book(client, slot_id, phone=""):
    return client.post(f"/k/venue/slots/{slot_id}", data={"phone": phone, "csrf_token": csrf_of(client)})


def booked_code(client) -> str:
    page = client.get("/k/venue/booked").get_data(as_text=True)
    return re.search(r'data-testid="booking-code">(\d{6})<', page).group(1)


def wait_for_job(client, job_url, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(job_url).get_json()
        if state["state"] in ("done", "failed") or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


# -- the tests -------------------------------------------------------------------
def test_the_catalogs_are_complete():
    assert catalogs.missing(os.path.join(EXAMPLE, "kiosk_venue")) == {}


def test_the_guides_code_examples_are_the_example_plugins_code():
    """Every block in docs/plugins.md marked ``<!-- code: PATH -->`` is copied verbatim from PATH."""
    guide = Path(ROOT, "docs", "plugins.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- code: (\S+) -->\n```\w*\n(.*?)\n```", guide, re.DOTALL)
    assert len(blocks) >= 12
    for path, block in blocks:
        assert path.startswith("examples/venue/"), path
        source = Path(ROOT, path).read_text(encoding="utf-8")
        assert block in source, f"docs/plugins.md quotes {path}, which no longer has:\n{block}"


def test_its_own_tests_pass_with_the_kiosk_fixtures(venue_copy, venue_site, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "PYTEST_ADDOPTS", "PYTEST_XDIST"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (venue_site, os.environ.get("PYTHONPATH", "")) if p)
    if PG_URL:
        env["KIOSK_TEST_DATABASE_URL"] = PG_URL  # the same fixtures run them on PostgreSQL too
    # Its own temporary folder: another pytest run tidying /tmp/pytest-of-<user> must not remove it mid-run.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}"]
    run = subprocess.run(command, cwd=venue_copy, check=False, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    expected = r"\b4 passed\b" if PG_URL else r"\b2 passed, 2 skipped\b"
    assert re.search(expected, run.stdout), run.stdout[-2000:]


def test_the_tile_shows_in_every_language_at_a_service_centre_only(venue_installed, make_app, fresh_database_url):
    # From an empty database: the plugin's branch migrates along with the core's on both backends.
    venue_app = make_app(fresh_database_url)
    client = venue_app.test_client()
    assert 'data-tile="venue.booking"' in client.get("/").get_data(as_text=True)
    for lang, label in LABELS.items():
        client.post("/lang", data={"lang": lang, "next": "/", "csrf_token": csrf_of(client)})
        assert str(escape(label)) in client.get("/").get_data(as_text=True), lang
    assert client.get("/static/p/venue/venue.svg").status_code == 200
    # A courier rest station on the same database has no rooms to book.
    courier = make_app(
        fresh_database_url, STATION={"code": "sungang-bee", "name": "笋岗暖蜂驿站", "kind": "courier_station"}
    )
    assert 'data-tile="venue.booking"' not in courier.test_client().get("/").get_data(as_text=True)


def test_its_migrations_are_found_without_a_hook_and_downgrade(venue_installed, make_app, fresh_database_url):
    """The installed package's migrations/ folder is the venue branch; downgrade() drops its tables."""
    from sqlalchemy import inspect

    from kiosk import migrate

    venue_app = make_app(fresh_database_url)
    assert migrate.plugin_folders(venue_app)["venue"].startswith(venue_installed)
    engine = venue_app.extensions["db"].engine
    assert {"venue_slot", "venue_booking"} <= set(inspect(engine).get_table_names())
    assert migrate.downgrade(venue_app, "venue", "base") == []
    assert not {"venue_slot", "venue_booking"} & set(inspect(engine).get_table_names())
    migrate.upgrade(venue_app)
    assert {"venue_slot", "venue_booking"} <= set(inspect(engine).get_table_names())


def test_staff_define_slots_and_bad_input_changes_nothing(venue_app):
    assert venue_app.test_client().get("/staff/venue/").status_code == 302  # login first
    staff = staff_client(venue_app)
    assert add_slot(staff).status_code == 302
    assert len(slot_ids(venue_app)) == 1
    yesterday = (datetime.now(TZ).date() - timedelta(days=1)).isoformat()
    refused = {
        "end before start": add_slot(staff, start="15:00", end="14:00"),
        "in the past": add_slot(staff, day=yesterday),
        "no places": add_slot(staff, start="14:00", end="15:00", capacity="0"),
        "not a number": add_slot(staff, start="14:00", end="15:00", capacity="many"),
        "unknown room": add_slot(staff, room="rooftop", start="14:00", end="15:00"),
        "bad date": add_slot(staff, day="2024-13-40"),
        "overlap": add_slot(staff, start="11:00", end="12:00"),
    }
    for why, response in refused.items():
        assert response.status_code == 400, why
        assert 'data-testid="error"' in response.get_data(as_text=True), why
    assert len(slot_ids(venue_app)) == 1
    # The same time in another room is fine.
    assert add_slot(staff, room="reading", capacity="6").status_code == 302
    page = staff.get("/staff/venue/").get_data(as_text=True)
    assert "手工室" in page and "阅读区" in page and "0 / 6" in page


def test_a_resident_books_by_tapping_and_gets_a_printed_slip(venue_app):
    from kiosk.models import PrintJob
    from kiosk_hardware.receipt import Receipt
    from kiosk_venue.models import VenueBooking

    add_slot(staff_client(venue_app), capacity="2")
    (slot,) = slot_ids(venue_app)
    kiosk = venue_app.test_client()
    rooms = kiosk.get("/k/venue/").get_data(as_text=True)
    assert 'href="/k/venue/rooms/crafts"' in rooms and "空闲时段:1" in rooms
    times = kiosk.get("/k/venue/rooms/crafts").get_data(as_text=True)
    assert f'data-slot="{slot}"' in times and "明天" in times and "10:00–11:30" in times
    confirm = kiosk.get(f"/k/venue/slots/{slot}").get_data(as_text=True)
    assert 'data-osk="phone"' in confirm

    assert book(kiosk, slot, phone="138-1234-5678").status_code == 302
    page = kiosk.get("/k/venue/booked").get_data(as_text=True)
    code = re.search(r'data-testid="booking-code">(\d{6})<', page).group(1)
    assert "138****5678" in page and "13812345678" not in page
    job = re.search(r'data-print-job="([^"]+)"', page).group(1)
    assert wait_for_job(kiosk, f"/print-jobs/{job}")["state"] == "done"

    ((stored,),) = query(venue_app, select(VenueBooking))
    assert (stored.code, stored.phone, stored.status) == (code, "13812345678", "booked")
    ((job,),) = query(venue_app, select(PrintJob).where(PrintJob.layout == "venue.slip"))
    receipt = Receipt.from_dict(job.receipt)
    text = receipt.plain_text()
    assert code in text and "手工室" in text and "138****5678" in text and "13812345678" not in text
    assert any(b.get("data") == f"venue:{code}" for b in job.receipt["blocks"] if b.get("kind") == "qr")

    # Nothing of this resident is left for the next one once the screen resets.
    kiosk.post("/reset", data={"csrf_token": csrf_of(kiosk)})
    assert kiosk.get("/k/venue/booked").status_code == 302
    # A bad phone number is refused and no second booking is written.
    refused = book(kiosk, slot, phone="12345")
    assert refused.status_code == 400 and "11" in refused.get_data(as_text=True)
    assert query(venue_app, select(func.count()).select_from(VenueBooking))[0][0] == 1


def test_capacity_holds_when_kiosks_book_at_the_same_moment(venue_app):
    from kiosk_venue.models import VenueBooking

    add_slot(staff_client(venue_app), capacity="2")
    (slot,) = slot_ids(venue_app)
    clients = [venue_app.test_client() for _ in range(6)]
    for client in clients:
        client.get(f"/k/venue/slots/{slot}")
    start = threading.Barrier(len(clients))
    codes: list[int] = []

    def attempt(client):
        start.wait()
        codes.append(book(client, slot).status_code)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [302, 302, 409, 409, 409, 409]
    assert query(venue_app, select(func.count()).select_from(VenueBooking))[0][0] == 2
    full = clients[0].get("/k/venue/rooms/crafts").get_data(as_text=True)
    assert f'data-slot="{slot}"' not in full


def test_a_booking_is_found_by_code_or_scan_and_cancelling_frees_the_place(venue_app):

    from kiosk_hardware.readers import ReaderEvent

    add_slot(staff_client(venue_app))
    (slot,) = slot_ids(venue_app)
    kiosk = venue_app.test_client()
    book(kiosk, slot)
    code = booked_code(kiosk)
    assert book(venue_app.test_client(), slot).status_code == 409  # capacity 1

    hub = venue_app.extensions["reader_hub"]
    find_screen, home_screen = hub.subscribe("venue.find"), hub.subscribe("home")
    now = datetime.now(UTC)
    hub.publish(ReaderEvent(source="scanner", kind="code", value=f"venue:{code}", at=now))
    assert find_screen.get_nowait() == {"fill": {"code": code}, "submit": "#venue-find-form"}
    assert home_screen.empty()  # another screen's reads are not this plugin's
    hub.publish(ReaderEvent(source="scanner", kind="code", value="PARKING:ABC123", at=now))
    assert find_screen.empty()

    other = venue_app.test_client()
    assert other.post("/k/venue/find", data={"code": "12", "csrf_token": csrf_of(other)}).status_code == 400
    missing = "000000" if code != "000000" else "111111"
    assert other.post("/k/venue/find", data={"code": missing, "csrf_token": csrf_of(other)}).status_code == 404
    found = other.post("/k/venue/find", data={"code": code, "csrf_token": csrf_of(other)}).get_data(as_text=True)
    assert 'data-testid="found"' in found and "手工室" in found and 'data-testid="cancel"' in found
    cancelled = other.post("/k/venue/find/cancel", data={"code": code, "csrf_token": csrf_of(other)})
    assert 'data-testid="cancelled"' in cancelled.get_data(as_text=True)
    again = other.post("/k/venue/find/cancel", data={"code": code, "csrf_token": csrf_of(other)})
    assert again.status_code == 409
    # The place is free again.
    assert book(venue_app.test_client(), slot).status_code == 302


def test_the_staff_console_lists_todays_bookings(venue_app):
    from kiosk_venue.models import VenueBooking, VenueSlot

    station_id = venue_app.extensions["kiosk_station_id"]
    today = datetime.now(TZ).date()
    # Written directly: a slot earlier today could not be booked through the kiosk any more.
    # It starts at midnight, so it has begun whenever the test runs (even at 00:01).
    with venue_app.app_context():
        session = venue_app.extensions["db"].Session()
        slot = VenueSlot(
            station_id=station_id,
            room="cinema",
            capacity=1,
            starts_at=datetime(today.year, today.month, today.day, 0, 0, tzinfo=TZ),
            ends_at=datetime(today.year, today.month, today.day, 0, 50, tzinfo=TZ),
        )
        session.add(slot)
        session.flush()
        session.add(
            VenueBooking(station_id=station_id, slot_id=slot.id, code="246810", phone="13912345678", status="booked")
        )
        session.commit()
        session.close()
    staff = staff_client(venue_app)
    console = staff.get("/staff/").get_data(as_text=True)
    panel = console[console.index('id="panel-venue-today"') :]
    assert "246810" in panel and "儿童电影院" in panel and "00:00–00:50" in panel
    assert "139****5678" in panel and "13912345678" not in panel
    # The staff page shows the number in full, to call the resident, and can cancel.
    page = staff.get("/staff/venue/").get_data(as_text=True)
    assert "13912345678" in page
    (booking_id,) = [r[0] for r in query(venue_app, select(VenueBooking.id))]
    assert (
        staff.post(f"/staff/venue/bookings/{booking_id}/cancel", data={"csrf_token": csrf_of(staff)}).status_code == 409
    )  # it has begun


def test_demo_data_opens_every_room_in_the_coming_days(venue_app):
    import kiosk_venue
    from kiosk.models import Station

    with venue_app.app_context():
        session = venue_app.extensions["db"].Session()
        kiosk_venue.register_demo_data(session.get(Station, venue_app.extensions["kiosk_station_id"]), session)
        session.commit()
        session.close()
    rooms = venue_app.test_client().get("/k/venue/").get_data(as_text=True)
    # Two sessions a day for three days: tomorrow's and the next day's four are always ahead.
    assert len(re.findall(r"空闲时段:([4-6])", rooms)) == 4
    assert "已约满" not in rooms


# -- a real browser ----------------------------------------------------------------
def test_a_resident_taps_through_a_booking_and_scans_the_slip(
    venue_installed, make_app, tmp_path, page, venue_sqlite_template
):
    shutil.copy(venue_sqlite_template, tmp_path / "browser.db")
    app = make_app(
        "sqlite:///" + str(tmp_path / "browser.db"),
        SSE_MAX_SECONDS=20,
        DEVICES={
            "printer": {"type": "preview", "folder": str(tmp_path / "receipts")},
            "readers": {"scanner": {"type": "test", "kind": "code"}},
        },
    )
    devices = app.extensions["kiosk_devices"]
    devices.start()
    server = LiveServer(app)
    try:
        add_slot(staff_client(app), room="homework", start="16:00", end="17:30")
        server.enrol(page)  # the kiosk's screen is the station's terminal: scans reach it (issue 16)
        page.goto(server.url + "/")
        page.tap('[data-tile="venue.booking"]')
        page.tap('[data-room="homework"]')
        page.tap("[data-slot]")
        page.tap('[data-testid="book"]')
        page.wait_for_selector('#venue-print[data-state="done"]')
        code = page.inner_text('[data-testid="booking-code"]').strip()
        assert re.fullmatch(r"\d{6}", code)
        assert "作业辅导室" in page.inner_text("main")
        save_screenshot(page, "venue-booked")
        page.tap('[data-testid="done"]')
        page.wait_for_url(server.url + "/")

        page.tap('[data-tile="venue.booking"]')
        page.tap('[data-testid="find"]')
        hub = app.extensions["reader_hub"]
        deadline = time.monotonic() + 10
        while not any(screen == "venue.find" for screen, _q in hub._subscribers):
            assert time.monotonic() < deadline, "the look-up page never opened its reader stream"
            time.sleep(0.05)
        # The scanner reads the slip's QR code: the page fills in the code and submits.
        devices.manager.reader("scanner").inject("code", f"venue:{code}")
        page.wait_for_selector('[data-testid="found"]')
        page.tap('[data-testid="cancel"]')
        page.wait_for_selector('[data-testid="cancelled"]')
        save_screenshot(page, "venue-cancelled")
    finally:
        server.stop()
        devices.stop()
    from kiosk_venue.models import VenueBooking

    ((status,),) = query(app, select(VenueBooking.status).where(VenueBooking.code == code))
    assert status == "cancelled"
    assert len(list((tmp_path / "receipts").glob("*.png"))) == 1
