"""`ct bench train`: what orchestration costs for one partition's train + evaluate, and a month
of daily retrains through the same `core/` calls the assets make.

Modules: `data` (the labelled feature frame, also what the policies bench and tests train on),
`run` (the measurements), `report` (console table, `train.json`, `train.md`), `cli`.
"""


def __getattr__(name: str):
    # `from ct_assets.bench.train import labelled_frame` keeps working without this package
    # importing pandas and DuckDB for `ct bench train --help`.
    if name == "labelled_frame":
        from ct_assets.bench.train.data import labelled_frame

        return labelled_frame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
