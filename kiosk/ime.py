"""Offline pinyin input for the on-screen keyboard: dictionary, candidate lookup, HTTP endpoint.

The kiosk has no network dictionary and no system input method, so the page
asks ``GET /ime/candidates?q=zhongguo`` and gets ranked Han candidates, each
saying how many of the typed letters it replaces. The dictionary comes from
pypinyin's readings ranked by jieba's word counts (:mod:`kiosk.ime_source`),
is built once and cached in the instance folder (:mod:`kiosk.ime_store`).

Besides full pinyin it takes initials (简拼: ``sq`` → 社区), fuzzy pinyin for
southern accents (z/zh, c/ch, s/sh, n/l, an/ang, en/eng, in/ing; the exact
spelling ranks first), and offers the station's own words first
(:mod:`kiosk.ime_words`: its place names, the services' vocabulary).

Wiring (done by the app factory)::

    ime.init_app(app)
    app.register_blueprint(ime.bp)
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from itertools import islice, product
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, request

from kiosk import ime_source
from kiosk.ime_store import IndexData, initials, read_index, release_pages, write_index
from kiosk.ime_words import MAX_WORD_CHARS, station_words

log = logging.getLogger(__name__)

#: Bump when the build or the file layout changes: a cache with another tag is rebuilt.
#: 2: text positions in bytes, so the file is used in place (memory-mapped).
#: 3: the initials (简拼) table.
FORMAT_VERSION = 3
#: jieba counts below this are mostly segmentation noise; 3 keeps every word jieba
#: lists with a real count (法律咨询 has 3): about 300 thousand words.
DEFAULT_MIN_WORD_FREQ = 3
CACHE_FILE = "pinyin-ime.idx"
#: Longest query the endpoint accepts; a sentence of pinyin fits, a paste bomb does not.
MAX_QUERY = 64
MAX_LIMIT = 100
DEFAULT_LIMIT = 20

_INITIALS_WITH_U_FOR_UE = ("j", "q", "x", "y")

#: Initials and finals that southern accents (Cantonese, Hakka, Min speakers) do not
#: tell apart; typed either way, a syllable also means the other.
FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
FUZZY_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))
#: Fuzzy syllables in one reading: each one multiplies the readings walked, and a
#: word with three accent slips in a row is read better as single syllables.
MAX_FUZZY = 2
#: Count from which a candidate is common: every common candidate, however it
#: matched, ranks above every rare one covering as many letters (则 责 泽 择, then
#: 这 for a southern "ze", then 仄 帻). Characters used this often fill a kiosk's text.
COMMON_SCORE = 500
#: Longest initials string looked up (a 10-character phrase is as long as they go).
MAX_INITIALS = 10
#: Letters no syllable starts with: a query holding one is not initials.
_NOT_INITIALS = frozenset("iuv")

#: Rank of a match among those covering the same letters: exact spelling, then
#: fuzzy, then an unfinished lone syllable, then initials (简拼).
_EXACT, _FUZZY, _PARTIAL, _PARTIAL_FUZZY, _INITIALS = range(5)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One choice offered for the typed letters.

    ``consumed`` is how many letters from the start of the query the choice
    stands for; the rest stay in the composition bar for the next pick.
    """

    text: str
    consumed: int

    def as_json(self) -> dict:
        """Return the candidate as the endpoint sends it."""
        return {"text": self.text, "consumed": self.consumed}


class Spelling:
    """What a run of typed letters can mean as one pinyin syllable.

    Besides the dictionary's own spellings it accepts the ways people type:
    ``jv``/``qv``/``xv``/``yv`` for ju/qu/xu/yu (ü written u after j q x y is
    standard, but keyboards teach v), and ``lue``/``nue`` for lve/nve.
    ``fuzzy`` maps a typed run to the other syllables an accent makes it
    (``ze`` → zhe, ``lan`` → nan, lang, nang).
    """

    def __init__(self, syllables: set[str]) -> None:
        """Precompute exact, fuzzy and partial spellings for ``syllables`` (toneless, ü as v)."""
        self.exact: dict[str, str] = {}
        for syllable in syllables:
            self.exact[syllable] = syllable
            for alias in _aliases(syllable):
                self.exact.setdefault(alias, syllable)
        fuzzy: dict[str, set[str]] = {}
        for syllable in syllables:
            for variant in fuzzy_variants(syllable):
                fuzzy.setdefault(variant, set()).add(syllable)
        for spelled, syllable in self.exact.items():
            if spelled != syllable and syllable in fuzzy:
                fuzzy.setdefault(spelled, set()).update(fuzzy[syllable])
        self.fuzzy: dict[str, tuple[str, ...]] = {
            spelled: tuple(sorted(s for s in others if s != self.exact.get(spelled)))
            for spelled, others in fuzzy.items()
        }
        # A proper prefix of a spelling ("zhongg" ends in "g") still names the
        # syllables it could grow into, so an unfinished last syllable matches.
        partial: dict[str, set[str]] = {}
        for spelled, syllable in self.exact.items():
            for cut in range(1, len(spelled)):
                partial.setdefault(spelled[:cut], set()).add(syllable)
        self.partial: dict[str, tuple[str, ...]] = {
            prefix: tuple(sorted(s for s in grown if s != self.exact.get(prefix))) for prefix, grown in partial.items()
        }
        self.longest = max((len(s) for s in (*self.exact, *self.fuzzy)), default=0)


def fuzzy_variants(syllable: str) -> set[str]:
    """Spellings an accent gives ``syllable``, whether or not they are syllables themselves.

    >>> sorted(fuzzy_variants("zhang"))
    ['zan', 'zang', 'zhan']
    """
    initial = syllable[:2] if syllable[:2] in ("zh", "ch", "sh") else syllable[:1]
    if initial in "aeo":
        initial = ""
    final = syllable[len(initial) :]
    initials = {initial}
    for one, other in FUZZY_INITIALS:
        if initial == one:
            initials.add(other)
        elif initial == other:
            initials.add(one)
    finals = {final}
    for long, short in FUZZY_FINALS:
        if final.endswith(long):
            finals.add(final[: -len(long)] + short)
        elif final.endswith(short):
            finals.add(final[: -len(short)] + long)
    return {i + f for i in initials for f in finals} - {syllable}


def _aliases(syllable: str) -> list[str]:
    """Other spellings typists use for ``syllable``."""
    if syllable[0] in _INITIALS_WITH_U_FOR_UE and syllable[1:2] == "u":
        return [syllable[0] + "v" + syllable[2:]]
    if syllable in ("lve", "nve"):
        return [syllable[0] + "ue"]
    return []


class PinyinDictionary:
    """Ranked Han candidates for pinyin letter strings.

    Load it with :meth:`load`; it builds from the source data the first time
    and reuses the cache file afterwards. Lookups are read-only and safe to run
    from many threads at once.
    """

    #: How many times any dictionary was built from source in this process.
    builds = 0

    def __init__(self, data: IndexData, *, origin: str, load_seconds: float) -> None:
        """Wrap loaded tables; ``origin`` is ``"cache"`` or ``"build"``."""
        self._data = data
        self._keys = data.keys
        self._texts = data.texts
        self._offsets = data.offsets
        self._scores = data.scores
        self._abbrs = data.abbrs
        self._abbr_offsets = data.abbr_offsets
        self._abbr_texts = data.abbr_texts
        self._spelling = Spelling(set(data.syllables))
        self._words = StationWords.empty()
        self.origin = origin
        self.load_seconds = load_seconds

    @classmethod
    def load(
        cls,
        cache_dir: str | Path,
        *,
        min_word_freq: int = DEFAULT_MIN_WORD_FREQ,
        in_subprocess: bool = False,
        lock: bool = True,
    ) -> PinyinDictionary:
        """Return the dictionary, reading ``cache_dir``'s cache or building and caching it.

        With ``in_subprocess`` a missing cache is built by a child process: the
        build reads pypinyin's and jieba's full tables (about 100 MB), which a
        server worker would otherwise keep for its whole life. ``lock=False``
        builds without taking the cache's lock file: for that child, whose
        parent holds the lock while it waits for it.
        """
        started = time.perf_counter()
        path = Path(cache_dir) / CACHE_FILE
        tag = version_tag(min_word_freq)
        data = read_index(path, tag)
        origin = "cache"
        if data is None:
            # One build at a time per cache, across threads and processes (``kiosk demo`` and a
            # starting server each preload): whoever waited reads what the first one wrote.
            with _build_lock(path) if lock else nullcontext():
                data = read_index(path, tag)
                if data is None and in_subprocess and _build_in_child(path.parent, min_word_freq):
                    data = read_index(path, tag)
                    origin = "build"
                if data is None:
                    data = IndexData.from_entries(ime_source.build_entries(min_word_freq))
                    cls.builds += 1
                    origin = "build"
                    try:
                        write_index(path, tag, data)
                    except OSError:
                        # A read-only instance folder costs a rebuild next start, not a broken keyboard.
                        log.warning("could not write pinyin cache %s", path, exc_info=True)
        dictionary = cls(data, origin=origin, load_seconds=time.perf_counter() - started)
        log.info(
            "pinyin dictionary: %d entries from %s in %.2f s",
            len(dictionary),
            origin,
            dictionary.load_seconds,
        )
        return dictionary

    def __len__(self) -> int:
        """Number of (reading, text) entries."""
        return len(self._texts)

    @property
    def key_count(self) -> int:
        """Number of distinct syllable sequences."""
        return len(self._keys)

    def lookup(self, query: str, limit: int = DEFAULT_LIMIT) -> list[Candidate]:
        """Return up to ``limit`` candidates for the letters in ``query``, best first.

        Candidates that cover more of the query come first: whole-query words,
        then the longest words matching its start, down to single characters of
        the first syllable. Among those covering the same letters: common
        words (a count of :data:`COMMON_SCORE` or more) before rare ones, and
        within each, exact spellings, then fuzzy ones, then unfinished
        syllables, then words whose initials (简拼) the query is; the
        station's words (:meth:`add_words`) lead each rank, then by count.

        :raises ValueError: if ``query`` holds anything but ASCII letters.
        """
        letters = query.lower()
        if not (letters.isascii() and letters.isalpha()):
            if letters == "":
                return []
            raise ValueError("query must be ASCII letters only")
        if limit <= 0:
            return []
        hits: dict[tuple[int, int], _Hits] = {}
        self._walk(letters, 0, "", 0, 0, hits)
        self._initials(letters, hits)
        found: list[Candidate] = []
        seen: set[str] = set()
        tiers = sorted(hits)
        for length in sorted({-tier[0] for tier in tiers}, reverse=True):
            group = [tier for tier in tiers if tier[0] == -length]
            # Common words of every rank before the rare ones of any: 这 (typed
            # "ze" with a southern accent) is worth more than a dozen obscure
            # exact readings, yet 则 still comes before it.
            for common in (True, False):
                for tier in group:
                    for text in hits[tier].texts(self, common):
                        if text in seen:
                            continue
                        seen.add(text)
                        found.append(Candidate(text, length))
                        if len(found) >= limit:
                            return found
        return found

    def _walk(
        self, letters: str, pos: int, prefix: str, depth: int, slips: int, hits: dict[tuple[int, int], _Hits]
    ) -> None:
        """Collect every key that spells ``letters[:end]`` for some end, extending ``prefix``.

        Walks syllable by syllable and stops as soon as no key continues the
        current prefix, so a long query costs little beyond its real matches.
        ``slips`` counts the fuzzy syllables taken so far (at most :data:`MAX_FUZZY`).
        """
        spelling = self._spelling
        size = len(letters)
        for end in range(pos + 1, min(pos + spelling.longest, size) + 1):
            piece = letters[pos:end]
            readings: list[tuple[str, int]] = []
            syllable = spelling.exact.get(piece)
            if syllable is not None:
                readings.append((syllable, slips))
            if slips < MAX_FUZZY:
                readings.extend((other, slips + 1) for other in spelling.fuzzy.get(piece, ()))
            for syllable, used in readings:
                key = f"{prefix}'{syllable}" if prefix else syllable
                # A lone syllable that stops short of its longer readings is
                # what the user meant ("fa" wants 发 before 方), so it ranks
                # ahead of the partial readings below.
                self._hit(key, (-end, _FUZZY if used else _EXACT), hits)
                if end < size and self._continues(key):
                    self._walk(letters, end, key, depth + 1, used, hits)
        rest = letters[pos:]
        for syllable in spelling.partial.get(rest, ()):
            key = f"{prefix}'{syllable}" if prefix else syllable
            # In a word the earlier syllables already pin it down (zhongg → 中国),
            # so a partial last syllable competes on equal terms there.
            if depth:
                rank = _FUZZY if slips else _EXACT
            else:
                rank = _PARTIAL_FUZZY if slips else _PARTIAL
            self._hit(key, (-size, rank), hits)

    def _hit(self, key: str, tier: tuple[int, int], hits: dict[tuple[int, int], _Hits]) -> None:
        """Note ``key``'s words (the dictionary's and the station's) under ``tier``, if it has any."""
        index = self._find(key)
        words = self._words.by_key.get(key)
        if index is None and words is None:
            return
        entry = hits.get(tier)
        if entry is None:
            entry = hits[tier] = _Hits()
        if words is not None:
            entry.words.extend(words)
        if index is not None:
            entry.keys.append(index)

    def _initials(self, letters: str, hits: dict[tuple[int, int], _Hits]) -> None:
        """Note the words whose syllables start with the query's letters in turn (简拼: ``sq`` → 社区).

        zh, ch and sh may stand for one syllable's initial (``shq`` → 社区,
        ``zhg`` → 中国); that reading comes before the one letter per syllable.
        """
        if not 2 <= len(letters) <= MAX_INITIALS + 3 or not _NOT_INITIALS.isdisjoint(letters):
            return
        entry: _Hits | None = None
        for parts in _initial_splits(letters):
            if not 2 <= len(parts) <= MAX_INITIALS:
                continue
            abbr = "".join(part[0] for part in parts)
            digraphs = [(i, part) for i, part in enumerate(parts) if len(part) == 2]
            words = [w for w, key in self._words.by_initials.get(abbr, ()) if _initials_fit(key, digraphs)]
            positions = [p for p in self._abbr_positions(abbr) if _initials_fit(self._key_of(p), digraphs)]
            if not words and not positions:
                continue
            if entry is None:
                entry = hits.setdefault((-len(letters), _INITIALS), _Hits())
            entry.words.extend(words)
            entry.positions.extend(positions)

    def _abbr_positions(self, abbr: str) -> list[int]:
        """Positions in the texts of the best words with initials ``abbr``, best first."""
        at = self._abbrs.lower_bound(abbr)
        if at >= len(self._abbrs) or self._abbrs[at] != abbr:
            return []
        size = len(self._texts)
        return [p for p in self._abbr_texts[self._abbr_offsets[at] : self._abbr_offsets[at + 1]] if p < size]

    def _key_of(self, position: int) -> str:
        """The syllable key a text position belongs to."""
        return self._keys[bisect_right(self._offsets, position) - 1]

    def add_words(self, words: Iterable[str]) -> int:
        """Offer ``words`` first among candidates of the same length (the station's place names).

        Each word is read with its characters' common readings found in the
        dictionary (a character with two common readings gives both); a word
        with a character the dictionary cannot read is skipped. Replaces the
        words of an earlier call. Returns how many words were added.
        """
        wanted = [w for w in dict.fromkeys(words) if w and len(w) <= MAX_WORD_CHARS]
        readings = self._readings({ch for word in wanted for ch in word})
        # Reading every syllable's characters touched pages all over the cache file;
        # lookups need few of them again (about 10 MiB of a worker's resident size).
        release_pages(self._data)
        self._words = StationWords.build(wanted, readings)
        return len(self._words.words)

    def _readings(self, chars: set[str]) -> dict[str, list[str]]:
        """The common readings of ``chars``, most common first, from the single-syllable entries."""
        scored: dict[str, list[tuple[int, str]]] = {}
        if not chars:
            return {}
        for syllable in sorted(set(self._spelling.exact.values())):
            index = self._find(syllable)
            if index is None:
                continue
            start, stop = self._offsets[index], self._offsets[index + 1]
            for position, text in enumerate(self._texts.range(start, stop), start):
                if text in chars:
                    scored.setdefault(text, []).append((self._scores[position], syllable))
        readings: dict[str, list[str]] = {}
        for char, options in scored.items():
            options.sort(reverse=True)
            top = options[0][0]
            # A reading used a tenth as often as the main one is still a real
            # reading (行 háng/xíng); rarer ones (区 ōu, a surname) are not what a place name uses.
            readings[char] = [s for score, s in options[:2] if score * 10 >= top]
        return readings

    def _find(self, key: str) -> int | None:
        """Position of ``key`` in the sorted key table, or ``None``."""
        at = self._keys.lower_bound(key)
        return at if at < len(self._keys) and self._keys[at] == key else None

    def _continues(self, key: str) -> bool:
        """Tell whether some longer key starts with ``key`` plus a syllable."""
        if key in self._words.prefixes:
            return True
        probe = key + "'"
        at = self._keys.lower_bound(probe)
        return at < len(self._keys) and self._keys[at].startswith(probe)

    def _best_texts(self, indexes: list[int]):
        """Yield ``(score, text)`` of the given keys merged by score, highest first."""
        offsets, texts, scores = self._offsets, self._texts, self._scores
        if len(indexes) == 1:
            key = indexes[0]
            start, stop = offsets[key], offsets[key + 1]
            yield from zip(scores[start:stop], texts.range(start, stop), strict=False)
            return
        runs = (
            zip(
                (-scores[i] for i in range(offsets[k], offsets[k + 1])),
                texts.range(offsets[k], offsets[k + 1]),
                strict=False,
            )
            for k in indexes
        )
        for negative, text in heapq.merge(*runs):
            yield -negative, text


def _initial_splits(letters: str) -> list[list[str]]:
    """Ways to read ``letters`` as initials, one per syllable, with zh/ch/sh as one initial first.

    >>> _initial_splits("shq")
    [['sh', 'q'], ['s', 'h', 'q']]
    """
    if not letters:
        return [[]]
    found: list[list[str]] = []
    if letters[:2] in ("zh", "ch", "sh"):
        found.extend([letters[:2], *rest] for rest in _initial_splits(letters[2:]))
    found.extend([letters[0], *rest] for rest in _initial_splits(letters[1:]))
    # Eight readings are plenty: a query with more digraphs than that is no abbreviation.
    return found[:8]


def _initials_fit(key: str, digraphs: list[tuple[int, str]]) -> bool:
    """Whether the syllables of ``key`` start with each digraph at its place (no digraphs: always)."""
    if not digraphs:
        return True
    syllables = key.split("'")
    return all(i < len(syllables) and syllables[i].startswith(part) for i, part in digraphs)


class _Hits:
    """What matched within one rank: the station's words, dictionary keys, and 简拼 text positions."""

    __slots__ = ("keys", "positions", "words")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.keys: list[int] = []
        self.positions: list[int] = []

    def texts(self, dictionary: PinyinDictionary, common: bool):
        """Yield the common texts (station words first, then by score) or else the rare ones."""
        if common:
            yield from self.words
        if self.keys:
            for score, text in dictionary._best_texts(self.keys):
                if (score >= COMMON_SCORE) == common:
                    yield text
                elif common:
                    break
        texts, scores = dictionary._texts, dictionary._scores
        for position in self.positions:
            if (scores[position] >= COMMON_SCORE) == common:
                yield texts[position]
            elif common:
                break


@dataclass(frozen=True)
class StationWords:
    """The station's own words indexed by syllable key, by key prefix and by initials."""

    words: tuple[str, ...]
    by_key: dict[str, list[str]]
    prefixes: frozenset[str]
    by_initials: dict[str, list[tuple[str, str]]]  # initials → (word, its key)

    @classmethod
    def empty(cls) -> StationWords:
        """No words."""
        return cls((), {}, frozenset(), {})

    @classmethod
    def build(cls, words: list[str], readings: dict[str, list[str]]) -> StationWords:
        """Index ``words`` under every reading their characters' ``readings`` give (at most 4 per word)."""
        by_key: dict[str, list[str]] = {}
        prefixes: set[str] = set()
        by_initials: dict[str, list[tuple[str, str]]] = {}
        kept: list[str] = []
        for word in words:
            if any(ch not in readings for ch in word):
                continue
            kept.append(word)
            for syllables in islice(product(*(readings[ch] for ch in word)), 4):
                key = "'".join(syllables)
                by_key.setdefault(key, []).append(word)
                for cut in range(1, len(syllables)):
                    prefixes.add("'".join(syllables[:cut]))
                if len(syllables) > 1:
                    by_initials.setdefault(initials(key), []).append((word, key))
        return cls(tuple(kept), by_key, frozenset(prefixes), by_initials)


def version_tag(min_word_freq: int) -> str:
    """Tag a cache with everything that changes its content: the format and the source data."""
    from importlib.metadata import version

    return (
        f"format={FORMAT_VERSION};pypinyin={version('pypinyin')};jieba={version('jieba')};"
        f"min_word_freq={min_word_freq};word_share={ime_source.WORD_SHARE}"
    )


#: Set by :func:`_build_in_child` for the ``python -m kiosk.ime build`` it starts while holding the lock.
PARENT_HOLDS_LOCK = "PINYIN_BUILD_LOCK_HELD_BY_PARENT"


@contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s ``.lock`` file while the cache is built (none if it cannot be made)."""
    import fcntl

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 - closed below
    except OSError:
        yield  # a read-only instance folder: build without the lock, as before
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


def _build_in_child(cache_dir: Path, min_word_freq: int) -> bool:
    """Build the cache with ``python -m kiosk.ime build``; True if it succeeded."""
    import subprocess
    import sys

    try:
        result = subprocess.run(
            [sys.executable, "-m", "kiosk.ime", "build", str(cache_dir), str(min_word_freq)],
            # This process holds the build lock while it waits: a child taking it too would wait
            # for its own parent until the timeout (a fresh machine's first start hung 300 s).
            env={**os.environ, PARENT_HOLDS_LOCK: "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("pinyin dictionary build in a child process failed (%s); building here", exc)
        return False
    if result.returncode != 0:
        log.warning("pinyin dictionary build in a child process failed: %s", result.stderr[-500:])
        return False
    return True


class DictionaryHolder:
    """Loads one :class:`PinyinDictionary` on first use, once, however many threads ask."""

    def __init__(
        self,
        cache_dir: str | Path,
        *,
        min_word_freq: int = DEFAULT_MIN_WORD_FREQ,
        in_subprocess: bool = False,
        preload_delay: float = 0.0,
        words: Iterable[str] = (),
    ) -> None:
        """Remember where the cache lives and the station's ``words``; nothing is loaded yet."""
        self.cache_dir = Path(cache_dir)
        self.words = tuple(words)
        self.min_word_freq = min_word_freq
        self.in_subprocess = in_subprocess
        self.preload_delay = preload_delay
        self._lock = threading.Lock()
        self._dictionary: PinyinDictionary | None = None
        #: The thread started by :meth:`preload`, if any.
        self.preload_thread: threading.Thread | None = None

    @property
    def loaded(self) -> bool:
        """Whether the dictionary is ready without waiting."""
        return self._dictionary is not None

    def get(self) -> PinyinDictionary:
        """Return the dictionary, loading (or waiting for a load already running) if needed."""
        dictionary = self._dictionary
        if dictionary is None:
            with self._lock:
                if self._dictionary is None:
                    loaded = PinyinDictionary.load(
                        self.cache_dir, min_word_freq=self.min_word_freq, in_subprocess=self.in_subprocess
                    )
                    loaded.add_words(self.words)
                    self._dictionary = loaded
                dictionary = self._dictionary
        return dictionary

    def preload(self) -> threading.Thread:
        """Start loading in a daemon thread so the first user does not wait for a build."""
        thread = threading.Thread(target=self._preload, name="ime-preload", daemon=True)
        self.preload_thread = thread
        thread.start()
        return thread

    def _preload(self) -> None:
        """Thread body of :meth:`preload`: a failure is logged and retried on first use."""
        if self.preload_delay:
            # Let the server answer its first requests before loading competes for the CPU.
            time.sleep(self.preload_delay)
        try:
            self.get()
        except Exception:
            log.exception("preloading the pinyin dictionary failed")


bp = Blueprint("ime", __name__, url_prefix="/ime")


def init_app(app: Flask, *, preload: bool = True) -> DictionaryHolder:
    """Attach a lazily loaded dictionary to ``app``, cached in its instance folder.

    The station's place names and the services' words (:func:`kiosk.ime_words.station_words`
    of ``app.config["STATION"]``) are offered first.

    Set ``IME_PRELOAD = False`` in the config (or pass ``preload=False``) to
    skip the background load, e.g. in short-lived CLI commands.
    """
    holder = DictionaryHolder(
        app.config.get("IME_CACHE_DIR") or app.instance_path,
        min_word_freq=app.config.get("IME_MIN_WORD_FREQ", DEFAULT_MIN_WORD_FREQ),
        in_subprocess=not app.config.get("TESTING"),
        preload_delay=float(app.config.get("IME_PRELOAD_DELAY", 2.0)),
        words=station_words(app.config.get("STATION")),
    )
    app.extensions["ime"] = holder
    if preload and app.config.get("IME_PRELOAD", True):
        holder.preload()
    return holder


def _holder() -> DictionaryHolder:
    """The current app's holder; an app that skipped :func:`init_app` gets one on first use."""
    holder = current_app.extensions.get("ime")
    if holder is None:
        holder = current_app.extensions.setdefault("ime", DictionaryHolder(current_app.instance_path))
    return holder


def _bad_request(message: str):
    """A 400 answer in the endpoint's JSON shape."""
    return jsonify(error=message), 400


@bp.get("/candidates")
def candidates():
    """``GET /ime/candidates?q=<letters>&limit=<n>``: ranked candidates as JSON."""
    query = request.args.get("q", "")
    if len(query) > MAX_QUERY:
        return _bad_request(f"q is longer than {MAX_QUERY} letters")
    if query and not (query.isascii() and query.isalpha()):
        return _bad_request("q must contain only the letters a-z")
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return _bad_request(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    found = _holder().get().lookup(query, int(raw_limit))
    return jsonify(q=query, candidates=[c.as_json() for c in found])


def main(argv: list[str]) -> int:
    """``python -m kiosk.ime build CACHE_DIR [MIN_WORD_FREQ]``: build and cache the dictionary."""
    if len(argv) not in (2, 3) or argv[0] != "build":
        print("usage: python -m kiosk.ime build CACHE_DIR [MIN_WORD_FREQ]")
        return 2
    freq = int(argv[2]) if len(argv) == 3 else DEFAULT_MIN_WORD_FREQ
    dictionary = PinyinDictionary.load(argv[1], min_word_freq=freq, lock=os.environ.get(PARENT_HOLDS_LOCK) != "1")
    print(f"pinyin dictionary: {len(dictionary)} entries ({dictionary.origin}, {dictionary.load_seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
