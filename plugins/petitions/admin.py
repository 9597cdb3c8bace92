"""Admin page (``/admin/petitions/places``): the station's list of places residents pick from."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from kiosk.db import get_session, write_transaction
from kiosk.i18n import gettext
from kiosk.stations import current_station, station_row_or_404
from kiosk_plugins.petitions import places
from kiosk_plugins.petitions.intake import clean_text
from kiosk_plugins.petitions.models import PetitionPlace
from kiosk_plugins.petitions.staff import audit

bp = Blueprint("petitions_admin", __name__)

KEY_RE = re.compile(r"^[a-z0-9_]{1,64}$")


@bp.route("/places", methods=["GET", "POST"])
def place_list():
    """List the places; add one (key and names in the three languages)."""
    station = current_station()
    session = get_session()
    error = ""
    if request.method == "POST":
        key = clean_text(request.form.get("key"), 64).lower()
        names = [clean_text(request.form.get(f), 100) for f in ("zh_hans", "zh_hant", "en")]
        if not KEY_RE.match(key) or key == "other":
            error = gettext("The key may hold only lower-case letters, digits and _ (and may not be “other”).")
        elif not names[0]:
            error = gettext("Please enter the name in Simplified Chinese.")
        else:
            with write_transaction() as writer:
                places.add(writer, station, key, *names)
            audit("petitions.place_saved", {"key": key})
            flash(gettext("The place was saved."))
            return redirect(url_for("petitions_admin.place_list")), 303
    rows = session.scalars(
        select(PetitionPlace)
        .where(PetitionPlace.station_id == station.id)
        .order_by(PetitionPlace.position, PetitionPlace.id)
    ).all()
    return render_template("petitions/admin_places.html", rows=rows, error=error), (400 if error else 200)


@bp.post("/places/<int:place_id>/toggle")
def toggle(place_id: int):
    """Take a place off the list (or put it back); requests keep the name they were filed with."""
    with write_transaction() as session:
        row = station_row_or_404(PetitionPlace, place_id, session=session)
        row.active = not row.active
    audit("petitions.place_toggled", {"key": row.key, "active": row.active})
    return redirect(url_for("petitions_admin.place_list")), 303
