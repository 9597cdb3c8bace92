"""A resident's phone number is masked everywhere except the staff pages, and never logged."""

from __future__ import annotations

import json
import logging
import time

from sqlalchemy import select
from test_legal_support import call_next, install_clock, login, staff_post, take_ticket

from kiosk.models import AuditLog, KioskEvent, PrintJob

PHONE = "13812345678"
MASKED = "138****5678"


def _wait_printed(client, job_id):
    # Logging staff in while the print worker writes would race on SQLite (see the report).
    deadline = time.monotonic() + 10
    while client.get(f"/print-jobs/{job_id}").get_json()["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, "the receipt never finished printing"
        time.sleep(0.05)


def test_phone_is_masked_on_every_public_surface_and_never_logged(make_app, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    # Printing on (the preview printer), so the receipt document is stored too.
    app = make_app(database_url)
    install_clock(app)
    kiosk = app.test_client()
    issued = take_ticket(kiosk, "consultation", phone="138 1234 5678")  # spaces as people type them
    assert MASKED in issued["html"] and PHONE not in issued["html"]
    _wait_printed(kiosk, issued["job"])

    staff = login(app, "staff")
    queue_page = staff.get("/staff/legal/").get_data(as_text=True)
    assert PHONE in queue_page  # the counter may call the resident back
    assert call_next(staff, 1) == "A001"
    counter_page = staff.get("/staff/legal/counter/1").get_data(as_text=True)
    assert f'data-testid="current-phone">{PHONE}<' in counter_page
    staff_post(staff, "/staff/legal/counter/1/recall")
    staff_post(staff, "/staff/legal/counter/1/served")

    public = [
        kiosk.get("/k/legal/").get_data(as_text=True),
        kiosk.get("/k/legal/issued").get_data(as_text=True),
        kiosk.get("/k/legal/display").get_data(as_text=True),
        kiosk.get("/k/legal/display/state.json").get_data(as_text=True),
        kiosk.get(f"/m/legal/t/{issued['token']}").get_data(as_text=True),
        kiosk.get(f"/m/legal/t/{issued['token']}.json").get_data(as_text=True),
        login(app, "admin", "admin1").get("/admin/legal/stats.csv").get_data(as_text=True),
    ]
    for body in public:
        assert PHONE not in body
    # The display and the phone page do not show the number at all, not even masked.
    for body in public[2:6]:
        assert MASKED not in body and "5678" not in body

    # The receipt document in the print queue holds only the masked number.
    session = app.extensions["db"].Session()
    try:
        job = session.scalar(select(PrintJob).where(PrintJob.id == issued["job"]))
        stored = json.dumps(job.receipt, ensure_ascii=False)
        assert MASKED in stored and PHONE not in stored
        events = json.dumps([e.payload for e in session.scalars(select(KioskEvent))], ensure_ascii=False)
        audit = json.dumps([a.detail for a in session.scalars(select(AuditLog))], ensure_ascii=False)
    finally:
        session.close()
    assert '"ticket": "A001"' in events and PHONE not in events and "5678" not in events
    assert '"ticket": "A001"' in audit and PHONE not in audit and "5678" not in audit
    # Logs never hold it, in any spelling.
    assert caplog.records, "the flow should have logged something to check"
    assert PHONE not in caplog.text and "138 1234 5678" not in caplog.text and MASKED not in caplog.text
