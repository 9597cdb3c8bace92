"""The pinyin dictionary's cache file: written once after a build, mapped on every start.

The format is plain text plus raw integer arrays, not pickle, so that reading a
cache file can never run code. A loaded cache is not read into memory: the
file is memory-mapped and its tables are used in place, so opening it costs
no time, only the pages a lookup touches become resident, and those pages are
the page cache's, shared by every worker (reading the 10 MB file into each
worker cost about 9 MB of private memory per worker). A freshly built
dictionary is held as a few long strings and integer arrays instead: a third
of a million small ``str`` objects would cost ten times the memory.

Layout::

    KIOSK-IME\\n
    <version tag>\\n
    <JSON header: syllables and the byte size of each section>\\n
    keys         ASCII, sorted keys ("zhong'guo") back to back
    key_starts   array('I'): key i is keys[key_starts[i]:key_starts[i+1]] (bytes)
    texts        UTF-8, candidate texts back to back, grouped by key, best first
    text_starts  array('I'): same, in bytes
    offsets      array('I'): texts offsets[i]..offsets[i+1]-1 belong to key i
    scores       array('I'): one per text, higher is more common
    abbrs        ASCII, sorted initials of the multi-syllable keys ("zg" for zhong'guo)
    abbr_starts  array('I'): as key_starts, for abbrs
    abbr_offsets array('I'): abbr_texts abbr_offsets[i]..abbr_offsets[i+1]-1 belong to abbr i
    abbr_texts   array('I'): positions in texts, best first, at most ABBR_KEEP per abbreviation
"""

from __future__ import annotations

import json
import mmap
import os
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

MAGIC = b"KIOSK-IME\n"

#: Words kept per initials string (简拼): "sq" fits hundreds of words, and nobody
#: pages past the first few dozen; the bound keeps the table near 1 MB.
ABBR_KEEP = 48

_SECTIONS = (
    "keys",
    "key_starts",
    "texts",
    "text_starts",
    "offsets",
    "scores",
    "abbrs",
    "abbr_starts",
    "abbr_offsets",
    "abbr_texts",
)


class Slices(Sequence):
    """A read-only list of strings kept as one string plus start positions."""

    __slots__ = ("blob", "starts")

    def __init__(self, blob: Any, starts: Any) -> None:
        """``starts`` holds one more entry than there are items: the blob's length.

        ``blob`` is a ``str``, or bytes-like for :class:`EncodedSlices`; ``starts`` an array of positions.
        """
        self.blob = blob
        self.starts = starts

    @classmethod
    def of(cls, items: list[str]) -> Slices:
        """Pack ``items`` into one string."""
        starts = array("I", [0])
        total = 0
        for item in items:
            total += len(item)
            starts.append(total)
        return cls("".join(items), starts)

    def __len__(self) -> int:
        """Number of items."""
        return len(self.starts) - 1

    def __getitem__(self, i):
        """Item ``i`` (slices return plain lists)."""
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.blob[self.starts[i] : self.starts[i + 1]]

    def range(self, start: int, stop: int) -> list[str]:
        """Items ``start`` to ``stop - 1``, without the bounds checks of indexing."""
        blob, starts = self.blob, self.starts
        return [blob[starts[i] : starts[i + 1]] for i in range(start, stop)]

    def lower_bound(self, item: str) -> int:
        """Where ``item`` is or would go in these sorted items (``bisect_left``)."""
        blob, starts = self.blob, self.starts
        item_at: Any
        if isinstance(blob, str):
            item_at = blob.__getitem__
            target: Any = item
        else:  # bytes-like without a mapped source: compare as bytes
            item_at = lambda cut: bytes(blob[cut])  # noqa: E731
            target = item.encode("utf-8")
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if item_at(slice(starts[mid], starts[mid + 1])) < target:
                lo = mid + 1
            else:
                hi = mid
        return lo


class MappedSlices(Slices):
    """:class:`Slices` over encoded bytes used in place (a memory-mapped cache section).

    Items are decoded when asked for; a damaged byte reads as U+FFFD rather
    than failing a lookup (checking every byte at load would page in the file).
    """

    __slots__ = ("base", "encoding", "source")

    def __init__(
        self, blob: memoryview, starts: Sequence[int], encoding: str, source: Any = None, base: int = 0
    ) -> None:
        """``starts`` are byte positions, one more than there are items.

        ``source`` (the mapped file) and ``base`` (where ``blob`` starts in it)
        let :meth:`lower_bound` slice bytes straight from the map: memoryview
        slices cannot be ordered.
        """
        super().__init__(blob, starts)
        self.encoding = encoding
        self.source = source
        self.base = base

    def lower_bound(self, item: str) -> int:
        """Where ``item`` is or would go in these sorted items (``bisect_left``, without decoding)."""
        if self.source is None:
            return super().lower_bound(item)
        source, base, starts = self.source, self.base, self.starts
        target = item.encode(self.encoding)
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if source[base + starts[mid] : base + starts[mid + 1]] < target:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def __getitem__(self, i):
        """Item ``i`` (slices return plain lists)."""
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return str(cast(bytes, super().__getitem__(i)), self.encoding, "replace")

    def range(self, start: int, stop: int) -> list[str]:
        """Items ``start`` to ``stop - 1``, without the bounds checks of indexing."""
        blob, starts, encoding = self.blob, self.starts, self.encoding
        return [str(blob[starts[i] : starts[i + 1]], encoding, "replace") for i in range(start, stop)]


@dataclass(frozen=True, slots=True)
class IndexData:
    """The dictionary's tables: sorted keys, their grouped candidates and scores, the syllables.

    ``abbrs`` are the initials (简拼) of the multi-syllable keys, sorted, and
    ``abbr_texts[abbr_offsets[i]:abbr_offsets[i + 1]]`` the positions in
    ``texts`` of the best words with initials ``abbrs[i]``.
    """

    keys: Slices | MappedSlices
    texts: Slices | MappedSlices
    offsets: Sequence[int]
    scores: Sequence[int]
    syllables: tuple[str, ...]
    abbrs: Slices | MappedSlices
    abbr_offsets: Sequence[int]
    abbr_texts: Sequence[int]

    @classmethod
    def from_entries(cls, entries: dict[str, list[tuple[int, str]]]) -> IndexData:
        """Flatten ``{key: [(score, text), ...]}`` (each list best first) into tables."""
        keys = sorted(entries)
        texts: list[str] = []
        offsets = array("I", [0])
        scores = array("I")
        for key in keys:
            for score, text in entries[key]:
                texts.append(text)
                scores.append(min(score, 0xFFFFFFFF))
            offsets.append(len(texts))
        syllables = tuple(key for key in keys if "'" not in key)
        abbrs, abbr_offsets, abbr_texts = _abbreviations(keys, offsets, scores)
        return cls(Slices.of(keys), Slices.of(texts), offsets, scores, syllables, abbrs, abbr_offsets, abbr_texts)


def initials(key: str) -> str:
    """The 简拼 of a syllable key: each syllable's first letter (``"she'qu"`` → ``"sq"``)."""
    return "".join(syllable[:1] for syllable in key.split("'"))


def _abbreviations(keys: list[str], offsets: Sequence[int], scores: Sequence[int]) -> tuple[Slices, array, array]:
    """Group the words of multi-syllable keys by initials, keeping the :data:`ABBR_KEEP` best of each."""
    grouped: dict[str, list[tuple[int, int]]] = {}
    for index, key in enumerate(keys):
        if "'" not in key:
            continue
        bucket = grouped.setdefault(initials(key), [])
        for position in range(offsets[index], offsets[index + 1]):
            bucket.append((-scores[position], position))
    names = sorted(grouped)
    abbr_offsets = array("I", [0])
    abbr_texts = array("I")
    for name in names:
        best = sorted(grouped[name])[:ABBR_KEEP]
        abbr_texts.extend(position for _, position in best)
        abbr_offsets.append(len(abbr_texts))
    return Slices.of(names), abbr_offsets, abbr_texts


def write_index(path: Path, tag: str, data: IndexData) -> None:
    """Write ``data`` to ``path`` atomically, so a crash or a second worker never leaves half a file."""
    keys, key_starts = _encoded(data.keys, "ascii")
    texts, text_starts = _encoded(data.texts, "utf-8")
    abbrs, abbr_starts = _encoded(data.abbrs, "ascii")
    sections = {
        "keys": keys,
        "key_starts": _little_endian(key_starts).tobytes(),
        "texts": texts,
        "text_starts": _little_endian(text_starts).tobytes(),
        "offsets": _little_endian(array("I", data.offsets)).tobytes(),
        "scores": _little_endian(array("I", data.scores)).tobytes(),
        "abbrs": abbrs,
        "abbr_starts": _little_endian(abbr_starts).tobytes(),
        "abbr_offsets": _little_endian(array("I", data.abbr_offsets)).tobytes(),
        "abbr_texts": _little_endian(array("I", data.abbr_texts)).tobytes(),
    }
    header: dict[str, object] = {"syllables": list(data.syllables)}
    header.update({name: len(sections[name]) for name in _SECTIONS})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private; the cache holds nothing secret and
        # other workers or a service user may need to read it.
        os.chmod(temp, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC)
            out.write(tag.encode("utf-8") + b"\n")
            out.write(json.dumps(header).encode("ascii") + b"\n")
            for name in _SECTIONS:
                out.write(sections[name])
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_tag(path: Path) -> str | None:
    """Return the version tag of the cache at ``path``, or ``None`` if there is no usable file."""
    try:
        with path.open("rb") as raw:
            if raw.readline() != MAGIC:
                return None
            return raw.readline().rstrip(b"\n").decode("utf-8", "replace")
    except OSError:
        return None


def _encoded(items: Sequence[str], encoding: str) -> tuple[bytes, array]:
    """``items`` back to back in ``encoding``, and the byte position where each starts."""
    starts = array("I", [0])
    parts = []
    total = 0
    for item in items:
        raw = item.encode(encoding)
        parts.append(raw)
        total += len(raw)
        starts.append(total)
    return b"".join(parts), starts


def _map(path: Path) -> mmap.mmap | None:
    """The file at ``path`` memory-mapped read-only, or ``None`` if it cannot be."""
    try:
        with path.open("rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        return None


def read_index(path: Path, tag: str) -> IndexData | None:
    """Map the cache at ``path`` if it carries ``tag``; ``None`` if missing, stale or damaged.

    The file must only ever be replaced, never rewritten in place, while a
    worker maps it (:func:`write_index` replaces it atomically).
    """
    blob = _map(path)
    if blob is None:
        return None
    try:
        magic_end = len(MAGIC)
        if blob[:magic_end] != MAGIC:
            return None
        tag_end = blob.find(b"\n", magic_end)
        if tag_end < 0 or blob[magic_end:tag_end].decode("utf-8") != tag:
            return None
        header_end = blob.find(b"\n", tag_end + 1)
        if header_end < 0:
            return None
        header = json.loads(blob[tag_end + 1 : header_end])
        view = memoryview(blob)
        cursor = header_end + 1
        raw = {}
        at = {}
        for name in _SECTIONS:
            size = int(header[name])
            raw[name] = view[cursor : cursor + size]
            at[name] = cursor
            cursor += size
        if cursor != len(blob):
            return None
        keys = MappedSlices(raw["keys"], _from_little_endian(raw["key_starts"]), "ascii", blob, at["keys"])
        texts = MappedSlices(raw["texts"], _from_little_endian(raw["text_starts"]), "utf-8")
        offsets = _from_little_endian(raw["offsets"])
        scores = _from_little_endian(raw["scores"])
        syllables = tuple(str(s) for s in header["syllables"])
        abbrs = MappedSlices(raw["abbrs"], _from_little_endian(raw["abbr_starts"]), "ascii", blob, at["abbrs"])
        abbr_offsets = _from_little_endian(raw["abbr_offsets"])
        abbr_texts = _from_little_endian(raw["abbr_texts"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    consistent = (
        keys.starts[-1] == len(keys.blob)
        and texts.starts[-1] == len(texts.blob)
        and len(offsets) == len(keys) + 1
        and len(scores) == len(texts)
        and offsets[-1] == len(texts)
        and abbrs.starts[-1] == len(abbrs.blob)
        and len(abbr_offsets) == len(abbrs) + 1
        and abbr_offsets[-1] == len(abbr_texts)
    )
    if not consistent:
        return None
    return IndexData(keys, texts, offsets, scores, syllables, abbrs, abbr_offsets, abbr_texts)


def release_pages(data: IndexData) -> bool:
    """Drop the mapped cache's pages from this process's resident memory; False if it is not mapped.

    The file stays mapped and its pages stay in the system's page cache: the
    next lookup reads the few it needs again, without touching the disk. For
    after a walk over much of the file (the station's words' readings), which
    would otherwise leave nearly all of it (about 10 MiB) counted in the
    worker's resident size for the rest of its life.
    """
    source = getattr(data.keys, "source", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if not isinstance(source, mmap.mmap) or advice is None:
        return False
    source.madvise(advice)
    return True


def _little_endian(values: array) -> array:
    """Return ``values`` as unsigned 32-bit little-endian, the on-disk byte order."""
    out = array("I", values)
    if out.itemsize != 4:
        raise ValueError("array('I') is not 32-bit on this platform")
    if _BIG_ENDIAN:
        out.byteswap()
    return out


def _from_little_endian(raw: memoryview) -> Sequence[int]:
    """Inverse of :func:`_little_endian`: the bytes in place where the byte order allows."""
    if not _BIG_ENDIAN:
        return raw.cast("I")
    out = array("I")
    out.frombytes(raw)
    out.byteswap()
    return out


_BIG_ENDIAN = array("I", [1]).tobytes()[0] == 0
