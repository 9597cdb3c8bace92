"""Words the pinyin keyboard offers before the dictionary's: the kiosk's own and the station's place names.

A general dictionary ranks 事情 above 社区 for ``sq`` and has never heard of
水贝 or 笋岗. What residents type at a community service kiosk is narrower:
the words of its services, and the names of the community, its streets and
its buildings. Those come from two places:

- :data:`SERVICE_WORDS`, the vocabulary of the four services and the hall;
- the station file: ``[station] name``, ``address`` and ``places`` (see
  :func:`station_words`), cut into place names at their administrative
  endings (深圳市罗湖区翠竹街道水贝社区 gives 深圳市, 深圳, 罗湖区, 罗湖, 翠竹街道, 翠竹, 水贝社区, 水贝).

They are ranked first among candidates that cover the same letters; they
never push a longer match down (:class:`kiosk.ime.PinyinDictionary`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

#: Most words taken from a station file; a station lists a few dozen place names.
MAX_WORDS = 400
#: Longest word kept (characters); an address line is cut into its parts first.
MAX_WORD_CHARS = 12

#: What residents and riders type at the kiosk (the services' own words, from the
#: district reports in /work/shared/seeds): petitions, legal help, parking, riders.
SERVICE_WORDS = (
    "社区",
    "街道",
    "居委会",
    "党群服务中心",
    "暖蜂驿站",
    "法律咨询",
    "人民调解",
    "劳动仲裁",
    "法治宣传",
    "公证",
    "律师",
    "调解",
    "投诉",
    "建议",
    "咨询",
    "求助",
    "诉求",
    "停车",
    "停车场",
    "车位",
    "车牌",
    "充电",
    "骑手",
    "外卖",
    "快递",
    "修车",
    "路灯",
    "路灯不亮",
    "噪音",
    "噪音扰民",
    "占道经营",
    "垃圾",
    "环境卫生",
    "违章搭建",
    "积水",
    "井盖",
    "消防通道",
    "物业",
    "小区",
    "门牌",
    "身份证",
    "手机号",
    "电话",
    "姓名",
    "地址",
    "工资",
    "拖欠工资",
    "劳动合同",
    "租房",
    "房东",
    "押金",
    "老人",
    "老年人",
    "残疾人",
    "社保",
    "医保",
    "居住证",
    "预约",
    "排队",
)

#: Endings that close a place name in an address; the part before one is a name too.
_ENDINGS = (
    "党群服务中心",
    "服务中心",
    "街道办",
    "街道",
    "社区",
    "小区",
    "花园",
    "大厦",
    "大道",
    "广场",
    "公园",
    "新村",
    "省",
    "市",
    "区",
    "镇",
    "村",
    "路",
    "街",
    "道",
    "巷",
)
#: Characters that end a place name and are no part of one (1001号, 3栋).
_SEPARATORS = "号栋座楼层室"
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")


def place_words(text: str) -> list[str]:
    """Cut a name or an address into the place names it holds, in order, without repeats.

    Each run of Han characters is split after every administrative ending
    (市, 区, 街道, 社区, 路…); each piece is kept with its ending and, when
    at least two characters remain, without it.
    """
    found: list[str] = []
    for run in _HAN_RUN.findall(text):
        rest = run
        while rest:
            piece = _first_piece(rest)
            rest = rest[len(piece) :]
            _add(found, piece)
            for ending in _ENDINGS:
                if piece.endswith(ending) and len(piece) - len(ending) >= 2:
                    _add(found, piece[: -len(ending)])
                    break
    return found


def _first_piece(run: str) -> str:
    """The leading piece of ``run``: up to the earliest ending (the longest one there: 街道, not 街)."""
    if run[0] in _SEPARATORS:
        return run[0]
    start, size = len(run), 0
    for ending in _ENDINGS:
        at = run.find(ending, 1)
        if at != -1 and (at < start or (at == start and len(ending) > size)):
            start, size = at, len(ending)
    at = next((i for i, ch in enumerate(run) if ch in _SEPARATORS), len(run))
    if at < start:
        return run[:at]
    return run[: start + size]


def _add(found: list[str], word: str) -> None:
    if 2 <= len(word) <= MAX_WORD_CHARS and word not in found:
        found.append(word)


def station_words(station: Mapping | None) -> list[str]:
    """The words of a station's settings: place names from its name, address and places, then the service words.

    ``station`` is the ``[station]`` table (``app.config["STATION"]``).
    """
    found: list[str] = []
    station = station or {}
    texts: Iterable[str] = [str(station.get("name") or ""), str(station.get("address") or "")]
    texts = [*texts, *(str(p) for p in station.get("places") or ())]
    for text in texts:
        for word in place_words(text):
            if len(found) >= MAX_WORDS:
                return found
            _add(found, word)
    for word in SERVICE_WORDS:
        if len(found) >= MAX_WORDS:
            break
        _add(found, word)
    return found
