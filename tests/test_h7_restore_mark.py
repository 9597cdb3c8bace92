"""The mark of a restore (``kiosk restore``, ``kiosk sync restored``) and what the pusher does with it.

A restored station's outbox numbers from where the backup was, below what the
hub has applied; the mark makes its next pass renumber every entry the hub has
not acknowledged past the hub's number. Without the mark (a station whose
answer was lost in a crash) nothing is renumbered: the hub has those entries.
"""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import delete, func, select, update
from test_h4_sync_faults import (  # noqa: F401 - fixtures
    enrolled,
    hub,
    hub_devices,
    live,
    point_at,
    record_report,
    station,
)

from kiosk.cli import cli
from kiosk.db import session_for
from kiosk.models import JobRun
from kiosk.sync import pusher
from kiosk.sync.models import SyncOutbox, SyncPeer, SyncState
from kiosk.testing import count_rows

MARK = "kiosk.sync.restored@shuibei"


def hub_seq(hub) -> int:
    with session_for(hub) as session:
        return session.scalar(select(func.max(SyncPeer.last_seq))) or 0


def station_top(station) -> int:
    with session_for(station) as session:
        return session.scalar(select(func.max(SyncOutbox.seq))) or 0


def restore_backup_of(station, acked: int) -> None:
    """What a backup taken when the hub had acknowledged ``acked`` brings back (the outbox, the state)."""
    sid = station.extensions["kiosk_station_id"]
    with session_for(station, write=True) as session:
        session.execute(delete(SyncOutbox).where(SyncOutbox.seq > acked))
        session.get(SyncState, sid).acked_seq = acked
        session.commit()


def acked_seq(station) -> int:
    with session_for(station) as session:
        return session.get(SyncState, station.extensions["kiosk_station_id"]).acked_seq


def test_kiosk_sync_restored_marks_the_station_and_its_next_pass_sends_everything_after_the_hubs(enrolled, hub):
    station = enrolled
    record_report(station, "printer-1")
    pusher.sync_once(station)
    at_backup = acked_seq(station)
    for n in range(2, 5):
        record_report(station, f"printer-{n}")
    pusher.sync_once(station)
    restore_backup_of(station, at_backup)
    result = station.test_cli_runner().invoke(cli, ["sync", "restored"])
    assert result.exit_code == 0, result.output
    assert count_rows(station, JobRun, JobRun.name == MARK) == 1
    new = {f"printer-after-{n}" for n in range(6)}  # more than the hub is ahead by
    for name in sorted(new):
        record_report(station, name)
    pusher.sync_once(station)
    assert new <= hub_devices(hub)
    assert count_rows(station, JobRun, JobRun.name == MARK) == 0
    assert hub_seq(hub) == station_top(station) == acked_seq(station)


def test_an_answer_lost_in_a_crash_is_resent_under_the_same_numbers_without_a_mark(enrolled, hub):
    """No restore: the hub has what the station thinks unsent, and nothing is renumbered (nor sent twice)."""
    station = enrolled
    record_report(station, "printer-1")
    pusher.sync_once(station)
    before = acked_seq(station)
    for n in range(2, 5):
        record_report(station, f"printer-{n}")
    pusher.sync_once(station)
    applied = hub_seq(hub)
    assert applied > before
    # The hub applied the batch but the station crashed before it marked it sent.
    with session_for(station, write=True) as session:
        session.execute(update(SyncOutbox).where(SyncOutbox.seq > before).values(sent_at=None))
        session.get(SyncState, station.extensions["kiosk_station_id"]).acked_seq = before
        session.commit()
    for n in range(5, 12):  # more than the hub is ahead by
        record_report(station, f"printer-{n}")
    pusher.sync_once(station)
    top = station_top(station)
    assert top == applied + 7, "the entries the hub has kept their numbers"
    assert hub_seq(hub) == top == acked_seq(station)
    assert count_rows(station, SyncOutbox, SyncOutbox.sent_at.is_(None)) == 0


def test_the_mark_stays_until_the_hub_has_answered_where_it_is(enrolled, hub, live):
    station = enrolled
    record_report(station, "printer-1")
    pusher.sync_once(station)
    at_backup = acked_seq(station)
    record_report(station, "printer-2")
    pusher.sync_once(station)
    restore_backup_of(station, at_backup)
    pusher.mark_restored(station)
    record_report(station, "printer-3")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    point_at(station, nobody)
    with pytest.raises(pusher.SyncFailure):
        pusher.sync_once(station)
    assert count_rows(station, JobRun, JobRun.name == MARK) == 1
    point_at(station, live.url)
    record_report(station, "printer-4")
    pusher.sync_once(station)
    assert {"printer-3", "printer-4"} <= hub_devices(hub)
    assert count_rows(station, JobRun, JobRun.name == MARK) == 0
    assert hub_seq(hub) == station_top(station)
