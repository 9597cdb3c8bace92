"""Demo data: accounts, the demo kiosk terminal and whatever sample data each plugin offers."""

from __future__ import annotations

from sqlalchemy import select

from kiosk.auth import create_user
from kiosk.models import Station, User

#: The demo station is one kiosk terminal on the same PC, the one its readers belong to.
DEMO_TERMINAL = "kiosk-1"


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


def enrol_demo_terminal(app) -> str:
    """A fresh one-time enrolment path for the demo's kiosk terminal (added on first use).

    Opening it once in the demo's browser makes that browser the station's
    kiosk screen, so card taps and scans reach it.
    """
    from kiosk.db import session_for
    from kiosk.terminals import add, enrolment_path, find, local_terminal_name, new_link

    name = local_terminal_name(app) or DEMO_TERMINAL
    station_id = app.extensions["kiosk_station_id"]
    with app.app_context(), session_for(app, write=True) as session:
        terminal = find(session, station_id, name)
        if terminal is None or terminal.revoked_at is not None:
            if terminal is not None:  # revoked: the name goes to a new terminal
                terminal.name = f"{name[:20]}-old-{terminal.id}"
                session.flush()
            _terminal, token = add(session, station_id, name, "kiosk", "demo")
        else:
            token = new_link(session, terminal)
        session.commit()
    return enrolment_path(token)
