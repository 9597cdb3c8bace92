"""The core's tables.

Stations, staff accounts, the audit trail, print jobs, push events, device
reports and day counters.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow

__all__ = [
    "Station",
]

ROLES = ("staff", "admin", "district")


class Station(Base):
    """One service station: a 党群服务中心 or a 暖蜂驿站. Every record belongs to one."""

    __tablename__ = "station"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # Plugins switched off for this station only (a fleet server hosts stations
    # that offer different services from the same installed plugins).
    disabled_plugins: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def plugin_enabled(self, name: str) -> bool:
        return name not in (self.disabled_plugins or [])


class User(Base):
    """A staff member, a station admin, or a district admin (who sees every station).

    User names compare case-insensitively: the unique index on
    ``lower(username)`` keeps ``ADMIN`` out when ``admin`` exists. ``active``
    false is a disabled account (it cannot log in; its sessions end).
    ``session_version`` is stored in each login's session: raising it (a
    password reset, disabling, a role change) ends every session of the account.
    """

    __tablename__ = "kiosk_user"
    __table_args__ = (Index("uq_kiosk_user_username_lower", func.lower("username"), unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="staff")
    display_name: Mapped[str] = mapped_column(String(100), default="")
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def can(self, role: str) -> bool:
        """True when this user holds ``role`` or one above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


class LoginAttempt(Base):
    """Failed logins, kept in the database so the limit holds across workers."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_key_at", "key", "at"), Index("ix_login_attempt_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """Who did what and when: every staff action and every state change worth tracing.

    ``address`` is the client's address and ``terminal`` the enrolled terminal
    the request came from, both taken from the request by :func:`kiosk.audit.record`.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_station_at", "station_id", "at"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    terminal: Mapped[str | None] = mapped_column(String(32), nullable=True)


class PrintJob(Base):
    """A receipt handed to the print queue; failed ones stay for staff to reprint.

    The row mirrors :class:`kiosk_hardware.job_store.PrintJob`, so the queue's
    state survives a restart (unfinished jobs are resumed at start).

    ``printer`` names the printer that prints it: ``default`` (the station
    file's ``[devices.printer]``) or a terminal's name (its
    ``[terminals.<name>.printer]``); ``terminal`` is the terminal the receipt
    was taken at. A job for a printer behind a ``kiosk agent`` waits here until
    that agent leases it: ``lease_owner`` is the agent run holding it,
    ``lease_until`` when the lease lapses (for a queued job: not before). A job
    of a printer the station node drives is claimed by the print queue of one
    process: ``lease_owner`` names it while the job is ``printing``.
    ``expires_at``: past it the job is no longer printed (None: never).
    States: queued, printing, done (the printer confirmed it), sent (every
    byte went out, no confirmation), failed.
    """

    __tablename__ = "print_job"
    __table_args__ = (
        Index("ix_print_job_station_state", "station_id", "state"),
        Index("ix_print_job_station_printer_state", "station_id", "printer", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    printer: Mapped[str] = mapped_column(String(64), default="default")
    layout: Mapped[str] = mapped_column(String(100), default="")
    receipt: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    reprint_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    terminal: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PrinterLease(Base):
    """Which process drives one printer of a station: exactly one at a time.

    Several server processes (gunicorn workers, or servers) share a station's
    database; the one whose ``owner`` is here with ``lease_until`` in the
    future sends that printer's jobs, renewing the lease as a heartbeat. A
    holder that dies stops renewing and another takes over once it lapses.
    """

    __tablename__ = "printer_lease"

    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), primary_key=True)
    printer: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class KioskEvent(Base):
    """A pushed event (a ticket called, a slot freed), read by every worker's streams.

    The table, not process memory, is the source of truth, so a display connected
    to one worker sees what happened on another.
    """

    __tablename__ = "kiosk_event"
    __table_args__ = (Index("ix_kiosk_event_station_id", "station_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    channel: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobRun(Base):
    """When each scheduled job last ran, and the lease that keeps it to one worker."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class DeviceReport(Base):
    """The last state a kiosk process saw of one of its devices (printer, reader).

    Devices are local to the kiosk that owns them; this row is how a district
    dashboard served by any worker sees them. One row per station and device,
    overwritten by each report; ``updated_at`` tells a live report from a stale one.
    """

    __tablename__ = "device_report"
    __table_args__ = (UniqueConstraint("station_id", "device", name="uq_device_report_station_device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    device: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32), default="")
    state: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DayCounter(Base):
    """The last number of a named series given out at a station on one local day (:mod:`kiosk.numbering`).

    The row is locked while a number is taken, so kiosks numbering at the same
    moment queue up on it; a plugin's own unique constraint on the numbered
    rows is the backstop.
    """

    __tablename__ = "kiosk_day_counter"
    __table_args__ = (UniqueConstraint("station_id", "series", "day", name="uq_kiosk_day_counter_station_series_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    series: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    last: Mapped[int] = mapped_column(Integer, default=0)
