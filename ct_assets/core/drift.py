"""Effect-size drift scores between two whylogs profiles.

At a thousand rows a day every statistical test rejects "same distribution" for almost any
column, so the decision uses effect sizes instead: the population stability index (PSI) over
the reference's decile bins (numeric) or categories (categorical), and the change of the null
rate. Each is divided by its threshold, so a `severity` of 1 or more means "alarm" whatever
the metric.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ct_assets.core.schema import TableSpec

if TYPE_CHECKING:
    from whylogs.core import DatasetProfileView

_EPS = 1e-4


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.25            # the customary "significant shift" level of PSI
    null_rate: float = 0.10      # absolute change of the share of nulls
    unseen_share: float = 0.05   # share of today's rows with a category the reference never had


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    ref = np.clip(ref / max(ref.sum(), _EPS), _EPS, None)
    cur = np.clip(cur / max(cur.sum(), _EPS), _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _hellinger(ref: np.ndarray, cur: np.ndarray) -> float:
    ref = ref / max(ref.sum(), _EPS)
    cur = cur / max(cur.sum(), _EPS)
    return float(np.sqrt(0.5 * np.sum((np.sqrt(ref) - np.sqrt(cur)) ** 2)))


def _null_rate(view: "DatasetProfileView", column: str) -> float:
    counts = view.get_column(column).get_metric("counts").to_summary_dict()
    return counts["null"] / counts["n"] if counts["n"] else 0.0


def _numeric_bins(ref_view, cur_view, column) -> tuple[np.ndarray, np.ndarray] | None:
    ref_dist = ref_view.get_column(column).get_metric("distribution")
    cur_dist = cur_view.get_column(column).get_metric("distribution")
    if ref_dist is None or cur_dist is None:
        return None
    ref_kll, cur_kll = ref_dist.kll.value, cur_dist.kll.value
    if ref_kll.is_empty() or cur_kll.is_empty():
        return None
    splits = sorted(set(ref_kll.get_quantiles(list(np.linspace(0.1, 0.9, 9)))))
    return np.array(ref_kll.get_pmf(splits)), np.array(cur_kll.get_pmf(splits))


def _frequent(view, column) -> dict[str, float]:
    metric = view.get_column(column).get_metric("frequent_items")
    if metric is None:
        return {}
    return {item.value: float(item.est) for item in metric.to_summary_dict()["frequent_strings"]}


def column_drift(reference: "DatasetProfileView", current: "DatasetProfileView", spec: TableSpec,
                 thresholds: DriftThresholds = DriftThresholds()) -> pd.DataFrame:
    """One row per column with a drift role: metric values, severity and the role.

    Columns: column, role, kind, psi, hellinger, null_ref, null_cur, unseen_share, severity,
    metric (the one that set the severity).
    """
    rows = []
    ref_cols = set(reference.get_columns())
    cur_cols = set(current.get_columns())
    for col in spec.columns:
        if col.drift_role == "ignore" or col.name not in ref_cols or col.name not in cur_cols:
            continue
        null_ref, null_cur = _null_rate(reference, col.name), _null_rate(current, col.name)
        psi = hell = unseen = np.nan
        kind = "categorical" if col.dtype == "str" else "numeric"
        if kind == "numeric":
            bins = _numeric_bins(reference, current, col.name)
            if bins is not None:
                psi, hell = _psi(*bins), _hellinger(*bins)
        else:
            ref_items, cur_items = _frequent(reference, col.name), _frequent(current, col.name)
            cats = sorted(set(ref_items) | set(cur_items))
            if cats:
                ref = np.array([ref_items.get(c, 0.0) for c in cats])
                cur = np.array([cur_items.get(c, 0.0) for c in cats])
                psi, hell = _psi(ref, cur), _hellinger(ref, cur)
                new = sum(v for c, v in cur_items.items() if c not in ref_items)
                unseen = new / max(sum(cur_items.values()), _EPS)
        parts = {
            "psi": (psi if not np.isnan(psi) else 0.0) / thresholds.psi,
            "null_rate": abs(null_cur - null_ref) / thresholds.null_rate,
            "unseen": (unseen if not np.isnan(unseen) else 0.0) / thresholds.unseen_share,
        }
        metric = max(parts, key=parts.get)
        rows.append({
            "column": col.name, "role": col.drift_role, "kind": kind, "psi": psi,
            "hellinger": hell, "null_ref": null_ref, "null_cur": null_cur,
            "unseen_share": unseen, "severity": parts[metric], "metric": metric,
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("severity", ascending=False).reset_index(drop=True)


def markdown_table(scores: pd.DataFrame, top: int = 8) -> str:
    """The columns that moved most, as a short Markdown table for the Dagster UI."""
    if scores.empty:
        return "_no reference yet_"
    lines = ["| column | role | PSI | Hellinger | null % ref → today | severity |",
             "|---|---|---:|---:|---:|---:|"]
    for row in scores.head(top).itertuples():
        psi = "–" if np.isnan(row.psi) else f"{row.psi:.3f}"
        hell = "–" if np.isnan(row.hellinger) else f"{row.hellinger:.3f}"
        flag = " ⚠" if row.severity >= 1 else ""
        lines.append(f"| {row.column} | {row.role} | {psi} | {hell} | "
                     f"{100 * row.null_ref:.1f} → {100 * row.null_cur:.1f} | "
                     f"{row.severity:.2f}{flag} |")
    return "\n".join(lines)
