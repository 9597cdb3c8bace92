"""A virtual contactless card for the vsmartcard ``vpcd`` PC/SC driver.

``vpcd`` (Debian package vsmartcard-vpcd) is a pcscd reader driver that listens on a
TCP port; whatever connects to it is "the card in the reader". This module is the
card side of that protocol, so PC/SC code can be tested through the real pcscd and
the real pyscard instead of a mocked library. Every frame in both directions is
``2-byte big-endian length + payload``; a 1-byte payload from vpcd is a control
message, anything longer is a command APDU that must be answered.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

VPCD_DEFAULT_PORT = 35963

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04

# The ATR a PC/SC part 3 contactless reader reports for a MIFARE Classic 1K: the same
# bytes the kiosk sees from a real community card on a real reader.
MIFARE_1K_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")

SW_OK = b"\x90\x00"
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"


class VirtualCard:
    """A card that answers ``FF CA 00 00 Le`` (GET DATA: UID) with a fixed UID.

    With ``uid=None`` it refuses GET DATA (SW 6A 81), like a card whose reader
    cannot report a UID.

    ``insert()`` connects to vpcd (the card lands on the reader), ``remove()``
    closes the connection (the card is lifted). Every APDU received is recorded
    in ``apdus`` so tests can check the exact bytes the reader code sent.
    """

    def __init__(
        self,
        uid: bytes | None,
        *,
        port: int = VPCD_DEFAULT_PORT,
        host: str = "127.0.0.1",
        atr: bytes = MIFARE_1K_ATR,
    ) -> None:
        self.uid = uid
        self.atr = atr
        self.host = host
        self.port = port
        self.apdus: list[bytes] = []
        self.powered = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def inserted(self) -> bool:
        """True while the card is connected to the virtual reader."""
        return self._sock is not None

    def insert(self, timeout: float = 5.0) -> None:
        """Connect to vpcd, retrying while pcscd is still bringing the driver up."""
        if self._sock is not None:
            raise RuntimeError("card is already inserted")
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        label = self.uid.hex() if self.uid else "no-uid"
        self._thread = threading.Thread(target=self._serve, args=(sock,), name=f"vicc-{label}", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Lift the card: close the connection so vpcd reports the slot empty."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        # shutdown() wakes the serving thread out of recv(); close() alone would not.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def answer(self, apdu: bytes) -> bytes:
        """Return the response APDU (data + SW1 SW2) for one command APDU."""
        if len(apdu) < 4:
            return SW_WRONG_P1P2
        cla, ins, p1, p2 = apdu[:4]
        if cla != 0xFF:
            return SW_CLA_NOT_SUPPORTED
        if ins != 0xCA:
            return SW_INS_NOT_SUPPORTED
        if (p1, p2) != (0x00, 0x00):
            return SW_WRONG_P1P2
        if self.uid is None:
            return SW_FUNCTION_NOT_SUPPORTED
        le = apdu[4] if len(apdu) > 4 else 0
        # Le = 0 means "all of it" (PC/SC part 3, GET DATA).
        return (self.uid if le == 0 else self.uid[:le]) + SW_OK

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                payload = _recv_frame(sock)
                if payload is None:
                    return
                reply = self._handle(payload)
                if reply is not None:
                    sock.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:
            # The socket was closed by remove() or by pcscd going away.
            return

    def _handle(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            ctrl = payload[0]
            if ctrl == CTRL_GET_ATR:
                return self.atr
            if ctrl in (CTRL_POWER_ON, CTRL_RESET):
                self.powered = True
            elif ctrl == CTRL_POWER_OFF:
                self.powered = False
            return None
        with self._lock:
            self.apdus.append(payload)
        return self.answer(payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        # vpcd writes the length and the APDU in two sends; acknowledging at once
        # keeps its Nagle algorithm from holding the APDU for our delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _recv_frame(sock: socket.socket) -> bytes | None:
    header = _recv_exact(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    return _recv_exact(sock, length) if length else b""
