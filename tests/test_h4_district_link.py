"""A station and its hub as real processes, the link between them misbehaving (helper H4's outside check).

Beyond tests/test_district_e2e.py's clean cut: the station's relay black-holes
connections (accepts, never answers), resets them, answers with a reverse
proxy's 502 page, and trickles the hub's answer back so it is lost after the hub
applied the batch; the hub is killed in the middle of a push. Residents take
tickets throughout. Afterwards every ticket is at the hub once, in the station's
order, and the station's status said what was wrong while it was.

PostgreSQL only (the hub runs on it). See tests/district_harness.py.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from kiosk.testing import PG_SKIP, PG_URL

sys.path.insert(0, str(Path(__file__).resolve().parent))

from district_harness import District, Station, wait_for  # noqa: E402
from test_district_e2e import A, hub_parked, hub_tickets, make_station, take_ticket  # noqa: E402

pytestmark = pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
#: Each test on one worker of its own (each starts its own hub and station): about 75 s and 40 s.
LINK_FAULTS = pytest.mark.xdist_group("district-h4")
LOST_ANSWER = pytest.mark.xdist_group("district-h4-2")


@pytest.fixture
def district(tmp_path):
    with District(tmp_path) as d:
        yield d


def station_tokens(station: Station) -> list[str]:
    """The tokens of the tickets the station recorded for the hub, in the order it recorded them."""
    rows = station.sql("SELECT key, data FROM sync_outbox WHERE kind = 'legal.ticket' ORDER BY seq, id")
    import json

    seen: list[str] = []
    for _key, data in rows:
        token = json.loads(data)["token"]
        if token not in seen:
            seen.append(token)
    return seen


def all_at_hub_once_in_order(district: District, station: Station) -> None:
    district.synced(station, seconds=180)
    at_hub = [t[0] for t in hub_tickets(district, station.code)]
    assert len(at_hub) == len(set(at_hub)), "a ticket stored twice at the hub"
    assert at_hub == station_tokens(station), "the hub's tickets differ from the station's"
    assert hub_parked(district) == []


def sync_status(station: Station) -> dict:
    status, body = station.browser().json("/healthz")
    assert status == 200, body
    return body["sync"]


@LINK_FAULTS
def test_black_hole_reset_and_a_proxys_502_lose_and_double_nothing_and_staff_see_each(district):
    district.start_hub()
    a = make_station(district, A)
    district.synced(a)
    kiosk = a.browser()
    taken: list[str] = []
    for mode, says in (("blackhole", "timed out"), ("reset", "reset"), ("answer", "502")):
        a.relay.mode = mode
        taken += [take_ticket(kiosk, a) for _ in range(4)]
        wait_for(lambda says=says: says in a.sync_error(), 120, f"the station to say {mode} failed ({says})", every=0.3)
        status = sync_status(a)
        assert says in status["last_error"], status
        assert status["waiting"] >= len(taken) and status["oldest_waiting_at"], status
    assert not set(taken) & {t[0] for t in hub_tickets(district, a.code)}, "a ticket crossed a broken link"
    a.relay.mode = "pass"
    all_at_hub_once_in_order(district, a)
    assert set(taken) <= {t[0] for t in hub_tickets(district, a.code)}
    wait_for(lambda: a.sync_error() == "", 30, "the station's error to clear")


@LOST_ANSWER
def test_an_answer_lost_after_the_hub_applied_and_a_hub_killed_mid_push_double_nothing(district):
    district.start_hub()
    a = make_station(district, A)
    district.synced(a)
    kiosk = a.browser()
    # 1. The hub applies a batch; its answer trickles back and the link is cut before it arrives.
    a.relay.mode, a.relay.drip_every = "drip", 0.5
    start = district.hub.last_seq(a.code)
    first = [take_ticket(kiosk, a) for _ in range(3)]
    wait_for(lambda: district.hub.last_seq(a.code) > start, 60, "the hub to apply the batch", every=0.1)
    assert a.outbox_waiting() > 0, "the answer arrived: nothing proven"
    a.relay.cut()
    wait_for(a.sync_error, 60, "the station to see its request fail")
    a.relay.mode = "pass"
    a.relay.restore()
    all_at_hub_once_in_order(district, a)
    # 2. A backlog over a slow link; the hub is killed once the first batch is in, and restarted.
    a.relay.cut()
    backlog = [take_ticket(kiosk, a) for _ in range(220)]  # more than one batch of 200
    start = district.hub.last_seq(a.code)
    a.relay.throttle = 40_000
    a.relay.restore()
    wait_for(lambda: district.hub.last_seq(a.code) > start, 120, "the first batch of the backlog", every=0.05)
    district.hub.kill(signal.SIGKILL)
    assert a.outbox_waiting() > 0, "the whole backlog was in before the kill: nothing proven"
    a.relay.throttle = None
    district.hub.start()
    all_at_hub_once_in_order(district, a)
    assert set(first + backlog) <= {t[0] for t in hub_tickets(district, a.code)}
