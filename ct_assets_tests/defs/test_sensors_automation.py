import datetime as dt
import json

import dagster as dg
import pandas as pd

from ct_assets.core import landing, profiles
from ct_assets.definitions import build_defs
from ct_assets.defs.ingest.sensors import landing_sensor
from ct_assets.defs.validate.flights import PROFILED_COLUMNS
from ct_assets.resources import LandingResource
from ct_assets.sources import nycflights13 as source
from ct_assets_tests.conftest import land_days
from ct_assets_tests.defs.helpers import fresh_instance, materialize


def tick(settings, instance, cursor=None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor,
        resources={"landing_folder": LandingResource(root=str(settings.landing_dir))})
    return landing_sensor(context)


def test_landing_sensor_requests_each_landed_file_once(settings):
    days = land_days(settings, 3)
    (settings.landing_dir / "flights" / "latest.parquet").write_bytes(b"x")
    with fresh_instance() as instance:
        first = tick(settings, instance)
        # Days that land together are ingested in one run for both tables and the range of
        # days, and the same run carries them on through the daily stages up to monitoring
        # (and loads the reference tables, never loaded yet).
        [run] = first.run_requests
        assert (run.tags["dagster/asset_partition_range_start"],
                run.tags["dagster/asset_partition_range_end"]) == ("2013-01-01", "2013-01-03")
        assert [k.path[-1] for k in run.asset_selection] == [
            "reference_tables", "raw_flights", "flight_profile", "validated_flights",
            "flight_labels", "flight_features", "daily_predictions", "feature_drift",
            "model_performance", "raw_weather", "validated_weather"]
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
        # Only what follows a flights file: no weather validation.
        selected = {k.path[-1] for k in fourth.run_requests[0].asset_selection}
        assert "validated_flights" in selected and "validated_weather" not in selected
        assert fourth.run_requests[0].run_key not in first_keys
        assert json.loads(fourth.cursor)["flights/2013-01-02"][2] == digest

        # Lost cursor: the same files give the same run keys, so Dagster skips the runs.
        assert [r.run_key for r in tick(settings, instance).run_requests] == \
            [r.run_key for r in tick(settings, instance).run_requests]


def test_landing_sensor_ignores_days_outside_the_partitions(settings):
    path = landing.landed_path(settings.landing_dir, "flights", dt.date(2012, 12, 31))
    landing.write_new(path, pd.DataFrame({"a": [1]}))
    with fresh_instance() as instance:
        assert tick(settings, instance).run_requests == []


def requested(result, asset: str) -> set[str]:
    return set(result.get_requested_partitions(dg.AssetKey(asset)))


def test_automation_follows_ingested_days_and_stops_at_failed_checks(settings):
    days = land_days(settings, 4)
    defs = build_defs(settings)
    keys = {d.isoformat() for d in days[:3]}
    with fresh_instance() as instance:
        # Three days ingested: profile and the validation of both feeds are requested in one
        # evaluation, each as one range (a catch-up of N days is not N runs).
        materialize(settings, instance, ["raw_flights", "raw_weather"], days=(days[0], days[2]))
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        for asset in ("flight_profile", "validated_flights", "validated_weather"):
            assert requested(first, asset) == keys, asset
        assert first.get_num_requested(dg.AssetKey("reference_tables")) == 1

        materialize(settings, instance, ["flight_profile", "validated_flights",
                                         "validated_weather"], days=(days[0], days[2]))
        materialize(settings, instance, ["reference_tables"])
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

        # Day 4 is ingested and validated, but its feed anomaly check fails: the validation
        # run succeeds, the check fails on day 4 alone, and automation requests no features
        # for it; nothing else is re-requested.
        materialize(settings, instance, ["raw_flights", "raw_weather"], day=days[3])
        bad = source.day_frame("flights", days[3]).assign(distance=lambda f: f["distance"] * 2)
        materialize(settings, instance, ["flight_profile"], day=days[3])
        profiles.write_profile(settings.profiles_dir, "flights", days[3],
                               profiles.profile_frame(bad, PROFILED_COLUMNS))
        materialize(settings, instance, ["validated_flights", "validated_weather"],
                    day=days[3])
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                  cursor=quiet.cursor)
        assert requested(third, "flight_features") == set()
        assert requested(third, "flight_labels") == set()

        # History is tracked: re-validating day 2 refreshes the features of every later day
        # whose window read it (days 2 and 3; day 4 stays held back by its own failed check),
        # and then what was computed from them.
        idle = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                 cursor=third.cursor)
        materialize(settings, instance, ["validated_flights"], day=days[1])
        refresh = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                    cursor=idle.cursor)
        refreshed = {days[1].isoformat(), days[2].isoformat()}
        for asset in ("flight_features", "daily_predictions", "feature_drift",
                      "model_performance"):
            assert requested(refresh, asset) == refreshed, asset


def test_one_bad_day_in_a_range_blocks_only_its_own_features(settings):
    """A 10-day range validated in one run with one bad day: 9 days featurised by automation,
    the bad day held back and visible as failed on its own partition; a manual range run of
    the features refuses it alone."""
    days = land_days(settings, 10)
    bad_day = days[6]
    broken = source.day_frame("weather", bad_day).assign(
        pressure=lambda f: f["pressure"] / 33.86)
    path = landing.landed_path(settings.landing_dir, "weather", bad_day)
    path.unlink()
    landing.write_new(path, broken)
    defs = build_defs(settings)
    with fresh_instance() as instance:
        materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile",
                                         "validated_flights", "validated_weather"],
                    days=(days[0], days[-1]))
        materialize(settings, instance, ["reference_tables"])
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        good = {d.isoformat() for d in days} - {bad_day.isoformat()}
        assert requested(result, "flight_features") == good
        manual = materialize(settings, instance, ["flight_features"], days=(days[0], days[-1]),
                             raise_on_error=False)
        assert not manual.success
        status = instance.get_status_by_partition(dg.AssetKey("flight_features"),
                                                  [d.isoformat() for d in days], defs
                                                  .resolve_asset_graph()
                                                  .get(dg.AssetKey("flight_features"))
                                                  .partitions_def)
        assert {k for k, v in status.items() if v.value == "MATERIALIZED"} == good
        assert status[bad_day.isoformat()].value == "FAILED"
        failure = next(e for e in manual.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.user_failure_data.description
        assert message.startswith(f"1 of 10 day(s) refused: {bad_day}: weather failed "
                                  "validation (") and "weather_units_consistent" in message


def test_a_broken_file_is_ingested_alone_so_its_batch_goes_on(settings):
    days = land_days(settings, 5)
    broken = landing.landed_path(settings.landing_dir, "flights", days[2])
    broken.unlink()
    broken.write_bytes(b"not parquet at all")
    with fresh_instance() as instance:
        requests = tick(settings, instance).run_requests
    ranges = sorted((r.tags["dagster/asset_partition_range_start"],
                     r.tags["dagster/asset_partition_range_end"], r.tags["ct/landed_tables"])
                    for r in requests if dg.AssetKey("raw_flights") in r.asset_selection)
    # Jan 3 runs alone (with its weather: its features need both); the days around it go on.
    assert ranges == [("2013-01-01", "2013-01-02", "flights,weather"),
                      ("2013-01-03", "2013-01-03", "flights,weather"),
                      ("2013-01-04", "2013-01-05", "flights,weather")]


def run_requested(settings, instance, defs, cursor=None, assets=("flight_features",)):
    """Evaluate automation and run what it requested of `assets` (one range run each), as the
    daemon would; returns the evaluation."""
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    for asset in assets:
        for day in sorted(requested(result, asset)):
            materialize(settings, instance, [asset], day=dt.date.fromisoformat(day))
    return result


def test_a_missing_history_day_is_named_and_its_arrival_refreshes_the_days_that_read_it(
        settings):
    days = land_days(settings, 6)
    late = days[3]                                # its files arrive after the days around it
    defs = build_defs(settings)
    with fresh_instance() as instance:
        materialize(settings, instance, ["reference_tables"])
        for span in ((days[0], days[2]), (days[4], days[5])):
            materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile",
                                             "validated_flights", "validated_weather"],
                        days=span)
        first = run_requested(settings, instance, defs)
        assert requested(first, "flight_features") == {
            d.isoformat() for d in days if d != late}
        meta = {k: v.value for k, v in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("flight_features"),
                                  asset_partitions=[days[5].isoformat()]), limit=1)
            .records[0].asset_materialization.metadata.items()}
        assert meta["history_days_missing"] == late.isoformat()
        quiet = run_requested(settings, instance, defs, first.cursor)
        assert requested(quiet, "flight_features") == set()
        # the late day arrives: it and every later day whose window read it are refreshed
        materialize(settings, instance, ["raw_flights", "raw_weather", "flight_profile",
                                         "validated_flights", "validated_weather"], day=late)
        result = run_requested(settings, instance, defs, quiet.cursor)
        assert requested(result, "flight_features") == {d.isoformat() for d in days[3:]}
        meta = {k: v.value for k, v in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("flight_features"),
                                  asset_partitions=[days[5].isoformat()]), limit=1)
            .records[0].asset_materialization.metadata.items()}
        assert meta["history_days_missing"] == "none"
