"""Scheduled work: overstays flagged to staff, forgotten check-outs closed at the station's hour."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from test_courier_rest_support import Kiosk, courier_app, db, kiosk  # noqa: F401

from kiosk import clock
from kiosk import jobs as core_jobs
from kiosk.db import utcnow
from kiosk.models import AuditLog, KioskEvent
from kiosk.testing import Auth
from kiosk_plugins.courier_rest import jobs
from kiosk_plugins.courier_rest.models import Hazard, Use, Visit

SHENZHEN = ZoneInfo("Asia/Shanghai")


def test_charging_past_its_limit_is_flagged_once_to_staff(kiosk, courier_app):
    kiosk.signup()
    kiosk.take("phone")
    with courier_app.app_context():
        assert jobs.tick(courier_app, now=utcnow() + timedelta(minutes=59))["overstays"] == 0
        assert jobs.tick(courier_app, now=utcnow() + timedelta(minutes=61))["overstays"] == 1
        assert jobs.tick(courier_app, now=utcnow() + timedelta(minutes=90))["overstays"] == 0  # flagged once
    with db(courier_app) as s:
        use = s.scalar(select(Use))
        assert use.overstay_at is not None and use.state == "active"
        event = s.scalar(select(KioskEvent).where(KioskEvent.name == "courier_rest.overstay"))
        assert event.payload == {"kind": "phone", "slot": 1}
        assert s.scalar(select(AuditLog.detail).where(AuditLog.action == "courier_rest.overstay"))["slot"] == 1
        use.due_at = utcnow() - timedelta(minutes=1)
        s.commit()
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    page = staff.get("/staff/courier_rest/").get_data(as_text=True)
    assert "超时占用 (1)" in page and "张三明" in page  # staff see the full name
    panel = staff.get("/staff/").get_data(as_text=True)
    assert "超时占用" in panel and 'class="late"' in panel


def test_forgotten_check_outs_close_at_the_configured_hour(kiosk, courier_app):
    kiosk.signup()
    kiosk.take("phone")
    kiosk.take("seat")
    other = Kiosk(courier_app.test_client())
    other.signup(name="李四", phone="13900000021")
    other.take("battery")
    checked_in = utcnow()
    local = checked_in.astimezone(SHENZHEN)
    before_hour = datetime.combine(local.date(), datetime.min.time(), tzinfo=SHENZHEN) + timedelta(hours=23, minutes=29)
    with courier_app.app_context():
        if local < before_hour:  # nothing closes before 23:30 of the day they came
            assert jobs.auto_close(courier_app, now=before_hour) == 0
        next_night = datetime.combine(
            local.date() + timedelta(days=1), datetime.min.time(), tzinfo=SHENZHEN
        ) + timedelta(minutes=5)
        assert jobs.auto_close(courier_app, now=next_night) == 2
        assert jobs.auto_close(courier_app, now=next_night + timedelta(minutes=5)) == 0
    with db(courier_app) as s:
        visits = s.scalars(select(Visit)).all()
        assert all(v.auto_closed and v.method_out == "auto" and v.open_rider_id is None for v in visits)
        expected = clock.last_boundary(SHENZHEN, time(23, 30), next_night)
        assert all(v.checked_out_at == expected for v in visits)  # closed "at 23:30", not when the job ran
        assert all(u.live_slot_id is None and u.end_reason == "auto_closed" for u in s.scalars(select(Use)))
    assert kiosk.get("/k/courier_rest/board.json").get_json()["board"]["in_station"] == 0


def test_the_core_scheduler_runs_the_jobs(make_app, database_url):
    from test_courier_rest_support import courier_config

    app = make_app(database_url, **courier_config(auto_close_at="03:00"))
    kiosk = Kiosk(app.test_client())
    kiosk.signup()
    with db(app) as s:
        visit = s.scalar(select(Visit))
        visit.checked_in_at = utcnow() - timedelta(days=2)
        s.commit()
    ran = core_jobs.run_due(app)
    assert {"courier_rest.tick", "courier_rest.auto_close"} <= set(ran)
    with db(app) as s:
        visit = s.scalar(select(Visit))
        assert visit.auto_closed
        assert visit.checked_out_at.astimezone(SHENZHEN).strftime("%H:%M") == "03:00"


def test_a_hazard_draft_nobody_sent_is_kept_for_staff_after_the_photo_window(kiosk, courier_app):
    kiosk.get("/k/courier_rest/hazard")
    response = kiosk.post("/k/courier_rest/hazard", category="traffic", note="红绿灯坏了", action="photo")
    assert "/photo" in response.location
    with courier_app.app_context():
        assert jobs.tick(courier_app, now=utcnow() + timedelta(minutes=10))["hazards"] == 0
        assert jobs.tick(courier_app, now=utcnow() + timedelta(minutes=31))["hazards"] == 1
    with db(courier_app) as s:
        assert s.scalar(select(Hazard.state)) == "kept"
