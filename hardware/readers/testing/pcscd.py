"""Running pcscd with the vpcd virtual reader for tests.

pcscd's client socket has a fixed path (/run/pcscd/pcscd.comm), so only one pcscd
can run per machine. ``PcscdService`` therefore takes a machine-wide file lock for
as long as it is in use (parallel pytest-xdist workers, or two test runs at once,
take turns) and starts its own pcscd reading a private reader.conf directory that
puts vpcd on a free port. If a pcscd it did not start is already running (a
developer's desktop), it is used as it is, with the vpcd port from
/etc/reader.conf.d/vpcd, and ``owns_daemon`` is False.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from kiosk_hardware.readers.testing.vicc import VPCD_DEFAULT_PORT

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_PIDFILE = Path("/run/pcscd/pcscd.pid")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
LOCK_PATH = Path("/tmp/kiosk-tests-pcscd.lock")
READER_NAME = "Virtual PCD"


def missing_requirement() -> str | None:
    """Why PC/SC tests cannot run here (naming the Debian package), or None."""
    if shutil.which("pcscd") is None:
        return "pcscd not installed (Debian package: pcscd)"
    if not VPCD_DRIVER.exists():
        return "vpcd driver not installed (Debian package: vsmartcard-vpcd)"
    try:
        import smartcard  # noqa: F401
    except ImportError:
        return "pyscard not installed (pip install pyscard; Debian: python3-pyscard)"
    return None


def daemon_answers() -> bool:
    """True when some pcscd accepts connections on the standard socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(PCSCD_SOCKET))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A free TCP port P with P+1 free too: vpcd serves a second slot on P+1."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port pair for vpcd")


def system_vpcd_port() -> int:
    """The port the system-wide vpcd config listens on."""
    try:
        text = SYSTEM_VPCD_CONF.read_text()
    except OSError:
        return VPCD_DEFAULT_PORT
    match = re.search(r"^\s*DEVICENAME\s+\S*:(0x[0-9a-fA-F]+|\d+)", text, re.MULTILINE)
    return int(match.group(1), 0) if match else VPCD_DEFAULT_PORT


class PcscdService:
    """pcscd serving one vpcd virtual reader on ``port``, for the duration of a test.

    ``start()`` blocks until the reader is listed by PC/SC; ``stop_daemon()`` and
    ``start_daemon()`` restart our pcscd (keeping the lock) to test recovery.
    """

    def __init__(self, workdir: Path, *, lock_path: Path = LOCK_PATH) -> None:
        self.workdir = Path(workdir)
        self.lock_path = lock_path
        self.port = VPCD_DEFAULT_PORT
        self.owns_daemon = False
        self.log_path = self.workdir / "pcscd.log"
        self._lock_fd: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        """Take the machine-wide lock, then start (or adopt) pcscd."""
        self._acquire_lock(timeout)
        try:
            self._kill_orphan()
            if daemon_answers():
                self.port = system_vpcd_port()
                self.owns_daemon = False
                self._wait_for_reader(10.0)
            else:
                self.port = free_port_pair()
                self.owns_daemon = True
                self.start_daemon()
        except BaseException:
            self.stop()
            raise

    def start_daemon(self, timeout: float = 10.0) -> None:
        """Start our own pcscd and wait until the virtual reader is listed."""
        conf_dir = self.workdir / "reader.conf.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "vpcd").write_text(
            f'FRIENDLYNAME "{READER_NAME}"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port}\n"
        )
        # Files left by a pcscd that was killed make the next one refuse to start.
        for stale in (PCSCD_SOCKET, PCSCD_PIDFILE):
            stale.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                ["pcscd", "--foreground", "--config", str(conf_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._record_owner(self._process.pid)
        self._wait_for_reader(timeout)

    def stop_daemon(self) -> None:
        """Stop our pcscd (as if the service crashed or was restarted)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._record_owner(None)

    def stop(self) -> None:
        """Stop our pcscd, if any, and release the lock."""
        self.stop_daemon()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _acquire_lock(self, timeout: float) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise TimeoutError(f"{self.lock_path} held by another test run for {timeout:.0f} s") from None
                time.sleep(0.05)
        self._lock_fd = fd

    def _record_owner(self, pid: int | None) -> None:
        # The lock file names the pcscd we started, so the next run can tell our
        # own leftover (test run killed with SIGKILL) from a system pcscd.
        assert self._lock_fd is not None
        os.ftruncate(self._lock_fd, 0)
        if pid is not None:
            os.pwrite(self._lock_fd, str(pid).encode(), 0)

    def _kill_orphan(self) -> None:
        assert self._lock_fd is not None
        text = os.pread(self._lock_fd, 32, 0).decode(errors="replace").strip()
        if not text.isdigit():
            return
        pid = int(text)
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            comm = ""
        if comm == "pcscd":
            # We hold the lock, so no live test run owns it: a killed run left it behind.
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5.0
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        self._record_owner(None)

    def _wait_for_reader(self, timeout: float) -> None:
        from smartcard import scard

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self._process.returncode}; see {self.log_path}")
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult == scard.SCARD_S_SUCCESS:
                try:
                    hresult, names = scard.SCardListReaders(context, [])
                finally:
                    scard.SCardReleaseContext(context)
                if hresult == scard.SCARD_S_SUCCESS and any(READER_NAME in n for n in names):
                    return
            time.sleep(0.02)
        raise TimeoutError(f"pcscd did not list {READER_NAME!r} within {timeout} s; see {self.log_path}")

    def wait_card(self, present: bool, timeout: float = 5.0) -> None:
        """Block until pcscd itself sees a card in (or no card in) the virtual reader.

        vpcd is polled by pcscd, so a card connects a few hundred ms before PC/SC
        reports it; tests about "a card already there" must wait for that.
        """
        from smartcard import scard

        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise RuntimeError(scard.SCardGetErrorMessage(hresult))
        try:
            hresult, names = scard.SCardListReaders(context, [])
            name = sorted(n for n in names if READER_NAME in n)[0]
            wanted = scard.SCARD_STATE_PRESENT if present else scard.SCARD_STATE_EMPTY
            state = scard.SCARD_STATE_UNAWARE
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                hresult, states = scard.SCardGetStatusChange(context, 200, [(name, state)])
                if hresult == scard.SCARD_S_SUCCESS:
                    state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                    if state & wanted:
                        return
            raise TimeoutError(f"card {'present' if present else 'absent'} not seen within {timeout} s")
        finally:
            scard.SCardReleaseContext(context)
