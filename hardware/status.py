"""Printer status from ``DLE EOT`` replies, and what it means for printing.

ESC/POS real-time status: the host sends ``DLE EOT n`` and the printer
answers one byte. ``n=1`` printer status (bit 3: offline), ``n=2`` offline
cause (bit 2: cover open, bit 5: stopped at paper end, bit 6: error),
``n=4`` roll paper sensor (bits 2-3: near end, bits 5-6: paper out). Every
valid reply has bits 1 and 4 set and bits 0 and 7 clear, which is how a
garbled byte is told from a real answer.

An empty, missing or invalid reply is UNKNOWN, never "paper OK": a silent
printer may well be out of paper.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DLE_EOT = b"\x10\x04"
PRINTER_STATUS = 1
OFFLINE_CAUSE = 2
ERROR_CAUSE = 3
PAPER_SENSOR = 4

_FIXED_MASK = 0b1001_0011
_FIXED_BITS = 0b0001_0010


def status_query(n: int) -> bytes:
    """The ``DLE EOT n`` bytes for one status query."""
    return DLE_EOT + bytes([n])


class Online(StrEnum):
    """Whether the printer says it can print now."""

    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class Paper(StrEnum):
    """The roll paper sensor."""

    OK = "ok"
    NEAR_END = "near_end"
    OUT = "out"
    UNKNOWN = "unknown"


def valid_reply(reply: bytes | None) -> int | None:
    """The status byte of a reply, or None when empty or not shaped like one."""
    if not reply:
        return None
    byte = reply[-1]  # a late answer to an earlier query may precede it
    return byte if byte & _FIXED_MASK == _FIXED_BITS else None


def parse_printer_status(reply: bytes | None) -> Online:
    """``DLE EOT 1`` reply to ONLINE / OFFLINE / UNKNOWN."""
    byte = valid_reply(reply)
    if byte is None:
        return Online.UNKNOWN
    return Online.OFFLINE if byte & 0x08 else Online.ONLINE


def parse_paper_status(reply: bytes | None) -> Paper:
    """``DLE EOT 4`` reply to OK / NEAR_END / OUT / UNKNOWN."""
    byte = valid_reply(reply)
    if byte is None:
        return Paper.UNKNOWN
    if byte & 0x60:
        return Paper.OUT
    if byte & 0x0C:
        return Paper.NEAR_END
    return Paper.OK


def parse_offline_cause(reply: bytes | None) -> str:
    """``DLE EOT 2`` reply as words ("cover open, paper end"), or "" if none or unknown."""
    byte = valid_reply(reply)
    if byte is None:
        return ""
    causes = []
    if byte & 0x04:
        causes.append("cover open")
    if byte & 0x08:
        causes.append("paper being fed")
    if byte & 0x20:
        causes.append("stopped at paper end")
    if byte & 0x40:
        causes.append("printer error")
    return ", ".join(causes)


@dataclass(frozen=True)
class PrinterStatus:
    """What is known about a printer right now.

    ``reachable`` is False when the device could not be opened at all (no
    route, connection refused, unplugged). ``detail`` explains in words.
    """

    online: Online = Online.UNKNOWN
    paper: Paper = Paper.UNKNOWN
    reachable: bool = True
    detail: str = ""
    checked_at: float = field(default_factory=time.time)

    @property
    def ready(self) -> bool:
        """False only when printing is known to be impossible; unknown is not a refusal."""
        return self.reachable and self.online is not Online.OFFLINE and self.paper is not Paper.OUT

    @property
    def known(self) -> bool:
        """True when the printer answered both queries."""
        return self.online is not Online.UNKNOWN and self.paper is not Paper.UNKNOWN

    @property
    def level(self) -> str:
        """``ok``, ``warning`` (paper near end), ``error`` or ``unknown``: for a status light."""
        if not self.ready:
            return "error"
        if self.paper is Paper.NEAR_END:
            return "warning"
        if not self.known:
            return "unknown"
        return "ok"

    def describe(self) -> str:
        """One line for logs and the staff console."""
        if not self.reachable:
            return f"unreachable: {self.detail}" if self.detail else "unreachable"
        parts = [f"printer {self.online.value}", f"paper {self.paper.value.replace('_', ' ')}"]
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "online": self.online.value,
            "paper": self.paper.value,
            "reachable": self.reachable,
            "ready": self.ready,
            "level": self.level,
            "detail": self.detail,
            "checked_at": self.checked_at,
        }


def status_from_replies(printer: bytes | None, paper: bytes | None, cause: bytes | None = None) -> PrinterStatus:
    """Combine the replies to ``DLE EOT 1``, ``4`` and (optionally) ``2``."""
    online = parse_printer_status(printer)
    detail = parse_offline_cause(cause) if online is Online.OFFLINE else ""
    if online is Online.UNKNOWN:
        detail = "no status reply"
    return PrinterStatus(online=online, paper=parse_paper_status(paper), detail=detail)
