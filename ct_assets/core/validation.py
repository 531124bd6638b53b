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

    def add(self, rule: str, mask: np.ndarray, texts) -> None:
        """`texts`: one text, a Series aligned with the rows, or a function giving the texts
        of the flagged rows (most rows break no rule: their texts are never built)."""
        flagged = np.flatnonzero(mask)
        if len(flagged) == 0:
            return
        if callable(texts):
            texts = pd.Series(list(texts(flagged)), index=flagged)
        elif not isinstance(texts, str):
            texts = pd.Series(texts.to_numpy()[flagged], index=flagged)
        for idx in flagged:
            self.rules[idx].append(rule)
            self.texts[idx].append(texts if isinstance(texts, str) else str(texts[idx]))

    def bad(self) -> np.ndarray:
        return np.array([bool(r) for r in self.rules], dtype=bool)


def _fmt(values: pd.Series) -> pd.Series:
    return values.astype(object).map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))


_REPAIR_WORDS = {"strip": "surrounding blanks removed", "upper": "upper-cased"}


def repair(rows: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fix the trivially recoverable spellings the spec allows (`Column.repairs`) on a copy.

    Returns the repaired rows and the number of values each rule changed, keyed
    `"<column>: <what was done>"`; the caller's frame (and the landed file) is untouched.
    """
    out = rows.copy()
    counts: dict[str, int] = {}
    for col in spec.columns:
        if not col.repairs or col.name not in out:
            continue
        values = out[col.name]
        present = values.notna().to_numpy()
        if not present.any():
            continue
        text = values[present].astype(str)
        for rule in col.repairs:
            fixed = text.str.strip() if rule == "strip" else text.str.upper()
            changed = int((fixed != text).sum())
            if changed:
                counts[f"{col.name}: {_REPAIR_WORDS[rule]}"] = changed
            text = fixed
        if any(k.startswith(f"{col.name}: ") for k in counts):
            values = values.astype(object)
            values[present] = text.to_numpy()
            out[col.name] = values
    return out, counts


def lattice_share(values: pd.Series, lattice: tuple[float, float],
                  tolerance: float = 0.01) -> tuple[float, int]:
    """Share of the values (other than the lattice's origin) that lie on `offset + k * step`,
    and how many values were judged. A sensor reports on its unit's lattice; the same readings
    converted to another unit leave it."""
    offset, step = lattice
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    numbers = numbers[np.abs(numbers - offset) > 1e-9]
    if len(numbers) == 0:
        return 1.0, 0
    k = (numbers - offset) / step
    return float(np.mean(np.abs(k - np.round(k)) < tolerance)), int(len(numbers))


def unit_problems(rows: pd.DataFrame, spec: TableSpec, *, min_lattice_share: float = 0.9,
                  max_out_of_range_share: float = 0.5) -> list[str]:
    """Day-level signs that a column arrived in another unit: most of its values off the
    declared measurement lattice, or most of them outside the declared physical range.
    (A few bad rows are a row-level matter: they are quarantined, not a unit change.)"""
    problems = []
    for col in spec.columns:
        if col.name not in rows or col.dtype not in ("int", "float"):
            continue
        values = pd.to_numeric(rows[col.name], errors="coerce").dropna()
        if values.empty:
            continue
        unit = f" {col.unit}" if col.unit else ""
        if col.lattice is not None:
            share, n = lattice_share(values, col.lattice)
            if n >= 10 and share < min_lattice_share:
                offset, step = col.lattice
                problems.append(
                    f"{col.name}: {share:.0%} of {n} values on the{unit} measurement lattice "
                    f"({offset:g} + k x {step:g}; a real feed has all of them)")
        if col.min is not None and col.max is not None:
            outside = float(((values < col.min) | (values > col.max)).mean())
            if outside > max_out_of_range_share:
                problems.append(f"{col.name}: {outside:.0%} of values outside "
                                f"[{col.min:g}, {col.max:g}]{unit} (median {values.median():g})")
    return problems


def split_rows(rows: pd.DataFrame, spec: TableSpec, day: dt.date | str) -> Split:
    """Apply the rules of `spec` to the rows of partition `day`; or, with `day` the name of a
    date column of `rows`, to rows of many partitions at once (each judged against its own
    day, duplicates counted within a day), as a benchmark replaying a year does."""
    rows = rows.reset_index(drop=True)
    reasons = _Reasons(len(rows))
    per_row = isinstance(day, str)
    days = pd.to_datetime(rows[day]) if per_row else None

    if "_issues" in rows:
        parse = rows["_issues"].notna().to_numpy()
        reasons.add("type", parse, rows["_issues"])

    for col in spec.columns:
        values = rows[col.name]
        null = values.isna().to_numpy()
        if not col.nullable:
            reasons.add("not_null", null, f"{col.name} is null")

        def shown(flagged, values=values, name=col.name):
            return name + "=" + _fmt(values.iloc[flagged])

        if col.min is not None or col.max is not None:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            low = col.min if col.min is not None else -np.inf
            high = col.max if col.max is not None else np.inf
            out = (~null) & ((numbers < low) | (numbers > high)).to_numpy(dtype=bool)
            bounds = (f" outside [{col.min:g}, {col.max:g}]"
                      if col.min is not None and col.max is not None else " out of range")
            reasons.add("range", out, lambda flagged, f=shown, b=bounds: f(flagged) + b)
        if col.allowed is not None:
            unknown = (~null) & ~values.isin(col.allowed_values()).to_numpy(dtype=bool)
            reasons.add("allowed_values", unknown,
                        lambda flagged, f=shown: f(flagged) + " is not a known code")

    if spec.date_columns:
        y, m, d = (pd.to_numeric(rows[c], errors="coerce") for c in spec.date_columns)
        if per_row:
            same = (y == days.dt.year) & (m == days.dt.month) & (d == days.dt.day)
        else:
            same = (y == day.year) & (m == day.month) & (d == day.day)
        other = ~same.to_numpy(dtype=bool)

        def dated(flagged):
            part = (_fmt(y.iloc[flagged]) + "-" + _fmt(m.iloc[flagged]).str.zfill(2) + "-"
                    + _fmt(d.iloc[flagged]).str.zfill(2))
            where = (days.iloc[flagged].dt.strftime("%Y-%m-%d") if per_row
                     else day.isoformat())
            return "row dated " + part + ", outside partition " + where

        reasons.add("partition_date", other, dated)

    if spec.key:
        good = np.flatnonzero(~reasons.bad())
        keys = [day, *spec.key] if per_row else list(spec.key)
        keyed = rows.iloc[good][keys]
        dup = np.zeros(len(rows), dtype=bool)
        dup[good[keyed.duplicated(keep="first").to_numpy()]] = True
        if dup.any():
            ref = rows["_row"] if "_row" in rows else pd.Series(rows.index, index=rows.index)
            first = ref.iloc[good].groupby([keyed[c] for c in keys], dropna=False)
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
