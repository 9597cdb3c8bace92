"""Printer profiles: paper width in dots and how a printer wants its bytes.

Two paper widths cover the thermal printers used at the stations: 58 mm
(384 dots at 203 dpi) and 80 mm (576 dots). The ``-cn`` variants are for
printers known to carry a GB18030 Chinese font: their text goes out as
native text (the fast path), everything else as raster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class PrinterProfile:
    """How to lay out and encode a receipt for one kind of printer.

    :param width_dots: printable width; raster bands are exactly this wide.
    :param margin_dots: blank space kept at each side of the raster.
    :param band_rows: rows per ``GS v 0`` band; keeps each band within the
        receive buffer of cheap printers (72 bytes x 128 rows = 9 KB at 80 mm).
    :param text_mode: send text as GB18030 bytes inside ``FS &`` … ``FS .``
        instead of rendering it; only for printers with a Chinese font.
    :param codec: the printer's Chinese encoding in text mode (``gb18030`` or
        ``gbk``); a line it cannot encode is rendered as raster instead.
    :param text_columns: normal-size half-width columns per line in text mode.
    :param qr_module: default QR module size in dots.
    :param feed_lines: lines fed before the cut so the last line clears the cutter.
    :param cut: ``"partial"``, ``"full"`` or ``"none"`` (printers without a cutter).
    """

    name: str
    width_dots: int
    margin_dots: int = 4
    band_rows: int = 128
    text_mode: bool = False
    codec: str = "gb18030"
    text_columns: int = 48
    qr_module: int = 6
    feed_lines: int = 4
    cut: str = "partial"

    def __post_init__(self) -> None:
        if self.width_dots % 8:
            raise ValueError("width_dots must be a multiple of 8 (GS v 0 sends whole bytes)")
        if not 8 <= self.width_dots <= 2048:
            raise ValueError(f"width_dots out of range: {self.width_dots}")
        if not 0 <= self.margin_dots < self.width_dots // 4:
            raise ValueError(f"margin_dots out of range: {self.margin_dots}")
        if not 1 <= self.band_rows <= 2047:
            raise ValueError(f"band_rows out of range: {self.band_rows}")
        if self.codec not in ("gb18030", "gbk"):
            raise ValueError(f"codec must be gb18030 or gbk, not {self.codec!r}")
        if self.cut not in ("partial", "full", "none"):
            raise ValueError(f"cut must be partial, full or none, not {self.cut!r}")
        if not 0 <= self.feed_lines <= 255:
            raise ValueError(f"feed_lines out of range: {self.feed_lines}")

    @property
    def width_bytes(self) -> int:
        """Bytes per raster row."""
        return self.width_dots // 8

    @property
    def content_width(self) -> int:
        """Dots available for content between the margins."""
        return self.width_dots - 2 * self.margin_dots

    def to_dict(self) -> dict[str, Any]:
        """Plain data, e.g. for a station's config page."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


PROFILES: dict[str, PrinterProfile] = {
    "58mm": PrinterProfile("58mm", width_dots=384, text_columns=32, qr_module=5),
    "80mm": PrinterProfile("80mm", width_dots=576, text_columns=48, qr_module=6),
    "58mm-cn": PrinterProfile("58mm-cn", width_dots=384, text_columns=32, qr_module=5, text_mode=True),
    "80mm-cn": PrinterProfile("80mm-cn", width_dots=576, text_columns=48, qr_module=6, text_mode=True),
}


def get_profile(spec: str | Mapping[str, Any] | PrinterProfile | None = None) -> PrinterProfile:
    """Resolve a profile from a name, a dict, or a profile (default ``80mm``).

    A dict starts from ``base`` (default ``80mm``) and overrides fields, e.g.
    ``{"base": "80mm-cn", "codec": "gbk"}``. Unknown names or keys raise
    ValueError so a typo in a station's config fails at start.
    """
    if spec is None:
        return PROFILES["80mm"]
    if isinstance(spec, PrinterProfile):
        return spec
    if isinstance(spec, str):
        try:
            return PROFILES[spec]
        except KeyError:
            raise ValueError(f"unknown printer profile {spec!r}; known: {sorted(PROFILES)}") from None
    overrides = dict(spec)
    base = get_profile(overrides.pop("base", "80mm"))
    allowed = {f.name for f in fields(PrinterProfile)}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(f"unknown printer profile keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    overrides.setdefault("name", f"{base.name}*")
    return replace(base, **overrides)
