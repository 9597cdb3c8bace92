"""Server time to issue a parking voucher (``POST /k/parking/issue``), in-process.

Run ``python -m bench.parking_bench [iterations]`` (default 1,000). Each
iteration is a different registered household with its own car, identified
and with its plate chosen beforehand (not timed); the timed request does the
whole issue: quota and overlap checks, the locked capacity check, the insert,
the HMAC code, the event, and handing the receipt to the print queue (a
preview printer, so rendering runs in the queue's thread as on a kiosk).

SQLite always; PostgreSQL too when ``KIOSK_BENCH_DATABASE_URL`` or
``KIOSK_TEST_DATABASE_URL`` is set (in a scratch database it creates and drops).
``--profile`` prints a pyinstrument profile of 200 issues on SQLite.

:func:`http_load` is the same over real HTTP against `kiosk serve`: for each
voucher a kiosk identifies a household by phone and picks its car (not
counted), then issues (counted). Each load adds its own households and lot.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
import statistics
import sys
import tempfile
import time

from bench import load, pg

HOUSEHOLD_CSV_HEADER = "unit,name,phone,plates\n"
#: Plate letters after 粤 per batch of households (not I or O); batch 0 is the in-process bench's.
PLATE_LETTERS = "BCDEFGHJKLMNPQRSTUVWXYZA"
#: More vouchers a second than this machine can issue: each HTTP load gets households for that many.
MAX_VOUCHERS_PER_SECOND = 300
_http_batches = itertools.count(1)


def _plate(i: int, batch: int = 0) -> str:
    return f"粤{PLATE_LETTERS[batch]}{i:05d}"


def _phone(i: int, batch: int = 0) -> str:
    return f"13{batch:02d}{i:07d}"


def _pct(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def _app(database_url: str | None):
    from kiosk.app import create_app

    instance = tempfile.mkdtemp(prefix="kiosk-bench-parking-")
    config = {
        "SECRET_KEY": "bench-0123456789abcdef",
        "INSTANCE_PATH": instance,
        "STATION_FILE": "",
        "TESTING": True,
        "IME_PRELOAD": False,
        "RUN_JOBS": False,
        "START_DEVICES": False,
        "TESTING_NO_LISTENER": True,
        "SECURITY": {"rate_limits": False},
        "DEVICES": {"printer": {"type": "preview", "folder": os.path.join(instance, "receipts")}, "readers": {}},
    }
    if database_url:
        config["DATABASE_URL"] = database_url
    return create_app(config)


def _setup(app, households: int, batch: int = 0) -> tuple[int, str]:
    """One big lot with a nightly window, and ``households`` registered households of ``batch``."""
    from kiosk import clock
    from kiosk.models import Station
    from kiosk_plugins.parking import schedule
    from kiosk_plugins.parking.households import import_csv
    from kiosk_plugins.parking.models import Lot, Window

    rows = [
        f"贝丽花园{batch}区{i // 100}栋{i % 100:04d},住户{i},{_phone(i, batch)},{_plate(i, batch)}"
        for i in range(households)
    ]
    with app.app_context():
        session = app.extensions["db"].WriteSession()
        station = session.get(Station, app.extensions["kiosk_station_id"])
        report = import_csv(session, station.id, HOUSEHOLD_CSV_HEADER + "\n".join(rows) + "\n")
        assert report.ok, report.errors[:3]
        lot = Lot(
            station_id=station.id,
            name=f"水贝万山珠宝产业园停车场{batch or ''}",
            address="罗湖区翠竹街道水贝社区",
            spaces=households + 10,
            price_cents=1000,
            quota_per_month=0,
            reserve_days=1,
            hold_minutes=0,
            active=True,
        )
        session.add(lot)
        session.flush()
        window = Window(
            station_id=station.id,
            lot_id=lot.id,
            label="夜间",
            start_time="19:00",
            end_time="08:00",
            weekdays="0123456",
            active=True,
        )
        session.add(window)
        session.commit()
        from kiosk.db import utcnow

        occ = schedule.bookable(window, utcnow(), clock.zone(station), lot.reserve_days)[-1]
        session.close()
    return occ.window_id, occ.day.isoformat()


def _csrf(client) -> str:
    with client.session_transaction() as sess:
        return sess["_csrf"]


def issue_times(database_url: str | None, iterations: int, warmup: int = 30) -> list[float]:
    """Seconds per issue request, for ``iterations`` different households."""
    app = _app(database_url)
    try:
        window_id, day = _setup(app, iterations + warmup)
        client = app.test_client()
        client.get("/k/parking/")
        token = _csrf(client)
        times = []
        for i in range(iterations + warmup):
            client.post("/k/parking/identify", data={"phone": _phone(i), "csrf_token": token})
            client.post("/k/parking/plate", data={"plate": _plate(i), "csrf_token": token})
            t0 = time.perf_counter()
            response = client.post("/k/parking/issue", data={"window": str(window_id), "day": day, "csrf_token": token})
            elapsed = time.perf_counter() - t0
            assert response.status_code == 302 and re.search(r"/voucher/\d+", response.headers["Location"]), (
                response.status_code,
                response.get_data(as_text=True)[:300],
            )
            if i >= warmup:
                times.append(elapsed)
        return times
    finally:
        app.extensions["kiosk_printing"].shutdown()
        app.extensions["db"].dispose()


def _summary(times: list[float]) -> dict:
    return {
        "requests": len(times),
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(_pct(times, 99) * 1000, 2),
    }


def run(iterations: int = 1000) -> dict:
    """Median and p99 server time of issuing a voucher, per database."""
    out = {"issue voucher (sqlite)": _summary(issue_times(None, iterations))}
    if pg.base_url():
        with pg.scratch("parking_bench") as url:
            out["issue voucher (postgresql)"] = _summary(issue_times(url, iterations))
    return out


# -- over HTTP -------------------------------------------------------------------
def open_identify(conn, index: int, *, batch: int, per_client: int, window: int, day: str) -> dict:
    """A kiosk browser on the parking start screen, with the households it will serve."""
    state = load.open_form(conn, "/k/parking/", index)
    state.update(batch=batch, first=index * per_client, per_client=per_client, window=str(window), day=day)
    return state


def voucher_steps(i: int, state: dict) -> tuple:
    """Identify by phone, pick the car (not counted), issue (counted); a new household each time.

    A client that runs out of households starts again from its first, whose
    car already has a voucher: those 409s show as errors, so raise
    :data:`MAX_VOUCHERS_PER_SECOND` if they appear.
    """
    number, step = divmod(i, 3)
    n = state["first"] + number % state["per_client"]
    if step == 0:
        return load.post(state, "/k/parking/identify", {"phone": _phone(n, state["batch"])}, timed=False)
    if step == 1:
        return load.post(state, "/k/parking/plate", {"plate": _plate(n, state["batch"])}, timed=False)
    return load.post(state, "/k/parking/issue", {"window": state["window"], "day": state["day"]})


def prepare_http(app, clients: int, seconds: float):
    """Households, a lot and a window for one load on ``app``'s database; returns the clients' setup."""
    batch = next(_http_batches)
    per_client = math.ceil(MAX_VOUCHERS_PER_SECOND * seconds / clients)
    window, day = _setup(app, clients * per_client, batch)
    return functools.partial(open_identify, batch=batch, per_client=per_client, window=window, day=day)


def http_load(server, clients: int, seconds: float) -> dict:
    """Vouchers issued by ``clients`` kiosks at once, each for another household's car."""
    with server.app() as app:
        setup = prepare_http(app, clients, seconds)
    return load.run(
        server.url,
        voucher_steps,
        clients=clients,
        seconds=seconds,
        setup=setup,
        on_response=load.keep_cookies,
        expect=(302,),
        expect_location="/k/parking/voucher/",
    )


def profile(iterations: int = 200) -> None:
    """Print where the time of an issue goes (pyinstrument), SQLite."""
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
    issue_times(None, iterations, warmup=0)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    if "--profile" in sys.argv:
        profile()
    else:
        count = int(next((a for a in sys.argv[1:] if a.isdigit()), 1000))
        for name, figures in run(count).items():
            print(
                f"{name}: {figures['requests']} requests, median {figures['median_ms']} ms, p99 {figures['p99_ms']} ms"
            )
