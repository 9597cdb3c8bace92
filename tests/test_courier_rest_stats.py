"""Use figures against known data: the page with its charts, the CSV, the district's JSON."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from test_courier_rest_support import courier_app, db, station_id  # noqa: F401

from kiosk.testing import Auth
from kiosk_plugins.courier_rest.models import Hazard, Rider, ServiceRequest, ServiceUse, Slot, Use, Visit

SZ = ZoneInfo("Asia/Shanghai")


def at(day, hour, minute=0):
    return datetime(2024, 5, day, hour, minute, tzinfo=SZ)


def fill(app):
    """Known May 2024: three riders, visits on the 1st (lunch rush) and the 2nd, one the night of 30 April."""
    sid = station_id(app)
    with db(app) as s:
        riders = [
            Rider(
                station_id=sid,
                name=n,
                phone=p,
                platform="meituan",
                vehicle="ebike",
                pass_token=secrets.token_urlsafe(18),
                created_at=at(1, 8),
            )
            for n, p in (("甲", "13900000041"), ("乙", "13900000042"), ("丙", "13900000043"))
        ]
        s.add_all(riders)
        s.flush()
        slot = {k: Slot(station_id=sid, kind=k, number=9, active=False) for k in ("seat", "phone", "battery")}
        s.add_all(slot.values())
        s.flush()
        a, b, c = (r.id for r in riders)
        plan = [  # rider, check in, minutes stayed, places used, auto closed
            (a, at(1, 11, 5), 30, ["phone"], False),
            (b, at(1, 11, 40), 20, ["seat", "phone"], False),
            (a, at(1, 12, 10), 10, [], False),
            (c, at(1, 18, 0), 60, ["battery"], False),
            (b, at(2, 11, 30), 0, ["seat"], True),
            # 30 April 23:50 Shenzhen time: not May, although it is 1 May in no zone that matters here.
            (c, datetime(2024, 4, 30, 23, 50, tzinfo=SZ), 5, [], False),
        ]
        for rider, came, minutes, kinds, auto in plan:
            visit = Visit(
                station_id=sid,
                rider_id=rider,
                checked_in_at=came,
                checked_out_at=came + timedelta(minutes=minutes) if not auto else at(2, 23, 30),
                method_in="card",
                method_out="auto" if auto else "card",
                auto_closed=auto,
            )
            s.add(visit)
            s.flush()
            for kind in kinds:
                s.add(
                    Use(
                        station_id=sid,
                        visit_id=visit.id,
                        rider_id=rider,
                        slot_id=slot[kind].id,
                        kind=kind,
                        state="ended",
                        started_at=came + timedelta(minutes=1),
                        ended_at=came + timedelta(minutes=9),
                        end_reason="checkout",
                    )
                )
            if rider == a:
                s.add(
                    ServiceUse(
                        station_id=sid,
                        rider_id=rider,
                        visit_id=visit.id,
                        service_key="water",
                        at=came + timedelta(minutes=2),
                    )
                )
        s.add(ServiceUse(station_id=sid, rider_id=b, visit_id=None, service_key="microwave", at=at(1, 11, 45)))
        s.add(
            ServiceRequest(
                station_id=sid,
                rider_id=c,
                service="legal_aid",
                state="done",
                ticket="",
                ticket_url="",
                created_at=at(1, 18, 5),
            )
        )
        s.add(
            Hazard(
                station_id=sid,
                rider_id=a,
                category="traffic",
                note="路口红绿灯不亮",
                photos=[],
                state="kept",
                upload_token=secrets.token_urlsafe(18),
                tracking_no="",
                status_url="",
                created_at=at(1, 11, 20),
            )
        )
        s.commit()


def test_day_figures_by_hour(courier_app):
    fill(courier_app)
    staff = courier_app.test_client()
    Auth(courier_app, staff).login("staff")
    response = staff.get("/staff/courier_rest/stats?period=day&date=2024-05-01")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-figure="visits">4<' in html and 'data-figure="unique_riders">3<' in html
    assert 'data-figure="peak_hours">11:00, 12:00, 18:00<' in html
    assert html.count("<svg") == 2 and "<script" not in html.split("<main", 1)[1].split("</main>")[0]

    rows = list(
        csv.reader(
            io.StringIO(
                staff.get("/staff/courier_rest/stats.csv?period=day&date=2024-05-01")
                .get_data(as_text=True)
                .lstrip("\ufeff")
            )
        )
    )
    assert rows[0][:3] == ["bucket", "visits", "unique_riders"]
    by_hour = {r[0]: r for r in rows[1:]}
    assert by_hour["11"][1:] == ["2", "2", "1", "2", "0", "2", "0", "1"]
    assert by_hour["12"][1:3] == ["1", "1"] and by_hour["18"][1:] == ["1", "1", "0", "0", "1", "0", "1", "0"]
    assert by_hour["total"][1:] == ["4", "3", "1", "2", "1", "3", "1", "1"]
    assert len(rows) == 26  # header, 24 hours, total


def test_month_figures_and_the_district_json(courier_app):
    fill(courier_app)
    client = courier_app.test_client()
    url = "/api/courier_rest/stats?period=month&date=2024-05"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get(url, headers={"Authorization": "Bearer district-token-123"})
    assert response.status_code == 200
    data = response.get_json()
    assert (data["station"], data["period"], data["label"]) == ("sungang-nf", "month", "2024-05")
    assert data["visits"] == 5 and data["unique_riders"] == 3 and data["auto_closed"] == 1
    assert data["services"]["seat"] == 2 and data["services"]["phone_charging"] == 2
    assert data["services"]["battery_charging"] == 1
    assert data["services"]["basic"] == {"microwave": 1, "water": 2}
    assert data["services"]["advanced"] == {"legal_aid": 1}
    assert data["hazard_reports"] == 1 and data["new_riders"] == 3
    assert data["visits_by_hour"][11] == 3 and data["peak_hours"][0] == 11 and data["peak_hour_visits"] == 3
    assert data["average_stay_minutes"] == 30.0  # (30 + 20 + 10 + 60) / 4: the auto-closed visit is left out
    series = {row["bucket"]: row["visits"] for row in data["series"]}
    assert len(series) == 31 and series["2024-05-01"] == 4 and series["2024-05-02"] == 1
    assert set(data["now"]) >= {"seat", "phone", "battery", "in_station"}
    text = response.get_data(as_text=True)
    assert "13900000041" not in text and "甲" not in text  # counts only
    bad = client.get("/api/courier_rest/stats?period=year", headers={"Authorization": "Bearer district-token-123"})
    assert bad.status_code == 400


def test_district_api_is_off_without_a_token_and_bad_dates_are_explained(make_app, database_url):
    from test_courier_rest_support import courier_config

    app = make_app(database_url, **courier_config(api_token=""))
    client = app.test_client()
    response = client.get("/api/courier_rest/stats", headers={"Authorization": "Bearer "})
    assert response.status_code == 403 and "api_token" in response.get_json()["error"]
    Auth(app, client).login("staff")
    page = client.get("/staff/courier_rest/stats?period=day&date=2024-13-45")
    assert page.status_code == 400 and "2024-05-01" in page.get_data(as_text=True)
    assert client.get("/staff/courier_rest/stats").status_code == 200  # today, empty


def _local_date(moment):
    """A stored UTC time's date in Shenzhen (SQLite hands times back without their zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SZ).date()


def test_demo_data_fills_two_weeks_once(courier_app):
    from kiosk.demo import load_demo

    with courier_app.app_context():
        load_demo(courier_app, [])
        load_demo(courier_app, [])  # again: nothing is added twice
    with db(courier_app) as s:
        from sqlalchemy import func, select

        assert s.scalar(select(func.count(Rider.id))) == 24
        visits = s.scalar(select(func.count(Visit.id)))
        assert 14 * 20 + 3 <= visits <= 14 * 30 + 3
        assert s.scalar(select(func.count(Visit.id)).where(Visit.open_rider_id.is_not(None))) == 3
        # The three riders in the station now came up to 40 minutes ago: just
        # after midnight in Shenzhen they count for yesterday too.
        yesterday_date = (datetime.now(SZ) - timedelta(days=1)).date()
        live_yesterday = sum(
            1
            for came in s.scalars(select(Visit.checked_in_at).where(Visit.open_rider_id.is_not(None)))
            if _local_date(came) == yesterday_date
        )
    yesterday = yesterday_date.isoformat()
    client = courier_app.test_client()
    data = client.get(
        f"/api/courier_rest/stats?period=day&date={yesterday}", headers={"Authorization": "Bearer district-token-123"}
    ).get_json()
    assert 20 <= data["visits"] - live_yesterday <= 30 and data["peak_hours"]
    health = client.get("/healthz").get_json()["plugins"]["courier_rest"]
    assert health["ok"] and "in=3" in health["detail"]
