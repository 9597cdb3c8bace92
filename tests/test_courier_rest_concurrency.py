"""Two kiosks acting at the same moment, as real processes on one database (SQLite file and PostgreSQL).

Three kiosk processes start their own app on the same database. Two of them
serve the same rider (a card tapped on two kiosks at once) and two riders
reach for the station's only phone-charging slot at the same instant; a
barrier releases every step together.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

from sqlalchemy import func, select
from test_courier_rest_support import Kiosk, courier_config, db, station_id

from kiosk_plugins.courier_rest.models import Rider, Use, Visit

HERE = os.path.dirname(__file__)
RIDERS = {"13900000031": "陈一", "13900000032": "陈二"}
# Kiosk process → the rider at it: the first rider stands at two kiosks at once.
AT_KIOSK = ["13900000031", "13900000031", "13900000032"]
ONE_SLOT = {"phone_slots": 1}


def _kiosk_process(url, instance, phone, barrier, results):
    """One kiosk: its own app and session; identify, wait for the others, take a charging slot."""
    sys.path.insert(0, HERE)
    from test_courier_rest_support import Kiosk as Driver

    from kiosk.app import create_app
    from kiosk.testing import app_config

    config = app_config(instance, url, TESTING_NO_LISTENER=True, **courier_config(**ONE_SLOT))
    try:
        app = create_app(config)
        kiosk = Driver(app.test_client())
        kiosk.get("/k/courier_rest/")
        barrier.wait(timeout=60)
        kiosk.post("/k/courier_rest/phone", phone=phone)
        barrier.wait(timeout=60)
        response = kiosk.post("/k/courier_rest/take/phone")
        page = kiosk.client.get(response.location).get_data(as_text=True)
        results.put((phone, "slot" if 'data-result="slot"' in page else "refused"))
        app.extensions["db"].dispose()
    except Exception as exc:  # reported to the test instead of a silent hang
        barrier.abort()
        results.put((phone, f"error: {type(exc).__name__}: {exc}"))


def test_two_kiosks_at_once_never_double_book(make_app, database_url, tmp_path):
    courier_app = make_app(database_url, **courier_config(**ONE_SLOT))
    for phone, name in RIDERS.items():
        kiosk = Kiosk(courier_app.test_client())
        kiosk.signup(name=name, phone=phone)
        kiosk.checkout()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(AT_KIOSK))
    results = ctx.Queue()
    processes = []
    for i, phone in enumerate(AT_KIOSK):
        instance = tmp_path / f"kiosk-{i}"
        instance.mkdir()
        p = ctx.Process(target=_kiosk_process, args=(database_url, str(instance), phone, barrier, results))
        p.start()
        processes.append(p)
    outcomes = [results.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(timeout=30)
    assert not [o for o in outcomes if o[1].startswith("error")], outcomes
    # Two riders, one slot, three taps: exactly one tap got it.
    assert sorted(o[1] for o in outcomes) == ["refused", "refused", "slot"], outcomes
    with db(courier_app) as s:
        sid = station_id(courier_app)
        open_visits = s.execute(
            select(Visit.rider_id, func.count())
            .where(Visit.station_id == sid, Visit.open_rider_id.is_not(None))
            .group_by(Visit.rider_id)
        ).all()
        # The rider checked in on two kiosks at once has one visit, not two.
        assert len(open_visits) == 2 and all(n == 1 for _, n in open_visits)
        live = s.execute(select(Use.slot_id, Use.rider_id).where(Use.live_slot_id.is_not(None))).all()
        assert len(live) == 1
        winners = {s.scalar(select(Rider.phone).where(Rider.id == rider)) for _, rider in live}
        assert winners == {phone for phone, result in outcomes if result == "slot"}
