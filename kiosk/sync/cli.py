"""``kiosk stations …`` (on the hub: enrol, list, revoke) and ``kiosk sync …``.

On a station: join, status, now, restored (after a restore from a backup).
"""

from __future__ import annotations

import re
import secrets
import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from kiosk import sync
from kiosk.config import STATION_KINDS
from kiosk.db import session_for, utcnow
from kiosk.models import Station
from kiosk.sync.models import SyncPeer

#: How long an enrolment token can be exchanged.
TOKEN_HOURS = 24
TAG_PATTERN = re.compile(r"^[A-Z0-9]{2,6}$")
CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _require(role: str) -> None:
    here = current_app.config.get("ROLE", "station")
    if here != role:
        where = 'the district hub (role = "hub")' if role == "hub" else "a station node"
        raise click.ClickException(f"this command runs on {where}; this node's role is {here!r}")


def _hub_url_hint() -> str:
    url = current_app.config["STATION"].get("public_url") or current_app.config.get("PUBLIC_URL") or ""
    return url.rstrip("/") or "https://HUB-ADDRESS"


# -- on the hub --------------------------------------------------------------------------------------
@click.group("stations")
def stations():
    """The district's stations (on the hub): enrol, list, revoke."""


@stations.command("enrol")
@click.argument("code")
@click.option("--name", default=None, help="The station's name (required for a new station).")
@click.option("--kind", type=click.Choice(STATION_KINDS), default=None, help="party_service or courier_station.")
@click.option("--timezone", "zone", default=None, help="The station's time zone (default Asia/Shanghai).")
@click.option("--tag", default=None, help="2 to 6 letters or digits, unique in the district (default: from the code).")
@with_appcontext
def stations_enrol(code, name, kind, zone, tag):
    """Create (or re-enrol) station CODE and print a one-time token for `kiosk sync join`."""
    _require("hub")
    from kiosk.stations import default_tag

    if not CODE_PATTERN.match(code):
        raise click.ClickException("the code must be 1 to 64 lower-case letters, digits, - or _, e.g. shuibei")
    tag = (tag or default_tag(code)).upper()
    if not TAG_PATTERN.match(tag):
        raise click.ClickException(f"the tag must be 2 to 6 capital letters or digits, not {tag!r}")
    token = secrets.token_hex(20)  # letters and digits only: never read as a command-line option
    with session_for(current_app, write=True) as session:
        station = session.scalar(select(Station).where(Station.code == code))
        if station is not None and station.id == current_app.extensions["kiosk_station_id"]:
            raise click.ClickException(f"{code} is the hub's own station; enrol the stations that sync to it")
        if station is None:
            if not name or not kind:
                raise click.ClickException("a new station needs --name and --kind")
            station = Station(code=code, name=name, kind=kind, timezone=zone or "Asia/Shanghai", disabled_plugins=[])
            session.add(station)
            session.flush()
        else:
            station.name = name or station.name
            station.kind = kind or station.kind
            station.timezone = zone or station.timezone
        taken = session.scalar(select(SyncPeer).where(SyncPeer.tag == tag, SyncPeer.station_id != station.id))
        own = session.get(Station, current_app.extensions["kiosk_station_id"])
        if taken is not None or (own is not None and tag == _hub_tag(own)):
            other = session.get(Station, taken.station_id).code if taken is not None else own.code
            raise click.ClickException(f"tag {tag} is already used by station {other}: choose another with --tag")
        peer = session.get(SyncPeer, station.id, with_for_update=True)
        if peer is None:
            peer = SyncPeer(station_id=station.id)
            session.add(peer)
        peer.tag = tag
        peer.token_hash = sync.hash_secret(token)
        peer.token_expires_at = utcnow() + timedelta(hours=TOKEN_HOURS)
        session.commit()
    click.echo(f"station {code} ({tag}) may enrol within {TOKEN_HOURS} hours with this one-time token:")
    click.echo(f"  {token}")
    click.echo("run this on the station (as the kiosk's user):")
    click.echo(f"  kiosk sync join {_hub_url_hint()} {token}")
    if not (current_app.config["STATION"].get("public_url") or current_app.config.get("PUBLIC_URL")):
        click.echo(
            "warning: this hub has no public_url: set it in the hub's station file to the https:// address "
            "phones reach, or stations will point phones at whatever address they joined with",
            err=True,
        )


def _hub_tag(station) -> str:
    from kiosk.stations import station_tag

    return station_tag(station)


@stations.command("list")
@with_appcontext
def stations_list():
    """Every station the hub knows: code, name, tag, enrolled, last sync, revoked."""
    _require("hub")
    with session_for(current_app) as session:
        rows = session.execute(
            select(Station, SyncPeer).join(SyncPeer, SyncPeer.station_id == Station.id).order_by(Station.code)
        ).all()
    click.echo(f"{'code':<20} {'name':<24} {'tag':<6} {'enrolled':<17} {'last sync':<17} revoked")
    for station, peer in rows:
        click.echo(
            f"{station.code:<20} {station.name[:24]:<24} {peer.tag:<6} {_when(peer.enrolled_at) or 'waiting':<17} "
            f"{_when(peer.last_sync_at) or '-':<17} {_when(peer.revoked_at) or '-'}"
        )


def _when(at) -> str:
    return at.strftime("%Y-%m-%d %H:%M") + "Z" if at else ""


@stations.command("revoke")
@click.argument("code")
@with_appcontext
def stations_revoke(code):
    """Stop station CODE's sync at once (its next push or pull is refused)."""
    _require("hub")
    with session_for(current_app, write=True) as session:
        station = session.scalar(select(Station).where(Station.code == code))
        peer = session.get(SyncPeer, station.id, with_for_update=True) if station is not None else None
        if peer is None:
            raise click.ClickException(f"no enrolled station {code}")
        peer.revoked_at = utcnow()
        peer.token_hash = ""  # a token not yet exchanged goes too; the key stays, to say "revoked" to its holder
        session.commit()
    click.echo(f"station {code} is revoked: it can no longer sync (enrol it again to let it back)")


# -- on a station ------------------------------------------------------------------------------------
@click.group("sync")
def sync_group():
    """This station's link to its district hub: join, status, now, restored."""


@sync_group.command("join")
@click.argument("hub_url")
@click.argument("token")
@with_appcontext
def sync_join(hub_url, token):
    """Enrol this station at the hub with the one-time TOKEN that `kiosk stations enrol` printed there."""
    _require("station")
    from kiosk.stations import station_tag
    from kiosk.sync.pusher import SyncFailure, join

    if not re.match(r"^https?://[^\s/]+", hub_url):
        raise click.ClickException(f"the hub's address must start with https:// (or http://), not {hub_url!r}")
    host = re.sub(r"^https?://([^/:]+).*$", r"\1", hub_url)
    if hub_url.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "warning: the hub's address is not https://, so the station's key would travel in clear; "
            "use the hub's TLS address",
            err=True,
        )
    sid = current_app.extensions["kiosk_station_id"]
    with session_for(current_app, write=True) as session:
        station = session.get(Station, sid)
        code = station.code
        tag = station_tag(station)
        row = sync.state(session, sid)
        signing_key, acked = row.signing_key, row.acked_seq
        session.commit()
    try:
        answer = join(hub_url, code, token, signing_key, acked_seq=acked, tag=tag)
    except SyncFailure as exc:
        raise click.ClickException(str(exc)) from None
    with session_for(current_app, write=True) as session:
        row = sync.state(session, sid)
        row.hub_url = hub_url.rstrip("/")
        row.station_key = answer["station_key"]
        row.hub_public_url = str(answer.get("hub_public_url") or "")[:500]
        row.tag = str(answer.get("tag") or "")[:16]
        row.protocol = int(answer.get("protocol") or sync.PROTOCOL)
        row.enrolled_at = utcnow()
        row.last_error = ""
        session.commit()
    click.echo(f"station {code} joined the hub at {hub_url} (tag {row.tag}); phones will open {row.hub_public_url}")
    click.echo("a running `kiosk serve` starts syncing within a few seconds; `kiosk sync status` shows how it goes")


@sync_group.command("status")
@with_appcontext
def sync_status():
    """Enrolled?, the hub, the last good sync, the last error, the entries waiting."""
    _require("station")
    from kiosk.sync.pusher import status

    info = status(current_app)
    if not info["enrolled"]:
        click.echo("not enrolled at a hub (standalone): `kiosk sync join HUB_URL TOKEN` to join one")
    else:
        click.echo(f"hub: {info['hub']} (phones open {info['hub_public_url'] or '-'}, tag {info['tag'] or '-'})")
        click.echo(f"last good sync: {info['last_ok_at'] or 'never'}")
        click.echo(f"last error: {info['last_error'] or '-'}")
    click.echo(
        f"entries waiting: {info['waiting']}"
        + (f" (oldest since {info['oldest_waiting_at']})" if info["oldest_waiting_at"] else "")
    )


@sync_group.command("now")
@with_appcontext
def sync_now():
    """One push and pull now; exits 1 when it fails."""
    _require("station")
    from kiosk.sync.pusher import SyncFailure, sync_once

    try:
        pushed, pulled = sync_once(current_app)
    except SyncFailure as exc:
        click.echo(f"sync failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"synced: {pushed} entr{'y' if pushed == 1 else 'ies'} pushed, {pulled} pulled")


@sync_group.command("restored")
@with_appcontext
def sync_restored():
    """Say that this station's database was restored from a backup (pg_restore); run it with the kiosk stopped.

    Its next sync asks the hub where it is and sends what was recorded since
    the restore after the hub's numbers, so the hub does not skip it as already
    received. `kiosk restore` of a SQLite backup does this by itself.
    """
    _require("station")
    from kiosk.sync.pusher import mark_restored

    mark_restored(current_app)
    click.echo("marked as restored from a backup: the next sync sends what was recorded since after the hub's numbers")
