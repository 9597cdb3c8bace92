"""station_row_or_404 (kiosk.stations): this station's row, or a 404 that looks the same for another
station's row, a missing one and a token no row could have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.exceptions import NotFound

from kiosk.models import KioskEvent, Station
from kiosk.stations import station_row_or_404


def _other_station(app) -> int:
    with app.extensions["db"].Session() as s:
        other = Station(code="cuizhu", name="翠竹", kind="party_service", timezone="Asia/Shanghai", disabled_plugins=[])
        s.add(other)
        s.commit()
        return other.id


def _event(app, station_id: int, name: str) -> int:
    with app.extensions["db"].Session() as s:
        row = KioskEvent(station_id=station_id, channel="test", name=name, payload={})
        s.add(row)
        s.commit()
        return row.id


def test_only_this_stations_row_is_found(app):
    here = app.extensions["kiosk_station_id"]
    mine, theirs = _event(app, here, "mine"), _event(app, _other_station(app), "theirs")
    with app.test_request_context("/"):
        assert station_row_or_404(KioskEvent, mine).name == "mine"
        assert station_row_or_404(KioskEvent, name="mine").id == mine
        for attempt in (
            {"row_id": theirs},
            {"name": "theirs"},
            {"row_id": theirs + 100},
            {"name": "mine\x00"},
            {"row_id": mine, "name": "theirs"},
        ):
            with pytest.raises(NotFound):
                station_row_or_404(KioskEvent, **attempt)
        with pytest.raises(TypeError):
            station_row_or_404(KioskEvent)


def test_another_stations_row_is_a_404_over_http(app):
    from kiosk_plugins.legal.models import DutySlot

    here, there = app.extensions["kiosk_station_id"], _other_station(app)
    start = datetime.now(UTC) + timedelta(days=1)
    ids = {}
    with app.extensions["db"].Session() as s:
        for station_id in (here, there):
            slot = DutySlot(
                station_id=station_id,
                service="consultation",
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                lawyer="王律师",
                organisation="",
                capacity=1,
            )
            s.add(slot)
            s.flush()
            ids[station_id] = slot.id
        s.commit()
    client = app.test_client()
    assert client.get(f"/k/legal/book/slot/{ids[here]}").status_code == 200
    assert client.get(f"/k/legal/book/slot/{ids[there]}").status_code == 404
    assert client.get(f"/k/legal/book/slot/{ids[there] + 100}").status_code == 404
