import json
import dagster as dg
from ct_assets_tests.defs.test_retrain_loop import *  # noqa
from ct_assets_tests.defs.test_retrain_loop import loop  # noqa
from ct_assets.defs import state
from ct_assets.core import walk

def test_debug(loop):
    loop, _ = loop
    print("CURSOR", loop.cursors["retrain_sensor"])
    ctx = dg.build_sensor_context(instance=loop.instance, definitions=loop.defs,
                                  cursor=loop.cursors["retrain_sensor"], resources=loop.resources)
    res = retrain_sensor(ctx)
    print("RESULT", res)
    sig = state.signals(loop.instance)
    print("SHADOW", {str(k): sorted(map(str, v)) for k, v in sig.shadow.items()})
    print("SHADOWED", walk.shadowed(state.decision_log(loop.instance)))
    print("DRIFT days", sorted(map(str, sig.drift)))
    print("RETRAINS", [(r.partition_key, r.tags["ct/trigger"]) for r in loop.retrains])
    for rec in loop.instance.fetch_materializations(dg.AssetKey("shadow_scores"), limit=100).records:
        m = rec.asset_materialization
        print("MAT", m.partition, {k: v.value for k, v in m.metadata.items() if k != "per_day"})
