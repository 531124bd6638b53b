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
from ct_assets_tests.conftest import JAN1, land_days
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
        requests = first.run_requests
        assert len(requests) == 6
        by_key = {(r.asset_selection[0].path[-1], r.partition_key): r for r in requests}
        assert set(by_key) == {(f"raw_{t}", d.isoformat()) for t in ("flights", "weather")
                               for d in days}
        digest = landing.checksum(landing.landed_path(settings.landing_dir, "flights", JAN1))
        assert by_key[("raw_flights", "2013-01-01")].run_key == f"flights:2013-01-01:{digest}"

        # The next tick with the advanced cursor requests nothing.
        second = tick(settings, instance, first.cursor)
        assert second.run_requests == []

        # Re-delivered unchanged (new mtime, same bytes): still nothing.
        path = landing.landed_path(settings.landing_dir, "flights", JAN1)
        content = path.read_bytes()
        path.unlink()
        path.write_bytes(content)
        third = tick(settings, instance, second.cursor)
        assert third.run_requests == []

        # Re-delivered changed: exactly one new request, with a new run key.
        path.unlink()
        changed = source.day_frame("flights", JAN1).iloc[:-1]
        changed.to_parquet(path, index=False)
        fourth = tick(settings, instance, third.cursor)
        assert [r.partition_key for r in fourth.run_requests] == ["2013-01-01"]
        assert fourth.run_requests[0].run_key != by_key[("raw_flights", "2013-01-01")].run_key
        assert json.loads(fourth.cursor)["flights/2013-01-01"][2] == landing.checksum(path)


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
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                  cursor=second.cursor)
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
