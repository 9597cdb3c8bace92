"""Derive the pinyin input dictionary from pypinyin's readings and jieba's frequencies.

This is the slow half of the input method: it runs once per version of the
source data, and :mod:`kiosk.ime_store` caches its result on disk.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator

#: Characters and words outside these blocks are not offered: the kiosk fonts
#: (Noto CJK, WenQuanYi) cover them, while the supplementary planes render as tofu.
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")

#: Syllables made of consonants only (嗯 n/ng, 呒 m, 哼 hng) would let almost any
#: letter run split in extra ways, so they are left out of the syllable set.
_CONSONANT_ONLY = re.compile(r"^[^aeiouv]+$")

#: A character's standalone jieba count says how often it is typed on its own;
#: counts of the words it appears in say far less, so they only nudge the order.
WORD_SHARE = 0.1

#: Longest phrase pypinyin lists; bounds the phrase matching inside longer words.
_MAX_PHRASE = 8


def toneless(syllable: str) -> str:
    """Return a pinyin syllable without tone marks, lower-case, with ü written ``v``.

    >>> toneless("lǜ")
    'lv'
    """
    decomposed = unicodedata.normalize("NFD", syllable.lower())
    # ü decomposes to u + U+0308; keep that distinction as "v" before the
    # other combining marks (the tones) are dropped.
    decomposed = decomposed.replace("u\u0308", "v")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def is_usable_syllable(syllable: str) -> bool:
    """Tell whether a toneless syllable may appear in the dictionary's keys."""
    return syllable.isascii() and syllable.isalpha() and not _CONSONANT_ONLY.match(syllable)


def load_char_readings() -> dict[str, list[str]]:
    """Map each BMP Han character to its toneless readings, most common first."""
    from pypinyin.pinyin_dict import pinyin_dict

    readings: dict[str, list[str]] = {}
    for codepoint, spelled in pinyin_dict.items():
        char = chr(codepoint)
        if not _HAN.match(char):
            continue
        seen: list[str] = []
        for reading in spelled.split(","):
            plain = toneless(reading.strip())
            if is_usable_syllable(plain) and plain not in seen:
                seen.append(plain)
        if seen:
            readings[char] = seen
    return readings


def load_phrase_readings() -> dict[str, tuple[str, ...]]:
    """Map pypinyin's phrases (the words whose reading is not the default one) to syllables."""
    from pypinyin.phrases_dict import phrases_dict

    phrases: dict[str, tuple[str, ...]] = {}
    for phrase, per_char in phrases_dict.items():
        if not _HAN.match(phrase) or len(per_char) != len(phrase):
            continue
        syllables = tuple(toneless(options[0]) for options in per_char)
        if all(is_usable_syllable(s) for s in syllables):
            phrases[phrase] = syllables
    return phrases


def load_frequencies() -> dict[str, int]:
    """Read jieba's bundled ``dict.txt`` ("word freq pos" per line) for Han-only entries."""
    import jieba

    frequencies: dict[str, int] = {}
    with jieba.get_dict_file() as raw:
        for line in raw.read().decode("utf-8").splitlines():
            parts = line.split(" ")
            if len(parts) >= 2 and _HAN.match(parts[0]):
                try:
                    frequencies[parts[0]] = int(parts[1])
                except ValueError:
                    continue
    return frequencies


def word_syllables(
    word: str,
    chars: dict[str, list[str]],
    phrases: dict[str, tuple[str, ...]],
) -> tuple[str, ...] | None:
    """Read a word the way pypinyin does: known phrases first, else each character's main reading.

    Forward longest match over pypinyin's phrase list lets a word that is not
    itself listed (了解到) still borrow the reading of one that is (了解).
    Returns ``None`` when a character has no reading at all.
    """
    whole = phrases.get(word)
    if whole is not None:
        return whole
    out: list[str] = []
    i = 0
    while i < len(word):
        for size in range(min(_MAX_PHRASE, len(word) - i), 1, -1):
            piece = phrases.get(word[i : i + size])
            if piece is not None:
                out.extend(piece)
                i += size
                break
        else:
            options = chars.get(word[i])
            if options is None:
                return None
            out.append(options[0])
            i += 1
    return tuple(out)


def build_entries(min_word_freq: int) -> dict[str, list[tuple[int, str]]]:
    """Build the index: syllable key (``"zhong'guo"``) → ``[(score, text), ...]`` best first.

    Words of two or more characters come from jieba's list when their count is
    at least ``min_word_freq``; every character with a reading is kept so that
    any name can still be typed character by character.
    """
    chars = load_char_readings()
    phrases = load_phrase_readings()
    freqs = load_frequencies()

    index: dict[str, dict[str, int]] = defaultdict(dict)
    # How often each (character, reading) pair occurs inside counted words; this
    # is what separates 的 "de" (particle) from 的 "di" (目的).
    inside_words: dict[tuple[str, str], int] = defaultdict(int)

    for word, count in _words(freqs, min_word_freq):
        syllables = word_syllables(word, chars, phrases)
        if syllables is None:
            continue
        for char, syllable in zip(word, syllables, strict=False):
            inside_words[char, syllable] += count
        key = "'".join(syllables)
        bucket = index[key]
        bucket[word] = max(bucket.get(word, 0), count)

    for char, readings in chars.items():
        alone = freqs.get(char, 0)
        for position, reading in enumerate(readings):
            score = int(inside_words.get((char, reading), 0) * WORD_SHARE)
            if position == 0:
                score += alone
            # +1 keeps never-counted characters (rare names) in the list, last.
            index[reading][char] = score + 1

    return {
        key: sorted(((score, text) for text, score in bucket.items()), key=lambda e: (-e[0], e[1]))
        for key, bucket in index.items()
    }


def _words(freqs: dict[str, int], min_word_freq: int) -> Iterator[tuple[str, int]]:
    """Yield the multi-character words worth offering, with their counts."""
    for word, count in freqs.items():
        if len(word) > 1 and count >= min_word_freq:
            yield word, count
