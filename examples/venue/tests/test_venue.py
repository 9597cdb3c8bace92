"""The venue plugin's own tests, with the kiosk's plugin fixtures (``kiosk.testing``).

From this folder, after ``pip install -e .``: ``python -m pytest``. Each test
runs on SQLite and, with ``KIOSK_TEST_DATABASE_URL`` set, on PostgreSQL. The
kiosk's repository runs them too (tests/test_example_venue.py), along with
tests in a browser.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kiosk.testing import count_rows, printed_receipts
from kiosk_venue.models import VenueBooking


@pytest.fixture
def kiosk_config():
    """One room only, to show how a test sets the plugin's station settings."""
    return {
        "PLUGINS": {
            "venue": {
                "rooms": [{"key": "crafts", "label": {"zh_Hans": "手工室", "en": "Crafts room"}}],
                "booking_days": 3,
            }
        }
    }


def add_slot(client, csrf, capacity="1") -> str:
    """Add tomorrow's 15:00 slot as staff; returns its id as the kiosk page shows it."""
    # The station's clock, not the test machine's: slots are entered in the station's time zone.
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    added = client.post(
        "/staff/venue/slots",
        data={
            "room": "crafts",
            "day": tomorrow,
            "start": "15:00",
            "end": "16:00",
            "capacity": capacity,
            "csrf_token": csrf(client),
        },
    )
    assert added.status_code == 302
    page = client.get("/k/venue/rooms/crafts").get_data(as_text=True)
    return page.split('data-slot="', 1)[1].split('"', 1)[0]


def test_staff_add_a_slot_and_a_resident_books_it(app, client, csrf, login):
    login("staff")
    slot_id = add_slot(client, csrf)
    rooms = client.get("/k/venue/").get_data(as_text=True)
    assert "手工室" in rooms and "作业辅导室" not in rooms
    booked = client.post(f"/k/venue/slots/{slot_id}", data={"phone": "", "csrf_token": csrf(client)})
    assert booked.status_code == 302
    assert 'data-testid="booking-code"' in client.get("/k/venue/booked").get_data(as_text=True)
    # Capacity 1: the next resident is told it is full.
    assert client.post(f"/k/venue/slots/{slot_id}", data={"csrf_token": csrf(client)}).status_code == 409
    # The preview printer printed one slip, for the one booking.
    (slip,) = printed_receipts(app, "venue.slip")
    assert "手工室" in slip.plain_text()
    # The home screen forgets the resident (kiosk.visitors): the next one cannot open the booking and its code.
    client.get("/")
    assert client.get("/k/venue/booked").status_code == 302


def test_a_booking_needs_a_real_slot_and_a_valid_phone(app, client, csrf, login):
    assert client.get("/k/venue/slots/999").status_code == 404
    assert client.get("/k/venue/rooms/rooftop").status_code == 404
    login("staff")
    slot_id = add_slot(client, csrf)
    refused = client.post(f"/k/venue/slots/{slot_id}", data={"phone": "12345", "csrf_token": csrf(client)})
    assert refused.status_code == 400
    assert count_rows(app, VenueBooking) == 0
