"""Shared fixtures and a rider's-eye driver for the courier station tests (no tests here).

The driver taps through the real screens with the test client: every step is
an HTTP request the kiosk page would make, CSRF token included.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from kiosk.testing import csrf_of

COURIER_STATION = {"code": "sungang-nf", "name": "笋岗街道暖蜂驿站", "kind": "courier_station"}
SMALL = {
    "seats": 2,
    "phone_slots": 2,
    "battery_slots": 1,
    "phone_minutes": 60,
    "battery_minutes": 120,
    "hold_minutes": 10,
    "auto_close_at": "23:30",
    "api_token": "district-token-123",
}


def courier_config(**plugin_settings) -> dict:
    """App config for a small courier station."""
    return {"STATION": dict(COURIER_STATION), "PLUGINS": {"courier_rest": {**SMALL, **plugin_settings}}}


def switch_off(app, *plugins) -> None:
    """Switch plugins off for the station, as an admin does, so only the ones a test names answer.

    (Disabling them in the config instead would hide their migrations from a
    database they already migrated.)
    """
    from kiosk.models import Station

    with db(app) as s:
        station = s.get(Station, station_id(app))
        station.disabled_plugins = sorted(plugins)
        s.commit()


OTHER_SERVICES = ("legal", "petitions", "parking")


@pytest.fixture
def courier_app(make_app, database_url):
    """A small courier station where the other built-in plugins are switched off: the
    fallbacks (requests kept for staff) run whatever state those plugins are in."""
    app = make_app(database_url, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    return app


@pytest.fixture
def kiosk(courier_app):
    return Kiosk(courier_app.test_client())


@contextmanager
def db(app):
    """A plain session on the app's database, inside an app context."""
    with app.app_context():
        session = app.extensions["db"].Session()
        try:
            yield session
        finally:
            session.close()


def station_id(app) -> int:
    return app.extensions["kiosk_station_id"]


class Kiosk:
    """One kiosk screen driven by taps: each method is what a button on the page posts."""

    def __init__(self, client):
        self.client = client

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, **data):
        return self.client.post(path, data={**data, "csrf_token": csrf_of(self.client)})

    def follow(self, response):
        """Follow one redirect, as the browser does after a form post."""
        assert response.status_code in (302, 303), (response.status_code, response.get_data(as_text=True)[:500])
        return self.client.get(response.location)

    def phone(self, number: str):
        """Type a number on the keypad and tap Check in; returns the page it lands on."""
        return self.follow(self.post("/k/courier_rest/phone", phone=number))

    def register(self, name="张三明", phone="13812345678", platform="meituan", vehicle="ebike"):
        response = self.post("/k/courier_rest/register", name=name, phone=phone, platform=platform, vehicle=vehicle)
        return self.follow(response) if response.status_code == 302 else response

    def signup(self, name="张三明", phone="13812345678", **kw):
        """A first-time rider: types the phone, lands on the form, registers (and is checked in)."""
        page = self.phone(phone)
        assert "/register" in page.request.path or 'id="register-form"' in page.get_data(as_text=True)
        page = self.register(name=name, phone=phone, **kw)
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        return page

    def take(self, kind: str):
        return self.follow(self.post(f"/k/courier_rest/take/{kind}"))

    def wait(self, kind: str):
        return self.follow(self.post(f"/k/courier_rest/wait/{kind}"))

    def checkout(self):
        return self.follow(self.post("/k/courier_rest/checkout"))

    def finish(self):
        return self.post("/k/courier_rest/finish")

    def menu(self):
        return self.get("/k/courier_rest/menu")


def slot_number(page) -> int:
    """The big slot number on a result screen."""
    found = re.search(r'data-testid="slot-number">(\d+)<', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:1500]
    return int(found.group(1))


def notice(page) -> str:
    found = re.search(r'data-testid="notice">([^<]*)<', page.get_data(as_text=True))
    return found.group(1) if found else ""
