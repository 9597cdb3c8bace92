"""The request's station row from the process's copy (kiosk.stations): one object, persistent and unchanged."""

from __future__ import annotations

from sqlalchemy import event

from kiosk.db import get_session
from kiosk.models import Station


def test_the_cached_station_is_put_in_the_session_without_building_a_second_object(app):
    from kiosk.stations import current_station

    built = []

    def init(*_args, **_kwargs) -> None:
        built.append(1)

    with app.test_request_context("/"):
        current_station()  # reads the row and keeps its copy
    event.listen(Station, "init", init)
    try:
        for _ in range(2):
            with app.test_request_context("/"):
                station = current_station()
                session = get_session()
                assert station in session and not session.is_modified(station) and not session.new
                assert station.code == "shuibei" and station.plugin_enabled("legal")
                assert get_session().get(Station, station.id) is station  # the identity map's row, no read
                station.name = "水贝 (changed)"
                assert session.is_modified(station)  # still a row the request can change
                session.rollback()
    finally:
        event.remove(Station, "init", init)
    assert built == []  # the old copy was built with Station(**values), then merged into a second object
