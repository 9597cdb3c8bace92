"""Network printers that misbehave in ways the fakes of ``kiosk_hardware.testing`` do not: over real sockets.

Each printer here is a small TCP server in the test, driven by what it has
read (never by sleeps), so the order of events does not depend on timing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import tty
from collections.abc import Callable

from kiosk_hardware.job_store import JobState
from kiosk_hardware.print_queue import PrintQueue
from kiosk_hardware.printers import NetworkPrinter, SerialPrinter, UsbPrinter
from kiosk_hardware.printers.network import _Socket, _TcpConnection
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.status import Online, Paper, parse_paper_status
from kiosk_hardware.testing.fake_printer import FakeUsbDevice

ASK_ONLINE = b"\x10\x04\x01"  # DLE EOT 1: the first question before and after a job
ONLINE = b"\x12"  # the answer of a printer that is online (and, to DLE EOT 4, has paper)
PAPER_OUT = b"\x72"  # DLE EOT 4: roll paper out
JOB = b"\x1b@" + "法律咨询 A012\n".encode("gb18030") * 20 + b"\x1dVA\x00"


Send = Callable[[bytes], object]


class ScriptedPrinter:
    """A raw-TCP printer on 127.0.0.1 that runs ``script(send, reader)`` for each connection.

    ``reader.until(marker)`` reads until the next ``marker`` after the one it
    found last (False if the client closed first). The test ends every connection at exit.
    """

    def __init__(self, script: Callable[[Send, _Reader], None]) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.errors: list[str] = []
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.script(conn.sendall, _Reader(conn.recv, self.ended))
        except OSError:
            pass  # the client or the test hung up
        except Exception as exc:  # noqa: BLE001 - a bug in the script: the test shows it
            self.errors.append(repr(exc))

    def __enter__(self) -> ScriptedPrinter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ended.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.thread.join(2)


class _Reader:
    def __init__(self, recv: Callable[[int], bytes], ended: threading.Event) -> None:
        self.recv = recv
        self.ended = ended
        self.data = b""
        self.pos = 0

    def until(self, marker: bytes) -> bool:
        """Read until the next ``marker`` after what the last call found; False if the stream ended first.

        Whatever chunks the kernel hands over (the server thread may run late and get several writes at once).
        """
        while marker not in self.data[self.pos :]:
            try:
                chunk = self.recv(4096)
            except OSError:
                return False
            if not chunk:
                return False
            self.data += chunk
        self.pos = self.data.index(marker, self.pos) + len(marker)
        return True

    def question(self) -> int | None:
        """Read the next ``DLE EOT n`` question and return its ``n`` (None if the stream ended first)."""
        if not self.until(b"\x10\x04"):
            return None
        while len(self.data) <= self.pos:
            chunk = self.recv(4096)
            if not chunk:
                return None
            self.data += chunk
        self.pos += 1
        return self.data[self.pos - 1]

    def hold(self) -> None:
        """Keep the line open and read nothing more, until the test ends."""
        self.ended.wait(30)


class ScriptedSerialPrinter:
    """The printer end of a pseudo-terminal, running ``script(send, reader)`` once; open ``device`` as a serial port."""

    def __init__(self, script: Callable[[Send, _Reader], None]) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.device = os.ttyname(self.slave)
        self.errors: list[str] = []
        self.ended = threading.Event()

        def run() -> None:
            try:
                script(lambda data: os.write(self.master, data), _Reader(lambda n: os.read(self.master, n), self.ended))
            except Exception as exc:  # noqa: BLE001 - a bug in the script: the test shows it
                self.errors.append(repr(exc))

        self.thread = threading.Thread(target=run, daemon=True)

    def __enter__(self) -> ScriptedSerialPrinter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ended.set()
        os.close(self.slave)  # a read of the master end now fails: the script ends
        self.thread.join(2)
        os.close(self.master)


def late_answer_then_nothing(send: Send, reader: _Reader) -> None:
    """Answers the question before the job only once the job and the question after it are in; then nothing.

    Like a printer on a slow link that then took the job's bytes and died: its
    one answer is to a question asked before the job, and says nothing of it.
    """
    assert reader.until(ASK_ONLINE)  # the question before the job: not answered (yet)
    assert reader.until(ASK_ONLINE)  # the job, then the question after it
    send(ONLINE)  # the late answer to the first question
    reader.hold()


def late_answers_all_in_order(send: Send, reader: _Reader) -> None:
    """Answers every question, in order, but the one before the job only once the job is in."""
    assert reader.until(ASK_ONLINE)
    assert reader.until(ASK_ONLINE)
    send(ONLINE + ONLINE)  # late to the first question, then to the one after the job
    while True:
        if not reader.until(b"\x10\x04"):
            return
        send(ONLINE)  # every further question (paper) at once


def ignores_the_paper_question(send: Send, reader: _Reader) -> None:
    """Answers every status question at once but ``DLE EOT 4``, which it never answers (some printers do not)."""
    while (n := reader.question()) is not None:
        if n != 4:
            send(ONLINE)


def test_a_late_answer_to_the_question_before_a_job_does_not_confirm_the_job():
    with ScriptedPrinter(late_answer_then_nothing) as fake:
        printer = NetworkPrinter("127.0.0.1", fake.port, timeout=2.0, status_timeout=0.1, confirm_timeout=0.5)
        result = printer.print_bytes(JOB)
    assert not fake.errors, fake.errors
    # Nothing answered a question asked after the job: it went out, but nobody says it arrived.
    assert not result.confirmed
    assert "delivery not confirmed" in result.note


def test_a_printer_that_answers_late_but_in_order_still_confirms_the_job():
    with ScriptedPrinter(late_answers_all_in_order) as fake:
        printer = NetworkPrinter("127.0.0.1", fake.port, timeout=2.0, status_timeout=0.1, confirm_timeout=2.0)
        result = printer.print_bytes(JOB)
    assert not fake.errors, fake.errors
    assert result.confirmed and result.after is not None and result.after.known


def test_a_printer_that_never_answers_the_paper_question_still_confirms_its_jobs():
    # The paper question before the job goes unanswered after the printer answered the first one: it is
    # one this printer ignores, not a late answer that the question after the job would have to wait out.
    with ScriptedPrinter(ignores_the_paper_question) as fake:
        printer = NetworkPrinter("127.0.0.1", fake.port, timeout=2.0, status_timeout=0.1, confirm_timeout=0.5)
        results = [printer.print_bytes(JOB) for _ in range(2)]
        status = printer.status()
    assert not fake.errors, fake.errors
    assert [result.confirmed for result in results] == [True, True]
    assert (status.online, status.paper) == (Online.ONLINE, Paper.UNKNOWN)
    with ScriptedSerialPrinter(ignores_the_paper_question) as line:
        serial_result = SerialPrinter(line.device, 115200, status_timeout=0.1, confirm_timeout=0.5).print_bytes(JOB)
    assert not line.errors, line.errors
    assert serial_result.confirmed


def test_the_print_queue_marks_such_a_ticket_sent_not_printed():
    receipt = Receipt().title("法律咨询排队").kv("号码", "A012")
    with ScriptedPrinter(late_answer_then_nothing) as fake:
        printer = NetworkPrinter("127.0.0.1", fake.port, timeout=2.0, status_timeout=0.1, confirm_timeout=0.5)
        with PrintQueue(printer, max_attempts=1) as queue:
            job = queue.submit(receipt, label="A012").wait(10)
    assert job.state is JobState.SENT and job.error_kind == "unconfirmed"


def test_the_answer_is_the_byte_after_those_owed_to_questions_that_timed_out():
    def owes_one(send: Send, reader: _Reader) -> None:
        assert reader.until(ASK_ONLINE)
        assert reader.until(b"\x10\x04\x04")  # the paper question: both answers in one go
        send(ONLINE + PAPER_OUT)
        reader.hold()

    with ScriptedPrinter(owes_one) as fake:
        device = _Socket("127.0.0.1", fake.port, 2.0)
        device.open()
        conn = _TcpConnection(device, 2.0)
        try:
            assert conn.query(1, 0.05) == b""  # not answered in time: owed from now on
            reply = conn.query(4, 2.0)
        finally:
            conn.close()
    assert not fake.errors, fake.errors
    assert reply == PAPER_OUT  # not the first question's late "online"
    assert parse_paper_status(reply) is Paper.OUT


def test_a_late_answer_on_a_serial_line_does_not_confirm_the_job_either():
    with ScriptedSerialPrinter(late_answer_then_nothing) as fake:
        printer = SerialPrinter(fake.device, 115200, timeout=2.0, status_timeout=0.1, confirm_timeout=0.5)
        result = printer.print_bytes(JOB)
    assert not fake.errors, fake.errors
    assert not result.confirmed and "delivery not confirmed" in result.note


def test_a_serial_printer_that_answers_late_but_in_order_still_confirms_the_job():
    with ScriptedSerialPrinter(late_answers_all_in_order) as fake:
        printer = SerialPrinter(fake.device, 115200, timeout=2.0, status_timeout=0.1, confirm_timeout=2.0)
        result = printer.print_bytes(JOB)
    assert not fake.errors, fake.errors
    assert result.confirmed and result.after is not None and result.after.known


class LateFirstAnswerUsb(FakeUsbDevice):
    """A USB printer that keeps its answer to the first question until the question after the job is written.

    ``in_order``: it then answers that one too; otherwise it has died and answers nothing more.
    """

    def __init__(self, *, in_order: bool) -> None:
        super().__init__("ok")
        self.in_order = in_order
        self.questions = 0
        self.held = b""

    def write(self, endpoint: int, data, timeout: int | None = None) -> int:
        written = super().write(endpoint, data, timeout)
        if bytes(data).startswith(b"\x10\x04"):
            self.questions += 1
            if self.questions == 1:
                self.held = bytes(self._replies)
                self._replies.clear()
            elif self.questions == 2:
                own = bytes(self._replies)
                self._replies[:] = self.held + (own if self.in_order else b"")
            elif not self.in_order:
                self._replies.clear()
        return written


def test_a_late_answer_from_a_usb_printer_does_not_confirm_the_job_but_one_in_order_does():
    outcomes = []
    for in_order in (False, True):
        device = LateFirstAnswerUsb(in_order=in_order)
        with device.plugged_in():
            printer = UsbPrinter(0x0416, 0x5011, status_timeout=0.05, confirm_timeout=0.2)
            outcomes.append(printer.print_bytes(JOB).confirmed)
        assert device.completed_jobs
    assert outcomes == [False, True]


# -- through the station: the print_job table, claim_after, the resident's page and the staff list -------------------
WAIT = 15.0


def _ticket_plugin():
    import types

    from kiosk import hookimpl

    mod = types.ModuleType("kiosk_h3_test")

    def build(context):
        return Receipt().title("水贝社区党群服务中心", size=1).text("法律咨询", size=2).text(context["n"], size=4)

    mod.register_receipt_layouts = hookimpl(lambda register: register("h3.ticket", build))
    return mod


def _station(make_app, url, port, **queue):
    printer = {"type": "network", "host": "127.0.0.1", "port": port, "timeout": 2.0, "status_timeout": 0.1}
    return make_app(
        url,
        EXTRA_PLUGINS={"h3": _ticket_plugin()},
        DEVICES={"printer": {**printer, "poll_status": False, **queue}, "readers": {}},
    )


def _print(app, number):
    from kiosk import printing

    with app.test_request_context("/"):
        return printing.print_receipt("h3.ticket", {"n": number})["job_id"]


def _until(app, job_id, done: Callable[[dict], bool]) -> dict:
    """The resident's page's view of the job once ``done(body)``; the last one seen after WAIT seconds."""
    client = app.test_client()
    deadline = time.monotonic() + WAIT
    while True:
        body = client.get(f"/print-jobs/{job_id}").get_json()
        if done(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def _finished(body: dict) -> bool:
    return body["state"] in ("done", "sent", "failed")


def test_a_ticket_whose_only_answer_was_late_is_not_printed_for_the_resident_and_is_on_the_staff_list(
    make_app, database_url
):
    from kiosk.testing import Auth

    with ScriptedPrinter(late_answer_then_nothing) as fake:
        app = _station(make_app, database_url, fake.port, max_attempts=1)
        job = _print(app, "A012")
        body = _until(app, job, _finished)
        assert (body["state"], body["printed"]) == ("sent", False)
        client = app.test_client()
        Auth(app, client).login("staff")
        console = client.get("/staff/").get_data(as_text=True)
    assert f'data-job="{job}"' in console and "打印机没有确认收到" in console
    assert not fake.errors, fake.errors


def test_a_printer_dropping_a_ticket_in_a_backlog_prints_every_ticket_once_and_the_one_before_is_stored_at_once(
    make_app, database_url
):
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    with FakeNetworkPrinter(drop_after=64, drop_times=1) as fake:
        app = _station(make_app, database_url, fake.port, retry_delay=1.0)
        first = [_print(app, f"A{n:03d}") for n in range(1, 4)]
        assert all(_until(app, job, _finished)["state"] == "done" for job in first)
        fake.state = "drop"  # the next ticket's connection breaks off mid-job, once
        backlog = [_print(app, f"A{n:03d}") for n in range(4, 12)]
        # The dropped ticket waits for its retry (a second): the outcome of the one printed before it,
        # which a claim carries, is stored already, not held back by the failure.
        failed_once = _until(app, backlog[0], lambda body: body["attempts"] == 1 and body["state"] == "queued")
        assert (failed_once["state"], failed_once["attempts"]) == ("queued", 1)
        before = app.test_client().get(f"/print-jobs/{first[-1]}").get_json()
        assert before["state"] == "done"
        final = [_until(app, job, _finished) for job in backlog]
        received = [job.parse().text.split()[-1] for job in fake.completed_jobs]
        cut_short = [job for job in fake.jobs if not job.complete]
    assert [body["state"] for body in final] == ["done"] * 8
    assert [body["attempts"] for body in final] == [2] + [1] * 7
    assert received == [f"A{n:03d}" for n in range(1, 12)]  # each once, in order
    assert len(cut_short) == 1 and b"A004" not in cut_short[0].data


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_printers_failing_every_way_leave_no_socket_or_thread_behind():
    """Reset mid-job, silent, stopped reading, paper out, cover open, garbage, switched off: nothing piles up."""
    from kiosk_hardware.errors import PrinterError
    from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

    def garbage(send: Send, reader: _Reader) -> None:
        while reader.until(b"\x10\x04"):
            send(b"\xff\x00")

    fds, threads = _open_fds(), set(threading.enumerate())
    outcomes: list[str] = []

    def attempt(printer: NetworkPrinter) -> None:
        try:
            outcomes.append("confirmed" if printer.print_bytes(JOB).confirmed else "sent")
        except PrinterError as exc:
            outcomes.append(exc.kind)

    with FakeNetworkPrinter() as fake:
        printer = NetworkPrinter("127.0.0.1", fake.port, timeout=0.3, status_timeout=0.5, confirm_timeout=0.5)
        for state in ("drop", "silent", "stall", "paper_out", "offline", "ok"):
            fake.state = state
            for _ in range(3):
                attempt(printer)
    with ScriptedPrinter(garbage) as noisy:
        printer = NetworkPrinter("127.0.0.1", noisy.port, timeout=0.3, status_timeout=0.5, confirm_timeout=0.5)
        for _ in range(3):
            attempt(printer)
    for _ in range(3):
        attempt(printer)  # switched off: nothing listens there any more
    assert outcomes == (
        ["dropped"] * 3
        + ["sent"] * 6  # silent, and stopped reading (a small job fits in the socket buffers)
        + ["paper_out"] * 3
        + ["offline"] * 3
        + ["confirmed"] * 3
        + ["sent"] * 3
        + ["unreachable"] * 3
    )

    def left() -> tuple[int, list[str]]:
        # Other tests' leftovers may end meanwhile: only more descriptors, or threads not there before, count.
        return max(0, _open_fds() - fds), [t.name for t in threading.enumerate() if t not in threads]

    deadline = time.monotonic() + WAIT
    while left() != (0, []) and time.monotonic() < deadline:
        time.sleep(0.02)  # the fakes' connection threads end as their clients hang up
    assert left() == (0, [])
