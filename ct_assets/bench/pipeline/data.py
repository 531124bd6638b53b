"""The days of a bench, landed at a volume: each day's flights resampled with jitter to
`scale` times the rows (weather as delivered), as `ct replay` lands them."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd


def scale_flights(frame: pd.DataFrame, scale: int, rng: np.random.Generator) -> pd.DataFrame:
    """`scale` copies of a day's flights: the original plus `scale - 1` jittered copies.

    Every copy still passes validation: it keeps its date, carrier, route, plane and scheduled
    hour (so `time_hour` stays true); its flight number is new and unique within (carrier,
    origin) for the day, so the natural key (carrier, flight, origin) never repeats; its
    scheduled minute moves by up to 10 minutes inside the hour (scheduled arrival moves with
    it), its delays by a few minutes (actual times follow), its air time by about 3 %, all
    clipped to the ranges of the flights TableSpec. Cancelled flights stay cancelled.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    base = frame.reset_index(drop=True)
    if scale == 1 or base.empty:
        return base.copy()
    n, extra = len(base), scale - 1
    numbers = np.empty((extra, n), dtype="int64")
    flights = base["flight"].to_numpy()
    for idx in base.groupby(["carrier", "origin"]).indices.values():
        free = np.setdiff1d(np.arange(1, 10_000), flights[idx])
        if len(free) < extra * len(idx):
            raise ValueError(f"scale {scale} needs {extra * len(idx)} new flight numbers for "
                             f"one carrier and origin, only {len(free)} are free")
        numbers[:, idx] = rng.permutation(free)[: extra * len(idx)].reshape(extra, len(idx))

    def minutes(hhmm):
        return (hhmm // 100) * 60 + hhmm % 100

    def hhmm(mins, midnight: int):
        mins = np.mod(mins, 1440)
        out = (mins // 60) * 100 + mins % 60
        return np.where(out == 0, midnight, out)

    copies = [base]
    for k in range(extra):
        c = base.copy()
        c["flight"] = numbers[k]
        minute = np.clip(base["minute"].to_numpy() + rng.integers(-10, 11, n), 0, 59)
        shift = minute - base["minute"].to_numpy()
        c["minute"] = minute
        c["sched_dep_time"] = base["hour"].to_numpy() * 100 + minute
        c["sched_arr_time"] = hhmm(minutes(base["sched_arr_time"].to_numpy()) + shift, 0)
        dep_noise = np.round(rng.normal(0, 4, n))
        arr_noise = dep_noise + np.round(rng.normal(0, 4, n))
        dep_delay = np.clip(base["dep_delay"].to_numpy() + dep_noise, -120, 1800)
        arr_delay = np.clip(base["arr_delay"].to_numpy() + arr_noise, -180, 1800)
        dep_moved = shift + (dep_delay - base["dep_delay"].to_numpy())
        arr_moved = shift + (arr_delay - base["arr_delay"].to_numpy())
        c["dep_delay"], c["arr_delay"] = dep_delay, arr_delay
        for col, moved in (("dep_time", dep_moved), ("arr_time", arr_moved)):
            actual = base[col].to_numpy()
            known = ~np.isnan(actual) & ~np.isnan(moved)
            out = np.full(n, np.nan)
            out[known] = hhmm(minutes(actual[known]) + moved[known], 2400)
            c[col] = out
        air = base["air_time"].to_numpy() * (1 + rng.normal(0, 0.03, n))
        c["air_time"] = np.clip(np.round(air), 10, 800)
        copies.append(c)
    out = pd.concat(copies, ignore_index=True)
    return out.astype(base.dtypes.to_dict())


def land(data_dir: Path, days: list[dt.date], scale: int, seed: int = 2013,
         advance=None) -> dict[str, int]:
    """Land flights (at `scale`) and weather (as delivered) for `days`, as `ct replay` does."""
    from ct_assets.core import landing
    from ct_assets.sources import nycflights13 as source

    root = data_dir / "landing"
    rows = {"flights": 0, "weather": 0}
    for day in days:
        rng = np.random.default_rng([seed, scale, day.toordinal()])
        frames = {"flights": scale_flights(source.day_frame("flights", day), scale, rng),
                  "weather": source.day_frame("weather", day)}
        for table, frame in frames.items():
            landing.write_new(landing.landed_path(root, table, day), frame)
            rows[table] += len(frame)
        if advance:
            advance()
    return rows


def land_counts(data_dir: Path, days: list[dt.date]) -> int:
    """Flights rows landed for `days` (read back from the landed files)."""
    import pyarrow.parquet as pq

    from ct_assets.core import landing

    return sum(pq.read_metadata(landing.landed_path(data_dir / "landing", "flights", d)).num_rows
               for d in days)
