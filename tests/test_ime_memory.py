"""The pinyin dictionary's memory-mapped cache leaves no pages resident that lookups do not need."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiosk.ime import PinyinDictionary
from kiosk.ime_store import IndexData, read_index, release_pages, write_index

needs_smaps = pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="Linux /proc")

ENTRIES = {
    "shui": [(900, "水"), (10, "谁")],
    "bei": [(800, "贝"), (700, "北")],
    "shui'bei": [(50, "水杯")],
    "she": [(700, "社")],
    "qu": [(600, "区")],
    "she'qu": [(400, "社区")],
}
TAG = "test-memory"


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()
            if not head[0].endswith(":"):
                inside = len(head) > 5 and head[5] == str(path)
            elif inside and head[0] == "Rss:":
                total += int(head[1])
    return total


@pytest.fixture
def mapped(tmp_path) -> tuple[Path, IndexData]:
    path = tmp_path / "pinyin-ime.idx"
    write_index(path, TAG, IndexData.from_entries(ENTRIES))
    data = read_index(path, TAG)
    assert data is not None
    return path, data


@needs_smaps
def test_release_pages_drops_the_mapped_cache_from_resident_memory(mapped):
    path, data = mapped
    bytes(data.keys.source[:])  # read the whole file through the map
    assert _resident_kib(path) > 0
    assert release_pages(data)
    assert _resident_kib(path) == 0
    assert [data.keys[i] for i in range(len(data.keys))] == sorted(ENTRIES)  # still readable


def test_release_pages_of_an_index_built_in_memory_is_a_no_op():
    assert release_pages(IndexData.from_entries(ENTRIES)) is False


@needs_smaps
def test_station_words_leave_no_cache_pages_resident_and_still_lead(mapped):
    path, data = mapped
    dictionary = PinyinDictionary(data, origin="cache", load_seconds=0.0)
    assert dictionary.add_words(["水贝", "水贝社区"]) == 2
    assert _resident_kib(path) == 0
    assert dictionary.lookup("shuibei", 1)[0].text == "水贝"
    assert dictionary.lookup("shuibeishequ", 1)[0].text == "水贝社区"
