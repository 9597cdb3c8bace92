"""The preview printer: each receipt becomes a PNG file (the demo default)."""

from __future__ import annotations

import itertools
import os
import re
import tempfile
import time

from kiosk_hardware.errors import PrinterConfigError, PrinterUnreachable
from kiosk_hardware.printers.base import Connection, Printer, PrintResult
from kiosk_hardware.receipt import Receipt
from kiosk_hardware.status import Online, Paper, PrinterStatus

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class PreviewPrinter(Printer):
    """Writes ``<folder>/<time>-<job>.png`` per receipt; always online with paper."""

    kind = "preview"

    def __init__(self, folder: str, **kwargs) -> None:
        kwargs.setdefault("status", False)
        super().__init__(**kwargs)
        self.folder = folder
        self.last_path: str | None = None
        self._seq = itertools.count(1)

    def describe(self) -> str:
        """Where the previews go, for logs."""
        return f"preview {self.folder} ({self.profile.name})"

    def _open(self) -> Connection:  # pragma: no cover - nothing to open; see print_receipt
        raise PrinterConfigError("the preview printer has no device")

    def status(self) -> PrinterStatus:
        """Online with paper when the folder can be written, unreachable otherwise."""
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            return PrinterStatus(reachable=False, detail=f"cannot create {self.folder}: {exc}")
        if not os.access(self.folder, os.W_OK):
            return PrinterStatus(reachable=False, detail=f"{self.folder} is not writable")
        return PrinterStatus(online=Online.ONLINE, paper=Paper.OK, detail="preview")

    def print_receipt(self, receipt: Receipt, *, job_id: str | None = None) -> PrintResult:
        """Render and save the receipt; the file appears whole or not at all."""
        from kiosk_hardware.preview import preview_png  # Pillow: loaded with the first receipt, not at start

        png = preview_png(receipt, self.profile)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{_SAFE.sub('_', job_id) if job_id else next(self._seq)}.png"
        path = os.path.join(self.folder, name)
        with self._lock:
            try:
                os.makedirs(self.folder, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".part")
            except OSError as exc:
                raise PrinterUnreachable(f"cannot write preview to {self.folder}: {exc}") from exc
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(png)
                os.replace(tmp, path)
            except OSError as exc:
                os.unlink(tmp)
                raise PrinterUnreachable(f"cannot write preview to {self.folder}: {exc}") from exc
            self.last_path = path
        return PrintResult(len(png), None, None, True, f"saved {path}")

    def print_bytes(self, data: bytes, *, job_id: str | None = None) -> PrintResult:
        """Not supported: a preview is made from the receipt, not from printer bytes."""
        raise PrinterConfigError("the preview printer prints receipts, not raw ESC/POS bytes")
