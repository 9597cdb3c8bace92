"""The masker against a corpus of personal data as people write it in Chinese text, and text that must stay.

The corpus (tests/data/pii_corpus.txt) holds over a hundred ways of writing
mobile numbers, landlines, ID numbers, bank cards, e-mail addresses, QQ and
WeChat ids and plates: grouped by spaces, dashes or dots, in full-width
characters, with +86 or 0086 before them, several in one sentence. Each must
be gone once masked; of a number, the four digits before its last four too.
"""

from __future__ import annotations

import os
import re
import unicodedata

from kiosk.privacy import mask_in_text

CORPUS = os.path.join(os.path.dirname(__file__), "data", "pii_corpus.txt")

#: Text that must come out exactly as it went in.
KEPT = [
    "2026-12-06",
    "2026年12月6日",
    "12月6日 14:30",
    "2026-12-06 14:30:00",
    "2026.12.06 上午",
    "20261206",
    "¥1,200.50",
    "￥１，２００．５０",
    "3000元",
    "金额 1,234,567.89 元",
    "A012 号 2024-05-06 10:30 到 3 号窗口，共 1000 元，job 8d4e84f9",
    "请凭 A012 号到 3 号窗口",
    "工单 P261206-K7QM-0001 已受理",
    "旧单号 P240512-0007",
    "手机下单 P261206-K7QM-W0001",
    "3栋1202",
    "5 号楼 1 单元 1202 室",
    "房号 1202、1203、1204",
    "邮编518000",
    "邮编 518 000",
    "市民热线12345",
    "报警电话110，急救120",
    "客服 400-800-1234",
    "服务热线 800 820 8820",
    "区号0755",
    "坐标 22.558134, 114.130271",
    "建于1998年，共32层，住户 1024 户",
    "第3期共120户，面积 89.5 平方米",
    "车次G1234，座位 05A",
    "IP 192.168.1.100 用时 1234 ms",
    "共 3 张照片，每张不超过 5 MB",
    "今天14:30到16:00停水",
    "（２０２６年１２月６日）",
]


def corpus() -> list[tuple[str, str]]:
    entries = []
    with open(CORPUS, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                text, secret = line.split("\t")
                entries.append((text, secret))
    return entries


def digits_of(text: str) -> str:
    return re.sub(r"[^0-9]", "", unicodedata.normalize("NFKC", text))


def test_the_corpus_is_large_and_varied():
    entries = corpus()
    assert len(entries) >= 100
    assert len({text for text, _ in entries}) == len(entries), "no line twice"
    assert sum(1 for text, _ in entries if re.search(r"[０-９]", text)) >= 10, "full-width digits"
    assert all(secret in text for text, secret in entries)


def test_every_way_of_writing_personal_data_is_masked():
    missed = []
    for text, secret in corpus():
        masked = mask_in_text(text)
        digits = digits_of(secret)
        middle = digits[-8:-4] if len(digits) >= 7 else ""
        if secret in masked or (middle and middle in digits_of(masked)) or "*" not in masked:
            missed.append(f"{text!r} → {masked!r}")
    assert not missed, f"{len(missed)} not masked:\n" + "\n".join(missed)


def test_dates_amounts_tickets_and_house_numbers_stay():
    changed = [f"{text!r} → {mask_in_text(text)!r}" for text in KEPT if mask_in_text(text) != text]
    assert not changed, "\n".join(changed)


def test_masking_happens_in_the_original_text():
    assert mask_in_text("（电话）１３９１２３４５６７８，谢谢！") == "（电话）139****5678，谢谢！"
    assert mask_in_text("座机（０７５５）１２３４５６７８。") == "座机0755-****5678。"
    assert mask_in_text("卡号6222 0212 3456 7890 123，户名") == "卡号6222***********0123，户名"
    assert mask_in_text("邮箱 wang.xy@example.com。") == "邮箱 w***@example.com。"
    assert mask_in_text("身份证440301199001011234号") == "身份证4403**********1234号"
    assert mask_in_text("王秀英的电话139 1234 5678", names=("王秀英",)) == "王*英的电话139****5678"
    assert mask_in_text("") == "" and mask_in_text(None) == ""


def test_long_hostile_text_is_masked_in_linear_time():
    """The masker runs on every log line and on text anyone can send: no catastrophic backtracking."""
    import time

    for hostile in ("1 " * 50_000 + "a", "1-" * 50_000, "(1" * 50_000, "a@" * 50_000, "13912345678 " * 8_000):
        started = time.perf_counter()
        masked = mask_in_text(hostile)
        assert time.perf_counter() - started < 2.0, hostile[:20]
        assert "13912345678" not in masked
