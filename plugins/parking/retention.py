"""How long shared parking keeps personal data (the kiosk's retention job, :mod:`kiosk.retention`).

- ``households``: a household's unit, contact, phone, card and plates, with its
  vouchers, once it has had no voucher for the period and staff have not changed
  it (a whitelist import that lists it again counts as a change);
- ``vouchers``: the plate on a voucher whose window ended before the period
  (at the hub too, on its copies); the voucher stays, without the plate, for the
  lot's settlement and the figures.

A plate has no life of its own: it goes with its household, and its copy on each
voucher with the voucher's plate.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from kiosk import hookimpl
from kiosk_plugins.parking.models import Household, HubVoucher, Plate, Voucher


def purge_households(sweep) -> int:
    """Households unused and unchanged for the period, their plates and vouchers."""
    session = sweep.session
    recent = select(Voucher.household_id).where(Voucher.issued_at >= sweep.cutoff)
    ids = list(
        session.scalars(
            select(Household.id).where(
                sweep.mine(Household.station_id),
                Household.created_at < sweep.cutoff,
                Household.updated_at < sweep.cutoff,
                Household.id.not_in(recent),
            )
        )
    )
    if not ids:
        return 0
    session.execute(delete(Voucher).where(Voucher.household_id.in_(ids)))
    session.execute(delete(Plate).where(Plate.household_id.in_(ids)))
    session.execute(delete(Household).where(Household.id.in_(ids)))
    return len(ids)


def purge_voucher_plates(sweep) -> int:
    """The plate on vouchers (and the hub's copies) whose window ended before the cut-off."""
    count = 0
    for model in (Voucher, HubVoucher):
        count += int(
            sweep.session.execute(
                update(model)
                .where(sweep.mine(model.station_id), model.ends_at < sweep.cutoff, model.plate != "")
                .values(plate="")
                .execution_options(synchronize_session=False)
            ).rowcount
            or 0
        )
    return count


@hookimpl
def register_retention(register):
    """Households (with their plates) and the plates on vouchers."""
    register(
        "households",
        days=730,
        purge=purge_households,
        label={"zh_Hans": "登记住户和车牌", "zh_Hant": "登記住戶和車牌", "en": "Registered households and plates"},
        reason="a shared-parking agreement runs a year; a household without a voucher for two years no longer "
        "uses it, and staff list it again when it returns",
    )
    register(
        "vouchers",
        days=90,
        purge=purge_voucher_plates,
        label={"zh_Hans": "停车券上的车牌", "zh_Hant": "停車券上的車牌", "en": "Plates on vouchers"},
        reason="the plate proves which car a 10-yuan use was for; a billing question comes within a quarter",
    )
