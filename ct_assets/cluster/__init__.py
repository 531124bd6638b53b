"""The same definitions on real engines: Postgres, Redis + Celery workers, an MLflow server."""
