"""The Celery app of the workers: `celery -A ct_assets.cluster.worker worker -Q dagster`.

The tasks of `dagster_celery.app` (a whole run, as `CeleryRunLauncher` sends it; or one step, as
`celery_executor` would), configured from `CT_CELERY_BROKER` and `CT_CELERY_BACKEND` like the
run launcher in the cluster's `dagster.yaml`, so no address or password is written to a file.
A worker keeps its processes: the definitions are imported once, not once per run.
"""

import os

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

# What the run launcher also sets (dagster_celery.config.DEFAULT_CONFIG): one task at a time per
# worker process, taken only when it starts, so a long training run holds no queue behind it.
SETTINGS = {"worker_prefetch_multiplier": 1, "task_default_queue": "dagster",
            "broker_connection_retry_on_startup": True, "result_extended": True}


def create_app():
    missing = [v for v in ("CT_CELERY_BROKER", "CT_CELERY_BACKEND") if not os.environ.get(v)]
    if missing:
        raise SystemExit(f"Celery worker: set {' and '.join(missing)} (source "
                         "data/cluster/env, written by `make cluster`)")
    return make_app({"broker": os.environ["CT_CELERY_BROKER"],
                     "backend": os.environ["CT_CELERY_BACKEND"], "config_source": SETTINGS})


app = create_app()
execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
