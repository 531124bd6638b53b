"""The evaluation report's SVG charts (`ct_assets/defs/train/charts.py`)."""

from xml.etree import ElementTree

import numpy as np

from ct_assets.core import evaluation
from ct_assets.defs.train import charts

SVG = "{http://www.w3.org/2000/svg}"


def _points(element) -> np.ndarray:
    return np.array([[float(v) for v in pair.split(",")]
                     for pair in element.get("points").split()])


def _to_unit(px: np.ndarray) -> np.ndarray:
    return np.c_[(px[:, 0] - charts.LEFT) / charts.PLOT_W,
                 1 - (px[:, 1] - charts.TOP) / charts.PLOT_H]


def test_a_roc_staircase_is_drawn_with_few_points_and_its_shape_kept():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000).astype(bool)
    p = np.clip(y * 0.25 + rng.random(5000) * 0.75, 0, 1)
    fpr, tpr = evaluation.roc_curve(y, p)
    svg = charts.unit_square_chart("ROC", "fpr", "tpr",
                                   [charts.Line("model <A> & B", fpr, tpr)])
    root = ElementTree.fromstring(svg)           # well-formed, the label escaped
    (line,) = root.iter(f"{SVG}polyline")
    drawn = _to_unit(_points(line))
    assert len(drawn) < len(fpr) / 5
    # from (0, 0) to (1, 1), never going back, and every drawn point is within half a pixel
    # of the curve's own points
    assert drawn[0].tolist() == [0.0, 0.0] and drawn[-1].tolist() == [1.0, 1.0]
    assert (np.diff(drawn[:, 0]) >= 0).all() and (np.diff(drawn[:, 1]) >= 0).all()
    curve = np.c_[fpr, tpr]
    nearest = np.abs(drawn[:, None, :] - curve[None, :, :]).max(axis=2).min(axis=1)
    assert nearest.max() <= 0.5 / min(charts.PLOT_W, charts.PLOT_H) + 1e-9
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "model <A> & B" in texts and "ROC" in texts and "fpr" in texts
    assert texts.count("0.4") == 2                      # a tick label on each axis


def test_a_calibration_curve_keeps_every_bin_as_a_marker_and_its_legend_upper_left():
    predicted, observed = [0.05, 0.15, 0.25, 0.35], [0.1, 0.1, 0.1, 0.4]   # a flat run
    svg = charts.unit_square_chart("Calibration", "predicted", "observed",
                                   [charts.Line("candidate", predicted, observed, markers=True),
                                    charts.Line("champion", [0.5], [0.5], markers=True)],
                                   legend="upper left")
    root = ElementTree.fromstring(svg)
    first, second = list(root.iter(f"{SVG}polyline"))
    assert len(_points(first)) == 4 and len(_points(second)) == 1
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 5
    assert {c.get("fill") for c in circles} == set(charts.COLOURS[:2])
    legend_box = [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity")][0]
    assert float(legend_box.get("x")) < charts.LEFT + charts.PLOT_W / 2
    assert float(legend_box.get("y")) < charts.TOP + charts.PLOT_H / 2


def test_the_markdown_image_is_an_inline_svg():
    svg = charts.unit_square_chart("t", "x", "y", [])
    image = charts.markdown_image(svg, "ROC")
    assert image.startswith("![ROC](data:image/svg+xml;base64,") and image.endswith(")")
