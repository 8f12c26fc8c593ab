"""Server-side SVG charts: no JavaScript or asset from the internet, readable without CSS
(each chart has a title and a <desc>, bars have <title> tooltips)."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_BOTTOM, PAD_TOP, PAD_RIGHT = 44, 22, 10, 8
COLORS = ("var(--brand)", "var(--red)", "var(--amber)", "var(--green)", "var(--blue)")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def stacked_bars(labels: list[str], series: list[Series], *, title: str) -> SafeString:
    """Bars per label, series stacked (e.g. successful calls and errors per day)."""
    count = max(len(labels), 1)
    totals = [sum(float(s.values[i]) for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / count
    bar = max(min(slot * 0.7, 28), 2)
    parts = [_axis(top, plot_h)]
    for i, label in enumerate(labels):
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        base = PAD_TOP + plot_h
        for s_index, s in enumerate(series):
            value = float(s.values[i])
            height = plot_h * value / top
            base -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{COLORS[s_index % len(COLORS)]}" rx="2"><title>{escape(label)}: '
                f"{escape(s.name)} {_fmt(value)}</title></rect>"
            )
        if count <= 16 or i % max(count // 8, 1) == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'class="chart-label">{escape(label)}</text>'
            )
    return _svg(title, parts)


def line(labels: list[str], series: list[Series], *, title: str, unit: str = "") -> SafeString:
    count = max(len(labels), 2)
    top = _nice_max(max((float(v) for s in series for v in s.values), default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    parts = [_axis(top, plot_h, unit)]
    for s_index, s in enumerate(series):
        points = " ".join(
            f"{PAD_LEFT + i * plot_w / (count - 1):.1f},"
            f"{PAD_TOP + plot_h - plot_h * float(v) / top:.1f}"
            for i, v in enumerate(s.values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke-width="2" '
            f'stroke="{COLORS[s_index % len(COLORS)]}"><title>{escape(s.name)}'
            f"</title></polyline>"
        )
    step = max(len(labels) // 6, 1)
    for i in range(0, len(labels), step):
        x = PAD_LEFT + i * plot_w / (count - 1)
        # the first and last labels sit on the plot's edges: keep them inside the frame
        anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" '
            f'class="chart-label">{escape(labels[i])}</text>'
        )
    return _svg(title, parts)


def _axis(top: float, plot_h: float, unit: str = "") -> str:
    lines = []
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h - plot_h * fraction
        lines.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="chart-grid"/>'
        )
        lines.append(
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="chart-label">{_fmt(top * fraction)}{escape(unit)}</text>'
        )
    return "".join(lines)


def _svg(title: str, parts: list[str]) -> SafeString:
    body = "".join(parts)
    return mark_safe(  # every piece of text inside was escaped above
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><desc>{escape(title)}</desc>{body}</svg>'
    )


def as_float(value) -> float:
    return float(value or 0) if not isinstance(value, Decimal) else float(value)
