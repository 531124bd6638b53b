"""The landing folder: where daily files arrive, and the only rules for touching it.

Nothing in the pipeline modifies or deletes a landed file. Paths are always built from a
validated table name and a validated day, so a key can never point outside the folder.
"""

import datetime as dt
import hashlib
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from ct_assets.core.days import parse_day
from ct_assets.core.errors import CTInputError, InvalidPartitionKey

_TABLE = re.compile(r"[a-z][a-z0-9_]{0,62}")


def _check_table(table: str) -> str:
    if not _TABLE.fullmatch(table or ""):
        raise CTInputError("table_name", f"{table!r} is not a valid table name")
    return table


def landed_path(root: Path, table: str, day: dt.date | str) -> Path:
    """`<root>/<table>/<YYYY-MM-DD>.parquet`, refusing anything that is not a plain day."""
    if isinstance(day, str):
        day = parse_day(day)
    path = Path(root) / _check_table(table) / f"{day.isoformat()}.parquet"
    if Path(root).resolve() not in path.resolve().parents:
        raise CTInputError("landing_path", f"{path} escapes the landing folder {root}")
    return path


def checksum(path: Path) -> str:
    """SHA-256 of a file's bytes (first 16 hex digits are shown to people)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_landed(root: Path, table: str) -> tuple[dict[dt.date, Path], list[Path]]:
    """Landed files of a table by day, and the files whose names are not days (never read)."""
    folder = Path(root) / _check_table(table)
    days: dict[dt.date, Path] = {}
    rejected: list[Path] = []
    if not folder.is_dir():
        return days, rejected
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            if path.suffix != ".parquet":
                raise InvalidPartitionKey("file_name", f"{path.name} is not <YYYY-MM-DD>.parquet")
            days[parse_day(path.stem, file=str(path))] = path
        except InvalidPartitionKey:
            rejected.append(path)
    return days, rejected


def write_new(path: Path, frame: pd.DataFrame) -> bool:
    """Write a parquet file atomically unless it exists. Returns False if it was already there."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        try:
            os.link(tmp, path)  # fails if a concurrent writer landed it first: never overwrite
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    return True
