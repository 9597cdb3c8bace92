"""Every action the legal counter records in the audit log reads as words, not as its key."""

from __future__ import annotations

import re

from sqlalchemy import select

from kiosk.audit import action_text
from kiosk.models import AuditLog
from tests.test_legal_support import call_next, staff_post, take_ticket


def test_a_counters_whole_day_of_actions_reads_as_words_in_three_languages(app, client, auth):
    for _ in range(3):
        take_ticket(client)
    auth.login("staff")
    assert staff_post(client, "/staff/legal/counter/1/take").status_code == 302
    assert call_next(client, 1)
    staff_post(client, "/staff/legal/counter/1/recall")
    staff_post(client, "/staff/legal/counter/1/served")
    call_next(client, 1)
    staff_post(client, "/staff/legal/counter/1/no-show")
    page = client.get("/staff/legal/counter/1").get_data(as_text=True)
    missed = re.search(r'name="ticket" value="(\d+)"', page)
    assert missed, "the no-show is offered to be called back"
    staff_post(client, "/staff/legal/counter/1/recall-no-show", ticket=missed.group(1))
    staff_post(client, "/staff/legal/counter/1/pause", paused="1")
    staff_post(client, "/staff/legal/counter/1/pause", paused="0")
    with app.app_context():
        session = app.extensions["db"].Session()
        actions = set(session.scalars(select(AuditLog.action).where(AuditLog.action.like("legal.%"))))
        session.close()
        assert {"legal.call_next", "legal.served", "legal.no_show", "legal.counter_paused"} <= actions
        for action in actions:
            for locale in ("zh_Hans", "zh_Hant", "en"):
                assert action_text(action, locale) != action, f"{action} has no words in {locale}"
        assert action_text("legal.call_next", "zh_Hans") == "叫号"
