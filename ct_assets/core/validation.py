"""Row-level rules: every row either passes or goes to quarantine with its reasons.

`split_rows` never drops a row: `len(valid) + len(quarantined) == len(rows)` always holds, and
each quarantined row carries every rule it broke, in words a person can act on.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ct_assets.core.schema import TableSpec


@dataclass
class Split:
    valid: pd.DataFrame
    quarantined: pd.DataFrame  # the row's columns plus `rules` and `reason`

    def reason_counts(self) -> dict[str, int]:
        if self.quarantined.empty:
            return {}
        rules = self.quarantined["rules"].str.split(",").explode()
        return {str(k): int(v) for k, v in rules.value_counts().items()}


class _Reasons:
    def __init__(self, n: int):
        self.rules = [[] for _ in range(n)]
        self.texts = [[] for _ in range(n)]

    def add(self, rule: str, mask: np.ndarray, texts: pd.Series | str) -> None:
        for idx in np.flatnonzero(mask):
            self.rules[idx].append(rule)
            self.texts[idx].append(texts if isinstance(texts, str) else str(texts.iat[idx]))

    def bad(self) -> np.ndarray:
        return np.array([bool(r) for r in self.rules], dtype=bool)


def _fmt(values: pd.Series) -> pd.Series:
    return values.astype(object).map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))


def split_rows(rows: pd.DataFrame, spec: TableSpec, day: dt.date) -> Split:
    """Apply the rules of `spec` to the rows of partition `day`."""
    rows = rows.reset_index(drop=True)
    reasons = _Reasons(len(rows))

    if "_issues" in rows:
        parse = rows["_issues"].notna().to_numpy()
        reasons.add("type", parse, rows["_issues"])

    for col in spec.columns:
        values = rows[col.name]
        null = values.isna().to_numpy()
        if not col.nullable:
            reasons.add("not_null", null, f"{col.name} is null")
        shown = _fmt(values)
        if col.min is not None or col.max is not None:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            low = col.min if col.min is not None else -np.inf
            high = col.max if col.max is not None else np.inf
            out = (~null) & ((numbers < low) | (numbers > high)).to_numpy(dtype=bool)
            reasons.add("range", out,
                        col.name + "=" + shown + f" outside [{col.min:g}, {col.max:g}]"
                        if col.min is not None and col.max is not None
                        else col.name + "=" + shown + " out of range")
        if col.allowed is not None:
            unknown = (~null) & ~values.isin(col.allowed).to_numpy(dtype=bool)
            reasons.add("allowed_values", unknown, col.name + "=" + shown + " is not a known code")

    if spec.date_columns:
        y, m, d = (pd.to_numeric(rows[c], errors="coerce") for c in spec.date_columns)
        other = ~((y == day.year) & (m == day.month) & (d == day.day)).to_numpy(dtype=bool)
        dated = _fmt(y) + "-" + _fmt(m).str.zfill(2) + "-" + _fmt(d).str.zfill(2)
        reasons.add("partition_date", other,
                    "row dated " + dated + f", outside partition {day.isoformat()}")

    if spec.key:
        good = np.flatnonzero(~reasons.bad())
        keyed = rows.iloc[good][list(spec.key)]
        dup = np.zeros(len(rows), dtype=bool)
        dup[good[keyed.duplicated(keep="first").to_numpy()]] = True
        ref = rows["_row"] if "_row" in rows else pd.Series(rows.index, index=rows.index)
        first = ref.iloc[good].groupby([keyed[c] for c in spec.key], dropna=False)
        texts = pd.Series("", index=rows.index, dtype=object)
        texts.iloc[good] = ("duplicate of row " + first.transform("first").astype(str)
                            + f" (same {', '.join(spec.key)})")
        reasons.add("duplicate", dup, texts)

    bad = reasons.bad()
    valid = rows.loc[~bad].drop(columns=["_issues"], errors="ignore").reset_index(drop=True)
    quarantined = rows.loc[bad].drop(columns=["_issues"], errors="ignore").copy()
    flagged = np.flatnonzero(bad)
    quarantined["rules"] = [",".join(dict.fromkeys(reasons.rules[i])) for i in flagged]
    quarantined["reason"] = ["; ".join(reasons.texts[i]) for i in flagged]
    return Split(valid=valid, quarantined=quarantined.reset_index(drop=True))


def expected_row_range(history: list[int], *, min_days: int = 7, low: float = 0.5,
                       high: float = 1.5) -> tuple[float, float] | None:
    """Row-count range learned from earlier days, or None while there are fewer than `min_days`.

    The bounds are deliberately wide (half the smallest, 1.5x the largest recent day): weekends
    and holidays are ordinary; a tenth of the usual volume is not.
    """
    counts = [c for c in history if c > 0]
    if len(counts) < min_days:
        return None
    return low * min(counts), high * max(counts)
