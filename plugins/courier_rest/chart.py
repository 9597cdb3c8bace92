"""A bar chart drawn as SVG on the server: no chart library, no script, prints cleanly."""

from __future__ import annotations

from markupsafe import Markup, escape


def _nice_top(value: int) -> int:
    """A round axis maximum at or above ``value`` (5, 10, 20, 50, 100 …)."""
    top = 5
    while top < value:
        for step in (2, 2.5, 2):
            top = int(top * step)
            if top >= value:
                break
    return top


def bar_chart(
    labels: list[str],
    values: list[int],
    *,
    title: str,
    highlight: set | None = None,
    width: int = 960,
    height: int = 320,
    label_every: int = 1,
) -> Markup:
    """Bars for ``values`` under ``labels``; bars in ``highlight`` are drawn darker (peak hours)."""
    highlight = highlight or set()
    left, right, top_pad, bottom = 48, 12, 36, 40
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = _nice_top(max(values) if values else 0)
    n = max(len(values), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="22" font-size="16" font-weight="700">{escape(title)}</text>',
    ]
    for i in range(5):
        value = top * i / 4
        y = top_pad + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d0d0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 5:.1f}" font-size="13" text-anchor="end">{value:g}</text>')
    for i, (lab, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top if top else 0
        x = left + i * slot + (slot - bar_w) / 2
        fill = "#7a3e00" if i in highlight else "#d9a066"
        parts.append(
            f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{fill}"><title>{escape(lab)}: {value}</title></rect>'
        )
        if value:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top_pad + plot_h - h - 4:.1f}" font-size="12" '
                f'text-anchor="middle">{value}</text>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 18}" font-size="12" '
                f'text-anchor="middle">{escape(lab)}</text>'
            )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" '
        f'stroke="#1a1a1a"/></svg>'
    )
    return Markup("".join(parts))
