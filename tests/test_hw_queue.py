"""The print queue against a fake network printer: retries, failures, reprints, waiting."""

from __future__ import annotations

import json
import threading
import time

import pytest
import zxingcpp

from kiosk_hardware.job_store import InMemoryJobStore, JobState, PrintJob
from kiosk_hardware.print_queue import PrintQueue
from kiosk_hardware.printers import PreviewPrinter, UsbPrinter, printer_from_config
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.status import Paper
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter, FakeUsbDevice

WAIT = 10.0  # generous upper bound; a healthy run finishes far sooner


def ticket(code: str) -> Receipt:
    return Receipt().title("法律咨询排队").kv("号码", code).qr(f"https://kiosk.example.cn/q/{code}")


def qr_codes(fake: FakeNetworkPrinter) -> list[str]:
    out = []
    for job in fake.completed_jobs:
        (result,) = [r for r in zxingcpp.read_barcodes(job.parse().raster().convert("L")) if r.format.name == "QRCode"]
        out.append(result.text)
    return out


@pytest.fixture
def fake():
    with FakeNetworkPrinter() as printer:
        yield printer


def make_queue(fake: FakeNetworkPrinter, **kwargs) -> PrintQueue:
    printer = printer_from_config(fake.printer_config(status_timeout=kwargs.pop("status_timeout", 0.2)))
    kwargs.setdefault("retry_delay", 0.01)
    return PrintQueue({"counter": printer}, **kwargs)


def test_job_prints_and_the_caller_learns_the_outcome(fake):
    seen: list[tuple[str, JobState, int]] = []
    with make_queue(fake) as q:
        q.add_listener(lambda job: seen.append((job.id, job.state, job.attempts)))
        handle = q.submit(ticket("A001"), label="法律咨询 A001")
        job = handle.wait(WAIT)
    assert (job.state, job.attempts, job.error, job.label) == (JobState.DONE, 1, None, "法律咨询 A001")
    assert job.finished_at is not None and handle.state is JobState.DONE
    assert [state for _, state, _ in seen] == [JobState.QUEUED, JobState.PRINTING, JobState.DONE]
    assert qr_codes(fake) == ["https://kiosk.example.cn/q/A001"]
    assert q.last_status("counter").paper is Paper.OK


def test_jobs_print_in_submission_order(fake):
    with make_queue(fake) as q:
        handles = [q.submit(ticket(f"B{i:03d}")) for i in range(5)]
        assert all(h.wait(WAIT).state is JobState.DONE for h in handles)
    assert qr_codes(fake) == [f"https://kiosk.example.cn/q/B{i:03d}" for i in range(5)]


def test_paper_out_retries_a_bounded_number_of_times_then_keeps_the_failed_job(fake):
    fake.state = "paper_out"
    with make_queue(fake, max_attempts=3) as q:
        handle = q.submit(ticket("C001"))
        job = handle.wait(WAIT)
        assert (job.state, job.attempts, job.error_kind) == (JobState.FAILED, 3, "paper_out")
        assert "paper out" in job.error
        assert [j.id for j in q.list_failed()] == [handle.id]
        assert fake.jobs == []  # never sent while the printer said it had no paper
        assert q.last_status("counter").paper is Paper.OUT

        fake.state = "ok"  # staff put in a new roll
        again = q.reprint(handle.id)
        job = again.wait(WAIT)
    assert again.id == handle.id
    assert (job.state, job.attempts, job.error) == (JobState.DONE, 1, None)
    assert q.list_failed() == []
    assert qr_codes(fake) == ["https://kiosk.example.cn/q/C001"]


def test_offline_printer_fails_with_its_reason(fake):
    fake.state = "offline"
    with make_queue(fake, max_attempts=2) as q:
        job = q.submit(ticket("D001")).wait(WAIT)
    assert (job.state, job.attempts, job.error_kind) == (JobState.FAILED, 2, "offline")
    assert "cover open" in job.error


def test_dropped_connection_is_retried_and_the_retry_succeeds():
    with FakeNetworkPrinter("drop", drop_after=100, drop_times=1) as fake:
        with make_queue(fake, max_attempts=3) as q:
            job = q.submit(ticket("E001")).wait(WAIT)
        assert (job.state, job.attempts) == (JobState.DONE, 2)
        assert [j.complete for j in fake.jobs] == [False, True]
        assert qr_codes(fake) == ["https://kiosk.example.cn/q/E001"]


def test_connection_dropped_every_time_fails_then_reprint_works_after_the_fault_clears():
    with FakeNetworkPrinter("drop", drop_after=100) as fake:
        with make_queue(fake, max_attempts=2) as q:
            handle = q.submit(ticket("F001"))
            job = handle.wait(WAIT)
            assert (job.state, job.attempts, job.error_kind) == (JobState.FAILED, 2, "dropped")
            assert len(fake.jobs) == 2 and not any(j.complete for j in fake.jobs)
            fake.state = "ok"
            assert q.reprint(handle.id).wait(WAIT).state is JobState.DONE
        assert qr_codes(fake) == ["https://kiosk.example.cn/q/F001"]


def test_silent_printer_leaves_the_job_sent_not_printed():
    with FakeNetworkPrinter("silent") as fake:
        with make_queue(fake, status_timeout=0.05) as q:
            job = q.submit(ticket("G001")).wait(WAIT)
    assert job.state is JobState.SENT and job.finished and "not confirmed" in job.note
    assert job.error_kind == "unconfirmed"
    assert q.last_status("counter").paper is Paper.UNKNOWN


def test_unreachable_printer_fails_after_retries():
    with FakeNetworkPrinter() as fake:
        config = fake.printer_config()
    # The fake is closed now: its port refuses connections.
    q = PrintQueue(printer_from_config(config), max_attempts=2, retry_delay=0.01)
    with q:
        job = q.submit(ticket("H001")).wait(WAIT)
    assert (job.state, job.attempts, job.error_kind) == (JobState.FAILED, 2, "unreachable")
    assert not q.last_status().reachable


def test_write_timeouts_are_retried_then_the_job_fails():
    device = FakeUsbDevice("stall")
    with device.plugged_in():
        with PrintQueue(UsbPrinter(0x0416, 0x5011, status_timeout=0.01), max_attempts=2, retry_delay=0.01) as q:
            handle = q.submit(ticket("T001"))
            job = handle.wait(WAIT)
            assert (job.state, job.attempts, job.error_kind) == (JobState.FAILED, 2, "timeout")
            device.state = "ok"
            assert q.reprint(handle.id).wait(WAIT).state is JobState.DONE
    assert len(device.completed_jobs) == 1


def test_submit_returns_at_once_and_waiting_is_bounded():
    # A silent printer holds each job for two status timeouts.
    with FakeNetworkPrinter("silent") as fake:
        with make_queue(fake, status_timeout=0.4) as q:
            handle = q.submit(ticket("J001"))
            assert handle.state in (JobState.QUEUED, JobState.PRINTING)
            early = handle.wait(0.01)
            assert early.state in (JobState.QUEUED, JobState.PRINTING) and not early.finished
            assert handle.wait(WAIT).state is JobState.SENT


def test_receipt_that_cannot_be_rendered_fails_at_once_without_retries(fake):
    with make_queue(fake, max_attempts=5) as q:
        job = q.submit(Receipt().qr("x" * 3000, level="H")).wait(WAIT)
    assert (job.state, job.attempts, job.error_kind) == (JobState.FAILED, 1, "invalid")
    assert "too large" in job.error


def test_reprint_of_a_printed_job_is_a_new_linked_job(fake):
    with make_queue(fake) as q:
        first = q.submit(ticket("K001"))
        first.wait(WAIT)
        copy = q.reprint(first.id)
        job = copy.wait(WAIT)
    assert copy.id != first.id and job.reprint_of == first.id and job.state is JobState.DONE
    assert qr_codes(fake) == ["https://kiosk.example.cn/q/K001"] * 2


def test_unknown_printer_name_and_non_receipts_are_refused(fake):
    q = make_queue(fake)
    with pytest.raises(KeyError, match="unknown printer"):
        q.submit(ticket("L001"), printer="lobby")
    with pytest.raises(TypeError):
        q.submit({"title": "not a receipt"})  # type: ignore[arg-type]


def test_unfinished_jobs_in_the_store_are_resumed_at_start_but_an_interrupted_one_is_not_resent(fake):
    store = InMemoryJobStore()
    interrupted = PrintJob(receipt=ticket("M001"), printer="counter", state=JobState.PRINTING, attempts=1, owner="gone")
    store.add(interrupted)
    queued = PrintJob(receipt=ticket("M002"), printer="counter")
    store.add(queued)
    with make_queue(fake, store=store) as q:
        first = q.wait(interrupted.id, WAIT)
        second = q.wait(queued.id, WAIT)
    # The first may be in the tray already: staff decide, the printer does not print it twice.
    assert (first.state, first.error_kind, first.attempts) == (JobState.FAILED, "interrupted", 1)
    assert "may have printed" in first.error
    assert (second.state, second.attempts) == (JobState.DONE, 1)
    assert qr_codes(fake) == ["https://kiosk.example.cn/q/M002"]


def test_handed_over_jobs_and_jobs_found_only_in_the_store_each_print_once(fake):
    """The worker takes this process's jobs from memory and still finds other processes' jobs in the store."""
    store = InMemoryJobStore()
    with make_queue(fake, store=store, poll_interval=0.2) as q:
        other = make_queue(fake, store=store, owner="another process")  # never started: holds no lease
        assert q.holds("counter") and not other.holds("counter")
        # Printed from the store meanwhile: handed over too, its claim fails and it is skipped.
        stale = PrintJob(receipt=ticket("S000"), printer="counter", state=JobState.DONE)
        store.add(stale)
        with q._lock:
            q._handed["counter"][stale.id] = PrintJob(receipt=ticket("S000"), printer="counter", id=stale.id)
        handles = []
        for i in range(6):
            handles.append(q.submit(ticket(f"S{i + 1:03d}")))
            if i % 2:
                handles.append(other.submit(ticket(f"T{i:03d}")))
        jobs = [q.wait(h.id, WAIT) for h in handles]
        # The stale copy is met when the worker next takes a job from memory: all nine may have come in one
        # read of the store (STORE_BATCH), and then that is after the next poll.
        deadline = time.monotonic() + WAIT
        while q._handed["counter"] and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [job.state for job in jobs] == [JobState.DONE] * 9
    assert sorted(qr_codes(fake)) == sorted(
        [f"https://kiosk.example.cn/q/S{i:03d}" for i in range(1, 7)]
        + [f"https://kiosk.example.cn/q/T{i:03d}" for i in (1, 3, 5)]
    )
    assert store.get(stale.id).state is JobState.DONE and not q._handed["counter"]


def test_a_backlog_the_worker_was_not_handed_prints_job_after_job_not_one_per_poll(fake):
    """Jobs left in the store (a restart, another process) and jobs over the hand-over limit are read
    from the store one after the other, oldest first. With a 60 s poll, one job per poll (as before)
    would not finish within WAIT; the order stays the order they were stored in."""
    store = InMemoryJobStore()
    other = make_queue(fake, store=store, owner="the process before a restart")  # never started
    left = [other.submit(ticket(f"R{i:03d}")) for i in range(4)]
    with make_queue(fake, store=store, poll_interval=60.0) as q:
        assert [q.wait(h.id, WAIT).state for h in left] == [JobState.DONE] * 4
        q.HAND_OVER_LIMIT = 0  # every new job is over the limit: found only in the store
        mine = [q.submit(ticket(f"H{i:03d}")) for i in range(4)]
        assert [q.wait(h.id, WAIT).state for h in mine] == [JobState.DONE] * 4
    assert qr_codes(fake) == [f"https://kiosk.example.cn/q/R{i:03d}" for i in range(4)] + [
        f"https://kiosk.example.cn/q/H{i:03d}" for i in range(4)
    ]


class CountingStore(InMemoryJobStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.after_first_read = lambda: None

    def list_unfinished(self, printer=None, limit=None):
        self.reads += 1
        found = super().list_unfinished(printer, limit)
        if self.reads == 1:
            self.after_first_read()
        return found


def test_a_backlog_is_read_from_the_store_a_few_jobs_at_a_time(fake):
    """Draining a backlog reads STORE_BATCH jobs per query, not one (a third of the print thread's CPU
    under load was that query): 20 jobs left in the store take one read and a last empty one, not 21;
    a job another process claimed after the read found it is skipped, and the order stays the order they
    were stored in."""
    store = CountingStore()
    other = make_queue(fake, store=store, owner="the process before a restart")  # never started
    left = [other.submit(ticket(f"B{i:03d}")) for i in range(20)]
    # Taken by another process after the first read found it, before its turn came.
    store.after_first_read = lambda: store.claim(left[5].id, "another process")
    with make_queue(fake, store=store, poll_interval=60.0) as q:
        done = [q.wait(h.id, WAIT).state for i, h in enumerate(left) if i != 5]
        assert done == [JobState.DONE] * 19
    assert store.get(left[5].id).state is not JobState.DONE  # not printed here (then left for staff, as before)
    assert qr_codes(fake) == [f"https://kiosk.example.cn/q/B{i:03d}" for i in range(20) if i != 5]
    assert store.reads <= 3  # STORE_BATCH = 32: one read, then an empty one (8 took 3 and the empty one)


def test_stopping_during_a_retry_leaves_the_job_queued(fake):
    fake.state = "paper_out"
    store = InMemoryJobStore()
    q = make_queue(fake, store=store, retry_delay=30.0)
    q.start()
    retrying = threading.Event()
    q.add_listener(lambda job: retrying.set() if job.state is JobState.QUEUED and job.attempts == 1 else None)
    handle = q.submit(ticket("N001"))
    assert retrying.wait(WAIT)
    q.stop(timeout=WAIT)
    job = store.get(handle.id)
    assert (job.state, job.attempts) == (JobState.QUEUED, 1)
    assert [j.id for j in store.list_unfinished()] == [handle.id]


def test_queue_with_preview_printer_writes_pngs(tmp_path):
    with PrintQueue(PreviewPrinter(str(tmp_path))) as q:
        job = q.submit(ticket("P001")).wait(WAIT)
    assert job.state is JobState.DONE and job.note.startswith("saved ")
    assert len(list(tmp_path.glob(f"*-{job.id}.png"))) == 1


# -- job records and the in-memory store -----------------------------------------


def test_print_job_round_trips_through_json():
    job = PrintJob(receipt=ticket("Q001"), printer="counter", label="A", state=JobState.FAILED, error="paper out")
    again = PrintJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job and again.state is JobState.FAILED


def test_memory_store_returns_copies_and_keeps_failed_jobs_when_evicting():
    store = InMemoryJobStore(keep_done=2)
    failed = PrintJob(receipt=ticket("R000"), state=JobState.FAILED)
    store.add(failed)
    for i in range(5):
        job = PrintJob(receipt=ticket(f"R{i + 1:03d}"))
        store.add(job)
        job.state = JobState.DONE
        store.update(job)
    recent = store.list_recent()
    assert [j.state for j in recent].count(JobState.DONE) == 2
    assert store.get(failed.id) is not None and [j.id for j in store.list_failed()] == [failed.id]
    copy = store.get(failed.id)
    copy.error = "changed"
    assert store.get(failed.id).error is None
    with pytest.raises(ValueError):
        store.add(failed)
