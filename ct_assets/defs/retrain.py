"""The project's retrain spec: the windows of `core.loop.RetrainSpec` for this source.

The label lag follows the source's declared outcome publication; the window and held-out days
are the spec's defaults unless `CT_WINDOW_DAYS` / `CT_HOLDOUT_DAYS` say otherwise (read once,
when the definitions load, like the partitions: the inputs' partition mappings are built from
it).
"""

from ct_assets.core.loop import RetrainSpec
from ct_assets.settings import Settings
from ct_assets.sources import nycflights13 as source

RETRAIN = RetrainSpec.for_source(source.AVAILABILITY, **Settings.from_env().retrain_overrides())
