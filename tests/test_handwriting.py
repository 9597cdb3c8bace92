"""Handwriting input (手写): Zinnia through ctypes, its bounds, and the pad's endpoints.

The strokes of 社, 区, 停, 车 are hand-authored point lists (tests/data/strokes_zh.json
says how they were made); the recognizer must offer each among its first five.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from kiosk import handwriting, handwriting_views
from kiosk.ratelimit import limit_of

STROKES = json.loads((Path(__file__).parent / "data" / "strokes_zh.json").read_text(encoding="utf-8"))
SIDE = STROKES["width"]

needs_zinnia = pytest.mark.skipif(
    not handwriting.status()[0],
    reason="libzinnia0 and tegaki-zinnia-simplified-chinese are not installed (tools/install-test-deps)",
)


def strokes_of(char: str, scale: float = 1.0) -> list[list[tuple[int, int]]]:
    return [[(round(x * scale), round(y * scale)) for x, y in stroke] for stroke in STROKES["characters"][char]]


@needs_zinnia
@pytest.mark.parametrize("char", ["社", "区", "停", "车"])
@pytest.mark.parametrize("side", [SIDE, 480])
def test_drawn_characters_are_among_the_first_five(char, side):
    found = handwriting.recognizer().classify(strokes_of(char, side / SIDE), side, side, 10)
    assert char in [g.text for g in found[:5]], [g.text for g in found]
    assert [g.score for g in found] == sorted((g.score for g in found), reverse=True)


@needs_zinnia
def test_one_recognizer_per_process_shared_by_threads():
    first = handwriting.recognizer()
    assert handwriting.recognizer() is first
    expected = {char: [g.text for g in first.classify(strokes_of(char), SIDE, SIDE)] for char in STROKES["characters"]}
    seen: list[tuple[str, list[str]]] = []
    start = threading.Barrier(8)

    def write(char: str) -> None:
        start.wait()
        for _ in range(5):
            seen.append((char, [g.text for g in handwriting.recognizer().classify(strokes_of(char), SIDE, SIDE)]))

    threads = [threading.Thread(target=write, args=(char,)) for char in list(STROKES["characters"]) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 40
    assert all(found == expected[char] for char, found in seen)


def test_missing_model_is_unavailable_with_what_to_install(tmp_path):
    missing = tmp_path / "none.model"
    available, detail = handwriting.status(missing)
    assert not available
    assert "tegaki-zinnia-simplified-chinese" in detail
    with pytest.raises(handwriting.Unavailable):
        handwriting.recognizer(missing)


@needs_zinnia
def test_a_file_that_is_no_model_is_unavailable(tmp_path):
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"not a zinnia model" * 10)
    available, detail = handwriting.status(junk)
    assert not available and "cannot be opened" in detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "shape"),
        ([], "shape"),
        ({"width": 300, "height": 300}, "shape"),
        ({"width": "300", "height": 300, "strokes": []}, "shape"),
        ({"width": True, "height": 300, "strokes": []}, "shape"),
        ({"width": 0, "height": 300, "strokes": [[[1, 1]]]}, "size"),
        ({"width": 300, "height": 99999, "strokes": [[[1, 1]]]}, "size"),
        ({"width": 300, "height": 300, "strokes": []}, "empty"),
        ({"width": 300, "height": 300, "strokes": [[], []]}, "empty"),
        ({"width": 300, "height": 300, "strokes": [[[1, 2, 3]]]}, "shape"),
        ({"width": 300, "height": 300, "strokes": [[[1.5, 2]]]}, "shape"),
        ({"width": 300, "height": 300, "strokes": [[[2**40, 2]]]}, "shape"),
        ({"width": 300, "height": 300, "strokes": [[[1, 1]]] * (handwriting.MAX_STROKES + 1)}, "too_many"),
        ({"width": 300, "height": 300, "strokes": [[[1, 1]] * (handwriting.MAX_POINTS_PER_STROKE + 1)]}, "too_many"),
        ({"width": 300, "height": 300, "strokes": [[[1, 1]] * 200] * 11}, "too_many"),
    ],
)
def test_bad_strokes_are_refused_before_reaching_c(payload, reason):
    with pytest.raises(handwriting.BadStrokes) as refused:
        handwriting.parse_strokes(payload)
    assert refused.value.reason == reason


def test_points_past_the_edge_are_kept_on_the_edge():
    strokes, width, height = handwriting.parse_strokes({"width": 100, "height": 80, "strokes": [[[-5, 10], [120, 90]]]})
    assert (strokes, width, height) == ([[(0, 10), (100, 80)]], 100, 80)


# --- the endpoints -------------------------------------------------------------


def _post(client, token, body, **headers):
    return client.post(
        "/handwriting/candidates",
        data=body if isinstance(body, (str, bytes)) else json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token, "Accept": "application/json", **headers},
    )


@needs_zinnia
def test_pad_endpoint_ranks_characters_and_refuses_bad_input_in_chinese(client, csrf):
    status = client.get("/handwriting/status").get_json()
    assert status["available"] is True
    assert status["labels"]["handwriting"] == "手写"
    token = csrf(client)

    answer = _post(client, token, {"width": SIDE, "height": SIDE, "strokes": strokes_of("停"), "limit": 5})
    assert answer.status_code == 200
    texts = [c["text"] for c in answer.get_json()["candidates"]]
    assert "停" in texts and len(texts) <= 5

    # No CSRF token: refused like every kiosk post, and nothing is recognised.
    assert _post(client, "", {"width": SIDE, "height": SIDE, "strokes": strokes_of("停")}).status_code == 400

    for body, words in [
        ({"width": SIDE, "height": SIDE, "strokes": []}, "请先在手写板上写一个字"),
        ("{not json", "无法识别"),
        ({"width": SIDE, "height": SIDE, "strokes": strokes_of("停"), "limit": 500}, "无法识别"),
        ({"width": SIDE, "height": SIDE, "strokes": [[[1, 1]]] * 100}, "写得太多"),
        ("[" + "1," * 40000 + "1]", "写得太多"),  # larger than any pad sends
    ]:
        refused = _post(client, token, body)
        assert refused.status_code == 400, body
        assert words in refused.get_json()["error"]

    english = client.get("/handwriting/status", headers={"Accept-Language": "en"}).get_json()
    assert english["labels"]["undo"] in ("Undo", "撤销")  # a station may list English second or not at all


def test_pad_endpoint_is_rate_limited_and_without_a_model_says_so(make_app, database_url, csrf, tmp_path):
    assert limit_of(handwriting_views.candidates) is not None
    app = make_app(database_url, HANDWRITING_MODEL=str(tmp_path / "missing.model"))
    client = app.test_client()
    status = client.get("/handwriting/status").get_json()
    assert status["available"] is False
    assert "手写" in status["message"]
    answer = _post(client, csrf(client), {"width": SIDE, "height": SIDE, "strokes": strokes_of("社")})
    assert answer.status_code == 503
    assert answer.get_json()["available"] is False
    assert "手写" in answer.get_json()["error"]

    from kiosk.doctor import run_checks

    with app.app_context():
        noted = [check for check in run_checks(app) if check["name"] == "handwriting"]
    assert len(noted) == 1 and noted[0]["ok"] is False and noted[0]["warning"] is True
    assert "tegaki-zinnia-simplified-chinese" in noted[0]["detail"]
