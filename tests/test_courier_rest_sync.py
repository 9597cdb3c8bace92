"""One rider registry for the district: two 暖蜂驿站 on their own SQLite files, a hub on the test backend.

Each station is a real app with its own database; ``kiosk.sync.local.transfer``
does one push and one pull through the same functions the HTTP transport
calls. Riders are driven through the real kiosk screens and the reader hub.
"""

from __future__ import annotations

import io
import os
import shutil
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from test_courier_rest_support import OTHER_SERVICES, SMALL, Kiosk, db, station_id, switch_off

from kiosk import sync
from kiosk.db import session_for
from kiosk.models import Station
from kiosk.sync.local import enrol_local, transfer
from kiosk.sync.models import SyncDown, SyncOutbox, SyncPeer
from kiosk.testing import csrf_of
from kiosk_hardware.readers import ReaderEvent
from kiosk_hardware.readers.events import utc_now
from kiosk_plugins.courier_rest import hazards, jobs
from kiosk_plugins.courier_rest import sync as courier_sync
from kiosk_plugins.courier_rest.models import Hazard, Rider, RiderAlias, Use, Visit

PHONE = "13812345678"


@pytest.fixture
def district(make_app, database_url, tmp_path, kiosk_database_template):
    """Stations ``a`` and ``b`` (SQLite files, other services off) enrolled at ``hub`` (the test backend)."""

    def station(code, name):
        path = tmp_path / f"{code}.db"
        shutil.copy(kiosk_database_template, path)
        app = make_app(
            f"sqlite:///{path}",
            STATION={"code": code, "name": name, "kind": "courier_station"},
            PLUGINS={"courier_rest": dict(SMALL)},
        )
        switch_off(app, *OTHER_SERVICES)
        return app

    hub = make_app(
        database_url,
        ROLE="hub",
        STATION={"code": "district", "name": "罗湖区", "kind": "party_service"},
        PLUGINS={"courier_rest": dict(SMALL)},
    )
    a = station("nf-sungang", "笋岗街道暖蜂驿站")
    b = station("nf-dongmen", "东门街道暖蜂驿站")
    enrol_local(a, hub)
    enrol_local(b, hub)
    return SimpleNamespace(hub=hub, a=a, b=b)


def _read(app, screen, kind, value):
    """Offer one card or code read to a page open on ``screen``; returns what the page was told."""
    hub = app.extensions["reader_hub"]
    q = hub.subscribe(screen)
    try:
        delivered = hub.publish(ReaderEvent(source="front", kind=kind, value=value, at=utc_now()))
        return q.get_nowait() if delivered else None
    finally:
        hub.unsubscribe(q)


def _tap(app, kiosk, screen, kind, value):
    """A card tap or code scan on ``kiosk``'s page; returns the page it lands on."""
    action = _read(app, screen, kind, value)
    assert action is not None and "redirect" in action, action
    return kiosk.follow(kiosk.get(action["redirect"]))


def _register_with_card(app, card, name="王小燕", phone=PHONE):
    """A new rider taps an unknown card and registers (and is checked in)."""
    kiosk = Kiosk(app.test_client())
    kiosk.get("/k/courier_rest/")
    page = _tap(app, kiosk, "courier_rest.checkin", "card", card)
    assert page.request.path == "/k/courier_rest/register"
    page = kiosk.register(name=name, phone=phone, platform="eleme")
    assert page.status_code == 200 and 'data-result="registered"' in page.get_data(as_text=True)
    return kiosk


def _riders(app):
    with db(app) as s:
        return [
            (r.uid, r.phone, r.card_uid, r.pass_token, r.home_station)
            for r in s.scalars(select(Rider).where(Rider.station_id == station_id(app)).order_by(Rider.id))
        ]


def _visits(app, rider_uid=None, station_code=None):
    """(station code, method in, method out) of the visits in ``app``'s database, oldest first."""
    with db(app) as s:
        query = (
            select(Station.code, Visit.method_in, Visit.method_out)
            .join(Station, Station.id == Visit.station_id)
            .join(Rider, Rider.id == Visit.rider_id)
            .order_by(Visit.checked_in_at, Visit.id)
        )
        if rider_uid is not None:
            query = query.where(Rider.uid == rider_uid)
        if station_code is not None:
            query = query.where(Station.code == station_code)
        return [tuple(row) for row in s.execute(query).all()]


def _hub_riders(hub):
    with db(hub) as s:
        return s.scalars(select(Rider).order_by(Rider.id)).all()


def test_a_rider_registered_at_a_checks_in_at_b_by_card_phone_and_pass_code(district):
    a, b, hub = district.a, district.b, district.hub
    kiosk_a = _register_with_card(a, "04:a2:1b:9c")
    kiosk_a.checkout()
    [(uid, phone, card, token, home)] = _riders(a)
    assert (phone, card, home) == (PHONE, "04A21B9C", "nf-sungang") and len(uid) >= 16
    # B does not know the rider before the sync: the card asks for a registration.
    probe = Kiosk(b.test_client())
    probe.get("/k/courier_rest/")
    assert _tap(b, probe, "courier_rest.checkin", "card", "04A21B9C").request.path == "/k/courier_rest/register"

    pushed, _ = transfer(a, hub)
    assert pushed >= 3  # the rider, the visit opened at registration, its check-out
    transfer(b, hub)
    assert _riders(b) == [(uid, PHONE, "04A21B9C", token, "nf-sungang")]

    kiosk_b = Kiosk(b.test_client())
    kiosk_b.get("/k/courier_rest/")
    menu = _tap(b, kiosk_b, "courier_rest.checkin", "card", "04 a2 1b 9c")
    assert menu.request.path == "/k/courier_rest/menu"
    assert "王*燕" in menu.get_data(as_text=True)
    kiosk_b.checkout()
    menu = _tap(b, kiosk_b, "courier_rest.checkin", "code", f"https://hub.example.org/m/courier_rest/r/{token}")
    assert menu.request.path == "/k/courier_rest/menu"
    kiosk_b.checkout()
    assert kiosk_b.phone(PHONE).request.path == "/k/courier_rest/menu"
    assert _visits(b) == [("nf-dongmen", "card", "card"), ("nf-dongmen", "qr", "qr"), ("nf-dongmen", "phone", "")]

    transfer(b, hub)
    [rider] = _hub_riders(hub)
    assert (rider.uid, rider.phone, rider.home_station) == (uid, PHONE, "nf-sungang")
    assert rider.station_id == station_id(hub)  # the registry is the district's
    assert _visits(hub, uid) == [
        ("nf-sungang", "card", "card"),
        ("nf-dongmen", "card", "card"),
        ("nf-dongmen", "qr", "qr"),
        ("nf-dongmen", "phone", ""),
    ]


def test_check_in_works_offline_for_every_rider_the_station_knows(district):
    a, b, hub = district.a, district.b, district.hub
    _register_with_card(a, "CAFE0001").checkout()
    transfer(a, hub)
    transfer(b, hub)
    # B's link is down from here on: nothing is transferred while the rider comes and goes.
    kiosk_b = Kiosk(b.test_client())
    assert kiosk_b.phone(PHONE).request.path == "/k/courier_rest/menu"
    page = kiosk_b.take("phone")
    assert 'data-result="slot"' in page.get_data(as_text=True)
    kiosk_b.checkout()
    with db(b) as s:
        waiting = s.scalars(
            select(SyncOutbox.data).where(SyncOutbox.kind == "courier_rest.visit", SyncOutbox.sent_at.is_(None))
        ).all()
    assert waiting and waiting[-1]["method_out"] == "phone"
    assert [u["kind"] for u in waiting[-1]["uses"]] == ["phone"] and waiting[-1]["uses"][0]["state"] == "ended"
    # The link comes back: the visit reaches the hub with the charging slot it used.
    transfer(b, hub)
    with db(hub) as s:
        visit = s.scalar(
            select(Visit).join(Station, Station.id == Visit.station_id).where(Station.code == "nf-dongmen")
        )
        assert visit.open_rider_id is None and visit.checked_out_at is not None
        assert [(u["kind"], u["slot"], u["end_reason"]) for u in visit.uses] == [("phone", 1, "checkout")]


def test_the_same_phone_registered_offline_at_two_stations_becomes_one_rider(district):
    a, b, hub = district.a, district.b, district.hub
    # Both stations offline: the rider registers at A, then at B with the same phone.
    _register_with_card(a, "AAAA0001").checkout()
    kiosk_b = _register_with_card(b, "BBBB0002", name="王小燕")
    kiosk_b.checkout()
    assert kiosk_b.phone(PHONE).request.path == "/k/courier_rest/menu"  # a second visit at B
    [(uid_a, _, _, token_a, _)] = _riders(a)
    [(uid_b, _, _, token_b, _)] = _riders(b)
    assert uid_a != uid_b

    transfer(a, hub)  # A's registration reaches the hub first: its uid wins
    transfer(b, hub)
    transfer(a, hub)
    # One rider at the hub and at both stations, under A's uid, with A's card and code.
    assert [(r.uid, r.phone, r.card_uid) for r in _hub_riders(hub)] == [(uid_a, PHONE, "AAAA0001")]
    assert _riders(a) == [(uid_a, PHONE, "AAAA0001", token_a, "nf-sungang")]
    assert _riders(b) == [(uid_a, PHONE, "AAAA0001", token_a, "nf-sungang")]
    for app in (hub, a, b):
        with db(app) as s:
            alias = s.scalar(select(RiderAlias).where(RiderAlias.station_id == station_id(app)))
            assert (alias.uid, alias.pass_token, alias.card_uid) == (uid_b, token_b, "BBBB0002")
            assert s.get(Rider, alias.rider_id).uid == uid_a
    # Every visit kept, now the one rider's: B's two (one still open) at B and at the hub.
    assert _visits(b, uid_a) == [("nf-dongmen", "card", "card"), ("nf-dongmen", "phone", "")]
    assert _visits(hub, uid_a) == [
        ("nf-sungang", "card", "card"),
        ("nf-dongmen", "card", "card"),
        ("nf-dongmen", "phone", ""),
    ]
    # The rider is still checked in at B after the merge, and checks out there.
    assert kiosk_b.phone(PHONE).request.path == "/k/courier_rest/menu"
    assert 'data-result="checkout"' in kiosk_b.checkout().get_data(as_text=True)
    # The merged registration's card and code keep working, at either station.
    kiosk_a = Kiosk(a.test_client())
    kiosk_a.get("/k/courier_rest/")
    assert _tap(a, kiosk_a, "courier_rest.checkin", "card", "BBBB0002").request.path == "/k/courier_rest/menu"
    kiosk_a.checkout()
    page = _tap(a, kiosk_a, "courier_rest.checkin", "code", f"https://hub.example.org/m/courier_rest/r/{token_b}")
    assert page.request.path == "/k/courier_rest/menu"
    kiosk_a.checkout()
    assert [v[1] for v in _visits(a, uid_a)] == ["card", "card", "qr"]
    kiosk_b.get("/k/courier_rest/")
    assert _tap(b, kiosk_b, "courier_rest.checkin", "card", "AAAA0001").request.path == "/k/courier_rest/menu"
    # What the stations did after the merge reaches the hub under the one rider.
    transfer(a, hub)
    transfer(b, hub)
    assert len(_visits(hub, uid_a)) == 6
    assert len(_hub_riders(hub)) == 1


def test_the_first_registration_to_reach_the_hub_wins(district):
    a, b, hub = district.a, district.b, district.hub
    _register_with_card(a, "AAAA0001")
    _register_with_card(b, "BBBB0002")
    [(uid_b, *_)] = _riders(b)
    transfer(b, hub)  # B's news arrives first this time
    transfer(a, hub)
    transfer(b, hub)
    for app in (hub, a, b):
        with db(app) as s:
            assert s.scalars(select(Rider.uid)).all() == [uid_b]
    # The rider was checked in at both stations when the merge happened: both visits stay open, each at its station.
    with db(a) as s:
        assert s.scalar(select(func.count()).select_from(Visit).where(Visit.open_rider_id.is_not(None))) == 1


def test_replays_change_nothing(district):
    a, b, hub = district.a, district.b, district.hub
    _register_with_card(a, "AAAA0001").checkout()
    _register_with_card(b, "BBBB0002").checkout()
    transfer(a, hub)
    transfer(b, hub)
    transfer(a, hub)

    def snapshot():
        out = {}
        for name, app in (("hub", hub), ("a", a), ("b", b)):
            with db(app) as s:
                out[name] = (
                    _riders(app),
                    sorted(s.scalars(select(RiderAlias.uid)).all()),
                    _visits(app),
                )
        return out

    before = snapshot()
    with db(hub) as s:
        downs = s.scalar(select(func.count(SyncDown.id)))
    # Every entry of A sent again, as after a crash before the station heard the answer.
    with a.app_context(), session_for(a) as s:
        entries = sync.pending(s, station_id(a), 0, 1000)
    assert entries
    with hub.app_context(), session_for(hub, write=True) as s:
        station = s.scalar(select(Station).where(Station.code == "nf-sungang"))
        peer = s.get(SyncPeer, station.id)
        assert sync.apply_batch(hub, s, station, peer, 0, entries) == entries[-1]["seq"]
        # And each applied once more by hand, as a hub that lost its position would.
        for entry in entries:
            sync.kinds(hub)[entry["kind"]].to_hub(s, station, entry["key"], entry["data"])
        s.commit()
    # Both stations pull everything the hub ever published, again.
    for app in (a, b):
        with app.app_context(), session_for(app, write=True) as s:
            sync.state(s, station_id(app)).pulled_id = 0
            s.commit()
        transfer(app, hub)
    after = snapshot()
    assert after == before
    with db(hub) as s:
        # The hand-applied copies republished the riders; nothing else was added.
        assert s.scalar(select(func.count(SyncDown.id))) >= downs


def test_bad_rider_entries_change_nothing(district):
    a, hub = district.a, district.hub
    _register_with_card(a, "AAAA0001")
    transfer(a, hub)
    [(uid, *_)] = _riders(a)
    with hub.app_context(), session_for(hub, write=True) as s:
        station = s.scalar(select(Station).where(Station.code == "nf-sungang"))
        to_hub = sync.kinds(hub)["courier_rest.rider"].to_hub
        to_hub(s, station, "x" * 16, {"uid": "x" * 16, "phone": "12345", "pass_token": "t" * 20})
        to_hub(s, station, uid, {"uid": "another", "phone": PHONE, "pass_token": "t" * 20})  # key and uid differ
        to_hub(s, station, "y" * 16, "not a record")
        visit_to_hub = sync.kinds(hub)["courier_rest.visit"].to_hub
        visit_to_hub(s, station, "v" * 16, {"rider": "nobody", "checked_in_at": "2026-12-06T08:00:00+00:00"})
        visit_to_hub(s, station, "w" * 16, {"rider": uid, "checked_in_at": "not a time"})
        s.commit()
    assert [(r.uid, r.phone) for r in _hub_riders(hub)] == [(uid, PHONE)]
    assert len(_visits(hub)) == 1


def test_a_kept_hazard_report_becomes_a_hub_petition(district):
    a, hub = district.a, district.hub
    kiosk = _register_with_card(a, "AAAA0001")
    kiosk.get("/k/courier_rest/hazard")
    page = kiosk.follow(
        kiosk.post("/k/courier_rest/hazard", category="traffic", note="东门路口红绿灯坏了", action="send")
    )
    assert 'data-result="hazard"' in page.get_data(as_text=True)
    with db(a) as s:
        report = s.scalar(select(Hazard))
        report_id = report.id
        assert report.state == "kept"  # no petitions plugin at this station: kept, and sent to the hub
    transfer(a, hub)
    with db(hub) as s:
        [filed] = s.scalars(select(Hazard)).all()
        assert (filed.state, filed.category, filed.note) == ("forward", "traffic", "东门路口红绿灯坏了")
    with hub.app_context():
        assert jobs.forward_hazards(hub) == 1
        assert jobs.forward_hazards(hub) == 0  # filed once
    with db(hub) as s:
        filed = s.scalar(select(Hazard))
        assert filed.state == "sent" and filed.tracking_no
        tracking_no = filed.tracking_no
    transfer(a, hub)
    with db(a) as s:
        report = s.get(Hazard, report_id)
        assert (report.state, report.tracking_no) == ("sent", tracking_no)
    # A replay of the station's entry files nothing again.
    with hub.app_context(), session_for(hub, write=True) as s:
        station = s.scalar(select(Station).where(Station.code == "nf-sungang"))
        courier_sync.hazard_to_hub(
            s, station, report.upload_token, {"category": "traffic", "note": "东门路口红绿灯坏了", "state": "kept"}
        )
        s.commit()
    with hub.app_context():
        assert jobs.forward_hazards(hub) == 0


def test_the_pass_page_opens_at_the_hub_with_what_the_stations_reported(district):
    a, b, hub = district.a, district.b, district.hub
    _register_with_card(a, "CAFE0001").checkout()
    [(uid, _, _, token, _)] = _riders(a)
    transfer(a, hub)
    transfer(b, hub)
    phone = hub.test_client()
    page = phone.get(f"/m/courier_rest/r/{token}?station=nf-dongmen")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:500]
    assert "王*燕" in html and "138****5678" in html and "13812345678" not in html
    assert 'data-testid="as-of"' in html and 'data-testid="holding-phone"' not in html
    # Checked in at B with a phone charging: the hub's page shows it once B has synced.
    kiosk_b = Kiosk(b.test_client())
    kiosk_b.phone(PHONE)
    kiosk_b.take("phone")
    transfer(b, hub)
    html = phone.get(f"/m/courier_rest/r/{token}?station=nf-dongmen").get_data(as_text=True)
    assert 'data-testid="holding-phone"' in html and "1 号位" in html
    assert phone.get("/m/courier_rest/r/NoSuchTokenAtAll0000?station=nf-dongmen").status_code == 404


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def test_a_hazard_photo_from_the_phone_reaches_the_hub_and_the_petition(district):
    a, hub = district.a, district.hub
    kiosk = _register_with_card(a, "AAAA0001")
    kiosk.get("/k/courier_rest/hazard")
    page = kiosk.follow(kiosk.post("/k/courier_rest/hazard", category="safety_hazard", note="井盖松动", action="photo"))
    with db(a) as s:
        report = s.scalar(select(Hazard))
        token, report_id = report.upload_token, report.id
    # The QR code on the kiosk opens the hub's upload page (the link is the hub's on an enrolled station).
    assert "<svg" in page.get_data(as_text=True)
    transfer(a, hub)
    phone = hub.test_client()
    upload = f"/m/courier_rest/hazard/{token}?station=nf-sungang"
    assert phone.get(upload).status_code == 200
    added = phone.post(
        upload,
        content_type="multipart/form-data",
        data={"csrf_token": csrf_of(phone), "photo": (io.BytesIO(_jpeg()), "IMG_0001.jpg")},
    )
    assert added.status_code == 302
    with db(hub) as s:
        assert len(s.scalar(select(Hazard)).photos) == 1
    # The kiosk sends it: the hub files it with the phone's photo and the number comes back.
    kiosk.post(f"/k/courier_rest/hazard/{report_id}/send")
    transfer(a, hub)
    with hub.app_context():
        assert jobs.forward_hazards(hub) == 1
    with db(hub) as s:
        filed = s.scalar(select(Hazard))
        assert filed.state == "sent" and filed.tracking_no and len(filed.photos) == 1
        assert all(os.path.exists(p) for p in hazards.photo_paths(hub, filed))
    transfer(a, hub)
    with db(a) as s:
        assert s.get(Hazard, report_id).tracking_no == filed.tracking_no
    assert filed.tracking_no in phone.get(upload).get_data(as_text=True)


def test_a_hazard_sent_from_the_phone_at_the_hub_is_filed_once(district):
    a, hub = district.a, district.hub
    kiosk = _register_with_card(a, "AAAA0001")
    kiosk.get("/k/courier_rest/hazard")
    kiosk.post("/k/courier_rest/hazard", category="traffic", note="路口红绿灯坏了", action="photo")
    with db(a) as s:
        report = s.scalar(select(Hazard))
        token, report_id = report.upload_token, report.id
    transfer(a, hub)
    phone = hub.test_client()
    phone.get(f"/m/courier_rest/hazard/{token}?station=nf-sungang")
    phone.post(f"/m/courier_rest/hazard/{token}/send", data={"csrf_token": csrf_of(phone)})
    with db(hub) as s:
        filed = s.scalar(select(Hazard))
        assert filed.state == "sent" and filed.tracking_no
    # The station's job sends its draft later: the hub already filed it, nothing is filed twice.
    later = utc_now() + hazards.PHOTO_WINDOW * 2
    with a.app_context():
        assert jobs.tick(a, later)["hazards"] == 1
    transfer(a, hub)
    with hub.app_context():
        assert jobs.forward_hazards(hub, later) == 0
    with db(hub) as s:
        assert s.scalar(select(func.count(Hazard.id))) == 1
    with db(a) as s:
        assert (s.get(Hazard, report_id).state, s.get(Hazard, report_id).tracking_no) == ("sent", filed.tracking_no)


def test_two_stations_sending_the_same_new_phone_at_once_make_one_rider(district, backend):
    if backend != "postgresql":
        pytest.skip("on SQLite the hub's write transactions take the lock first: two batches cannot overlap")
    import threading

    from sqlalchemy import text

    a, b, hub = district.a, district.b, district.hub
    _register_with_card(a, "AAAA0001")
    _register_with_card(b, "BBBB0002")
    entries = {}
    for code, app in (("nf-sungang", a), ("nf-dongmen", b)):
        with db(app) as s:
            entries[code] = courier_sync.rider_data(s.scalar(select(Rider)))
    to_hub = sync.kinds(hub)["courier_rest.rider"].to_hub
    errors = []

    def apply(code):
        try:
            with hub.app_context(), session_for(hub, write=True) as s:
                station = s.scalar(select(Station).where(Station.code == code))
                to_hub(s, station, entries[code]["uid"], entries[code])
                s.commit()
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    first_applied = threading.Event()
    release = threading.Event()

    def first():
        with hub.app_context(), session_for(hub, write=True) as s:
            station = s.scalar(select(Station).where(Station.code == "nf-sungang"))
            to_hub(s, station, entries["nf-sungang"]["uid"], entries["nf-sungang"])
            first_applied.set()
            release.wait(10)
            s.commit()

    one = threading.Thread(target=first)
    one.start()
    assert first_applied.wait(10)
    two = threading.Thread(target=apply, args=("nf-dongmen",))
    two.start()
    # Wait until the second batch is blocked on the first one's uncommitted phone, then let the first commit.
    with hub.app_context(), session_for(hub) as s:
        for _ in range(100):
            if s.scalar(text("select count(*) from pg_locks where not granted")):
                break
            s.rollback()
            threading.Event().wait(0.05)
    release.set()
    one.join(10)
    two.join(10)
    assert errors == []
    assert [r.uid for r in _hub_riders(hub)] == [entries["nf-sungang"]["uid"]]
    with db(hub) as s:
        assert s.scalars(select(RiderAlias.uid)).all() == [entries["nf-dongmen"]["uid"]]


def test_riders_registered_before_the_registry_are_sent_once(district):
    a, b, hub = district.a, district.b, district.hub
    with db(a) as s:
        # As the upgrade leaves a rider registered before: a uid, no home station.
        s.add(
            Rider(
                station_id=station_id(a),
                name="李四",
                phone="13900000009",
                platform="sf",
                vehicle="ebike",
                card_uid="OLDCARD1",
                pass_token="p" * 24,
                home_station="",
            )
        )
        s.commit()
    with a.app_context():
        assert jobs.announce_riders(a) == 1
        assert jobs.announce_riders(a) == 0
    transfer(a, hub)
    transfer(b, hub)
    assert [(r.phone, r.home_station) for r in _hub_riders(hub)] == [("13900000009", "nf-sungang")]
    kiosk_b = Kiosk(b.test_client())
    kiosk_b.get("/k/courier_rest/")
    assert _tap(b, kiosk_b, "courier_rest.checkin", "card", "OLDCARD1").request.path == "/k/courier_rest/menu"


def test_a_merge_of_two_riders_a_station_holds_keeps_every_visit_and_place(district):
    b = district.b
    kiosk_one = Kiosk(b.test_client())
    kiosk_one.signup(name="张三明", phone="13800000001")
    kiosk_one.finish()
    kiosk_two = Kiosk(b.test_client())
    kiosk_two.signup(name="张三明", phone="13800000002")
    kiosk_two.take("seat")
    kiosk_two.finish()
    with db(b) as s:
        one, two = s.scalars(select(Rider).order_by(Rider.id)).all()
        uid_one, uid_two, token_two = one.uid, two.uid, two.pass_token
    # The hub says the second registration is the first rider (as after a merge elsewhere).
    with b.app_context(), session_for(b, write=True) as s:
        station = s.get(Station, station_id(b))
        data = {"uid": uid_two, "merged_into": uid_one, "pass_token": token_two, "card_uid": None}
        courier_sync.rider_to_station(s, station, uid_two, data)
        courier_sync.rider_to_station(s, station, uid_two, data)  # a replay changes nothing
        s.commit()
    with db(b) as s:
        [rider] = s.scalars(select(Rider)).all()
        assert rider.uid == uid_one
        visits = s.scalars(select(Visit).order_by(Visit.id)).all()
        assert [v.rider_id for v in visits] == [rider.id, rider.id]  # no visit lost
        # One open visit per rider: the merged one is closed (kept as history), the seat moves over.
        assert [(v.open_rider_id, v.method_out) for v in visits] == [(rider.id, ""), (None, "merge")]
        [seat] = s.scalars(select(Use)).all()
        assert (seat.rider_id, seat.live_holder, seat.state) == (rider.id, f"{rider.id}:seat", "active")
    menu = Kiosk(b.test_client())
    menu.get("/k/courier_rest/")
    page = _tap(b, menu, "courier_rest.checkin", "code", f"https://hub.example.org/m/courier_rest/r/{token_two}")
    assert page.request.path == "/k/courier_rest/menu"
