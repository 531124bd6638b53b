import datetime as dt
import json

import dagster as dg
import pandas as pd

from ct_assets.core import landing, profiles
from ct_assets.definitions import build_defs
from ct_assets.defs.ingest.sensors import landing_sensor
from ct_assets.defs.validate.assets import PROFILED_COLUMNS
from ct_assets.resources import LandingResource
from ct_assets.sources import nycflights13 as source
from ct_assets_tests.conftest import land_days
from ct_assets_tests.defs.helpers import materialize


def tick(settings, instance, cursor=None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor,
        resources={"landing_folder": LandingResource(root=str(settings.landing_dir))})
    return landing_sensor(context)


def test_landing_sensor_requests_each_landed_file_once(settings):
    days = land_days(settings, 3)
    (settings.landing_dir / "flights" / "latest.parquet").write_bytes(b"x")
    with dg.instance_for_test() as instance:
        first = tick(settings, instance)
        # Days that land together are ingested in one run per table and range of days.
        ranges = {r.asset_selection[0].path[-1]: (r.tags["dagster/asset_partition_range_start"],
                                                  r.tags["dagster/asset_partition_range_end"])
                  for r in first.run_requests}
        assert ranges == {"raw_flights": ("2013-01-01", "2013-01-03"),
                          "raw_weather": ("2013-01-01", "2013-01-03")}
        first_keys = {r.run_key for r in first.run_requests}

        # The next tick with the advanced cursor requests nothing.
        second = tick(settings, instance, first.cursor)
        assert second.run_requests == []

        # Re-delivered unchanged (new mtime, same bytes): still nothing.
        path = landing.landed_path(settings.landing_dir, "flights", days[1])
        content = path.read_bytes()
        path.unlink()
        path.write_bytes(content)
        third = tick(settings, instance, second.cursor)
        assert third.run_requests == []

        # Re-delivered changed: one run for that day alone, keyed by day and new checksum.
        path.unlink()
        source.day_frame("flights", days[1]).iloc[:-1].to_parquet(path, index=False)
        fourth = tick(settings, instance, third.cursor)
        digest = landing.checksum(path)
        assert [r.run_key for r in fourth.run_requests] == [f"flights:2013-01-02:{digest}"]
        assert fourth.run_requests[0].tags["dagster/asset_partition_range_end"] == "2013-01-02"
        assert fourth.run_requests[0].run_key not in first_keys
        assert json.loads(fourth.cursor)["flights/2013-01-02"][2] == digest

        # Lost cursor: the same files give the same run keys, so Dagster skips the runs.
        assert [r.run_key for r in tick(settings, instance).run_requests] == \
            [r.run_key for r in tick(settings, instance).run_requests]


def test_landing_sensor_ignores_days_outside_the_partitions(settings):
    path = landing.landed_path(settings.landing_dir, "flights", dt.date(2012, 12, 31))
    landing.write_new(path, pd.DataFrame({"a": [1]}))
    with dg.instance_for_test() as instance:
        assert tick(settings, instance).run_requests == []


def requested(result, asset: str) -> set[str]:
    return set(result.get_requested_partitions(dg.AssetKey(asset)))


def test_automation_follows_ingested_days_and_stops_at_failed_checks(settings):
    days = land_days(settings, 4)
    defs = build_defs(settings)
    keys = {d.isoformat() for d in days[:3]}
    with dg.instance_for_test() as instance:
        # Three days ingested: profile and validation are requested in one evaluation (a
        # dependency requested in the same tick does not count as missing).
        materialize(settings, instance, ["raw_flights", "raw_weather"], days=(days[0], days[2]))
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(first, "flight_profile") == keys
        assert requested(first, "validated_flights") == keys
        assert requested(first, "flight_features") == set()   # runs one day per run: next tick
        assert first.get_num_requested(dg.AssetKey("reference_tables")) == 1

        materialize(settings, instance, ["flight_profile"], days=(days[0], days[2]))
        materialize(settings, instance, ["reference_tables"])
        for day in days[:3]:
            materialize(settings, instance, ["validated_flights"], day=day)
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                   cursor=first.cursor)
        assert requested(second, "flight_features") == keys
        assert requested(second, "flight_labels") == keys
        materialize(settings, instance, ["flight_features", "flight_labels"],
                    days=(days[0], days[2]))
        # Serving and monitoring follow the features even before any champion exists (they
        # record that no champion served the day); the champion is not waited for.
        follow = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                   cursor=second.cursor)
        assert requested(follow, "daily_predictions") == keys
        assert requested(follow, "feature_drift") == keys
        assert requested(follow, "model_performance") == keys   # its input is requested too
        assert requested(follow, "flight_features") == set()
        materialize(settings, instance, ["daily_predictions", "feature_drift",
                                         "model_performance"], days=(days[0], days[2]))
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                  cursor=follow.cursor)
        assert quiet.total_requested == 0, "nothing changed, nothing to do"
        second = quiet

        # Day 4 is ingested and validated, but its feed anomaly check fails: automation
        # requests no feature window that contains it.
        materialize(settings, instance, ["raw_flights", "raw_weather"], day=days[3])
        bad = source.day_frame("flights", days[3]).assign(distance=lambda f: f["distance"] * 2)

        materialize(settings, instance, ["flight_profile"], day=days[3])
        profiles.write_profile(settings.profiles_dir, "flights", days[3],
                               profiles.profile_frame(bad, PROFILED_COLUMNS))
        result = materialize(settings, instance, ["validated_flights"], day=days[3],
                             raise_on_error=False)
        assert not result.success
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                  cursor=second.cursor)
        assert days[3].isoformat() not in requested(third, "flight_features")
        assert days[3].isoformat() not in requested(third, "flight_labels")


def test_a_broken_file_is_ingested_alone_so_its_batch_goes_on(settings):
    days = land_days(settings, 5)
    broken = landing.landed_path(settings.landing_dir, "flights", days[2])
    broken.unlink()
    broken.write_bytes(b"not parquet at all")
    with dg.instance_for_test() as instance:
        requests = tick(settings, instance).run_requests
    flights = sorted((r.tags["dagster/asset_partition_range_start"],
                      r.tags["dagster/asset_partition_range_end"])
                     for r in requests if r.asset_selection[0].path[-1] == "raw_flights")
    assert flights == [("2013-01-01", "2013-01-02"), ("2013-01-03", "2013-01-03"),
                       ("2013-01-04", "2013-01-05")]
