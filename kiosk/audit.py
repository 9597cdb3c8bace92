"""The audit trail: every staff action and state change, with time, person, address and terminal.

:func:`record` appends one row; inside a request it fills in the logged-in
user, the station, the client's address (:func:`client_address`, the one place
that reads it) and the enrolled terminal the request came from, if any.
:func:`search` serves the admin page (:mod:`kiosk.accounts`); how long
rows are kept is the retention job's (:mod:`kiosk.retention_core`).

The admin page shows each action in words in the reader's language
(:func:`action_text`): the core's own from :data:`CORE_ACTIONS`, a plugin's
from its ``register_audit_actions`` hook; an action nobody named shows as its key.
"""

from __future__ import annotations

import json
from datetime import datetime

from flask import current_app, g, has_request_context, request
from sqlalchemy import String, cast, func, or_, select

from kiosk.db import get_session
from kiosk.models import AuditLog, User

__all__ = ["client_address", "record"]

#: ``app.extensions`` key of the function giving the request's terminal name (set by :mod:`kiosk.accounts`).
TERMINAL_RESOLVER = "kiosk_audit_terminal"
#: ``app.extensions`` key of the words of every known action: action key → ``(plugin, label)``.
ACTION_WORDS = "kiosk_audit_actions"


def _words(zh_hans: str, zh_hant: str, en: str) -> dict[str, str]:
    return {"zh_Hans": zh_hans, "zh_Hant": zh_hant, "en": en}


#: The core's own actions in words (plugins give theirs through ``register_audit_actions``).
CORE_ACTIONS: dict[str, dict[str, str]] = {
    "staff.login": _words("登录", "登入", "Logged in"),
    "staff.login_failed": _words("登录失败", "登入失敗", "Failed login"),
    "staff.logout": _words("退出登录", "登出", "Logged out"),
    "account.created": _words("新建账号", "新建帳號", "Account created"),
    "account.disabled": _words("停用账号", "停用帳號", "Account disabled"),
    "account.enabled": _words("启用账号", "啟用帳號", "Account enabled"),
    "account.password_reset": _words("重设密码", "重設密碼", "Password reset"),
    "account.role": _words("更改角色", "更改角色", "Role changed"),
    "audit.exported": _words("导出操作日志", "匯出操作日誌", "Audit log exported"),
    "plugin.enabled": _words("开启服务", "開啟服務", "Service switched on"),
    "plugin.disabled": _words("关闭服务", "關閉服務", "Service switched off"),
    "notice.created": _words("发布通知", "發佈通知", "Notice published"),
    "notice.updated": _words("修改通知", "修改通知", "Notice changed"),
    "notice.ended": _words("撤下通知", "撤下通知", "Notice taken down"),
    "staff_call.called": _words("居民呼叫工作人员", "居民呼叫工作人員", "Resident called for staff"),
    "staff_call.acknowledged": _words("应答呼叫", "應答呼叫", "Call for staff answered"),
    "print.reprint": _words("重新打印小票", "重新列印小票", "Receipt reprinted"),
    "terminal.add": _words("添加终端", "新增終端", "Terminal added"),
    "terminal.enrolled": _words("终端已启用", "終端已啟用", "Terminal enrolled"),
    "terminal.link": _words("生成终端启用链接", "產生終端啟用連結", "Terminal enrolment link made"),
    "terminal.rename": _words("终端改名", "終端改名", "Terminal renamed"),
    "terminal.revoke": _words("停用终端", "停用終端", "Terminal revoked"),
    "agent.token": _words("生成设备代理令牌", "產生設備代理權杖", "Device agent token made"),
    "agent.enrol": _words("设备代理已接入", "設備代理已接入", "Device agent enrolled"),
}


def client_address() -> str | None:
    """The address of the client of this request (None outside a request).

    Every record of an address (the audit trail, login attempts) reads it here,
    so trusting a reverse proxy's header is a change to this one function.
    """
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:64] or None


def _request_terminal() -> str | None:
    resolve = current_app.extensions.get(TERMINAL_RESOLVER)
    if resolve is None:
        terminal = g.get("kiosk_terminal")
        return getattr(terminal, "name", None)
    try:
        name = resolve()
    except Exception:  # noqa: BLE001 - the audit row matters more than the terminal's name
        return None
    return str(name)[:32] if name else None


def record(
    action: str,
    detail: dict | None = None,
    *,
    user=None,
    station_id=None,
    session=None,
    commit=True,
    anonymous: bool = False,
) -> None:
    """Append one line to the audit log. ``detail`` must hold no personal data.

    In a request, ``user`` defaults to the logged-in user (``anonymous=True``:
    nobody, as for a failed login), and the client's address and terminal are
    recorded.
    """
    address = terminal = None
    if has_request_context():
        if user is None and not anonymous:
            user = g.get("user")
        if station_id is None and g.get("station") is not None:
            station_id = g.station.id
        if station_id is None and user is not None:
            station_id = user.station_id
        address = client_address()
        terminal = _request_terminal()
    db_session = session or get_session()
    db_session.add(
        AuditLog(
            action=action,
            detail=detail or {},
            user_id=user.id if user else None,
            station_id=station_id,
            address=address,
            terminal=terminal,
        )
    )
    if commit:
        db_session.commit()


def collect_action_words(app) -> None:
    """Gather every plugin's ``register_audit_actions`` words next to the core's (at start).

    A plugin words only its own actions (``<plugin>.…``). One that words
    another's, or gives no words, is left out and charged to the plugin as a
    fault: the plugin's services stay on, since only the audit page's wording is at stake.
    """
    from kiosk.plugins import PluginError

    plugins = app.extensions["kiosk_plugins"]
    known: dict[str, tuple[str | None, object]] = {key: (None, label) for key, label in CORE_ACTIONS.items()}

    def per_plugin(plugin):
        def register(action, label):
            if not isinstance(action, str) or not action.startswith(plugin + ".") or len(action) > 100:
                problem = f"audit action {action!r}: a plugin words only its own actions ({plugin}.…)"
            elif not label or not isinstance(label, (str, dict)):
                problem = f"audit action {action}: the label must be a message id or a dict of language → text"
            else:
                known[action] = (plugin, label)
                return
            plugins.record_fault(plugin, "register_audit_actions", PluginError(problem))

        return {"register": register}

    plugins.call_startup("register_audit_actions", per_plugin=per_plugin)
    app.extensions[ACTION_WORDS] = known


def action_text(action: str, locale: str | None = None) -> str:
    """``action`` in words in ``locale`` (the reader's by default); an action nobody named is its key."""
    from kiosk.i18n import localized

    found = current_app.extensions.get(ACTION_WORDS, {}).get(action)
    if found is None:
        return action
    plugin, label = found
    try:
        return localized(label, locale, domain=plugin) or action
    except Exception:  # noqa: BLE001 - the audit page shows the key rather than fail
        return action


def actions_worded(text: str, locale: str | None = None) -> list[str]:
    """The known actions whose words in ``locale`` contain ``text`` (a search for 登录 finds ``staff.login``)."""
    wanted = text.strip().lower()
    if not wanted:
        return []
    return sorted(a for a in current_app.extensions.get(ACTION_WORDS, {}) if wanted in action_text(a, locale).lower())


def search(
    db_session,
    *,
    station_id: int | None = None,
    username: str = "",
    action: str = "",
    actions: list[str] | tuple[str, ...] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    text: str = "",
):
    """A select of audit rows with their user (``(AuditLog, username or None)``), newest first.

    ``station_id`` None: every station's. ``username`` and ``action`` match
    case-insensitively from the start (``petition`` finds ``petition.status``),
    or the action is one of ``actions`` (found by their words, :func:`actions_worded`);
    ``text`` anywhere in the detail, address or terminal. ``since`` inclusive,
    ``until`` exclusive.
    """
    query = select(AuditLog, User.username).outerjoin(User, User.id == AuditLog.user_id)
    if station_id is not None:
        query = query.where(AuditLog.station_id == station_id)
    if username:
        query = query.where(func.lower(User.username) == func.lower(username.strip()))
    if action:
        by_key = func.lower(AuditLog.action).like(_escaped(action.strip().lower()) + "%", escape="\\")
        query = query.where(or_(by_key, AuditLog.action.in_(list(actions))) if actions else by_key)
    if since is not None:
        query = query.where(AuditLog.at >= since)
    if until is not None:
        query = query.where(AuditLog.at < until)
    if text:
        wanted = text.strip().lower()
        pattern = "%" + _escaped(wanted) + "%"
        # The detail is stored as JSON text, Chinese as \\uXXXX escapes: look for that spelling too.
        as_json = "%" + _escaped(json.dumps(wanted)[1:-1]) + "%"
        query = query.where(
            or_(
                func.lower(cast(AuditLog.detail, String)).like(pattern, escape="\\"),
                func.lower(cast(AuditLog.detail, String)).like(as_json, escape="\\"),
                func.lower(func.coalesce(AuditLog.address, "")).like(pattern, escape="\\"),
                func.lower(func.coalesce(AuditLog.terminal, "")).like(pattern, escape="\\"),
            )
        )
    return query.order_by(AuditLog.at.desc(), AuditLog.id.desc())


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
