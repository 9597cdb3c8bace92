"""The receipt document that plugins build and the hardware layer prints.

A plugin never talks to a printer: it builds a :class:`Receipt` out of blocks
(title, text lines, separators, key-value rows, QR code, barcode, image,
footer) and hands it to the print queue. The same document prints on a
58 mm or an 80 mm printer, so nothing in it is measured in dots except the
optional image width. How it prints is the printer profile's business
(:mod:`kiosk_hardware.escpos_encode`): on a printer with a Chinese font the
words go out as the printer's own GB18030 text and only codes, pictures and
lines with characters its font lacks as raster; otherwise all as raster.

A receipt round-trips through plain data (:meth:`Receipt.to_dict` /
:meth:`Receipt.from_dict`) so a job store can keep it in a database column:
images are kept as encoded bytes (base64 in the dict), never as PIL objects.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, ClassVar, Literal

__all__ = [
    "Receipt",
    "Text",
    "Title",
    "Separator",
    "KeyValue",
    "QRCode",
    "Barcode",
    "ImageBlock",
    "Footer",
    "Feed",
]

ALIGNS = ("left", "center", "right")
QR_LEVELS = ("L", "M", "Q", "H")
SEPARATOR_STYLES = ("dashed", "solid")
#: Linear symbologies drawn by :mod:`kiosk_hardware.barcodes`.
BARCODE_SYMBOLOGIES = ("code128", "code39", "ean13", "ean8")
#: Text sizes are multiples of the printer's normal 24-dot character height,
#: the same scale ESC/POS ``GS !`` uses, so both print paths agree.
MAX_TEXT_SIZE = 4

Align = Literal["left", "center", "right"]


def _check_align(align: str) -> None:
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {ALIGNS}, not {align!r}")


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_TEXT_SIZE:
        raise ValueError(f"size must be an integer from 1 to {MAX_TEXT_SIZE}, not {size!r}")


def _check_text(text: Any, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")


@dataclass
class Text:
    """A paragraph of text; long lines wrap, ``\\n`` starts a new line."""

    kind: ClassVar[str] = "text"
    text: str
    size: int = 1
    bold: bool = False
    align: Align = "left"

    def __post_init__(self) -> None:
        _check_text(self.text, "text")
        _check_size(self.size)
        _check_align(self.align)


@dataclass
class Title:
    """The receipt's heading: bold, centred, double size by default."""

    kind: ClassVar[str] = "title"
    text: str
    size: int = 2
    align: Align = "center"

    def __post_init__(self) -> None:
        _check_text(self.text, "title")
        _check_size(self.size)
        _check_align(self.align)


@dataclass
class Separator:
    """A horizontal rule across the paper."""

    kind: ClassVar[str] = "separator"
    style: Literal["dashed", "solid"] = "dashed"

    def __post_init__(self) -> None:
        if self.style not in SEPARATOR_STYLES:
            raise ValueError(f"style must be one of {SEPARATOR_STYLES}, not {self.style!r}")


@dataclass
class KeyValue:
    """A row with a label on the left and its value on the right (``窗口 ... 3号``)."""

    kind: ClassVar[str] = "kv"
    key: str
    value: str
    bold: bool = False
    size: int = 1

    def __post_init__(self) -> None:
        _check_text(self.key, "key")
        _check_text(self.value, "value")
        _check_size(self.size)


@dataclass
class QRCode:
    """A QR code; ``module`` is the dot size of one module (None: the profile's)."""

    kind: ClassVar[str] = "qr"
    data: str
    module: int | None = None
    level: Literal["L", "M", "Q", "H"] = "M"
    align: Align = "center"

    def __post_init__(self) -> None:
        _check_text(self.data, "QR data")
        if not self.data:
            raise ValueError("QR data must not be empty")
        if self.level not in QR_LEVELS:
            raise ValueError(f"level must be one of {QR_LEVELS}, not {self.level!r}")
        if self.module is not None and not 1 <= self.module <= 16:
            raise ValueError(f"module must be 1..16 dots, not {self.module!r}")
        _check_align(self.align)


@dataclass
class Barcode:
    """A linear barcode (CODE128 by default) with its text printed under it."""

    kind: ClassVar[str] = "barcode"
    data: str
    symbology: str = "code128"
    height: int = 80
    module: int = 2
    show_text: bool = True
    align: Align = "center"

    def __post_init__(self) -> None:
        _check_text(self.data, "barcode data")
        if not self.data:
            raise ValueError("barcode data must not be empty")
        if self.symbology not in BARCODE_SYMBOLOGIES:
            raise ValueError(f"symbology must be one of {BARCODE_SYMBOLOGIES}, not {self.symbology!r}")
        if not 8 <= self.height <= 400:
            raise ValueError(f"height must be 8..400 dots, not {self.height!r}")
        if not 1 <= self.module <= 6:
            raise ValueError(f"module must be 1..6 dots, not {self.module!r}")
        _check_align(self.align)


@dataclass
class ImageBlock:
    """A picture (logo, map) as encoded image bytes (PNG, JPEG, BMP, GIF).

    ``width`` is in printer dots; None prints it at its own width, shrunk to
    fit the paper. It is thresholded to black and white when rendered.
    """

    kind: ClassVar[str] = "image"
    data: bytes
    width: int | None = None
    align: Align = "center"

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray)):
            raise TypeError("image data must be encoded image bytes")
        self.data = bytes(self.data)
        if self.width is not None and not 8 <= self.width <= 2048:
            raise ValueError(f"width must be 8..2048 dots, not {self.width!r}")
        _check_align(self.align)
        # Reject garbage when the receipt is built, where the plugin author sees
        # the traceback, rather than when a worker thread prints it.
        from PIL import Image as PILImage

        try:
            with PILImage.open(io.BytesIO(self.data)) as probe:
                probe.verify()
        except Exception as exc:
            raise ValueError(f"image data is not a readable image: {exc}") from exc


@dataclass
class Footer:
    """Small centred text at the bottom (station name, opening hours, hotline)."""

    kind: ClassVar[str] = "footer"
    text: str
    align: Align = "center"

    def __post_init__(self) -> None:
        _check_text(self.text, "footer")
        _check_align(self.align)


@dataclass
class Feed:
    """Blank lines."""

    kind: ClassVar[str] = "feed"
    lines: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.lines <= 20:
            raise ValueError(f"lines must be 1..20, not {self.lines!r}")


Block = Text | Title | Separator | KeyValue | QRCode | Barcode | ImageBlock | Footer | Feed
BLOCK_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (Text, Title, Separator, KeyValue, QRCode, Barcode, ImageBlock, Footer, Feed)
}
#: Each block type's field names, in order: looked up once, not per block (a job store rebuilds receipts it reads).
_FIELDS: dict[type, tuple[str, ...]] = {cls: tuple(f.name for f in fields(cls)) for cls in BLOCK_TYPES.values()}
_ALLOWED: dict[type, frozenset[str]] = {cls: frozenset(names) for cls, names in _FIELDS.items()}


def _values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    get = attrgetter(*names)
    if len(names) > 1:
        return get  # a tuple of the values, read in C
    return lambda block: (get(block),)


#: Each block type's field values as a tuple, in order: one call per block (the text encoder keys every block by them).
_VALUES: dict[type, Callable[[Any], tuple]] = {cls: _values_getter(names) for cls, names in _FIELDS.items()}


def block_values(block: Block) -> tuple:
    """A block's type and every field's value, in order: equal for blocks that print the same bytes."""
    cls = type(block)
    return (cls, *_VALUES[cls](block))


def _image_bytes(image: Any) -> bytes:
    """Accept encoded bytes or a PIL image; keep only bytes in the document."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    save = getattr(image, "save", None)
    if save is None:
        raise TypeError("image must be encoded bytes or a PIL image")
    buffer = io.BytesIO()
    save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Receipt:
    """A receipt document: an ordered list of blocks and whether to cut after.

    Build it with the chaining helpers::

        Receipt().title("法律咨询排队").kv("号码", "A012").qr(url).footer("水贝社区党群服务中心")
    """

    blocks: list[Block] = field(default_factory=list)
    cut: bool = True

    FORMAT: ClassVar[int] = 1

    def add(self, block: Block) -> Receipt:
        """Append any block; returns the receipt for chaining."""
        if type(block) not in _ALLOWED:
            raise TypeError(f"not a receipt block: {block!r}")
        self.blocks.append(block)
        return self

    def title(self, text: str, *, size: int = 2, align: Align = "center") -> Receipt:
        """Append a bold heading."""
        return self.add(Title(text, size=size, align=align))

    def text(self, text: str, *, size: int = 1, bold: bool = False, align: Align = "left") -> Receipt:
        """Append a paragraph."""
        return self.add(Text(text, size=size, bold=bold, align=align))

    def separator(self, style: Literal["dashed", "solid"] = "dashed") -> Receipt:
        """Append a horizontal rule."""
        return self.add(Separator(style))

    def kv(self, key: str, value: str, *, bold: bool = False, size: int = 1) -> Receipt:
        """Append a key-value row."""
        return self.add(KeyValue(key, value, bold=bold, size=size))

    def qr(self, data: str, *, module: int | None = None, level: str = "M", align: Align = "center") -> Receipt:
        """Append a QR code."""
        return self.add(QRCode(data, module=module, level=level, align=align))  # type: ignore[arg-type]

    def barcode(
        self,
        data: str,
        *,
        symbology: str = "code128",
        height: int = 80,
        module: int = 2,
        show_text: bool = True,
        align: Align = "center",
    ) -> Receipt:
        """Append a linear barcode."""
        return self.add(Barcode(data, symbology, height, module, show_text, align))

    def image(self, image: Any, *, width: int | None = None, align: Align = "center") -> Receipt:
        """Append a picture given as encoded bytes or a PIL image (stored as PNG bytes)."""
        return self.add(ImageBlock(_image_bytes(image), width=width, align=align))

    def footer(self, text: str, *, align: Align = "center") -> Receipt:
        """Append footer text."""
        return self.add(Footer(text, align=align))

    def feed(self, lines: int = 1) -> Receipt:
        """Append blank lines."""
        return self.add(Feed(lines))

    def plain_text(self) -> str:
        """The receipt's words, one block per line: for logs, job lists and tests."""
        out: list[str] = []
        for block in self.blocks:
            if isinstance(block, (Text, Title, Footer)):
                out.append(block.text)
            elif isinstance(block, KeyValue):
                out.append(f"{block.key}: {block.value}")
            elif isinstance(block, Separator):
                out.append("-" * 8)
            elif isinstance(block, (QRCode, Barcode)):
                out.append(f"[{block.kind}: {block.data}]")
            elif isinstance(block, ImageBlock):
                out.append("[image]")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; image bytes become base64 text."""
        blocks = []
        for block in self.blocks:
            item: dict[str, Any] = {"kind": block.kind}
            for name in _FIELDS[type(block)]:
                value = getattr(block, name)
                if isinstance(value, bytes):
                    value = base64.b64encode(value).decode("ascii")
                item[name] = value
            blocks.append(item)
        return {"format": self.FORMAT, "cut": self.cut, "blocks": blocks}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        """Rebuild a receipt from :meth:`to_dict` output; unknown kinds or keys raise ValueError."""
        if data.get("format", cls.FORMAT) != cls.FORMAT:
            raise ValueError(f"unsupported receipt format {data.get('format')!r}")
        receipt = cls(cut=bool(data.get("cut", True)))
        for item in data.get("blocks", []):
            item = dict(item)
            kind = item.pop("kind", None)
            block_cls = BLOCK_TYPES.get(str(kind))
            if block_cls is None:
                raise ValueError(f"unknown receipt block kind {kind!r}")
            unknown = item.keys() - _ALLOWED[block_cls]
            if unknown:
                raise ValueError(f"unknown keys for {kind} block: {sorted(unknown)}")
            if block_cls is ImageBlock and isinstance(item.get("data"), str):
                item["data"] = base64.b64decode(item["data"], validate=True)
            receipt.blocks.append(block_cls(**item))  # one of BLOCK_TYPES: what add() checks
        return receipt
