"""The plan of a bench: which runs materialize every asset, in topological order, as
Dagster's backfill daemon would make them; and the days of a bench from the command line."""

import argparse
import datetime as dt
from dataclasses import dataclass

DEFAULT_FIRST = dt.date(2013, 2, 1)
TRAINING_ASSET = "candidate_model"       # assets downstream of it need a training window
RANGE, DAY, ONCE = "range", "day", "once"
# How the measured runs execute: as the project's instance runs them (each run in a process
# forked from the launcher's warm forkserver, its steps in that process), or with Dagster's
# multiprocess executor (a process per step).
PROJECT, MULTIPROCESS = "project", "multiprocess"


@dataclass
class Group:
    """Assets materialized together: one run per range, one run per day, or one run."""

    mode: str                 # RANGE, DAY or ONCE
    assets: list[str]
    needs_model: bool         # downstream of the training asset: only days with a window


def asset_mode(asset) -> str:
    """How a backfill runs `asset`: like Dagster's backfill daemon, from its backfill policy."""
    if asset.partitions_def is None:
        return ONCE
    policy = asset.backfill_policy
    if policy is not None and policy.max_partitions_per_run is None:
        return RANGE
    return DAY


def plan_groups(assets) -> list[Group]:
    """Topological groups of `assets` (AssetsDefinitions). Consecutive assets of the same mode
    whose dependencies allow it share a run, so the multiprocess executor may run their steps
    in parallel; a day-per-run chain (train -> evaluate -> promote -> serve) is one run a day."""
    order, deps, mode = [], {}, {}
    for asset in assets:
        for key in asset.keys:
            name = key.to_user_string()
            order.append(name)
            deps[name] = {d.to_user_string() for d in asset.asset_deps[key]}
            mode[name] = asset_mode(asset)
    known = set(order)
    deps = {name: d & known for name, d in deps.items()}
    downstream = {TRAINING_ASSET} & known
    changed = True
    while changed:
        grown = {n for n in order if deps[n] & downstream} | downstream
        changed, downstream = grown != downstream, grown
    groups, done, remaining = [], set(), list(order)
    while remaining:
        ready = [n for n in remaining if deps[n] <= done]
        if not ready:
            raise ValueError(f"dependency cycle among {remaining}")
        first = ready[0]
        group = Group(mode[first], [first], first in downstream)
        grew = True
        while grew:
            grew = False
            for name in remaining:
                if (name not in group.assets and mode[name] == group.mode
                        and (name in downstream) == group.needs_model
                        and deps[name] <= done | set(group.assets)):
                    group.assets.append(name)
                    grew = True
        done |= set(group.assets)
        remaining = [n for n in remaining if n not in done]
        groups.append(group)
    return groups


@dataclass
class RunSpec:
    group: int
    assets: list[str]
    mode: str
    first: str | None = None     # partition (DAY) or range start (RANGE), ISO day
    last: str | None = None      # range end, inclusive

    @property
    def label(self) -> str:
        where = {ONCE: "", DAY: f" {self.first}", RANGE: f" {self.first}..{self.last}"}[self.mode]
        return "+".join(self.assets) + where


def plan_runs(groups: list[Group], days: list[dt.date], trained_from: dt.date,
              with_model: bool = True) -> list[RunSpec]:
    """The runs of one phase, in order. Groups that need a model get only days >= trained_from
    (and none at all when `with_model` is false: the warm-up)."""
    runs = []
    for i, group in enumerate(groups):
        if group.needs_model and not with_model:
            continue
        these = [d for d in days if d >= trained_from] if group.needs_model else days
        if group.mode == ONCE:
            runs.append(RunSpec(i, group.assets, ONCE))
        elif not these:
            continue
        elif group.mode == RANGE:
            runs.append(RunSpec(i, group.assets, RANGE, these[0].isoformat(),
                                these[-1].isoformat()))
        else:
            runs.extend(RunSpec(i, group.assets, DAY, d.isoformat()) for d in these)
    return runs


def make_plan(args: argparse.Namespace) -> dict:
    """Days, warm-up and training start of the bench from the command line.

    The days before the first measured day are the warm-up. Training starts at the first
    measured day that has a full window behind it: the first measured day itself when the
    warm-up is at least a window long (the month), else later (the year: day 29).
    """
    from ct_assets.core.days import parse_day
    from ct_assets.core.loop import RetrainSpec
    from ct_assets.settings import Settings
    from ct_assets.sources.nycflights13 import AVAILABILITY

    settings = Settings.from_env()          # the partitions: 2013 unless CT_PARTITIONS_* say
    start, end = settings.start, settings.end
    if args.year:
        first, days = start, (end - start).days
    else:
        first, days = parse_day(args.first), args.days
    if first < start or days < 1 or first + dt.timedelta(days=days) > end:
        raise ValueError(f"{days} days from {first} leave the partitions {start} .. {end}")
    spec = RetrainSpec.for_source(AVAILABILITY, window_days=args.window,
                                  holdout_days=args.holdout)
    # the first day whose whole window lies inside the partitions
    trained_from = max(first, start - spec.partition_offsets()[0] * dt.timedelta(days=1))
    warmup = [start + dt.timedelta(days=i) for i in range((first - start).days)]
    measured = [first + dt.timedelta(days=i) for i in range(days)]
    if trained_from > measured[-1]:
        raise ValueError(f"no measured day has a {args.window}-day window before it")
    train = {"window_days": args.window, "holdout_days": args.holdout}   # as CT_WINDOW_DAYS ..
    if args.n_estimators:
        train["n_estimators"] = args.n_estimators
    label = "year" if args.year else f"{days} day" + ("s" if days != 1 else "")
    if args.executor == PROJECT:
        label += ", project runs"
    elif args.start_method != "spawn":
        label += f", {args.start_method}"
    return {"days": [d.isoformat() for d in measured],
            "warmup_days": [d.isoformat() for d in warmup],
            "trained_from": trained_from.isoformat(), "train_config": train,
            "start_method": args.start_method, "max_concurrent": args.max_concurrent,
            "executor": args.executor, "label": label}
