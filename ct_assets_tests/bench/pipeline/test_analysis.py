"""The wall-time sweep of `ct bench pipeline` gives each instant to exactly one category."""

from ct_assets.bench.pipeline.analysis import sweep


def test_the_sweep_gives_each_instant_to_one_category():
    split = sweep([(0, 10, "step_other"), (2, 4, "core"), (3, 6, "registry"),
                            (9, 12, "step_startup")], 0, 15)
    # 0-2 step, 2-4 core (over step and registry), 4-6 registry, 6-10 step (over start-up),
    # 10-12 start-up, 12-15 nothing
    assert split == {"core": 2, "registry": 2, "step_other": 6, "step_startup": 2,
                     "between_steps": 3}
