"""`ct bench pipeline`: what orchestration costs for the whole loop, and how it scales.

Every asset of `ct_assets.definitions.ASSETS` is materialized over a month (or, with `--year`,
the whole year) as a backfill through Dagster: real runs on a persistent `DagsterInstance` (a
temporary `DAGSTER_HOME` with the project's `dagster.yaml`, so the `warehouse` pool applies),
the multiprocess executor, one step per process. The same work is repeated at several volumes:
each day's flights resampled with jitter to `scale` times the rows (weather stays as it is).

Where the time goes is measured, not inferred:
- each step process times every call into `ct_assets/core/` (and, apart, into
  `ct_assets/registry.py`, the MLflow store) and appends the intervals to a trace file;
- Dagster's event log gives each step's worker launch, start and end;
- a sweep over those intervals splits the wall time of the backfill into core / MLflow / the
  rest of the step (asset glue, resources, Dagster's step events) / step process start-up /
  between steps (run start and finish, pool waits);
- the parent samples the resident memory and the CPU time of every process of the tree, so
  the cost is also known as CPU time, which another load on the machine disturbs much less.

Layout of a bench: the driver (`driver.drive`) runs in a subprocess of its own with the temporary
data dir in its environment; the parent lands the days, samples memory, shows progress and
writes `pipeline.json`, `pipeline.md` and `pipeline.png`.

Modules: `data` (the days, landed at a volume), `plan` (the runs a backfill makes), `tracing`
and `driver` (inside the driver and its step processes), `measure` (the parent: phases, memory,
CPU), `analysis` (the wall-time and CPU-time splits), `report` and `plot` (the files), `cli`.
"""
