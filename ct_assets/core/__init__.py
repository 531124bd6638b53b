"""Pure logic of the CT loop: no Dagster import in here, so tests and benchmarks call it directly."""
