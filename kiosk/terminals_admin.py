"""``/admin/terminals``: the station's terminals and their agents, for a station admin.

Apart from :mod:`kiosk.terminals` because it shows what agents reported and makes
agent tokens (:mod:`kiosk.agent`, :mod:`kiosk.doctor`), which both build on it.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from kiosk.auth import login_required
from kiosk.i18n import N_, _
from kiosk.terminals import (
    KINDS,
    Terminal,
    TerminalError,
    add,
    enrolment_path,
    new_link,
    rename,
    revoke,
    terminals_of,
)

bp = Blueprint("terminals_admin", __name__)


def _admin_station_id() -> int:
    if current_app.config.get("ROLE") == "hub":
        abort(404)  # terminals are a station node's; the hub has none
    return current_app.extensions["kiosk_station_id"]


def _link(token: str) -> str:
    return request.host_url.rstrip("/") + enrolment_path(token)


@bp.route("/admin/terminals", methods=["GET", "POST"])
@login_required("admin")
def admin_page():
    """The station's terminals: last seen, rename, revoke, add (the link is shown once)."""
    from kiosk.audit import record
    from kiosk.db import get_session, write_transaction

    station_id = _admin_station_id()
    link = error = agent_token = None
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "")
        audit = {"terminal": "", "via": "admin"}
        try:
            with write_transaction() as db_session:
                if action == "agent_token":
                    from kiosk.agent import new_token

                    terminal = _form_terminal(db_session, station_id)
                    token = new_token(db_session, station_id, terminal.name)
                    agent_token = (terminal.name, token, f"kiosk agent enrol {request.host_url.rstrip('/')} {token}")
                elif action == "add":
                    terminal, token = add(
                        db_session,
                        station_id,
                        request.form.get("name", "")[:64],
                        request.form.get("kind", "kiosk"),
                        request.form.get("label", "")[:200],
                    )
                    link = (terminal.name, _link(token))
                else:
                    terminal = _form_terminal(db_session, station_id)
                    if action == "rename":
                        rename(db_session, terminal, request.form.get("new_name", "").strip()[:64])
                    elif action == "revoke":
                        revoke(db_session, terminal)
                    elif action == "link":
                        link = (terminal.name, _link(new_link(db_session, terminal)))
                    else:
                        raise TerminalError("unknown action")
                if action == "agent_token":
                    audit["terminal"] = terminal.name
                    record("agent.token", audit, session=db_session, commit=False)
                else:
                    record(f"terminal.{action}", {"terminal": terminal.name}, session=db_session, commit=False)
        except TerminalError as exc:
            error, status, link, agent_token = _admin_error(exc), 400, None, None
        if link is None and agent_token is None and error is None:
            return redirect(url_for("terminals_admin.admin_page"))
    rows = terminals_of(get_session(), station_id)
    page = render_template(
        "admin/terminals.html",
        terminals=rows,
        kinds=KINDS,
        link=link,
        error=error,
        agent_token=agent_token,
        agents=_agents_of(rows),
    )
    return page, status


#: An agent's state as the admin page says it.
_AGENT_STATES = {
    "not enrolled": N_("No agent enrolled yet"),
    "never reported": N_("Enrolled, never reported"),
    "offline": N_("Offline"),
    "online": N_("Online"),
}


def _agents_of(rows: list[Terminal]) -> dict[int, dict]:
    """Per terminal id with ``agent = true`` in the station file: its agent's state, last report and devices."""
    from kiosk.doctor import _agent_contacts, agent_state

    tables = current_app.extensions["kiosk_printing"].terminals
    wanted = [t for t in rows if t.name in tables and tables[t.name].agent and t.revoked_at is None]
    if not wanted:
        return {}
    station_id = current_app.extensions["kiosk_station_id"]
    from kiosk.db import get_session

    contacts = _agent_contacts(get_session(), station_id, [t.id for t in wanted])
    try:
        reported = current_app.extensions["kiosk_devices"].agent_statuses()
    except Exception:  # the page still lists the terminals
        reported = {}
    out = {}
    for t in wanted:
        state, seen = agent_state(contacts.get(t.id))
        devices = [
            (key.split("/", 1)[1], info["state"], info["detail"])
            for key, info in sorted(reported.items())
            if key.startswith(f"{t.name}/") and not key.endswith("/agent")
        ]
        out[t.id] = {
            "state": state,
            "label": _(_AGENT_STATES[state]),
            "seen": seen,
            "version": (contacts.get(t.id) or {}).get("version", ""),
            "devices": devices,
        }
    return out


def _form_terminal(db_session, station_id: int) -> Terminal:
    raw = request.form.get("terminal", "")
    terminal = db_session.get(Terminal, int(raw)) if raw.isdigit() and len(raw) < 12 else None
    if terminal is None or terminal.station_id != station_id:
        raise TerminalError("no such terminal at this station")
    return terminal


_ADMIN_ERRORS = {
    "name": N_("A terminal's name is 1 to 32 lower-case letters, digits or '-', like hall-1."),
    "taken": N_("This station already has a terminal of that name."),
    "kind": N_("Choose kiosk, display or counter."),
    "label": N_("The label is at most 100 characters."),
    "revoked": N_("This terminal is revoked; add a new one."),
    "other": N_("No such terminal at this station."),
}


def _admin_error(exc: TerminalError) -> str:
    text = str(exc)
    for key, marker in (
        ("taken", "already has"),
        ("name", "name is"),
        ("kind", "kind is"),
        ("label", "label"),
        ("revoked", "revoked"),
    ):
        if marker in text:
            return _(_ADMIN_ERRORS[key])
    return _(_ADMIN_ERRORS["other"])
