"""`ct bench catchup`: days landed at once into a fresh instance, caught up by the live loop.

`ct replay --through DAY` lands every day, then `dagster dev` (code server, webserver and the
real daemon, with the project's `dagster.yaml`) runs the landing sensor, automation and the
retrain sensor until every day is featurised, served and monitored and every
retrain decision is made. The bench polls the instance, samples the CPU time of the whole
process tree, traces the calls into `ct_assets/core/`, and then does the same work as direct
`core/` calls (the floor) and checks that the live loop made the decisions `ct bench policies`'
`production` replay makes.

Modules: `cli` (arguments and the command), `live` (start, watch and stop the loop), `watch`
(what the instance says: progress and completion), `collect` (runs and decisions afterwards),
`floor` (the direct core calls), `report` and `plot` (the files in `docs/benchmarks/`),
`traced` (the code location: the definitions with core calls traced), `imports` (what loading
the definitions costs a process, `--imports`).
"""
