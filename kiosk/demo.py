"""Demo data: accounts and whatever sample data each plugin offers."""

from __future__ import annotations

from sqlalchemy import select

from kiosk.auth import create_user
from kiosk.models import Station, User


def load_demo(app, users) -> list[str]:
    """Create the demo accounts (if missing) and let plugins fill the station."""
    with app.app_context():  # plugins' demo data may read their settings from current_app
        return _load(app, users)


def _load(app, users) -> list[str]:
    db = app.extensions["db"]
    created = []
    session = db.Session()
    try:
        station = session.get(Station, app.extensions["kiosk_station_id"])
        for username, password, role, name in users:
            if session.scalar(select(User).where(User.username == username)) is None:
                create_user(session, username, password, role=role, station_id=station.id, display_name=name)
                created.append(username)
        session.commit()
        app.extensions["kiosk_plugins"].call("register_demo_data", station=station, session=session)
        session.commit()
    finally:
        session.close()
    return created
