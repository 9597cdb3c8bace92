"""``kiosk users``: staff and admin accounts."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group()
def users():
    """Staff and admin accounts."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["staff", "admin", "district"]), default="staff", show_default=True)
@click.option("--name", "display_name", default="", help="Name shown in the staff console.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters; asked for when not given.",
)
@click.option(
    "--station",
    "station_code",
    default=None,
    help="On the district hub: the enrolled station the account belongs to (it reaches that station by sync).",
)
@with_appcontext
def users_create(username, role, display_name, password, station_code):
    """Create an account. Staff and admins belong to this kiosk's station (on the hub: --station's)."""
    from sqlalchemy import select

    from kiosk.auth import create_user
    from kiosk.db import get_session
    from kiosk.models import Station

    session = get_session()
    station_id = current_app.extensions["kiosk_station_id"]
    if station_code is not None:
        if current_app.config.get("ROLE") != "hub":
            raise click.ClickException("--station is for the district hub; a station's accounts are its own")
        station = session.scalar(select(Station).where(Station.code == station_code))
        if station is None:
            raise click.ClickException(f"no station {station_code}: enrol it first (kiosk stations enrol)")
        station_id = station.id
    try:
        create_user(
            session,
            username,
            password,
            role=role,
            station_id=station_id,
            display_name=display_name,
        )
        session.commit()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username}")
