"""Which characters a font file really has (its OpenType ``cmap`` table).

Pillow draws a missing character as an empty box (``.notdef``) without
complaint, so glyph coverage has to be read from the font itself: that is how
the renderer picks a fallback font per character, and how a rare character
such as 䶮 (U+4DAE) is checked before it prints as a box. Only the reading
needed for that is here: the collection header, the table directory and
``cmap`` subtables in format 4 (BMP) and 12 (full Unicode).
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from typing import BinaryIO

# Best first: full-Unicode tables, then BMP-only ones.
_PREFERRED = ((3, 10, 12), (0, 6, 12), (0, 4, 12), (3, 1, 4), (0, 3, 4), (0, 4, 4), (0, 3, 12))


class FontFormatError(ValueError):
    """The file is not an OpenType/TrueType font or collection we can read."""


def _read_at(stream: BinaryIO, offset: int, size: int) -> bytes:
    stream.seek(offset)
    data = stream.read(size)
    if len(data) != size:
        raise FontFormatError("font file is truncated")
    return data


def _sfnt_offset(stream: BinaryIO, index: int) -> int:
    tag = _read_at(stream, 0, 4)
    if tag != b"ttcf":
        if index:
            raise FontFormatError(f"face index {index} given for a single-face font")
        return 0
    count = struct.unpack(">I", _read_at(stream, 8, 4))[0]
    if not 0 <= index < count:
        raise FontFormatError(f"face index {index} out of range (collection has {count})")
    return struct.unpack(">I", _read_at(stream, 12 + 4 * index, 4))[0]


def _cmap_offset(stream: BinaryIO, sfnt: int) -> int:
    num_tables = struct.unpack(">H", _read_at(stream, sfnt + 4, 2))[0]
    directory = _read_at(stream, sfnt + 12, 16 * num_tables)
    for tag, _checksum, offset, _length in struct.iter_unpack(">4sIII", directory):
        if tag == b"cmap":
            return offset
    raise FontFormatError("font has no cmap table")


class CharMap:
    """Answers ``codepoint in charmap`` for one face of a font file."""

    def __init__(self, path: str, index: int = 0, formats: tuple[int, ...] = (12, 4)) -> None:
        self.path = path
        self.index = index
        self._formats = formats
        # Format 12 groups: sorted starts, with ends and first glyphs alongside. Arrays,
        # not lists of ints: a CJK font has tens of thousands of groups, and a worker
        # keeps the maps of each receipt font for its whole life.
        self._starts = array("I")
        self._ends = array("I")
        self._glyphs = array("I")
        # Format 4 segments, kept raw so glyph ids are worked out per query.
        self._seg: tuple[list[int], list[int], list[int], list[int], bytes, int] | None = None
        with open(path, "rb") as stream:
            self._load(stream)

    def _load(self, stream: BinaryIO) -> None:
        cmap = _cmap_offset(stream, _sfnt_offset(stream, self.index))
        _version, count = struct.unpack(">HH", _read_at(stream, cmap, 4))
        records = {}
        for platform, encoding, offset in struct.iter_unpack(">HHI", _read_at(stream, cmap + 4, 8 * count)):
            records[(platform, encoding)] = cmap + offset
        for platform, encoding, wanted in sorted(_PREFERRED, key=lambda p: self._rank(p[2])):
            offset = records.get((platform, encoding))
            if offset is None:
                continue
            fmt = struct.unpack(">H", _read_at(stream, offset, 2))[0]
            if fmt != wanted or fmt not in self._formats:
                continue
            if fmt == 12:
                self._load_format12(stream, offset)
            else:
                self._load_format4(stream, offset)
            return
        raise FontFormatError(f"font has no Unicode cmap subtable in format {self._formats}")

    def _rank(self, fmt: int) -> int:
        # Formats the caller did not ask for sort last and are then skipped.
        return self._formats.index(fmt) if fmt in self._formats else len(self._formats)

    def _load_format12(self, stream: BinaryIO, offset: int) -> None:
        n_groups = struct.unpack(">I", _read_at(stream, offset + 12, 4))[0]
        raw = _read_at(stream, offset + 16, 12 * n_groups)
        groups = array("I", raw)  # (start, end, first glyph) per group, big-endian on disk
        if struct.pack("=I", 1) != struct.pack(">I", 1):
            groups.byteswap()
        self._starts, self._ends, self._glyphs = groups[0::3], groups[1::3], groups[2::3]

    def _load_format4(self, stream: BinaryIO, offset: int) -> None:
        length = struct.unpack(">H", _read_at(stream, offset + 2, 2))[0]
        table = _read_at(stream, offset, length)
        seg_count = struct.unpack_from(">H", table, 6)[0] // 2
        ends_at = 14
        starts_at = ends_at + 2 * seg_count + 2
        deltas_at = starts_at + 2 * seg_count
        ranges_at = deltas_at + 2 * seg_count
        ends = list(struct.unpack_from(f">{seg_count}H", table, ends_at))
        starts = list(struct.unpack_from(f">{seg_count}H", table, starts_at))
        deltas = list(struct.unpack_from(f">{seg_count}h", table, deltas_at))
        ranges = list(struct.unpack_from(f">{seg_count}H", table, ranges_at))
        self._seg = (ends, starts, deltas, ranges, table, ranges_at)

    def glyph_id(self, codepoint: int) -> int:
        """The glyph id for ``codepoint``, 0 when the font lacks it."""
        if self._seg is None:
            i = bisect_right(self._starts, codepoint) - 1
            if i < 0:
                return 0
            return self._glyphs[i] + codepoint - self._starts[i] if codepoint <= self._ends[i] else 0
        ends, starts, deltas, ranges, table, ranges_at = self._seg
        if codepoint > 0xFFFF:
            return 0
        i = bisect_right(ends, codepoint - 1)  # first segment whose end >= codepoint
        if i >= len(ends) or starts[i] > codepoint:
            return 0
        if ranges[i] == 0:
            return (codepoint + deltas[i]) & 0xFFFF
        # idRangeOffset counts bytes from its own slot to the glyph id array entry.
        at = ranges_at + 2 * i + ranges[i] + 2 * (codepoint - starts[i])
        if at + 2 > len(table):
            return 0
        glyph = struct.unpack_from(">H", table, at)[0]
        return (glyph + deltas[i]) & 0xFFFF if glyph else 0

    def __contains__(self, char: str | int) -> bool:
        codepoint = ord(char) if isinstance(char, str) else char
        return self.glyph_id(codepoint) != 0
