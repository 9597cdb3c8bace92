#!/usr/bin/env python3
"""A dispatch system's side of the kiosk's petition webhook: verify, then accept once.

Standard library only; copy it, or read it as the specification of the check.
Every request the kiosk sends carries::

    X-Petition-Timestamp: 1796536483              (unix seconds when this attempt was sent)
    X-Petition-Signature: v1=<64 hex digits>      (HMAC-SHA256 of "<timestamp>.<body>")
    X-Petition-Message-Id: <uuid>                 (the same on every retry of one message)

and the receiver:

1. recomputes HMAC-SHA256 with the shared secret over the timestamp, a dot
   and the raw body bytes (before any JSON parsing), and compares it with
   :func:`hmac.compare_digest`;
2. refuses a timestamp more than five minutes before or after its own clock,
   so a captured request cannot be replayed later;
3. answers 2xx once it has the message, and treats a message id it has seen
   as done (the kiosk retries until it gets a 2xx: delivery is at least once).

Run it (the secret from the environment, never on the command line)::

    PETITIONS_WEBHOOK_SECRET=... python3 examples/webhook_receiver.py --port 8080

It prints ``listening on <port>`` and then one JSON line per accepted message.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMESTAMP_HEADER = "X-Petition-Timestamp"
SIGNATURE_HEADER = "X-Petition-Signature"
MAX_AGE_SECONDS = 300
MAX_BODY = 1024 * 1024


def expected_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Petition-Signature`` value the kiosk sends for ``body`` at ``timestamp``."""
    return "v1=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
    max_age: int = MAX_AGE_SECONDS,
) -> str:
    """Why the request must be refused, or "" when it is authentic and fresh."""
    if not secret:
        return "receiver has no secret"
    if not timestamp or not timestamp.isdigit() or not signature:
        return "missing timestamp or signature"
    # The signature first: a caller without the secret learns nothing about the clock check.
    expected = expected_signature(secret, timestamp, body).encode()
    if not hmac.compare_digest(signature.encode("ascii", "replace"), expected):
        return "bad signature"
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > max_age:
        return "timestamp too old or in the future"
    return ""


class Receiver(ThreadingHTTPServer):
    """The HTTP server: ``secret``, the message ids already accepted, and where accepted bodies go."""

    def __init__(self, address, secret: bytes, out=sys.stdout, max_age: int = MAX_AGE_SECONDS):
        super().__init__(address, Handler)
        self.secret = secret
        self.out = out
        self.max_age = max_age
        self.seen: set[str] = set()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            return self._answer(413 if length else 400, "body missing or too large")
        body = self.rfile.read(length)
        reason = verify(
            self.server.secret,
            self.headers.get(TIMESTAMP_HEADER),
            self.headers.get(SIGNATURE_HEADER),
            body,
            max_age=self.server.max_age,
        )
        if reason:
            return self._answer(401, reason)
        message = json.loads(body)
        message_id = self.headers.get("X-Petition-Message-Id") or message.get("message_id", "")
        # A real receiver keeps the ids it filed in its database; a set is enough for an example.
        with self.server.lock:
            duplicate = message_id in self.server.seen
            self.server.seen.add(message_id)
        if not duplicate:
            # Here a real dispatch system files the request; this one prints it.
            print(
                json.dumps(
                    {"accepted": message_id, "event": message.get("event"), "tracking_no": message.get("tracking_no")},
                    ensure_ascii=False,
                ),
                file=self.server.out,
                flush=True,
            )
        return self._answer(200, "duplicate" if duplicate else "accepted")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        print(format % args, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port (printed)")
    parser.add_argument("--max-age", type=int, default=MAX_AGE_SECONDS, help="seconds a timestamp may be off")
    args = parser.parse_args(argv)
    secret = os.environ.get("PETITIONS_WEBHOOK_SECRET", "").encode("utf-8")
    if not secret:
        print("set PETITIONS_WEBHOOK_SECRET to the secret the kiosk signs with", file=sys.stderr)
        return 2
    server = Receiver((args.host, args.port), secret, max_age=args.max_age)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
