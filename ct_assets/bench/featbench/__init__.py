"""`ct bench features`: the year's features through `core.features` (DuckDB) against the same
joins in pandas `merge_asof`, each in its own process; the measurement and the peer live in
`ct_assets/bench/features.py` and `pandas_features.py`, this package reports them.

Modules: `report` (console table, `features.json`, `features.md`), `cli`.
"""
