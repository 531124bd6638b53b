"""Read a landed file into a typed frame, separating file-level from row-level problems.

File-level problems (unreadable, empty, columns missing, a column of the wrong type throughout)
raise `CTInputError` and fail that partition only. Row-level problems (a value that does not
parse) null the value and are recorded in `_issues`, so validation quarantines the row with the
original value in its reason. Every row of the file comes out: `_row` is its position.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ct_assets.core.errors import CTInputError
from ct_assets.core.schema import Column, TableSpec

# Above this share of unparseable values a column is judged to be of the wrong type as a whole.
WRONG_TYPE_SHARE = 0.5


@dataclass
class LoadedFile:
    frame: pd.DataFrame
    extra_columns: list[str] = field(default_factory=list)
    coerced_columns: dict[str, str] = field(default_factory=dict)


def _coerce(values: pd.Series, col: Column) -> pd.Series:
    if col.dtype in ("int", "float"):
        if pd.api.types.is_bool_dtype(values):
            values = values.astype(object)
        numbers = pd.to_numeric(values, errors="coerce")
        if col.dtype == "int":
            integral = numbers.isna() | (np.floor(numbers) == numbers)
            numbers = numbers.where(integral)
            return numbers.astype("Int64")
        return numbers.astype("float64")
    if col.dtype == "timestamp":
        stamps = pd.to_datetime(values, errors="coerce", utc=True)
        return stamps.dt.tz_localize(None).astype("datetime64[us]")
    return values.where(values.isna(), values.astype(str)).astype(object)


def read_landed(path: Path, spec: TableSpec, partition: str) -> LoadedFile:
    """Load one landed file as `spec` describes it, or raise naming file, partition and rule."""
    file = str(path)
    if not path.exists():
        raise CTInputError("file_present", "no landed file for this day", file=file,
                           partition=partition)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise CTInputError("parquet_readable", f"not a readable parquet file ({exc})",
                           file=file, partition=partition) from exc
    if table.num_rows == 0:
        raise CTInputError("non_empty", "the file has 0 rows", file=file, partition=partition)

    present = table.column_names
    missing = [c for c in spec.names if c not in present]
    extra = [c for c in present if c not in spec.names]
    if missing:
        hint = f"; unexpected columns {extra} (renamed?)" if extra else ""
        raise CTInputError("columns_present", f"missing columns {missing}{hint}", file=file,
                           partition=partition)

    raw = table.select(spec.names).to_pandas()
    typed = pd.DataFrame(index=raw.index)
    issues = pd.Series([[] for _ in range(len(raw))], index=raw.index, dtype=object)
    coerced: dict[str, str] = {}
    for col in spec.columns:
        values = raw[col.name]
        converted = _coerce(values, col)
        broken = values.notna() & converted.isna()
        if broken.any():
            share = broken.sum() / max(values.notna().sum(), 1)
            if share > WRONG_TYPE_SHARE:
                raise CTInputError(
                    "column_type",
                    f"column {col.name!r} should hold {col.dtype} values but "
                    f"{share:.0%} of them do not parse (arrow type "
                    f"{table.schema.field(col.name).type}, e.g. {values[broken].iloc[0]!r})",
                    file=file, partition=partition)
            for idx in np.flatnonzero(broken.to_numpy()):
                issues.iat[idx].append(f"{col.name}={values.iat[idx]!r} is not {col.dtype}")
        if str(table.schema.field(col.name).type) not in _EXPECTED_ARROW[col.dtype]:
            coerced[col.name] = str(table.schema.field(col.name).type)
        typed[col.name] = converted
    typed["_row"] = np.arange(len(raw), dtype="int64")
    typed["_issues"] = [("; ".join(items) if items else None) for items in issues]
    return LoadedFile(frame=typed, extra_columns=extra, coerced_columns=coerced)


_EXPECTED_ARROW = {
    "int": {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"},
    "float": {"double", "float", "halffloat", "int64", "int32"},
    "str": {"string", "large_string"},
    "timestamp": {"timestamp[us]", "timestamp[ns]", "timestamp[ms]", "timestamp[s]",
                  "timestamp[us, tz=UTC]", "timestamp[ns, tz=UTC]", "timestamp[ms, tz=UTC]"},
}


def preflight(path: Path, spec: TableSpec) -> str | None:
    """A cheap look at a landed file (footer and schema only): why it may fail to ingest, or
    None. The landing sensor ingests such files in runs of their own, so a bad delivery fails
    alone instead of taking the days batched with it down."""
    try:
        meta = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        return f"not a readable parquet file ({exc})"
    if meta.num_rows == 0:
        return "0 rows"
    missing = [c for c in spec.names if c not in schema.names]
    if missing:
        return f"missing columns {missing}"
    retyped = [c.name for c in spec.columns
               if str(schema.field(c.name).type) not in _EXPECTED_ARROW[c.dtype]
               and str(schema.field(c.name).type) != "null"]
    if retyped:
        return f"columns of an unexpected type {retyped}"
    return None
