"""``/admin/accounts`` and ``/admin/audit``: managing staff accounts, reading the audit trail.

Who manages whom (:func:`kiosk.auth.can_manage`): a district admin every
account, a station admin their own station's staff and admins, staff nobody.
Every change is audited (``account.*``) and ends the account's sessions where
it matters (a new password, disabling, a new role).

The audit page searches by user, action, local date range and text in the
detail, 50 rows a page, times in the station's local time; ``/admin/audit.csv``
exports the same search (UTF-8 with a BOM, so Excel reads Chinese; cells that
a spreadsheet would take for a formula get a leading ``'``).

How long audit rows, failed logins and logged-out sessions are kept is the
retention job's to decide (:mod:`kiosk.retention`, kinds in :mod:`kiosk.retention_core`).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kiosk import audit, clock
from kiosk.auth import (
    AccountError,
    can_manage,
    create_user,
    login_required,
    set_active,
    set_password,
    set_role,
)
from kiosk.db import get_session
from kiosk.i18n import N_, _
from kiosk.models import ROLES, AuditLog, Station, User
from kiosk.stations import current_station

bp = Blueprint("accounts", __name__, url_prefix="/admin")

PAGE_SIZE = 50
#: Rows the CSV export reads at a time (it streams: a year of audit lines never sits in memory).
CSV_BATCH = 1000
#: What each role is called on the page.
ROLE_LABELS = {"staff": N_("Staff"), "admin": N_("Station admin"), "district": N_("District admin")}
#: How far back the audit page looks when no date is given.
DEFAULT_DAYS = 30


def init_app(app) -> None:
    """Register the pages, the terminal lookup the audit trail uses, and the words of its actions."""
    from kiosk import terminals

    app.register_blueprint(bp)

    def request_terminal() -> str | None:
        if "kiosk_terminal" in g:  # the request already asked current_terminal()
            terminal = g.kiosk_terminal
        elif current_app.config.get("ROLE") == "hub" or not request.cookies.get(terminals.COOKIE):
            return None
        else:
            # Checked without noting the terminal as seen: that is a write of its own, and an
            # audit line is often written inside another write transaction.
            terminal = terminals._check_credential(request.cookies[terminals.COOKIE])
        return terminal.name if terminal is not None else None

    app.extensions[audit.TERMINAL_RESOLVER] = request_terminal
    audit.collect_action_words(app)


# --- accounts -------------------------------------------------------------------------------------


def _visible_accounts(db_session, actor: User):
    query = select(User, Station.code).outerjoin(Station, Station.id == User.station_id)
    if actor.role != "district":
        query = query.where(User.station_id == actor.station_id, User.role != "district")
    return db_session.execute(query.order_by(func.lower(User.username))).all()


def _roles_for(actor: User) -> tuple[str, ...]:
    return ROLES if actor.role == "district" else ("staff", "admin")


def _create(db_session, actor: User) -> str:
    form = request.form
    role = form.get("role", "staff")
    if role not in _roles_for(actor):
        raise AccountError(N_("The role must be one of %(roles)s."), roles=", ".join(_roles_for(actor)))
    if form.get("password", "") != form.get("password2", ""):
        raise AccountError(N_("The two passwords differ."))
    station_id = actor.station_id
    if actor.role == "district":
        code = form.get("station", "").strip()
        station = db_session.scalar(select(Station).where(Station.code == code)) if code else None
        if station is None and role != "district":
            raise AccountError(N_("Choose the station the account belongs to."))
        station_id = station.id if station is not None else None
    user = create_user(
        db_session,
        form.get("username", ""),
        form.get("password", ""),
        role=role,
        station_id=station_id,
        display_name=form.get("display_name", "").strip(),
    )
    db_session.flush()
    audit.record(
        "account.created",
        {"username": user.username, "role": role, "via": "admin"},
        session=db_session,
        commit=False,
        station_id=user.station_id,
    )
    return _("Account %(name)s created.", name=user.username)


#: The largest id a row can have on either database (PostgreSQL's INTEGER); a larger one names no row.
MAX_ROW_ID = 2**31 - 1


def _row_id(value: str | None) -> int | None:
    """An account id from a form: ASCII digits within the database's integers, else None (no such row)."""
    value = (value or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ROW_ID else None


def _change(db_session, actor: User, action: str) -> str:
    user_id = _row_id(request.form.get("user"))
    target = db_session.get(User, user_id) if user_id is not None else None
    if target is None or not can_manage(actor, target):
        abort(404)  # another station's account is not there, as far as this admin is concerned
    detail: dict = {"username": target.username, "via": "admin"}
    if action in ("disable", "role") and target.id == actor.id:
        raise AccountError(N_("You cannot disable or demote your own account."))
    if action == "disable":
        set_active(db_session, target, False)
        message, name = _("Account %(name)s disabled.", name=target.username), "account.disabled"
    elif action == "enable":
        set_active(db_session, target, True)
        message, name = _("Account %(name)s enabled.", name=target.username), "account.enabled"
    elif action == "reset":
        password = request.form.get("password", "")
        if password != request.form.get("password2", ""):
            raise AccountError(N_("The two passwords differ."))
        set_password(target, password)
        message, name = _("New password set for %(name)s.", name=target.username), "account.password_reset"
    elif action == "role":
        role = request.form.get("role", "")
        if role not in _roles_for(actor):
            raise AccountError(N_("The role must be one of %(roles)s."), roles=", ".join(_roles_for(actor)))
        detail.update(before=target.role, role=role)
        set_role(db_session, target, role, station_id=actor.station_id)
        message, name = _("%(name)s is now %(role)s.", name=target.username, role=_(ROLE_LABELS[role])), "account.role"
    else:
        abort(400)
    audit.record(name, detail, session=db_session, commit=False, station_id=target.station_id)
    if target.id == actor.id:
        session["uv"] = target.session_version  # a new password of one's own keeps this session
    return message


@bp.route("/accounts", methods=["GET", "POST"])
@login_required("admin")
def accounts_page():
    """The accounts this admin manages: add, disable or enable, new password, new role."""
    actor = g.user
    db_session = get_session()
    error = None
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            message = _create(db_session, actor) if action == "create" else _change(db_session, actor, action)
            db_session.commit()
            flash(message)
            return redirect(url_for("accounts.accounts_page"))
        except AccountError as exc:
            db_session.rollback()
            error = exc.localized()
        except IntegrityError:  # the same name, in another case, added a moment ago by someone else
            db_session.rollback()
            error = _("The user %(name)s already exists.", name=request.form.get("username", "").strip()[:64])
    stations = db_session.scalars(select(Station).order_by(Station.code)).all() if actor.role == "district" else []
    station = current_station()
    return render_template(
        "admin/accounts.html",
        station=station,
        local_time=lambda at: clock.local_text(station, at),
        accounts=_visible_accounts(db_session, actor),
        roles=_roles_for(actor),
        role_labels=ROLE_LABELS,
        stations=stations,
        error=error,
        form=request.form if error else {},
    ), (400 if error else 200)


# --- audit ----------------------------------------------------------------------------------------


def _day(value: str | None) -> date | None:
    try:
        day = date.fromisoformat((value or "").strip()) if value and value.strip() else None
    except ValueError:
        return None
    return day if day is None or 2000 <= day.year <= 2999 else None  # and never past datetime's range


def _search_args(station: Station) -> tuple[dict, dict, str | None]:
    """The search's filters for :func:`kiosk.audit.search`, what the form shows, and a message for a bad date."""
    args = request.args
    error = None
    shown = {
        k: "".join(c for c in (args.get(k) or "") if c.isprintable()).strip()[:100]
        for k in ("user", "action", "text", "from", "to", "station")
    }
    start, end = _day(shown["from"]), _day(shown["to"])
    if (shown["from"] and start is None) or (shown["to"] and end is None):
        error = _("Dates are written like 2024-05-01.")
    today = clock.today(station, clock.now())
    if start is None and end is None:
        start = today - timedelta(days=DEFAULT_DAYS)
        shown["from"] = start.isoformat()
    if start is not None and end is not None and end < start:
        start, end = end, start
    filters: dict = {
        "username": shown["user"],
        "action": shown["action"],
        "actions": audit.actions_worded(shown["action"]),  # 登录 finds staff.login as well
        "text": shown["text"],
    }
    if start is not None:
        filters["since"] = clock.day_bounds(station, start)[0]
    if end is not None:
        filters["until"] = clock.day_bounds(station, end)[1]
    actor = g.user
    if actor.role != "district":
        filters["station_id"] = actor.station_id
    elif shown["station"]:
        found = get_session().scalar(select(Station.id).where(Station.code == shown["station"]))
        filters["station_id"] = found if found is not None else -1
    return filters, shown, error


def _detail_text(detail) -> str:
    if not detail:
        return ""
    if isinstance(detail, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in detail.items())
    return _value(detail)


def _value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@bp.route("/audit")
@login_required("admin")
def audit_page():
    """Search the audit trail: user, action, local dates, text; newest first, a page at a time."""
    station = current_station()
    filters, shown, error = _search_args(station)
    db_session = get_session()
    query = audit.search(db_session, **filters)
    total = db_session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    rows = db_session.execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    codes = dict(db_session.execute(select(Station.id, Station.code)).all())
    entries = [
        {
            "at": clock.local_text(station, row.at, "%Y-%m-%d %H:%M:%S"),
            "user": username or "",
            "action": row.action,
            "action_text": audit.action_text(row.action),
            "detail": _detail_text(row.detail),
            "address": row.address or "",
            "terminal": row.terminal or "",
            "station": codes.get(row.station_id, ""),
        }
        for row, username in rows
    ]
    query_args = {k: v for k, v in shown.items() if v}
    return render_template(
        "admin/audit.html",
        station=station,
        entries=entries,
        shown=shown,
        error=error,
        total=total,
        page=page,
        pages=pages,
        query_args=query_args,
        zone=str(clock.zone(station)),
        action_example=audit.action_text("staff.login"),
    ), (400 if error else 200)


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab or CR) gets a leading '."""
    text = "" if value is None else str(value)
    if text and text[0] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


@bp.route("/audit.csv")
@login_required("admin")
def audit_csv():
    """The same search as the page, every matching row, as CSV for Excel."""
    station = current_station()
    filters, _shown, error = _search_args(station)
    if error:
        abort(400)
    db_session = get_session()
    codes = dict(db_session.execute(select(Station.id, Station.code)).all())
    # Rows recorded while the file is written (this export's own line first) are left out: stable pages.
    last_id = db_session.scalar(select(func.max(AuditLog.id))) or 0
    query = audit.search(db_session, **filters).where(AuditLog.id <= last_id)
    audit.record("audit.exported", {"filters": {k: v for k, v in _shown.items() if v}})
    zone = str(clock.zone(station))
    headers = [
        _("Time"),
        _("Time zone"),
        _("Station"),
        _("User"),
        _("Action"),
        _("Address"),
        _("Terminal"),
        _("Detail"),
    ]

    def rows():
        out = io.StringIO()
        writer = csv.writer(out)
        out.write("\ufeff")  # a BOM: Excel then reads UTF-8 (Chinese) correctly
        writer.writerow(headers)
        offset = 0
        while True:
            batch = db_session.execute(query.limit(CSV_BATCH).offset(offset)).all()
            for row, username in batch:
                writer.writerow(
                    [
                        csv_cell(v)
                        for v in (
                            clock.local_text(station, row.at, "%Y-%m-%d %H:%M:%S"),
                            zone,
                            codes.get(row.station_id, ""),
                            username or "",
                            audit.action_text(row.action),
                            row.address or "",
                            row.terminal or "",
                            _detail_text(row.detail),
                        )
                    ]
                )
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
            if len(batch) < CSV_BATCH:
                return
            offset += CSV_BATCH

    name = f"audit-{station.code}-{clock.local_text(station, clock.now(), '%Y%m%d-%H%M')}.csv"
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
