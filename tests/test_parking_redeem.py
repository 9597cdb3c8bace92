"""The attendant's check: right lot, right window, once; forged, reused, cancelled and expired codes.

HTTP through the staff page on SQLite and PostgreSQL, plus the rules at fixed
instants (window start and end) through the domain functions.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime, timedelta

import pytest
import qrcode
from PIL import Image
from sqlalchemy import select
from test_parking_support import (
    add_household,
    add_lot,
    add_people,
    at_local,
    get_voucher,
    next_occurrence,
    shift_voucher_times,
    station_of,
    text_of,
    voucher_id_from,
    vouchers,
)

from kiosk.models import AuditLog
from kiosk_plugins.parking import codes
from kiosk_plugins.parking.models import Voucher
from kiosk_plugins.parking.vouchers import VoucherRefused, expire_due, issue_voucher, redeem

DAY = date(2024, 5, 20)  # a Monday


def _make_current(app, voucher_id):
    """Move the voucher's night so that it began an hour ago."""
    v = next(v for v in vouchers(app) if v.id == voucher_id)
    shift_voucher_times(app, voucher_id, datetime.now(UTC) - timedelta(hours=1) - v.starts_at)


def _issued(app, client, lot_ids, phone="13800138001", plate="粤B12345"):
    occ = next_occurrence(app, lot_ids["windows"][0])
    vid = voucher_id_from(get_voucher(client, phone, plate, occ.window_id, occ.day))
    return next(v for v in vouchers(app) if v.id == vid)


def _check(client, csrf, lot_id, code, **files):
    data = {"lot": str(lot_id), "code": code, "csrf_token": csrf(client), **files}
    return client.post("/staff/parking/redeem", data=data, content_type="multipart/form-data")


@pytest.fixture
def attendant(app, auth):
    """A logged-in staff client (the attendant's phone)."""
    staff = app.test_client()
    type(auth)(app, staff).login("staff")
    return staff


def test_redeem_once_then_refuse_with_the_time_of_first_use(app, client, attendant, csrf):
    ids = add_lot(app)
    add_people(app)
    v = _issued(app, client, ids)
    _make_current(app, v.id)
    page = attendant.get("/staff/parking/redeem")
    assert page.status_code == 200 and "水贝万山珠宝产业园停车场" in text_of(page)
    assert "粤B12345" in text_of(page), "the attendant's list shows the full plate (a staff page)"
    ok = _check(attendant, csrf, ids["lot"], codes.display_code(v.code).lower())
    assert ok.status_code == 200
    assert "核验通过" in text_of(ok) and "粤B12345" in text_of(ok)
    [used] = vouchers(app)
    assert used.status == "used" and used.used_at is not None and used.used_by is not None
    again = _check(attendant, csrf, ids["lot"], v.code)
    assert again.status_code == 409
    local_time = used.used_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).strftime("%H:%M")
    assert "已于" in text_of(again) and "使用过" in text_of(again) and local_time in text_of(again)
    assert vouchers(app)[0].used_at == used.used_at, "the first use stays recorded"
    with app.app_context():
        session = app.extensions["db"].Session()
        results = [
            a.detail["result"]
            for a in session.scalars(
                select(AuditLog).where(AuditLog.action == "parking.voucher_checked").order_by(AuditLog.id)
            )
        ]
        session.close()
    assert results == ["ok", "used"]


def test_forged_and_unknown_codes_are_refused(app, client, attendant, csrf):
    ids = add_lot(app)
    add_people(app)
    v = _issued(app, client, ids)
    _make_current(app, v.id)
    rng = random.Random(6)
    for _ in range(20):
        guess = "".join(rng.choice(codes.ALPHABET) for _ in range(8))
        if guess == v.code:
            continue
        response = _check(attendant, csrf, ids["lot"], guess)
        assert response.status_code == 409 and "没有这个券码" in text_of(response)
    # A row slipped into the table with a made-up code: it exists, but its
    # code is not the HMAC of its id, so it does not redeem.
    with app.app_context():
        session = app.extensions["db"].WriteSession()
        original = session.get(Voucher, v.id)
        forged = Voucher(
            **{c.name: getattr(original, c.name) for c in Voucher.__table__.columns if c.name not in ("id",)}
        )
        forged.code = "K7QM3XPA"
        session.add(forged)
        session.commit()
        forged_id = forged.id
        session.close()
    response = _check(attendant, csrf, ids["lot"], "K7QM-3XPA")
    assert response.status_code == 409
    assert next(x for x in vouchers(app) if x.id == forged_id).status == "issued"
    with app.app_context():
        session = app.extensions["db"].Session()
        last = session.scalars(
            select(AuditLog).where(AuditLog.action == "parking.voucher_checked").order_by(AuditLog.id.desc())
        ).first()
        session.close()
    assert last.detail["forged"] is True
    malformed = _check(attendant, csrf, ids["lot"], "12")
    assert malformed.status_code == 409 and "8 位" in text_of(malformed)
    assert [x.status for x in vouchers(app) if x.id == v.id] == ["issued"]


def test_wrong_lot_and_cancelled_vouchers_are_refused(app, client, attendant, csrf):
    ids = add_lot(app)
    other = add_lot(app, name="周边商场共享车位")
    add_people(app)
    v = _issued(app, client, ids)
    _make_current(app, v.id)
    wrong = _check(attendant, csrf, other["lot"], v.code)
    assert wrong.status_code == 409 and "水贝万山珠宝产业园停车场" in text_of(wrong)
    assert "粤B12345" not in text_of(wrong).split("本停车场的停车券")[0]
    client.get("/k/parking/")
    from test_parking_support import csrf_token, identify

    identify(client, "13800138001")
    client.get("/k/parking/mine")
    client.post(f"/k/parking/mine/{v.id}/cancel", data={"csrf_token": csrf_token(client)})
    cancelled = _check(attendant, csrf, ids["lot"], v.code)
    assert cancelled.status_code == 409 and "取消" in text_of(cancelled)
    assert vouchers(app)[0].status == "cancelled"


def test_expired_after_the_window_ends(app, client, attendant, csrf):
    ids = add_lot(app)
    add_people(app)
    v = _issued(app, client, ids)
    shift_voucher_times(app, v.id, datetime.now(UTC) - timedelta(minutes=1) - v.ends_at)
    response = _check(attendant, csrf, ids["lot"], v.code)
    assert response.status_code == 409 and "过期" in text_of(response)
    assert vouchers(app)[0].status == "issued"
    # The scheduled job marks it (the space was already free without it).
    from kiosk.jobs import run_due

    assert "parking.expire_vouchers" in run_due(app)
    assert vouchers(app)[0].status == "expired"
    assert expire_due(app) == 0
    assert _check(attendant, csrf, ids["lot"], v.code).status_code == 409


def test_photo_of_the_qr_code_redeems(app, client, attendant, csrf):
    ids = add_lot(app)
    add_people(app)
    v = _issued(app, client, ids)
    _make_current(app, v.id)
    image = qrcode.make(codes.qr_payload(v.code)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    response = _check(attendant, csrf, ids["lot"], "", photo=(io.BytesIO(buffer.getvalue()), "qr.jpg"))
    assert response.status_code == 200 and "核验通过" in text_of(response)
    junk = _check(attendant, csrf, ids["lot"], "", photo=(io.BytesIO(b"not an image"), "x.jpg"))
    assert junk.status_code == 400 and "不是照片" in text_of(junk), "the core's photo check says why"
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, format="PNG")
    nothing = _check(attendant, csrf, ids["lot"], "", photo=(io.BytesIO(blank.getvalue()), "blank.png"))
    assert nothing.status_code == 400 and "没有找到二维码" in text_of(nothing)


def test_attendant_page_needs_a_staff_login(app, client):
    response = client.get("/staff/parking/redeem")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert client.post("/staff/parking/redeem", data={}).status_code in (302, 400)


# -- the rules at exact instants ----------------------------------------------------
def _domain_setup(app, **lot):
    ids = add_lot(app, **lot)
    people = [add_household(app, f"贝丽花园{i}栋", "住户", f"1380013{i:04d}", [f"粤B{i:05d}"]) for i in range(1, 4)]
    return ids, people


def _station(app):
    session = app.extensions["db"].Session()
    station = station_of(app, session)
    session.close()
    return station


def test_valid_from_just_before_the_start_until_the_window_ends(app):
    ids, people = _domain_setup(app, spaces=5)
    wid = ids["windows"][0]
    with app.app_context():
        station = _station(app)
        noon = at_local(DAY, 12)
        a = issue_voucher(station, household_id=people[0], plate="粤B00001", window_id=wid, day=DAY, now=noon)
        b = issue_voucher(station, household_id=people[1], plate="粤B00002", window_id=wid, day=DAY, now=noon)
        c = issue_voucher(station, household_id=people[2], plate="粤B00003", window_id=wid, day=DAY, now=noon)
        assert a.starts_at == at_local(DAY, 19) and a.ends_at == at_local(DAY + timedelta(days=1), 8)
        assert (
            redeem(station, code_text=a.code, lot_id=ids["lot"], user_id=None, now=at_local(DAY, 18, 30)).reason
            == "early"
        )
        assert (
            redeem(station, code_text=a.code, lot_id=ids["lot"], user_id=None, now=at_local(DAY, 18, 50)).reason == "ok"
        ), "15 minutes early is fine"
        assert (
            redeem(
                station, code_text=b.code, lot_id=ids["lot"], user_id=None, now=at_local(DAY + timedelta(days=1), 7, 59)
            ).reason
            == "ok"
        )
        late = redeem(
            station, code_text=c.code, lot_id=ids["lot"], user_id=None, now=at_local(DAY + timedelta(days=1), 8, 0)
        )
        assert late.reason == "expired" and late.voucher.id == c.id


def test_unused_voucher_releases_its_space_when_the_arrival_time_passes(app):
    ids, people = _domain_setup(app, spaces=1, hold_minutes=60)
    wid = ids["windows"][0]
    with app.app_context():
        station = _station(app)
        a = issue_voucher(
            station, household_id=people[0], plate="粤B00001", window_id=wid, day=DAY, now=at_local(DAY, 12)
        )
        assert a.expires_at == at_local(DAY, 20)
        with pytest.raises(VoucherRefused) as refused:
            issue_voucher(
                station, household_id=people[1], plate="粤B00002", window_id=wid, day=DAY, now=at_local(DAY, 19, 30)
            )
        assert refused.value.reason == "full"
        b = issue_voucher(
            station, household_id=people[1], plate="粤B00002", window_id=wid, day=DAY, now=at_local(DAY, 20, 1)
        )
        assert b.expires_at == at_local(DAY, 21, 1), "an hour from issue when issued after the start"
        assert (
            redeem(station, code_text=a.code, lot_id=ids["lot"], user_id=None, now=at_local(DAY, 20, 2)).reason
            == "expired"
        )
        assert (
            redeem(station, code_text=b.code, lot_id=ids["lot"], user_id=None, now=at_local(DAY, 20, 30)).reason == "ok"
        )
        # Used, the space stays taken until the window ends.
        with pytest.raises(VoucherRefused):
            issue_voucher(
                station, household_id=people[2], plate="粤B00003", window_id=wid, day=DAY, now=at_local(DAY, 23)
            )


def test_booking_window_rules(app):
    ids, people = _domain_setup(app, spaces=5, reserve_days=1)
    wid = ids["windows"][0]
    with app.app_context():
        station = _station(app)
        with pytest.raises(VoucherRefused) as info:
            issue_voucher(
                station,
                household_id=people[0],
                plate="粤B00001",
                window_id=wid,
                day=DAY + timedelta(days=2),
                now=at_local(DAY, 12),
            )
        assert info.value.reason == "window", "too far ahead"
        with pytest.raises(VoucherRefused) as info:
            issue_voucher(
                station,
                household_id=people[0],
                plate="粤B00001",
                window_id=wid,
                day=DAY - timedelta(days=1),
                now=at_local(DAY, 8, 1),
            )
        assert info.value.reason == "window", "last night is over"
        late = issue_voucher(
            station,
            household_id=people[0],
            plate="粤B00001",
            window_id=wid,
            day=DAY - timedelta(days=1),
            now=at_local(DAY, 1),
        )
        assert late.ends_at == at_local(DAY, 8), "at 1 a.m. last night's window can still be booked"
        with pytest.raises(VoucherRefused) as info:
            issue_voucher(
                station, household_id=people[1], plate="粤B00001", window_id=wid, day=DAY, now=at_local(DAY, 12)
            )
        assert info.value.reason == "plate", "another household's car"
