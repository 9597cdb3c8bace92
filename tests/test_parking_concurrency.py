"""Several kiosks at once: real processes against one SQLite file and against PostgreSQL.

Three processes (the "spawn" start method: fresh interpreters, as separate
kiosks or gunicorn workers are) each build their own app on the same
database, walk residents to the last step, wait at a barrier, and then:

1. issue vouchers for the same night of a lot with 4 spaces: exactly 4 succeed;
2. issue for one household (quota 2) with three of its cars at once: exactly 2;
3. redeem the same code from three attendants' phones: exactly one is let in.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

from test_parking_support import add_household, add_lot, next_occurrence, shift_voucher_times, vouchers

from kiosk.testing import app_config

WORKERS = 3
PER_WORKER = 3


def _config(url: str, instance: str) -> dict:
    # The ladder's test config; no push listener thread in a short-lived worker process.
    return app_config(instance, url, TESTING_NO_LISTENER=True)


def kiosk_process(index, url, instance, plan, barrier, results):
    """One kiosk: prepare every resident, then fire at the barrier (runs in a child process)."""
    from test_parking_support import choose_plate, csrf_token, identify, issue

    from kiosk.app import create_app

    out = {"index": index, "issue": [], "quota": [], "redeem": None, "error": ""}
    try:
        app = create_app(_config(url, instance))
        ready = []
        for phone, plate in plan["issue"][index]:
            client = app.test_client()
            assert identify(client, phone).status_code == 302
            assert choose_plate(client, plate).status_code == 302
            ready.append(client)
        quota_client = app.test_client()
        identify(quota_client, plan["quota_phone"])
        choose_plate(quota_client, plan["quota_plates"][index])
        staff = app.test_client()
        # Signed in as the attendant directly: the login form is not what is raced here.
        with staff.session_transaction() as sess:
            sess["uid"] = plan["attendant"]
        barrier.wait(timeout=90)
        for client in ready:
            out["issue"].append(issue(client, plan["window"], plan["day"]).status_code)
        barrier.wait(timeout=90)
        out["quota"].append(issue(quota_client, plan["quota_window"], plan["quota_day"]).status_code)
        barrier.wait(timeout=90)
        response = staff.post(
            "/staff/parking/redeem",
            data={"lot": str(plan["lot"]), "code": plan["code"], "csrf_token": csrf_token(staff)},
        )
        out["redeem"] = response.status_code
        app.extensions["db"].dispose()
    except Exception as exc:  # reported to the parent, which fails the test with it
        out["error"] = f"{type(exc).__name__}: {exc}"
        barrier.abort()
    results.put(out)


def test_many_kiosks_never_oversell_exceed_quotas_or_redeem_twice(app, auth, database_url, tmp_path):
    busy = add_lot(app, spaces=4)
    quota_lot = add_lot(app, name="周边商场共享车位", spaces=10, quota=2)
    people = []
    for i in range(WORKERS * PER_WORKER):
        phone, plate = f"1390013{i:04d}", f"粤B{i:05d}"
        add_household(app, f"贝丽花园{i}栋", "住户", phone, [plate])
        people.append((phone, plate))
    quota_plates = [f"粤BD{i:05d}" for i in range(WORKERS)]
    add_household(app, "深华丽园B座502", "李秀英", "13800138000", quota_plates)
    auth.create("attendant", "correct-horse", "staff")
    with app.app_context():
        from sqlalchemy import select

        from kiosk.models import User

        session = app.extensions["db"].Session()
        attendant = session.scalar(select(User.id).where(User.username == "attendant"))
        session.close()
    occ = next_occurrence(app, busy["windows"][0])
    quota_occ = next_occurrence(app, quota_lot["windows"][0])
    # The voucher the attendants fight over, made current.
    from test_parking_support import get_voucher, voucher_id_from

    add_household(app, "贝丽花园1栋0101", "王建国", "13800138999", ["粤B88888"])
    resident = app.test_client()
    vid = voucher_id_from(get_voucher(resident, "13800138999", "粤B88888", quota_occ.window_id, quota_occ.day))
    target = next(v for v in vouchers(app) if v.id == vid)
    shift_voucher_times(app, vid, datetime.now(UTC) - timedelta(hours=1) - target.starts_at)

    plan = {
        "issue": [people[i * PER_WORKER : (i + 1) * PER_WORKER] for i in range(WORKERS)],
        "window": occ.window_id,
        "day": occ.day.isoformat(),
        "quota_phone": "13800138000",
        "quota_plates": quota_plates,
        "quota_window": quota_occ.window_id,
        "quota_day": quota_occ.day.isoformat(),
        "lot": quota_lot["lot"],
        "code": target.code,
        "attendant": attendant,
    }
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = []
    for i in range(WORKERS):
        instance = tmp_path / f"kiosk-{i}"
        instance.mkdir()
        proc = ctx.Process(target=kiosk_process, args=(i, database_url, str(instance), plan, barrier, results))
        proc.start()
        procs.append(proc)
    outcomes = [results.get(timeout=180) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    errors = [o["error"] for o in outcomes if o["error"]]
    assert not errors, errors

    issued = [s for o in outcomes for s in o["issue"]]
    assert len(issued) == WORKERS * PER_WORKER
    assert sorted(set(issued)) == [302, 409], issued
    assert issued.count(302) == 4, "exactly the lot's 4 spaces were issued"
    rows = vouchers(app)
    assert len([v for v in rows if v.lot_id == busy["lot"]]) == 4

    quota = [s for o in outcomes for s in o["quota"]]
    assert quota.count(302) == 2 and quota.count(409) == WORKERS - 2, quota
    assert len([v for v in rows if v.lot_id == quota_lot["lot"] and v.plate.startswith("粤BD")]) == 2

    redeemed = [o["redeem"] for o in outcomes]
    assert redeemed.count(200) == 1 and redeemed.count(409) == WORKERS - 1, redeemed
    assert next(v for v in vouchers(app) if v.id == vid).status == "used"
