"""The code location `ct bench catchup` serves: the project's definitions, unchanged, with every
call into `ct_assets/core/` (and, apart, the MLflow store) traced in each process that loads
them: the code server (the sensors) and every run process (the assets)."""

import os

from ct_assets.bench.pipeline.tracing import TRACE_ENV, install_tracing

if os.environ.get(TRACE_ENV):
    install_tracing()

from ct_assets.definitions import defs  # noqa: E402  (after tracing: core calls are rebound)

__all__ = ["defs"]
