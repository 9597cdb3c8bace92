"""Personal data lives only as long as its purpose (issue 17 point 13), on SQLite and PostgreSQL.

One station is filled with data of every kind, each once past its period and
once inside it; ``kiosk purge --dry-run`` counts without touching anything,
``kiosk purge`` takes exactly the old half: rows, the photo folder's files and
the receipt store's previews.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from kiosk.cli import cli
from kiosk.db import session_for
from kiosk.models import AuditLog, LoginAttempt, PrintJob

NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(days=800)  # past every default period
LATELY = NOW - timedelta(days=2)  # inside every period but the rate counts' (1 day)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _file(folder: str, name: str, when: datetime) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "wb") as fh:
        fh.write(b"\xff\xd8personal\xff\xd9")
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _petition(sid: int, closed_at, *, description: str, phone: str, lat=None):
    from kiosk_plugins.petitions.models import Petition

    return Petition(
        station_id=sid,
        uid=secrets.token_hex(8),
        token=secrets.token_urlsafe(16),
        tracking_no=f"P-{secrets.token_hex(3)}",
        type="complaint",
        category="street_light",
        place="贝丽花园3栋",
        description=description,
        channel="kiosk",
        anonymous=False,
        contact_name="李阿姨",
        contact_phone=phone,
        lat=lat,
        lon=114.1 if lat else None,
        status="closed" if closed_at else "in_progress",
        due_at=NOW,
        created_at=(closed_at or LATELY) - timedelta(days=3),
        closed_at=closed_at,
    )


def fill(app) -> dict:
    """Old and recent data of every kind; what the test looks for afterwards."""
    from kiosk.visitors import VisitorRow
    from kiosk_plugins.courier_rest.hazards import photo_folder
    from kiosk_plugins.courier_rest.models import Hazard, Rider, Visit
    from kiosk_plugins.legal.models import Ticket
    from kiosk_plugins.parking.models import Household, Lot, Plate, Slot, Voucher, Window
    from kiosk_plugins.petitions import photos
    from kiosk_plugins.petitions.models import PetitionPhoto

    sid = app.extensions["kiosk_station_id"]
    inst = app.instance_path
    made: dict = {"sid": sid}
    with session_for(app, write=True) as s:
        # petitions: closed long ago (everything goes), closed lately (all stays), still open (stays)
        old = _petition(sid, LONG_AGO, description="路灯不亮，电话13912345678", phone="13912345678", lat=22.55)
        new = _petition(sid, LATELY, description="噪音扰民", phone="13800138000", lat=22.56)
        open_ = _petition(sid, None, description="占道经营", phone="13700137000")
        s.add_all([old, new, open_])
        s.flush()
        made["petitions"] = (old.id, new.id, open_.id)
        made["photos"] = []
        for petition in (old, new):
            name = secrets.token_hex(8) + ".jpg"
            path = _file(photos.folder(inst, sid), name, petition.closed_at)
            s.add(
                PetitionPhoto(
                    station_id=sid,
                    request_id=petition.id,
                    token=secrets.token_urlsafe(16),
                    filename=name,
                    width=1,
                    height=1,
                    size_bytes=12,
                    lat=22.5,
                    lon=114.1,
                    created_at=petition.created_at,
                )
            )
            made["photos"].append(path)
        # courier_rest: a rider not seen for two years, one seen lately; a hazard of each
        riders = []
        for phone, seen in (("13600136000", LONG_AGO), ("13500135000", LATELY)):
            rider = Rider(
                station_id=sid,
                name="王师傅",
                phone=phone,
                platform="meituan",
                vehicle="ebike",
                pass_token=secrets.token_urlsafe(16),
                created_at=seen - timedelta(days=1),
            )
            s.add(rider)
            s.flush()
            s.add(
                Visit(
                    station_id=sid,
                    rider_id=rider.id,
                    method_in="phone",
                    checked_in_at=seen,
                    checked_out_at=seen + timedelta(minutes=20),
                )
            )
            riders.append(rider.id)
        made["riders"] = riders
        made["hazard_files"], made["hazards"] = [], []
        for rider_id, when in zip(riders, (LONG_AGO, LATELY), strict=True):
            name = secrets.token_hex(8) + ".jpg"
            made["hazard_files"].append(_file(photo_folder(app, sid), name, when))
            hazard = Hazard(
                station_id=sid,
                rider_id=rider_id,
                category="road",
                note="井盖松动，联系13600136000",
                photos=[name],
                state="sent",
                upload_token=secrets.token_urlsafe(16),
                created_at=when,
                sent_at=when,
            )
            s.add(hazard)
            s.flush()
            made["hazards"].append(hazard.id)
        # parking: a household unused for two years, one with a voucher lately
        lot = Lot(
            station_id=sid,
            name="水贝万山停车场",
            address="贝丽北路",
            spaces=10,
            price_cents=1000,
            quota_per_month=8,
            reserve_days=3,
            hold_minutes=30,
            active=True,
        )
        s.add(lot)
        s.flush()
        window = Window(
            station_id=sid, lot_id=lot.id, label="夜间", start_time="19:00", end_time="08:00", weekdays="1234567"
        )
        window.active = True
        s.add(window)
        s.flush()
        made["households"], made["vouchers"] = [], []
        for unit, phone, plate, when in (
            ("贝丽花园1栋101", "13400134000", "粤B12345", LONG_AGO),
            ("贝丽花园2栋202", "13300133000", "粤BD10086", LATELY),
        ):
            household = Household(
                station_id=sid,
                unit=unit,
                contact_name="陈先生",
                phone=phone,
                active=True,
                created_at=when - timedelta(days=30),
                updated_at=when - timedelta(days=30),
            )
            s.add(household)
            s.flush()
            s.add(Plate(station_id=sid, household_id=household.id, plate=plate, kind="car"))
            slot = Slot(station_id=sid, lot_id=lot.id, window_id=window.id, day=when.date())
            s.add(slot)
            s.flush()
            voucher = Voucher(
                station_id=sid,
                lot_id=lot.id,
                window_id=window.id,
                slot_id=slot.id,
                household_id=household.id,
                plate=plate,
                code=secrets.token_hex(4).upper(),
                status="used",
                price_cents=1000,
                starts_at=when,
                ends_at=when + timedelta(hours=12),
                expires_at=when + timedelta(hours=1),
                issued_at=when,
            )
            s.add(voucher)
            s.flush()
            made["households"].append(household.id)
            made["vouchers"].append(voucher.id)
        # the recent household's voucher of four months ago: the voucher stays, the plate on it goes
        slot = Slot(station_id=sid, lot_id=lot.id, window_id=window.id, day=days_ago(120).date())
        s.add(slot)
        s.flush()
        earlier = Voucher(
            station_id=sid,
            lot_id=lot.id,
            window_id=window.id,
            slot_id=slot.id,
            household_id=made["households"][1],
            plate="粤BD10086",
            code=secrets.token_hex(4).upper(),
            status="expired",
            price_cents=1000,
            starts_at=days_ago(120),
            ends_at=days_ago(120) + timedelta(hours=12),
            expires_at=days_ago(120) + timedelta(hours=1),
            issued_at=days_ago(121),
        )
        s.add(earlier)
        s.flush()
        made["vouchers"].append(earlier.id)
        # legal: phones on tickets
        made["tickets"] = []
        for n, when in enumerate((LONG_AGO, LATELY), 1):
            ticket = Ticket(
                station_id=sid,
                day=when.date(),
                numbered_service="consultation",
                number=n,
                code=f"A{n:03d}",
                service="consultation",
                phone="13200132000",
                token=secrets.token_hex(8),
                queue_at=when,
                issued_at=when,
            )
            s.add(ticket)
            s.flush()
            made["tickets"].append(ticket.id)
        # the core: audit, failed logins, receipts (rows and preview files), visitors
        s.add_all(
            [AuditLog(station_id=sid, at=when, action="petitions.view", detail={}) for when in (LONG_AGO, LATELY)]
        )
        s.add_all([LoginAttempt(key="admin|10.0.0.9", at=when) for when in (LONG_AGO, LATELY)])
        made["jobs"] = []
        for when in (days_ago(30), LATELY):
            job_id = secrets.token_hex(8)
            s.add(
                PrintJob(
                    id=job_id,
                    station_id=sid,
                    layout="parking.voucher",
                    receipt={"lines": ["粤B12345"]},
                    state="done",
                    created_at=when,
                    updated_at=when,
                )
            )
            made["jobs"].append(job_id)
        made["previews"] = [
            _file(os.path.join(inst, "receipts"), f"old-{secrets.token_hex(4)}.png", days_ago(30)),
            _file(os.path.join(inst, "receipts", "hall-1"), f"new-{secrets.token_hex(4)}.png", LATELY),
        ]
        made["visitor_rows"] = ["a" * 64, "b" * 64]
        s.add(
            VisitorRow(
                key="a" * 64,
                data={"courier_rest": {"data": {"pending": {"phone": "13912345678"}}}},
                expires_at=days_ago(1),
            )
        )
        # Lapsing in an hour from the moment it is written: NOW is when the module was imported, which
        # under xdist can be many minutes before this test runs.
        s.add(VisitorRow(key="b" * 64, data={}, expires_at=datetime.now(UTC) + timedelta(hours=1)))
        s.commit()
    return made


def count(app, model, *where) -> int:
    with session_for(app) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def listed(output: str) -> dict[str, tuple[int, int]]:
    """``kind → (records, files)`` from ``kiosk purge``'s table."""
    rows = re.findall(r"^(\S+)\s+\d+ days\s+(\d+) records\s+(\d+) files", output, re.M)
    return {key: (int(records), int(files)) for key, records, files in rows}


def test_purge_takes_what_is_past_its_period_and_keeps_the_rest(app, runner):
    from kiosk.visitors import VisitorRow
    from kiosk_plugins.courier_rest.models import Hazard, Rider, Visit
    from kiosk_plugins.legal.models import Ticket
    from kiosk_plugins.parking.models import Household, Plate, Voucher
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    made = fill(app)
    old_petition, new_petition, open_petition = made["petitions"]

    dry = runner.invoke(cli, ["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    would = listed(dry.output)
    assert "13912345678" not in dry.output and "粤B12345" not in dry.output, "counts only, never the data"
    assert would["petitions.descriptions"] == (1, 0)
    assert would["petitions.photos"] == (2, 1)  # the photo and the request's position; one file
    assert would["petitions.contacts"] == (1, 0)
    assert would["courier_rest.riders"] == (1, 0)
    assert would["courier_rest.hazards"] == (1, 1)
    assert would["parking.households"] == (1, 0)
    assert would["legal.phones"] == (1, 0)
    assert would["kiosk.receipts"] == (1, 1)
    assert would["kiosk.visitors"] == (1, 0)
    assert would["kiosk.audit_log"][0] >= 1 and would["kiosk.login_attempts"][0] >= 1
    # A dry run changes nothing: every row and file is still there.
    assert count(app, PetitionPhoto) == 2 and all(os.path.exists(p) for p in made["photos"] + made["previews"])
    assert count(app, Rider, Rider.id.in_(made["riders"])) == 2
    assert count(app, VisitorRow) == 2

    done = runner.invoke(cli, ["purge"])
    assert done.exit_code == 0, done.output
    went = listed(done.output)
    # Each kind is counted as if it ran alone: a voucher or visit that a household or rider takes with it is
    # counted by both in the dry run, and found gone by the later kind.
    assert went["parking.vouchers"] == (1, 0) and would["parking.vouchers"] == (2, 0)
    assert went["courier_rest.visits"] == (0, 0) and would["courier_rest.visits"] == (1, 0)
    alone = {k for k in would if k not in ("parking.vouchers", "courier_rest.visits")}
    assert {k: went[k] for k in alone} == {k: would[k] for k in alone}, "the dry run counted what went"

    with session_for(app) as s:
        old, new, still_open = (s.get(Petition, i) for i in made["petitions"])
        assert (old.description, old.place, old.contact_name, old.contact_phone, old.lat) == ("", "", "", "", None)
        assert old.category == "street_light" and old.status == "closed", "what the district counts stays"
        assert new.description == "噪音扰民" and new.contact_phone == "13800138000" and new.lat == 22.56
        assert still_open.description == "占道经营" and still_open.contact_phone == "13700137000"
        assert [p.request_id for p in s.scalars(select(PetitionPhoto))] == [new_petition]
        assert s.get(Rider, made["riders"][0]) is None and s.get(Rider, made["riders"][1]) is not None
        assert s.scalar(select(func.count()).select_from(Visit).where(Visit.rider_id == made["riders"][0])) == 0
        old_hazard, new_hazard = (s.get(Hazard, i) for i in made["hazards"])
        assert (old_hazard.note, old_hazard.photos, old_hazard.rider_id) == ("", [], None)
        assert old_hazard.category == "road"
        assert new_hazard.note and new_hazard.photos and new_hazard.rider_id == made["riders"][1]
        assert s.get(Household, made["households"][0]) is None and s.get(Household, made["households"][1])
        assert s.scalar(select(func.count()).select_from(Plate).where(Plate.household_id == made["households"][0])) == 0
        assert s.get(Voucher, made["vouchers"][0]) is None
        assert s.get(Voucher, made["vouchers"][1]).plate == "粤BD10086"
        assert s.get(Voucher, made["vouchers"][2]).plate == "", "the voucher of four months ago loses its plate"
        assert [s.get(Ticket, i).phone for i in made["tickets"]] == [None, "13200132000"]
        assert [s.get(PrintJob, j) is None for j in made["jobs"]] == [True, False]
        assert [v.key for v in s.scalars(select(VisitorRow))] == ["b" * 64]
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.at < days_ago(400))) == 0
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.at > days_ago(3))) >= 1
        assert s.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at < days_ago(400))) == 0
    # The photo folder and the receipt store: old files gone, recent ones kept.
    assert [os.path.exists(p) for p in made["photos"]] == [False, True]
    assert [os.path.exists(p) for p in made["hazard_files"]] == [False, True]
    assert [os.path.exists(p) for p in made["previews"]] == [False, True]

    # A second run finds nothing left to take.
    again = listed(runner.invoke(cli, ["purge", "--dry-run"]).output)
    assert all(again[k] == (0, 0) for k in would if k not in ("kiosk.rate_hits",)), again


def test_the_station_file_lengthens_or_shortens_a_period_and_the_daily_job_runs_it(app, runner, make_app, database_url):
    from kiosk.jobs import run_due
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    made = fill(app)
    # [retention.petitions] photos = 1000 keeps two-year-old photos; descriptions = 1 takes last week's.
    app.config["RETENTION"] = {**(app.config.get("RETENTION") or {}), "petitions": {"photos": 1000, "descriptions": 1}}
    morning = datetime.combine(date.today(), datetime.min.time(), UTC) + timedelta(hours=19, minutes=40)  # 03:40 CST
    assert "kiosk.retention" in run_due(app, morning)
    with session_for(app) as s:
        assert count(app, PetitionPhoto) == 2, "photos kept for the longer period"
        assert all(os.path.exists(p) for p in made["photos"])
        old, new, still_open = (s.get(Petition, i) for i in made["petitions"])
        assert old.description == "" and new.description == "", "descriptions taken after the shorter period"
        assert still_open.description == "占道经营", "an open request keeps its text"

    app.config["RETENTION"]["petitions"]["photo"] = 30  # misspelt: named, not silently ignored
    named = runner.invoke(cli, ["purge", "--dry-run", "--only", "petitions"])
    assert "retention.petitions.photo names no kind" in named.output
    assert set(listed(named.output)) == {
        "petitions.descriptions",
        "petitions.photos",
        "petitions.contacts",
        "petitions.rate_hits",
    }
    assert runner.invoke(cli, ["purge", "--only", "petitons"]).exit_code != 0
    from kiosk.doctor import run_checks

    (misspelt,) = [c for c in run_checks(app) if c["name"] == "retention.petitions.photo"]
    assert not misspelt["ok"] and "`kiosk purge --dry-run` lists the kinds" in misspelt["detail"]

    # The district hub runs the same kinds over every station's copies (no station filter), without a fault.
    from kiosk import retention

    hub = make_app(database_url, ROLE="hub", STATION={"code": "district", "name": "罗湖区", "kind": "party_service"})
    outcomes = retention.purge(hub, dry_run=True)
    assert [o.error for o in outcomes if o.error] == []
    assert {o.kind.key for o in outcomes} >= {"kiosk.audit_log", "parking.vouchers", "courier_rest.riders"}
    photos = next(o for o in outcomes if o.kind.key == "petitions.photos")
    # The hub's own period (the station's 1000 days is the station's): the old photo and position would go;
    # the file is the station's, in its instance folder, not the hub's.
    assert (photos.days, photos.records, photos.files) == (90, 2, 0)


def test_the_station_file_names_a_wrong_period_where_it_is_written(tmp_path):
    from kiosk import config_schema

    station = tmp_path / "station.toml"
    station.write_text(
        '[station]\ncode = "shuibei-001"\nname = "水贝"\nkind = "party_service"\n\n'
        "[retention]\nreceipt_days = 3\n\n[retention.petitions]\nphotos = 30\n\n[retention.parking]\nvouchers = -1\n",
        encoding="utf-8",
    )
    sources = config_schema.read_sources(str(tmp_path), environ={}, station_file=str(station))
    problems = [str(p) for p in config_schema.check(sources)]
    assert problems == [f"{station}:13: retention.parking.vouchers: must be a whole number from 0 to 3660, not -1"]
    shown = {key: (value, where) for key, value, where in config_schema.effective(sources)}
    assert shown["retention.petitions.photos"] == (30, f"{station}:10")
    assert shown["retention.receipt_days"] == (3, f"{station}:7")
