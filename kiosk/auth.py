"""Staff and admin accounts: login, logout, roles, and guarding their pages.

Passwords are hashed with scrypt (Werkzeug's default). Failed logins are
counted in the database per user name and address, so the limit holds across
workers and restarts.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from kiosk.audit import record
from kiosk.db import get_session, utcnow
from kiosk.i18n import _
from kiosk.models import ROLES, LoginAttempt, User

bp = Blueprint("auth", __name__, url_prefix="/staff")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def create_user(
    db_session, username: str, password: str, role: str = "staff", station_id: int | None = None, display_name: str = ""
) -> User:
    """Add an account; raises ValueError with a readable reason on bad input."""
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ValueError("user name must be 1 to 64 characters")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password or "") < 8:
        raise ValueError("password must be at least 8 characters")
    if db_session.scalar(select(User).where(User.username == username)):
        raise ValueError(f"user {username} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        station_id=None if role == "district" else station_id,
        display_name=display_name or username,
    )
    db_session.add(user)
    return user


def load_user() -> None:
    uid = session.get("uid")
    g.user = get_session().get(User, uid) if uid else None
    if g.user is not None and not g.user.active:
        g.user = None
        session.pop("uid", None)


def login_required(role: str = "staff"):
    """Require a logged-in user holding ``role`` (staff < admin < district)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            denied = require_role(role)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_role(role: str):
    """``None`` when the request's user holds ``role``; else the response to send."""
    user = g.get("user")
    if user is None:
        if request.accept_mimetypes.best == "application/json":
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    if not user.can(role):
        abort(403)
    return None


def _attempt_key(username: str) -> str:
    return f"{username.lower()}|{request.remote_addr or '-'}"


def _locked(db_session, key: str) -> bool:
    window = utcnow() - timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    count = db_session.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.key == key, LoginAttempt.at >= window)
    )
    return count >= current_app.config["LOGIN_MAX_FAILURES"]


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        db_session = get_session()
        username = request.form.get("username", "").strip()[:64]
        password = request.form.get("password", "")[:256]
        key = _attempt_key(username)
        if _locked(db_session, key):
            error = _(
                "Too many failed attempts. Please wait %(minutes)s minutes and try again.",
                minutes=current_app.config["LOGIN_LOCK_MINUTES"],
            )
        else:
            user = db_session.scalar(select(User).where(User.username == username))
            if user is not None and user.active and check_password_hash(user.password_hash, password):
                db_session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
                db_session.commit()
                session.clear()
                session["uid"] = user.id
                g.user = user
                record("staff.login", user=user)
                target = request.args.get("next", "")
                # Only local paths: never bounce a staff member to another site.
                if not target.startswith("/") or target.startswith("//"):
                    target = url_for("staff.console")
                return redirect(target)
            db_session.add(LoginAttempt(key=key))
            db_session.commit()
            error = _("Wrong user name or password.")
    return render_template("staff/login.html", error=error), (400 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    user = g.get("user")
    if user is not None:
        record("staff.logout", user=user)
    session.clear()
    flash(_("You have logged out."))
    return redirect(url_for("auth.login"))
