"""The peer of the feature benchmark: the same point-in-time joins written with pandas
`merge_asof`. It exists to be measured against (and to cross-check) `core.features`; the
pipeline never calls it."""

import datetime as dt

import numpy as np
import pandas as pd

from ct_assets.core import features as F
from ct_assets.sources.nycflights13 import AVAILABILITY


def _minutes(values) -> pd.Series:
    return pd.to_timedelta(values, unit="min")


def _known_at(frame: pd.DataFrame, rule) -> pd.Series:
    """When each row of `frame` became known, by the source's `EventTime` rule."""
    ts = frame[rule.base]
    for col in rule.minute_columns:
        ts = ts + _minutes(frame[col].astype("float64"))
    return ts + rule.offset


def _window_rates(outcomes: pd.DataFrame, keys: list[str], through: pd.DatetimeIndex
                  ) -> pd.DataFrame:
    """Sum of n and k over the 28 days ending at each `through` day, per key."""
    daily = outcomes.groupby(["ds", *keys])[["n", "k"]].sum()
    wide = daily.unstack(keys, fill_value=0)
    full = pd.date_range(through.min() - pd.Timedelta(days=40), through.max(), freq="D")
    wide = wide.reindex(full, fill_value=0)
    rolled = wide.rolling(F.RATE_WINDOW_DAYS, min_periods=1).sum()
    rolled = rolled.fillna(0).loc[through]
    stacked = rolled.stack(keys, future_stack=True).reset_index()
    return stacked.rename(columns={"level_0": "through"})


def pandas_features(flights: pd.DataFrame, weather: pd.DataFrame, planes: pd.DataFrame,
                    start: dt.date, end: dt.date) -> pd.DataFrame:
    """Features of the flights with ds in [start, end), as `core.features` defines them."""
    flights = flights.assign(ds=pd.to_datetime(flights["ds"]))
    weather = weather.assign(ds=pd.to_datetime(weather["ds"]))
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    t = flights[(flights["ds"] >= lo) & (flights["ds"] < hi)].copy()
    t["sched_dep_ts"] = t["time_hour"] + _minutes(t["minute"])
    t["cutoff_ts"] = t["sched_dep_ts"] - pd.Timedelta(hours=F.CUTOFF_H)
    local_cutoff = (t["ds"] + _minutes(t["hour"] * 60 + t["minute"])
                    - pd.Timedelta(hours=F.CUTOFF_H))
    t["through"] = (local_cutoff - AVAILABILITY.outcomes.published_after).dt.normalize()
    t = t.sort_values("cutoff_ts")

    wx = weather[(weather["ds"] >= lo - pd.Timedelta(days=1)) & (weather["ds"] < hi)]
    wx = wx.assign(wx_ts=_known_at(wx, AVAILABILITY.weather)).sort_values("wx_ts")
    wx_cols = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
               "pressure", "visib"]
    t = pd.merge_asof(t, wx[["origin", "wx_ts", *wx_cols]], left_on="cutoff_ts",
                      right_on="wx_ts", by="origin", direction="backward")
    fresh = (t["cutoff_ts"] - t["wx_ts"]) <= pd.Timedelta(hours=F.WEATHER_TOLERANCE_H)
    out = pd.DataFrame({"ds": t["ds"].dt.date, "carrier": t["carrier"], "flight": t["flight"],
                        "origin": t["origin"]})
    out["wx_age_min"] = ((t["cutoff_ts"] - t["wx_ts"]).dt.total_seconds() / 60).where(fresh)
    for col in wx_cols:
        out[f"wx_{col}"] = t[col].where(fresh)

    hist = flights[(flights["ds"] >= lo - pd.Timedelta(days=1)) & (flights["ds"] < hi)]
    hist = hist[hist["dep_delay"].notna()]
    dep_ts = _known_at(hist, AVAILABILITY.departures)
    deps = (hist.assign(dep_ts=dep_ts).groupby(["origin", "dep_ts"])["dep_delay"]
            .agg(["sum", "count"]).reset_index().sort_values(["origin", "dep_ts"]))
    deps[["cum_delay", "cum_n"]] = deps.groupby("origin")[["sum", "count"]].cumsum()
    deps = deps.sort_values("dep_ts")[["origin", "dep_ts", "cum_delay", "cum_n"]]
    # cutoff_ts is sorted, so cutoff - 2 h is too: both lookups keep t's row order.
    upto = pd.merge_asof(t[["cutoff_ts", "origin"]], deps, left_on="cutoff_ts",
                         right_on="dep_ts", by="origin", allow_exact_matches=False)
    before = pd.merge_asof(
        t[["cutoff_ts", "origin"]].assign(from_ts=t["cutoff_ts"]
                                          - pd.Timedelta(hours=F.REALTIME_WINDOW_H)),
        deps, left_on="from_ts", right_on="dep_ts", by="origin", allow_exact_matches=False)
    n = (upto["cum_n"].fillna(0) - before["cum_n"].fillna(0)).to_numpy()
    s = (upto["cum_delay"].fillna(0) - before["cum_delay"].fillna(0)).to_numpy()
    out["origin_departures_2h"] = n.astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["origin_dep_delay_2h"] = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)

    past = flights[(flights["ds"] >= lo - pd.Timedelta(days=40)) & (flights["ds"] < hi)]
    outcomes = past.assign(n=past["arr_delay"].notna().astype(int),
                           k=(past["arr_delay"] > F.DELAY_MINUTES).astype(int))
    through = pd.DatetimeIndex(sorted(t["through"].unique()))
    glob = _window_rates(outcomes.assign(all="all"), ["all"], through)
    car = _window_rates(outcomes, ["carrier"], through)
    route = _window_rates(outcomes, ["origin", "dest"], through)
    keyed = t[["through", "carrier", "origin", "dest"]].reset_index(drop=True)
    keyed = keyed.merge(glob[["through", "n", "k"]].rename(columns={"n": "gn", "k": "gk"}),
                        on="through", how="left")
    keyed = keyed.merge(car.rename(columns={"n": "cn", "k": "ck"}), on=["through", "carrier"],
                        how="left")
    keyed = keyed.merge(route.rename(columns={"n": "rn", "k": "rk"}),
                        on=["through", "origin", "dest"], how="left").fillna(
        {"cn": 0, "ck": 0, "rn": 0, "rk": 0})
    prior = F.RATE_PRIOR_FLIGHTS
    with np.errstate(invalid="ignore", divide="ignore"):
        base = keyed["gk"] / keyed["gn"]
        out["carrier_delay_rate_28d"] = ((keyed["ck"] + prior * base) / (keyed["cn"] + prior)
                                         ).where(keyed["gn"] > 0).to_numpy()
        out["route_delay_rate_28d"] = ((keyed["rk"] + prior * base) / (keyed["rn"] + prior)
                                       ).where(keyed["gn"] > 0).to_numpy()
    out["carrier_flights_28d"] = keyed["cn"].astype("int64").to_numpy()
    out["route_flights_28d"] = keyed["rn"].astype("int64").to_numpy()

    plane = t[["tailnum"]].merge(planes[["tailnum", "year", "seats"]], on="tailnum", how="left")
    out["plane_age"] = (t["ds"].dt.year.to_numpy() - plane["year"].astype("float64").to_numpy())
    out["plane_seats"] = plane["seats"].astype("float64").to_numpy()
    out["sched_hour"] = t["hour"].to_numpy()
    out["day_of_week"] = t["ds"].dt.dayofweek.to_numpy() + 1
    out["month"] = t["ds"].dt.month.to_numpy()
    out["day_of_year"] = t["ds"].dt.dayofyear.to_numpy()
    out["is_weekend"] = (out["day_of_week"] >= 6).astype("int64")
    out["distance"] = t["distance"].astype("float64").to_numpy()
    out["dest"] = t["dest"].to_numpy()
    return out.sort_values(["ds", "carrier", "flight", "origin"]).reset_index(drop=True)

