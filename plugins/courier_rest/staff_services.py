"""Staff edit the station's list of basic services: names, notes, icon, order, shown or hidden."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError

from kiosk.db import get_session
from kiosk.i18n import _
from kiosk.stations import current_station
from kiosk_plugins.courier_rest import services
from kiosk_plugins.courier_rest.models import Service
from kiosk_plugins.courier_rest.staff import record_staff_action
from kiosk_plugins.courier_rest.station_setup import prepare
from kiosk_plugins.courier_rest.writes import run_write

bp = Blueprint("courier_rest_services", __name__)


@bp.before_request
def _prepare_station():
    prepare(current_station())


def _page(errors=None, status=200, form=None):
    station = current_station()
    return render_template(
        "courier_rest/staff_services.html",
        rows=services.listed(get_session(), station.id, True),
        icons=services.ICONS,
        errors=[_(e) for e in errors or []],
        form=form or {},
    ), status


@bp.route("/services")
def index():
    """The station's basic services, editable."""
    return _page()


@bp.route("/services", methods=["POST"])
def add():
    """Add a service."""
    station = current_station()
    values, errors = services.validate(request.form, new=True)
    if not errors and services.by_key(get_session(), station.id, values["key"]) is not None:
        errors.append(_("A service with this key already exists."))
    if errors:
        return _page(errors, 400, request.form)

    def work(db_session):
        row = Service(station_id=station.id, active=True, **values)
        db_session.add(row)
        db_session.flush()
        record_staff_action(db_session, "courier_rest.service_added", {"service": row.id, "key": values["key"]})
        return row.id

    try:
        run_write(work, attempts=1)
    except IntegrityError:
        return _page([_("A service with this key already exists.")], 400, request.form)
    flash(_("The service was added."))
    return redirect(url_for(".index"))


@bp.route("/services/<int:service_id>", methods=["POST"])
def edit(service_id: int):
    """Save a service's names, notes, icon and position."""
    station = current_station()
    values, errors = services.validate(request.form, new=False)
    if errors:
        return _page(errors, 400)

    def work(db_session):
        row = db_session.get(Service, service_id)
        if row is None or row.station_id != station.id:
            return False
        for key, value in values.items():
            setattr(row, key, value)
        record_staff_action(db_session, "courier_rest.service_edited", {"service": service_id})
        return True

    if run_write(work):
        flash(_("The service was saved."))
    return redirect(url_for(".index"))


@bp.route("/services/<int:service_id>/toggle", methods=["POST"])
def toggle(service_id: int):
    """Hide a service from riders, or show it again."""
    station = current_station()

    def work(db_session):
        row = db_session.get(Service, service_id)
        if row is None or row.station_id != station.id:
            return None
        row.active = not row.active
        record_staff_action(
            db_session,
            "courier_rest.service_shown" if row.active else "courier_rest.service_hidden",
            {"service": service_id},
        )
        return row.active

    shown = run_write(work)
    if shown is not None:
        flash(_("The service is shown to riders again.") if shown else _("The service is hidden from riders."))
    return redirect(url_for(".index"))
