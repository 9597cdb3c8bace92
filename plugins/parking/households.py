"""The whitelist of registered households and their cars: look-ups and CSV import.

The import is all or nothing: every row is checked first (format, duplicates
inside the file, clashes with other households already registered), and if any
row is wrong nothing is written and every bad row is reported by line number.
A good file adds new households and updates the ones whose unit already
exists, replacing their list of plates; households not in the file are left
as they are.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from kiosk.i18n import _
from kiosk.privacy import normalize_phone, valid_mobile
from kiosk_plugins.parking.models import Household, Plate
from kiosk_plugins.parking.plates import InvalidPlate, classify_plate

#: Accepted column headers (English or Chinese) → field.
HEADERS = {
    "unit": "unit",
    "房号": "unit",
    "户号": "unit",
    "住址": "unit",
    "name": "name",
    "contact_name": "name",
    "联系人": "name",
    "姓名": "name",
    "phone": "phone",
    "mobile": "phone",
    "手机": "phone",
    "手机号": "phone",
    "电话": "phone",
    "plates": "plates",
    "plate": "plates",
    "车牌": "plates",
    "车牌号": "plates",
    "card": "card",
    "card_uid": "card",
    "卡号": "card",
    "居民卡": "card",
}
REQUIRED = ("unit", "name", "phone", "plates")
MAX_ROWS = 20000
_PLATE_SPLIT = re.compile(r"[\s;；/、|]+")


def normalize_card(value: str | None) -> str:
    """A card UID as readers report it: upper-case hex without separators."""
    return re.sub(r"[\s:\-]", "", value or "").upper()


def by_phone(session, station_id: int, phone: str) -> Household | None:
    """The active household registered with this mobile number."""
    return session.scalar(
        select(Household).where(
            Household.station_id == station_id, Household.phone == normalize_phone(phone), Household.active.is_(True)
        )
    )


def by_card(session, station_id: int, card_uid: str) -> Household | None:
    """The active household holding this resident card."""
    uid = normalize_card(card_uid)
    if not uid:
        return None
    return session.scalar(
        select(Household).where(
            Household.station_id == station_id, Household.card_uid == uid, Household.active.is_(True)
        )
    )


def plates_of(session, household_id: int) -> list[Plate]:
    """The household's registered cars, in plate order."""
    return list(session.scalars(select(Plate).where(Plate.household_id == household_id).order_by(Plate.plate)))


@dataclass
class Row:
    """One checked CSV line."""

    line: int
    unit: str
    name: str
    phone: str
    plates: list[tuple[str, str]]
    card: str | None


@dataclass
class ImportReport:
    """What an import did, or why it did nothing (``errors`` as (line, message))."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    plates: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def decode_upload(data: bytes) -> str:
    """Text of an uploaded CSV: UTF-8 (with or without BOM), else GB18030 as Excel saves it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _header_map(header: list[str]) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = HEADERS.get(name.strip().lower()) or HEADERS.get(name.strip())
        if key and key not in columns:
            columns[key] = index
    return columns, [f for f in REQUIRED if f not in columns]


def _check_row(line: int, cells: list[str], columns: dict[str, int], errors: list) -> Row | None:
    def cell(name):
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    problems = []
    unit, name, phone_raw = cell("unit"), cell("name"), cell("phone")
    if not unit or len(unit) > 100:
        problems.append(_("the unit (address) is missing or longer than 100 characters"))
    if not name or len(name) > 50:
        problems.append(_("the contact name is missing or longer than 50 characters"))
    phone = normalize_phone(phone_raw)
    if not valid_mobile(phone):
        problems.append(_("%(value)s is not an 11-digit mobile number", value=phone_raw or "—"))
    plates = []
    raw_plates = [p for p in _PLATE_SPLIT.split(cell("plates")) if p]
    if not raw_plates:
        problems.append(_("no plate number given"))
    for raw in raw_plates:
        try:
            plates.append(classify_plate(raw))
        except InvalidPlate:
            problems.append(_("%(value)s is not a valid plate number", value=raw))
    card = normalize_card(cell("card")) or None
    if card is not None and not re.fullmatch(r"[0-9A-F]{4,64}", card):
        problems.append(_("%(value)s is not a card number (hexadecimal digits)", value=cell("card")))
    if problems:
        errors.extend((line, p) for p in problems)
        return None
    return Row(line=line, unit=unit, name=name, phone=phone, plates=plates, card=card)


def _check_file(rows: list[Row], errors: list) -> None:
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        keys = [("unit", row.unit), ("phone", row.phone)] + [("plate", p) for p, _k in row.plates]
        if row.card:
            keys.append(("card", row.card))
        for key in keys:
            first = seen.setdefault(key, row.line)
            if first != row.line:
                errors.append((row.line, _("%(value)s already appears on line %(line)s", value=key[1], line=first)))


def _check_database(session, station_id: int, rows: list[Row], errors: list) -> None:
    existing = {h.unit: h for h in session.scalars(select(Household).where(Household.station_id == station_id))}
    by_id = {h.id: h for h in existing.values()}
    phones = {h.phone: h for h in existing.values()}
    cards = {h.card_uid: h for h in existing.values() if h.card_uid}
    plates = {
        p.plate: by_id.get(p.household_id) for p in session.scalars(select(Plate).where(Plate.station_id == station_id))
    }
    units_in_file = {r.unit for r in rows}

    def clash(owner, row):
        # Registered to another household that this file does not rewrite.
        return owner is not None and owner.unit != row.unit and owner.unit not in units_in_file

    for row in rows:
        if clash(phones.get(row.phone), row):
            errors.append(
                (row.line, _("the mobile number is already registered to %(unit)s", unit=phones[row.phone].unit))
            )
        if row.card and clash(cards.get(row.card), row):
            errors.append((row.line, _("the card is already registered to %(unit)s", unit=cards[row.card].unit)))
        for plate, _kind in row.plates:
            if clash(plates.get(plate), row):
                errors.append(
                    (row.line, _("%(plate)s is already registered to %(unit)s", plate=plate, unit=plates[plate].unit))
                )


def import_csv(session, station_id: int, text: str) -> ImportReport:
    """Check every row of ``text``; write all of it, or nothing and say why.

    The caller commits ``session`` when ``report.ok``; on errors nothing has
    been added to it.
    """
    report = ImportReport()
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        report.errors.append((1, _("The file is empty.")))
        return report
    except csv.Error as exc:
        report.errors.append((1, _("The file is not a readable CSV file (%(error)s).", error=str(exc))))
        return report
    columns, missing = _header_map(header)
    if missing:
        report.errors.append(
            (1, _("The first line must name the columns; missing: %(columns)s", columns=", ".join(missing)))
        )
        return report
    rows: list[Row] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(rows) + len(report.errors) >= MAX_ROWS:
                report.errors.append((line, _("Too many rows: import at most %(max)s at a time.", max=MAX_ROWS)))
                break
            row = _check_row(line, cells, columns, report.errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        report.errors.append((reader.line_num, _("The file is not a readable CSV file (%(error)s).", error=str(exc))))
    if not rows and not report.errors:
        report.errors.append((2, _("The file has no households in it.")))
    _check_file(rows, report.errors)
    _check_database(session, station_id, rows, report.errors)
    if report.errors:
        report.errors.sort(key=lambda e: e[0])
        return report
    _write(session, station_id, rows, report)
    return report


def _write(session, station_id: int, rows: list[Row], report: ImportReport) -> None:
    existing = {h.unit: h for h in session.scalars(select(Household).where(Household.station_id == station_id))}
    touched = [existing[r.unit] for r in rows if r.unit in existing]
    # Free the phones, cards and plates that move between households in this
    # file before re-assigning them, or the unique constraints would trip
    # half-way through the statement order.
    for household in touched:
        household.phone = f"~{household.id}"
        household.card_uid = None
    if touched:
        session.execute(delete(Plate).where(Plate.household_id.in_([h.id for h in touched])))
    session.flush()
    for row in rows:
        household = existing.get(row.unit)
        if household is None:
            household = Household(
                station_id=station_id,
                unit=row.unit,
                contact_name=row.name,
                phone=row.phone,
                card_uid=row.card,
                active=True,
            )
            session.add(household)
            report.added += 1
        else:
            household.contact_name, household.phone, household.card_uid = row.name, row.phone, row.card
            household.active = True
            report.updated += 1
        session.flush()
        for plate, kind in row.plates:
            session.add(Plate(station_id=station_id, household_id=household.id, plate=plate, kind=kind))
            report.plates += 1
    session.flush()
