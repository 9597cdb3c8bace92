"""Cutting a serial byte stream into reads.

Serial card readers and scanners have no common frame format: some end each read
with CR/LF, RFID modules such as the RDM6300 wrap it in STX ... ETX, others send a
fixed number of bytes. A framer turns arbitrary chunks of the stream (the OS hands
them over in whatever pieces it likes) into whole frames.

Every framer drops a half-received frame once the line has been idle longer than
``gap`` seconds: a reader sends one read as a single burst, so a long pause means
bytes were lost, and without the reset a fixed-length stream would stay shifted
for good.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_GAP = 0.2
# Enough for any card number or QR payload; past this the line is noise.
MAX_FRAME = 4096


class Framer:
    """Splits a byte stream into frames; one instance per open port."""

    def __init__(
        self,
        *,
        start: bytes = b"",
        end: bytes = b"",
        length: int | None = None,
        any_of_end: bool = False,
        gap: float = DEFAULT_GAP,
    ) -> None:
        if length is not None and length <= 0:
            raise ValueError("framing length must be positive")
        if not end and length is None:
            raise ValueError("a framing needs an end marker or a length")
        if end and length is not None:
            raise ValueError("a framing has either an end marker or a length, not both")
        self.start = start
        self.end = end
        self.length = length
        # True for line framing: any single byte of ``end`` ends the frame, so CR,
        # LF and CRLF terminated readers all work with one setting.
        self.any_of_end = any_of_end
        self.gap = gap
        self._buffer = bytearray()
        self._in_frame = not start
        self._last_byte_at: float | None = None

    def feed(self, data: bytes, now: float) -> list[bytes]:
        """Add bytes received at monotonic time ``now``; return the frames completed."""
        if not data:
            return []
        if self.gap > 0 and self._last_byte_at is not None and now - self._last_byte_at > self.gap:
            self.reset()
        self._last_byte_at = now
        frames: list[bytes] = []
        for byte in data:
            frame = self._take(byte)
            if frame is not None:
                frames.append(frame)
        return frames

    def reset(self) -> None:
        """Forget any partly received frame."""
        self._buffer.clear()
        self._in_frame = not self.start

    def _take(self, byte: int) -> bytes | None:
        buf = self._buffer
        if not self._in_frame:
            # Hunt for the start marker; bytes before it are line noise.
            buf.append(byte)
            if buf.endswith(self.start):
                buf.clear()
                self._in_frame = True
            elif len(buf) >= len(self.start):
                del buf[: len(buf) - len(self.start) + 1]
            return None
        if self.any_of_end and byte in self.end:
            return self._complete(bytes(buf))
        buf.append(byte)
        if self.end and not self.any_of_end and buf.endswith(self.end):
            return self._complete(bytes(buf[: -len(self.end)]))
        if self.length is not None and len(buf) == self.length:
            return self._complete(bytes(buf))
        if len(buf) > MAX_FRAME:
            self.reset()
        return None

    def _complete(self, frame: bytes) -> bytes | None:
        self.reset()
        # An empty frame is the LF of a CRLF pair, not a read.
        return frame or None


def _hex_bytes(value: object, key: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f'framing {key!r} must be a hex string such as "02"')
    try:
        result = bytes.fromhex(value)
    except ValueError as exc:
        raise ValueError(f"framing {key!r}: {value!r} is not hex") from exc
    if not result:
        raise ValueError(f"framing {key!r} must not be empty")
    return result


LINE_FRAMINGS = {"crlf": b"\r\n", "cr": b"\r", "lf": b"\n"}


def framer_from_config(framing: str | Mapping[str, object], gap: float = DEFAULT_GAP) -> Framer:
    """Build a framer from the station config's ``"framing"`` value.

    ``"crlf"`` (a read ends at CR or LF, whichever the device sends), ``"cr"``,
    ``"lf"``; ``{"start": "02", "end": "03"}`` (hex markers, ``start`` optional);
    ``{"length": 10}`` (fixed size, optionally with ``"start"``).
    """
    if isinstance(framing, str):
        try:
            ends = LINE_FRAMINGS[framing]
        except KeyError:
            raise ValueError(f"unknown framing {framing!r}; use one of {sorted(LINE_FRAMINGS)} or a mapping") from None
        return Framer(end=ends, any_of_end=True, gap=gap)
    if not isinstance(framing, Mapping):
        raise ValueError("framing must be a string or a mapping")
    unknown = set(framing) - {"start", "end", "length"}
    if unknown:
        raise ValueError(f"unknown framing keys: {sorted(unknown)}")
    start = _hex_bytes(framing["start"], "start") if "start" in framing else b""
    end = _hex_bytes(framing["end"], "end") if "end" in framing else b""
    length = framing.get("length")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
        raise ValueError("framing 'length' must be an integer")
    return Framer(start=start, end=end, length=length, gap=gap)
