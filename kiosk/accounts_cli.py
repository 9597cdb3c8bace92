"""``kiosk users``: staff and admin accounts (create, list, disable/enable, reset-password, role).

User names are matched whatever the case of their letters. On the district
hub, changes travel to the account's station by sync (district accounts to
every station). Every change is in the audit trail (``via: cli``).
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

PASSWORD_HELP = "At least 8 characters, not a common one; asked for when not given."


def _ask_password(password: str | None, prompt: str = "Password") -> str:
    """``password``, or typed twice (hidden) — asked only once the rest of the command is known to be right."""
    if password is not None:
        return password
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@click.group()
def users():
    """Staff and admin accounts."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["staff", "admin", "district"]), default="staff", show_default=True)
@click.option("--name", "display_name", default="", help="Name shown in the staff console.")
@click.option("--password", default=None, help=PASSWORD_HELP)
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

    from kiosk.auth import check_username, create_user, find_user
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
        # A name that cannot be used is said before the password is typed twice for nothing.
        existing = find_user(session, check_username(username))
        if existing is not None:
            raise click.ClickException(f"The user {existing.username} already exists.")
        password = _ask_password(password)
        user = create_user(
            session,
            username,
            password,
            role=role,
            station_id=station_id,
            display_name=display_name,
        )
        session.flush()
        _audit(session, "account.created", user, role=role)
        session.commit()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {user.username}")
    from kiosk import sync

    if sync.is_enrolled(session):
        # The hub owns this station's accounts: it never hears of this one, and an account of the
        # same name created there later replaces it here (password, role and all).
        click.echo(
            f"note: this station is enrolled at a district hub, which manages its accounts; {user.username} "
            "stays on this station only, and an account of the same name made at the hub replaces it. "
            "Create accounts at the hub (kiosk users create NAME --station CODE) instead.",
            err=True,
        )


@users.command("list")
@click.option("--station", "station_code", default=None, help="Only the accounts of this station (code).")
@with_appcontext
def users_list(station_code):
    """Every account: user name, role, station, state, last login (UTC)."""
    from sqlalchemy import select

    from kiosk.db import get_session
    from kiosk.models import Station, User

    session = get_session()
    query = select(User, Station.code).outerjoin(Station, Station.id == User.station_id).order_by(User.username)
    if station_code is not None:
        query = query.where(Station.code == station_code)
    rows = session.execute(query).all()
    click.echo(f"{'USER':<24} {'ROLE':<9} {'STATION':<16} {'STATE':<9} {'LAST LOGIN (UTC)':<17} NAME")
    for user, code in rows:
        state = "active" if user.active else "disabled"
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "-"
        click.echo(f"{user.username:<24} {user.role:<9} {code or '-':<16} {state:<9} {last:<17} {user.display_name}")
    click.echo(f"{len(rows)} account(s)")


def _user(session, username: str):
    from kiosk.auth import find_user

    user = find_user(session, username)
    if user is None:
        raise click.ClickException(f"no account {username} (see kiosk users list)")
    return user


def _audit(session, action: str, user, **detail) -> None:
    from kiosk.audit import record

    record(
        action,
        {"username": user.username, "via": "cli", **detail},
        station_id=user.station_id,
        session=session,
        commit=False,
    )


def _set_active(username: str, active: bool) -> None:
    from kiosk.auth import set_active
    from kiosk.db import get_session

    session = get_session()
    user = _user(session, username)
    if bool(user.active) == active:
        click.echo(f"{user.username} is already {'active' if active else 'disabled'}")
        return
    try:
        set_active(session, user, active)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _audit(session, "account.enabled" if active else "account.disabled", user)
    session.commit()
    click.echo(f"{'enabled' if active else 'disabled'} {user.username}")


@users.command("disable")
@click.argument("username")
@with_appcontext
def users_disable(username):
    """Disable an account: it cannot log in and its sessions end. The last active admin stays."""
    _set_active(username, False)


@users.command("enable")
@click.argument("username")
@with_appcontext
def users_enable(username):
    """Enable a disabled account again."""
    _set_active(username, True)


@users.command("reset-password")
@click.argument("username")
@click.option("--password", default=None, help=PASSWORD_HELP)
@with_appcontext
def users_reset_password(username, password):
    """Give an account a new password; its sessions end."""
    from kiosk.auth import set_password
    from kiosk.db import get_session

    session = get_session()
    user = _user(session, username)
    password = _ask_password(password, "New password")
    try:
        set_password(user, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _audit(session, "account.password_reset", user)
    session.commit()
    click.echo(f"new password set for {user.username}; their sessions have ended")


@users.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(["staff", "admin", "district"]))
@with_appcontext
def users_role(username, role):
    """Change an account's role; its sessions end. The last active admin is not demoted."""
    from kiosk.auth import set_role
    from kiosk.db import get_session

    session = get_session()
    user = _user(session, username)
    before = user.role
    try:
        set_role(session, user, role, station_id=current_app.extensions["kiosk_station_id"])
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if before == role:
        click.echo(f"{user.username} is already {role}")
        return
    _audit(session, "account.role", user, before=before, role=role)
    session.commit()
    click.echo(f"{user.username} is now {role}")
