"""Benchmarks run by `ct bench …`: the product's own code side by side with a named peer.

One package per benchmark (`drift/`, `pipeline/`, `policies/`, `train/`, `featbench/`,
`catchup/`), split by role: data, run, analysis, report, and a `cli.py` with
`add_arguments(parser)` and `run(args, console)`; `reporting.py` is what they all write their
files with.

`BENCHMARKS` holds only strings, so that `ct --help` and `ct bench --help` import no benchmark:
`ct` imports a bench's `cli` module when that subcommand is parsed."""

# name: (one-line help, the module with add_arguments and run), in the order `ct bench` lists them
BENCHMARKS: dict[str, tuple[str, str]] = {
    "features": ("year of features: DuckDB vs pandas", "ct_assets.bench.featbench.cli"),
    "train": ("train + evaluate: Dagster vs direct calls", "ct_assets.bench.train.cli"),
    "policies": ("retrain policies over 2013: schedules vs drift / performance triggers vs "
                 "production", "ct_assets.bench.policies.cli"),
    "drift": ("drift check per day: ours (merged whylogs profiles) vs Evidently "
              "DataDriftPreset", "ct_assets.bench.drift.cli"),
    "pipeline": ("the whole loop as a Dagster backfill (multiprocess): cost, and how it grows "
                 "with volume", "ct_assets.bench.pipeline.cli"),
    "catchup": ("a year landed at once, caught up by the live loop (dagster dev: sensors, "
                "automation, daemon)", "ct_assets.bench.catchup.cli"),
}
