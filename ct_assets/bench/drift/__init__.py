"""`ct bench drift`: cost and quality of our feature drift check against Evidently.

Every day D of the range is checked twice, on the same rows:
- ours, as the `feature_drift` asset does it: the daily whylogs profiles of the reference window
  (the `--window` days before D) are read from a profile store, merged and calibrated
  (`core.feature_drift.calibrate`, once per model in production); D's feature rows are profiled
  and scored (`feature_drift.score`); D is flagged when `summary_score` >= 1;
- Evidently's `DataDriftPreset` on the monitored feature columns (`feature_drift.MONITORED`),
  current = D's rows, reference = the rows of the same window; D is flagged when Evidently's
  dataset-drift verdict is true (share of drifted columns >= 0.5), and, as a second reading of
  the same report, when any column drifted.

Latency is measured per day: ours as the daily check alone (profile today + score) and with the
reference built from the stored profiles (read + merge + calibrate + the check); Evidently as
the report alone (datasets from the frames + `Report.run`), with the rows already in memory.

Quality: known shifts are injected into copies of the feature rows of every `--inject-every`-th
day (`SHIFTS`), and both detectors judge them against the untouched window; the clean days
give each detector's false-alarm share. Results go to `drift.json`, `drift.md`, `drift.png`.

Modules: `shifts` (what is injected), `detectors` (ours and Evidently), `run` (the days),
`analysis` (summary figures), `report`, `markdown`, `plot` (the files), `cli` (the command).
"""
