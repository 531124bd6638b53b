"""A run launcher whose run processes start warm: forked from a server that has already
imported Dagster and the heavy libraries every run of the loop needs.

Dagster's default launcher asks the code server to *spawn* each run: a new interpreter that
imports Dagster, pandas, DuckDB, LightGBM (with scikit-learn and SciPy), MLflow and whylogs
before the first step, 4-5 s of CPU on the development VM, for runs whose work is often under
a second. This one forks each run from a `multiprocessing` forkserver that imported those
libraries once (`preload_modules`), and the project's definitions last
(`ct_assets/project_preload.py`); a run whose project files changed since imports the
project afresh, so an edited definition is picked up by the next run as with the default
launcher. Runs of a code
location that uses another Python than the daemon's, and the termination of runs it did not
start, are left to the default launcher.

Configured in `ct_assets/dagster.yaml` (`run_launcher`); the daemon (and the webserver, which
only terminates) load this module, so it imports nothing heavy itself.
"""

import multiprocessing
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.launcher import LaunchRunContext
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._serdes import ConfigurableClassData, deserialize_value, serialize_value

PID_TAG = "ct/run_pid"
# Imported once by the server, not by every run: the libraries, then `warmup` (first calls of
# third-party libraries), then the project (which a run drops if its files changed since).
DEFAULT_PRELOAD = ("dagster", "dagster._cli.api", "pandas", "pyarrow.parquet", "duckdb",
                   "lightgbm", "mlflow", "mlflow.pyfunc", "whylogs",
                   # the MLflow SQL stores pull in SQLAlchemy, Alembic and Mako: 0.65 s a run
                   "mlflow.store.tracking.sqlalchemy_store",
                   "mlflow.store.model_registry.sqlalchemy_store",
                   # what a run imports on its way (measured with -X importtime in the run
                   # processes of `ct bench pipeline`: 0.2-0.3 s of CPU a run): the instance's
                   # storages and the in-process executor, the paths of the asset code, MLflow's
                   # logging of a model (IPython, GitPython), whylogs' experimental metrics,
                   # Pandas' markdown and CSV writers
                   "dagster._core.storage.runs", "dagster._core.storage.event_log",
                   "dagster._core.storage.schedules", "dagster._core.instance.factory",
                   "dagster._core.executor.in_process", "dagster._core.execution.plan.active",
                   "dagster._core.system_config.composite_descent", "dagster._core.storage.root",
                   "dagster._core.storage.sqlite_storage", "dagster._core.storage.migration.utils",
                   "dagster._core.storage.local_compute_log_manager", "dagster._utils.temp_file",
                   # (`upath` alone imports nothing: its path classes load on first use)
                   "upath.implementations.local", "IPython", "git",
                   "mlflow.tracing.processor.base_mlflow", "mlflow.tracing.processor.otel",
                   "mlflow.pyfunc.scoring_server", "mlflow.pyfunc.utils.environment",
                   "mlflow.models.display_utils", "mlflow.utils.search_logged_model_utils",
                   "pandas.core.methods.to_dict",
                   "whylogs.experimental.core.metrics.udf_metric",
                   "whylogs.experimental.extras.embedding_metric",
                   "whylogs.experimental.extras.nlp_metric", "tabulate", "wcwidth",
                   "pandas.io.formats.csvs", "pyarrow.dataset", "watchdog.observers.polling",
                   # first calls paid once (third-party only): MLflow's requirement map, ...
                   "ct_assets.warmup",
                   "ct_assets.project_preload")


def forkserver_context(preload: Sequence[str] = DEFAULT_PRELOAD):
    """The `multiprocessing` forkserver context runs are forked from, with `preload` imported
    once by the server (the process-wide forkserver starts on the first fork)."""
    # whylogs and MLflow start usage-reporting threads unless told not to, and a fork must not
    # copy a process with threads
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def execute_run(run_id: str, instance_ref: str) -> None:
    """The body of a run process (what `dagster api execute_run` does)."""
    preloaded = sys.modules.get("ct_assets.project_preload")
    if preloaded is not None:
        preloaded.drop_if_stale()           # the project as it is now, not as the server saw it
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import DagsterInstance, InstanceRef
    from dagster._utils.interrupts import capture_interrupts

    with capture_interrupts(), DagsterInstance.from_ref(
            deserialize_value(instance_ref, InstanceRef)) as instance:
        _execute_run_command_body(run_id, instance, lambda event: None,
                                  set_exit_code_on_failure=False)


class ForkserverRunLauncher(DefaultRunLauncher):
    """Starts each run in a process forked from a server with `preload_modules` imported."""

    def __init__(self, inst_data: ConfigurableClassData | None = None,
                 preload_modules: Sequence[str] = DEFAULT_PRELOAD):
        super().__init__(inst_data=inst_data)
        self._preload = list(preload_modules)
        self._context = None
        self._processes: dict[str, multiprocessing.process.BaseProcess] = {}

    @classmethod
    def config_type(cls) -> dict:
        from dagster import Array, Field

        return {"preload_modules": Field(Array(str), is_required=False,
                                         default_value=list(DEFAULT_PRELOAD))}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: Mapping[str, Any]) -> "ForkserverRunLauncher":
        return cls(inst_data=inst_data, **config_value)

    def _forkserver(self):
        if self._context is None:
            self._context = forkserver_context(self._preload)
        return self._context

    def _ours(self, context: LaunchRunContext) -> bool:
        origin = context.dagster_run.job_code_origin
        return origin is not None and os.path.realpath(origin.executable_path or "") \
            == os.path.realpath(sys.executable)

    def launch_run(self, context: LaunchRunContext) -> None:
        if not self._ours(context):
            super().launch_run(context)
            return
        for run_id, process in list(self._processes.items()):   # reap the finished ones
            if not process.is_alive():
                process.join()
                del self._processes[run_id]
        run = context.dagster_run
        process = self._forkserver().Process(
            target=execute_run, args=(run.run_id, serialize_value(self._instance.get_ref())),
            name=f"dagster-run-{run.run_id[:8]}")
        process.start()
        self._processes[run.run_id] = process
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(process.pid)})

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or run.is_finished:
            return False
        if PID_TAG not in run.tags:
            return super().terminate(run_id)
        self._instance.report_run_canceling(run)
        try:
            os.kill(int(run.tags[PID_TAG]), signal.SIGINT)   # Dagster's interrupt: cancel
        except ProcessLookupError:
            return False
        return True
