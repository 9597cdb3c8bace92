"""Receipt layouts: the queue ticket (``legal.ticket``) and the booking slip (``legal.booking``).

Builders take a dict whose words are already in the resident's language (the
print queue may build outside the request) and never hold a full phone
number: it is masked again here so no caller can print one by mistake.
"""

from __future__ import annotations

from kiosk.privacy import mask_phone
from kiosk_hardware.receipt import Receipt


def sample_ticket_context(**changes) -> dict:
    """A representative ticket's context in Chinese (as a resident at 水贝 gets it), for benches and tests."""
    context = {
        "station": "水贝社区党群服务中心",
        "service": "法律咨询",
        "ticket": "A012",
        "priority": "",
        "ahead": 3,
        "wait": "约 15 分钟",
        "time": "2024-05-06 09:31",
        "phone": "13812345678",
        "url": "https://hub.example.cn/m/legal/t/7Qx9Kp2LmN4r?s=SZ-LG-0042",
        "labels": {
            "ahead": "前面等候",
            "wait": "预计等候",
            "time": "取号时间",
            "phone": "手机",
            "scan": "扫码查看排队进度，叫号前会提醒您",
            "keep": "请妥善保管此票，过号请重新取号",
        },
    }
    context.update(changes)
    return context


def build_ticket(context: dict) -> Receipt:
    """A queue ticket: station, service, the number big, people ahead, time, QR to the live page.

    ``context`` keys: ``station``, ``service``, ``ticket``, ``priority`` (label or ""),
    ``ahead``, ``wait``, ``time``, ``phone`` (masked or ""), ``url`` and ``labels``
    (``ahead``, ``wait``, ``time``, ``phone``, ``scan``, ``keep``).
    """
    labels = context["labels"]
    receipt = Receipt()
    receipt.title(context["station"], size=1)
    receipt.text(context["service"], size=2, bold=True, align="center")
    receipt.separator()
    receipt.text(context["ticket"], size=4, bold=True, align="center")
    if context.get("priority"):
        receipt.text(context["priority"], bold=True, align="center")
    receipt.separator()
    receipt.kv(labels["ahead"], str(context["ahead"]), bold=True)
    receipt.kv(labels["wait"], context["wait"])
    receipt.kv(labels["time"], context["time"])
    if context.get("phone"):
        receipt.kv(labels["phone"], mask_phone(context["phone"]))
    receipt.qr(context["url"], level="M")
    receipt.text(labels["scan"], align="center")
    receipt.footer(labels["keep"])
    return receipt


def build_booking(context: dict) -> Receipt:
    """A booking slip: service, duty time, lawyer, the booking code big (and as a QR for the scanner).

    ``context`` keys: ``station``, ``service``, ``code``, ``time``, ``lawyer``,
    ``phone`` (masked or "") and ``labels`` (``title``, ``code``, ``time``,
    ``lawyer``, ``phone``, ``how``).
    """
    labels = context["labels"]
    receipt = Receipt()
    receipt.title(context["station"], size=1)
    receipt.text(labels["title"], size=2, bold=True, align="center")
    receipt.text(context["service"], size=2, align="center")
    receipt.separator()
    receipt.kv(labels["code"], context["code"], bold=True, size=2)
    receipt.kv(labels["time"], context["time"])
    if context.get("lawyer"):
        receipt.kv(labels["lawyer"], context["lawyer"])
    if context.get("phone"):
        receipt.kv(labels["phone"], mask_phone(context["phone"]))
    # The kiosk's scanner reads this at check-in instead of typing the code.
    receipt.qr(f"legal-booking:{context['code']}", level="M")
    receipt.footer(labels["how"])
    return receipt
