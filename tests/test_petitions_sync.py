"""Petitions in a district: taken at a station, owned by the hub after intake, their status back at the kiosk.

Each test runs station nodes (their own SQLite files, role station) and a hub
(role hub, on this run's backend) in one process; ``kiosk.sync.local`` moves
entries between them by calling the functions the HTTP transport calls. The
dispatch system is a real HTTP server that checks every body's signature.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from kiosk import jobs
from kiosk.sync import local
from kiosk.testing import csrf_of
from tests.test_petitions_outbox import Receiver

HUB_SECRET = "hub-secret-龙岗区"
STATION_SECRET = "station-secret-水贝"
HUB_PUBLIC = "https://hub.example.gov.cn"
OPEN311_KEY = "district-open311-key"
#: The district's read key (details and photos); the hub's settings keep its SHA-256 only.
READ_KEY = "district-read-key-for-the-dashboard-0123456789"
READ = {"X-Api-Key": READ_KEY}
SHUIBEI = {"code": "shuibei", "name": "水贝社区党群服务中心", "kind": "party_service"}
SUNGANG = {"code": "sungang", "name": "笋岗暖蜂驿站", "kind": "courier_station"}
DISTRICT = {"code": "district", "name": "罗湖区群众诉求服务中心", "kind": "party_service"}


def forwarding(url: str, secret: str) -> dict:
    # Delivery only when the test runs the jobs: no background thread races the assertions.
    return {"petitions": {"webhook": {"url": url, "secret": secret, "timeout": 2}, "deliver_immediately": False}}


@pytest.fixture
def receivers():
    made = {"hub": Receiver(secret=HUB_SECRET), "station": Receiver(secret=STATION_SECRET)}
    yield made
    for receiver in made.values():
        receiver.stop()


@pytest.fixture
def district(make_app, database_url, kiosk_database_template, tmp_path, receivers):
    """``district.hub`` and ``district.station(code)``: apps enrolled at the hub, forwarding to their receivers."""

    class District:
        def __init__(self):
            plugins = forwarding(receivers["hub"].url, HUB_SECRET)
            read_key = {
                "name": "district",
                "sha256": hashlib.sha256(READ_KEY.encode()).hexdigest(),
                "scopes": ["read:details", "read:photos"],
            }
            plugins["petitions"]["open311"] = {"api_keys": [OPEN311_KEY], "read_keys": [read_key]}
            self.hub = make_app(
                database_url, ROLE="hub", STATION=dict(DISTRICT), PUBLIC_URL=HUB_PUBLIC, PLUGINS=plugins
            )
            self.stations: dict[str, object] = {}

        def station(self, config=SHUIBEI, enrol=True, **settings):
            path = tmp_path / f"station-{config['code']}.db"
            shutil.copy(kiosk_database_template, path)
            plugins = forwarding(receivers["station"].url, STATION_SECRET)
            plugins["petitions"].update(settings)
            app = make_app("sqlite:///" + str(path), STATION=dict(config), PLUGINS=plugins)
            self.stations[config["code"]] = app
            if enrol:
                self.enrol(app)
            return app

        def enrol(self, app):
            local.enrol_local(app, self.hub)
            # What `kiosk sync join` learns from the hub: phone links open there.
            from kiosk.db import session_for
            from kiosk.sync.models import SyncState

            with app.app_context(), session_for(app, write=True) as s:
                s.execute(update(SyncState).values(hub_public_url=HUB_PUBLIC))
                s.commit()

    return District()


def rows(app, model, *where):
    with app.extensions["db"].Session() as s:
        return s.scalars(select(model).where(*where).order_by(model.id)).all()


def file_at_kiosk(app, description="楼道垃圾堆放，气味很大", **fields) -> str:
    """A resident reports at the station's kiosk, leaving a phone number; returns the status token."""
    client = app.test_client()
    client.get("/k/petitions/new")
    data = {
        "csrf_token": csrf_of(client),
        "step": "4",
        "go": "submit",
        "type": "complaint",
        "category": "environment",
        "place": "other",
        "description": description,
        "anonymous": "0",
        "name": "李阿姨",
        "phone": "13812345678",
    }
    data.update(fields)
    answer = client.post("/k/petitions/new", data=data)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.headers["Location"].rsplit("/", 1)[-1].split("?")[0]


def a_jpeg() -> bytes:
    image = Image.new("RGB", (320, 240), (30, 140, 60))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def run_jobs(app) -> list[str]:
    return jobs.run_due(app)


def staff_client(app, role="staff"):
    from kiosk.testing import Auth

    client = app.test_client()
    assert Auth(app, client).login(role).status_code in (302, 303)
    # A staff page gives the session its form token (a hub's "/" is no kiosk screen and gives none).
    assert client.get("/staff/petitions/").status_code == 200
    return client


def hub_petition(hub, tracking_no):
    from kiosk_plugins.petitions.models import Petition

    (found,) = rows(hub, Petition, Petition.tracking_no == tracking_no)
    return found


# -- up: the station hands the request over; the hub forwards it --------------------------------
def test_a_station_request_is_forwarded_once_by_the_hub_signed_with_the_hubs_secret(district, receivers):
    from kiosk.models import Station
    from kiosk_plugins.petitions.models import OutboxMessage, Petition, PetitionPhoto

    station = district.station()
    token = file_at_kiosk(station)
    (taken,) = rows(station, Petition)
    # An enrolled station writes no dispatch message and its jobs send nothing.
    assert rows(station, OutboxMessage) == []
    run_jobs(station)
    assert receivers["station"].got == []

    pushed, _ = local.transfer(station, district.hub)
    assert pushed >= 1
    at_hub = hub_petition(district.hub, taken.tracking_no)
    (shuibei,) = rows(district.hub, Station, Station.code == "shuibei")
    assert at_hub.station_id == shuibei.id
    assert (at_hub.uid, at_hub.token, at_hub.description) == (taken.uid, token, "楼道垃圾堆放，气味很大")
    assert (at_hub.contact_name, at_hub.contact_phone) == ("李阿姨", "13812345678"), "staff at the hub can call back"
    assert at_hub.synced_at is not None and rows(district.hub, PetitionPhoto) == []

    ran = run_jobs(district.hub)
    assert "petitions.deliver_district" in ran and "petitions.deliver" not in ran, ran
    assert receivers["hub"].rejected == 0 and len(receivers["hub"].got) == 1
    headers, body = receivers["hub"].got[0]
    doc = json.loads(body)
    assert (doc["tracking_no"], doc["request_id"], doc["event"]) == (taken.tracking_no, taken.uid, "created")
    assert doc["station"]["code"] == "shuibei"
    assert receivers["station"].got == [], "the station's own webhook and secret are never used"

    # A replayed transfer (the station lost the hub's answer) and a replayed entry change nothing.
    from kiosk.db import session_for
    from kiosk.sync.models import SyncOutbox, SyncState

    with station.app_context(), session_for(station, write=True) as s:
        s.execute(update(SyncState).values(acked_seq=0))
        s.execute(update(SyncOutbox).values(sent_at=None))
        s.commit()
    local.transfer(station, district.hub)
    (entry,) = rows(station, SyncOutbox, SyncOutbox.kind == "petitions.petition")
    from kiosk_plugins.petitions import syncing

    with district.hub.app_context(), session_for(district.hub, write=True) as s:
        syncing.to_hub(s, s.get(Station, shuibei.id), entry.key, entry.data)
        s.commit()
    from kiosk_plugins.petitions import outbox

    with district.hub.app_context():
        assert outbox.deliver_due(district.hub) == {"delivered": 0, "failed": 0}
    assert len(rows(district.hub, Petition)) == 1 and len(rows(district.hub, OutboxMessage)) == 1
    assert len(receivers["hub"].got) == 1, "delivered exactly once"


def test_a_request_taken_before_enrolment_is_forwarded_by_the_station_alone(district, receivers):
    from kiosk_plugins.petitions import outbox
    from kiosk_plugins.petitions.models import OutboxMessage, Petition

    station = district.station(enrol=False)
    file_at_kiosk(station)
    (taken,) = rows(station, Petition)
    run_jobs(station)
    assert [json.loads(b)["tracking_no"] for _h, b in receivers["station"].got] == [taken.tracking_no]
    assert receivers["station"].rejected == 0, "standing alone, the station signs with its own secret"

    district.enrol(station)
    local.transfer(station, district.hub)
    assert hub_petition(district.hub, taken.tracking_no).uid == taken.uid, "the district still gets the request"
    assert rows(district.hub, OutboxMessage) == []
    run_jobs(district.hub)
    assert receivers["hub"].got == [], "not forwarded a second time"
    # What it takes from now on is the hub's to forward.
    file_at_kiosk(station, description="小区门口路灯不亮")
    assert len(rows(station, OutboxMessage)) == 1
    local.transfer(station, district.hub)
    with district.hub.app_context():
        assert outbox.deliver_due(district.hub)["delivered"] == 1
    assert len(receivers["hub"].got) == 1 and len(receivers["station"].got) == 1


def test_photos_travel_with_the_request_and_the_hub_serves_them(district):
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    station = district.station()
    client = station.test_client()
    client.get("/m/petitions/")
    answer = client.post(
        "/m/petitions/",
        data={
            "csrf_token": csrf_of(client),
            "type": "help",
            "category": "safety_hazard",
            "place": "other",
            "description": "路灯坏了，晚上很黑",
            "anonymous": "1",
            "photos": [(io.BytesIO(a_jpeg()), "lamp.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    (photo,) = rows(station, PetitionPhoto)
    local.transfer(station, district.hub)
    (at_hub,) = rows(district.hub, PetitionPhoto)
    assert (at_hub.token, at_hub.width, at_hub.height) == (photo.token, photo.width, photo.height)
    (taken,) = rows(station, Petition)
    assert hub_petition(district.hub, taken.tracking_no).id == at_hub.request_id
    with open(f"{station.instance_path}/uploads/petitions/{photo.station_id}/{photo.filename}", "rb") as fh:
        original = fh.read()
    served = district.hub.test_client().get(f"/m/petitions/media/{photo.token}.jpg?station=shuibei", headers=READ)
    assert served.status_code == 200 and served.data == original
    assert district.hub.test_client().get(f"/m/petitions/media/{photo.token}.jpg").status_code == 404, "no key"


def test_large_photos_are_shrunk_so_one_request_stays_far_below_the_batch_limit(district):
    import os

    from kiosk.sync.models import SyncOutbox
    from kiosk_plugins.petitions.models import PetitionPhoto

    station = district.station()

    def noise() -> bytes:
        # Random pixels barely compress: the worst case for a photo's size.
        image = Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        return out.getvalue()

    client = station.test_client()
    client.get("/m/petitions/")
    answer = client.post(
        "/m/petitions/",
        data={
            "csrf_token": csrf_of(client),
            "type": "complaint",
            "category": "environment",
            "place": "other",
            "description": "河道里漂着很多垃圾",
            "anonymous": "1",
            "photos": [(io.BytesIO(noise()), f"river{i}.jpg") for i in range(3)],
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    stored = rows(station, PetitionPhoto)
    assert len(stored) == 3 and sum(p.size_bytes for p in stored) > 2 * 1024 * 1024, "the station keeps them whole"
    (entry,) = rows(station, SyncOutbox, SyncOutbox.kind == "petitions.petition")
    assert len(entry.data["photos"]) == 3
    assert len(json.dumps(entry.data)) < 1_300_000
    local.transfer(station, district.hub)
    at_hub = rows(district.hub, PetitionPhoto)
    assert len(at_hub) == 3 and all(p.size_bytes < 310 * 1024 for p in at_hub)
    for photo in at_hub:
        image = Image.open(f"{district.hub.instance_path}/uploads/petitions/{photo.station_id}/{photo.filename}")
        assert image.format == "JPEG" and max(image.size) >= 320


def test_two_stations_first_requests_get_different_numbers(district):
    from kiosk_plugins.petitions.models import Petition

    shuibei, sungang = district.station(SHUIBEI), district.station(SUNGANG)
    file_at_kiosk(shuibei)
    file_at_kiosk(sungang, category="other")
    (a,) = rows(shuibei, Petition)
    (b,) = rows(sungang, Petition)
    assert a.tracking_no != b.tracking_no
    assert a.tracking_no.endswith("-0001") and b.tracking_no.endswith("-0001"), "each station counts on its own"
    pattern = r"P\d{6}-[A-Z2-9]{4}-0001"
    assert re.fullmatch(pattern, a.tracking_no) and re.fullmatch(pattern, b.tracking_no)
    local.transfer(shuibei, district.hub)
    local.transfer(sungang, district.hub)
    assert {p.tracking_no for p in rows(district.hub, Petition)} == {a.tracking_no, b.tracking_no}


# -- handling at the hub, status back at the station ---------------------------------------------
def test_a_status_change_at_the_hub_shows_in_the_stations_kiosk_lookup(district):
    from kiosk_plugins.petitions.models import Petition

    station = district.station()
    token = file_at_kiosk(station)
    (taken,) = rows(station, Petition)
    local.transfer(station, district.hub)
    at_hub = hub_petition(district.hub, taken.tracking_no)

    # District staff see every station's requests and move this one on.
    staff = staff_client(district.hub)
    listing = staff.get("/staff/petitions/?show=all").get_data(as_text=True)
    assert taken.tracking_no in listing and "水贝社区党群服务中心" in listing
    moved = staff.post(
        f"/staff/petitions/{at_hub.id}/update",
        data={
            "csrf_token": csrf_of(staff),
            "action": "dispatched",
            "note": "已派城管执法队清理",
            "department": "city_management",
        },
    )
    assert moved.status_code == 303
    assert hub_petition(district.hub, taken.tracking_no).status == "dispatched"

    kiosk = station.test_client()
    before = kiosk.get(f"/k/petitions/status/{token}").get_data(as_text=True)
    assert "已分派" not in before
    _, pulled = local.transfer(station, district.hub)
    assert pulled >= 1
    (copy,) = rows(station, Petition)
    assert copy.status == "dispatched" and copy.synced_at is not None
    # Typed as residents type it: lower case, no dashes.
    typed = taken.tracking_no.replace("-", "").lower()
    found = kiosk.get(f"/k/petitions/find?no={typed}")
    page = found.get_data(as_text=True)
    assert found.status_code == 200, page
    assert taken.tracking_no in page and 'data-testid="hub-sync"' in page
    assert "楼道垃圾堆放" not in page, "a typed number shows where the request stands, not what it says"
    by_receipt = kiosk.get(f"/k/petitions/status/{token}").get_data(as_text=True)
    assert "已派城管执法队清理" in by_receipt and 'data-testid="hub-sync"' in by_receipt

    # The station's own staff page no longer moves it: the hub owns the handling.
    local_staff = staff_client(station)
    refused = local_staff.post(
        f"/staff/petitions/{copy.id}/update",
        data={"csrf_token": csrf_of(local_staff), "action": "in_progress", "note": "本站处理"},
    )
    assert refused.status_code == 303
    assert rows(station, Petition)[0].status == "dispatched"
    detail = local_staff.get(f"/staff/petitions/{copy.id}").get_data(as_text=True)
    assert 'data-testid="handled-at-hub"' in detail and 'name="action"' not in detail

    # Resolved at the hub and rated on the phone there: the kiosk learns both.
    staff.post(
        f"/staff/petitions/{at_hub.id}/update",
        data={"csrf_token": csrf_of(staff), "action": "resolved", "note": "垃圾已清运完毕"},
    )
    phone = district.hub.test_client()
    phone.get(f"/m/petitions/s/{token}?station=shuibei")
    rated = phone.post(
        f"/m/petitions/s/{token}?station=shuibei", data={"csrf_token": csrf_of(phone), "score": "satisfied"}
    )
    assert rated.status_code == 302
    local.transfer(station, district.hub)
    (copy,) = rows(station, Petition)
    assert copy.status == "resolved"
    page = kiosk.get(f"/k/petitions/status/{token}").get_data(as_text=True)
    assert "垃圾已清运完毕" in page and "满意" in page
    assert 'id="pt-rate"' not in page, "the kiosk copy is not rated: the hub owns the request"


def test_the_stations_sync_thread_applies_the_hubs_status_without_an_app_context(district):
    from kiosk import sync
    from kiosk.db import session_for
    from kiosk.models import Station
    from kiosk_plugins.petitions.models import Petition

    station = district.station()
    file_at_kiosk(station)
    (taken,) = rows(station, Petition)
    local.transfer(station, district.hub)
    staff = staff_client(district.hub)
    at_hub = hub_petition(district.hub, taken.tracking_no)
    staff.post(
        f"/staff/petitions/{at_hub.id}/update",
        data={"csrf_token": csrf_of(staff), "action": "in_progress", "note": "正在处理"},
    )
    with district.hub.app_context(), session_for(district.hub) as s:
        down = sync.down_since(s, at_hub.station_id, 0)
    assert [e["kind"] for e in down] == ["petitions.status"]
    # As the pusher thread does it: a session of the app, no app context.
    with session_for(station, write=True) as s:
        sync.apply_down(station, s, s.get(Station, station.extensions["kiosk_station_id"]), down)
        s.commit()
    assert rows(station, Petition)[0].status == "in_progress"

    # A status the station cannot use is parked by the core; the copy keeps what it had.
    from kiosk.sync.models import SyncParked

    bad = {"id": down[-1]["id"] + 1, "kind": "petitions.status", "key": taken.uid, "data": {"status": "lost"}}
    with session_for(station, write=True) as s:
        sync.apply_down(station, s, s.get(Station, station.extensions["kiosk_station_id"]), [bad], isolate=True)
        s.commit()
    assert [p.kind for p in rows(station, SyncParked)] == ["petitions.status"]
    assert rows(station, Petition)[0].status == "in_progress"


def test_a_late_station_entry_does_not_overwrite_the_hubs_handling(district):
    from kiosk.db import session_for
    from kiosk.sync.models import SyncOutbox
    from kiosk_plugins.petitions.models import Petition, PetitionStep

    station = district.station()
    file_at_kiosk(station, place="other")
    (taken,) = rows(station, Petition)
    local.transfer(station, district.hub)
    at_hub = hub_petition(district.hub, taken.tracking_no)
    assert at_hub.place == ""
    staff = staff_client(district.hub)
    moved = staff.post(
        f"/staff/petitions/{at_hub.id}/update",
        data={"csrf_token": csrf_of(staff), "action": "dispatched", "note": "已派单", "department": "city_management"},
        follow_redirects=True,
    )
    assert hub_petition(district.hub, taken.tracking_no).status == "dispatched", moved.get_data(as_text=True)[-3000:]
    steps_before = [(s.action, s.note) for s in rows(district.hub, PetitionStep)]

    (entry,) = rows(station, SyncOutbox, SyncOutbox.kind == "petitions.petition")
    late = {
        **entry.data,
        "status": "received",
        "department": "",
        "description": "改过的描述",
        "place": "深华丽园",
        "steps": [{"at": entry.data["created_at"], "action": "received", "status": "received", "note": "x"}],
    }
    with station.app_context(), session_for(station, write=True) as s:
        from kiosk import sync

        sync.record(s, "petitions.petition", taken.uid, late)
        s.commit()
    local.transfer(station, district.hub)
    after = hub_petition(district.hub, taken.tracking_no)
    assert (after.status, after.department) == ("dispatched", "city_management"), "the hub's handling stays"
    assert after.description == "楼道垃圾堆放，气味很大", "what the resident said is not rewritten"
    assert after.place == "深华丽园", "an intake field still empty at the hub is filled in"
    assert [(s.action, s.note) for s in rows(district.hub, PetitionStep)] == steps_before


def test_each_side_erases_the_contacts_of_its_own_copy_after_its_own_retention(district):
    from datetime import timedelta

    from kiosk import clock, retention
    from kiosk_plugins.petitions.models import Petition

    def erase(app, now) -> int:
        [contacts] = retention.purge(app, now=now, only="petitions.contacts")
        return contacts.records

    station = district.station(retention_days=30)  # the hub keeps the default 180 days
    file_at_kiosk(station)
    (taken,) = rows(station, Petition)
    local.transfer(station, district.hub)
    staff = staff_client(district.hub)
    at_hub = hub_petition(district.hub, taken.tracking_no)
    staff.post(
        f"/staff/petitions/{at_hub.id}/update",
        data={"csrf_token": csrf_of(staff), "action": "closed", "note": "已电话回访，居民认可"},
    )
    local.transfer(station, district.hub)
    assert rows(station, Petition)[0].closed_at is not None, "the close reached the station's copy"

    later = clock.now() + timedelta(days=60)
    with station.app_context():
        assert erase(station, later) == 1
    with district.hub.app_context():
        assert erase(district.hub, later) == 0
    assert rows(station, Petition)[0].contact_phone == ""
    assert hub_petition(district.hub, taken.tracking_no).contact_phone == "13812345678"
    with district.hub.app_context():
        assert erase(district.hub, clock.now() + timedelta(days=200)) == 1
    assert hub_petition(district.hub, taken.tracking_no).contact_phone == ""


def test_an_unusable_entry_is_refused_and_changes_nothing(district):
    from kiosk.db import session_for
    from kiosk.models import Station
    from kiosk_plugins.petitions import syncing
    from kiosk_plugins.petitions.models import Petition

    station = district.station()
    file_at_kiosk(station)
    local.transfer(station, district.hub)
    (mine,) = rows(district.hub, Petition)
    sungang = district.station(SUNGANG)
    with district.hub.app_context(), session_for(district.hub, write=True) as s:
        other = s.scalar(select(Station).where(Station.code == "sungang"))
        # Another station's request (its uid and token) cannot be taken over.
        stolen = {"uid": mine.uid, "token": mine.token, "tracking_no": "P261206-XXXX-0001", "type": "complaint"}
        with pytest.raises(syncing.Unusable):
            syncing.to_hub(s, other, mine.uid, {**stolen, "created_at": "2026-12-06T02:00:00+00:00"})
        with pytest.raises(syncing.Unusable):
            syncing.to_hub(s, other, "../../etc", {"token": "x", "tracking_no": "1"})
        s.rollback()
    assert len(rows(district.hub, Petition)) == 1
    assert sungang is not None


# -- the phone form and Open311 at the hub ---------------------------------------------------------
def test_the_kiosk_qr_opens_the_hubs_phone_form_which_numbers_in_its_own_series(district, receivers):
    from kiosk.models import Station
    from kiosk.stations import default_tag
    from kiosk_plugins.petitions.models import OutboxMessage, Petition

    station = district.station()
    # The kiosk's "scan with your phone" code opens the hub's phone form for this station.
    from kiosk.qr import qr_svg

    index = station.test_client().get("/k/petitions/").get_data(as_text=True)
    modules = re.search(r' d="([^"]+)"', qr_svg(f"{HUB_PUBLIC}/m/petitions/?station=shuibei")).group(1)
    assert modules in index, "the kiosk's QR code is not the hub's phone form"
    # The receipt's QR code opens the hub's status page of that station.
    token = file_at_kiosk(station)
    from kiosk.testing import printed_receipts

    (receipt,) = printed_receipts(station, "petitions.receipt")
    urls = [item["data"] for item in receipt.to_dict()["blocks"] if item["kind"] == "qr"]
    assert urls == [f"{HUB_PUBLIC}/m/petitions/s/{token}?station=shuibei"]
    phone = district.hub.test_client()
    early = phone.get(f"/m/petitions/s/{token}?station=shuibei")
    assert early.status_code == 404
    assert "还没有传到区里" in early.get_data(as_text=True), "scanned before the station synced: it says why"
    local.transfer(station, district.hub)
    status = phone.get(f"/m/petitions/s/{token}?station=shuibei")
    assert status.status_code == 200 and "楼道垃圾堆放" in status.get_data(as_text=True)

    form = phone.get("/m/petitions/?station=shuibei")
    assert form.status_code == 200
    sent = phone.post(
        "/m/petitions/?station=shuibei",
        data={
            "csrf_token": csrf_of(phone),
            "type": "suggestion",
            "category": "environment",
            "place": "other",
            "description": "建议增加垃圾分类投放点",
            "anonymous": "1",
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    (by_phone,) = rows(district.hub, Petition, Petition.channel == "mobile")
    (shuibei,) = rows(district.hub, Station, Station.code == "shuibei")
    assert by_phone.station_id == shuibei.id
    assert re.fullmatch(rf"P\d{{6}}-{default_tag('shuibei')}-W0001", by_phone.tracking_no), by_phone.tracking_no
    assert len(rows(district.hub, OutboxMessage)) == 2, "the hub forwards what it took itself"
    run_jobs(district.hub)
    assert {json.loads(b)["tracking_no"] for _h, b in receivers["hub"].got} >= {by_phone.tracking_no}

    # The station learns of it, so its kiosk can answer for it offline.
    local.transfer(station, district.hub)
    (copy,) = rows(station, Petition, Petition.tracking_no == by_phone.tracking_no)
    assert copy.contact_phone == "" and copy.status == "received"
    found = station.test_client().get(f"/k/petitions/find?no={by_phone.tracking_no}")
    assert found.status_code == 200 and by_phone.tracking_no in found.get_data(as_text=True)
    # On the phone the number is typed at the hub, which knows every station's.
    assert 'action="/m/petitions/find"' in phone.get("/m/petitions/").get_data(as_text=True)
    typed = phone.get(f"/m/petitions/find?no={by_phone.tracking_no.lower()}")
    assert typed.status_code == 200 and by_phone.tracking_no in typed.get_data(as_text=True)
    missing = phone.get("/m/petitions/find?no=P000000-ZZZZ-0001")
    assert missing.status_code == 404 and 'data-testid="find-error"' in missing.get_data(as_text=True)
    assert phone.get("/m/petitions/find?no=%00").status_code == 400


def test_a_station_enrolled_with_its_own_tag_keeps_it_at_the_hub(district):
    from kiosk.db import session_for
    from kiosk.models import Station
    from kiosk.sync.models import SyncPeer
    from kiosk_plugins.petitions.models import Petition

    station = district.station({**SUNGANG, "tag": "SG8"})
    with district.hub.app_context(), session_for(district.hub, write=True) as s:
        # As `kiosk stations enrol sungang --tag SG8` leaves it.
        hub_id = s.scalar(select(Station.id).where(Station.code == "sungang"))
        s.execute(update(SyncPeer).where(SyncPeer.station_id == hub_id).values(tag="SG8"))
        s.commit()
    file_at_kiosk(station, category="other")
    phone = district.hub.test_client()
    phone.get("/m/petitions/?station=sungang")
    sent = phone.post(
        "/m/petitions/?station=sungang",
        data={
            "csrf_token": csrf_of(phone),
            "type": "help",
            "category": "other",
            "place": "other",
            "description": "驿站门口积水",
            "anonymous": "1",
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    local.transfer(station, district.hub)
    numbers = sorted(p.tracking_no for p in rows(district.hub, Petition))
    assert [re.sub(r"^P\d{6}-", "", n) for n in numbers] == ["SG8-0001", "SG8-W0001"], numbers


def test_open311_at_the_hub_lists_every_stations_requests(district):
    from kiosk_plugins.petitions.models import Petition

    shuibei, sungang = district.station(SHUIBEI), district.station(SUNGANG)
    file_at_kiosk(shuibei)
    file_at_kiosk(sungang)
    local.transfer(shuibei, district.hub)
    local.transfer(sungang, district.hub)
    numbers = {p.tracking_no for p in rows(district.hub, Petition)}
    assert len(numbers) == 2
    api = district.hub.test_client()
    listed = api.get("/api/petitions/open311/v2/requests.json", headers=READ)
    assert listed.status_code == 200
    assert {r["service_request_id"] for r in listed.get_json()} == numbers
    one = rows(sungang, Petition)[0].tracking_no
    single = api.get(f"/api/petitions/open311/v2/requests/{one}.json", headers=READ)
    assert single.status_code == 200 and single.get_json()[0]["service_request_id"] == one
    only_b = api.get("/api/petitions/open311/v2/requests.json?station=sungang", headers=READ).get_json()
    assert [r["service_request_id"] for r in only_b] == [one]
    # Filed through Open311 at the hub for a station: the hub's own series, never a kiosk's number.
    filed = district.hub.test_client().post(
        "/api/petitions/open311/v2/requests.json?station=sungang",
        json={
            "api_key": OPEN311_KEY,
            "service_code": "environment",
            "description": "驿站旁垃圾桶满了",
            "lat": 22.56,
            "long": 114.11,
        },
    )
    assert filed.status_code == 201, filed.get_data(as_text=True)
    number = filed.get_json()[0]["service_request_id"]
    assert re.fullmatch(r"P\d{6}-[A-Z2-9]{4}-W0001", number) and number.split("-")[1] == one.split("-")[1]
    # (A fresh client: the one above keeps the station it chose in its session, as phones do.)
    everyone = district.hub.test_client().get("/api/petitions/open311/v2/requests.json", headers=READ).get_json()
    assert {r["service_request_id"] for r in everyone} == numbers | {number}


def test_at_the_hub_district_staff_see_every_station_and_community_staff_their_own(district):
    from kiosk.auth import create_user
    from kiosk.db import session_for
    from kiosk.models import Station
    from kiosk.testing import TEST_PASSWORD
    from kiosk_plugins.petitions.models import Petition

    shuibei, sungang = district.station(SHUIBEI), district.station(SUNGANG)
    file_at_kiosk(shuibei, description="水贝楼道垃圾堆放")
    file_at_kiosk(sungang, description="笋岗驿站门口积水")
    local.transfer(shuibei, district.hub)
    local.transfer(sungang, district.hub)
    a, b = (hub_petition(district.hub, rows(app, Petition)[0].tracking_no) for app in (shuibei, sungang))

    everyone = staff_client(district.hub).get("/staff/petitions/?show=all").get_data(as_text=True)
    assert a.tracking_no in everyone and b.tracking_no in everyone

    with district.hub.app_context(), session_for(district.hub, write=True) as s:
        sid = s.scalar(select(Station.id).where(Station.code == "sungang"))
        create_user(s, "sungang-staff", TEST_PASSWORD, role="staff", station_id=sid)
        s.commit()
    community = district.hub.test_client()
    community.get("/staff/login")
    community.post(
        "/staff/login",
        data={"username": "sungang-staff", "password": TEST_PASSWORD, "csrf_token": csrf_of(community)},
    )
    own = community.get("/staff/petitions/?show=all")
    assert own.status_code == 200
    assert b.tracking_no in own.get_data(as_text=True) and a.tracking_no not in own.get_data(as_text=True)
    assert community.get(f"/staff/petitions/{b.id}").status_code == 200
    assert community.get(f"/staff/petitions/{a.id}").status_code == 404, "another station's request is not shown"
    assert community.get(f"/staff/petitions/{a.id}?station=shuibei").status_code == 404, "nor by switching"


# -- numbers as residents type them ------------------------------------------------------------------
def test_typed_numbers_are_found_in_any_case_with_or_without_dashes(app):
    from kiosk.db import session_for
    from kiosk.models import Station
    from kiosk_plugins.petitions import numbering
    from kiosk_plugins.petitions.models import Petition

    with app.app_context(), session_for(app, write=True) as s:
        station = s.get(Station, app.extensions["kiosk_station_id"])
        for number, uid in (("P261206-K7QM-0001", "a" * 32), ("P240512-0007", "b" * 32)):
            s.add(
                Petition(
                    station_id=station.id,
                    uid=uid,
                    token=uid + "t",
                    tracking_no=number,
                    type="complaint",
                    category="environment",
                    description="x",
                    channel="kiosk",
                    due_at=func.now(),
                )
            )
        s.commit()
        for typed, want in (
            ("p261206k7qm0001", "P261206-K7QM-0001"),
            (" P261206-K7QM-0001 ", "P261206-K7QM-0001"),
            ("p240512 0007", "P240512-0007"),
            ("P2405120007", "P240512-0007"),
        ):
            found = numbering.find(s, typed, station.id)
            assert found is not None and found.tracking_no == want, typed
        for typed in ("", "P26", "P261206-K7QM-0002", "P261206';--", "x" * 60):
            assert numbering.find(s, typed, station.id) is None, typed
        assert numbering.find(s, "P2405120007", station.id + 1) is None, "another station's number is not found"


def test_the_lookup_form_opens_empty_and_an_empty_number_is_explained(app):
    """Opening the lookup screen is not an error; pressing 查询 with nothing typed says what to type."""
    client = app.test_client()
    for prefix in ("/k", "/m"):
        empty = client.get(f"{prefix}/petitions/find")
        assert empty.status_code == 200
        assert 'name="no"' in empty.get_data(as_text=True)
        blank = client.get(f"{prefix}/petitions/find?no=")
        assert blank.status_code == 400
        assert "P261206-K7QM-0001" in blank.get_data(as_text=True)
