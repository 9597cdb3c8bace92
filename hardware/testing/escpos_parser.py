"""Reading an ESC/POS byte stream back: commands, text lines and the raster.

Tests use it to check what a printer would receive: the command order
(``ESC @`` … ``GS V``), text-mode lines decoded as GB18030 inside ``FS &`` …
``FS .`` with the size (``GS !``, ``ESC !``), emphasis (``ESC E``) and
justification (``ESC a``) each was printed in, and the bitmap rebuilt from
the ``GS v 0`` bands, each placed by the justification it was sent with (to
decode a QR code with zxing-cpp). A QR code the printer draws itself
(``GS ( k``, model 2) is drawn into the bitmap as a printer would, at the
module size and error correction the job set, and its text is kept in
:attr:`ParsedJob.qr_codes`. :attr:`ParsedJob.items` keeps text lines
and bands in paper order, so a test can check that a line the printer's
font could not draw came out as raster in its place. It is strict: an unknown command is an error rather than being
skipped, so garbage in a job makes the test fail.

:class:`StreamParser` parses incrementally; the fake printers use it to find
``DLE EOT`` status queries between (not inside) raster data, as a printer does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import cast

from PIL import Image

__all__ = ["Command", "TextLine", "RasterBand", "ParsedJob", "EscposParseError", "parse", "StreamParser"]


class EscposParseError(ValueError):
    """The stream holds something that is not a known ESC/POS command."""


class _Incomplete(Exception):
    """The buffer ends inside a command; wait for more bytes."""


@dataclass(frozen=True)
class Command:
    """One command (or run of text) and where it started in the stream."""

    name: str
    offset: int
    args: tuple[int, ...] = ()
    data: bytes = b""


@dataclass
class TextLine:
    """A line of native text as the printer would print it."""

    text: str
    raw: bytes
    kanji: bool
    align: int
    bold: bool
    width: int
    height: int
    #: Lines fed (``ESC d``) between the previous line or band and this one.
    feed_before: int = 0
    #: The line's runs of text with their own emphasis (``bold`` is true if any run is bold).
    spans: tuple[tuple[str, bool], ...] = ()


@dataclass
class RasterBand:
    """One ``GS v 0`` command; ``top`` is its first row in the rebuilt raster, ``align`` its ``ESC a``."""

    width_bytes: int
    rows: int
    mode: int
    data: bytes
    top: int
    offset: int
    align: int = 0
    #: Lines fed (``ESC d``) between the previous line or band and this one.
    feed_before: int = 0

    def image(self) -> Image.Image:
        """This band alone as a mode "1" image (white paper, black ink)."""
        return Image.frombytes("1", (self.width_bytes * 8, self.rows), self.data, "raw", "1;I")


# Fixed-length commands: second byte -> (name, number of parameter bytes).
_ESC = {
    b"@": ("ESC @", 0),
    b"a": ("ESC a", 1),
    b"E": ("ESC E", 1),
    b"!": ("ESC !", 1),
    b"d": ("ESC d", 1),
    b"J": ("ESC J", 1),
    b"2": ("ESC 2", 0),
    b"3": ("ESC 3", 1),
    b"t": ("ESC t", 1),
    b"R": ("ESC R", 1),
    b"-": ("ESC -", 1),
    b"M": ("ESC M", 1),
    b"p": ("ESC p", 3),
    b"G": ("ESC G", 1),
    b"{": ("ESC {", 1),
    b"V": ("ESC V", 1),
    b" ": ("ESC SP", 1),
    b"$": ("ESC $", 2),
    b"i": ("ESC i", 0),
    b"m": ("ESC m", 0),
}
_GS = {
    b"!": ("GS !", 1),
    b"h": ("GS h", 1),
    b"w": ("GS w", 1),
    b"H": ("GS H", 1),
    b"f": ("GS f", 1),
    b"B": ("GS B", 1),
    b"L": ("GS L", 2),
    b"W": ("GS W", 2),
    b"a": ("GS a", 1),
    b"r": ("GS r", 1),
    b"I": ("GS I", 1),
    b"b": ("GS b", 1),
}
_FS = {
    b"&": ("FS &", 0),
    b".": ("FS .", 0),
    b"!": ("FS !", 1),
    b"C": ("FS C", 1),
    b"S": ("FS S", 2),
    b"W": ("FS W", 1),
    b"-": ("FS -", 1),
}
_SINGLE = {0x0A: "LF", 0x0D: "CR", 0x09: "HT", 0x0C: "FF", 0x18: "CAN"}
_TEXT_RUN = re.compile(rb"[\x20-\xff]+")


def _need(buf: bytes, end: int) -> None:
    if end > len(buf):
        raise _Incomplete


def _parse_one(buf: bytes, pos: int, final: bool) -> tuple[Command, int]:
    byte = buf[pos]
    if byte >= 0x20:
        run = _TEXT_RUN.match(buf, pos)
        assert run is not None
        if run.end() == len(buf) and not final:
            raise _Incomplete  # more of this line may still be on its way
        return Command("TEXT", pos, data=bytes(run.group())), run.end()
    if byte in _SINGLE:
        return Command(_SINGLE[byte], pos), pos + 1
    _need(buf, pos + 2)
    second = bytes(buf[pos + 1 : pos + 2])
    if byte == 0x1B:
        return _fixed(_ESC, "ESC", buf, pos, second)
    if byte == 0x1C:
        return _fixed(_FS, "FS", buf, pos, second)
    if byte == 0x10:
        if second in (b"\x04", b"\x05"):
            _need(buf, pos + 3)
            name = "DLE EOT" if second == b"\x04" else "DLE ENQ"
            return Command(name, pos, (buf[pos + 2],)), pos + 3
        if second == b"\x14":
            _need(buf, pos + 5)
            return Command("DLE DC4", pos, tuple(buf[pos + 2 : pos + 5])), pos + 5
        raise EscposParseError(f"unknown DLE command {second!r} at offset {pos}")
    if byte == 0x1D:
        return _parse_gs(buf, pos, second)
    raise EscposParseError(f"unexpected control byte 0x{byte:02x} at offset {pos}")


def _fixed(table: dict, prefix: str, buf: bytes, pos: int, second: bytes) -> tuple[Command, int]:
    if second not in table:
        raise EscposParseError(f"unknown command {prefix} {second!r} at offset {pos}")
    name, count = table[second]
    _need(buf, pos + 2 + count)
    return Command(name, pos, tuple(buf[pos + 2 : pos + 2 + count])), pos + 2 + count


def _parse_gs(buf: bytes, pos: int, second: bytes) -> tuple[Command, int]:
    if second == b"V":
        _need(buf, pos + 3)
        m = buf[pos + 2]
        if m in (0, 1, 48, 49):
            return Command("GS V", pos, (m,)), pos + 3
        if m in (65, 66, 97, 98, 103, 104):
            _need(buf, pos + 4)
            return Command("GS V", pos, (m, buf[pos + 3])), pos + 4
        raise EscposParseError(f"bad GS V mode {m} at offset {pos}")
    if second == b"v":
        _need(buf, pos + 8)
        if buf[pos + 2] != 0x30:
            raise EscposParseError(f"unknown GS v {buf[pos + 2]:#x} at offset {pos}")
        mode = buf[pos + 3]
        width_bytes = buf[pos + 4] | buf[pos + 5] << 8
        rows = buf[pos + 6] | buf[pos + 7] << 8
        end = pos + 8 + width_bytes * rows
        _need(buf, end)
        return Command("GS v 0", pos, (mode, width_bytes, rows), bytes(buf[pos + 8 : end])), end
    if second == b"k":
        _need(buf, pos + 3)
        m = buf[pos + 2]
        if m <= 6:
            end = buf.find(b"\x00", pos + 3)
            if end < 0:
                raise _Incomplete
            return Command("GS k", pos, (m,), bytes(buf[pos + 3 : end])), end + 1
        _need(buf, pos + 4)
        n = buf[pos + 3]
        _need(buf, pos + 4 + n)
        return Command("GS k", pos, (m,), bytes(buf[pos + 4 : pos + 4 + n])), pos + 4 + n
    if second == b"(":
        _need(buf, pos + 5)
        function = chr(buf[pos + 2])
        length = buf[pos + 3] | buf[pos + 4] << 8
        _need(buf, pos + 5 + length)
        return Command(f"GS ( {function}", pos, (), bytes(buf[pos + 5 : pos + 5 + length])), pos + 5 + length
    if second in _GS:
        return _fixed(_GS, "GS", buf, pos, second)
    raise EscposParseError(f"unknown command GS {second!r} at offset {pos}")


def iter_commands(data: bytes) -> list[Command]:
    """Every command in a complete stream, in order; raises on anything unknown or cut short."""
    out, pos = [], 0
    while pos < len(data):
        try:
            command, pos = _parse_one(data, pos, final=True)
        except _Incomplete:
            raise EscposParseError(f"stream ends inside a command at offset {pos}") from None
        out.append(command)
    return out


@dataclass
class ParsedJob:
    """A job read back: its commands, text lines and raster bands."""

    commands: list[Command]
    lines: list[TextLine] = field(default_factory=list)
    bands: list[RasterBand] = field(default_factory=list)
    #: Text lines and raster bands in the order they come out of the printer.
    items: list[TextLine | RasterBand] = field(default_factory=list)
    #: The text of each QR code the printer drew itself (``GS ( k``), in order.
    qr_codes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Command names in order (``TEXT`` for text runs)."""
        return [c.name for c in self.commands]

    @property
    def text(self) -> str:
        """All native text lines joined by newlines."""
        return "\n".join(line.text for line in self.lines)

    @property
    def cut(self) -> bool:
        """Whether the job cuts the paper."""
        return "GS V" in self.names

    @property
    def text_mode(self) -> bool:
        """Whether the job prints native text (any text line), not only raster."""
        return bool(self.lines)

    def raster(self, width: int | None = None) -> Image.Image:
        """The bands stacked top to bottom as a mode "1" image (white paper, black ink).

        ``width``: the paper's width in dots (default: the widest band); a
        narrower band sits where its ``ESC a`` justification puts it.
        """
        if not self.bands:
            raise EscposParseError("the job has no GS v 0 raster")
        width = width or max(b.width_bytes for b in self.bands) * 8
        height = sum(b.rows for b in self.bands)
        canvas = Image.new("1", (width, height), 1)
        for band in self.bands:
            spare = width - band.width_bytes * 8
            x = 0 if band.align == 0 or spare <= 0 else spare // 2 if band.align == 1 else spare
            canvas.paste(band.image(), (x, band.top))
        return canvas


#: ``GS ( k`` error correction levels by their parameter (48 to 51).
_QR_LEVELS = {48: "L", 49: "M", 50: "Q", 51: "H"}


def _native_qr_band(text: str, level: str, module: int, top: int, offset: int, align: int, fed: int) -> RasterBand:
    """A QR code as the printer draws it for ``GS ( k`` print, as a band of the rebuilt bitmap.

    Like a printer, no quiet zone of its own: the paper around it (and the lines fed above and below) is that.
    """
    from kiosk_hardware.barcodes import qr_modules

    code = qr_modules(text, level)
    side = code.width * module
    width = -(-side // 8) * 8
    canvas = Image.new("1", (width, side), 1)
    scaled = code.resize((side, side), Image.Resampling.NEAREST)
    canvas.paste(0, ((width - side) // 2, 0), scaled)
    return RasterBand(width // 8, side, 0, canvas.tobytes("raw", "1;I"), top, offset, align, fed)


def parse(data: bytes) -> ParsedJob:
    """Parse a complete job, tracking the print modes each text line was printed in."""
    job = ParsedJob(iter_commands(data))
    qr_module, qr_level, qr_data = 3, "L", b""  # a printer's defaults after ESC @
    kanji, align, bold, width, height = False, 0, False, 1, 1
    pending = b""
    runs: list[tuple[bytes, bool]] = []
    line_bold = False
    top = 0
    fed = 0

    def flush() -> None:
        nonlocal pending, line_bold, fed, runs
        codec = "gb18030" if kanji else "cp437"
        try:
            text = pending.decode(codec)
            spans = tuple((run.decode(codec), run_bold) for run, run_bold in runs)
        except UnicodeDecodeError as exc:
            raise EscposParseError(f"text is not valid GB18030: {pending!r}") from exc
        line = TextLine(text, pending, kanji, align, line_bold or bold, width, height, fed, spans)
        fed = 0
        job.lines.append(line)
        job.items.append(line)
        pending, line_bold, runs = b"", False, []

    for command in job.commands:
        name, args = command.name, command.args
        if name == "TEXT":
            pending += command.data
            line_bold = line_bold or bold
            if runs and runs[-1][1] == bold:
                runs[-1] = (runs[-1][0] + command.data, bold)
            else:
                runs.append((command.data, bold))
        elif name == "LF":
            flush()
        elif name == "ESC d" and not pending:
            fed += args[0]
        elif name == "ESC @":
            kanji, align, bold, width, height = False, 0, False, 1, 1
            qr_module, qr_level, qr_data = 3, "L", b""
        elif name == "GS ( k" and command.data[:1] == b"1" and len(command.data) >= 3:
            function, value = command.data[1:2], command.data[2]
            if function == b"C":
                qr_module = value
            elif function == b"E":
                qr_level = _QR_LEVELS.get(value, qr_level)
            elif function == b"P":
                qr_data = command.data[3:]
            elif function == b"Q":
                if pending:
                    raise EscposParseError(f"QR code at offset {command.offset} while a text line is unfinished")
                try:
                    text = qr_data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise EscposParseError(f"QR code data at offset {command.offset} is not UTF-8") from exc
                job.qr_codes.append(text)
                band = _native_qr_band(text, qr_level, qr_module, top, command.offset, align, fed)
                fed = 0
                job.bands.append(band)
                job.items.append(band)
                top += band.rows
        elif name == "FS &":
            kanji = True
        elif name == "FS .":
            kanji = False
        elif name == "ESC a":
            align = args[0] % 48
        elif name == "ESC E":
            bold = bool(args[0] & 1)
        elif name == "GS !":
            width, height = (args[0] >> 4) + 1, (args[0] & 0x0F) + 1
        elif name == "ESC !":
            bold = bool(args[0] & 0x08)
            height, width = (2 if args[0] & 0x10 else 1), (2 if args[0] & 0x20 else 1)
        elif name == "GS v 0":
            mode, width_bytes, rows = args
            if pending:
                raise EscposParseError(f"raster at offset {command.offset} while a text line is unfinished")
            band = RasterBand(width_bytes, rows, mode, command.data, top, command.offset, align, fed)
            fed = 0
            job.bands.append(band)
            job.items.append(band)
            top += rows
    if pending:
        flush()
    return job


class StreamParser:
    """Incremental parsing of a byte stream that arrives in chunks."""

    def __init__(self) -> None:
        self._buf = bytearray()
        #: Unknown commands met so far; like a printer, the parser skips the
        #: offending byte and carries on.
        self.errors: list[str] = []

    def feed(self, data: bytes) -> list[Command]:
        """Add bytes; return the commands now complete (offsets relative to the held-back buffer)."""
        return [command for command, _raw in self.feed_raw(data)]

    def feed_raw(self, data: bytes) -> list[tuple[Command, bytes]]:
        """Like :meth:`feed`, with each command's own bytes (skipped garbage comes back as ``UNKNOWN``)."""
        self._buf += data
        out, pos = [], 0
        while pos < len(self._buf):
            try:
                # A bytearray reads like bytes here; copying it per command would be quadratic.
                command, pos_next = _parse_one(cast(bytes, self._buf), pos, final=False)
            except _Incomplete:
                break
            except EscposParseError as exc:
                self.errors.append(str(exc))
                out.append((Command("UNKNOWN", pos), bytes(self._buf[pos : pos + 1])))
                pos += 1
                continue
            out.append((command, bytes(self._buf[pos:pos_next])))
            pos = pos_next
        del self._buf[:pos]
        return out

    def flush(self) -> bytes:
        """Give back the bytes held at the end of the stream (an unterminated line, a cut-off command)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    @property
    def pending(self) -> int:
        """Bytes held back because they end inside a command."""
        return len(self._buf)
