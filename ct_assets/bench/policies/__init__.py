"""`ct bench policies`: does the production retrain loop beat the schedules?

The served days of 2013 (Feb 1 .. Dec 31 by default) are replayed one by one, with the features,
model configuration, training window (`RetrainSpec`) and gate of production, under each retrain
policy:

- `static`: the model trained for the first day serves the whole range;
- `monthly`, `weekly`, `daily`: a retrain for every first of the month, every Monday, every day;
- `drift`: `core.policy.decide` with only its reactive drift reason (performance threshold
  infinite, forecast horizon 0, staleness off), fixed thresholds;
- `performance`: the same with only the reactive performance reason;
- `production`: what a default `make dev` runs: the retrain sensor's walk (`core.walk.walk`:
  drift, performance, their Holt forecasts, staleness, cooldown) and, after each retrain,
  `core.policy.adjust` on its outcome.

Semantics (those of the trigger sensor, `defs/triggers/sensors.py`, through the same core
functions: `core.loop`, `core.walk`, `core.serving`):
- the model serving day N is the one the policy's decision log says serves N. A retrain "for
  N" trains candidate N on N's window (`RetrainSpec`: the labelled days published before N's
  first cutoff, its newest days held out), then `core.loop.gate_candidate` compares it with the
  champion on those held-out days; promoted, it serves N onward, rejected, the champion is
  confirmed for N (a gate decision in the log, as `champion_model` records it). Every policy
  starts with the model trained for the first day (counted as its first retrain and
  promotion).
- after day D ends, its labels and features give the two signals, both against the champion
  that served D: drift[D] = `feature_drift.summary_score(score(reference, profile of D,
  calibration))` with the merged whylogs profile and calibration of the champion's training
  days, and drop[D] = the champion's held-out AUC minus its AUC on D's labelled flights.
  `core.walk.walk` (which asks `policy.decide` on the last `history` days of both series, with
  days since the last retrain and the champion's age counted at N = D + 1) says whether to
  retrain for N.
- cost: process CPU seconds of `training.fit` plus the gate's evaluation (scoring candidate and
  champion on the held-out flights + `gate.decide`) of every retrain a policy requested.
  Training is deterministic for a window, so a model fitted for day N is fitted once and shared
  by every policy that retrains for N (and a gate for the same candidate/champion pair is run
  once); each policy is still charged the CPU measured when that fit and that gate ran.

Drift episodes (for the reaction-time column) are found from two policy-independent series:
the daily AUC of a fresh model (the one trained for D) and of a two-week-old one (the model
trained for D - 14), both scored on D: an episode is a run of days whose 3-day mean gap
(fresh minus old) is at least `EPISODE_GAP`, starting on the first such day; for each policy
the reaction time is the days from that onset to the first day served by a model it promoted
after the onset day (a model trained on the onset day's labels, so at least 1).

Modules: `specs` (the policies and the experiments), `lab` (every model, profile, score and gate
computed once), `replay` (the days under each policy), `results`, `episodes` (drift episodes,
reaction times), `summary` (`policies.json`), `run` (the bench), `report`, `markdown`, `plot`
(the files), `cli` (the command).
"""
