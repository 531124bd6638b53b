"""The one daily partitions definition shared by every stage.

Its start and end come from `CT_PARTITIONS_START` / `CT_PARTITIONS_END` (see `settings.py`),
read once when the definitions load.
"""

import dagster as dg

from ct_assets.settings import Settings

_settings = Settings.from_env()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.start.isoformat(),
    end_date=_settings.end.isoformat(),
)
