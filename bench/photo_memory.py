"""Worker memory under photo bombs: small PNGs that decode to ~40 Mpx each, sent in parallel.

Issue 17 point 5: one request with three 38 KB PNGs of 39.7 Mpx added about
200 MB to a worker's peak; six in parallel reached 1.57 GB. This sends
``requests`` parallel phone petitions, each with ``photos`` such PNGs, to a
real `kiosk serve` worker and prints its peak resident memory (``VmHWM``)
before and after, and its resident memory once the load is over.

Then eight requests at once with one 7.8 Mpx PNG each, which are taken.
``python -m bench --only photo_memory`` or ``python -m bench.photo_memory``;
``--unbounded`` takes the decoding bounds away (``photo_decode_*``) to compare.
"""

from __future__ import annotations

import concurrent.futures
import functools
import http.cookiejar
import re
import struct
import sys
import urllib.parse
import urllib.request
import uuid
import zlib

#: 6300 × 6300 = 39.69 Mpx, the size of the issue's bombs.
BOMB_SIDE = 6300
MIB = 1024 * 1024


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@functools.cache
def bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A valid black RGB PNG of ``side`` × ``side`` pixels, some 40 KB, written without holding its pixels."""
    packer = zlib.compressobj(9)
    rows = (b"\x00" + bytes(side * 3)) * 64  # filter byte "none", then black pixels; 64 rows at a time
    parts = [packer.compress(rows) for _ in range(side // 64)]
    parts.append(packer.compress(rows[: (side % 64) * (1 + side * 3)]))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def memory_kib(pid: int) -> dict[str, int]:
    """``VmHWM`` (peak resident) and ``VmRSS`` (resident now) of a process, in KiB."""
    found = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                found[name] = int(value.split()[0])
    return found


def _multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: image/png\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def send_bombs(
    base_url: str, requests: int = 20, photos: int = 3, side: int = BOMB_SIDE, timeout: float = 300.0
) -> list[tuple[int, str]]:
    """Post ``requests`` phone petitions at once, each with ``photos`` black PNGs of ``side`` × ``side``.

    Returns (status, page) of each answer (a sent petition's redirect is followed).
    One phone session (the form's CSRF token and cookie) sends them all.
    """
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base_url + "/m/petitions/", timeout=timeout) as response:
        page = response.read().decode("utf-8", "replace")
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    if found is None:
        raise RuntimeError("no CSRF token on the phone form")
    fields = {
        "csrf_token": found.group(1),
        "type": "help",
        "category": "safety_hazard",
        "place": "other",
        "description": "路灯坏了，晚上很黑",
        "anonymous": "1",
    }
    body, content_type = _multipart(fields, [("photos", f"p{n}.png", bomb_png(side)) for n in range(photos)])

    def one(_n):
        request = urllib.request.Request(
            base_url + "/m/petitions/", data=body, headers={"Content-Type": content_type}, method="POST"
        )
        try:
            with opener.open(request, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    with concurrent.futures.ThreadPoolExecutor(requests) as pool:
        return list(pool.map(one, range(requests)))


#: 2800 × 2800 = 7.8 Mpx: just under the default photo_decode_pixels, so taken and decoded.
ACCEPTED_SIDE = 2800
#: Settings that take the decoding bounds away, for comparison (``--unbounded``).
UNBOUNDED = {
    "KIOSK_PHOTO_DECODE_PIXELS": "200000000",
    "KIOSK_PHOTO_DECODE_CONCURRENCY": "64",
    "KIOSK_PHOTO_DECODE_MEMORY_MB": "65536",
}


def run(requests: int = 20, photos: int = 3, unbounded: bool = False) -> dict:
    """Start `kiosk serve` (one worker, 16 threads), send the bombs, report the worker's memory in MiB.

    Then 8 requests at once with one 7.8 Mpx PNG each (taken: under the bound).
    """
    from bench.serve import BENCH_STATION, Server

    toml = BENCH_STATION.split("[devices.printer]")[0] + BENCH_STATION[BENCH_STATION.index("# Every bench") :]
    toml += "\n[security]\nrate_limits = false  # one address sends everything\n"
    server = Server(workers=1, threads=16, station_toml=toml, env=UNBOUNDED if unbounded else None)
    try:
        server.prepare()
        server.start()
        children = open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read().split()
        worker = int(children[0])
        bomb_png(), bomb_png(ACCEPTED_SIDE)
        send_bombs(server.url, 1, 1, side=64)  # Pillow and the form's code loaded
        before = memory_kib(worker)
        answers = send_bombs(server.url, requests, photos)
        after = memory_kib(worker)
        taken = send_bombs(server.url, 8, 1, side=ACCEPTED_SIDE)
        after_taken = memory_kib(worker)

        def codes(replies):
            out: dict[str, int] = {}
            for status, _page in replies:
                out[str(status)] = out.get(str(status), 0) + 1
            return out

        return {
            "bounds": "off (--unbounded)" if unbounded else "default",
            "requests": requests,
            "photos_each": photos,
            "photo_mpx": round(BOMB_SIDE * BOMB_SIDE / 1e6, 2),
            "photo_kb": round(len(bomb_png()) / 1024, 1),
            "answers": codes(answers),
            "worker_peak_mib_before": round(before["VmHWM"] / 1024, 1),
            "worker_peak_mib_after": round(after["VmHWM"] / 1024, 1),
            "worker_peak_rise_mib": round((after["VmHWM"] - before["VmHWM"]) / 1024, 1),
            "worker_rss_mib_after": round(after["VmRSS"] / 1024, 1),
            "taken_8x_7.8mpx_answers": codes(taken),
            "taken_peak_rise_mib": round((after_taken["VmHWM"] - before["VmHWM"]) / 1024, 1),
            "taken_rss_mib_after": round(after_taken["VmRSS"] / 1024, 1),
        }
    finally:
        server.stop()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    unbounded = "--unbounded" in argv
    # Unbounded, six requests as in the issue: twenty would take minutes and gigabytes.
    result = run(requests=6 if unbounded else 20, unbounded=unbounded)
    for key, value in result.items():
        print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
