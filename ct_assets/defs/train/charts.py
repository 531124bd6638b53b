"""The evaluation report's charts (ROC and calibration), written as SVG.

Both charts live on the unit square, so each is a frame, a grid, the diagonal and a line per
model: a few dozen SVG elements, written here directly. Matplotlib drew them before, and its
text layout and PNG encoding cost 0.2 s of CPU per chart, in every evaluation (more than the
rest of the asset outside `core/`; `ct bench pipeline`). An SVG is also sharp at any zoom, in
the Dagster UI (inline, as a data URI in the Markdown metadata) and in MLflow's artifact view.
"""

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

WIDTH, HEIGHT = 420, 380                       # px, the chart's own size
LEFT, RIGHT, TOP, BOTTOM = 54, 14, 30, 46      # margins around the plot area
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
CHAR_WIDTH = 0.62                              # of the font size: legend box sizing only


@dataclass(frozen=True)
class Line:
    """One model's curve: points on the unit square, in drawing order."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    markers: bool = False


def _pixels(x: Sequence[float], y: Sequence[float],
            thin: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The points in the chart's pixels (half-pixel steps); with `thin`, without the ones a
    reader cannot see: repeats, and the inner points of horizontal or vertical runs (a ROC
    curve of a few thousand flights is a staircase of a few thousand points, drawn with a few
    hundred). Points drawn as markers are all kept."""
    px = np.round((LEFT + np.clip(np.asarray(x, dtype=float), 0, 1) * PLOT_W) * 2) / 2
    py = np.round((TOP + (1 - np.clip(np.asarray(y, dtype=float), 0, 1)) * PLOT_H) * 2) / 2
    finite = np.isfinite(px) & np.isfinite(py)
    px, py = px[finite], py[finite]
    if not thin or len(px) < 3:
        return px, py
    moved = np.r_[True, (np.diff(px) != 0) | (np.diff(py) != 0)]
    px, py = px[moved], py[moved]
    if len(px) < 3:
        return px, py
    inner = (((px[:-2] == px[1:-1]) & (px[1:-1] == px[2:]))
             | ((py[:-2] == py[1:-1]) & (py[1:-1] == py[2:])))
    keep = np.r_[True, ~inner, True]
    return px[keep], py[keep]


def _text(x: float, y: float, text: str, *, size: int = 11, anchor: str = "middle",
          extra: str = "") -> str:
    return (f'<text x="{x:g}" y="{y:g}" font-size="{size}" text-anchor="{anchor}" {FONT}'
            f'{" " + extra if extra else ""}>{escape(text)}</text>')


def _legend(lines: Sequence[Line], corner: str) -> list[str]:
    size, row = 10, 15
    width = max(len(line.label) for line in lines) * size * CHAR_WIDTH + 40
    height = row * len(lines) + 8
    right = LEFT + 6 + width if corner.endswith("left") else LEFT + PLOT_W - 6
    top = TOP + 6 if corner.startswith("upper") else TOP + PLOT_H - 6 - height
    out = [f'<rect x="{right - width:.1f}" y="{top}" width="{width:.1f}" height="{height}" '
           'fill="white" fill-opacity="0.85" stroke="#cccccc"/>']
    for i, line in enumerate(lines):
        y = top + 4 + row * i + row / 2
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<line x1="{right - 28}" y1="{y}" x2="{right - 8}" y2="{y}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        out.append(_text(right - 34, y + size * 0.35, line.label, size=size, anchor="end"))
    return out


def unit_square_chart(title: str, xlabel: str, ylabel: str, lines: Sequence[Line], *,
                      legend: str = "lower right") -> str:
    """An SVG line chart of `lines` on [0, 1] x [0, 1], with the diagonal dotted (chance for
    a ROC curve, perfect calibration for a calibration curve); `legend`: "lower right" or
    "upper left"."""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}">',
           f"<title>{escape(title)}</title>",
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    for tick in TICKS:
        x, y = LEFT + tick * PLOT_W, TOP + (1 - tick) * PLOT_H
        out.append(f'<line x1="{x:g}" y1="{TOP}" x2="{x:g}" y2="{TOP + PLOT_H}" '
                   'stroke="#eeeeee"/>')
        out.append(f'<line x1="{LEFT}" y1="{y:g}" x2="{LEFT + PLOT_W}" y2="{y:g}" '
                   'stroke="#eeeeee"/>')
        out.append(_text(x, TOP + PLOT_H + 15, f"{tick:.1f}", size=10))
        out.append(_text(LEFT - 6, y + 3.5, f"{tick:.1f}", size=10, anchor="end"))
    out.append(f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{LEFT + PLOT_W}" y2="{TOP}" '
               'stroke="grey" stroke-dasharray="2 3"/>')
    for i, line in enumerate(lines):
        colour = COLOURS[i % len(COLOURS)]
        px, py = _pixels(line.x, line.y, thin=not line.markers)
        points = " ".join(f"{a:g},{b:g}" for a, b in zip(px, py, strict=True))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                   'stroke-width="1.6" stroke-linejoin="round"/>')
        if line.markers:
            out += [f'<circle cx="{a:g}" cy="{b:g}" r="3" fill="{colour}"/>'
                    for a, b in zip(px, py, strict=True)]
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" '
               'stroke="#333333"/>')
    out.append(_text(WIDTH / 2, 18, title, size=12))
    out.append(_text(LEFT + PLOT_W / 2, HEIGHT - 10, xlabel))
    out.append(_text(14, TOP + PLOT_H / 2, ylabel,
                     extra=f'transform="rotate(-90 14 {TOP + PLOT_H / 2:g})"'))
    if lines:
        out += _legend(lines, legend)
    out.append("</svg>")
    return "\n".join(out)


def markdown_image(svg: str, alt: str) -> str:
    """The chart inline in Markdown metadata (the Dagster UI shows data URIs)."""
    return f"![{alt}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"
