"""``kiosk terminals``: add, list, rename and revoke the station's screens (see :mod:`kiosk.terminals`)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

#: Where a terminal on the station PC itself opens the station node (the kiosk unit's address).
LOCAL_URL = "http://127.0.0.1:5000"


def _station_id() -> int:
    if current_app.config.get("ROLE") == "hub":
        raise click.ClickException("terminals belong to a station node; the hub has none (run this at the station)")
    return current_app.extensions["kiosk_station_id"]


def _base_url(given: str | None) -> str:
    return (given or current_app.config.get("PUBLIC_URL") or LOCAL_URL).rstrip("/")


def _one(session, name: str):
    from kiosk.terminals import find

    terminal = find(session, _station_id(), name)
    if terminal is None:
        raise click.ClickException(f"this station has no terminal named {name!r} (see `kiosk terminals list`)")
    return terminal


def _audit(session, action: str, name: str) -> None:
    from kiosk.audit import record

    record(action, {"terminal": name, "via": "cli"}, station_id=_station_id(), session=session, commit=False)


@click.group("terminals")
def terminals():
    """The station's screens: kiosks, calling displays, counters."""


_URL_HELP = (
    "The station node's address as the terminal's browser reaches it (default: public_url, else 127.0.0.1:5000)."
)


@terminals.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["kiosk", "display", "counter"]), default="kiosk", show_default=True)
@click.option("--label", default="", help="A description for the admin page, e.g. 大厅左侧一体机.")
@click.option("--url", "base_url", default=None, help=_URL_HELP)
@with_appcontext
def terminals_add(name, kind, label, base_url):
    """Add terminal NAME (a-z, 0-9, '-') and print its one-time enrolment link (valid 24 hours)."""
    from kiosk.db import session_for
    from kiosk.terminals import TerminalError, add, enrolment_path

    with session_for(current_app, write=True) as session:
        try:
            terminal, token = add(session, _station_id(), name, kind, label)
        except TerminalError as exc:
            raise click.ClickException(str(exc)) from exc
        _audit(session, "terminal.add", terminal.name)
        session.commit()
    click.echo(f"terminal {terminal.name} ({terminal.kind}) added; open this link once in its browser within 24 hours:")
    click.echo(_base_url(base_url) + enrolment_path(token))


@terminals.command("link")
@click.argument("name")
@click.option("--url", "base_url", default=None, help=_URL_HELP)
@with_appcontext
def terminals_link(name, base_url):
    """A new one-time enrolment link for terminal NAME (a replaced PC); the old browser is refused once it is used."""
    from kiosk.db import session_for
    from kiosk.terminals import TerminalError, enrolment_path, new_link

    with session_for(current_app, write=True) as session:
        terminal = _one(session, name)
        try:
            token = new_link(session, terminal)
        except TerminalError as exc:
            raise click.ClickException(str(exc)) from exc
        _audit(session, "terminal.link", terminal.name)
        session.commit()
    click.echo(_base_url(base_url) + enrolment_path(token))


@terminals.command("list")
@with_appcontext
def terminals_list():
    """Every terminal of the station: kind, state, last seen."""
    from kiosk.db import session_for
    from kiosk.terminals import terminals_of

    with session_for(current_app) as session:
        rows = terminals_of(session, _station_id())
    if not rows:
        click.echo("no terminals yet: add one with `kiosk terminals add kiosk-1 --kind kiosk`")
    for t in rows:
        seen = t.last_seen_at.strftime("%Y-%m-%d %H:%M UTC") if t.last_seen_at else "never seen"
        label = f"  {t.label}" if t.label else ""
        click.echo(f"{t.name:<32} {t.kind:<8} {t.state:<9} {seen}{label}")


@terminals.command("rename")
@click.argument("name")
@click.argument("new_name")
@with_appcontext
def terminals_rename(name, new_name):
    """Rename terminal NAME to NEW_NAME; its browser stays enrolled."""
    from kiosk.db import session_for
    from kiosk.terminals import TerminalError, rename

    with session_for(current_app, write=True) as session:
        terminal = _one(session, name)
        try:
            rename(session, terminal, new_name)
        except TerminalError as exc:
            raise click.ClickException(str(exc)) from exc
        _audit(session, "terminal.rename", new_name)
        session.commit()
    click.echo(f"terminal {name} is now {new_name}")


@terminals.command("revoke")
@click.argument("name")
@with_appcontext
def terminals_revoke(name):
    """Revoke terminal NAME: its browser is refused from its next request on."""
    from kiosk.db import session_for
    from kiosk.terminals import revoke

    with session_for(current_app, write=True) as session:
        terminal = _one(session, name)
        revoke(session, terminal)
        _audit(session, "terminal.revoke", terminal.name)
        session.commit()
    click.echo(f"terminal {name} revoked")
