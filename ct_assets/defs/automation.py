"""The automation sensor that evaluates every asset's automation condition.

Declared explicitly because Dagster's implicit default sensor starts STOPPED; this one starts
RUNNING, so downstream stages follow landed days without a click.
"""

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    "ct_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Keeps validation and features fresh as days are ingested.",
)
