"""The run plan of `ct bench pipeline` covers every asset once, after its dependencies, each
in the mode its backfill policy gives it."""

from ct_assets.bench.pipeline.plan import ONCE, RANGE, plan_groups
from ct_assets.definitions import ASSETS


def test_the_run_plan_covers_every_asset_once_after_its_dependencies():
    groups = plan_groups(ASSETS)
    planned = [name for g in groups for name in g.assets]
    names = [key.to_user_string() for asset in ASSETS for key in asset.keys]
    assert sorted(planned) == sorted(names)
    done = set()
    for group in groups:
        for asset in ASSETS:
            for key in asset.keys:
                if key.to_user_string() in group.assets:
                    deps = {d.to_user_string() for d in asset.asset_deps[key]}
                    assert deps & set(names) <= done | set(group.assets)
        done |= set(group.assets)
    mode = {name: g.mode for g in groups for name in g.assets}
    assert mode["validated_flights"] == RANGE and mode["validated_weather"] == RANGE
    assert mode["raw_flights"] == RANGE and mode["reference_tables"] == ONCE
    needs = {name for g in groups if g.needs_model for name in g.assets}
    assert {"candidate_model", "champion_model"} <= needs and "flight_features" not in needs
