"""Contact and contactless smart-card readers through PC/SC (pcscd + pyscard).

The card's UID is read with the PC/SC part 3 pseudo-APDU GET DATA
(``FF CA 00 00 00``), which every CCID contactless reader answers for the card in
its field, so the kiosk needs no per-card-type code. Uses the low-level
``smartcard.scard`` API: it allows waiting for a card with a timeout and
cancelling that wait from ``stop()``.
"""

from __future__ import annotations

import logging

from smartcard import scard

from kiosk_hardware.readers.base import DeviceUnavailable, Reader
from kiosk_hardware.readers.events import KIND_CARD, KIND_REMOVED

log = logging.getLogger(__name__)

GET_UID_APDU = [0xFF, 0xCA, 0x00, 0x00, 0x00]
SW_SUCCESS = (0x90, 0x00)

WAIT_TIMEOUT_MS = 1000
#: How long ``kiosk doctor`` waits for pcscd to list its readers.
PROBE_SECONDS = 3.0

# Answers meaning the service or the reader went away: retry later.
GONE = frozenset(
    {
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_E_NO_READERS_AVAILABLE,
        scard.SCARD_E_UNKNOWN_READER,
        scard.SCARD_E_READER_UNAVAILABLE,
        scard.SCARD_E_INVALID_HANDLE,
        # What a wait in progress gets when pcscd dies under it.
        scard.SCARD_F_COMM_ERROR,
    }
)


class PcscError(Exception):
    """pcscd refused a request for a reason other than the reader being gone."""

    def __init__(self, what: str, hresult: int) -> None:
        super().__init__(f"{what}: {scard.SCardGetErrorMessage(hresult).strip()} (0x{hresult & 0xFFFFFFFF:08X})")
        self.hresult = hresult


def _check(what: str, hresult: int) -> None:
    if hresult == scard.SCARD_S_SUCCESS:
        return
    if hresult in GONE:
        raise DeviceUnavailable(f"{what}: {scard.SCardGetErrorMessage(hresult).strip()}")
    raise PcscError(what, hresult)


def uid_from_response(response: list[int]) -> str | None:
    """The UID as upper-case hex from a GET DATA response, None if the card refused."""
    if len(response) < 2 or tuple(response[-2:]) != SW_SUCCESS:
        return None
    return bytes(response[:-2]).hex().upper()


class PcscReader(Reader):
    """The first PC/SC reader whose name contains ``reader`` (any reader if None).

    Emits a ``"card"`` event with the UID when a card arrives and, with
    ``report_removal``, a ``"removed"`` event (value: the same UID) when it
    leaves. Removal is opt-in because plugins written against the
    ``handle_reader_event`` hook expect only reads. A card already lying on the
    reader when it is opened is not reported: after a restart or a reconnect it
    would otherwise be read again for whoever stands at the screen next.
    """

    backend = "pcsc"

    def __init__(
        self,
        name: str,
        reader: str | None = None,
        *,
        event_kind: str = KIND_CARD,
        report_removal: bool = False,
    ) -> None:
        super().__init__(name, event_kind=event_kind)
        self.reader_match = reader
        self.report_removal = report_removal
        self._context: int | None = None
        self._reader_name: str | None = None

    def probe(self) -> tuple[bool | None, str]:
        """pcscd answers and lists a matching reader (asked on a thread, for at most PROBE_SECONDS)."""
        import threading

        answer: list[tuple[bool | None, str]] = []

        def ask() -> None:
            answer.append(self._list_readers())

        thread = threading.Thread(target=ask, name=f"probe-{self.name}", daemon=True)
        thread.start()
        thread.join(PROBE_SECONDS)
        if not answer:
            return False, f"pcscd did not answer within {PROBE_SECONDS:g} s: systemctl restart pcscd"
        return answer[0]

    def _list_readers(self) -> tuple[bool | None, str]:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            return False, (
                f"pcscd does not answer ({scard.SCardGetErrorMessage(hresult).strip()}): "
                "install and start it (apt install pcscd; systemctl enable --now pcscd.socket)"
            )
        try:
            hresult, names = scard.SCardListReaders(context, [])
        finally:
            scard.SCardReleaseContext(context)
        if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_NO_READERS_AVAILABLE):
            return False, f"pcscd answers but cannot list readers: {scard.SCardGetErrorMessage(hresult).strip()}"
        names = names if hresult == scard.SCARD_S_SUCCESS else []
        matching = sorted(n for n in names if self.reader_match is None or self.reader_match in n)
        if not matching:
            wanted = f"matching {self.reader_match!r}" if self.reader_match else "at all"
            seen = f" (it sees: {', '.join(names)})" if names else ""
            return False, f"pcscd answers but lists no reader {wanted}{seen}: is it plugged in?"
        return True, f"pcscd answers; reader {matching[0]}"

    def _open(self) -> str:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check("PC/SC service", hresult)
        try:
            hresult, names = scard.SCardListReaders(context, [])
            if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
                names = []
            else:
                _check("listing readers", hresult)
            matching = sorted(n for n in names if self.reader_match is None or self.reader_match in n)
            if not matching:
                wanted = f"matching {self.reader_match!r}" if self.reader_match else "at all"
                raise DeviceUnavailable(f"no PC/SC reader {wanted}")
        except BaseException:
            scard.SCardReleaseContext(context)
            raise
        self._context = context
        self._reader_name = matching[0]
        return self._reader_name

    def _serve(self) -> None:
        context, reader = self._context, self._reader_name
        assert context is not None and reader is not None
        known_state = scard.SCARD_STATE_UNAWARE
        first = True
        present_uid: str | None = None
        while not self.stopping:
            hresult, states = scard.SCardGetStatusChange(context, WAIT_TIMEOUT_MS, [(reader, known_state)])
            if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
                continue
            _check(f"waiting on {reader}", hresult)
            _, event_state, _atr = states[0]
            if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                raise DeviceUnavailable(f"{reader} removed")
            known_state = event_state & ~scard.SCARD_STATE_CHANGED
            card_here = bool(event_state & scard.SCARD_STATE_PRESENT) and not (event_state & scard.SCARD_STATE_MUTE)
            if first:
                first = False
                if card_here:
                    present_uid = ""
                    self._set_detail(f"{reader}: card present at start, waiting for it to leave")
                    continue
            if card_here and present_uid is None:
                present_uid = self._read_uid(context, reader) or ""
                if present_uid:
                    self._emit(present_uid)
            elif not card_here and present_uid is not None:
                self._set_detail(reader)
                if present_uid and self.report_removal:
                    self._emit(present_uid, KIND_REMOVED)
                present_uid = None

    def _read_uid(self, context: int, reader: str) -> str | None:
        hresult, card, protocol = scard.SCardConnect(
            context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if hresult != scard.SCARD_S_SUCCESS:
            # Typically the card left the field again before we could talk to it.
            log.info("reader %s: cannot connect to card: %s", self.name, scard.SCardGetErrorMessage(hresult))
            return None
        try:
            hresult, response = scard.SCardTransmit(card, protocol, GET_UID_APDU)
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        if hresult != scard.SCARD_S_SUCCESS:
            log.info("reader %s: GET UID failed: %s", self.name, scard.SCardGetErrorMessage(hresult))
            return None
        uid = uid_from_response(response)
        if uid is None:
            sw = bytes(response[-2:]).hex().upper()
            self._set_detail(f"{reader}: card gave no UID (SW {sw})")
        return uid

    def _close(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def _interrupt(self) -> None:
        context = self._context
        if context is not None:
            scard.SCardCancel(context)
