"""The offline pinyin dictionary: ranking, partial input, ü, caching, and its JSON endpoint."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk import ime
from kiosk.ime import CACHE_FILE, Candidate, DictionaryHolder, PinyinDictionary
from kiosk.ime_store import IndexData, read_index, read_tag, write_index

#: A tiny dictionary (only words jieba counts ten million times, i.e. none) builds
#: in about a second, which is what the rebuild tests need; ranking tests use the real one.
TINY = 10**7


@pytest.fixture(scope="session")
def ime_cache_dir(tmp_path_factory) -> Path:
    """One cache folder per test process, shared with the browser tests so the real build runs once."""
    path = tmp_path_factory.getbasetemp() / "ime-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def dictionary(ime_cache_dir) -> PinyinDictionary:
    """The real dictionary (built, or loaded if the browser tests built it first)."""
    return PinyinDictionary.load(ime_cache_dir)


def texts(dictionary: PinyinDictionary, query: str, limit: int = 20) -> list[str]:
    """Only the candidate texts, in order."""
    return [c.text for c in dictionary.lookup(query, limit)]


# --- ranking ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "word"),
    [("zhongguo", "中国"), ("shenzhen", "深圳"), ("lvshi", "律师"), ("ni", "你"), ("women", "我们")],
)
def test_common_word_is_first(dictionary, query, word):
    assert texts(dictionary, query)[0] == word


def test_single_syllable_puts_common_characters_near_the_top(dictionary):
    assert "法" in texts(dictionary, "fa")[:3]
    assert "发" in texts(dictionary, "fa")[:3]
    # The particle 的 is read "de"; its rare "di" reading must not push out 地 or 第.
    assert texts(dictionary, "de")[0] == "的"
    assert texts(dictionary, "di")[:2] == ["地", "第"]


def test_whole_phrase_from_the_data(dictionary):
    found = dictionary.lookup("falvzixun")
    assert found[0] == Candidate("法律咨询", 9)


def test_every_candidate_for_a_whole_word_consumes_all_letters(dictionary):
    found = dictionary.lookup("shenzhen", 3)
    assert found[0] == Candidate("深圳", 8)
    assert all(c.consumed == 8 for c in found[:2])


# --- partial and segmented input ---------------------------------------------


def test_unfinished_last_syllable_still_offers_the_word(dictionary):
    assert texts(dictionary, "zhongg")[0] == "中国"
    assert dictionary.lookup("zhongg")[0].consumed == 6
    assert "中国" in texts(dictionary, "zhonggu")[:2]


def test_sentence_offers_longest_leading_word_then_first_syllable_characters(dictionary):
    found = dictionary.lookup("falvzixunzhongxin", 40)
    consumed = [c.consumed for c in found]
    assert consumed == sorted(consumed, reverse=True), "longer matches must come first"
    by_text = {c.text: c.consumed for c in found}
    assert by_text["法律咨询"] == 9
    assert by_text["法律"] == 4
    assert by_text["法"] == 2
    singles = [c for c in found if c.consumed == 2]
    assert singles and all(len(c.text) == 1 for c in singles)


def test_picking_a_word_leaves_the_rest_to_compose(dictionary):
    first = dictionary.lookup("shenzhenlvshi")
    pick = next(c for c in first if c.text == "深圳")
    rest = "shenzhenlvshi"[pick.consumed :]
    assert rest == "lvshi"
    assert texts(dictionary, rest)[0] == "律师"


def test_ambiguous_split_offers_both_readings(dictionary):
    # fangan is fang'an (方案) or fan'gan (反感); xian is 先 or xi'an (西安).
    assert {"方案", "反感"} <= set(texts(dictionary, "fangan", 10))
    assert "西安" in texts(dictionary, "xian", 40)


def test_complete_syllable_ranks_before_longer_syllables_it_starts(dictionary):
    found = texts(dictionary, "fa", 1000)
    assert found.index("法") < found.index("方")
    assert found.index("发") < found.index("反")


def test_letters_that_start_no_syllable_give_nothing(dictionary):
    assert dictionary.lookup("iv") == []
    # Five z's are neither pinyin nor the initials of any word.
    assert dictionary.lookup("zzzzz") == []
    assert dictionary.lookup("") == []


def test_query_case_is_ignored(dictionary):
    assert dictionary.lookup("ZhongGuo") == dictionary.lookup("zhongguo")


def test_limit_is_respected(dictionary):
    assert len(dictionary.lookup("shi", 5)) == 5
    assert dictionary.lookup("shi", 0) == []


def test_non_letters_are_refused(dictionary):
    with pytest.raises(ValueError):
        dictionary.lookup("zhong1")
    with pytest.raises(ValueError):
        dictionary.lookup("中")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=24))
def test_candidates_are_ordered_and_consume_within_the_query(dictionary, query):
    found = dictionary.lookup(query, 30)
    consumed = [c.consumed for c in found]
    assert consumed == sorted(consumed, reverse=True)
    assert all(1 <= n <= len(query) for n in consumed)
    assert len({c.text for c in found}) == len(found), "no duplicates"


# --- 简拼 (initials) ------------------------------------------------------------


def test_initials_give_words(dictionary):
    # Without any station words 社区 is still near the top (事情 is counted more often).
    assert "社区" in texts(dictionary, "sq", 5)
    assert "中国" in texts(dictionary, "zg", 10)
    assert all(c.consumed == 2 for c in dictionary.lookup("sq", 10))


def test_zh_ch_sh_may_be_one_initial(dictionary):
    assert texts(dictionary, "zhg")[0] == "中国"
    assert "社区" in texts(dictionary, "shq", 5)
    assert "初中" in texts(dictionary, "chzh", 5)
    # Every word offered for shq has a sh- first syllable or is s…h…q.
    assert "时期" in texts(dictionary, "shq", 5) and "死去" not in texts(dictionary, "shq", 48)


def test_initials_rank_after_a_real_syllable(dictionary):
    # "ta" is a syllable: 他 first; 提案 (t…a…) may follow but never leads.
    assert texts(dictionary, "ta")[0] == "他"
    assert dictionary.lookup("iu") == []  # no syllable starts with i or u


def test_station_and_service_words_lead_their_rank(dictionary, ime_cache_dir):
    words = PinyinDictionary.load(ime_cache_dir)
    assert words.add_words(["社区", "停车", "水贝", "笋岗"]) == 4
    assert texts(words, "sq")[0] == "社区"
    assert texts(words, "tc")[0] == "停车"
    assert texts(words, "shuibei")[0] == "水贝"
    assert texts(words, "sungang")[0] == "笋岗"
    assert texts(words, "sb", 3)[0] == "水贝"
    assert texts(words, "shb", 3)[0] == "水贝"
    # A station word never pushes a longer match down: 水 alone covers less.
    assert [c.consumed for c in words.lookup("shuibeish", 30)] == sorted(
        (c.consumed for c in words.lookup("shuibeish", 30)), reverse=True
    )
    # The plain dictionary has never heard of 水贝.
    assert "水贝" not in texts(dictionary, "shuibei", 50)


def test_words_with_unreadable_characters_are_skipped(dictionary, ime_cache_dir):
    words = PinyinDictionary.load(ime_cache_dir)
    assert words.add_words(["水贝", "水😀", "", "ab"]) == 1


# --- fuzzy pinyin (southern accents) ------------------------------------------


@pytest.mark.parametrize(
    ("typed", "exact", "fuzzy"),
    [
        ("ze", "则", "这"),  # z / zh
        ("zhe", "这", "则"),
        ("ci", "次", "吃"),  # c / ch
        ("si", "四", "是"),  # s / sh
        ("lan", "蓝", "南"),  # n / l
        ("nan", "南", "蓝"),
        ("fan", "反", "方"),  # an / ang
        ("chen", "陈", "成"),  # en / eng
        ("xin", "新", "行"),  # in / ing
    ],
)
def test_fuzzy_pinyin_offers_the_other_sound_after_the_exact_one(dictionary, typed, exact, fuzzy):
    found = texts(dictionary, typed, 40)
    assert exact in found[:5]
    assert fuzzy in found, f"{fuzzy} missing for {typed}"
    assert found.index(exact) < found.index(fuzzy)


def test_fuzzy_words(dictionary):
    assert texts(dictionary, "zongguo")[0] == "中国"  # no word is read zong'guo
    assert texts(dictionary, "suijiao", 5)[0] == "睡觉"
    assert "女士" in texts(dictionary, "lvshi", 5)
    # Exact words keep the lead: 律师 before 女士.
    assert texts(dictionary, "lvshi")[0] == "律师"


def test_fuzzy_spelling_table():
    assert ime.fuzzy_variants("zhang") == {"zang", "zhan", "zan"}
    assert ime.fuzzy_variants("lin") == {"ling", "nin", "ning"}
    assert ime.fuzzy_variants("en") == {"eng"}


# --- ü -----------------------------------------------------------------------


def test_v_types_u_umlaut(dictionary):
    assert {"律", "绿"} <= set(texts(dictionary, "lv", 10))
    assert texts(dictionary, "nv")[0] == "女"
    assert texts(dictionary, "nvren")[0] == "女人"
    # lu is a different syllable (路); 律 is only ever lǜ.
    assert "路" in texts(dictionary, "lu", 3)
    assert "律" not in texts(dictionary, "lu", 100)


def test_u_after_j_q_x_y_is_the_umlaut_and_v_is_accepted_too(dictionary):
    assert texts(dictionary, "juzhu", 5) == texts(dictionary, "jvzhu", 5)
    assert "居住" in texts(dictionary, "jvzhu", 5)
    assert texts(dictionary, "xv", 5) == texts(dictionary, "xu", 5)
    assert "略" in texts(dictionary, "lue", 3)


# --- cache -------------------------------------------------------------------


def test_concurrent_first_use_builds_once(tmp_path):
    holder = DictionaryHolder(tmp_path, min_word_freq=TINY)
    builds_before = PinyinDictionary.builds
    results: list[PinyinDictionary] = []
    start = threading.Barrier(8)

    def first_use():
        start.wait()
        results.append(holder.get())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert PinyinDictionary.builds - builds_before == 1
    assert len(results) == 8
    assert all(result is results[0] for result in results)
    assert results[0].origin == "build"


def test_two_apps_on_one_cache_folder_build_it_once(tmp_path):
    # `kiosk demo` made two apps whose preloads each built the same cache (35 s each on a fresh machine);
    # a lock file lets the second wait for the first and read what it wrote (across processes too).
    holders = [DictionaryHolder(tmp_path, min_word_freq=TINY) for _ in range(2)]
    builds_before = PinyinDictionary.builds
    start = threading.Barrier(2)
    results: list[PinyinDictionary] = []

    def first_use(holder):
        start.wait()
        results.append(holder.get())

    threads = [threading.Thread(target=first_use, args=(holder,)) for holder in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert PinyinDictionary.builds - builds_before == 1
    assert sorted(result.origin for result in results) == ["build", "cache"]
    assert (tmp_path / (CACHE_FILE + ".lock")).exists()


def test_second_load_reads_the_cache_without_rebuilding(dictionary, ime_cache_dir):
    path = ime_cache_dir / CACHE_FILE
    mtime = path.stat().st_mtime_ns
    builds = PinyinDictionary.builds
    again = PinyinDictionary.load(ime_cache_dir)
    assert again.origin == "cache"
    assert PinyinDictionary.builds == builds
    assert path.stat().st_mtime_ns == mtime
    assert again.lookup("shenzhen", 5) == dictionary.lookup("shenzhen", 5)
    assert len(again) == len(dictionary) > 100_000


def test_changed_version_tag_rebuilds(tmp_path, monkeypatch):
    first = PinyinDictionary.load(tmp_path, min_word_freq=TINY)
    assert first.origin == "build"
    assert PinyinDictionary.load(tmp_path, min_word_freq=TINY).origin == "cache"
    old_tag = read_tag(tmp_path / CACHE_FILE)
    monkeypatch.setattr(ime, "FORMAT_VERSION", ime.FORMAT_VERSION + 1)
    rebuilt = PinyinDictionary.load(tmp_path, min_word_freq=TINY)
    assert rebuilt.origin == "build"
    assert read_tag(tmp_path / CACHE_FILE) != old_tag
    assert read_tag(tmp_path / CACHE_FILE) == ime.version_tag(TINY)


def test_store_round_trip_and_rejects_stale_or_damaged_files(tmp_path):
    entries = {
        "zhong": [(9, "中"), (3, "钟")],
        "zhong'guo": [(7, "中国")],
        "zhong'gu": [(8, "中古")],
        "guo": [(5, "国")],
    }
    data = IndexData.from_entries(entries)
    path = tmp_path / "x.idx"
    write_index(path, "tag-1", data)
    loaded = read_index(path, "tag-1")
    assert loaded is not None
    assert list(loaded.keys) == ["guo", "zhong", "zhong'gu", "zhong'guo"]
    assert list(loaded.texts) == ["国", "中", "钟", "中古", "中国"]
    assert list(loaded.scores) == [5, 9, 3, 8, 7]
    assert loaded.syllables == ("guo", "zhong")
    # Both words share the initials zg, the more common first.
    assert list(loaded.abbrs) == ["zg"]
    assert [loaded.texts[p] for p in loaded.abbr_texts] == ["中古", "中国"]
    assert read_index(path, "tag-2") is None
    path.write_bytes(path.read_bytes()[:-3])
    assert read_index(path, "tag-1") is None
    assert read_index(tmp_path / "missing.idx", "tag-1") is None


def test_unwritable_cache_folder_still_gives_a_dictionary(tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    dictionary = PinyinDictionary.load(blocker, min_word_freq=TINY)
    assert dictionary.origin == "build"
    assert dictionary.lookup("ni", 1)[0].text == "你"


# --- the endpoint ------------------------------------------------------------


@pytest.fixture
def client(dictionary, ime_cache_dir):
    """A tiny app whose instance folder already holds the session's cache."""
    app = Flask("ime_test", instance_path=str(ime_cache_dir))
    holder = ime.init_app(app)
    app.register_blueprint(ime.bp)
    yield app.test_client()
    # Let the background load finish inside this test, not during the next one.
    holder.preload_thread.join(timeout=30)


def test_candidates_endpoint_returns_ranked_json(client):
    answer = client.get("/ime/candidates?q=zhongguo&limit=3")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["q"] == "zhongguo"
    assert len(body["candidates"]) == 3
    assert body["candidates"][0] == {"text": "中国", "consumed": 8}


def test_candidates_endpoint_default_limit_and_empty_query(client):
    assert len(client.get("/ime/candidates?q=shi").get_json()["candidates"]) == ime.DEFAULT_LIMIT
    assert client.get("/ime/candidates?q=").get_json() == {"q": "", "candidates": []}
    assert client.get("/ime/candidates").get_json() == {"q": "", "candidates": []}


@pytest.mark.parametrize(
    "query_string",
    [
        "q=zhong1",
        "q=zh%20ong",
        "q=%E4%B8%AD",  # 中
        "q=" + "a" * 65,
        "q=ni&limit=0",
        "q=ni&limit=101",
        "q=ni&limit=-1",
        "q=ni&limit=abc",
        "q=ni&limit=",
        "q=ni&limit=%C2%B2",  # superscript two: a "digit" to str.isdigit
    ],
)
def test_candidates_endpoint_rejects_bad_input_with_json_400(client, query_string):
    answer = client.get("/ime/candidates?" + query_string)
    assert answer.status_code == 400
    assert isinstance(answer.get_json()["error"], str)


def test_endpoint_offers_the_station_files_place_names(dictionary, ime_cache_dir):
    app = Flask("ime_station", instance_path=str(ime_cache_dir))
    app.config["STATION"] = {
        "name": "水贝社区党群服务中心",
        "address": "深圳市罗湖区翠竹街道布心路3008号",
        "places": ["笋岗", "水贝珠宝大厦"],
    }
    ime.init_app(app, preload=False)
    app.register_blueprint(ime.bp)
    client = app.test_client()

    def first(query: str, n: int = 5) -> list[str]:
        return [c["text"] for c in client.get(f"/ime/candidates?q={query}&limit={n}").get_json()["candidates"]]

    assert first("shuibei", 1) == ["水贝"]
    assert "水贝" in first("suibei")  # fuzzy s/sh
    assert first("sungang", 1) == ["笋岗"]
    assert first("sq", 1) == ["社区"]
    assert first("tc", 1) == ["停车"]  # a service word
    assert "翠竹" in first("cuizhu")
    assert "布心" in first("buxin")


def test_place_names_are_cut_at_administrative_endings():
    from kiosk.ime_words import place_words, station_words

    assert place_words("深圳市罗湖区翠竹街道水贝社区党群服务中心") == [
        "深圳市",
        "深圳",
        "罗湖区",
        "罗湖",
        "翠竹街道",
        "翠竹",
        "水贝社区",
        "水贝",
        "党群服务中心",
        "党群",
    ]
    assert place_words("布心路3008号水贝珠宝大厦") == ["布心路", "布心", "水贝珠宝大厦", "水贝珠宝"]
    words = station_words({"name": "笋岗社区", "places": ["x" * 50, "区"]})
    assert words[:2] == ["笋岗社区", "笋岗"]
    assert "停车" in words and len(words) == len(set(words))


def test_longest_allowed_query_is_answered(client):
    answer = client.get("/ime/candidates?q=" + "shi" * 21 + "a")
    assert answer.status_code == 200


def test_init_app_preloads_in_the_background(dictionary, ime_cache_dir):
    app = Flask("ime_preload", instance_path=str(ime_cache_dir))
    holder = ime.init_app(app)
    assert app.extensions["ime"] is holder
    assert holder.preload_thread is not None
    holder.preload_thread.join(timeout=30)
    assert holder.loaded


def test_a_server_building_the_cache_in_a_child_does_not_wait_for_itself(tmp_path):
    # A server with no cache holds the build lock and runs `python -m kiosk.ime build` in a child;
    # the child took the same lock and waited for its own parent until the 300 s timeout (a fresh
    # machine's `kiosk demo` / `kiosk serve` hung, then built in-process anyway).
    builds_before = PinyinDictionary.builds
    results: list[PinyinDictionary] = []
    loader = threading.Thread(
        target=lambda: results.append(PinyinDictionary.load(tmp_path, min_word_freq=TINY, in_subprocess=True)),
        daemon=True,
    )
    loader.start()
    loader.join(120)  # about 1.5 s when it works; the old code waited 300 s
    assert results, "the child waited for the lock its parent holds"
    assert results[0].origin == "build" and len(results[0]) > 0
    assert PinyinDictionary.builds == builds_before  # the child built it, not this process
    assert read_tag(tmp_path / CACHE_FILE) is not None
