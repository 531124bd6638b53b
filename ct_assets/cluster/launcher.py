"""`CeleryRunLauncher` that says which worker lost a run and why.

dagster-celery's launcher runs each run as a Celery task; when the worker process executing it
dies, run monitoring marks the run failed with only "Celery task failed.". This one reports the
worker's name and the task's error (e.g. `WorkerLostError: Worker exited prematurely: signal 9
(SIGKILL)`), so the failure in the UI names what happened.
"""

from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher as _CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG


class CeleryRunLauncher(_CeleryRunLauncher):
    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        health = super().check_run_worker_health(run)
        if health.status != WorkerStatus.FAILED:
            return health
        result = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG])
        error = result.result
        why = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
        why = str(why).rstrip(".")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the Celery worker {getattr(result, 'worker', None) or '(unknown)'} running this "
            f"run failed: {why}. Every write is an idempotent replace: what the run committed "
            "stays, what it did not is rolled back.")
