"""Ticket numbers: per-service prefix, daily restart in the station's timezone, no duplicates or gaps
when several kiosks (real processes) issue at the same moment against one database."""

from __future__ import annotations

import textwrap
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from test_legal_support import SHENZHEN, legal_app, take_ticket  # noqa: F401

from kiosk.testing import run_at_once
from kiosk_plugins.legal.models import QueueCount, Ticket

# One kiosk: its own app and HTTP client, waiting for the start signal, then
# taking tickets as fast as it can through the real kiosk route.
KIOSK_PROCESS = textwrap.dedent("""
    import sys
    from kiosk.app import create_app
    from kiosk.testing import app_config, start_folder, wait_for_start
    url, count = sys.argv[1], int(sys.argv[2])
    app = create_app(app_config(start_folder(), url, TESTING_NO_LISTENER=True, AUTO_MIGRATE=False,
                                PLUGINS={"legal": {"print_tickets": False}}))
    client = app.test_client()
    client.get("/")
    with client.session_transaction() as s:
        token = s["_csrf"]
    wait_for_start()
    for i in range(count):
        service = "consultation" if i % 3 else "mediation"
        r = client.post("/k/legal/take/" + service, data={"csrf_token": token, "priority": "", "phone": ""})
        assert r.status_code == 302, r.status_code
    app.extensions["db"].dispose()
""")


def _numbers(app) -> dict[str, list[int]]:
    session = app.extensions["db"].Session()
    try:
        out: dict[str, list[int]] = {}
        for ticket in session.scalars(select(Ticket).order_by(Ticket.number)):
            out.setdefault(ticket.numbered_service, []).append(ticket.number)
            assert (
                ticket.code == {"consultation": "A", "mediation": "B"}[ticket.numbered_service] + f"{ticket.number:03d}"
            )
        return out
    finally:
        session.close()


def _waiting_by_count_rows(app) -> tuple[dict, dict]:
    """(waiting per day and queue by the triggers' count rows, the same counted from the tickets)."""
    session = app.extensions["db"].Session()
    try:
        counted = session.execute(
            select(QueueCount.day, QueueCount.service, func.sum(QueueCount.waiting))
            .group_by(QueueCount.day, QueueCount.service)
            .having(func.sum(QueueCount.waiting) != 0)
        ).all()
        actual = session.execute(
            select(Ticket.day, Ticket.service, func.count())
            .where(Ticket.status == "waiting")
            .group_by(Ticket.day, Ticket.service)
        ).all()
        return {(d, s): n for d, s, n in counted}, {(d, s): n for d, s, n in actual}
    finally:
        session.close()


def test_concurrent_kiosks_never_share_or_skip_a_number(legal_app, database_url, tmp_path):
    kiosks, each = 3, 12
    run_at_once(KIOSK_PROCESS, database_url, str(each), processes=kiosks, folder=tmp_path)
    numbers = _numbers(legal_app)
    # The waiting counts the triggers keep (people ahead, the queue screens) lost no concurrent ticket.
    counted, actual = _waiting_by_count_rows(legal_app)
    assert counted == actual and sum(actual.values()) == kiosks * each
    per_service = {"consultation": kiosks * each * 2 // 3, "mediation": kiosks * each // 3}
    for service, count in per_service.items():
        # Unique and without gaps: 1..n exactly once each.
        assert numbers[service] == list(range(1, count + 1)), (service, numbers[service])


def test_numbers_restart_after_midnight_in_the_station_timezone(legal_app):
    clock = legal_app.legal_clock
    clock.set_local(datetime(2024, 5, 6, 23, 58, tzinfo=SHENZHEN))
    assert take_ticket(legal_app.test_client())["ticket"] == "A001"
    assert take_ticket(legal_app.test_client(), phone="13812345678")["ticket"] == "A002"
    assert take_ticket(legal_app.test_client(), "legal_aid")["ticket"] == "F001"
    # 00:01 in Shenzhen is still the previous day in UTC: the station's calendar decides.
    clock.set_local(datetime(2024, 5, 7, 0, 1, tzinfo=SHENZHEN))
    assert clock().date().day == 6
    fresh = take_ticket(legal_app.test_client())
    assert (fresh["ticket"], fresh["ahead"]) == ("A001", 0)  # yesterday's waiting tickets are not ahead
    page = legal_app.test_client().get("/k/legal/").get_data(as_text=True)
    assert 'data-service="consultation"' in page and 'data-waiting="1"' in page

    from kiosk_plugins.legal.day_close import expire_old_tickets

    take_ticket(legal_app.test_client(), "mediation", phone="13912345678")
    assert expire_old_tickets(legal_app) == 3
    session = legal_app.extensions["db"].Session()
    try:
        states = {(t.day.isoformat(), t.code): t.status for t in session.scalars(select(Ticket))}
        phones = {t.code: t.phone for t in session.scalars(select(Ticket).where(Ticket.phone.is_not(None)))}
    finally:
        session.close()
    # Kept "only for this ticket": yesterday's phone is gone, today's waiting ticket keeps its own.
    assert phones == {"B001": "13912345678"}
    # Yesterday's waiting counts went with its tickets, today's are there.
    counted, actual = _waiting_by_count_rows(legal_app)
    assert (
        counted
        == actual
        == {(datetime(2024, 5, 7).date(), "consultation"): 1, (datetime(2024, 5, 7).date(), "mediation"): 1}
    )
    session = legal_app.extensions["db"].Session()
    try:
        assert {row.day.isoformat() for row in session.scalars(select(QueueCount))} == {"2024-05-07"}
    finally:
        session.close()
    states.pop(("2024-05-07", "B001"))
    assert states == {
        ("2024-05-06", "A001"): "expired",
        ("2024-05-06", "A002"): "expired",
        ("2024-05-06", "F001"): "expired",
        ("2024-05-07", "A001"): "waiting",
    }


def test_the_unique_constraint_backs_up_the_lock(legal_app):
    take_ticket(legal_app.test_client())
    session = legal_app.extensions["db"].Session()
    try:
        original = session.scalars(select(Ticket)).one()
        twin = Ticket(
            **{
                c: getattr(original, c)
                for c in (
                    "station_id",
                    "day",
                    "numbered_service",
                    "number",
                    "code",
                    "service",
                    "status",
                    "priority",
                    "source",
                    "queue_at",
                    "issued_at",
                    "skips",
                    "calls",
                    "transferred_from",
                )
            },
            token="another-token",
        )
        session.add(twin)
        with pytest.raises(IntegrityError):
            session.commit()
    finally:
        session.rollback()
        session.close()
