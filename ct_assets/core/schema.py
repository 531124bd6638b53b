"""Declarative description of a landed table: columns, types and row-level rules.

A source (see `ct_assets/sources/`) describes its tables with these classes; ingestion and
validation read the description instead of knowing anything about flights.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

DType = Literal["int", "float", "str", "timestamp"]
DriftRole = Literal["integrity", "monitor", "ignore"]
Repair = Literal["strip", "upper"]

DUCKDB_TYPES: dict[str, str] = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "str": "VARCHAR",
    "timestamp": "TIMESTAMP",
}


@dataclass(frozen=True)
class Column:
    """One column of a landed table and the rules its values must obey.

    `drift_role` says how a distribution shift of this column is judged: `integrity` columns
    describe the feed itself (a shift means broken data and blocks the partition), `monitor`
    columns carry the phenomenon being modelled (storms move delays; that is drift to watch,
    not bad data), `ignore` columns are identifiers.

    `repairs` are trivially recoverable spellings fixed before the rules apply (`strip`:
    surrounding blanks; `upper`: a code in lower case); the landed file is never touched and
    each repair is counted. `lattice` = (offset, step): the values a sensor in the declared
    unit can report are offset + k * step (e.g. knots converted to mph), so a delivery in
    another unit leaves the lattice in most rows, whatever the season.

    `allowed` is the set of known codes, or a function returning it (called when a row is
    validated: a code list read from reference data is then not read when the spec is built,
    e.g. by every process that loads the Dagster definitions).
    """

    name: str
    dtype: DType
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: frozenset[str] | Callable[[], frozenset[str]] | None = None
    drift_role: DriftRole = "integrity"
    description: str = ""
    repairs: tuple[Repair, ...] = ()
    lattice: tuple[float, float] | None = None
    unit: str = ""

    def allowed_values(self) -> frozenset[str] | None:
        return self.allowed() if callable(self.allowed) else self.allowed


@dataclass(frozen=True)
class TableSpec:
    """A landed table: its columns, its natural key and the columns that date each row."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    date_columns: tuple[str, str, str] | None = None  # (year, month, day) columns, if any
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)
