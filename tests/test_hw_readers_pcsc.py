"""PC/SC readers through the real pcscd, pyscard and vsmartcard's vpcd driver.

The card is a ``VirtualCard`` speaking vpcd's socket protocol. pcscd has one
fixed socket per machine, so ``PcscdService`` serialises users with a file lock;
the tests are also grouped so ``-n N --dist loadgroup`` runs them on one worker
and starts pcscd once.
"""

from __future__ import annotations

import pytest

from kiosk_hardware.readers.testing.collect import EventCollector, reader_threads, wait_until
from kiosk_hardware.readers.testing.pcscd import READER_NAME, PcscdService, missing_requirement

_missing = missing_requirement()
pytestmark = [
    pytest.mark.skipif(_missing is not None, reason=_missing or ""),
    pytest.mark.xdist_group("pcscd"),
]

UID = bytes.fromhex("04A1B2C3D4E5F6")


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory):
    service = PcscdService(tmp_path_factory.mktemp("pcscd"))
    service.start()
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = reader_threads()
    yield
    wait_until(lambda: not (reader_threads() - before), timeout=3, what="reader threads to end")


@pytest.fixture
def card(pcscd):
    from kiosk_hardware.readers.testing.vicc import VirtualCard

    # A card lifted by the previous test may still be listed for one pcscd poll.
    pcscd.wait_card(present=False)
    cards = []

    def make(uid=UID):
        virtual = VirtualCard(uid, port=pcscd.port)
        cards.append(virtual)
        return virtual

    yield make
    for virtual in cards:
        virtual.remove()


@pytest.fixture
def manager():
    from kiosk_hardware.readers import ReaderManager, RetryPolicy

    managers = []

    def make(configs, on_event):
        retry = RetryPolicy(initial=0.05, maximum=0.2, stable_after=0.5, tick=0.01)
        mgr = ReaderManager(configs, on_event, retry=retry)
        managers.append(mgr)
        mgr.start()
        return mgr

    yield make
    for mgr in managers:
        mgr.stop()


def test_uid_from_response():
    from kiosk_hardware.readers.pcsc import uid_from_response

    assert uid_from_response([0x04, 0xA1, 0x0F, 0x90, 0x00]) == "04A10F"
    assert uid_from_response([0x6A, 0x81]) is None
    assert uid_from_response([0x90]) is None


def test_tap_and_lift_produce_card_and_removed_events(pcscd, card, manager):
    collector = EventCollector()
    mgr = manager({"nfc": {"type": "pcsc", "reader": READER_NAME, "report_removal": True}}, collector)
    wait_until(lambda: mgr.status("nfc").ok, what="reader ok")
    assert mgr.status("nfc").detail.startswith(READER_NAME)

    tapped = card()
    tapped.insert()
    event = collector.wait_for(1)[0]
    assert (event.source, event.kind, event.value) == ("nfc", "card", "04A1B2C3D4E5F6")
    assert tapped.apdus == [bytes.fromhex("FFCA000000")]

    tapped.remove()
    removed = collector.wait_for(2)[1]
    assert (removed.kind, removed.value) == ("removed", "04A1B2C3D4E5F6")
    assert mgr.status("nfc").last_event_at == removed.at


def test_without_report_removal_only_taps_are_events(pcscd, card, manager):
    collector = EventCollector()
    mgr = manager({"nfc": {"type": "pcsc"}}, collector)
    wait_until(lambda: mgr.status("nfc").ok, what="reader ok")
    tapped = card()
    tapped.insert()
    collector.wait_for(1)
    tapped.remove()
    pcscd.wait_card(present=False)
    tapped.insert()
    collector.wait_for(2)
    assert collector.values == [("card", "04A1B2C3D4E5F6"), ("card", "04A1B2C3D4E5F6")]


def test_card_lying_on_reader_at_start_is_not_read(pcscd, card, manager):
    from kiosk_hardware.readers import PcscReader

    left_behind = card(bytes.fromhex("11223344"))
    left_behind.insert()
    pcscd.wait_card(present=True)
    collector = EventCollector()
    reader = PcscReader("nfc", READER_NAME, report_removal=True)
    reader.start(collector)
    try:
        wait_until(lambda: "present at start" in reader.status().detail, what="present card noticed")
        assert left_behind.apdus == []
        left_behind.remove()
        wait_until(lambda: "present" not in reader.status().detail, what="card gone")
        fresh = card(bytes.fromhex("55667788"))
        fresh.insert()
        assert collector.wait_for(1)[0].value == "55667788"
        assert len(collector.events) == 1, "the card left on the reader must not have been reported"
    finally:
        reader.stop()


def test_card_without_uid_gives_no_event(pcscd, card):
    from kiosk_hardware.readers import PcscReader

    collector = EventCollector()
    reader = PcscReader("nfc", READER_NAME)
    reader.start(collector)
    try:
        wait_until(lambda: reader.status().ok)
        mute = card(None)
        mute.insert()
        wait_until(lambda: "SW 6A81" in reader.status().detail, what="refusal reported")
        assert mute.apdus == [bytes.fromhex("FFCA000000")]
        assert collector.events == []
    finally:
        reader.stop()
    assert reader.status().state == "stopped"


def test_no_matching_reader_is_disconnected(pcscd):
    from kiosk_hardware.readers import PcscReader

    reader = PcscReader("nfc", "ACS ACR1252")
    reader.start(lambda event: None)
    wait_until(lambda: not reader.running)
    status = reader.status()
    assert status.state == "disconnected"
    assert "ACS ACR1252" in status.detail
    reader.stop()


def test_probe_asks_pcscd_for_the_reader_without_opening_it(pcscd):
    """What `kiosk doctor` checks of a reader the server opens: pcscd answers and lists it."""
    from kiosk_hardware.readers import PcscReader

    ok, detail = PcscReader("nfc", READER_NAME).probe()
    assert ok is True and READER_NAME in detail and "pcscd answers" in detail
    ok, detail = PcscReader("nfc", "ACS ACR1252").probe()
    assert ok is False and "no reader matching 'ACS ACR1252'" in detail and READER_NAME in detail


def test_a_phones_random_uid_is_delivered_but_noted_as_identifying_nobody(pcscd, card, manager, caplog):
    collector = EventCollector()
    mgr = manager({"nfc": {"type": "pcsc"}}, collector)
    wait_until(lambda: mgr.status("nfc").ok, what="reader ok")
    with caplog.at_level("WARNING", logger="kiosk_hardware.readers.base"):
        phone = card(bytes.fromhex("08C0FFEE"))  # ISO 14443-3 random single-size UID, as Android HCE gives
        phone.insert()
        assert collector.wait_for(1)[0].value == "08C0FFEE"
    assert "random UID" in caplog.text
    assert "1 unusable card UIDs read, the last random" in mgr.status("nfc").detail


def test_reader_recovers_when_pcscd_restarts(pcscd, card, manager):
    if not pcscd.owns_daemon:
        pytest.skip("a pcscd not started by the tests is running; it cannot be restarted")
    collector = EventCollector()
    mgr = manager({"nfc": {"type": "pcsc"}}, collector)
    wait_until(lambda: mgr.status("nfc").ok, what="reader ok")

    pcscd.stop_daemon()
    wait_until(lambda: mgr.status("nfc").state == "disconnected", what="service loss reported")
    from kiosk_hardware.readers import PcscReader

    ok, detail = PcscReader("probe").probe()
    assert ok is False and "pcscd" in detail
    pcscd.start_daemon()
    wait_until(lambda: mgr.status("nfc").ok, what="ok after restart")

    tapped = card()
    tapped.insert()
    assert collector.wait_for(1)[0].value == "04A1B2C3D4E5F6"
