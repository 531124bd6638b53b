"""Pure logic of the CT loop. No Dagster import in here: tests and benchmarks call it directly."""
