"""Staff and admin accounts: login, logout, roles, and guarding their pages.

Passwords are hashed with scrypt (Werkzeug's default); :func:`check_password`
refuses short, over-long and common ones. User names compare
case-insensitively everywhere (:func:`find_user`; the database's unique index
on ``lower(username)`` is the backstop). Failed logins are counted in the
database per user name and address, so the back-off holds across workers and
restarts (:func:`_login_wait`: a wait that doubles per failure from that address,
never a lockout of the account); every login, failed login and logout is in
the audit trail.

A login's session holds the account's ``session_version``: a password reset,
disabling the account or changing its role raises it (:func:`end_sessions`),
and every session of the account is logged out at its next request. Each
login's session also has its own random id: logging out records it as
revoked (:class:`RevokedSession`, kept as long as a session cookie is
accepted), so a copy of the cookie taken before the logout opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from kiosk.audit import client_address, record
from kiosk.db import Base, UTCDateTime, get_session, utcnow
from kiosk.i18n import N_, _
from kiosk.models import ROLES, LoginAttempt, User
from kiosk.ratelimit import limited

bp = Blueprint("auth", __name__, url_prefix="/staff")

MIN_PASSWORD = 8
MAX_PASSWORD = 256
MAX_USERNAME = 64

#: Passwords refused whatever their length: the most common ones, in China and elsewhere.
COMMON_PASSWORDS = frozenset(
    {
        "00000000",
        "11111111",
        "11223344",
        "12341234",
        "12344321",
        "123123123",
        "12345678",
        "123456789",
        "1234567890",
        "123456abc",
        "1qaz2wsx",
        "5201314520",
        "66666666",
        "87654321",
        "88888888",
        "a1234567",
        "a12345678",
        "aa123456",
        "abc12345",
        "abc123456",
        "abcd1234",
        "admin123",
        "admin1234",
        "admin12345",
        "administrator",
        "iloveyou",
        "letmein1",
        "password",
        "password1",
        "password123",
        "passw0rd",
        "qwer1234",
        "qwerty12",
        "qwerty123",
        "qwertyui",
        "qwertyuiop",
        "sunshine",
        "welcome1",
        "woaini1314",
        "woaini520",
        "zxcvbnm1",
    }
)


class RevokedSession(Base):
    """A logged-out session's id (hashed), refused until its cookie would have expired anyway."""

    __tablename__ = "kiosk_revoked_session"
    __table_args__ = (Index("ix_kiosk_revoked_session_expires_at", "expires_at"),)

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def prune_revoked_sessions(db_session, now: datetime | None = None) -> int:
    """Forget revoked sessions whose cookies have expired; the caller commits."""
    result = db_session.execute(delete(RevokedSession).where(RevokedSession.expires_at < (now or utcnow())))
    return int(result.rowcount or 0)


class AccountError(ValueError):
    """A refused account change; ``str()`` is English (the CLI), :meth:`localized` the request's language."""

    def __init__(self, message: str, **variables):
        self.message, self.variables = message, variables
        super().__init__(message % variables if variables else message)

    def localized(self) -> str:
        return _(self.message, **self.variables)


#: Werkzeug's scrypt with its default cost (N=32768): about 0.1-0.6 s a hash on a station PC.
DEFAULT_HASH_METHOD = "scrypt"
#: What new hashes use. Only a test run lowers it (kiosk.testing: hundreds of logins would spend
#: minutes in scrypt); a hash keeps its own parameters, so checking one follows what made it.
HASH_METHOD = DEFAULT_HASH_METHOD


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


def check_password(password: str, username: str = "") -> None:
    """Raise :class:`AccountError` for a password too short, too long, common, or the user name itself."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise AccountError(N_("The password must be at least %(min)s characters."), min=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise AccountError(N_("The password must be at most %(max)s characters."), max=MAX_PASSWORD)
    folded = password.lower()
    if folded in COMMON_PASSWORDS or len(set(folded)) == 1:
        raise AccountError(N_("This password is too common. Choose another one."))
    if username and folded == username.strip().lower():
        raise AccountError(N_("The password must not be the user name."))


def check_username(username: str) -> str:
    """The user name stripped; :class:`AccountError` when empty, too long or holding spaces or control characters."""
    username = (username or "").strip()
    if not username or len(username) > MAX_USERNAME:
        raise AccountError(N_("The user name must be 1 to %(max)s characters."), max=MAX_USERNAME)
    if any(c.isspace() or not c.isprintable() for c in username):
        raise AccountError(N_("The user name must not contain spaces or control characters."))
    return username


def find_user(db_session, username: str) -> User | None:
    """The account named ``username``, whatever the case of its letters."""
    username = (username or "").strip()
    if not username:
        return None
    return db_session.scalar(select(User).where(func.lower(User.username) == func.lower(username)))


def create_user(
    db_session, username: str, password: str, role: str = "staff", station_id: int | None = None, display_name: str = ""
) -> User:
    """Add an account; raises :class:`AccountError` (a ValueError) with a readable reason on bad input."""
    username = check_username(username)
    if role not in ROLES:
        raise AccountError(N_("The role must be one of %(roles)s."), roles=", ".join(ROLES))
    check_password(password, username)
    existing = find_user(db_session, username)
    if existing is not None:
        raise AccountError(N_("The user %(name)s already exists."), name=existing.username)
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        station_id=None if role == "district" else station_id,
        display_name=(display_name or username)[:100],
        session_version=0,
    )
    db_session.add(user)
    return user


def end_sessions(user: User) -> None:
    """Log every session of ``user`` out at its next request."""
    user.session_version = (user.session_version or 0) + 1


def set_password(user: User, password: str) -> None:
    """A new password (checked); the account's sessions end."""
    check_password(password, user.username)
    user.password_hash = hash_password(password)
    end_sessions(user)


def _other_admins(db_session, user: User) -> int:
    """Active accounts other than ``user`` that keep its station administered (an admin there, or a district admin)."""
    if user.role == "district":
        where = User.role == "district"
    else:
        where = (User.role == "district") | ((User.role == "admin") & (User.station_id == user.station_id))
    return db_session.scalar(
        select(func.count()).select_from(User).where(where, User.active.is_(True), User.id != user.id)
    )


def _last_admin_guard(db_session, user: User) -> None:
    if user.active and user.role in ("admin", "district") and not _other_admins(db_session, user):
        raise AccountError(N_("%(name)s is the last active administrator: add another one first."), name=user.username)


def set_active(db_session, user: User, active: bool) -> None:
    """Enable or disable an account; a disabled one's sessions end. The last active admin stays."""
    if not active:
        _last_admin_guard(db_session, user)
        end_sessions(user)
    user.active = active


def set_role(db_session, user: User, role: str, station_id: int | None = None) -> None:
    """Change the account's role; its sessions end. The last active admin is not demoted.

    A district account made a station's gets ``station_id``.
    """
    if role not in ROLES:
        raise AccountError(N_("The role must be one of %(roles)s."), roles=", ".join(ROLES))
    if role == user.role:
        return
    if ROLES.index(role) < ROLES.index(user.role):
        _last_admin_guard(db_session, user)
    if role == "district":
        user.station_id = None
    elif user.station_id is None:
        if station_id is None:
            raise AccountError(N_("A district account belongs to no station: create a station account instead."))
        user.station_id = station_id
    user.role = role
    end_sessions(user)


def can_manage(actor: User | None, target: User) -> bool:
    """A district admin manages every account; a station admin only their station's staff and admins; staff none."""
    if actor is None or not actor.active:
        return False
    if actor.role == "district":
        return True
    return actor.role == "admin" and target.role != "district" and target.station_id == actor.station_id


def load_user() -> None:
    uid = session.get("uid")
    user = get_session().get(User, uid) if uid else None
    if user is not None:
        sid = session.get("sid")
        if (
            not user.active
            or session.get("uv", 0) != (user.session_version or 0)
            or (sid and get_session().get(RevokedSession, _sid_hash(str(sid))) is not None)
        ):
            user = None
            for key in ("uid", "uv", "sid"):
                session.pop(key, None)
    g.user = user


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
    return f"{username.lower()}|{client_address() or '-'}"


def _login_wait(db_session, key: str) -> int:
    """Seconds this address must still wait before trying this account again (0: go ahead).

    Back-off per account and address, never a lockout of the account: after
    ``login_max_failures`` failed tries from one address, each further try
    from there waits twice as long as the one before, up to
    ``login_lock_minutes``. Somebody guessing from another address (behind
    the same proxy, with ``trusted_proxy_hops`` set) slows only themselves;
    the real user, from their own address, logs in at once.
    """
    from kiosk import clock
    from kiosk.ratelimit import backoff_seconds

    now = clock.now()
    window = now - timedelta(days=1)
    failures, last = db_session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(LoginAttempt.key == key, LoginAttempt.at >= window)
    ).one()
    delay = backoff_seconds(
        int(failures or 0),
        current_app.config["LOGIN_MAX_FAILURES"],
        cap=current_app.config["LOGIN_LOCK_MINUTES"] * 60,
    )
    if not delay or last is None:
        return 0
    return max(int((last + timedelta(seconds=delay) - now).total_seconds() + 0.999), 0)


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (``//evil``, ``/\\t/evil``, ``https://…``)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 33 or ord(c) == 127 for c in target):
        return None  # browsers drop tabs and newlines and read \\ as /: "/\t/evil" is "//evil"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def form_next_or_home() -> str:
    """Where a kiosk form sends the screen back to: its ``next`` field when that is safe, else the home screen."""
    return safe_next(request.form.get("next")) or url_for("shell.home")


#: What a login or logout keeps of the session: how the screen reads (its language, large text), not who used it.
DISPLAY_KEYS = ("lang", "large_text")


def _clear_keeping_display(cookie_session) -> None:
    """Start a new session (no identity carries over), in the language and text size the screen had."""
    kept = {key: cookie_session[key] for key in DISPLAY_KEYS if key in cookie_session}
    cookie_session.clear()
    cookie_session.update(kept)


# Checked against when the user name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password("no account has this password"))
    return _DUMMY_HASH[0]


@bp.route("/login", methods=["GET", "POST"])
@limited(30, 600, terminal_count=30)  # per address, whatever the names: a sweep over many accounts
def login():
    error, retry_after = None, 0
    if request.method == "POST":
        db_session = get_session()
        typed = request.form.get("username", "")
        username = typed.strip()[:MAX_USERNAME]
        password = request.form.get("password", "")
        key = _attempt_key(username)
        wait = _login_wait(db_session, key)
        if wait:
            error = _("Too many failed attempts. Please wait %(seconds)s seconds and try again.", seconds=wait)
            retry_after = wait
            record("staff.login_failed", {"username": username, "reason": "backoff"}, anonymous=True)
        else:
            user = find_user(db_session, username)
            # Over-long passwords are never valid (none can be set); still hash, so the time says nothing.
            candidate = password if len(password) <= MAX_PASSWORD else ""
            if user is None:
                check_password_hash(_dummy_hash(), candidate)
                ok = False
            else:
                ok = check_password_hash(user.password_hash, candidate) and bool(candidate)
            if user is not None and user.active and ok:
                db_session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
                user.last_login_at = utcnow()
                db_session.commit()
                _clear_keeping_display(session)
                session["uid"] = user.id
                session["uv"] = user.session_version or 0
                session["sid"] = secrets.token_urlsafe(18)
                g.user = user
                record("staff.login", user=user)
                # Only local paths: never bounce a staff member to another site.
                target = safe_next(request.args.get("next")) or url_for("staff.console")
                return redirect(target)
            from kiosk import clock

            db_session.add(LoginAttempt(key=key, at=clock.now()))
            db_session.commit()
            reason = "unknown" if user is None else ("disabled" if not user.active else "password")
            record("staff.login_failed", {"username": username, "reason": reason}, anonymous=True)
            error = _("Wrong user name or password.")
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return render_template("staff/login.html", error=error), (400 if error else 200), headers


@bp.route("/logout", methods=["POST"])
def logout():
    user = g.get("user")
    if user is not None:
        sid = session.get("sid")
        if sid:
            # A copy of this cookie must not stay logged in: its id is refused until the cookie expires.
            db_session = get_session()
            until = utcnow() + current_app.permanent_session_lifetime
            if db_session.get(RevokedSession, _sid_hash(str(sid))) is None:
                db_session.add(RevokedSession(sid_hash=_sid_hash(str(sid)), expires_at=until))
            db_session.commit()
        record("staff.logout", user=user)
    _clear_keeping_display(session)
    flash(_("You have logged out."))
    return redirect(url_for("auth.login"))
