"""Printer profiles: paper width in dots, the printer's Chinese font, and how it wants its bytes.

Most printers at the stations are Chinese 58/80 mm thermal printers
(Xprinter, Gprinter and the like) with a GB18030 Chinese font, so the
``58mm`` (384 dots) and ``80mm`` (576 dots) profiles send text as native
GB18030 text: a queue ticket is a few kilobytes instead of a 40-70 kB
raster, which a 9600-baud serial line carries in seconds. Only QR codes,
barcodes, pictures and lines with characters the printer's font lacks go
as raster. ``58mm-raster``/``80mm-raster`` (or ``chinese_font = "none"``)
are for printers without a Chinese font: everything is rendered.

A known printer is named by its ``model`` from python-escpos's capability
database (``TM-T88V``: 512 dots at 180 dpi, partial and full cut, 42
columns), see :func:`model_profile`; its Chinese font still defaults to
``gbk``, the repertoire nearly every Chinese-market printer carries.
"""

from __future__ import annotations

import importlib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

#: The Chinese font repertoires a printer may carry, smallest first, and "none".
CHINESE_FONTS = ("gb2312", "gbk", "gb18030", "none")
#: Font A (12 x 24 dots, Chinese 24 x 24): dots per half-width text column.
COLUMN_DOTS = 12


@dataclass(frozen=True)
class PrinterProfile:
    """How to lay out and encode a receipt for one kind of printer.

    :param width_dots: printable width; full-width raster bands are exactly this wide.
    :param margin_dots: blank space kept at each side of the raster.
    :param band_rows: rows per ``GS v 0`` band; keeps each band within the
        receive buffer of cheap printers (72 bytes x 128 rows = 9 KB at 80 mm).
    :param text_mode: send text as GB18030 bytes inside ``FS &`` … ``FS .``
        instead of rendering it; only for printers with a Chinese font.
    :param codec: the printer's Chinese encoding in text mode (``gb18030`` or
        ``gbk``).
    :param chinese_font: the repertoire of the printer's Chinese font
        (:data:`CHINESE_FONTS`): a line with a character outside it is sent
        as raster, the rest of the receipt stays text. ``none``: no Chinese
        font, everything is raster.
    :param text_columns: normal-size half-width columns per line in text mode.
    :param qr_module: default QR module size in dots.
    :param native_qr: in text mode, the printer draws QR codes itself (``GS ( k``,
        model 2): the job carries the code's text, not its raster, and nothing is
        computed on our side. Most Chinese 58/80 mm printers can; a printer that
        cannot is set up with ``profile = { base = "80mm", native_qr = false }``.
    :param feed_lines: lines fed before the cut so the last line clears the cutter.
    :param cut: ``"partial"``, ``"full"`` or ``"none"`` (printers without a cutter).
    :param dpi: dots per inch (203 for most thermal printers, 180 for Epson TM-T88).
    :param model: the python-escpos capability profile it came from, if any.
    :param code_pages: ``ESC t`` code page numbers and names from that profile.
    """

    name: str
    width_dots: int
    margin_dots: int = 4
    band_rows: int = 128
    text_mode: bool = False
    codec: str = "gb18030"
    chinese_font: str = "gbk"
    text_columns: int = 48
    qr_module: int = 6
    native_qr: bool = False
    feed_lines: int = 4
    cut: str = "partial"
    dpi: int = 203
    model: str = ""
    code_pages: tuple[tuple[int, str], ...] = ()

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
        if self.chinese_font not in CHINESE_FONTS:
            raise ValueError(f"chinese_font must be one of {', '.join(CHINESE_FONTS)}, not {self.chinese_font!r}")
        if self.cut not in ("partial", "full", "none"):
            raise ValueError(f"cut must be partial, full or none, not {self.cut!r}")
        if not 0 <= self.feed_lines <= 255:
            raise ValueError(f"feed_lines out of range: {self.feed_lines}")
        if not 8 <= self.text_columns <= 255:
            raise ValueError(f"text_columns out of range: {self.text_columns}")
        if not 50 <= self.dpi <= 600:
            raise ValueError(f"dpi out of range: {self.dpi}")

    @property
    def width_bytes(self) -> int:
        """Bytes per raster row."""
        return self.width_dots // 8

    @property
    def content_width(self) -> int:
        """Dots available for content between the margins."""
        return self.width_dots - 2 * self.margin_dots

    @property
    def width_mm(self) -> float:
        """Printable width in millimetres."""
        return round(self.width_dots * 25.4 / self.dpi, 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, e.g. for a station's config page."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def covers(self, ch: str) -> bool:
        """Whether the printer's own font prints ``ch`` (text mode); see :func:`font_covers`."""
        return font_covers(self.chinese_font, self.codec)(ch)


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _encoded_length(ch: str, codec: str) -> int:
    try:
        return len(ch.encode(codec))
    except UnicodeEncodeError:
        return 0


@lru_cache(maxsize=16)
def font_covers(chinese_font: str, codec: str = "gb18030") -> Callable[[str], bool]:
    """A test ``covers(ch)``: does a printer font of this repertoire have the character?

    ASCII prints on any printer. ``gb2312``: the 7,445 characters of GB 2312
    (simplified Chinese, common symbols). ``gbk``: every two-byte character of
    GBK (21,886, with traditional Chinese), the font of nearly every Chinese
    receipt printer. ``gb18030``: GB18030's two-byte characters and its
    four-byte CJK Extension A (the standard's mandatory set), for printers
    whose font says "GB18030". Never covered: private-use characters (the
    user-defined areas hold nothing on a stock printer), emoji, other
    four-byte characters (CJK Extension B and beyond), control characters.
    """

    @lru_cache(maxsize=8192)
    def covers(ch: str) -> bool:
        code = ord(ch)
        if 0x20 <= code < 0x7F:
            return True
        if chinese_font == "none" or code < 0xA0 or unicodedata.category(ch) in ("Co", "Cs", "Cc", "Cf", "Cn"):
            return False
        # What the printer is sent must decode back to this character.
        if _encoded_length(ch, codec) == 0:
            return False
        if chinese_font == "gb2312":
            return _in_gb2312(ch)
        length = _encoded_length(ch, "gb18030")
        if chinese_font == "gbk":
            return length == 2 and _encoded_length(ch, "gbk") == 2
        return length == 2 or (length == 4 and 0x3400 <= code <= 0x4DBF)

    return covers


def _paper(name: str, width: int, **extra: Any) -> PrinterProfile:
    return PrinterProfile(
        name, width_dots=width, text_columns=width // COLUMN_DOTS, qr_module=6 if width >= 512 else 5, **extra
    )


PROFILES: dict[str, PrinterProfile] = {
    # An unknown Chinese printer: text mode with the GBK repertoire every such font has, its own QR codes.
    "58mm": _paper("58mm", 384, text_mode=True, native_qr=True),
    "80mm": _paper("80mm", 576, text_mode=True, native_qr=True),
    # Printers known to carry the full GB18030 font (CJK Extension A too).
    "58mm-cn": _paper("58mm-cn", 384, text_mode=True, chinese_font="gb18030", native_qr=True),
    "80mm-cn": _paper("80mm-cn", 576, text_mode=True, chinese_font="gb18030", native_qr=True),
    # No Chinese font: the whole receipt is one raster.
    "58mm-raster": _paper("58mm-raster", 384, chinese_font="none"),
    "80mm-raster": _paper("80mm-raster", 576, chinese_font="none"),
}
DEFAULT_PROFILE = "80mm"


def _capabilities() -> dict[str, Any]:
    """python-escpos's printer profiles (imported only when a ``model`` is named)."""
    # Our _escpos first: it makes python-escpos parse its capability data once per machine.
    importlib.import_module("kiosk_hardware.printers._escpos")
    return importlib.import_module("escpos.capabilities").CAPABILITIES["profiles"]


def known_models() -> list[str]:
    """Every model name python-escpos's capability database has."""
    return sorted(name for name in _capabilities() if name not in ("default", "simple"))


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def model_profile(model: str, **overrides: Any) -> PrinterProfile:
    """The profile of a printer model from python-escpos's capability database.

    Width (``media.width.pixels``), dpi, cutter (``paperPartCut`` /
    ``paperFullCut``), font A's columns and the code pages come from the
    database; ``overrides`` (any :class:`PrinterProfile` field) win. A model
    the database does not know, or one without a paper width, is a
    ValueError saying what to set instead.
    """
    profiles = _capabilities()
    data = profiles.get(model)
    if data is None:
        by_lower = {name.lower(): name for name in profiles}
        if model.lower() in by_lower:
            model = by_lower[model.lower()]
            data = profiles[model]
    if data is None or model in ("default", "simple"):
        raise ValueError(
            f"unknown printer model {model!r}: python-escpos knows {', '.join(known_models())}; "
            f'for another printer set profile = "80mm" or "58mm" (a Chinese printer) instead'
        )
    media = data.get("media") or {}
    width = _number((media.get("width") or {}).get("pixels"))
    if "width_dots" in overrides:
        width = int(overrides["width_dots"])
    if width is None:
        raise ValueError(
            f"python-escpos does not know the paper width of {model}; "
            f"add width_dots (e.g. profile = {{ width_dots = 576 }}) to the printer's settings"
        )
    width -= width % 8
    features = data.get("features") or {}
    if features.get("paperPartCut"):
        cut = "partial"
    elif features.get("paperFullCut"):
        cut = "full"
    else:
        cut = "none"
    font_a = (data.get("fonts") or {}).get("0") or {}
    columns = _number(font_a.get("columns")) or width // COLUMN_DOTS
    dpi = _number(media.get("dpi")) or 203
    pages = tuple(
        sorted((int(number), str(page)) for number, page in (data.get("codePages") or {}).items() if page != "Unknown")
    )
    base = PrinterProfile(
        model,
        width_dots=width,
        text_mode=True,
        text_columns=min(columns, width // COLUMN_DOTS) if width >= 8 * COLUMN_DOTS else columns,
        qr_module=6 if width >= 512 else 5,
        native_qr=bool(features.get("qrCode")),
        cut=cut,
        dpi=dpi,
        model=model,
        code_pages=pages,
    )
    return _override(base, {"name": model, **overrides})


def _override(base: PrinterProfile, overrides: Mapping[str, Any]) -> PrinterProfile:
    overrides = dict(overrides)
    allowed = {f.name for f in fields(PrinterProfile)}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(f"unknown printer profile keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    if "chinese_font" in overrides and "text_mode" not in overrides:
        overrides["text_mode"] = overrides["chinese_font"] != "none"
    if "width_dots" in overrides and "text_columns" not in overrides:
        overrides["text_columns"] = int(overrides["width_dots"]) // COLUMN_DOTS
    if overrides.get("text_mode") is False and "chinese_font" not in overrides:
        overrides["chinese_font"] = "none"
    if "code_pages" in overrides:
        overrides["code_pages"] = tuple(tuple(p) for p in overrides["code_pages"])
    overrides.setdefault("name", f"{base.name}*")
    return replace(base, **overrides)


def get_profile(spec: str | Mapping[str, Any] | PrinterProfile | None = None) -> PrinterProfile:
    """Resolve a profile from a name, a dict, or a profile (default ``80mm``).

    A dict starts from ``model`` (python-escpos's capability database) or
    ``base`` (default ``80mm``) and overrides fields, e.g.
    ``{"base": "80mm-cn", "codec": "gbk"}`` or ``{"model": "TM-T88V",
    "chinese_font": "none"}``. Unknown names or keys raise ValueError so a
    typo in a station's config fails at start.
    """
    if spec is None:
        return PROFILES[DEFAULT_PROFILE]
    if isinstance(spec, PrinterProfile):
        return spec
    if isinstance(spec, str):
        try:
            return PROFILES[spec]
        except KeyError:
            raise ValueError(
                f"unknown printer profile {spec!r}; known: {sorted(PROFILES)} "
                f'(a printer python-escpos knows by name: model = "TM-T88V" instead of profile)'
            ) from None
    if not isinstance(spec, Mapping):
        raise ValueError(f"a printer profile is a name or a table, not {spec!r}")
    overrides = dict(spec)
    model = overrides.pop("model", None)
    if model is not None:
        if "base" in overrides:
            raise ValueError("a printer profile takes model or base, not both")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a printer model name such as TM-T88V, not {model!r}")
        return model_profile(model, **overrides)
    base = get_profile(overrides.pop("base", DEFAULT_PROFILE))
    return _override(base, overrides)


#: Printer settings (beside ``type``) that choose its profile rather than its connection.
PROFILE_SETTINGS = ("profile", "model", "chinese_font")


def printer_profile(profile: Any = None, model: str | None = None, chinese_font: str | None = None) -> PrinterProfile:
    """The profile a printer table's settings give: ``profile``, ``model`` and ``chinese_font``.

    ``model = "TM-T88V"`` takes width, dpi, cutter and code pages from
    python-escpos; ``profile`` is then a table of overrides only (a profile
    name and a model together are refused: which would win is not clear).
    ``chinese_font`` (``gb2312``, ``gbk``, ``gb18030`` or ``none``) says what
    the printer's own font holds; ``none`` prints everything as raster.
    """
    if model is not None:
        if profile is not None and not isinstance(profile, Mapping):
            raise ValueError(
                f"set model = {model!r} or profile = {profile!r}, not both "
                "(profile may be a table of overrides, e.g. profile = { feed_lines = 3 })"
            )
        resolved = get_profile({**dict(profile or {}), "model": model})
    else:
        resolved = get_profile(profile)
    if chinese_font is not None:
        if chinese_font not in CHINESE_FONTS:
            raise ValueError(f"chinese_font must be one of {', '.join(CHINESE_FONTS)}, not {chinese_font!r}")
        resolved = replace(resolved, chinese_font=chinese_font, text_mode=chinese_font != "none")
    return resolved
